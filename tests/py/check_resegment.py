#!/usr/bin/python3
"""Re-segmentation (`custseg segment --previous`) on two generated months.

Month 1 is a generated store of 60000 customers, segmented with K = 6. Month 2 is built from
it with h5py: 5% of the customers take the feature values of a customer of another segment,
2% leave, 2% new customers (new ids, values copied from existing customers) arrive, and the
rows are shuffled. Month 2 is segmented with --previous month 1's results at 1 rank x 2
threads and at 3 ranks x 1 thread, and:

- the two results files have identical /segments (h5diff), summaries the same migration;
- at least 99% of the unchanged customers keep their segment id;
- the migration matrix equals the one computed here by joining the two runs on customer_id,
  its margins are both runs' segment sizes plus the new and departed counts, and its total
  is the number of customers of either month;
- the adjusted Rand index in the summary and the file equals scikit-learn's on the joined
  labels;
- a cold start (--init kmeans++, another seed) finds the segments in another order, and the
  matching brings the previous ids back (>= 99% of unchanged customers again);
- the renumbering is a permutation of the fit: the same labels as an --init-centroids run
  from the same centroids, up to renaming; drifts are the distances between matched
  centroids; /segments/customer_id is the store's column;
- with --k 7 (one segment appears) and --k 5 (one vanishes) the matching is rectangular, the
  ids stay in 0..K-1 and the margins still add up;
- month 3, the same K: one segment merges into another and a new group arrives far away; the
  new group takes the merged segment's id, and that is reported (a warning and `weak`);
- K taken from the previous run is recorded with source 'previous' (summary, /run@config); a
  previous file whose ids are floats is an error naming --previous;
- a level of region that the next month's store lacks (its customers gone) is left out of the
  comparison with a warning, and the other way round counts as a share of 0; the customers
  keep their ids;
- customers without a segment in a run that has them (--missing drop) are counted apart from
  those who left or joined, at 1 and 3 ranks.
- a previous file of 0 customers (no hash) is read at 3 ranks and warned of as sharing none.

usage: check_resegment.py   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_util as su  # noqa: E402

N, K = 60000, 6
work = su.workdir("resegment")
path = lambda name: os.path.join(work, name)  # noqa: E731
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def segment(ranks, threads, store, out, *extra, seed=3):
    su.custseg(ranks, "segment", "--input", store, "--output", out, "--summary", out + ".json",
               "--seed", seed, "--threads", threads, "--quiet", *extra)
    with open(out + ".json") as f:
        return json.load(f)


def results(name):
    with h5py.File(name, "r") as f:
        s = f["segments"]
        out = {k: s[k][...] for k in ("labels", "customer_id", "sizes", "centroids",
                                      "centroids_standardized")}
        out["hash"] = s.attrs["verification_hash"]
        out["fs"] = su.feature_stats(name) if "feature_stats" in s else None
        if "previous" in s:
            p = s["previous"]
            out["prev"] = {k: p[k][...] for k in p}
            out["prev_attrs"] = dict(p.attrs)
    return out


# ---- month 1 ---------------------------------------------------------------------------------
m1, r1 = path("month1.h5"), path("month1_results.h5")
su.generate(m1, N, seed=11, segments=K)
segment(2, 1, m1, r1, "--k", K)
a = results(r1)
lab1 = a["labels"]

# ---- month 2, written with h5py ----------------------------------------------------------------
rng = np.random.default_rng(2024)
with h5py.File(m1, "r") as f:
    g = f["customers"]
    cols = {name: g[name][...] for name in g}
    attrs = {name: dict(g[name].attrs) for name in g}
ids1 = cols["customer_id"]
order = rng.permutation(N)
n_drop, n_change, n_new = N * 2 // 100, N * 5 // 100, N * 2 // 100
drop, change = order[:n_drop], order[n_drop:n_drop + n_change]
donor = rng.integers(0, N, n_change)
while True:  # a donor from another segment
    same = lab1[donor] == lab1[change]
    if not same.any():
        break
    donor[same] = rng.integers(0, N, int(same.sum()))
keep = np.ones(N, bool)
keep[drop] = False
new_src = rng.choice(np.flatnonzero(keep), n_new, replace=False)
new_ids = ids1.max() + 1 + np.arange(n_new, dtype=np.int64)
rows = np.concatenate([np.flatnonzero(keep), new_src])
perm = rng.permutation(len(rows))
def write_month(out, column):
    """A store of month 1's columns, each made by column(name, x) (x a copy to change)."""
    with h5py.File(out, "w") as f:
        g = f.create_group("customers")
        g.attrs["schema_version"] = 1
        for name, x in cols.items():
            g[name] = column(name, x.copy())
            for k, v in attrs[name].items():
                g[name].attrs[k] = v


def month2_column(name, x):
    if name != "customer_id":
        x[change] = x[donor]
    y = x[rows]
    if name == "customer_id":
        y[len(rows) - n_new:] = new_ids
    return y[perm]


m2 = path("month2.h5")
write_month(m2, month2_column)
with h5py.File(m2, "r") as f:
    ids2 = f["customers/customer_id"][...]
N2 = len(ids2)

# ---- month 2 with --previous, at two decompositions ------------------------------------------
r2a, r2b = path("month2_np1.h5"), path("month2_np3.h5")
sa = segment(1, 2, m2, r2a, "--previous", r1)
sb = segment(3, 1, m2, r2b, "--previous", r1)
h = subprocess.run(["h5diff", "-q", r2a, r2b, "/segments"])
if h.returncode != 0:
    fail("/segments differs between 1 x 2 and 3 x 1 ranks x threads")
# K came from the previous run: the record says so (it had said K = 6, 'default', whatever
# K was used)
with h5py.File(r2a, "r") as f:
    run_k = json.loads(f["run"].attrs["config"])["k"]
if sa["config"]["k"] != {"value": str(K), "source": "previous"} or run_k != sa["config"]["k"]:
    fail(f"K from --previous recorded as {sa['config']['k']} (summary), {run_k} (/run@config)")
if sa["migration"] != sb["migration"] or sa["kmeans"]["verification_hash"] != sb["kmeans"]["verification_hash"]:
    fail("the summaries' migration or hash differ between 1 and 3 ranks")
b = results(r2a)
lab2, mig = b["labels"], sa["migration"]
if not np.array_equal(b["customer_id"], ids2):
    fail("/segments/customer_id is not the store's customer_id column")
if b["hash"] != sa["kmeans"]["verification_hash"]:
    fail(f"file hash {b['hash']} != summary hash {sa['kmeans']['verification_hash']}")
if not mig["warm_start"] or sa["kmeans"]["iterations"] > 20:
    fail(f"no warm start (warm_start {mig['warm_start']}, {sa['kmeans']['iterations']} iterations)")
if b["prev_attrs"]["file"] != r1 or b["prev_attrs"]["verification_hash"] != a["hash"]:
    fail(f"previous file/hash recorded as {b['prev_attrs']}")


def join(lab_a, ids_a, lab_b, ids_b, ka, kb):
    """The migration matrix by a join in numpy: rows ka = new, columns kb = departed."""
    pa = {int(i): int(l) for i, l in zip(ids_a, lab_a) if l >= 0}
    pb = {int(i): int(l) for i, l in zip(ids_b, lab_b) if l >= 0}
    t = np.zeros((ka + 1, kb + 1), np.int64)
    for i in pa.keys() | pb.keys():
        t[pa.get(i, ka), pb.get(i, kb)] += 1
    return t


def check_migration(tag, res, summ, kn):
    m = summ["migration"]
    t = res["prev"]["migration"]
    want = join(lab1, ids1, res["labels"], ids2, K, kn)
    if not np.array_equal(t, want) or not np.array_equal(np.array(m["matrix"]), want):
        fail(f"{tag}: migration matrix differs from the numpy join")
    if not np.array_equal(t[:K].sum(axis=1), a["sizes"]):
        fail(f"{tag}: row sums {t[:K].sum(axis=1)} != previous sizes {a['sizes']}")
    if not np.array_equal(t[:, :kn].sum(axis=0), res["sizes"]):
        fail(f"{tag}: column sums {t[:, :kn].sum(axis=0)} != sizes {res['sizes']}")
    if t[K].sum() != n_new or t[:, kn].sum() != n_drop or t[K, kn] != 0:
        fail(f"{tag}: new {t[K].sum()} (want {n_new}), departed {t[:, kn].sum()} (want {n_drop})")
    if t.sum() != N2 + n_drop or t.sum() != N + n_new:
        fail(f"{tag}: matrix total {t.sum()}, customers {N2} + departed {n_drop}")
    if (m["customers_both"], m["customers_new"], m["customers_departed"]) != (N - n_drop, n_new, n_drop):
        fail(f"{tag}: counts {m['customers_both']}, {m['customers_new']}, {m['customers_departed']}")
    # ARI over the customers in both runs, as scikit-learn computes it.
    pos2 = {int(i): r for r, i in enumerate(ids2)}
    both = [(r, pos2[int(i)]) for r, i in enumerate(ids1) if int(i) in pos2]
    ra, rb = np.array(both).T
    ari = adjusted_rand_score(lab1[ra], res["labels"][rb])
    for got in (m["adjusted_rand_index"], res["prev_attrs"]["adjusted_rand_index"]):
        if abs(got - ari) > 1e-12:
            fail(f"{tag}: adjusted Rand index {got!r}, scikit-learn {ari!r}")
    # The summary holds the results file's values, to the bit (cJSON's own printing had
    # dropped the last digit of some: 0.83913801043311 for 0.8391380104331099).
    if m["adjusted_rand_index"] != res["prev_attrs"]["adjusted_rand_index"]:
        fail(f"{tag}: summary's adjusted Rand index {m['adjusted_rand_index']!r}, results file's "
             f"{res['prev_attrs']['adjusted_rand_index']!r}")
    for name in ("drift", "drift_standardized"):
        if list(m[name]) != [None if np.isnan(v) else float(v) for v in res["prev"][name]]:
            fail(f"{tag}: summary's {name} {m[name]} is not the results file's {res['prev'][name]}")
    # The matching: previous_id a partial permutation, ids in 0..K-1, drifts are distances.
    pid = res["prev"]["previous_id"]
    if res["labels"].min() < 0 or res["labels"].max() >= kn or len(pid) != kn:
        fail(f"{tag}: labels outside 0..{kn - 1}")
    matched = pid[pid >= 0]
    if len(set(matched.tolist())) != len(matched) or len(matched) != min(K, kn):
        fail(f"{tag}: previous_id {pid} is not a matching")
    if list(res["prev"]["appeared"]) != [q for q in range(kn) if pid[q] < 0]:
        fail(f"{tag}: appeared {res['prev']['appeared']} vs previous_id {pid}")
    if list(res["prev"]["vanished"]) != sorted(set(range(K)) - set(matched.tolist())):
        fail(f"{tag}: vanished {res['prev']['vanished']} vs previous_id {pid}")
    if not np.all(np.diff(matched) > 0) or (kn >= K and not np.array_equal(pid[:K], np.arange(K))):
        fail(f"{tag}: matched segments are not numbered in the previous ids' order: {pid}")
    for q in range(kn):
        if pid[q] < 0:
            continue
        d = np.linalg.norm(res["centroids"][q] - a["centroids"][pid[q]])
        if abs(d - res["prev"]["drift"][q]) > 1e-9 * (1 + d):
            fail(f"{tag}: drift of segment {q} is {res['prev']['drift'][q]}, distance {d}")
    if not np.array_equal(np.bincount(res["labels"], minlength=kn), res["sizes"]):
        fail(f"{tag}: sizes are not the label counts")
    check_cost_stayed(tag, res, m, lab1, ids1, ids2)
    return ari


def check_cost_stayed(tag, res, m, lab_p, ids_p, ids_n):
    """Guards the matching cost (the distance, not its square) and `customers_stayed` (in the
    matched previous segment, not the one of the same id): drift_standardized[q] is the distance
    between standardized centroid q and previous_id[q]'s centroid brought into this run's units
    (log1p, centre, spread, weight), match_cost their sum, and customers_stayed a join's count."""
    fs, pid = res["fs"], res["prev"]["previous_id"]
    cen = np.array(a["centroids"], np.float64)  # the previous run's, original units
    for j, name in enumerate(fs["features"]):
        x = np.log1p(cen[:, j]) if name.startswith("log1p:") else cen[:, j]
        cen[:, j] = (x - fs["center"][j]) / fs["spread"][j] * fs["weight"][j] if fs["weight"][j] > 0 else 0
    ds = res["prev"]["drift_standardized"]
    for q in np.flatnonzero(pid >= 0):
        d = float(np.linalg.norm(res["centroids_standardized"][q] - cen[pid[q]]))
        if abs(d - ds[q]) > 1e-9 * (1 + d):
            fail(f"{tag}: drift_standardized of segment {q} is {ds[q]}, distance {d}")
    total = float(np.sum(ds[pid >= 0]))
    if abs(res["prev_attrs"]["match_cost"] - total) > 1e-9 * (1 + total) or m["match_cost"] != res["prev_attrs"]["match_cost"]:
        fail(f"{tag}: match_cost {m['match_cost']} / {res['prev_attrs']['match_cost']}, sum of drifts {total}")
    prev_of = {int(i): int(l) for i, l in zip(ids_p, lab_p) if l >= 0}
    stayed = sum(1 for i, l in zip(ids_n.tolist(), res["labels"].tolist())
                 if l >= 0 and prev_of.get(i, -1) >= 0 and pid[l] == prev_of[i])
    if m["customers_stayed"] != stayed:
        fail(f"{tag}: customers_stayed {m['customers_stayed']}, {stayed} by the join (previous_id {list(pid)})")


pos2 = {int(i): r for r, i in enumerate(ids2)}
changed_ids = set(ids1[change].tolist())
unchanged = [(r, pos2[int(i)]) for r, i in enumerate(ids1)
             if int(i) in pos2 and int(i) not in changed_ids]
ru, rv = np.array(unchanged).T


def check_kept(tag, res, summ):
    ari = check_migration(tag, res, summ, K)
    kept = float(np.mean(lab1[ru] == res["labels"][rv]))
    m = summ["migration"]
    print(f"{tag}: {len(ru)} unchanged customers, {kept:.4%} kept their segment id; "
          f"ARI {ari:.6f}; stayed {m['customers_stayed']} of {m['customers_both']}")
    if kept < 0.99:
        fail(f"{tag}: only {kept:.4%} of unchanged customers kept their segment id (want >= 99%)")


check_kept("K = 6, warm start", b, sa)

# A cold start (--init given: k-means++ with another seed) finds the same segments in another
# order; the matching must bring the previous ids back.
sc = segment(3, 1, m2, path("month2_cold.h5"), "--previous", r1, "--init", "kmeans++", seed=5)
cold = results(path("month2_cold.h5"))
if sc["migration"]["warm_start"]:
    fail("--init given, but the summary says warm start")
check_kept("K = 6, cold start", cold, sc)
segment(3, 1, m2, path("month2_plain.h5"), "--init", "kmeans++", seed=5)
plain = results(path("month2_plain.h5"))
ren = sorted(set(zip(plain["labels"].tolist(), cold["labels"].tolist())))
if len(ren) != K or all(p == q for p, q in ren):
    fail(f"cold start: labels are not a non-trivial renaming of the plain run's: {ren}")
print(f"cold start: k-means order -> previous ids {ren}")

# The renumbering only renames the fit: an --init-centroids run from the same centroids gives
# the same partition, with the previous numbering.
init = segment(2, 1, m2, path("month2_init.h5"), "--init-centroids", r1 + ":/segments/centroids")
c = results(path("month2_init.h5"))
pairs = set(zip(c["labels"].tolist(), lab2.tolist()))
if len(pairs) != K or len({p for p, _ in pairs}) != K:
    fail(f"the --previous labels are not a renaming of the --init-centroids labels: {sorted(pairs)}")
if init["kmeans"]["inertia"] != sa["kmeans"]["inertia"]:
    fail(f"inertia {sa['kmeans']['inertia']} != {init['kmeans']['inertia']} of the same fit")

# ---- another K: a segment appears, or vanishes ------------------------------------------------
for kn in (7, 5):
    out = path(f"month2_k{kn}.h5")
    s = segment(3, 1, m2, out, "--previous", r1, "--k", kn)
    res = results(out)
    if s["migration"]["warm_start"]:
        fail(f"K = {kn}: warm start claimed with another K")
    check_migration(f"K = {kn}", res, s, kn)
    app, van = s["migration"]["appeared"], s["migration"]["vanished"]
    if (len(app), len(van)) != ((1, 0) if kn > K else (0, 1)):
        fail(f"K = {kn}: appeared {app}, vanished {van}")
    if s["config"]["k"] != {"value": str(kn), "source": "flag"}:
        fail(f"K = {kn} given: recorded as {s['config']['k']}")
    print(f"K = {kn}: previous_id {list(res['prev']['previous_id'])}, appeared {app}, "
          f"vanished {van}, ARI {s['migration']['adjusted_rand_index']:.4f}")

# ---- the same K, but one segment merges into another and a new group arrives --------------
# Month 3: the customers of one previous segment take the values of customers of another (a
# merge), and 10% new customers form a group far from every segment. The new group takes the
# merged segment's id on centroids alone; that is reported (a warning, `weak` in the summary)
# instead of passing as the same segment.
with h5py.File(r1, "r") as f:
    feats = [x.decode() if isinstance(x, bytes) else x for x in f["segments/centroids"].attrs["features"]]
numeric = [c for c in feats if "=" not in c]
merged = int(np.argmin(a["sizes"]))
into = (merged + 1) % K
src = np.flatnonzero(lab1 == merged)
donor3 = rng.choice(np.flatnonzero(lab1 == into), len(src))
n_cohort = N // 10
cohort_src = rng.choice(N, n_cohort, replace=False)
def month3_column(name, x):
    if name != "customer_id":
        x[src] = x[donor3]
    y = x[cohort_src].copy()
    if name == "customer_id":
        y = ids1.max() + 1 + np.arange(n_cohort, dtype=np.int64)
    elif name in numeric:
        y = y + 8 * np.std(x)
    return np.concatenate([x, y.astype(x.dtype)])


m3 = path("month3.h5")
write_month(m3, month3_column)
out3 = path("month3_results.h5")
p3 = su.custseg(1, "segment", "--input", m3, "--output", out3, "--summary", out3 + ".json",
                "--seed", 3, "--previous", r1)
s3 = json.load(open(out3 + ".json"))["migration"]
with h5py.File(m3, "r") as f:
    check_cost_stayed("month 3", results(out3), s3, lab1, ids1, f["customers/customer_id"][...])
warned = [l for l in p3.stderr.splitlines() if "keeps the id of previous segment" in l]
if s3["weak"] != [merged] or len(warned) != 1 or f"segment {merged} keeps the id of previous " \
        f"segment {merged} on its centroid, but holds 0 of that segment's" not in warned[0]:
    fail(f"month 3: weak {s3['weak']}, wanted [{merged}]; warnings {warned}")
with h5py.File(out3, "r") as f:  # the results file and the report carry it too
    if list(f["segments/previous/weak"][...]) != [merged]:
        fail(f"month 3: /segments/previous/weak {f['segments/previous/weak'][...]}, wanted [{merged}]")
html3 = path("month3.html")
su.custseg(1, "report", "--segment-results", out3, "--output", html3)
if not re.search(r"ids kept on the centroid alone[^<]*</dt><dd>(Segment )?" + str(merged) + r"\b",
                 open(html3, encoding="utf-8").read()):
    fail(f"month 3: the report does not name segment {merged} as kept on its centroid alone")
if s3["appeared"] or s3["vanished"]:
    fail(f"month 3: appeared {s3['appeared']}, vanished {s3['vanished']} with the same K")
if sa["migration"]["weak"]:
    fail(f"month 2: weak {sa['migration']['weak']}, wanted none")

# A previous file without its verification hash (an edited or foreign file) is used with a
# warning (it had been accepted silently, with an empty hash in the record).
nohash = path("nohash.h5")
subprocess.run(["cp", r1, nohash], check=True)
with h5py.File(nohash, "r+") as f:
    del f["segments"].attrs["verification_hash"]
p4 = su.custseg(1, "segment", "--input", m2, "--output", path("nohash_out.h5"), "--previous",
                nohash, "--max-iter", 2)
if "has no /segments@verification_hash" not in p4.stderr:
    fail("a previous file without a verification hash: no warning")

# A previous file whose ids are not integers: the error names --previous, as the others do
badids = path("float_ids.h5")
subprocess.run(["cp", r1, badids], check=True)
with h5py.File(badids, "r+") as f:
    c = f["segments/customer_id"][...]
    del f["segments/customer_id"]
    f["segments/customer_id"] = c.astype(np.float64)
p7 = su.custseg(1, "segment", "--input", m2, "--output", path("float_ids_out.h5"), "--previous",
                badids, "--max-iter", 2, check=False)
if p7.returncode != 2 or f"error: --previous {badids}:/segments/customer_id must be a 1-D integer" \
        not in p7.stderr or os.path.exists(path("float_ids_out.h5")):
    fail(f"previous ids stored as floats: exit {p7.returncode}, {p7.stderr[-300:]}")

# Two long feature lists (log1p names): each is cut in the message with its count, so that both
# show; a message cut in its middle had lost 'this run [' and read as one list.
numeric = ["discount_usage", "email_open_rate", "frequency", "household_size", "income",
           "monetary", "recency_days", "support_tickets", "tenure_months", "urban", "web_visits"]
rlog = path("log_prev.h5")
su.custseg(1, "segment", "--input", m1, "--output", rlog, "--max-iter", 2, "--quiet",
           "--log1p", ",".join(["age"] + numeric))
p8 = su.custseg(1, "segment", "--input", m2, "--output", path("log_out.h5"), "--previous", rlog,
                "--max-iter", 2, "--log1p", ",".join(numeric), check=False)
if p8.returncode != 1 or "this run has 'age', which it has not, and lacks 'log1p:age'; the " \
        "features follow" not in p8.stderr or "(it has [log1p:age," \
        not in p8.stderr or p8.stderr.count(" (17 in all)]") != 2 or ", this run [age," not in p8.stderr:
    fail(f"two long feature lists: exit {p8.returncode}, {p8.stderr[-800:]}")

# A previous run fitted with another --scale or other feature weights is compared with a
# warning naming the change (it had been silent while the adjusted Rand index fell).
p5 = su.custseg(1, "segment", "--input", m2, "--output", path("rescaled_out.h5"), "--previous",
                r1, "--max-iter", 2, "--scale", "robust")
if "was fitted with other feature settings (--scale zscore there, robust here)" not in p5.stderr:
    fail(f"a previous run with another --scale: no warning naming it: {p5.stderr[-300:]}")
if "in another order" in p4.stderr + p5.stderr:
    fail("a previous run with the features in this run's order was said to be reordered")
if "other feature settings" in p4.stderr:
    fail("a previous run with the same settings was warned of")

# Results of another customer base (no customer_id in common): a warning that nothing can be
# followed (it had logged "0.00% of 0 customers" as if all were well).
other = path("other_ids.h5")
subprocess.run(["cp", r1, other], check=True)
with h5py.File(other, "r+") as f:
    c = f["segments/customer_id"]
    c[...] = c[...] + 10**9
    del f["segments"].attrs["verification_hash"]  # it no longer holds for the new ids
p6 = su.custseg(1, "segment", "--input", m2, "--output", path("other_out.h5"), "--previous",
                other, "--max-iter", 2)
if "shares no customer_id with this store" not in p6.stderr:
    fail(f"a previous file of other customers: no warning: {p6.stderr[-300:]}")
if "shares no customer_id" in p4.stderr:
    fail("a previous file of the same customers was warned of as sharing none")

# A previous file of 0 customers (both per-customer datasets empty, no hash): the same warning
# at 3 ranks, exit 0 (it had been exit 3, "read of /segments/customer_id failed").
empty = path("empty_prev.h5")
subprocess.run(["cp", r1, empty], check=True)
with h5py.File(empty, "r+") as f:
    for name in ("customer_id", "labels"):
        dt = f["segments"][name].dtype
        del f["segments"][name]
        f["segments"].create_dataset(name, shape=(0,), dtype=dt)
    del f["segments"].attrs["verification_hash"]
p11 = su.custseg(3, "segment", "--input", m2, "--output", path("empty_out.h5"), "--previous",
                 empty, "--max-iter", 2, check=False)
if p11.returncode != 0 or "shares no customer_id with this store (0 customers" not in p11.stderr:
    fail(f"a previous file of 0 customers: exit {p11.returncode}, {p11.stderr[-300:]}")

# A verification hash that is not text (an integer written by hand or by another tool) is a
# damaged file, exit 2 (it had been read as no hash: a warning, and the run went on).
inthash = path("int_hash_prev.h5")
subprocess.run(["cp", r1, inthash], check=True)
with h5py.File(inthash, "r+") as f:
    del f["segments"].attrs["verification_hash"]
    f["segments"].attrs["verification_hash"] = np.int64(5)
p10 = su.custseg(1, "segment", "--input", m2, "--output", path("int_hash_out.h5"), "--previous",
                 inthash, "--max-iter", 2, check=False)
if p10.returncode != 2 or "attribute /segments@verification_hash is not text" not in p10.stderr:
    fail(f"a verification hash that is an integer: exit {p10.returncode}, {p10.stderr[-300:]}")

# The same customers, but none of them with a segment in the previous run (label -1 there, as
# --missing drop gives): they share their ids, so the warning says that none has a segment in
# both runs and counts them (it had said the file shares no customer_id, and left them out).
unseg = path("unsegmented_prev.h5")
subprocess.run(["cp", r1, unseg], check=True)
with h5py.File(m2, "r") as f:
    ids2 = f["customers/customer_id"][...]
with h5py.File(unseg, "r+") as f:
    lab = f["segments/labels"][...]
    lab[np.isin(f["segments/customer_id"][...], ids2)] = -1
    n_unseg = int(np.isin(ids2, f["segments/customer_id"][...]).sum())
    f["segments/labels"][...] = lab
    del f["segments"].attrs["verification_hash"]
p9 = su.custseg(1, "segment", "--input", m2, "--output", path("unseg_out.h5"), "--previous",
                unseg, "--max-iter", 2)
if "shares no customer_id" in p9.stderr or "no customer has a segment in both runs" not in \
        p9.stderr or f"({n_unseg} of them without a segment in the previous run)" not in p9.stderr:
    fail(f"a previous run where every shared customer has no segment: exit {p9.returncode}, "
         f"{p9.stderr[-500:]}")

# Next month's store with a column in other units (spend in cents instead of dollars): the
# ids and the migration survive the z-scores, but every centroid moves; warned of, naming
# the column (it had passed without a word).
cents = path("cents.h5")
subprocess.run(["cp", m2, cents], check=True)
with h5py.File(cents, "r+") as f:
    c = f["customers/monetary"]
    c[...] = c[...] * 100
p7 = su.custseg(1, "segment", "--input", cents, "--output", path("cents_out.h5"), "--previous",
                r1, "--max-iter", 2)
if "features have moved since that run: 'monetary' mean" not in p7.stderr:
    fail(f"a column in other units: no warning naming it: {p7.stderr[-300:]}")
if "features have moved" in p4.stderr + p5.stderr:
    fail("next month's store (the same units) was warned of as moved")

# --n-init with a warm start: one start, so the restarts asked for are not made; warned of
# (it had been ignored silently). Not with --init kmeans++, which restarts afresh.
p8 = su.custseg(1, "segment", "--input", m2, "--output", path("ninit_out.h5"), "--previous",
                r1, "--max-iter", 2, "--n-init", 3)
if "--n-init 3 is ignored: the fit has one start, the previous run's centroids" not in p8.stderr:
    fail(f"--n-init 3 with a warm start: no warning: {p8.stderr[-300:]}")
p9 = su.custseg(1, "segment", "--input", m2, "--output", path("ninit_pp_out.h5"), "--previous",
                r1, "--max-iter", 2, "--n-init", 3, "--init", "kmeans++")
if "--n-init" in p9.stderr + p4.stderr:
    fail(f"--n-init warned of where it is used or not given: {(p9.stderr + p4.stderr)[-300:]}")

# Next month's store written with the levels of a categorical column in another order (the
# same customers and values, other codes): the previous centroids are matched by feature name
# (it had been refused as "other features"), so the re-run finds what month 2 as written did.
reordered = path("month2_levels.h5")
subprocess.run(["cp", m2, reordered], check=True)
with h5py.File(reordered, "r+") as f:
    reg = f["customers/region"]
    levels = [v.decode() if isinstance(v, bytes) else str(v) for v in reg.attrs["categories"]]
    codes = reg[...]
    reg[...] = np.where(codes >= 0, len(levels) - 1 - codes, codes).astype(codes.dtype)
    reg.attrs["categories"] = np.array(levels[::-1], dtype=h5py.string_dtype())
pr = su.custseg(1, "segment", "--input", reordered, "--output", path("levels_out.h5"),
                "--summary", path("levels_out.json"), "--previous", r1, "--seed", 3,
                check=False)
if pr.returncode != 0:
    fail(f"a store with its region levels in another order was refused: {pr.stderr[-300:]}")
elif "its features are this run's in another order, matched by name" not in pr.stderr:
    fail(f"region levels reordered: no info line: {pr.stderr[-300:]}")
else:
    base = su.custseg(1, "segment", "--input", m2, "--output", path("levels_base.h5"),
                      "--previous", r1, "--seed", 3, "--quiet")
    lb, lr = results(path("levels_base.h5")), results(path("levels_out.h5"))
    same = float(np.mean(lb["labels"] == lr["labels"]))
    if same < 0.999:
        fail(f"region levels reordered: {same:.4%} of labels as month 2's (sizes "
             f"{list(lr['sizes'])} against {list(lb['sizes'])})")

# ... also when a level's name holds a comma: the file names its features in one comma-joined
# list, which had been split inside the name, so the reordered store was refused.
def comma_levels(src, dst, reverse):
    subprocess.run(["cp", src, dst], check=True)
    with h5py.File(dst, "r+") as f:
        reg = f["customers/region"]
        lv = [v.decode() if isinstance(v, bytes) else str(v) for v in reg.attrs["categories"]]
        lv[0] += ", upper"
        if reverse:
            codes = reg[...]
            reg[...] = np.where(codes >= 0, len(lv) - 1 - codes, codes).astype(codes.dtype)
            lv = lv[::-1]
        reg.attrs["categories"] = np.array(lv, dtype=h5py.string_dtype())
    return dst


r1c = path("month1_comma_results.h5")
su.custseg(1, "segment", "--input", comma_levels(m1, path("month1_comma.h5"), False),
           "--output", r1c, "--k", K, "--seed", 3, "--quiet")
pc = su.custseg(1, "segment", "--input", comma_levels(m2, path("month2_comma.h5"), True),
                "--output", path("comma_out.h5"), "--previous", r1c, "--seed", 3, check=False)
if pc.returncode != 0 or "its features are this run's in another order, matched by name" not in pc.stderr:
    fail(f"a level name with a comma, levels reordered: exit {pc.returncode}: {pc.stderr[-300:]}")

# Next month's store without one level of region (its customers gone, and the level with them:
# a store imported from CSV knows the levels it saw). The level's feature is left out of the
# comparison, with a warning; the other way round, a level that had no customer last month
# counts as a share of 0 there. Both had been refused as "other features" with advice that
# could not be followed. The customers left keep their ids as with month 2 itself.
def without_last_region(src, dst):
    with h5py.File(src, "r") as f:
        g = f["customers"]
        reg = g["region"][...]
        lv = [v.decode() if isinstance(v, bytes) else str(v) for v in g["region"].attrs["categories"]]
        keep_rows = reg != len(lv) - 1
        with h5py.File(dst, "w") as o:
            h = o.create_group("customers")
            h.attrs["schema_version"] = 1
            for name in g:
                h[name] = g[name][...][keep_rows]
                for k, v in g[name].attrs.items():
                    h[name].attrs[k] = v
            h["region"].attrs["categories"] = np.array(lv[:-1], dtype=h5py.string_dtype())
    return lv[-1]


gone_level = without_last_region(m2, path("month2_gone.h5"))
# (tag, store, previous results, the warning, the run whose labels the customers keep)
for tag, store, prev, want, like in (
        ("a level gone", path("month2_gone.h5"), r1,
         f"that run's 'region={gone_level}' has no customer in this store (left out", r2a),
        ("a level new", m2, path("gone_out.h5"),
         f"this store's 'region={gone_level}' had no customer in that run (a share of 0",
         path("gone_out.h5"))):
    out = path("gone_out.h5") if tag == "a level gone" else path("new_out.h5")
    pg = su.custseg(2, "segment", "--input", store, "--output", out, "--previous", prev,
                    "--seed", 3, check=False)
    if pg.returncode != 0 or want not in pg.stderr:
        fail(f"{tag}: exit {pg.returncode}: {pg.stderr[-400:]}")
        continue
    rg, ref = results(out), results(like)
    ids_both = np.intersect1d(rg["customer_id"], ref["customer_id"])
    mine = dict(zip(rg["customer_id"].tolist(), rg["labels"].tolist()))
    theirs = dict(zip(ref["customer_id"].tolist(), ref["labels"].tolist()))
    kept = np.mean([mine[i] == theirs[i] for i in ids_both.tolist()])
    print(f"{tag}: {kept:.2%} of {len(ids_both)} customers have the segment id of {like}")
    if kept < 0.99:
        fail(f"{tag}: {kept:.2%} of the customers have the segment id of {like}")
    # ... and the drift to the previous centroids counts a new level's share there as 0 (the
    # warning says so; a share of 1 would pass the id check above).
    pr_, fn = results(prev), list(rg["fs"]["features"])
    pn = list(pr_["fs"]["features"])
    for q, pq in enumerate(rg["prev"]["previous_id"]):
        if pq >= 0:
            was = np.array([pr_["centroids"][pq][pn.index(n)] if n in pn else 0.0 for n in fn])
            d = float(np.linalg.norm(rg["centroids"][q] - was))
            if abs(d - rg["prev"]["drift"][q]) > 1e-9 * (1 + d):
                fail(f"{tag}: drift of segment {q} is {rg['prev']['drift'][q]}, distance {d}")

# ... but a column whose levels all changed name (a recoding, the same customers) shares no
# level with month 1: refused as other features, not read as every level new (it had been
# accepted, every drift inflated).
renamed = path("month2_renamed.h5")
subprocess.run(["cp", m2, renamed], check=True)
with h5py.File(renamed, "r+") as f:
    n_lv = len(f["customers/region"].attrs["categories"])
    f["customers/region"].attrs["categories"] = np.array([f"r{i}" for i in range(n_lv)],
                                                         dtype=h5py.string_dtype())
pr = su.custseg(2, "segment", "--input", renamed, "--output", path("renamed_out.h5"),
                "--previous", r1, "--seed", 3, check=False)
if pr.returncode != 1 or "is for other features than this run" not in pr.stderr:
    fail(f"region's levels all renamed: exit {pr.returncode}: {pr.stderr[-300:]}")

# A churn model trained with month 1's segments scores the store without the level, with its
# segments numbered by --previous against month 1's: they differ from the model's segments in
# that level's feature only (it had been refused for other features).
su.custseg(1, "churn", "train", "--input", m1, "--output", path("churn_seg.h5"),
           "--segment-results", r1, "--churn-with-segment", "--quiet")
ps = su.custseg(2, "churn", "score", "--model", path("churn_seg.h5"), "--input",
                path("month2_gone.h5"), "--segment-results", path("gone_out.h5"), "--output",
                path("gone_scores.h5"), "--quiet", check=False)
if ps.returncode != 0:
    fail(f"churn score with the segments of a store without a level: exit {ps.returncode}: "
         f"{ps.stderr[-400:]}")

# Customers still in the store but without a segment (--missing drop) are departed from the
# segments, not from the store: counted apart (they had been reported as customers who left),
# and the other way round when such a file is the previous one.
mnan = path("month2_nan.h5")
subprocess.run(["cp", m2, mnan], check=True)
with h5py.File(mnan, "r+") as f:
    inc = f["customers/income"]
    x = inc[...]
    x[:300] = np.nan  # rows 0..299 of month 2: customers of month 1 and new ones (shuffled)
    inc[...] = x
in1 = np.isin(ids2[:300], ids1[lab1 >= 0])
for ranks, threads in ((1, 1), (3, 1)):
    sd = segment(ranks, threads, mnan, path(f"drop_np{ranks}.h5"), "--previous", r1, "--missing", "drop")
    md = sd["migration"]
    if md["customers_departed_unassigned"] != int(in1.sum()) or \
            md["customers_departed"] != n_drop + int(in1.sum()) or md["customers_new_unassigned"] != 0:
        fail(f"--missing drop at {ranks} ranks: departed {md['customers_departed']} "
             f"({md['customers_departed_unassigned']} unassigned), want {n_drop + int(in1.sum())} "
             f"({int(in1.sum())})")
with h5py.File(path("drop_np1.h5"), "r") as f:
    if f["segments/previous"].attrs["customers_departed_unassigned"] != int(in1.sum()):
        fail("customers_departed_unassigned is not in /segments/previous")
sn = segment(1, 1, m2, path("after_drop.h5"), "--previous", path("drop_np1.h5"))
if sn["migration"]["customers_new_unassigned"] != 300 or sn["migration"]["customers_departed_unassigned"]:
    fail(f"after a --missing drop run: new unassigned {sn['migration']['customers_new_unassigned']}, want 300")

# A feature given weight 0 in this run has no centroid value in original units (NaN): the
# drift from month 1's centroids leaves it out, as the fit does, and stays a number.
su.custseg(1, "segment", "--input", m2, "--output", path("w0_out.h5"), "--previous", r1,
           "--feature-weights", "urban:0", "--seed", 3, "--quiet")
rw = results(path("w0_out.h5"))
keep = rw["fs"]["weight"] > 0
for q, pq in enumerate(rw["prev"]["previous_id"]):
    if pq < 0:
        continue
    d = float(np.linalg.norm((rw["centroids"][q] - a["centroids"][pq])[keep]))
    if not abs(d - rw["prev"]["drift"][q]) <= 1e-9 * (1 + d):
        fail(f"a feature of weight 0: drift of segment {q} is {rw['prev']['drift'][q]}, distance {d}")

left = [n for n in os.listdir(work) if ".tmp-" in n]
if left:
    fail(f"temporary files left: {left}")
if failures:
    sys.exit(f"{len(failures)} failure(s)")
print("ok: re-segmentation keeps ids, joins and counts as numpy and scikit-learn do")
