#!/usr/bin/env bash
# Benchmark: `custseg segment` at large N on a blobs store (benchmarks/make_blobs_store.py,
# D float32 features), with per-rank peak memory (GNU time) and the stage timings of the
# summary. The store and the results are removed afterwards unless KEEP=1.
# usage: benchmarks/segment_scale.sh N RANKS THREADS [OUTDIR]
# env:   D (16 features)  K (16)  MAX_ITER (10)  EXTRA (more segment flags)  KEEP
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
n=$1 ranks=$2 threads=$3 out=${4:-/tmp/custseg-bench}
d=${D:-16} k=${K:-16} max_iter=${MAX_ITER:-10}
mkdir -p "$out"
out=$(cd "$out" && pwd)
store=$out/blobs_${n}_${d}.h5
if [ ! -f "$store" ]; then
  t0=$(date +%s.%N)
  /usr/bin/python3 "$root/benchmarks/make_blobs_store.py" "$n" "$d" "$k" "$store" --chunk-rows 4194304 2>/dev/null
  echo "store_seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')"
fi
echo "store_bytes=$(stat -c %s "$store")"
sync
rm -f "$out"/seg_rank_*.time "$out/seg.h5" "$out/seg.json"
start=$(date +%s.%N)
mpirun -n "$ranks" -x OMP_NUM_THREADS="$threads" sh -c \
  '/usr/bin/time -v -o "$0/seg_rank_${OMPI_COMM_WORLD_RANK}.time" "$1" segment --input "$2" --output "$0/seg.h5" --k "$3" --max-iter "$4" --summary "$0/seg.json" $5' \
  "$out" "$root/build/src/custseg" "$store" "$k" "$max_iter" "${EXTRA:-}"
end=$(date +%s.%N)
echo "customers=$n features=$d k=$k max_iter=$max_iter ranks=$ranks threads=$threads"
echo "wall_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b - a}')"
/usr/bin/python3 - "$out/seg.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
km = s["kmeans"]
print(f"kmeans: iterations={km['iterations']} converged={km['converged']} "
      f"seconds_per_iteration={km['seconds_per_iteration']:.3f} inertia={km['inertia']:.6g} "
      f"algorithm={km['algorithm']}")
print("timings_seconds(max over ranks): " +
      " ".join(f"{k}={v['max']:.1f}" for k, v in s["timings_seconds"].items()))
EOF
for f in "$out"/seg_rank_*.time; do
  echo "$(basename "$f" .time) peak_rss_kib=$(awk -F': ' '/Maximum resident/{print $2}' "$f")" \
    "elapsed=$(awk -F': ' '/Elapsed/{print $2}' "$f")"
done
rm -f "$out/seg.h5"
[ "${KEEP:-0}" = 1 ] || rm -f "$store"
