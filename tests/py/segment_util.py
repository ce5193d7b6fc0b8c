"""Helpers shared by the `custseg segment` checks (h5py and numpy only, no custseg code).

env: CUSTSEG, MPIEXEC, CS_TEST_DIR
"""
import os
import subprocess

import h5py
import numpy as np

LOG1P = "income,monetary,recency_days,frequency,tenure_months,web_visits,support_tickets"
TABLE = ["log1p", "levels", "mean", "std", "median", "iqr", "min", "max", "missing"]


def workdir(name):
    work = os.path.join(os.environ["CS_TEST_DIR"], name)
    os.makedirs(work, exist_ok=True)
    return work


def custseg(ranks, *args, check=True, timeout=300):
    """Run custseg on `ranks` ranks; returns the CompletedProcess (stderr captured)."""
    cmd = os.environ["MPIEXEC"].split() + ["--oversubscribe", "-n", str(ranks),
                                           os.environ["CUSTSEG"], *map(str, args)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr}")
    return p


def generate(path, customers, seed=1, segments=6, ranks=2):
    custseg(ranks, "generate", "--customers", customers, "--segments", segments,
            "--seed", seed, "--quiet", "--output", path)


def strings(a):
    return [s.decode() if isinstance(s, bytes) else str(s) for s in a]


def feature_stats(results):
    """center, spread, weight, feature names, column names and the column table of a run."""
    with h5py.File(results, "r") as f:
        fs = f["segments/feature_stats"]
        return {"center": fs["center"][...], "spread": fs["spread"][...],
                "weight": fs["weight"][...], "features": strings(fs.attrs["features"]),
                "columns": strings(fs["columns"].attrs["names"]),
                "table": fs["columns/table"][...]}


def standardized(store, st):
    """The float32 feature matrix custseg clusters, rebuilt from the store and the run's
    feature statistics: (x' - center) / spread * weight with x' = log1p(x) for --log1p
    columns, one-hot 0/1 * weight for categorical columns; a missing value is imputed with
    the column mean (numeric) or all zeros (categorical)."""
    cols, table = st["columns"], st["table"]
    out, names = [], []
    with h5py.File(store, "r") as f:
        g = f["customers"]
        for i, name in enumerate(cols):
            x = g[name][...].astype(np.float64)
            log1p, levels, mean = bool(table[i, 0]), int(table[i, 1]), table[i, 2]
            if levels:
                cats = strings(g[name].attrs["categories"])
                for lev in range(levels):
                    j = len(names)
                    names.append(f"{name}={cats[lev]}")
                    out.append(np.where(x == lev, st["weight"][j], 0.0))
            else:
                j = len(names)
                names.append(("log1p:" if log1p else "") + name)
                if log1p:
                    x = np.log1p(x)
                x = np.where(np.isfinite(x), x, mean)
                # custseg multiplies by weight / spread; the same order keeps it bit-exact.
                out.append((x - st["center"][j]) * (st["weight"][j] / st["spread"][j]))
    if names != st["features"]:
        raise SystemExit(f"FAIL: rebuilt feature names {names} != custseg's {st['features']}")
    return np.column_stack(out).astype(np.float32)
