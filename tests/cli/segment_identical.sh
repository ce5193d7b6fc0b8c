#!/usr/bin/env bash
# `custseg segment` must not depend on the decomposition: 1 rank x 1 thread, 3 ranks x 1 and
# 4 ranks x 2 threads give /segments groups h5diff finds identical (labels, centroids, trace,
# feature statistics and the attributes), and the same verification hash in the summaries.
# A different --seed must change the result (so the comparison can fail).
# usage: segment_identical.sh [N]   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
n=${1:-300000}
dir="$CS_TEST_DIR/segment_identical" && rm -rf "$dir" && mkdir -p "$dir"
timeout 300 $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers "$n" --segments 6 \
  --seed 1 --quiet --output "$dir/store.h5"
seg() { local ranks=$1 threads=$2 name=$3 seed=${4:-3}; shift 4 || shift $#
  timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" segment --input "$dir/store.h5" \
    --k "${K:-6}" --seed "$seed" --threads "$threads" --quiet --output "$dir/$name.h5" \
    --summary "$dir/$name.json" "$@"; }
hash_of() { "${PYTHON:-/usr/bin/python3}" -c \
  'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["verification_hash"])' "$1"; }

seg 1 1 r1
seg 3 1 r3
seg 4 2 r4
for r in r3 r4; do
  h5diff -q "$dir/r1.h5" "$dir/$r.h5" /segments || {
    echo "FAIL: /segments differs between 1 rank and $r"
    h5diff -r "$dir/r1.h5" "$dir/$r.h5" /segments | head -20 || true; exit 1; }
done
h1=$(hash_of "$dir/r1.json") h3=$(hash_of "$dir/r3.json") h4=$(hash_of "$dir/r4.json")
[ -n "$h1" ] && [ "$h1" = "$h3" ] && [ "$h1" = "$h4" ] ||
  { echo "FAIL: verification hashes $h1 / $h3 / $h4"; exit 1; }
# The file carries the same hash as the summary.
hf=$(h5dump -a /segments/verification_hash "$dir/r1.h5" | awk -F'"' '/\(0\)/{print $2}')
[ "$hf" = "$h1" ] || { echo "FAIL: file hash '$hf' != summary hash '$h1'"; exit 1; }

# Hamerly's pruned iterations give Lloyd's labels, centroids and inertia trace exactly
# (the /segments@algorithm attribute says which ran, so compare the datasets).
seg 1 1 lloyd 3 --algorithm lloyd
seg 3 2 hamerly 3 --algorithm hamerly
for ds in labels centroids centroids_standardized sizes inertia_trace; do
  h5diff -q "$dir/lloyd.h5" "$dir/hamerly.h5" "/segments/$ds" ||
    { echo "FAIL: hamerly differs from lloyd in /segments/$ds"; exit 1; }
done
[ "$(hash_of "$dir/hamerly.json")" = "$(hash_of "$dir/lloyd.json")" ] ||
  { echo "FAIL: hamerly's verification hash differs from lloyd's"; exit 1; }

# Yinyang with several centroid groups (K = 40: 4 groups) and per-customer weights, and
# Hamerly at that K: Lloyd's result exactly.
K=40 seg 1 1 lloyd40 3 --algorithm lloyd --weight-column revenue
for algo in yinyang hamerly; do
  K=40 seg 3 2 "${algo}40" 3 --algorithm "$algo" --weight-column revenue
  for ds in labels centroids sizes inertia_trace; do
    h5diff -q "$dir/lloyd40.h5" "$dir/${algo}40.h5" "/segments/$ds" ||
      { echo "FAIL: $algo differs from lloyd in /segments/$ds at K = 40"; exit 1; }
  done
done

# The summary's distance_fraction counts pruned work over all ranks: the same at 4 ranks as at
# 3 (each rank's count had been divided by K before the sum: 0.39452 against 0.39451).
K=40 seg 4 1 yinyang40_4 3 --algorithm yinyang --weight-column revenue
frac() { "${PYTHON:-/usr/bin/python3}" -c \
  'import json,sys; print(repr(json.load(open(sys.argv[1]))["kmeans"]["distance_fraction"]))' "$1"; }
[ "$(frac "$dir/yinyang40.json")" = "$(frac "$dir/yinyang40_4.json")" ] ||
  { echo "FAIL: yinyang's distance_fraction $(frac "$dir/yinyang40.json") at 3 ranks," \
    "$(frac "$dir/yinyang40_4.json") at 4"; exit 1; }

# --verbose logs where an accelerated fit spends its time: the set-up, then each step's kind,
# time and share of the distances (a full step computes all of them).
timeout 300 $MPIEXEC --oversubscribe -n 1 "$CUSTSEG" segment --input "$dir/store.h5" --k 40 \
  --seed 3 --algorithm hamerly --max-iter 8 --tol 0 --verbose --output "$dir/verbose.h5" \
  2> "$dir/verbose.log"
for pat in 'k-means: set-up [0-9.]* ms' 'k-means: full step [0-9.]* ms, 100.0% of the distances on rank 0' \
           'k-means: bounded step [0-9.]* ms, [0-9.]*% of the distances on rank 0'; do
  grep -q "$pat" "$dir/verbose.log" || { echo "FAIL: no '$pat' line with --verbose"; exit 1; }
done
[ "$(grep -c 'k-means: \(full\|bounded\) step' "$dir/verbose.log")" = 9 ] ||
  { echo "FAIL: not 9 step lines (8 iterations and the final assignment)"; exit 1; }

# k-means|| (candidates gathered and sorted by row) is just as decomposition-independent.
seg 1 1 par1 3 --init 'kmeans||'
seg 3 2 par3 3 --init 'kmeans||'
h5diff -q "$dir/par1.h5" "$dir/par3.h5" /segments ||
  { echo "FAIL: k-means|| start differs between 1x1 and 3x2"; exit 1; }

# Per-customer weights (revenue) and an empty segment at the start (one initial centroid far
# from every customer, so it is re-seeded at the farthest customer) stay identical too.
"${PYTHON:-/usr/bin/python3}" - "$dir/r1.h5" "$dir/empty_init.h5" <<'PY'
import sys, h5py, numpy as np
c = h5py.File(sys.argv[1])["segments/centroids_standardized"][...]
c[5] = 1e3
with h5py.File(sys.argv[2], "w") as f:
    f["init"] = c
PY
seg 1 1 wempty1 3 --weight-column revenue --init-centroids "$dir/empty_init.h5:/init"
seg 3 2 wempty3 3 --weight-column revenue --init-centroids "$dir/empty_init.h5:/init"
h5diff -q "$dir/wempty1.h5" "$dir/wempty3.h5" /segments ||
  { echo "FAIL: weighted run with a re-seeded segment differs between 1x1 and 3x2"; exit 1; }
rel=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["relocations"])' "$dir/wempty3.json")
[ "$rel" -ge 1 ] || { echo "FAIL: the far centroid was not re-seeded (relocations $rel)"; exit 1; }

# A warm start from the results' own centroids in original units (converted back with the
# stored statistics) lands on the same segmentation at once: the first run stopped on the
# tolerance, so one more step may move a handful of customers, no more.
seg 2 1 warm 3 --init-centroids "$dir/r1.h5:/segments/centroids"
"${PYTHON:-/usr/bin/python3}" - "$dir/r1.h5" "$dir/warm.h5" <<'PY' || exit 1
import sys, h5py
a = h5py.File(sys.argv[1])["segments/labels"][:]
b = h5py.File(sys.argv[2])["segments/labels"][:]
moved = (a != b).mean()
if moved > 1e-3:
    sys.exit(f"FAIL: warm start from original-unit centroids moved {moved:.4%} of customers")
PY
it=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["iterations"])' "$dir/warm.json")
[ "$it" -le 2 ] || { echo "FAIL: warm start took $it iterations"; exit 1; }

# A different seed must give a different result, or the comparisons above prove nothing.
seg 3 1 s4 4
if h5diff -q "$dir/r1.h5" "$dir/s4.h5" /segments/labels >/dev/null 2>&1; then
  echo "FAIL: --seed ignored (labels identical for seeds 3 and 4)"; exit 1; fi
hs=$(hash_of "$dir/s4.json")
[ "$hs" != "$h1" ] || { echo "FAIL: --seed 4 gives the same verification hash $hs"; exit 1; }
ls -a "$dir" | grep -q '\.tmp-' && { echo "FAIL: temporary files left"; ls -a "$dir"; exit 1; }
echo "ok: $n customers, K = 6: /segments identical at 1x1, 3x1 and 4x2 ranks x threads; hash $h1"
rm -rf "$dir"
