#!/usr/bin/env bash
# One environment setting at two values, side by side (docs/performance.md, "Huge pages" and
# "Freed memory kept"): the whole `custseg run` job and a 40-iteration Lloyd fit, interleaved,
# with the medians of the wall times, of kmeans.seconds_per_iteration and of the peak resident
# memory of a rank.
#
# usage: benchmarks/env_ab.sh VAR [A B] [WORKDIR]
#        e.g. benchmarks/env_ab.sh CUSTSEG_HUGEPAGES 0 1
#             benchmarks/env_ab.sh CUSTSEG_KEEP_FREED 1 0
#        (values default to 0 and 1; WORKDIR defaults to /tmp/custseg-bench-env; store ~0.5 GB)
# env:   REPEAT (5)  CUSTOMERS (2000000)  RANKS (2, one thread each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
var=${1:?usage: benchmarks/env_ab.sh VAR [A B] [WORKDIR]}
a=${2:-0}
b=${3:-1}
work=${4:-/tmp/custseg-bench-env}
repeat=${REPEAT:-5}
n=${CUSTOMERS:-2000000}
ranks=${RANKS:-2}
bin=$root/build/src/custseg
mkdir -p "$work"
store=$work/store_$n.h5
[ -f "$store" ] || "$bin" generate --customers "$n" --seed 1 --output "$store" --quiet
launch=(mpirun -n "$ranks" -x OMP_NUM_THREADS=1 -x "$var")
echo "store $store ($n customers), $ranks ranks x 1 thread, $repeat interleaved repeats, $var = $a / $b"
echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled), defrag $(cat /sys/kernel/mm/transparent_hugepage/defrag)"

# one JOB VALUE: prints "job value wall seconds_per_iteration peak_kb"
one() {
  local job=$1 val=$2 t0 t1 out=$work/out_$1_$2
  rm -rf "$out" && mkdir -p "$out"
  t0=$(date +%s.%N)
  if [ "$job" = run ]; then
    env "$var=$val" /usr/bin/time -f %M -o "$out/rss" "${launch[@]}" "$bin" run --input "$store" \
      --output-dir "$out" --quiet
    sum=$out/segments.json
  else
    env "$var=$val" /usr/bin/time -f %M -o "$out/rss" "${launch[@]}" "$bin" segment --input "$store" \
      --output "$out/s.h5" --k 16 --tol 0 --max-iter 40 --algorithm lloyd --summary "$out/s.json" --quiet
    sum=$out/s.json
  fi
  t1=$(date +%s.%N)
  /usr/bin/python3 - "$job" "$val" "$t0" "$t1" "$sum" "$(tail -1 "$out/rss")" <<'EOF'
import json, sys
job, val, t0, t1, path, rss = sys.argv[1:]
j = json.load(open(path))
k = j.get("kmeans") or {}
print(job, val, f"{float(t1) - float(t0):.3f}", k.get("seconds_per_iteration", "nan"), rss)
EOF
}

rows=$work/rows.txt
: > "$rows"
for r in $(seq "$repeat"); do
  for job in run segment; do
    for val in "$a" "$b"; do one "$job" "$val" | tee -a "$rows"; done
  done
done
/usr/bin/python3 - "$rows" "$var" "$a" "$b" <<'EOF'
import statistics, sys
path, var, a, b = sys.argv[1:]
rows = [l.split() for l in open(path)]
for job in ("run", "segment"):
    for val in (a, b):
        w = [float(r[2]) for r in rows if r[0] == job and r[1] == val]
        s = [float(r[3]) for r in rows if r[0] == job and r[1] == val if r[3] != "nan"]
        m = [int(r[4]) for r in rows if r[0] == job and r[1] == val]
        spi = f", s/iteration median {1e3 * statistics.median(s):.2f} ms" if s else ""
        print(f"{job:8s} {var}={val}: wall median {statistics.median(w):.3f} s "
              f"(min {min(w):.3f}, max {max(w):.3f}){spi}, peak RSS median "
              f"{statistics.median(m) / 1024:.0f} MiB")
    wa = [float(r[2]) for r in rows if r[0] == job and r[1] == a]
    wb = [float(r[2]) for r in rows if r[0] == job and r[1] == b]
    print(f"{job:8s} median of the per-repeat ratios {var}={b} / {var}={a}: "
          f"{statistics.median([y / x for x, y in zip(wa, wb)]):.3f}")
EOF
