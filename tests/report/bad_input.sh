#!/usr/bin/env bash
# `custseg report` with bad inputs: each case must fail with the documented exit status and a
# one-line error naming the file (and dataset), and leave no report (not even a temporary
# file) behind.
# usage: bad_input.sh RANKS   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
ranks=$1
dir="$CS_TEST_DIR/report_bad_input-np$ranks"
rm -rf "$dir" && mkdir -p "$dir/out"
cd "$dir"
run() { timeout 120 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

$MPIEXEC --oversubscribe -n 1 "$CUSTSEG" generate --customers 400 --seed 3 --transactions --output a.h5 --quiet
$MPIEXEC --oversubscribe -n 1 "$CUSTSEG" generate --customers 400 --seed 4 --id-base 5001 --transactions --output b.h5 --quiet
for s in a b; do
  $MPIEXEC --oversubscribe -n 1 "$CUSTSEG" segment --input $s.h5 --output seg_$s.h5 --k 2 --quiet
  $MPIEXEC --oversubscribe -n 1 "$CUSTSEG" churn train --input $s.h5 --output churn_$s.h5 --quiet
done
$MPIEXEC --oversubscribe -n 1 "$CUSTSEG" roi --input b.h5 --segment-results seg_b.h5 --output roi_b.h5 --quiet
printf 'not json' > timings.txt

out="$dir/out/report.html"
check() { # name, wanted exit status, needle, command...
  local name=$1 want=$2 needle=$3
  shift 3
  set +e
  run "$@" --output "$out" > "$name.stdout" 2> "$name.stderr"
  local got=$?
  set -e
  [ "$got" = "$want" ] || fail "$name: exit status $got, wanted $want: $(cat "$name.stderr")"
  local lines
  lines=$(grep -c 'custseg: error:' "$name.stderr" || true)
  [ "$lines" = 1 ] || fail "$name: $lines error lines, wanted 1: $(cat "$name.stderr")"
  grep -qF -- "$needle" "$name.stderr" || fail "$name: '$needle' not in: $(cat "$name.stderr")"
  [ -z "$(ls -A out)" ] || fail "$name: left $(ls -A out)"
  echo "ok $name: $(grep 'custseg: error:' "$name.stderr")"
}
check missing_segment_results 2 "cannot open --segment-results '$dir/absent.h5': No such file" \
  report --segment-results "$dir/absent.h5"
check missing_churn_results 2 "cannot open --churn-results 'absent.h5'" \
  report --segment-results seg_a.h5 --churn-results absent.h5
check no_segment_results 1 "report needs --segment-results FILE" report
check not_hdf5 2 "--segment-results: 'timings.txt' is not an HDF5 file" report --segment-results timings.txt
check wrong_kind 2 "--segment-results 'churn_a.h5' is not a results file of custseg segment (it has no /segments/labels)" \
  report --segment-results churn_a.h5
check churn_wrong_kind 2 "--churn-results 'seg_a.h5' is not a results file of custseg churn train or churn score (it has no /churn/score)" \
  report --segment-results seg_a.h5 --churn-results seg_a.h5
check churn_other_store 2 "--churn-results churn_b.h5 comes from another store than --segment-results seg_a.h5" \
  report --segment-results seg_a.h5 --churn-results churn_b.h5
check roi_other_store 2 "--roi-results roi_b.h5 comes from another store than --segment-results seg_a.h5" \
  report --segment-results seg_a.h5 --roi-results roi_b.h5
# A CLV file edited by hand (a negative value): it had been drawn into the CLV chart.
$MPIEXEC --oversubscribe -n 1 "$CUSTSEG" clv --input a.h5 --output clv_a.h5 --quiet
"$PYTHON" -c 'import h5py, sys; d = h5py.File(sys.argv[1], "r+")["clv/value"]; v = d[...]; v[123] = -7.5; d[...] = v' clv_a.h5
check clv_negative 2 "clv_a.h5:/clv/value has 1 value that is not finite and at least 0, first -7.5 at row 123" \
  report --segment-results seg_a.h5 --clv-results clv_a.h5
check bad_timings 2 "--timings timings.txt is not a JSON object" \
  report --segment-results seg_a.h5 --timings timings.txt
# An output that cannot be written: exit status 3, nothing created.
set +e
run report --segment-results seg_a.h5 --output "$dir/missing/report.html" > unwritable.stdout 2> unwritable.stderr
got=$?
set -e
[ "$got" = 3 ] || fail "unwritable: exit status $got: $(cat unwritable.stderr)"
grep -qF "cannot write report '$dir/missing/report.html'" unwritable.stderr || fail "unwritable: $(cat unwritable.stderr)"
# Segment and churn results of the same customers from different states of the store file:
# the page is made, with one warning naming both files (none when the states are the same).
run report --segment-results seg_a.h5 --churn-results churn_a.h5 --output "$dir/same.html" 2> same.stderr
! grep -q "different states of the store file" same.stderr || fail "same store: warned: $(cat same.stderr)"
touch -d "+1 minute" a.h5
$MPIEXEC --oversubscribe -n 1 "$CUSTSEG" churn train --input a.h5 --output churn_a2.h5 --quiet
run report --segment-results seg_a.h5 --churn-results churn_a2.h5 --output "$dir/changed.html" 2> changed.stderr
[ -s "$dir/changed.html" ] || fail "changed store: no page: $(cat changed.stderr)"
[ "$(grep -c "churn_a2.h5 and --segment-results seg_a.h5 were computed from different states of the store file" changed.stderr)" = 1 ] ||
  fail "changed store: want one warning naming both files: $(cat changed.stderr)"
echo "report_bad_input: all cases at $ranks ranks"
