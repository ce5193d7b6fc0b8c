#!/usr/bin/python3
"""The feature statistics `custseg segment` writes (/segments/feature_stats) match numpy's on a
store written by h5py alone (5001 rows, mixed types, NaN and an inf): per column mean and
population std (--scale zscore) and median and IQR (--scale robust, numpy.percentile's linear
interpolation), all over the finite values after log1p, to 1e-12 relative; centre and spread
are those statistics. --missing drop labels exactly the rows with a non-finite feature -1, and
--missing error fails with exit status 2, leaving no results file behind. Columns of values
near 1e-305, 1e-151, 1e153 and one with a 1e200 sentinel get numpy's mean and std too.

usage: check_feature_stats.py RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import math
import os
import subprocess
import sys

import h5py
import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

ranks = sys.argv[1]
FEATURES = ["age", "income", "visits", "score", "spend"]
LOG1P = ["income"]
work = su.workdir(f"feature_stats-np{ranks}")
store = os.path.join(work, "store.h5")
here = os.path.dirname(os.path.abspath(__file__))
subprocess.run([sys.executable, os.path.join(here, "make_store.py"), "stats", store], check=True)
common = ["--input", store, "--features", ",".join(FEATURES), "--log1p", ",".join(LOG1P),
          "--k", 2, "--quiet"]

with h5py.File(store, "r") as f:
    raw = {name: f["customers"][name][...].astype(np.float64) for name in FEATURES}
n = len(raw["age"])
bad_rows = np.zeros(n, bool)
for name in FEATURES:
    bad_rows |= ~np.isfinite(raw[name])
if not 0 < bad_rows.sum() < n // 10:
    raise SystemExit(f"FAIL: the test store should have a few non-finite rows, has {bad_rows.sum()}")

failures = []


def close(what, got, want):
    if not math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300):
        failures.append(f"{what}: custseg {got!r} numpy {want!r}")


def check(scale, missing):
    res = os.path.join(work, f"{scale}-{missing}.h5")
    su.custseg(ranks, "segment", *common, "--scale", scale, "--missing", missing, "--output", res)
    st = su.feature_stats(res)
    if st["columns"] != FEATURES:
        failures.append(f"{scale}: column names {st['columns']} != {FEATURES}")
        return
    want_names = [("log1p:" if c in LOG1P else "") + c for c in FEATURES]
    if st["features"] != want_names:
        failures.append(f"{scale}: feature names {st['features']} != {want_names}")
    t = st["table"]
    for i, name in enumerate(FEATURES):
        x = np.log1p(raw[name]) if name in LOG1P else raw[name]
        fin = x[np.isfinite(x)]
        row = dict(zip(su.TABLE, t[i]))
        close(f"{scale} {name}.log1p", row["log1p"], float(name in LOG1P))
        close(f"{scale} {name}.missing", row["missing"], float(n - fin.size))
        close(f"{scale} {name}.min", row["min"], fin.min())
        close(f"{scale} {name}.max", row["max"], fin.max())
        close(f"{scale} {name}.mean", row["mean"], np.mean(fin))
        close(f"{scale} {name}.std", row["std"], np.std(fin, ddof=0))
        if scale == "robust":
            q1, med, q3 = np.percentile(fin, [25, 50, 75])
            close(f"{scale} {name}.median", row["median"], med)
            close(f"{scale} {name}.iqr", row["iqr"], q3 - q1)
            want_c, want_s = med, q3 - q1
        else:
            want_c, want_s = np.mean(fin), np.std(fin, ddof=0)
        close(f"{scale} {name} center", st["center"][i], want_c)
        close(f"{scale} {name} spread", st["spread"][i], want_s)
        close(f"{scale} {name} weight", st["weight"][i], 1.0)
    with h5py.File(res, "r") as f:
        labels = f["segments/labels"][...]
        sizes = f["segments/sizes"][...]
    if missing == "drop":
        if not np.array_equal(labels < 0, bad_rows):
            failures.append(f"{scale}/drop: {np.sum(labels < 0)} rows labelled -1, "
                            f"{np.sum(bad_rows)} rows have a non-finite feature, "
                            f"{np.sum((labels < 0) != bad_rows)} disagree")
        if sizes.sum() != n - bad_rows.sum():
            failures.append(f"{scale}/drop: sizes add up to {sizes.sum()}, not "
                            f"{n - bad_rows.sum()}")
    elif labels.min() < 0 or sizes.sum() != n:
        failures.append(f"{scale}/{missing}: rows without a segment ({labels.min()}, "
                        f"sizes add up to {sizes.sum()} of {n})")
    if labels.max() >= 2:
        failures.append(f"{scale}/{missing}: label {labels.max()} with --k 2")


check("zscore", "impute")
check("robust", "drop")

# A column with no finite value on a whole rank: "score" missing on the first 55% of the
# rows (all of rank 0's at 3 ranks), fractional elsewhere. That rank's empty range must not
# coarsen the exact sums' grid (it once made max |x| infinite, and the mean came out of
# truncated integer sums).
late = os.path.join(work, "late.h5")
with h5py.File(store, "r") as src, h5py.File(late, "w") as dst:
    for name in src:
        src.copy(src[name], dst, name)
    g = dst["customers"]
    x = raw["score"].astype(np.float64) + 0.37
    x[: int(0.55 * n)] = np.nan
    del g["score"]
    g.create_dataset("score", data=x)
res = os.path.join(work, "late-results.h5")
su.custseg(ranks, "segment", "--input", late, "--features", "score,age", "--k", 2, "--quiet",
           "--output", res)
st = su.feature_stats(res)
fin = x[np.isfinite(x)]
close("score missing on rank 0: mean", dict(zip(su.TABLE, st["table"][0]))["mean"], np.mean(fin))
close("score missing on rank 0: center", st["center"][0], np.mean(fin))
close("score missing on rank 0: spread", st["spread"][0], np.std(fin, ddof=0))

# Columns of extreme magnitude: the statistics are numpy's (computed here on the values
# times a power of two, which numpy's own sums would overflow or lose) and the personas'
# population standard deviation too. Values near 1e-151 had got a standard deviation 85%
# too small, a spread near 1e154 an infinite one (reported as a zero interquartile range),
# and a 1e200 sentinel or values near 1e-305 had been refused.
rng = np.random.default_rng(8)
m = 1200
base = {"a": rng.normal(0, 1, m), "b": rng.normal(0, 1, m)}
extreme = {"tiny": base["a"] * 1e-151, "big": base["b"] * 1e153, "sub": base["b"] * 1e-305,
           "sentinel": np.where(np.arange(m) == 7, 1e200, base["a"])}
wide = os.path.join(work, "extreme.h5")
with h5py.File(wide, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int32(1)
    g["customer_id"] = np.arange(1, m + 1, dtype=np.int64)
    for name, x in {**base, **extreme}.items():
        g[name] = x
res = os.path.join(work, "extreme-results.h5")
su.custseg(ranks, "segment", "--input", wide, "--features", ",".join(extreme) + ",a", "--k", 3,
           "--quiet", "--output", res)
st = su.feature_stats(res)
with h5py.File(res, "r") as f:
    psd = f["segments/personas/population_sd"][...]
for i, (name, x) in enumerate(extreme.items()):
    e = math.frexp(np.max(np.abs(x)))[1]
    y = x * 2.0 ** -e
    mean, sd = np.mean(y) * 2.0 ** e, np.std(y) * 2.0 ** e
    row = dict(zip(su.TABLE, st["table"][i]))
    close(f"{name} mean", row["mean"], mean)
    close(f"{name} std", row["std"], sd)
    close(f"{name} persona population_sd", psd[i], sd)

# ... but a range beyond the largest double, or a spread whose inverse is, cannot be
# standardized: refused with advice (they had come out as +-FLT_MAX, and then "values reach
# 3.4e38 ... use --scale zscore" or a "singular" churn Hessian).
for name, x, needle in (
        ("wide", np.where(np.arange(m) % 3 == 0, 1.5e308, -1.4e308), "spans more than the largest double"),
        ("narrow", 6e-309 - np.arange(m) % 20 * 1e-311, "on a scale too small for its standardized values")):
    bad = os.path.join(work, f"{name}.h5")
    with h5py.File(bad, "w") as f:
        g = f.create_group("customers")
        g.attrs["schema_version"] = np.int32(1)
        g["customer_id"] = np.arange(1, m + 1, dtype=np.int64)
        g[name], g["a"] = x, base["a"]
    p = su.custseg(ranks, "segment", "--input", bad, "--features", f"{name},a", "--k", 2,
                   "--quiet", "--output", os.path.join(work, f"{name}-results.h5"), check=False)
    if p.returncode != 2 or f"feature '{name}' " not in p.stderr or needle not in p.stderr:
        failures.append(f"column '{name}': exit {p.returncode}, {p.stderr[-300:]}")

# A categorical column of 1001 levels (an id imported as text) is warned of before the
# matrix is made (it had run for minutes in GBs at 10^5 levels without a word).
many = os.path.join(work, "many_levels.h5")
with h5py.File(many, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int32(1)
    g["customer_id"] = np.arange(1, 1201, dtype=np.int64)
    g["x"] = rng.normal(0, 1, 1200)
    g["city"] = (np.arange(1200) % 1001).astype(np.int32)
    g["city"].attrs["categories"] = np.array([f"c{i}" for i in range(1001)],
                                             dtype=h5py.string_dtype())
p = su.custseg(ranks, "segment", "--input", many, "--features", "x,city", "--k", 2,
               "--output", os.path.join(work, "many-results.h5"), "--max-iter", 3,
               "--silhouette-sample", 200)
if "segment: 1002 features (column 'city' has 1001 levels, one feature each)" not in p.stderr:
    failures.append(f"a column of 1001 levels: no warning: {p.stderr[-300:]}")

# --missing error: exit status 2, one error line naming the problem, no results file.
res = os.path.join(work, "error.h5")
if os.path.exists(res):
    os.remove(res)
p = su.custseg(ranks, "segment", *common, "--missing", "error", "--output", res, check=False)
errors = [ln for ln in p.stderr.splitlines() if ln.startswith("custseg: error:")]
if p.returncode != 2:
    failures.append(f"--missing error: exit status {p.returncode}, wanted 2")
if len(errors) != 1 or "--missing is error" not in errors[0]:
    failures.append(f"--missing error: error lines {errors}")
left = [e for e in os.listdir(work) if e.startswith("error.h5") or e.startswith(".error.h5")]
if left:
    failures.append(f"--missing error left {left} behind")

# A feature of weight 0 takes no part in the fit: under --missing drop only the other
# features' non-finite values drop a customer, and --missing error does not stop on it (both
# had counted it).
inert = max(FEATURES, key=lambda c: int(np.sum(~np.isfinite(raw[c]))))
others_bad = np.zeros(n, bool)
for name in FEATURES:
    if name != inert:
        others_bad |= ~np.isfinite(raw[name])
if not np.any(~np.isfinite(raw[inert]) & ~others_bad):
    failures.append(f"weight 0: the test store should have rows missing only {inert}")
res = os.path.join(work, "inert.h5")
su.custseg(ranks, "segment", *common, "--missing", "drop", "--feature-weights", f"{inert}:0",
           "--output", res)
with h5py.File(res, "r") as f:
    labels = f["segments/labels"][...]
if not np.array_equal(labels < 0, others_bad):
    failures.append(f"weight 0 ({inert}) under --missing drop: {np.sum(labels < 0)} rows dropped, "
                    f"{np.sum(others_bad)} miss another feature")
only = [c for c in FEATURES if c == inert or np.all(np.isfinite(raw[c]))]
res = os.path.join(work, "inert-error.h5")
p = su.custseg(ranks, "segment", "--input", store, "--features", ",".join(only), "--k", 2,
               "--quiet", "--missing", "error", "--feature-weights", f"{inert}:0", "--output",
               res, check=False)
if p.returncode != 0:
    failures.append(f"weight 0 ({inert}) under --missing error: exit {p.returncode}: {p.stderr}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: feature statistics of {len(FEATURES)} columns x {n} rows match numpy at {ranks} "
      f"ranks; --missing drop/error behave ({bad_rows.sum()} rows with a missing value)")
