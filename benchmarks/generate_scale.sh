#!/usr/bin/env bash
# Benchmark: `custseg generate` at large N, with per-rank peak memory (GNU time) and the
# generator's own rate. The file is removed afterwards unless KEEP=1.
# usage: benchmarks/generate_scale.sh N RANKS THREADS [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
n=$1 ranks=$2 threads=$3 out=${4:-/tmp/custseg-bench}
mkdir -p "$out"
rm -f "$out"/rank_*.time
start=$(date +%s.%N)
mpirun -n "$ranks" -x OMP_NUM_THREADS="$threads" sh -c \
  '/usr/bin/time -v -o "$0/rank_${OMPI_COMM_WORLD_RANK}.time" "$1" generate --customers "$2" --seed 1 --output "$0/gen.h5"' \
  "$out" "$root/build/src/custseg" "$n"
end=$(date +%s.%N)
size=$(stat -c %s "$out/gen.h5")
echo "customers=$n ranks=$ranks threads=$threads"
echo "wall_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b - a}')"
echo "file_bytes=$size"
for f in "$out"/rank_*.time; do
  echo "$(basename "$f" .time) peak_rss_kib=$(awk -F': ' '/Maximum resident/{print $2}' "$f")"
done
[ "${KEEP:-0}" = 1 ] || rm -f "$out/gen.h5"
