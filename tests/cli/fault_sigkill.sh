#!/usr/bin/env bash
# A rank killed with SIGKILL in the middle of a run: the job ends within 10 s (no rank left
# waiting in a collective), with a non-zero status, and leaves no results file that looks
# complete (outputs are written under a temporary name and renamed only at the very end).
# usage: fault_sigkill.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/fault_sigkill" && rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
timeout 300 $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 100000 --segments 6 \
  --seed 1 --quiet --output "$dir/store.h5"
# Many restarts keep the run busy far longer than the test waits.
$MPIEXEC --oversubscribe -n 3 "$CUSTSEG" segment --input "$dir/store.h5" --k 24 --n-init 100000 \
  --quiet --output "$dir/out.h5" --summary "$dir/out.json" 2> "$dir/err.txt" &
pid=$!
sleep 3
ranks=$(pgrep -P "$pid" -f custseg || true)
[ "$(echo "$ranks" | wc -w)" = 3 ] || { kill -9 "$pid"; fail "expected 3 rank processes under mpirun, found: $ranks"; }
victim=$(echo "$ranks" | tail -1)
t0=$(date +%s.%N)
kill -KILL "$victim"
st=0; timeout 60 tail --pid="$pid" -f /dev/null || true
wait "$pid" || st=$?
t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
[ "$st" != 0 ] || fail "the job exited with status 0 after a rank was killed"
awk -v t="$took" 'BEGIN { exit !(t <= 10) }' || fail "the job took $took s to end after SIGKILL (limit 10 s)"
[ ! -e "$dir/out.h5" ] && [ ! -e "$dir/out.json" ] || fail "a results file or summary was left behind"
left=$(pgrep -f "custseg segment --input $dir/store.h5" || true)
[ -z "$left" ] || { kill -9 $left; fail "rank processes still running: $left"; }
echo "ok: rank $victim killed; mpirun ended in $took s with status $st; no results file"
rm -rf "$dir"
