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
4. RFM columns as features of segment and churn.
5. A fit with little dropout (a ~ 1e5): expected purchases finite and equal to the closed
   form with scipy's hyp2f1.

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

# 5. Little dropout (a fit with a ~ 1e5, b ~ 6e7): the expectation's series terms grow to about
# e^{Bz} before (1-z)^B shrinks them; the expected purchases must still be finite and equal
# the closed form with scipy's hyp2f1 (the run used to stop with a verification error).
rng = np.random.default_rng(1)
n_ld, day0 = 300, 19723  # 2024-01-01
ids, times, amounts, off = [], [], [], [0]
for i in range(n_ld):
    for t in np.sort(day0 + rng.uniform(0, 500, rng.integers(1, 8))):
        ids.append(i + 1)
        times.append(t)
        amounts.append(float(np.round(rng.gamma(5, 4), 2)))
    off.append(len(ids))
with h5py.File(path("lowdrop.h5"), "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int64(1)
    g["customer_id"] = np.arange(1, n_ld + 1, dtype=np.int64)
    g["txn_offset"] = np.array(off, np.int64)
    tr = f.create_group("transactions")
    tr["customer_id"] = np.array(ids, np.int64)
    tr["time"] = np.array(times)
    tr["amount"] = np.array(amounts)
run(1, "clv", "--input", path("lowdrop.h5"), "--output", path("lowdrop_clv.h5"))
with h5py.File(path("lowdrop_clv.h5"), "r") as f:
    from scipy.special import hyp2f1
    m = f["clv/model"].attrs
    r, al, a, b = (float(m[k]) for k in ("r", "alpha", "a", "b"))
    x, tx, age = (f["clv/" + k][...] for k in ("frequency", "recency", "age"))
    got = f["clv/expected_purchases"][...]
    t = 12 * 4.345  # the default horizon, 12 months of 4.345 weeks
    z = t / (al + age + t)
    want = (a + b + x - 1) / (a - 1) * (1 - ((al + age) / (al + age + t)) ** (r + x) *
                                        hyp2f1(r + x, b + x, a + b + x - 1, z))
    want /= 1 + np.where(x == 0, 0, a / (b + x - 1) * ((al + age) / (al + tx)) ** (r + x))
    rel = np.max(np.abs(got / want - 1))
    if not (a > 1e4 and np.all(np.isfinite(got)) and rel < 1e-8):
        failures.append(f"little dropout (a = {a:.3g}): expected purchases off by {rel:.2e}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok")
