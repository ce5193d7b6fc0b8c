#!/usr/bin/python3
"""Benchmark: custseg churn train against scikit-learn LogisticRegression(solver="lbfgs") on
the same store, features, split and regularization.

custseg runs first; its stored feature statistics, /churn/split and --l2 define exactly the
matrix and rows scikit-learn gets (C = 1 / l2, no penalty on the intercept in both). Prints
holdout AUC and log-loss of both, and the training time of both (custseg: its `train` timer,
median of the ranks; scikit-learn: fit() wall time), each the median of --repeat runs.

usage: churn_vs_sklearn.py STORE [--ranks 1] [--threads 2] [--l2 1.0] [--repeat 3] [--workdir DIR]
"""
import argparse
import json
import os

# OpenBLAS 0.3.21 misreads this CPU and picks generic kernels (docs/performance.md);
# scikit-learn's BLAS calls get the right ones only with this set before numpy loads.
os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
import statistics
import subprocess
import time

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

ap = argparse.ArgumentParser()
ap.add_argument("store")
ap.add_argument("--ranks", type=int, default=1)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--l2", type=float, default=1.0)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--workdir", default="/tmp/churn-bench")
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
custseg = os.path.join(root, "build", "src", "custseg")
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS=str(a.threads))
res, summ = os.path.join(a.workdir, "churn.h5"), os.path.join(a.workdir, "churn.json")

ours = []
for _ in range(a.repeat):
    bind = ["--bind-to", "none"] if a.threads > 1 else []  # mpirun pins a lone rank to one core
    subprocess.run(["mpirun", "--oversubscribe", *bind, "-n", str(a.ranks), custseg, "churn", "train",
                    "--input", a.store, "--output", res, "--summary", summ, "--l2", str(a.l2),
                    "--threads", str(a.threads), "--quiet"], check=True, env=env)
    ours.append(json.load(open(summ))["timings_seconds"]["train"]["max"])
s = json.load(open(summ))["churn"]["holdout"]

# The same matrix: custseg's statistics applied to the store's columns.
with h5py.File(res, "r") as r, h5py.File(a.store, "r") as st:
    fs = r["churn/model/feature_stats"]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in fs["columns"].attrs["names"]]
    table, center, spread, weight = (fs["columns/table"][...], fs["center"][...],
                                     fs["spread"][...], fs["weight"][...])
    cols = []
    for i, n in enumerate(names):
        x = st["customers"][n][...].astype(np.float64)
        levels = int(table[i, 1])
        if levels:
            for l in range(levels):
                cols.append((x == l).astype(np.float64))
        else:
            if table[i, 0]:
                x = np.log1p(x)
            j = len(cols)
            x = np.where(np.isfinite(x), x, table[i, 2])
            cols.append((x - center[j]) * (weight[j] / spread[j]))
    X = np.array(cols, dtype=np.float32).T
    y = st["customers/churned"][...]
    split = r["churn/split"][...]
train, hold = split == 0, split == 1

times, model = [], None
for _ in range(a.repeat):
    model = LogisticRegression(C=1.0 / a.l2, solver="lbfgs", max_iter=1000)
    t0 = time.perf_counter()
    model.fit(X[train], y[train])
    times.append(time.perf_counter() - t0)
p = model.predict_proba(X[hold])[:, 1]
sk_auc, sk_ll = roc_auc_score(y[hold], p), log_loss(y[hold], p)
t_ours, t_sk = statistics.median(ours), statistics.median(times)
print(f"store {a.store}: {X.shape[0]} customers x {X.shape[1]} features, train {train.sum()}, "
      f"holdout {hold.sum()}; {a.ranks} rank(s) x {a.threads} thread(s), l2 {a.l2}")
print(f"holdout AUC      custseg {s['auc']:.5f}  scikit-learn {sk_auc:.5f}  diff {s['auc'] - sk_auc:+.5f}")
print(f"holdout log-loss custseg {s['logloss']:.5f}  scikit-learn {sk_ll:.5f}  diff {s['logloss'] - sk_ll:+.5f}")
print(f"training time (median of {a.repeat}) custseg {t_ours:.3f} s  scikit-learn {t_sk:.3f} s "
      f"({model.n_iter_[0]} L-BFGS iterations)  ratio {t_sk / t_ours:.2f}x")
