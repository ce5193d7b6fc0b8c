#!/usr/bin/env bash
# Results given back as --init-centroids and --previous.
# 1. A feature of weight 0 takes no part in the fit: its centroid entries in original units are
# NaN (they had shown the population mean, and 0 as a one-hot "share"), the other features'
# are the segment means; the results are the same at 1 and 3 ranks, and they can be given
# back as --init-centroids (original units) and --previous.
# 2. Feature names of more than 8 KB in all (one-hot levels with long names) are compared in
# full (they had been cut short, and the file refused as "for other features").
# usage: features_given_back.sh   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir="$CS_TEST_DIR/features_given_back"
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
run() { timeout 120 $MPIEXEC --oversubscribe -n "$1" "$CUSTSEG" "${@:2}"; }
"$PYTHON" "$here/../py/make_store.py" good in.h5
common=(--input in.h5 --k 3 --features age,income,visits,region --feature-weights income:0,region:0
        --seed 4 --quiet)
run 1 segment "${common[@]}" --output w1.h5
run 3 segment "${common[@]}" --output w3.h5
h5diff -q w1.h5 w3.h5 /segments || { echo "FAIL: weight-0 results differ between 1 and 3 ranks"; exit 1; }
"$PYTHON" - w1.h5 in.h5 <<'PY'
import sys, h5py, numpy as np
r, s = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
c = r["segments/centroids"]
names = [n.decode() if isinstance(n, bytes) else n for n in c.attrs["features"]]
c, lab = c[...], r["segments/labels"][...]
bad = []
for j, n in enumerate(names):
    zero = n == "income" or n.startswith("region=")
    if zero and not np.isnan(c[:, j]).all():
        bad.append(f"{n}: weight 0 but centroids {c[:, j]}")
    if n in ("age", "visits"):
        x = s["customers"][n][...].astype(float)
        means = [x[lab == q].mean() for q in range(c.shape[0])]
        if not np.allclose(c[:, j], means, rtol=1e-5):
            bad.append(f"{n}: centroids {c[:, j]} but segment means {means}")
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
PY
run 1 segment "${common[@]}" --output warm.h5 --init-centroids w1.h5:/segments/centroids
run 3 segment "${common[@]}" --output again.h5 --previous w1.h5 --summary again.json
"$PYTHON" - again.json <<'PY'
import sys, json, math
drift = json.load(open(sys.argv[1]))["migration"]["drift"]
if not drift or not all(d is not None and math.isfinite(d) for d in drift):
    sys.exit(f"FAIL: --previous with weight-0 features: drift {drift}")
PY
"$PYTHON" - long.h5 <<'PY'
import sys, h5py, numpy as np
n = 2000
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int32(1)
    g["customer_id"] = np.arange(n, dtype=np.int64)
    g["spend"] = np.random.default_rng(1).gamma(2.0, 50.0, n)
    g["store"] = (np.arange(n) % 500).astype(np.int16)  # 501 features, 38 KB of names
    g["store"].attrs["categories"] = np.array(
        ["Store %03d Downtown Springfield Shopping Mall and Food Court, Level 2" % i
         for i in range(500)], dtype=h5py.string_dtype())
PY
run 2 segment --input long.h5 --output l1.h5 --k 3 --seed 2 --quiet
run 3 segment --input long.h5 --output l2.h5 --k 3 --seed 2 --quiet --init-centroids l1.h5
run 1 segment --input long.h5 --output l3.h5 --quiet --previous l1.h5
echo "ok: weight-0 features; long feature names"
