#!/usr/bin/env bash
# Transparent huge pages on or off (CUSTSEG_HUGEPAGES), side by side (docs/performance.md,
# "Huge pages"): the whole `custseg run` job and a 40-iteration Lloyd fit, interleaved, with
# the medians of the wall times and of kmeans.seconds_per_iteration.
#
# usage: benchmarks/hugepages.sh [WORKDIR]    (default /tmp/custseg-bench-huge; store ~0.5 GB)
# env:   REPEAT (5)  CUSTOMERS (2000000)  RANKS (2, one thread each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
work=${1:-/tmp/custseg-bench-huge}
repeat=${REPEAT:-5}
n=${CUSTOMERS:-2000000}
ranks=${RANKS:-2}
bin=$root/build/src/custseg
mkdir -p "$work"
store=$work/store_$n.h5
[ -f "$store" ] || "$bin" generate --customers "$n" --seed 1 --output "$store" --quiet
launch=(mpirun -n "$ranks" -x OMP_NUM_THREADS=1)
echo "store $store ($n customers), $ranks ranks x 1 thread, $repeat interleaved repeats"
echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled), defrag $(cat /sys/kernel/mm/transparent_hugepage/defrag)"

# one JOB HUGE: prints "job huge wall seconds_per_iteration"
one() {
  local job=$1 huge=$2 t0 t1 out=$work/out_$1_$2
  rm -rf "$out" && mkdir -p "$out"
  t0=$(date +%s.%N)
  if [ "$job" = run ]; then
    CUSTSEG_HUGEPAGES=$huge "${launch[@]}" "$bin" run --input "$store" --output-dir "$out" --quiet
    sum=$out/segments.json
  else
    CUSTSEG_HUGEPAGES=$huge "${launch[@]}" "$bin" segment --input "$store" --output "$out/s.h5" \
      --k 16 --tol 0 --max-iter 40 --algorithm lloyd --summary "$out/s.json" --quiet
    sum=$out/s.json
  fi
  t1=$(date +%s.%N)
  /usr/bin/python3 - "$job" "$huge" "$t0" "$t1" "$sum" <<'EOF'
import json, sys
job, huge, t0, t1, path = sys.argv[1:]
j = json.load(open(path))
k = j.get("kmeans") or {}
print(job, huge, f"{float(t1) - float(t0):.3f}", k.get("seconds_per_iteration", "nan"))
EOF
}

rows=$work/rows.txt
: > "$rows"
for r in $(seq "$repeat"); do
  for job in run segment; do
    for huge in 0 1; do one "$job" "$huge" | tee -a "$rows"; done
  done
done
/usr/bin/python3 - "$rows" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for job in ("run", "segment"):
    for huge in ("0", "1"):
        w = [float(r[2]) for r in rows if r[0] == job and r[1] == huge]
        s = [float(r[3]) for r in rows if r[0] == job and r[1] == huge if r[3] != "nan"]
        spi = f", s/iteration median {1e3 * statistics.median(s):.2f} ms" if s else ""
        print(f"{job:8s} CUSTSEG_HUGEPAGES={huge}: wall median {statistics.median(w):.3f} s "
              f"(min {min(w):.3f}, max {max(w):.3f}){spi}")
EOF
