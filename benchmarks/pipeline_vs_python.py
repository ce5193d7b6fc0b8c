#!/usr/bin/python3
"""`custseg run` against the same job done the way a data team would in Python.

usage: /usr/bin/python3 benchmarks/pipeline_vs_python.py STORE [--k 6] [--threads 2] [--repeat 3]

The Python job (timed from the first h5py read to the last groupby, imports excluded):
  h5py -> pandas DataFrame of /customers -> StandardScaler on the feature columns -> KMeans
  (algorithm="lloyd", the given start, n_init=1, tol 1e-4) -> LogisticRegression (lbfgs, C =
  1/l2, on 80% of the labelled customers) -> predict_proba for every customer -> pandas
  groupby(segment): customers, revenue total and mean, acquisition and marketing cost,
  conversions and rate, observed churn rate, mean predicted churn.
custseg's job: `custseg run --stages segment,churn,roi` with the same features (z-score, no
log1p), the same start (--init-centroids in standardized units, the K rows the script draws),
the same K, tolerance and L2 penalty; its wall time is the whole command, process start and
all file writing included.
Same threads: custseg as --ranks R x 1 thread (default 2 x 1), Python with threadpoolctl at
R x 1 threads (OpenMP and BLAS).
Reported: medians over --repeat interleaved runs of both wall times and their ratio, the
segment sizes of both (they must be equal given the same start) and the share of customers
with the same label. Needs numpy, h5py, pandas, scikit-learn, threadpoolctl (benchmarks/setup.sh).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESERVED = {"customer_id", "txn_offset", "churned", "revenue", "marketing_cost",
            "acquisition_cost", "converted", "treated"}


def feature_names(store):
    """Numeric, non-reserved, non-categorical columns of /customers, in name order."""
    with h5py.File(store, "r") as f:
        g = f["customers"]
        return [n for n in sorted(g) if n not in RESERVED and isinstance(g[n], h5py.Dataset)
                and g[n].dtype.kind in "iuf" and "categories" not in g[n].attrs]


def python_job(store, features, init, k, l2, threads):
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits
    steps = {}
    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        with h5py.File(store, "r") as f:
            g = f["customers"]
            df = pd.DataFrame({n: g[n][...] for n in g if n != "txn_offset"})
        steps["read"] = time.perf_counter()
        x = StandardScaler().fit_transform(df[features].to_numpy(dtype=np.float64))
        steps["scale"] = time.perf_counter()
        km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=1e-4,
                    max_iter=300).fit(x)
        steps["kmeans"] = time.perf_counter()
        df["segment"] = km.labels_
        lab = df["churned"].isin([0, 1]).to_numpy()
        rng = np.random.default_rng(1)
        train = lab & (rng.random(len(df)) >= 0.2)
        lr = LogisticRegression(C=1.0 / l2, max_iter=1000).fit(x[train], df["churned"][train])
        df["churn_score"] = lr.predict_proba(x)[:, 1]
        steps["churn"] = time.perf_counter()
        df["churn_obs"] = df["churned"].where(lab)
        table = df.groupby("segment").agg(
            customers=("customer_id", "size"), revenue_total=("revenue", "sum"),
            revenue_mean=("revenue", "mean"), acquisition_cost=("acquisition_cost", "sum"),
            marketing_cost=("marketing_cost", "sum"), conversions=("converted", "sum"),
            conversion_rate=("converted", "mean"), churn_rate=("churn_obs", "mean"),
            churn_score=("churn_score", "mean"))
        t = time.perf_counter() - t0
    steps["groupby"] = time.perf_counter()
    last, parts = t0, []
    for name, at in steps.items():
        parts.append(f"{name} {at - last:.2f}")
        last = at
    print(f"  python steps (s): {', '.join(parts)}; k-means {km.n_iter_} iterations", flush=True)
    return t, km.labels_, table


def custseg_job(a, features, init_path, out_dir):
    cfg = os.path.join(a.workdir, "pipeline.ini")
    with open(cfg, "w") as f:
        f.write(f"[segment]\nk = {a.k}\nfeatures = {','.join(features)}\nn-init = 1\n"
                f"init-centroids = {init_path}:/init\ntol = 1e-4\n"
                f"[churn-train]\nfeatures = {','.join(features)}\nholdout = 0.2\nl2 = {a.l2}\n")
    cmd = ["mpirun", "-n", str(a.ranks), "-x", "OMP_NUM_THREADS=1", a.custseg, "run",
           "--config", cfg, "--input", a.store, "--output-dir", out_dir,
           "--stages", "segment,churn,roi", "--quiet"]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"custseg failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    with h5py.File(os.path.join(out_dir, "segments.h5"), "r") as f:
        labels = f["segments/labels"][...]
    return t, labels, " ".join(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("store")
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--ranks", type=int, default=2, help="custseg ranks (1 thread each)")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--init-seed", type=int, default=7)
    ap.add_argument("--custseg", default=os.path.join(ROOT, "build", "src", "custseg"))
    ap.add_argument("--workdir", default="/tmp/custseg-bench-pipeline")
    a = ap.parse_args()
    a.store = os.path.abspath(a.store)
    os.makedirs(a.workdir, exist_ok=True)
    features = feature_names(a.store)

    # The start: K distinct customers, in standardized units (population sd, as both use).
    with h5py.File(a.store, "r") as f:
        x = np.column_stack([f["customers"][n][...].astype(np.float64) for n in features])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    rows = np.sort(np.random.default_rng(a.init_seed).choice(len(x), a.k, replace=False))
    init = x[rows].copy()
    del x
    init_path = os.path.join(a.workdir, f"init_{a.k}.h5")
    with h5py.File(init_path, "w") as f:
        f.create_dataset("init", data=init).attrs["units"] = "standardized"

    tc, tp = [], []
    for r in range(a.repeat):
        out = os.path.join(a.workdir, "run")
        t, cl, cmd = custseg_job(a, features, init_path, out)
        tc.append(t)
        import json
        st = json.load(open(os.path.join(out, "run.json")))
        print("  custseg stages (s): " + ", ".join(
            f"{k} {v['seconds']:.2f}" for k, v in st["stages"].items() if "seconds" in v) +
            f"; in-process total {st['seconds']:.2f}", flush=True)
        t, pl, table = python_job(a.store, features, init, a.k, a.l2, a.ranks)
        tp.append(t)
        print(f"repeat {r + 1}: custseg {tc[-1]:.2f} s, python {tp[-1]:.2f} s, "
              f"ratio {tp[-1] / tc[-1]:.1f}x", flush=True)
    sc = np.bincount(cl, minlength=a.k)
    sp = np.bincount(pl, minlength=a.k)
    print(f"custseg command: {cmd}")
    print(f"store {a.store}: {len(cl)} customers, {len(features)} features, K = {a.k}, "
          f"{a.ranks} threads on each side")
    print(f"segment sizes custseg: {sc.tolist()}")
    print(f"segment sizes python:  {sp.tolist()}  (equal: {bool(np.array_equal(sc, sp))})")
    print(f"same label: {100.0 * np.mean(cl == pl):.4f}% of customers")
    print(f"median wall: custseg {statistics.median(tc):.2f} s, python "
          f"{statistics.median(tp):.2f} s; median of per-repeat ratios "
          f"{statistics.median([p / c for p, c in zip(tp, tc)]):.1f}x")


if __name__ == "__main__":
    main()
