#!/usr/bin/python3
"""`custseg segment --k A..B`: the indices behind the choice of K and the rule itself
(docs/segments.md, "--k A..B and the recommended K"), on 3000 generated customers whose
silhouette sample is every customer (--silhouette-sample 3000), so it can be recomputed here:

1. each K's row of the k_selection table has the silhouette of that K's labels as numpy
   computes it from the matrix rebuilt from the run's feature statistics (relative 1e-6; the
   numpy formula itself checked against sklearn.metrics.silhouette_score), and the smallest
   segment's share of customers (exactly; labels and sizes from `--k K` alone, the same fit);
2. the recommended K is the rule's answer on that table (the first K whose smallest segment
   holds at least --min-segment-share, replaced by a larger K only with a silhouette higher by
   more than 0.005);
3. no K meeting --min-segment-share: a warning, and K = A (the range's smallest) is used;
4. --weight-column: the silhouette is the weighted one (each customer's s(i) weighted, and
   the mean distances to a segment weighted by its customers' weights).

usage: check_segment_kselect.py [RANKS]   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import math
import os
import sys

import h5py
import numpy as np
from scipy.spatial.distance import cdist
from sklearn.metrics import silhouette_score

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

ranks = sys.argv[1] if len(sys.argv) > 1 else "1"
N, K_MIN, K_MAX, SHARE = 3000, 2, 5, 0.2
work = su.workdir(f"segment_kselect-np{ranks}")
path = lambda n: os.path.join(work, n)  # noqa: E731
store = path("store.h5")
su.generate(store, N, seed=3, segments=4, ranks=1)
opts = ["--silhouette-sample", N, "--log1p", su.LOG1P, "--quiet"]
failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def silhouette(X, lab, k, w=None):
    """The mean silhouette, each s(i) weighted by w_i and each mean distance to a segment
    weighted by its customers' w (w = None: all 1); s(i) = 0 for a customer alone in its
    segment (as scikit-learn). Exact distances (float64 from the float32 matrix)."""
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    w = np.ones(len(lab)) if w is None else w
    onehot = np.zeros((len(lab), k))
    onehot[np.arange(len(lab)), lab] = 1.0
    ds = D @ (onehot * w[:, None])               # sum_b w_b d(a, b) per segment (d(a, a) = 0)
    ws = (onehot * w[:, None]).sum(0)[None, :] - onehot * w[:, None]  # b != a
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = ds / ws
    rows = np.arange(len(lab))
    a = mean[rows, lab]
    other = np.where((onehot == 0) & (ws > 0), mean, np.inf)
    b = other.min(1)
    s = np.where(ws[rows, lab] > 0, (b - a) / np.maximum(a, b), 0.0)
    return float((s * w).sum() / w.sum())


def summary_of(name):
    with open(path(name + ".json")) as f:
        return json.load(f)["kmeans"]


# 1. The range and each K alone.
su.custseg(ranks, "segment", "--input", store, "--output", path("range.h5"), "--summary",
           path("range.json"), "--k", f"{K_MIN}..{K_MAX}", "--min-segment-share", SHARE, *opts)
table = summary_of("range")["k_selection"]
check([r["k"] for r in table] == list(range(K_MIN, K_MAX + 1)), f"k_selection rows {table}")
st = su.feature_stats(path("range.h5"))
X = su.standardized(store, st)
for row in table:
    k = row["k"]
    su.custseg(ranks, "segment", "--input", store, "--output", path(f"k{k}.h5"), "--summary",
               path(f"k{k}.json"), "--k", k, *opts)
    with h5py.File(path(f"k{k}.h5"), "r") as f:
        lab, sizes = f["segments/labels"][...].astype(np.int64), f["segments/sizes"][...]
    check(np.array_equal(np.bincount(lab, minlength=k), sizes), f"K = {k}: sizes are the labels' counts")
    share = float(sizes.min()) / N
    check(row["min_segment_share"] == share,
          f"K = {k}: min_segment_share {row['min_segment_share']!r} is the smallest segment's "
          f"share {share!r} (sizes {sizes.tolist()})")
    want = silhouette(X, lab, k)
    if k == K_MIN:  # the oracle against scikit-learn's (the same formula, its own distances)
        sk = silhouette_score(X.astype(np.float64), lab)
        check(math.isclose(want, sk, rel_tol=1e-9), f"numpy silhouette {want!r} = sklearn's {sk!r}")
    check(math.isclose(row["silhouette"], want, rel_tol=1e-6),
          f"K = {k}: silhouette {row['silhouette']!r} = numpy's {want!r} on all {N} customers")

# 2. The rule on the table.
held = None
for row in table:
    if row["min_segment_share"] < SHARE:
        continue
    if held is None or row["silhouette"] > held["silhouette"] + 0.005:
        held = row
rec = summary_of("range")["recommended_k"]
check(held is not None and rec == held["k"],
      f"recommended K {rec} is the rule's {held and held['k']} (--min-segment-share {SHARE}, "
      f"table {[(r['k'], round(r['min_segment_share'], 4), round(r['silhouette'], 4)) for r in table]})")
# (the data makes the share matter: the largest segments would qualify every K)
check(any(r["min_segment_share"] < SHARE for r in table) and
      any(r["min_segment_share"] >= SHARE for r in table),
      "some K and not others have a segment under --min-segment-share")

# 3. No K qualifies: K = A, said in a warning.
top = max(r["min_segment_share"] for r in table)
high = math.ceil(top * 100 + 1) / 100
p = su.custseg(ranks, "segment", "--input", store, "--output", path("none.h5"), "--summary",
               path("none.json"), "--k", f"{K_MIN}..{K_MAX}", "--min-segment-share", high,
               *opts[:-1])
check(summary_of("none")["recommended_k"] == K_MIN,
      f"no K qualifies at --min-segment-share {high}: recommended K "
      f"{summary_of('none')['recommended_k']} is the range's smallest, {K_MIN}")
check(f"no K in {K_MIN}..{K_MAX} has every segment above {100 * high:.2f}% of customers; "
      f"using K = {K_MIN}" in p.stderr, f"the warning of no qualifying K: {p.stderr[-400:]}")
with h5py.File(path("none.h5"), "r") as f, h5py.File(path(f"k{K_MIN}.h5"), "r") as g:
    check(np.array_equal(f["segments/labels"][...], g["segments/labels"][...]),
          f"no K qualifies: the results are those of --k {K_MIN}")

# 4. Weighted.
log1p = ",".join(c for c in su.LOG1P.split(",") if c != "tenure_months")  # the weight: no feature
su.custseg(ranks, "segment", "--input", store, "--output", path("w.h5"), "--summary",
           path("w.json"), "--k", 4, "--weight-column", "tenure_months", "--silhouette-sample", N,
           "--log1p", log1p, "--quiet")
with h5py.File(path("w.h5"), "r") as f:
    lab = f["segments/labels"][...].astype(np.int64)
with h5py.File(store, "r") as f:
    w = f["customers/tenure_months"][...].astype(np.float64)
Xw = su.standardized(store, su.feature_stats(path("w.h5")))
wexp = math.frexp(w.max())[1]  # custseg's float32 copy of w / 2^e (the ratio is unchanged)
w32 = np.ldexp(w, -wexp).astype(np.float32).astype(np.float64)
got, want, plain = summary_of("w")["silhouette"], silhouette(Xw, lab, 4, w32), silhouette(Xw, lab, 4)
check(math.isclose(got, want, rel_tol=1e-6) and not math.isclose(plain, want, rel_tol=1e-4),
      f"--weight-column: silhouette {got!r} = the weighted numpy one {want!r} "
      f"(unweighted: {plain!r})")

if failures:
    print(f"FAIL: {len(failures)} check(s)")
    sys.exit(1)
print(f"ok: k selection at {ranks} rank(s)")
