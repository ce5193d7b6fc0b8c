#!/usr/bin/env bash
# `custseg select-k` over single-K fits (as a Slurm job array makes them) chooses the K and
# the results that `segment --k A..B` chooses; fits of another input in the sweep directory
# are refused with one error line and no output.
# usage: select_k.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/select_k" && rm -rf "$dir" && mkdir -p "$dir/sweep"
run() { timeout 300 $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
run generate --customers 40000 --segments 4 --seed 1 --quiet --output "$dir/store.h5"
for k in 2 3 4 5 6; do
  run segment --input "$dir/store.h5" --k $k --quiet --output "$dir/sweep/k$k.h5" --summary "$dir/sweep/k$k.json"
done
run select-k --sweep "$dir/sweep" --output "$dir/chosen.h5" --summary "$dir/chosen.json" --quiet
run segment --input "$dir/store.h5" --k 2..6 --quiet --output "$dir/range.h5" --summary "$dir/range.json"
kr=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["recommended_k"])' "$dir/range.json")
ks=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["select_k"]["recommended_k"])' "$dir/chosen.json")
[ "$kr" = "$ks" ] || fail "select-k chose K = $ks, segment --k 2..6 chose $kr"
h5diff -q "$dir/range.h5" "$dir/chosen.h5" /segments/labels || fail "the chosen results differ from the range's"
# A fit of another store in the sweep: refused.
run generate --customers 30000 --segments 4 --seed 2 --quiet --output "$dir/other.h5"
run segment --input "$dir/other.h5" --k 7 --quiet --output "$dir/sweep/k7.h5" --summary "$dir/sweep/k7.json"
st=0; run select-k --sweep "$dir/sweep" --output "$dir/bad.h5" 2> "$dir/err.txt" || st=$?
[ "$st" = 2 ] && grep -q "custseg: error: .*k7.json: a fit of another input" "$dir/err.txt" ||
  { cat "$dir/err.txt"; fail "a fit of another input was not refused (status $st)"; }
[ ! -e "$dir/bad.h5" ] || fail "output left after a refused selection"
echo "ok: select-k chose K = $ks like segment --k 2..6"
rm -rf "$dir"
