#!/usr/bin/env bash
# The accelerated k-means variants against Lloyd, to convergence, from one given start: the
# evidence behind `--algorithm auto` (docs/segments.md, section 4). For each K the three
# variants run interleaved REPEAT times (1 rank x THREADS threads, --scale none, tol 1e-4,
# --max-iter MAXIT); prints per variant the medians of the k-means stage's time and of the
# seconds per iteration, the iterations, distance_fraction and the verification hashes (one
# per K: every variant must give Lloyd's labels).
#
# usage: benchmarks/kmeans_variants.sh STORE "K1 K2 ..." [WORKDIR]
# env:   THREADS (2)  REPEAT (3)  MAXIT (300)
# The start for each K is K distinct rows drawn with seed 7, written to WORKDIR/init_K.h5.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
store=$1 ks=$2 work=${3:-/tmp/custseg-variants}
threads=${THREADS:-2} repeat=${REPEAT:-3} maxit=${MAXIT:-300}
py=/usr/bin/python3 bin=$root/build/src/custseg
mkdir -p "$work"
for k in $ks; do
  $py - "$store" "$k" "$work/init_$k.h5" <<'PY'
import sys, h5py, numpy as np
store, k, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with h5py.File(store) as f:
    g = f["customers"]
    names = [n for n in g if n != "customer_id" and g[n].dtype.kind == "f"]
    rows = np.sort(np.random.default_rng(7).choice(g["customer_id"].shape[0], k, replace=False))
    x = np.stack([g[n][...][rows] for n in names], axis=1).astype(np.float64)
with h5py.File(out, "w") as f:
    f.create_dataset("init", data=x).attrs["units"] = "standardized"
PY
  for r in $(seq "$repeat"); do
    for a in lloyd hamerly yinyang; do
      mpirun -n 1 --bind-to none -x OMP_NUM_THREADS="$threads" "$bin" segment --input "$store" \
        --output "$work/out.h5" --scale none --k "$k" --init-centroids "$work/init_$k.h5:/init" \
        --max-iter "$maxit" --tol 1e-4 --algorithm "$a" --threads "$threads" --quiet \
        --summary "$work/out.json"
      $py -c 'import json,sys; s=json.load(open(sys.argv[1])); k=s["kmeans"]
print(sys.argv[2], sys.argv[3], s["timings_seconds"]["kmeans"]["max"], k["seconds_per_iteration"],
      k["iterations"], k["distance_fraction"], k["verification_hash"])' "$work/out.json" "$k" "$a"
    done
  done
done | $py -c '
import sys, statistics as st
rows = {}
for line in sys.stdin:
    k, a, t, spi, it, df, h = line.split()
    rows.setdefault((int(k), a), []).append((float(t), float(spi), int(it), float(df), h))
print("| K | algorithm | k-means stage, s (median) | ms per iteration (median) | iterations | distance_fraction | hash |")
print("|---|---|---|---|---|---|---|")
for (k, a), v in sorted(rows.items(), key=lambda kv: (kv[0][0], ["lloyd", "hamerly", "yinyang"].index(kv[0][1]))):
    hashes = " ".join(sorted({x[4] for x in v}))
    print(f"| {k} | {a} | {st.median(x[0] for x in v):.3f} | {1e3 * st.median(x[1] for x in v):.1f} | "
          f"{v[-1][2]} | {v[-1][3]:.3f} | {hashes} |")
'
