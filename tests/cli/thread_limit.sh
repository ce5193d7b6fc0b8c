#!/usr/bin/env bash
# The results do not depend on how many threads the OpenMP runtime actually starts: the whole
# pipeline (`custseg run`: features, k-means++ races, k-means, indices, persona medians, churn
# training and scores, CLV, ROI sums) under OMP_THREAD_LIMIT=2 with --threads 4, so that fewer
# threads run than the per-thread work space was made for, equals its one-thread results.
# Also: more --threads than any rank's CPUs gives one warning, from rank 0, counting the ranks,
# and more threads in all than a node's CPUs (OMP_NUM_THREADS to every rank) another.
# usage: thread_limit.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/thread_limit" && rm -rf "$dir" && mkdir -p "$dir/one" "$dir/limited"
run() { timeout 300 $MPIEXEC --oversubscribe -n 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
run "$CUSTSEG" generate --customers 30000 --seed 4 --transactions --quiet --output "$dir/store.h5"
# Each in its own directory with the same relative --output-dir, so the paths recorded in
# the results are equal too.
(cd "$dir/one" && run -x OMP_NUM_THREADS=1 "$CUSTSEG" run --input "$dir/store.h5" --threads 1 \
  --output-dir out --quiet)
(cd "$dir/limited" && run -x OMP_NUM_THREADS=4 -x OMP_THREAD_LIMIT=2 "$CUSTSEG" run \
  --input "$dir/store.h5" --threads 4 --output-dir out --quiet 2> "$dir/limited/err.txt") ||
  { cat "$dir/limited/err.txt"; fail "run under OMP_THREAD_LIMIT=2 failed"; }
for pair in segments.h5:/segments churn.h5:/churn clv.h5:/clv roi.h5:/roi; do
  f=${pair%%:*} g=${pair#*:}
  h5diff -q "$dir/one/out/$f" "$dir/limited/out/$f" "$g" ||
    fail "$g differs under OMP_THREAD_LIMIT=2 with 4 threads asked"
done
echo "ok: custseg run gives the same /segments, /churn, /clv and /roi with fewer threads started than asked"
# More threads than any rank's CPUs: one warning, from rank 0, counting the ranks.
many=$(( $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) + 1 ))
timeout 300 env -u OMP_WAIT_POLICY $MPIEXEC --oversubscribe -n 3 "$CUSTSEG" generate --customers 1000 --threads "$many" \
  --output "$dir/small.h5" 2> "$dir/warn.txt" || { cat "$dir/warn.txt"; fail "generate --threads $many failed"; }
n=$(grep -c "exceeds the CPUs" "$dir/warn.txt" || true)
[ "$n" = 1 ] || { cat "$dir/warn.txt"; fail "$n thread warnings for 3 ranks, expected 1"; }
grep -q "warning \[rank 0\]: --threads $many exceeds the CPUs that 3 of 3 rank(s) may run on" "$dir/warn.txt" ||
  { cat "$dir/warn.txt"; fail "the thread warning does not count the ranks"; }
# ... and, without OMP_WAIT_POLICY=passive, says to set it (spinning waits had made 3 ranks x 2
# threads on 2 cores 6 times slower); with it, does not.
grep -q "threads will share cores; set OMP_WAIT_POLICY=passive, or their waiting threads spin on the shared cores" "$dir/warn.txt" ||
  { cat "$dir/warn.txt"; fail "the thread warning does not suggest OMP_WAIT_POLICY=passive"; }
timeout 300 env OMP_WAIT_POLICY=passive $MPIEXEC --oversubscribe -n 3 "$CUSTSEG" generate --customers 1000 --threads "$many" \
  --output "$dir/small.h5" 2> "$dir/warn.txt" || { cat "$dir/warn.txt"; fail "generate --threads $many failed"; }
grep -q "exceeds the CPUs" "$dir/warn.txt" || { cat "$dir/warn.txt"; fail "no thread warning with OMP_WAIT_POLICY=passive"; }
grep -q "OMP_WAIT_POLICY" "$dir/warn.txt" &&
  { cat "$dir/warn.txt"; fail "the thread warning suggests OMP_WAIT_POLICY=passive, which is set"; }
echo "ok: --threads $many on 3 ranks gives one warning"
# OMP_NUM_THREADS given to every rank, each within its own CPUs, but more in all than the
# node's: one warning with the totals; one thread per rank (even more ranks than CPUs, the
# user's choice) gives none.
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
timeout 300 $MPIEXEC --oversubscribe -n 2 -x OMP_NUM_THREADS="$cpus" "$CUSTSEG" generate --customers 1000 \
  --output "$dir/small.h5" 2> "$dir/warn.txt" || { cat "$dir/warn.txt"; fail "generate with OMP_NUM_THREADS=$cpus failed"; }
n=$(grep -c "threads in all on a node" "$dir/warn.txt" || true)
[ "$n" = 1 ] || { cat "$dir/warn.txt"; fail "$n node warnings for 2 ranks x $cpus threads, expected 1"; }
grep -q "warning \[rank 0\]: $((2 * cpus)) threads in all on a node whose 2 rank(s) may run on" "$dir/warn.txt" ||
  { cat "$dir/warn.txt"; fail "the node warning does not give the totals"; }
timeout 300 $MPIEXEC --oversubscribe -n 3 -x OMP_NUM_THREADS=1 "$CUSTSEG" generate --customers 1000 \
  --output "$dir/small.h5" 2> "$dir/warn.txt" || { cat "$dir/warn.txt"; fail "generate on 3 ranks failed"; }
grep -q "share cores" "$dir/warn.txt" && { cat "$dir/warn.txt"; fail "a thread warning for one thread per rank"; }
echo "ok: $cpus threads on each of 2 ranks give one warning with the totals, one thread per rank none"
# One rank with a thread per CPU, bound by the OpenMP runtime (as the jobs/ scripts do) or
# capped by OMP_THREAD_LIMIT: no warning (the bound initial thread's own mask had been taken
# for the rank's, one CPU, and the threads asked for those that run).
for envs in "OMP_PLACES=cores OMP_PROC_BIND=close OMP_NUM_THREADS=$cpus" \
            "OMP_THREAD_LIMIT=$cpus OMP_NUM_THREADS=$((cpus + 1))"; do
  xs=()
  for e in $envs; do xs+=(-x "$e"); done
  timeout 300 $MPIEXEC --bind-to none -n 1 "${xs[@]}" "$CUSTSEG" generate --customers 1000 \
    --output "$dir/small.h5" 2> "$dir/warn.txt" || { cat "$dir/warn.txt"; fail "generate with $envs failed"; }
  grep -q "share cores" "$dir/warn.txt" && { cat "$dir/warn.txt"; fail "a thread warning with $envs"; }
done
echo "ok: threads bound by OMP_PLACES or capped by OMP_THREAD_LIMIT are not warned of"
rm -rf "$dir"
