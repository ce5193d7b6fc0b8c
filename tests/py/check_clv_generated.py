#!/usr/bin/python3
"""CLV on generated purchase histories with known parameters (the CLV issue's recovery check).

1. `custseg generate --customers 1000000 --transactions --transactions-uniform` draws every
   customer's history from one BG/NBD + Gamma-Gamma parameter set (the published CDNOW
   values, stored under /truth). `custseg clv --merge-same-day no` (the generator's
   purchases are a continuous-time process; merging days would thin it) must recover each
   of the seven parameters within 3 reported standard errors.
2. /clv is identical (h5diff) at 1, 2, 3 and 4 ranks (4 ranks with 2 threads).
3. Invariants: P(alive) in [0, 1], expected purchases and values >= 0, and the customers
   without a calibration purchase are NaN.

Run by CTest (env CUSTSEG, MPIEXEC, CS_TEST_DIR); exit 0 pass, 1 fail.
"""
import os
import subprocess
import sys

import h5py
import numpy as np

custseg, mpiexec = os.environ["CUSTSEG"], os.environ["MPIEXEC"]
work = os.path.join(os.environ.get("CS_TEST_DIR", "/tmp"), "clv_generated")
os.makedirs(work, exist_ok=True)
path = lambda name: os.path.join(work, name)
failures = []


def run(ranks, *args, threads=1):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([mpiexec, "--oversubscribe", "-n", str(ranks), custseg, *args, "--quiet"],
                   check=True, timeout=900, env=env)


run(2, "generate", "--customers", "1000000", "--seed", "11", "--transactions",
    "--transactions-uniform", "--output", path("g.h5"))
for ranks in (1, 2, 3, 4):
    run(ranks, "clv", "--input", path("g.h5"), "--output", path(f"c{ranks}.h5"),
        "--merge-same-day", "no", threads=2 if ranks == 4 else 1)

# 1. Recovery.
with h5py.File(path("g.h5"), "r") as g, h5py.File(path("c1.h5"), "r") as c:
    model = c["clv/model"].attrs
    for name in ("r", "alpha", "a", "b", "p", "q", "gamma"):
        truth = float(g["truth"].attrs[name][0])
        got, se = float(model[name]), float(model[name + "_se"])
        z = (got - truth) / se
        print(f"{name:6s} truth {truth:8.4f}  fitted {got:8.4f}  se {se:.4f}  z {z:+.2f}")
        if not (np.isfinite(z) and abs(z) < 3):
            failures.append(f"{name}: fitted {got:.5g} is {z:+.2f} standard errors from {truth}")

# 2. Decomposition independence.
for ranks in (2, 3, 4):
    if subprocess.run(["h5diff", path("c1.h5"), path(f"c{ranks}.h5"), "/clv"]).returncode:
        failures.append(f"/clv differs between 1 and {ranks} ranks")

# 3. Invariants.
with h5py.File(path("c1.h5"), "r") as c:
    x = c["clv/frequency"][...]
    cal = np.isfinite(x)
    pa = c["clv/p_alive"][...]
    if not (np.all((pa[cal] >= 0) & (pa[cal] <= 1)) and np.all(np.isnan(pa[~cal]))):
        failures.append("P(alive) outside [0, 1] or not NaN without a calibration purchase")
    for name in ("expected_purchases", "value"):
        v = c["clv/" + name][...]
        if not np.all(v[cal] >= 0):
            failures.append(f"negative /clv/{name}")
    if int(c["clv/model"].attrs["calibration_customers"]) != int(cal.sum()):
        failures.append("calibration_customers differs from the customers with a frequency")

# 4. RFM as named features of the other stages: segmenting on them gives identical results
# at 1 and 3 ranks, and a churn model trained with them scores a store identically again.
for ranks in (1, 3):
    run(ranks, "segment", "--input", path("g.h5"), "--output", path(f"s{ranks}.h5"), "--k", "3",
        "--features", "rfm_frequency,rfm_recency,rfm_monetary,income")
if subprocess.run(["h5diff", path("s1.h5"), path("s3.h5"), "/segments"]).returncode:
    failures.append("segments on rfm_* features differ between 1 and 3 ranks")
run(2, "churn", "train", "--input", path("g.h5"), "--output", path("ch.h5"),
    "--features", "rfm_frequency,rfm_recency,rfm_age,age,income")
run(3, "churn", "score", "--model", path("ch.h5"), "--input", path("g.h5"), "--output",
    path("chs.h5"))
if subprocess.run(["h5diff", path("ch.h5"), path("chs.h5"), "/churn/score"]).returncode:
    failures.append("a churn model on rfm_* features scores differently when re-loaded")
with h5py.File(path("ch.h5"), "r") as c:
    names = [n.decode() if isinstance(n, bytes) else n
             for n in c["churn/model/coefficients"].attrs["features"]]
    if "rfm_frequency" not in names:
        failures.append(f"rfm_frequency is not a churn model feature: {names}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok")
