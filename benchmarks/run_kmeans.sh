#!/usr/bin/env bash
# Benchmarks of the k-means stage (docs/performance.md, "k-means"): machine limits (STREAM,
# SGEMM), the assignment kernel alone, custseg against scikit-learn per Lloyd iteration and to
# convergence, and 1 vs 2 ranks. Prints a summary table at the end; the full log and the raw
# results go to WORKDIR (run_kmeans.log, results.txt, sklearn.jsonl).
#
# usage: benchmarks/run_kmeans.sh [WORKDIR]       (default /tmp/custseg-bench; stores ~0.3 GB)
# env:   THREADS (2)  REPEAT (5, interleaved repeats of each comparison)
#        QUIET_WAIT (300: seconds to wait, before each step, for other load to go away)
#        OPENBLAS_CORETYPE (set automatically when OpenBLAS does not know the CPU)
# Needs benchmarks/setup.sh (OpenBLAS, scikit-learn) and Debian's /usr/bin/python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
work=${1:-/tmp/custseg-bench}
threads=${THREADS:-2}
repeat=${REPEAT:-5}
quiet_wait=${QUIET_WAIT:-300}
py=/usr/bin/python3
mkdir -p "$work"
work=$(cd "$work" && pwd)
case "$work" in "$root"|"$root"/*) echo "WORKDIR must be outside the repository" >&2; exit 2 ;; esac
cd "$work"
exec > >(tee "$work/run_kmeans.log") 2>&1
res=$work/results.txt
: > "$res"
rm -f "$work/sklearn.jsonl"
bin=$root/build
start_all=$(date +%s)

# Busy share of all CPUs over one second, from /proc/stat (percent).
busy() {
  local a b
  read -ra a < /proc/stat
  sleep 1
  read -ra b < /proc/stat
  awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN { n = split(a, x); split(b, y); t = 0;
    for (i = 2; i <= n; i++) t += y[i] - x[i];
    idle = (y[5] - x[5]) + (y[6] - x[6]); printf "%d", (t > 0 ? 100 * (t - idle) / t : 0) }'
}
# Wait until the machine is (nearly) idle, at most $quiet_wait seconds; log what was seen.
wait_quiet() {
  local waited=0 b
  b=$(busy)
  while [ "$b" -gt 15 ] && [ "$waited" -lt "$quiet_wait" ]; do
    sleep 4
    waited=$((waited + 5))
    b=$(busy)
  done
  echo "--- $1 (other load before start: ${b}% of the CPUs; waited ${waited} s)"
}

# awk helper: the values before the first two rate units of a line ("best X GB/s median Y GB/s").
rates='function rates(  i, c, v) { c = 0; for (i = 2; i <= NF && c < 2; i++)
  if ($i == "GB/s" || $i == "GFLOP/s") v[++c] = $(i - 1); return v[1] " " v[2] } '

echo "== build ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
cmake --build "$bin" -j2 --target custseg bench_assign stream sgemm > "$work/build.log" 2>&1 ||
  { tail -20 "$work/build.log"; exit 1; }
$py -c "import sklearn, h5py, threadpoolctl" || { echo "run benchmarks/setup.sh first" >&2; exit 1; }
uname -r
lscpu | grep -E "^Model name|^CPU\(s\)|^L2|^L3" || true
free -g | head -2

# OpenBLAS 0.3.21 (Debian 12) does not know recent Xeons and falls back to its SSE3 "Prescott"
# kernels, which makes both SGEMM and scikit-learn several times slower than the hardware.
core=$(OMP_NUM_THREADS=1 "$bin/benchmarks/sgemm" --square 64 2 | sed -n 's/.*(core \(.*\))$/\1/p' | head -1)
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$core" = Prescott ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
echo "OpenBLAS detected core: $core; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "openblas_core_detected $core" >> "$res"
echo "openblas_coretype ${OPENBLAS_CORETYPE:-unset}" >> "$res"

echo "== stores"
s16=$work/blobs_2M_16.h5 s32=$work/blobs_1M_32.h5
[ -f "$s16" ] || $py "$root/benchmarks/make_blobs_store.py" 2000000 16 16 "$s16"
[ -f "$s32" ] || $py "$root/benchmarks/make_blobs_store.py" 1000000 32 64 "$s32"

echo "== STREAM"
for t in 1 "$threads"; do
  wait_quiet "stream, $t thread(s)"
  OMP_NUM_THREADS=$t "$bin/benchmarks/stream" | tee -a "$work/stream.txt"
done
awk "$rates"'/^stream triad/ {split($3, a, "="); print "stream_triad_t" a[2], rates()}
     /^stream read/  {split($3, a, "="); print "stream_read_t" a[2], rates()}' \
  "$work/stream.txt" >> "$res"
rm -f "$work/stream.txt"

echo "== SGEMM, square (the nominal rate)"
for t in 1 "$threads"; do
  wait_quiet "sgemm square, $t thread(s)"
  OMP_NUM_THREADS=$t "$bin/benchmarks/sgemm" --square 4096 5 | tee "$work/sq.txt"
  awk -v t="$t" "$rates"'/^sgemm square/ {print "sgemm_square_t" t, rates()}' "$work/sq.txt" >> "$res"
done
rm -f "$work/sq.txt"

echo "== assignment kernel vs SGEMM at the kernel's shapes ($threads threads, interleaved)"
for shape in "2000000 16 16" "1000000 32 64" "1000000 32 256"; do
  set -- $shape
  for r in $(seq 1 "$repeat"); do
    wait_quiet "N=$1 D=$2 K=$3, round $r"
    OMP_NUM_THREADS=$threads "$bin/benchmarks/sgemm" "$1" "$2" "$3" 1024 7 | tee "$work/sg.txt"
    OMP_NUM_THREADS=$threads "$bin/benchmarks/bench_assign" "$1" "$2" "$3" 11 | tee "$work/as.txt"
    awk -v s="$1x$2xK$3" "$rates"'/^sgemm blocked / {print "sgemm_blocked_" s, rates()}
      /^sgemm blocked\+argmin/ {print "sgemm_blocked_argmin_" s, rates()}
      /^sgemm one-call/ {print "sgemm_onecall_" s, rates()}' "$work/sg.txt" >> "$res"
    awk -v s="$1x$2xK$3" "$rates"'/^assign n=/ {print "assign_" s, rates()}' "$work/as.txt" >> "$res"
    grep -q "validation: passed" "$work/as.txt" || { echo "bench_assign validation failed" >&2; exit 1; }
  done
done
rm -f "$work/sg.txt" "$work/as.txt"

echo "== custseg vs scikit-learn, per Lloyd iteration ($threads threads, tol 0, 20 iterations)"
wait_quiet "2M x 16, K=16"
$py "$root/benchmarks/kmeans_vs_sklearn.py" "$s16" --k 16 --threads "$threads" --repeat "$repeat" \
  --workdir "$work" --json "$work/sklearn.jsonl"
wait_quiet "1M x 32, K=64"
$py "$root/benchmarks/kmeans_vs_sklearn.py" "$s32" --k 64 --threads "$threads" --repeat "$repeat" \
  --workdir "$work" --json "$work/sklearn.jsonl"
wait_quiet "1M x 32, K=256"
$py "$root/benchmarks/kmeans_vs_sklearn.py" "$s32" --k 256 --threads "$threads" --repeat "$repeat" \
  --max-iter 10 --workdir "$work" --json "$work/sklearn.jsonl"

echo "== time to converge, K=64 (tol 1e-4, max-iter 300; yinyang, hamerly and lloyd vs scikit-learn lloyd)"
wait_quiet "converge 1M x 32, K=64"
$py "$root/benchmarks/kmeans_vs_sklearn.py" "$s32" --k 64 --mode converge --threads "$threads" \
  --repeat "$repeat" --workdir "$work" --json "$work/sklearn.jsonl"

echo "== 1 vs 2 ranks, 1 thread each, and 1 rank x 2 threads (2M x 16, K=16, lloyd, tol 0, 20 iterations; interleaved)"
init16=$work/init_16.h5   # written by kmeans_vs_sklearn.py above
for r in $(seq 1 "$repeat"); do
  for cfg in 1x1 2x1 1x2; do
    n=${cfg%x*} t=${cfg#*x}
    bind=""
    [ "$t" -gt 1 ] && bind="--bind-to none"   # else Open MPI pins the rank, and its threads, to one core
    wait_quiet "ranks x threads = $cfg, round $r"
    rm -f "$work/ranks.h5" "$work/ranks.json"
    mpirun -n "$n" $bind -x OMP_NUM_THREADS="$t" "$bin/src/custseg" segment --input "$s16" \
      --output "$work/ranks.h5" --scale none --k 16 --init-centroids "$init16:/init" \
      --max-iter 20 --tol 0 --algorithm lloyd --threads "$t" --quiet --summary "$work/ranks.json"
    $py - "$work/ranks.json" "$cfg" >> "$res" <<'EOF2'
import json, sys
s = json.load(open(sys.argv[1])); t = s["timings_seconds"]
print(f"ranks{sys.argv[2]}_spi {s['kmeans']['seconds_per_iteration']} {t['kmeans']['max']} "
      f"{s['kmeans']['verification_hash']}")
EOF2
    tail -1 "$res"
  done
done
rm -f "$work/ranks.h5" "$work/ranks.json"

echo "== summary (medians of interleaved repeats; kernel programs: median over rounds of the best, and median)"
$py - "$res" "$work/sklearn.jsonl" <<'EOF'
import json, statistics as st, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def vals(key, col=1):
    return [float(r[col]) for r in rows if r[0] == key]
def med(key, col=1):
    v = vals(key, col)
    return st.median(v) if v else float("nan")
def best(key, col=1):
    v = vals(key, col)
    return max(v) if v else float("nan")
print(f"{'figure':58s} {'value':>12s}")
for t in ("1", "2"):
    print(f"{'STREAM triad, ' + t + ' thread(s), GB/s (best / median)':58s} {best('stream_triad_t' + t):6.1f} / {med('stream_triad_t' + t, 2):.1f}")
    print(f"{'STREAM read, ' + t + ' thread(s), GB/s (best / median)':58s} {best('stream_read_t' + t):6.1f} / {med('stream_read_t' + t, 2):.1f}")
for t in ("1", "2"):
    print(f"{'SGEMM 4096^3, ' + t + ' thread(s), GFLOP/s (best / median)':58s} {best('sgemm_square_t' + t):6.1f} / {med('sgemm_square_t' + t, 2):.1f}")
sq = best("sgemm_square_t2")
for s in ("2000000x16xK16", "1000000x32xK64", "1000000x32xK256"):
    a, g, ga, g1 = (med(p + s) for p in ("assign_", "sgemm_blocked_", "sgemm_blocked_argmin_", "sgemm_onecall_"))
    am, gm = med("assign_" + s, 2), med("sgemm_blocked_" + s, 2)
    print(f"{s}:")
    print(f"{'  kernel GFLOP/s (median over rounds of best / of median)':58s} {a:6.1f} / {am:.1f}")
    print(f"{'  SGEMM blocked 1024 rows GFLOP/s (the same)':58s} {g:6.1f} / {gm:.1f}")
    print(f"{'  SGEMM blocked + argmin / one multithreaded call GFLOP/s':58s} {ga:6.1f} / {g1:.1f}")
    rr = [x / y for x, y in zip(vals("assign_" + s), vals("sgemm_blocked_" + s))]
    print(f"{'  kernel / SGEMM at this shape (median of per-round ratios)':58s} {st.median(rr) if rr else float('nan'):6.2f}")
    print(f"{'  kernel / SGEMM 4096^3 (best of square)':58s} {a / sq:6.2f}")
try:
    js = [json.loads(l) for l in open(sys.argv[2])]
except FileNotFoundError:
    js = []
for j in js:
    shape = f"{j['n']}x{j['d']} K={j['k']}"
    if j["mode"] == "iter":
        print(f"{shape}, per Lloyd iteration ({j['threads']} threads):")
        print(f"{'  custseg ms/iter (GFLOP/s)':58s} {j['custseg_ms_per_iter']:6.1f} ({j['custseg_gflops']:.1f})")
        print(f"{'  sklearn ms/iter, fit/n_iter_ (marginal)':58s} {j['sklearn_ms_per_iter']:6.1f} ({j['sklearn_marginal_ms_per_iter']:.1f})")
        print(f"{'  speed-up (marginal)':58s} {j['speedup']:6.2f} ({j['speedup_marginal']:.2f})")
        g = med(f"sgemm_blocked_{j['n']}x{j['d']}xK{j['k']}")
        print(f"{'  custseg GFLOP/s / SGEMM at this shape, / SGEMM 4096^3':58s} {j['custseg_gflops'] / g:6.2f} / {j['custseg_gflops'] / sq:.2f}")
        print(f"{'  inertia relative difference, equal labels':58s} {j['inertia_rel_diff']:.1e}, {100 * j['equal_labels']:.3f}%")
    else:
        print(f"{shape}, time to converge (tol {j['tol']}, {j['threads']} threads):")
        for al in ("yinyang", "hamerly", "lloyd"):
            print(f"{'  custseg ' + al + ' s (iterations), equals lloyd':58s} {j['custseg_' + al + '_s']:6.2f} ({j[al + '_iterations']}), {j[al + '_equals_lloyd']}")
        print(f"{'  sklearn lloyd s (iterations)':58s} {j['sklearn_s']:6.2f} ({j['sklearn_iterations']})")
        print(f"{'  speed-up yinyang / hamerly / lloyd vs sklearn':58s} {j['speedup_yinyang']:6.2f} / {j['speedup_hamerly']:.2f} / {j['speedup_lloyd']:.2f}")
r1, r2, r12 = med("ranks1x1_spi"), med("ranks2x1_spi"), med("ranks1x2_spi")
print(f"{'2M x 16 K=16 ms/iter: 1 rank x 1 thread / 2 x 1 / 1 x 2':58s} {r1 * 1e3:6.1f} / {r2 * 1e3:.1f} / {r12 * 1e3:.1f}")
print(f"{'  speed-up 1 -> 2 ranks (1 -> 2 threads)':58s} {r1 / r2:6.2f} ({r1 / r12:.2f})")
h = {r[3] for r in rows if r[0].startswith("ranks")}
print(f"{'  same verification hash on 1 and 2 ranks':58s} {'yes' if len(h) == 1 else 'NO'}")
EOF
echo "total $(( $(date +%s) - start_all )) s"
