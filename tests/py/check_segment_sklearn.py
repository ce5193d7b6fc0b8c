#!/usr/bin/python3
"""`custseg segment` from given centroids is Lloyd's k-means as scikit-learn runs it: on the
standardized matrix (rebuilt here in numpy from the run's feature statistics) and from the
same k-means++ centroids, custseg and sklearn.cluster.KMeans(algorithm="lloyd") reach the
same inertia and (nearly) the same labels after as many iterations (the same tolerance), and
custseg's inertia trace never rises; the same for a weighted fit on unscaled features
(sklearn's sample_weight).

usage: check_segment_sklearn.py RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import math
import os
import sys

import h5py
import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

ranks = sys.argv[1]
K, TOL, MAX_ITER = 6, 1e-4, 300
work = su.workdir(f"segment_vs_sklearn-np{ranks}")
store, first, init, res = (os.path.join(work, n) for n in
                           ("store.h5", "first.h5", "init.h5", "res.h5"))
su.generate(store, 200000, seed=1)
opts = ["--k", K, "--tol", TOL, "--max-iter", MAX_ITER, "--log1p", su.LOG1P, "--quiet"]

# 1. One run for the feature statistics, then the matrix in numpy.
su.custseg(ranks, "segment", "--input", store, "--output", first, *opts)
st = su.feature_stats(first)
X = su.standardized(store, st)

# 2. The same k-means++ start for both, in standardized units.
C, _ = kmeans_plusplus(X, K, random_state=0)
with h5py.File(init, "w") as f:
    f["init"] = C.astype(np.float64)
    f["init"].attrs["units"] = "standardized"
su.custseg(ranks, "segment", "--input", store, "--output", res,
           "--init-centroids", init + ":/init", *opts)
km = KMeans(n_clusters=K, init=C, n_init=1, algorithm="lloyd", tol=TOL,
            max_iter=MAX_ITER).fit(X)

with h5py.File(res, "r") as f:
    g = f["segments"]
    labels, trace = g["labels"][...], g["inertia_trace"][...]
    inertia, iterations = float(g.attrs["inertia"]), int(g.attrs["iterations"])
    cs_centroids = g["centroids_standardized"][...]
    cs_ch, cs_db = float(g.attrs["calinski_harabasz"]), float(g.attrs["davies_bouldin"])


def inertia64(lab, cen):
    """Exact-ish (float64) inertia of a labelling: sklearn sums float32 X in float32."""
    return float(((X.astype(np.float64) - np.asarray(cen, np.float64)[lab]) ** 2).sum())


failures = []
sk = inertia64(km.labels_, km.cluster_centers_)
mine = inertia64(labels, cs_centroids)
agree = float(np.mean(labels == km.labels_))
print(f"custseg: inertia {inertia:.10g} after {iterations} iterations (numpy on its labels and "
      f"centroids: {mine:.10g})")
print(f"sklearn: inertia {sk:.10g} (its float32 inertia_ {km.inertia_:.10g}) after "
      f"{km.n_iter_} iterations; labels agree on {100 * agree:.4f}% of {len(labels)} rows")
if not math.isclose(inertia, sk, rel_tol=1e-5):
    failures.append(f"inertia: custseg {inertia!r} sklearn {sk!r} "
                    f"(relative {abs(inertia - sk) / sk:.3g} > 1e-5)")
if not math.isclose(inertia, mine, rel_tol=1e-9):
    failures.append(f"custseg's inertia {inertia!r} is not that of its own labels and "
                    f"centroids ({mine!r}): the matrix rebuilt here is not custseg's")
if labels.shape != km.labels_.shape or agree < 0.999:
    failures.append(f"labels agree on only {100 * agree:.4f}% of rows (< 99.9%)")
# The same stop: --tol is relative to the mean per-feature variance, as sklearn's tol (a tolerance
# scaled by the variance's sum, d times larger, had stopped one iteration early and passed).
if iterations != km.n_iter_:
    failures.append(f"custseg stopped after {iterations} iterations, sklearn after "
                    f"{km.n_iter_} (--tol {TOL} times the mean feature variance on both sides)")
if len(trace) != iterations:
    failures.append(f"inertia_trace has {len(trace)} values for {iterations} iterations")
rises = [(i + 1, trace[i], trace[i + 1]) for i in range(len(trace) - 1)
         if not trace[i + 1] <= trace[i] * (1 + 1e-6)]
if rises:
    failures.append(f"inertia_trace rises (iteration, before, after): {rises[:5]}")

# Calinski-Harabasz and Davies-Bouldin (guards the (K-1) of CH and the W_p of DB's scatter):
# custseg computes them with the centroids as written (docs/segments.md section 5), which after
# a tolerance stop are not quite the means of the final labels. So: these float64 formulas on
# the label means must be sklearn's scores (1e-9), and on the stored centroids custseg's (1e-6;
# the same float32 matrix, custseg sums exactly). sklearn on the labels directly: within 1e-3.
def ch_db(lab, cen):
    X64, cen = X.astype(np.float64), np.asarray(cen, np.float64)
    n = np.bincount(lab, minlength=K).astype(np.float64)
    inner = ((X64 - cen[lab]) ** 2).sum()
    cbar = (n[:, None] * cen).sum(0) / n.sum()
    ch = (n * ((cen - cbar) ** 2).sum(1)).sum() / (K - 1) / (inner / (len(lab) - K))
    S = np.bincount(lab, np.sqrt(((X64 - cen[lab]) ** 2).sum(1)), minlength=K) / n
    dc = np.sqrt(((cen[:, None, :] - cen[None, :, :]) ** 2).sum(2))
    np.fill_diagonal(dc, np.inf)
    return float(ch), float(((S[:, None] + S[None, :]) / dc).max(1).mean())


means = np.stack([X[labels == q].astype(np.float64).mean(0) for q in range(K)])
X64 = X.astype(np.float64)  # sklearn would sum the float32 matrix in float32
sk_ch, sk_db = calinski_harabasz_score(X64, labels), davies_bouldin_score(X64, labels)
for what, mine_v, ref, tol in (
        ("CH formula on label means vs sklearn", ch_db(labels, means)[0], sk_ch, 1e-9),
        ("DB formula on label means vs sklearn", ch_db(labels, means)[1], sk_db, 1e-9),
        ("custseg calinski_harabasz vs stored centroids", cs_ch, ch_db(labels, cs_centroids)[0], 1e-6),
        ("custseg davies_bouldin vs stored centroids", cs_db, ch_db(labels, cs_centroids)[1], 1e-6),
        ("custseg calinski_harabasz vs sklearn", cs_ch, sk_ch, 1e-3),
        ("custseg davies_bouldin vs sklearn", cs_db, sk_db, 1e-3)):
    print(f"{what}: {mine_v!r} {ref!r}")
    if not math.isclose(mine_v, ref, rel_tol=tol):
        failures.append(f"{what}: {mine_v!r} != {ref!r} (relative {tol:g})")
# Weighted (--weight-column) and unscaled (--scale none: features far from a zero mean), from
# the same start: sklearn's sample_weight fit, its tol on the unweighted mean variance as
# custseg's. A tol of 0.01 (0.6 here) stops both at the same iteration; one scaled by the mean
# of x^2 instead (10 times the variance, a weighted run's own pass had dropped the mean^2)
# stopped custseg after 3 iterations with an inertia 6% higher, and passed.
W_TOL = 1e-2
wopts = ["--k", K, "--tol", W_TOL, "--max-iter", MAX_ITER, "--scale", "none", "--features",
         "age,email_open_rate,household_size", "--weight-column", "tenure_months", "--quiet"]
wfirst, winit, wres = (os.path.join(work, n) for n in ("wfirst.h5", "winit.h5", "wres.h5"))
su.custseg(ranks, "segment", "--input", store, "--output", wfirst, *wopts)
Xw = su.standardized(store, su.feature_stats(wfirst))
with h5py.File(store, "r") as f:
    w = f["customers/tenure_months"][...].astype(np.float64)
Cw, _ = kmeans_plusplus(Xw, K, random_state=0)
with h5py.File(winit, "w") as f:
    f["init"] = Cw.astype(np.float64)
    f["init"].attrs["units"] = "standardized"
su.custseg(ranks, "segment", "--input", store, "--output", wres, "--init-centroids",
           winit + ":/init", *wopts)
kw = KMeans(n_clusters=K, init=Cw, n_init=1, algorithm="lloyd", tol=W_TOL,
            max_iter=MAX_ITER).fit(Xw, sample_weight=w)
with h5py.File(wres, "r") as f:
    g = f["segments"]
    wl, wi, wn = g["labels"][...], float(g.attrs["inertia"]), int(g.attrs["iterations"])
Xw64 = Xw.astype(np.float64)
wsk = float((w * ((Xw64 - kw.cluster_centers_[kw.labels_]) ** 2).sum(1)).sum())
print(f"weighted, --scale none: custseg inertia {wi:.10g} after {wn} iterations, sklearn "
      f"{wsk:.10g} after {kw.n_iter_}; labels agree on {100 * np.mean(wl == kw.labels_):.4f}%")
if wn != kw.n_iter_ or not math.isclose(wi, wsk, rel_tol=1e-5) or np.mean(wl == kw.labels_) < 0.999:
    failures.append(f"weighted, --scale none: custseg {wn} iterations, inertia {wi!r}; sklearn "
                    f"{kw.n_iter_} iterations, inertia {wsk!r}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: custseg at {ranks} ranks matches sklearn KMeans(lloyd) from the same start")
