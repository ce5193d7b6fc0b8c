#!/usr/bin/python3
"""`custseg segment` finds the generator's hidden segments: on 200000 generated customers in 6
segments, K = 6 with 10 k-means++ restarts at 2 ranks gives labels whose adjusted Rand index
against /truth/segment is at least 0.95.

usage: check_segment_truth.py [RANKS]   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

ranks = sys.argv[1] if len(sys.argv) > 1 else "2"
MIN_ARI = 0.95
work = su.workdir(f"segment_truth-np{ranks}")
store, res, summary = (os.path.join(work, n) for n in ("store.h5", "res.h5", "summary.json"))
su.generate(store, 200000, seed=1, segments=6)
su.custseg(ranks, "segment", "--input", store, "--output", res, "--summary", summary,
           "--k", 6, "--n-init", 10, "--log1p", su.LOG1P, "--quiet")

with h5py.File(store, "r") as f:
    truth = f["truth/segment"][...]
with h5py.File(res, "r") as f:
    labels = f["segments/labels"][...]
    sizes = f["segments/sizes"][...]
km = json.load(open(summary))["kmeans"]

failures = []
if labels.shape != truth.shape:
    failures.append(f"labels {labels.shape} vs truth {truth.shape}")
elif labels.min() < 0 or labels.max() >= 6:
    failures.append(f"labels outside 0..5: {labels.min()}..{labels.max()}")
else:
    ari = adjusted_rand_score(truth, labels)
    print(f"adjusted Rand index vs /truth/segment: {ari:.5f} (K = 6, 10 restarts, best restart "
          f"{km['restart']}, inertia {km['inertia']:.10g}, sizes {sizes.tolist()}, true sizes "
          f"{np.bincount(truth).tolist()})")
    if not ari >= MIN_ARI:
        failures.append(f"adjusted Rand index {ari:.5f} < {MIN_ARI}")
    if np.bincount(labels, minlength=6).tolist() != sizes.tolist():
        failures.append(f"/segments/sizes {sizes.tolist()} do not count the labels")
if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: custseg recovers the generated segments at {ranks} ranks")
