#!/usr/bin/env bash
# Ctrl-C (SIGINT) to custseg while it writes a text output (the JSON summary, the personas CSV,
# the ROI CSV and Markdown tables) leaves no temporary file behind, and none of the outputs it
# had already published (all outputs or none; a file an output replaced comes back); in `run`,
# those of the stages already done stay. strace delivers the signal
# exactly when the temporary file is opened (a window of milliseconds otherwise); without
# strace, or where ptrace is not allowed, the test is skipped (exit 77).
# usage: sigint_text.sh   (env: CUSTSEG, CS_TEST_DIR, MPIEXEC)
set -euo pipefail
dir="$CS_TEST_DIR/sigint_text" && rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }
command -v strace > /dev/null || { echo "skip: no strace"; exit 77; }
strace -o /dev/null true 2> /dev/null || { echo "skip: ptrace not allowed"; exit 77; }
"$CUSTSEG" generate --customers 3000 --seed 1 --quiet --output store.h5
"$CUSTSEG" segment --input store.h5 --k 3 --quiet --output seg.h5

# Run "$@" once to find the n-th openat of a temporary file named like $1, then again with
# SIGINT injected at that openat: the process must die of SIGINT and leave no temporary file.
interrupted_at() {
  local pattern=$1; shift
  rm -rf out && mkdir out
  strace -o trace.txt -e trace=openat "$@" > /dev/null 2>&1 || fail "the run to trace failed: $*"
  local n
  n=$(grep -E 'openat\(' trace.txt | grep -n -F "$pattern" | head -1 | cut -d: -f1)
  [ -n "$n" ] || fail "no openat of '$pattern' in: $*"
  rm -rf out && mkdir out
  local st=0
  strace -o /dev/null -e trace=openat -e inject=openat:signal=SIGINT:when="$n" "$@" \
    > /dev/null 2> err.txt || st=$?
  [ "$st" = 130 ] || fail "exit $st (not 130, death by SIGINT) although SIGINT came at '$pattern'"
  local left
  left=$(cd out && find . -type f | sort | tr '\n' ' ')
  [ "$left" = "${KEEP:-}" ] || fail "SIGINT at '$pattern' left: '$left', wanted '${KEEP:-}'"
  echo "ok: SIGINT at '$pattern' (openat $n): exit $st, left '${KEEP:-}'"
}

seg=("$CUSTSEG" segment --input store.h5 --k 3 --quiet --output out/s.h5 --summary out/s.json
     --personas-csv out/p.csv)
interrupted_at ".p.csv.tmp-" "${seg[@]}"
interrupted_at ".s.json.tmp-" "${seg[@]}"
roi=("$CUSTSEG" roi --input store.h5 --segment-results seg.h5 --quiet --output out/r.h5
     --roi-csv out/r.csv --roi-markdown out/r.md)
interrupted_at ".r.csv.tmp-" "${roi[@]}"
interrupted_at ".r.md.tmp-" "${roi[@]}"

# A re-run over an earlier output: SIGINT, or a failure, after the results file was replaced
# gives the earlier file back (it had been removed with the new one: no file at all).
replaced() { # $1: strace's injection, $2: exit status wanted
  rm -rf out && mkdir out && cp seg.h5 out/s.h5
  local st=0
  strace -o /dev/null -e trace=openat -e inject=openat:$1:when="$n" "${seg[@]}" \
    > /dev/null 2>&1 || st=$?
  [ "$st" = "$2" ] || fail "$1 after the results were replaced: exit $st, wanted $2"
  [ "$(ls -A out)" = s.h5 ] && cmp -s out/s.h5 seg.h5 ||
    fail "$1 after the results were replaced: out holds '$(ls -A out)', not the earlier s.h5"
  echo "ok: $1 at the summary of a re-run: exit $st, the earlier s.h5 is back"
}
rm -rf out && mkdir out && cp seg.h5 out/s.h5
strace -o trace.txt -e trace=openat "${seg[@]}" > /dev/null 2>&1 || fail "the re-run to trace failed"
n=$(grep -E 'openat\(' trace.txt | grep -n -F ".s.json.tmp-" | head -1 | cut -d: -f1)
replaced signal=SIGINT 130
replaced error=ENOSPC 3

# SIGINT just after segment removed its finished run's checkpoint: the results stay (they had
# been withdrawn as "all or none" with the checkpoint already gone: nothing left at all).
rm -rf out && mkdir out
strace -o trace.txt -e trace=unlink,unlinkat "${seg[@]}" > /dev/null 2>&1 || fail "the run to trace failed"
n=$(grep -E 'unlink(at)?\(' trace.txt | grep -n -F "\"out/s.h5.ckpt\"" | head -1 | cut -d: -f1)
[ -n "$n" ] || fail "segment did not remove its checkpoint s.h5.ckpt"
rm -rf out && mkdir out
st=0
strace -o /dev/null -e trace=unlink,unlinkat -e inject=unlink,unlinkat:signal=SIGINT:when="$n" \
  "${seg[@]}" > /dev/null 2>&1 || st=$?
left=$(cd out && find . -type f | sort | tr '\n' ' ')
[ "$left" = "./p.csv ./s.h5 ./s.json " ] ||
  fail "SIGINT as the checkpoint was removed (exit $st) left '$left', wanted the three results"
echo "ok: SIGINT as segment removed its checkpoint: exit $st, the results stay"

# run: SIGINT while the roi stage writes its CSV. The segment stage's outputs and the progress
# record stay (--continue carries on from them); nothing of the roi stage does.
KEEP="./personas.csv ./run.progress ./segments.h5 ./segments.json " interrupted_at ".roi.csv.tmp-" \
  "$CUSTSEG" run --input store.h5 --stages segment,roi --quiet --output-dir out

# SIGINT to rank 1 of 2 alone (a script or a terminal can signal one rank's process): that
# rank removes the results file being written and the space reserve beside it, as rank 0
# would (only rank 0 had registered them; rank 0 itself is then ended by mpirun).
[ -n "${MPIEXEC:-}" ] || { echo "ok (no MPIEXEC: the 2-rank case is skipped)"; exit 0; }
cat > rank1.sh <<'SH'
#!/usr/bin/env bash
if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
  exec strace -o "$TRACE" -e trace=openat ${INJ:+-e inject=openat:signal=SIGINT:when=$INJ} "$@"
fi
exec "$@"
SH
chmod +x rank1.sh
two=(timeout 120 $MPIEXEC --oversubscribe -n 2 -x TRACE -x INJ ./rank1.sh "$CUSTSEG" segment
     --input store.h5 --k 3 --quiet --output out/s.h5)
# The signal goes to rank 1's n-th openat, n counted in a traced run. Open MPI's own opens vary
# from run to run (OMPIO retries a semaphore; its shared-file-pointer segment is named after
# the file, '/tmp/ompi.../.s.h5.tmp-..._cid-...'), so n is that of the results file itself, and
# the injected run's trace shows where the signal landed: elsewhere, the run is tried again
# (up to 5 times) instead of being judged on another moment than the one meant.
placed=
for try in 1 2 3 4 5; do
  rm -rf out && mkdir out
  TRACE=trace1.txt INJ= "${two[@]}" > /dev/null 2>&1 || fail "the 2-rank run to trace failed"
  n=$(grep -E 'openat\(' trace1.txt | grep -n -F '"out/.s.h5.tmp-' | head -1 | cut -d: -f1)
  [ -n "$n" ] || fail "rank 1 opened no out/.s.h5.tmp- file"
  rm -rf out && mkdir out
  st=0
  TRACE=trace2.txt INJ=$n "${two[@]}" > /dev/null 2>&1 || st=$?
  grep -B1 -m1 -F -- '--- SIGINT {si_signo=SIGINT, si_code=SI_KERNEL' trace2.txt | head -1 |
    grep -q -F '"out/.s.h5.tmp-' && { placed=$try; break; }
  echo "note: try $try: the signal landed on another openat than the results file's; again"
done
[ -n "$placed" ] || fail "the signal never landed on rank 1's openat of the results file in 5 tries"
[ "$st" != 0 ] || fail "exit 0 although rank 1 got SIGINT"
[ -z "$(ls -A out)" ] || fail "SIGINT to rank 1 left: $(ls -A out)"
echo "ok: SIGINT to rank 1 of 2 at its openat $n of the results file (try $placed): exit $st, nothing left"
