#!/usr/bin/python3
"""k-means sums keep their digits when the features' magnitudes differ widely (docs/segments.md,
"Precision of the fixed-point grid"), at RANKS ranks:

1. `--scale none` with a column near 1e12 and one near 1e-3: the centroids of the small one
   are its segment means (they had been 31% low, on a grid set by the large column);
2. `--scale robust` with one customer's income at 1e13 (a robust z of ~4e8): the inertia is
   numpy's, from the stored labels and centroids (it had been 0, and Calinski-Harabasz null);
3. a feature weighted 1e-24: its centroids are its segment means, the same for Lloyd and
   Hamerly;
4. customer weights all 1e-45, weight-0 customers far out, a start that leaves a segment
   empty, a start at 1e300;
5. k-means|| counts distinct candidates (60 points of repeated customers: 60, not 140), and
   says when the store has fewer distinct rows than K (5 points near 1e4).

usage: check_segment_range.py RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import os
import sys

import h5py
import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

ranks = sys.argv[1]
work = su.workdir(f"segment_range-np{ranks}")
fails = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        fails.append(what)


# 1. Two columns twelve and fifteen orders of magnitude apart, three groups in `small`.
n = 6000
rng = np.random.default_rng(11)
group = rng.integers(0, 3, n)
store = os.path.join(work, "scales.h5")
with h5py.File(store, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int64(1)
    g["customer_id"] = np.arange(1, n + 1, dtype=np.int64)
    g["big"] = rng.normal(0.0, 1e12, n)
    g["small"] = 1e-3 * (1.0 + 0.5 * group) + rng.normal(0.0, 1e-5, n)
out = os.path.join(work, "scales_seg.h5")
su.custseg(ranks, "segment", "--input", store, "--output", out, "--k", 3, "--scale", "none",
           "--features", "big,small", "--tol", 0, "--quiet")
with h5py.File(store, "r") as f:
    small = f["customers/small"][...]
with h5py.File(out, "r") as f:
    labels = f["segments/labels"][...]
    names = su.strings(f["segments/centroids"].attrs["features"])
    cen = f["segments/centroids"][...][:, names.index("small")]
worst = 0.0
for q in range(3):
    members = small[labels == q].astype(np.float32).astype(np.float64)  # the float32 matrix
    if len(members):
        worst = max(worst, abs(cen[q] - members.mean()) / members.mean())
check(worst < 1e-9, f"--scale none: the small column's centroids are its segment means "
      f"(largest relative difference {worst:.3g})")

# 2. One extreme income under robust scaling.
gen = os.path.join(work, "outlier.h5")
su.generate(gen, 20000, seed=1, ranks=int(ranks))
with h5py.File(gen, "r+") as f:
    inc = f["customers/income"][...]
    inc[123] = 1e13
    f["customers/income"][...] = inc
out = os.path.join(work, "outlier_seg.h5")
summary = os.path.join(work, "outlier.json")
su.custseg(ranks, "segment", "--input", gen, "--output", out, "--scale", "robust", "--k", 6,
           "--summary", summary, "--quiet")
st = su.feature_stats(out)
x = su.standardized(gen, st).astype(np.float64)
with h5py.File(out, "r") as f:
    labels = f["segments/labels"][...]
    cstd = f["segments/centroids_standardized"][...]
want = float(((x - cstd[labels]) ** 2).sum())
km = json.load(open(summary))["kmeans"]
got = km["inertia"]
check(got is not None and abs(got - want) <= 1e-6 * want,
      f"--scale robust with one extreme income: inertia {got} against numpy's {want:.10g}")
check(km.get("calinski_harabasz") is not None and km["calinski_harabasz"] > 0,
      f"Calinski-Harabasz is a number ({km.get('calinski_harabasz')})")

# 3. A feature weighted 1e-24 (its values below 2^-76): its scale had overflowed the float
# copy the AVX-512 kernel uses, and its centroids came out in the thousands, different for
# Lloyd and Hamerly. Now every algorithm gives the segment means.
with h5py.File(gen, "r") as f:
    age = f["customers/age"][...].astype(np.float64)
got = {}
for algo in ("lloyd", "hamerly"):
    out = os.path.join(work, f"tiny_{algo}.h5")
    su.custseg(ranks, "segment", "--input", gen, "--output", out, "--features",
               "age,frequency,monetary", "--feature-weights", "age:1e-24", "--k", 4,
               "--algorithm", algo, "--tol", 0, "--quiet")
    with h5py.File(out, "r") as f:
        labels = f["segments/labels"][...]
        names = su.strings(f["segments/centroids"].attrs["features"])
        cstd = f["segments/centroids_standardized"][...]
    got[algo] = (labels, cstd)
    st = su.feature_stats(out)
    j = names.index("age")
    # the centroid in standardized units against the members' mean in the same units
    x = su.standardized(gen, st).astype(np.float64)[:, j]
    worst = max(abs(cstd[q, j] - x[labels == q].mean()) / max(abs(x[labels == q]).max(), 1e-300)
                for q in range(4) if np.any(labels == q))
    check(worst < 1e-9, f"{algo}: a feature of weight 1e-24 has its segment means "
          f"(largest relative difference {worst:.3g})")
check(np.array_equal(got["lloyd"][0], got["hamerly"][0]) and
      np.array_equal(got["lloyd"][1], got["hamerly"][1]),
      "weight 1e-24: Lloyd and Hamerly give the same labels and centroids")

# 4. Weights and starts at the edges of the sums' range:
# - customer weights all 1e-45 give the unweighted fit (weights of 1e-20 had summed to 0 on a
#   grid set by weight 1: every segment "empty", re-seeded each iteration, 300 iterations,
#   exit 0; then 1e-40 on the 2^-126 grid of the float kernel's scale);
# - two customers of weight 0 far out no longer re-seed a segment (it had cycled between them
#   to --max-iter);
# - a start that leaves a segment empty for good is an error, not a written segment of size 0;
# - a start at 1e300 is refused (it had coarsened the sums: inertia 43% low, exit 0).
n = 2000
pts = np.concatenate([rng.normal(c, 0.5, (n // 4, 2)) for c in ((0, 0), (6, 0), (0, 6), (6, 6))])
edge = os.path.join(work, "edges.h5")
with h5py.File(edge, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int64(1)
    g["customer_id"] = np.arange(1, n + 3, dtype=np.int64)
    g["x"] = np.concatenate([pts[:, 0], [1e3, -1e3]])
    g["y"] = np.concatenate([pts[:, 1], [1e3, -1e3]])
    g["tiny"] = np.concatenate([np.full(n, 1e-45), [1e-45, 1e-45]])
    g["outw"] = np.concatenate([np.ones(n), [0.0, 0.0]])
    s = f.create_group("starts")
    s["c3"] = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.0]])  # standardized units
    s["far"] = np.array([[0.0, 0.0], [1.0, 1.0], [1e300, 0.0]])
three = os.path.join(work, "three.h5")  # 200 customers on 3 distinct points
with h5py.File(three, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int64(1)
    g["customer_id"] = np.arange(1, 201, dtype=np.int64)
    at = np.array([[0, 0], [1, 0], [0, 1.0]])[np.random.default_rng(0).integers(0, 3, 200)]
    g["x"], g["y"] = at[:, 0], at[:, 1]
    g["outw"] = np.ones(200)
    f["starts/dup"] = np.array([[-1, -1], [0, 1], [1, -1.0], [2, 2]])
hashes = {}
for wcol in (None, "tiny"):
    summ = os.path.join(work, f"edges_{wcol}.json")
    su.custseg(ranks, "segment", "--input", edge, "--output", os.path.join(work, "e.h5"),
               "--features", "x,y", "--k", 4, "--summary", summ, "--quiet",
               *(["--weight-column", wcol] if wcol else []))
    hashes[wcol] = json.load(open(summ))["kmeans"]
check(hashes[None]["verification_hash"] == hashes["tiny"]["verification_hash"] and
      hashes[None]["iterations"] == hashes["tiny"]["iterations"],
      f"weights all 1e-45 give the unweighted fit ({hashes['tiny']['verification_hash']}, "
      f"{hashes['tiny']['iterations']} iterations, against {hashes[None]['verification_hash']}, "
      f"{hashes[None]['iterations']})")
summ = os.path.join(work, "edges_outw.json")
su.custseg(ranks, "segment", "--input", edge, "--output", os.path.join(work, "e.h5"),
           "--features", "x,y", "--k", 3, "--weight-column", "outw", "--init-centroids",
           edge + ":/starts/c3", "--summary", summ, "--quiet")
km = json.load(open(summ))["kmeans"]
check(km["converged"] and km["iterations"] < 100,
      f"weight-0 customers far out do not re-seed a segment: converged {km['converged']} "
      f"after {km['iterations']} iterations")
for start, want in (("dup", "stays empty: re-seeding it at the farthest customer took none"),
                    ("far", "more than 1000 times the largest |value| of any feature")):
    out = os.path.join(work, f"e_{start}.h5")
    if os.path.exists(out):
        os.remove(out)
    src = three if start == "dup" else edge
    p = su.custseg(ranks, "segment", "--input", src, "--output", out, "--features", "x,y",
                   "--k", 4 if start == "dup" else 3, "--weight-column", "outw",
                   "--init-centroids", src + ":/starts/" + start, "--quiet", check=False)
    check(p.returncode == 2 and want in p.stderr and not os.path.exists(out),
          f"start '{start}': exit {p.returncode}, '{want}' said: {want in p.stderr}")
# ... while a start beside a feature of tiny range is judged by the largest feature, as
# distances weigh them (--scale none: rate within 1e-3 beside spend near 2000).
with h5py.File(edge, "r+") as f:
    f["customers/spend"] = 2000 + 500 * f["customers/x"][...] / 6
    f["customers/rate"] = np.abs(f["customers/y"][...]) * 1e-6
    f["starts/none"] = np.array([[1000, 0.5], [2000, 0.5], [3000, 2.0]])
p = su.custseg(ranks, "segment", "--input", edge, "--output", os.path.join(work, "e_none.h5"),
               "--features", "spend,rate", "--scale", "none", "--k", 3, "--weight-column",
               "outw", "--init-centroids", edge + ":/starts/none", "--quiet", check=False)
check(p.returncode == 0, f"--scale none, a start of 2 for a feature within 1e-3: exit "
      f"{p.returncode} {p.stderr[-200:]}")

# ... and a start leaves the grids alone: 1e5 beside a feature near 1e-12 (within the bound
# set by spend) had coarsened that feature's grid until its centroids were all 0.
with h5py.File(edge, "r+") as f:
    f["customers/micro"] = (1 + (f["customers/y"][...] > 3)) * 4e-12 + 1e-14 * f["customers/x"][...]
    f["starts/micro"] = np.array([[1600, 1e5], [2000, 0.0], [2400, 0.0]])
out = os.path.join(work, "e_micro.h5")
su.custseg(ranks, "segment", "--input", edge, "--output", out, "--features", "spend,micro",
           "--scale", "none", "--k", 3, "--weight-column", "outw", "--init-centroids",
           edge + ":/starts/micro", "--tol", 0, "--quiet")
with h5py.File(edge, "r") as f, h5py.File(out, "r") as r:
    micro, w = f["customers/micro"][...].astype(np.float32).astype(np.float64), f["customers/outw"][...]
    labels = r["segments/labels"][...]
    cen = r["segments/centroids"][...][:, 1]
means = np.array([np.average(micro[labels == q], weights=w[labels == q]) for q in range(3)])
check(np.allclose(cen, means, rtol=1e-9, atol=0), f"a start of 1e5 beside a feature near 1e-12: "
      f"centroids {cen} against the segment means {means}")

# ... silhouettes and the choice of K do not change when every weight is 1e-45 (as floats
# they had become 0: every silhouette null, K = 2 recommended instead of 4).
with h5py.File(edge, "r+") as f:  # the outliers of weight 0 again, the others 1e-45
    f["customers/tinyo"] = f["customers/outw"][...] * 1e-45
sel = {}
for wcol in ("outw", "tinyo"):
    summ = os.path.join(work, f"sel_{wcol}.json")
    su.custseg(ranks, "segment", "--input", edge, "--output", os.path.join(work, "sel.h5"),
               "--features", "x,y", "--k", "2..5", "--summary", summ, "--quiet",
               "--weight-column", wcol)
    sel[wcol] = json.load(open(summ))["kmeans"]
sil = [r.get("silhouette") for r in sel["tinyo"].get("k_selection", [])]
check(sel["outw"]["k"] == sel["tinyo"]["k"] == 4 and sil and all(v is not None for v in sil),
      f"weights 1e-45 in a K range: K {sel['tinyo']['k']} (weights 1: {sel['outw']['k']}), "
      f"silhouettes {sil}")

# ... and a start in original units below -1 for a --log1p feature is named as such (it had
# been "a non-finite value").
with h5py.File(edge, "r+") as f:
    f["customers/pos"] = np.abs(f["customers/x"][...])
    d = f.create_dataset("starts/orig", data=np.array([[-2.0, 0], [1, 1], [5, 0]]))
    d.attrs["units"], d.attrs["features"] = "original", ["log1p:pos", "y"]
p = su.custseg(ranks, "segment", "--input", edge, "--output", os.path.join(work, "e_lp.h5"),
               "--features", "pos,y", "--log1p", "pos", "--k", 3, "--init-centroids",
               edge + ":/starts/orig", "--quiet", check=False)
want = "has -2 for --log1p feature 'log1p:pos' (segment 0; log1p needs values > -1)"
check(p.returncode == 2 and want in p.stderr, f"a start of -2 on a log1p feature: exit "
      f"{p.returncode}, named: {want in p.stderr}")

# 5. k-means|| counts distinct candidates: 60 points of 1 to 5 customers each give 60 (two
# customers of one point drawn together had both counted towards K, so the extra rounds for
# too few candidates would not start: 140 "candidates" for these 60 points), and K = 60 fits
# each point's customers as a segment.
prng = np.random.default_rng(1)
pts60 = prng.normal(size=(60, 2)) * 100 + prng.normal(size=(60, 2)) * 0.05
reps = prng.integers(1, 6, 60)
rows = prng.permutation(np.repeat(np.arange(60), reps))
dup = os.path.join(work, "dup60.h5")
with h5py.File(dup, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int64(1)
    g["customer_id"] = np.arange(1, len(rows) + 1, dtype=np.int64)
    g["x"], g["y"] = pts60[rows, 0], pts60[rows, 1]
p = su.custseg(ranks, "segment", "--input", dup, "--output", os.path.join(work, "dup60_seg.h5"),
               "--k", 60, "--init", "kmeans||", "--verbose", check=False)
sizes = []
if p.returncode == 0:
    with h5py.File(os.path.join(work, "dup60_seg.h5"), "r") as f:
        sizes = sorted(f["segments/sizes"][...])
check(p.returncode == 0 and "k-means||: 60 candidates from" in p.stderr
      and sizes == sorted(reps), f"k-means|| on 60 points of repeated customers: exit "
      f"{p.returncode}, {[l for l in p.stderr.splitlines() if 'candidates from' in l]}")

# ... and 400 customers on 5 points near 1e4 (--scale none), whose float32 distances cannot
# tell the points apart, are said to have 5 distinct rows for K = 6 (customers at a
# candidate's point had kept D^2 > 0: 20 rounds, then "the draws missed some tight groups").
close = os.path.join(work, "close5.h5")
pts5 = 1e4 + np.array([[0, 0], [1e-3, -1e-3], [2e-3, 0], [0, 2e-3], [-1e-3, -1e-3]])
rows5 = prng.integers(0, 5, 400)
with h5py.File(close, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int64(1)
    g["customer_id"] = np.arange(1, 401, dtype=np.int64)
    g["a"], g["b"] = pts5[rows5, 0], pts5[rows5, 1]
p = su.custseg(ranks, "segment", "--input", close, "--output", os.path.join(work, "close5_seg.h5"),
               "--k", 6, "--init", "kmeans||", "--scale", "none", "--quiet", check=False)
want = "K = 6: the customers of positive weight have only 5 distinct feature rows"
check(p.returncode == 2 and want in p.stderr, f"k-means|| on 5 points near 1e4: exit "
      f"{p.returncode}, {p.stderr.strip()[-200:]}")

# 6. An empty segment is re-seeded at the farthest customer, ties to the lowest global row
# (docs/segments.md, "Empty segments"): four customers at distance 1 from centroid 0, on
# different ranks at 3, and the start's third centroid (100) takes none; row 0 (x = -1)
# re-seeds it. (Ties broken to the highest row, x = 1, had passed every test.)
tie = os.path.join(work, "reseed_tie.h5")
with h5py.File(tie, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = np.int32(1)
    g["customer_id"] = np.arange(1, 7, dtype=np.int64)
    g["x"] = np.array([-1.0, 1.0, -1.0, 1.0, 10.0, 10.0])
    d = f.create_dataset("start", data=np.array([[0.0], [10.0], [100.0]]))
    d.attrs["units"], d.attrs["features"] = "original", ["x"]
out = os.path.join(work, "reseed_tie_out.h5")
su.custseg(ranks, "segment", "--input", tie, "--output", out, "--features", "x", "--scale",
           "none", "--k", 3, "--init-centroids", tie + ":/start", "--quiet")
with h5py.File(out, "r") as f:
    cen = f["segments/centroids"][...].ravel().tolist()
check(cen == [1.0, 10.0, -1.0], f"an empty segment re-seeded at the lowest of tied rows: "
      f"centroids {cen}, wanted [1, 10, -1]")

if fails:
    raise SystemExit(f"{len(fails)} check(s) failed")
print("k-means sums keep their digits across feature magnitudes")
