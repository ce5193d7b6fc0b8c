#!/usr/bin/env bash
# The results do not depend on how many threads the OpenMP runtime actually starts: segment
# (k-means++ races, Lloyd, indices, persona medians) and churn train under OMP_THREAD_LIMIT=2
# with --threads 4 (so fewer threads run than the per-thread work space was made for) equal
# the one-thread results.
# usage: thread_limit.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/thread_limit" && rm -rf "$dir" && mkdir -p "$dir"
run() { timeout 300 $MPIEXEC --oversubscribe -n 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
run "$CUSTSEG" generate --customers 30000 --seed 4 --quiet --output "$dir/store.h5"
for v in one limited; do
  if [ $v = one ]; then env=(-x OMP_NUM_THREADS=1); threads=1
  else env=(-x OMP_NUM_THREADS=4 -x OMP_THREAD_LIMIT=2); threads=4; fi
  run "${env[@]}" "$CUSTSEG" segment --input "$dir/store.h5" --k 4 --threads $threads --quiet \
    --output "$dir/seg_$v.h5"
  run "${env[@]}" "$CUSTSEG" churn train --input "$dir/store.h5" --threads $threads --quiet \
    --output "$dir/churn_$v.h5"
done
h5diff -q "$dir/seg_one.h5" "$dir/seg_limited.h5" /segments ||
  fail "/segments differs under OMP_THREAD_LIMIT=2 with 4 threads asked"
h5diff -q "$dir/churn_one.h5" "$dir/churn_limited.h5" /churn ||
  fail "/churn differs under OMP_THREAD_LIMIT=2 with 4 threads asked"
echo "ok: segment and churn train give the same results with fewer threads started than asked"
rm -rf "$dir"
