#!/usr/bin/python3
"""Optional quality check on real clustering benchmarks (Franti & Sieranoja's s1-s3, a1,
dim032 from ../shared/data/clustering-benchmark, read in place, never copied): at the true
K, custseg's centroids must have Centroid Index 0 against the ground truth (every true
centre found once), and with --k K-3..K+3 the recommended K must be the true one.
Exit 77 (skipped) when the data is absent.

usage: check_franti.py DATA_DIR RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

data, ranks = sys.argv[1], sys.argv[2]
sets = ["s1", "s2", "s3", "a1", "dim032"]
if not all(os.path.isdir(os.path.join(data, s)) for s in sets):
    print(f"SKIP: clustering benchmark data not found under {data}")
    sys.exit(77)


def centroid_index(a, b):
    """Orphans of b when every centroid of a is mapped to its nearest in b."""
    nearest = ((a[:, None, :] - b[None]) ** 2).sum(2).argmin(1)
    return len(b) - len(set(nearest.tolist()))


failures = []
for name in sets:
    base = os.path.join(data, name)
    x = np.loadtxt(os.path.join(base, "points.txt"))
    gt = os.path.join(base, "gt-centroids.txt")
    g = np.loadtxt(gt if os.path.exists(gt) else os.path.join(base, "gt-centroids-derived.txt"))
    k = len(g)
    work = os.path.join(os.environ["CS_TEST_DIR"], f"franti-{name}-np{ranks}")
    os.makedirs(work, exist_ok=True)
    store = os.path.join(work, "store.h5")
    with h5py.File(store, "w") as f:
        c = f.create_group("customers")
        c.attrs["schema_version"] = 1
        c["customer_id"] = np.arange(len(x), dtype=np.int64)
        for j in range(x.shape[1]):
            c[f"x{j:02d}"] = x[:, j]

    def segment(*extra):
        out, summ = os.path.join(work, "r.h5"), os.path.join(work, "r.json")
        cmd = os.environ["MPIEXEC"].split() + ["--oversubscribe", "-n", ranks,
                                               os.environ["CUSTSEG"], "segment", "--input", store,
                                               "--output", out, "--summary", summ, "--scale",
                                               "none", "--n-init", "5", "--quiet", *extra]
        subprocess.run(cmd, check=True, timeout=600)
        with h5py.File(out, "r") as f:
            return f["segments/centroids"][...], json.load(open(summ))

    c, _ = segment("--k", str(k))
    ci = max(centroid_index(c, g), centroid_index(g, c))
    _, summ = segment("--k", f"{k - 3}..{k + 3}")
    rec = summ["kmeans"]["recommended_k"]
    print(f"{name}: N={len(x)} D={x.shape[1]} K={k}: centroid index {ci}, recommended K {rec}")
    if ci != 0:
        failures.append(f"{name}: centroid index {ci} at the true K={k}")
    if rec != k:
        failures.append(f"{name}: recommended K {rec}, truth {k}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok: every benchmark set recovered (CI 0) and its K recommended")
