#!/usr/bin/env bash
# OpenMP's wait policy when ranks x threads exceed the cores (docs/performance.md, "Threads
# sharing cores: OMP_WAIT_POLICY"): `custseg segment` (K = 8) at each RANKSxTHREADS given,
# with OMP_WAIT_POLICY unset (libgomp spins a while before it sleeps) and =passive, the two
# interleaved REPEAT times; prints the median wall seconds of each.
#
# usage: benchmarks/wait_policy.sh [RANKSxTHREADS ...]   (default: 1x2 2x1 3x2 4x2)
# env:   REPEAT (5)  CUSTOMERS (100000)  WORK (/tmp/custseg-bench-wait)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
repeat=${REPEAT:-5} n=${CUSTOMERS:-100000} work=${WORK:-/tmp/custseg-bench-wait}
bin=$root/build/src/custseg
mkdir -p "$work"
store=$work/store_$n.h5
[ -f "$store" ] || "$bin" generate --customers "$n" --seed 1 --output "$store" --quiet
[ $# -gt 0 ] || set -- 1x2 2x1 3x2 4x2
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "store $store, $(nproc) CPUs, $repeat interleaved repeats; median wall seconds"
for cfg in "$@"; do
  ranks=${cfg%x*} threads=${cfg#*x}
  : > "$work/t.default"
  : > "$work/t.passive"
  for _ in $(seq "$repeat"); do
    for pol in default passive; do
      if [ "$pol" = passive ]; then envs=(env OMP_WAIT_POLICY=passive); else envs=(env -u OMP_WAIT_POLICY); fi
      t0=$(date +%s.%N)
      "${envs[@]}" mpirun --oversubscribe -n "$ranks" "$bin" segment --input "$store" \
        --output "$work/out.h5" --k 8 --threads "$threads" --quiet 2> /dev/null
      t1=$(date +%s.%N)
      echo "$t1 - $t0" | bc >> "$work/t.$pol"
    done
  done
  d=$(median < "$work/t.default") p=$(median < "$work/t.passive")
  printf '%s ranks x threads: unset %.2f s, passive %.2f s (ratio %.2f)\n' "$cfg" "$d" "$p" \
    "$(echo "$d / $p" | bc -l)"
done
rm -f "$work/out.h5" "$work/t.default" "$work/t.passive"
