#!/usr/bin/python3
"""`custseg roi`: the campaign uplift against the generator's known effect per segment.

`custseg generate` draws `converted` with probability conversion_base[k] +
treated x conversion_uplift[k] in hidden segment k (both under /truth, docs/format.md), and
`revenue` independently of `treated`, so the true uplift of segment k is conversion_uplift[k]
and the true incremental revenue is 0. The segments given to `roi` are the true ones: a
results file written here with /segments/labels = /truth/segment and the store's fingerprint.

1. One store of 10^6 customers (seed 1, 6 segments): the 95% interval of every segment's
   uplift covers its true uplift; it covers neither 0 nor the true uplift of any other
   segment (so a wrong truth would fail the test).
2. Coverage: 40 stores of 20,000 customers (seeds 101..140, 240 intervals each): the uplift
   intervals cover the truth, and the incremental-revenue intervals cover 0, in at least 90%
   of the cases (nominal 95%; 90% is 3 binomial standard deviations below it).

Run by CTest (env CUSTSEG, MPIEXEC, CS_TEST_DIR); exit 0 pass, 1 fail.
"""
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import roi_oracle as oracle  # noqa: E402

custseg, mpiexec = os.environ["CUSTSEG"], os.environ["MPIEXEC"]
work = os.path.join(os.environ.get("CS_TEST_DIR", "/tmp"), "roi_uplift")
os.makedirs(work, exist_ok=True)
path = lambda name: os.path.join(work, name)
failures = []


def run(ranks, *args):
    cmd = [custseg, *args, "--quiet"]
    if ranks > 1:
        cmd = [mpiexec, "--oversubscribe", "-n", str(ranks)] + cmd
    subprocess.run(cmd, check=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS="1"))


def roi_on_truth(name, customers, seed, ranks):
    """Generate a store, give roi its true segments; the table and the truth."""
    store, seg, out = path(name + ".h5"), path(name + "_seg.h5"), path(name + "_roi.h5")
    run(ranks, "generate", "--customers", str(customers), "--seed", str(seed), "--output", store)
    with h5py.File(store, "r") as f:
        labels = f["truth/segment"][...]
        uplift = f["truth"].attrs["conversion_uplift"][...]
    oracle.write_segments(seg, labels, oracle.fingerprint(custseg, store))
    run(ranks, "roi", "--input", store, "--segment-results", seg, "--output", out)
    with h5py.File(out, "r") as f:
        t = f["roi/table"][...]
    return t, uplift


# 1. One large store.
t, truth = roi_on_truth("big", 1000000, 1, 2)
k = len(truth)
for g in range(k):
    lo, hi, est = t["uplift_low"][g], t["uplift_high"][g], t["uplift"][g]
    print(f"segment {g}: true uplift {truth[g]:.4f}  measured {est:.4f}  95% [{lo:.4f}, {hi:.4f}]"
          f"  ({int(t['treated'][g])} treated, {int(t['control'][g])} control)")
    if not lo <= truth[g] <= hi:
        failures.append(f"segment {g}: the interval [{lo:.5f}, {hi:.5f}] misses the true uplift {truth[g]}")
    if lo <= 0 <= hi:
        failures.append(f"segment {g}: the interval [{lo:.5f}, {hi:.5f}] covers 0")
    for h in range(k):
        if h != g and lo <= truth[h] <= hi:
            failures.append(f"segment {g}: the interval also covers segment {h}'s uplift {truth[h]}")

# 2. Coverage over many stores.
hits = [0, 0]
total = 0
for seed in range(101, 141):
    t, truth = roi_on_truth("cov", 20000, seed, 1)
    for g in range(len(truth)):
        total += 1
        hits[0] += bool(t["uplift_low"][g] <= truth[g] <= t["uplift_high"][g])
        hits[1] += bool(t["incremental_revenue_low"][g] <= 0 <= t["incremental_revenue_high"][g])
for what, h in zip(("uplift covers the truth", "incremental revenue covers 0"), hits):
    print(f"coverage: {what}: {h}/{total} = {h / total:.3f}")
    if h < 0.90 * total:
        failures.append(f"coverage of '{what}' is {h}/{total}, below 90%")

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
