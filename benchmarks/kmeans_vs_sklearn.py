#!/usr/bin/python3
"""custseg's k-means stage against scikit-learn's KMeans(algorithm="lloyd") on one store.

usage: /usr/bin/python3 benchmarks/kmeans_vs_sklearn.py STORE --k K [options]

Both sides get the same float32 data (every float column of /customers except customer_id, in
file order; stores from make_blobs_store.py), the same start (K distinct rows drawn with
--init-seed, written to WORKDIR/init_K.h5:/init with units="standardized"; custseg runs with
--scale none, so standardized units are the stored ones), the same tolerance and iteration
limit, and the same number of threads (custseg: RANKS x THREADS; scikit-learn: RANKS x
THREADS OpenMP threads through threadpoolctl, BLAS at 1 thread as KMeans itself does).

--mode iter (default): --tol 0, --max-iter M (default 20). Reports per Lloyd iteration:
  custseg   kmeans.seconds_per_iteration from its --summary (median over the iterations)
  sklearn   fit time / n_iter_ (the whole fit, as a user sees it) and the marginal cost of an
            iteration, (fit(M) - fit(1)) / (n_iter_(M) - n_iter_(1)), which leaves out the
            fixed costs of fit (input checks, the centring copy of X, the final E-step)
  and the final inertia of both (they must agree to 1e-5 relative) and the share of equal
  labels.
--mode converge: --tol 1e-4, --max-iter 300: time to converge of custseg --algorithm lloyd,
  hamerly and yinyang (timings_seconds.kmeans, the whole k-means stage) and sklearn (fit
  time), with iterations, inertia and whether each variant's labels equal Lloyd's.

Each measurement is repeated --repeat times, the three programs interleaved, and medians
reported (the machine is shared: compare only figures from one run). Set OPENBLAS_CORETYPE
when OpenBLAS does not recognise the CPU (see docs/performance.md). Needs numpy, h5py,
scikit-learn and threadpoolctl (Debian: /usr/bin/python3 after benchmarks/setup.sh)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_features(store):
    """The store's float columns (not customer_id) as one C-contiguous float32 N x D array."""
    with h5py.File(store, "r") as f:
        g = f["customers"]
        names = [nm for nm in g if nm != "customer_id" and isinstance(g[nm], h5py.Dataset)
                 and g[nm].dtype.kind == "f"]
        n = g["customer_id"].shape[0]
        x = np.empty((n, len(names)), dtype=np.float32)
        for j, nm in enumerate(names):
            x[:, j] = g[nm][...]
    return x, names


def write_init(x, k, seed, path):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(x.shape[0], size=k, replace=False))
    init = x[rows].astype(np.float64)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("init", data=init)
        ds.attrs["units"] = "standardized"  # = stored units under --scale none
        ds.attrs["rows"] = rows
    return init


def run_custseg(a, init_path, algorithm, tol, max_iter, tag):
    out = os.path.join(a.workdir, f"seg_{tag}.h5")
    summ = os.path.join(a.workdir, f"seg_{tag}.json")
    for p in (out, summ):
        if os.path.exists(p):
            os.remove(p)
    # Open MPI binds each rank to one core when there are at most 2 ranks: with more than one
    # thread per rank that would put all the rank's threads on one core.
    bind = ["--bind-to", "none"] if a.threads > 1 else []
    cmd = ["mpirun", "-n", str(a.ranks), *bind, "-x", f"OMP_NUM_THREADS={a.threads}", a.custseg,
           "segment", "--input", a.store, "--output", out, "--scale", "none", "--k", str(a.k),
           "--init-centroids", init_path + ":/init", "--max-iter", str(max_iter), "--tol",
           repr(tol), "--algorithm", algorithm, "--threads", str(a.threads), "--summary", summ,
           "--quiet"]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"custseg failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    with open(summ) as f:
        s = json.load(f)
    km = s["kmeans"]
    with h5py.File(out, "r") as f:
        labels = f["/segments/labels"][...]
    os.remove(out)
    return {"spi": km["seconds_per_iteration"], "iterations": km["iterations"],
            "inertia": km["inertia"], "converged": km["converged"],
            "algorithm": km["algorithm"], "distance_fraction": km.get("distance_fraction"),
            "kmeans_seconds": s["timings_seconds"]["kmeans"]["max"], "wall": wall,
            "labels": labels, "cmd": " ".join(cmd)}


def run_sklearn(x, init, k, tol, max_iter, nthreads):
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", max_iter=max_iter, tol=tol)
    with threadpool_limits(limits=nthreads, user_api="openmp"):
        t0 = time.perf_counter()
        km.fit(x)
        t = time.perf_counter() - t0
    return {"fit": t, "iterations": int(km.n_iter_), "inertia": float(km.inertia_),
            "labels": km.labels_}


def med(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("store")
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--mode", choices=("iter", "converge"), default="iter")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="OpenMP threads per custseg rank")
    ap.add_argument("--max-iter", type=int, default=None)
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--init-seed", type=int, default=7)
    ap.add_argument("--custseg", default=os.path.join(ROOT, "build", "src", "custseg"))
    ap.add_argument("--workdir", default="/tmp/custseg-bench")
    ap.add_argument("--json", help="append a JSON line with the medians to this file")
    a = ap.parse_args()
    a.store = os.path.abspath(a.store)
    os.makedirs(a.workdir, exist_ok=True)
    max_iter = a.max_iter or (20 if a.mode == "iter" else 300)
    tol = a.tol if a.tol is not None else (0.0 if a.mode == "iter" else 1e-4)
    nthreads = a.ranks * a.threads

    x, names = load_features(a.store)
    n, d = x.shape
    init_path = os.path.join(a.workdir, f"init_{a.k}.h5")
    init = write_init(x, a.k, a.init_seed, init_path)
    import sklearn
    from threadpoolctl import threadpool_info
    import sklearn.cluster  # noqa: F401  (loads the OpenMP runtime for threadpool_info)
    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')}".strip()
            for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"store {a.store}: N={n} D={d} K={a.k}; mode {a.mode}, tol {tol}, max-iter {max_iter}; "
          f"custseg {a.ranks} rank(s) x {a.threads} thread(s); scikit-learn {sklearn.__version__} "
          f"with {nthreads} OpenMP thread(s), BLAS {', '.join(blas) or 'none found'}"
          f" (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})", flush=True)
    flops = 2.0 * n * d * a.k
    res = {"store": a.store, "n": n, "d": d, "k": a.k, "mode": a.mode, "ranks": a.ranks,
           "threads": a.threads, "tol": tol, "max_iter": max_iter}

    if a.mode == "iter":
        cs, sk, sk1 = [], [], []
        for r in range(a.repeat):
            cs.append(run_custseg(a, init_path, "lloyd", tol, max_iter, "lloyd"))
            sk.append(run_sklearn(x, init, a.k, tol, max_iter, nthreads))
            sk1.append(run_sklearn(x, init, a.k, tol, 1, nthreads))
            print(f"  repeat {r + 1}: custseg {cs[-1]['spi'] * 1e3:.1f} ms/iter "
                  f"({cs[-1]['iterations']} it), sklearn {sk[-1]['fit'] / sk[-1]['iterations'] * 1e3:.1f}"
                  f" ms/iter ({sk[-1]['iterations']} it, fit {sk[-1]['fit']:.3f} s; 1-iteration fit "
                  f"{sk1[-1]['fit']:.3f} s)", flush=True)
        c_ms = med([c["spi"] for c in cs]) * 1e3
        s_ms = med([s["fit"] / s["iterations"] for s in sk]) * 1e3
        marg = [(s["fit"] - s1["fit"]) / (s["iterations"] - s1["iterations"])
                for s, s1 in zip(sk, sk1) if s["iterations"] > s1["iterations"]]
        s_marg = med(marg) * 1e3 if marg else float("nan")
        ci, si = cs[-1]["inertia"], sk[-1]["inertia"]
        rel = abs(ci - si) / abs(si)
        same = float(np.mean(cs[-1]["labels"] == sk[-1]["labels"]))
        print(f"custseg  {c_ms:8.2f} ms/iter  {flops / (c_ms * 1e-3) * 1e-9:6.1f} GFLOP/s  "
              f"{4.0 * n * d / (c_ms * 1e-3) * 1e-9:5.1f} GB/s  ({cs[-1]['iterations']} iterations)")
        print(f"sklearn  {s_ms:8.2f} ms/iter (fit / n_iter_), {s_marg:.2f} ms marginal  "
              f"({sk[-1]['iterations']} iterations)")
        print(f"speed-up {s_ms / c_ms:6.2f}x (fit / n_iter_), {s_marg / c_ms:.2f}x (marginal)")
        print(f"inertia  custseg {ci:.10g}  sklearn {si:.10g}  relative difference {rel:.2e} "
              f"({'agree' if rel <= 1e-5 else 'DIFFER'} at 1e-5); equal labels {same * 100:.4f}%")
        res.update(custseg_ms_per_iter=c_ms, sklearn_ms_per_iter=s_ms,
                   sklearn_marginal_ms_per_iter=s_marg, speedup=s_ms / c_ms,
                   speedup_marginal=s_marg / c_ms, custseg_iterations=cs[-1]["iterations"],
                   sklearn_iterations=sk[-1]["iterations"], custseg_inertia=ci,
                   sklearn_inertia=si, inertia_rel_diff=rel, equal_labels=same,
                   custseg_gflops=flops / (c_ms * 1e-3) * 1e-9, command=cs[-1]["cmd"])
    else:
        algos = ("lloyd", "hamerly", "yinyang")
        runs, sk = {al: [] for al in algos}, []
        for r in range(a.repeat):
            for al in algos:
                runs[al].append(run_custseg(a, init_path, al, tol, max_iter, al))
            sk.append(run_sklearn(x, init, a.k, tol, max_iter, nthreads))
            print(f"  repeat {r + 1}: " + ", ".join(
                f"custseg {al} {runs[al][-1]['kmeans_seconds']:.3f} s "
                f"({runs[al][-1]['iterations']} it)" for al in algos) +
                f", sklearn {sk[-1]['fit']:.3f} s ({sk[-1]['iterations']} it)", flush=True)
        ts = med([s["fit"] for s in sk])
        t = {al: med([c["kmeans_seconds"] for c in runs[al]]) for al in algos}
        for al in algos:
            c = runs[al][-1]
            print(f"{'custseg ' + al:16s} {t[al]:8.3f} s  {c['iterations']:4d} iterations  inertia "
                  f"{c['inertia']:.10g}  converged {c['converged']}  distance fraction "
                  f"{c['distance_fraction']:.3f}  ({ts / t[al]:.2f}x sklearn)")
        print(f"{'sklearn lloyd':16s} {ts:8.3f} s  {sk[-1]['iterations']:4d} iterations  inertia "
              f"{sk[-1]['inertia']:.10g}")
        lo = runs["lloyd"][-1]
        rel = abs(lo["inertia"] - sk[-1]["inertia"]) / abs(sk[-1]["inertia"])
        same = float(np.mean(lo["labels"] == sk[-1]["labels"]))
        equal = {al: bool(np.array_equal(runs[al][-1]["labels"], lo["labels"])) for al in algos}
        print(f"custseg vs sklearn: inertia relative difference {rel:.2e}, equal labels "
              f"{same * 100:.4f}%; labels identical to custseg lloyd: {equal}")
        res.update(sklearn_s=ts, sklearn_iterations=sk[-1]["iterations"], inertia_rel_diff=rel,
                   equal_labels=same, command=runs["yinyang"][-1]["cmd"])
        for al in algos:
            res.update({f"custseg_{al}_s": t[al], f"speedup_{al}": ts / t[al],
                        f"{al}_iterations": runs[al][-1]["iterations"],
                        f"{al}_distance_fraction": runs[al][-1]["distance_fraction"],
                        f"{al}_equals_lloyd": equal[al]})
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
