#!/usr/bin/python3
"""The segmentation depends on the customers, not on the order of the store's rows
(docs/segments.md, Determinism): a generated store and the same store with its /customers
rows permuted give the same verification hash and the same centroids, for each start
(k-means++, k-means||, and k-means|| with restarts), at 1 rank on one side and 3 on the
other. k-means|| had sorted its candidates by global row, so its reclustering's draws and
ties depended on where the customers stood (another inertia on a shuffled copy).

env: CUSTSEG, MPIEXEC, CS_TEST_DIR. Exit 0 pass, 1 fail.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

work = su.workdir("row_order")
store, shuffled = os.path.join(work, "store.h5"), os.path.join(work, "shuffled.h5")
su.generate(store, 6000, seed=3, segments=8)
with h5py.File(store, "r") as src, h5py.File(shuffled, "w") as dst:
    src.copy("customers", dst)  # dataset attributes (categories, ...) come along
    for k, v in src.attrs.items():
        dst.attrs[k] = v
    n = len(src["customers/customer_id"])
    perm = np.random.default_rng(11).permutation(n)
    for name, d in dst["customers"].items():
        if isinstance(d, h5py.Dataset) and d.shape == (n,):
            d[...] = d[...][perm]

failures = []
for tag, extra in (("kmeans++", ["--init", "kmeans++"]), ("kmeans||", ["--init", "kmeans||"]),
                   ("kmeans|| x3", ["--init", "kmeans||", "--n-init", "3"])):
    got = []
    for ranks, inp in ((1, store), (3, shuffled)):
        out = os.path.join(work, f"{tag.replace(' ', '_').replace('|', 'p')}_{ranks}.h5")
        su.custseg(ranks, "segment", "--input", inp, "--output", out, "--k", 12, "--seed", 5,
                   "--quiet", *extra)
        with h5py.File(out, "r") as f:
            got.append((f["segments"].attrs["verification_hash"],
                        f["segments/centroids"][...]))
    (h0, c0), (h1, c1) = got
    same = h0 == h1 and np.array_equal(c0, c1)
    print(f"{tag}: hash {h0} (rows in order, 1 rank) vs {h1} (shuffled, 3 ranks): "
          f"{'same' if same else 'DIFFERENT'}")
    if not same:
        failures.append(f"{tag}: the shuffled store gives another segmentation "
                        f"(hash {h1} against {h0})")

for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print("ok: the same segmentation whatever the order of the rows")
