#!/usr/bin/python3
"""Segment personas (`custseg segment`, /segments/personas, --personas-csv) against a numpy
oracle.

A generated store of 40000 customers with purchase histories and 2% missing income and email
open rates is segmented on every candidate column plus rfm_frequency and rfm_monetary (income
and monetary through log1p, so the raw units are not the features' units):

1. at 1 rank x 1 thread and at 3 ranks x 2 threads: /segments/personas identical (h5diff),
   the CSV files identical byte for byte, the summaries' `personas` equal;
2. every persona value recomputed here from the store's raw columns and /segments/labels
   (docs/segments.md, Personas): per segment and column the count, the mean (relative 1e-12),
   the median (bit for bit equal to numpy's median), the population mean and standard
   deviation (ddof 0; sqrt(p (1 - p)) for a categorical level's share) and the standardized
   difference (1e-9); NaN values left out; categorical columns as one `col=level` column per
   level with median NaN. rfm_* columns are recomputed from /transactions by clv_oracle.py
   (whole days, same-day purchases merged, up to the last purchase day); their values may
   differ from custseg's in the last bit, so their medians are compared to 1e-12;
3. the top three columns and the label follow the rule (largest |zdiff|, ties to the lower
   column, "high"/"low"/"typical", "more" for a categorical level above its share (one below
   is no word), or the vocabulary, joined by " · ") on custseg's zdiff, and
   the oracle's zdiff picks the same columns unless two are within 1e-9;
4. the CSV holds the same numbers as /segments/personas to the last bit, the sizes and the
   labels; the summary's `personas` the labels and top columns;
5. --missing drop (some customers without a segment, left out of the population too) at 2
   ranks, and --previous with a cold start (the segments renumbered after the first run): the
   personas follow the final labels;
6. category levels too long for a feature name (two sharing their first 120 bytes, one of
   two-byte UTF-8 characters): the names stay distinct, valid UTF-8 and within 127 bytes, end
   in "...#<code>", and pandas reads the personas CSV back; a level no customer has gets a
   population sd of 0 and a zdiff of 0.

usage: check_personas.py   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import csv
import json
import os
import subprocess
import sys

import h5py
import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clv_oracle  # noqa: E402
import segment_util as su  # noqa: E402

N, K = 40000, 5
FEATURES = ("age,discount_usage,email_open_rate,frequency,household_size,income,monetary,"
            "recency_days,region,support_tickets,tenure_months,urban,web_visits,"
            "rfm_frequency,rfm_monetary")
MID = " \u00b7 "
VOCABULARY = {"recency_days": ("lapsed", "recent"), "frequency": ("frequent", "infrequent"),
              "rfm_frequency": ("frequent", "infrequent"),
              "rfm_recency": ("long buying span", "short buying span"),
              "rfm_age": ("long-standing", "new"),
              "rfm_monetary": ("big spender", "small spender"),
              "support_tickets": ("high support", "low support"),
              "tenure_months": ("long tenure", "short tenure")}
work = su.workdir("personas")
path = lambda name: os.path.join(work, name)  # noqa: E731
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def segment(ranks, threads, out, *extra, seed=5):
    su.custseg(ranks, "segment", "--input", store, "--output", out, "--summary", out + ".json",
               "--personas-csv", out + ".csv", "--features", FEATURES, "--log1p",
               "income,monetary", "--k", K, "--seed", seed, "--threads", threads, "--quiet",
               *extra)
    with open(out + ".json") as f:
        return json.load(f)


def personas(name):
    with h5py.File(name, "r") as f:
        g = f["segments/personas"]
        out = {k: g[k][...] for k in g}
        out["columns"] = su.strings(g.attrs["columns"])
        out["labels"] = su.strings(g.attrs["labels"])
        out["labels_file"] = f["segments/labels"][...].astype(np.int64)
        out["sizes"] = f["segments/sizes"][...]
    return out


def raw_columns(columns):
    """Each persona column as float64 over the store's rows, NaN where missing."""
    cols = {}
    with h5py.File(store, "r") as f:
        c = f["customers"]
        rfm = None
        for name in columns:
            if name.startswith("rfm_"):
                if rfm is None:
                    _, off, tm, am = clv_oracle.read_store(store)
                    last = int(np.floor(tm.max()))
                    rfm = clv_oracle.rfm_summary(off, tm, am, last, unit=1.0, merge=True)
                x = {"rfm_frequency": rfm["x"], "rfm_monetary": rfm["zbar"]}[name]
            elif name in c:
                x = c[name][...].astype(np.float64)
            else:  # col=level
                col, level = name.split("=", 1)
                codes = c[col][...].astype(np.float64)
                levels = su.strings(c[col].attrs["categories"])
                valid = (codes >= 0) & (codes < len(levels)) & (codes == np.floor(codes))
                x = np.where(valid, (codes == levels.index(level)).astype(np.float64), np.nan)
            cols[name] = np.where(np.isfinite(x), x, np.nan)
    return cols


def echoes(zk, levels=()):
    """Columns that repeat an earlier, kept one in every segment (zdiff equal, or, neither being
    a level, equal with the sign turned, to 1e-9 of the larger; not 0 everywhere); none at one
    segment."""
    k, p = zk.shape
    out = set()
    if k < 2:
        return out
    for j in range(p):
        for e in range(j):
            if e in out:
                continue
            for s in ((1,) if j in levels or e in levels else (-1, 1)):
                a, b = zk[:, j], s * zk[:, e]
                if np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.any(a != 0) and \
                        np.all(np.abs(a - b) <= 1e-9 * np.maximum(np.abs(a), np.abs(b))):
                    out.add(j)
            if j in out:
                break
    return out


def rule(names, z, skip=(), levels=()):
    """The top three and the label of one segment (docs/segments.md, Personas); levels: the
    indices of categorical levels ("more NAME" above the population share, no word below)."""
    order = sorted((j for j in range(len(z)) if np.isfinite(z[j]) and j not in skip and
                    not (j in levels and z[j] < 0)),  # a level below its share is no word
                   key=lambda j: (-abs(z[j]), j))
    top = order[:3]
    words = []
    for j in top:
        v = VOCABULARY.get(names[j])
        if j in levels:
            words.append(("more " if z[j] > 0 else "typical ") + names[j])
        elif z[j] != 0 and v:
            words.append(v[0] if z[j] > 0 else v[1])
        else:
            words.append(("high " if z[j] > 0 else "low " if z[j] < 0 else "typical ") + names[j])
    words = [w for i, w in enumerate(words) if w not in words[:i]]  # no word twice
    return top + [-1] * (3 - len(top)), MID.join(words) if words else "no distinguishing column"


def close(a, b, rel, what):
    if np.isnan(a) and np.isnan(b):
        return
    if not abs(a - b) <= rel * max(abs(a), abs(b), 1e-300):
        fail(f"{what}: custseg {a!r}, numpy {b!r}")


def check(name, what):
    """Every value of one results file against the oracle on its own labels."""
    p = personas(name)
    cols, lab = p["columns"], p["labels_file"]
    raw = raw_columns(cols)
    k, ncol = p["mean"].shape
    if ncol != len(cols) or p["top"].shape != (k, 3) or len(p["labels"]) != k:
        fail(f"{what}: shapes mean {p['mean'].shape}, top {p['top'].shape}, "
             f"{len(cols)} columns, {len(p['labels'])} labels")
        return p
    zo = np.zeros((k, ncol))
    levels = {j for j, c in enumerate(cols) if "=" in c and c not in raw_store_names}
    for j, c in enumerate(cols):
        x, cat = raw[c], "=" in c and c not in raw_store_names
        rel_med = 1e-12 if c.startswith("rfm_") else 0.0
        pop = x[(lab >= 0) & np.isfinite(x)]
        pm = np.mean(pop)
        sd = np.sqrt(pm * (1 - pm)) if cat else np.std(pop)
        close(p["population_mean"][j], pm, 1e-12, f"{what}: population mean of {c}")
        close(p["population_sd"][j], sd, 1e-12, f"{what}: population sd of {c}")
        for q in range(k):
            v = x[(lab == q) & np.isfinite(x)]
            if p["count"][q, j] != len(v):
                fail(f"{what}: segment {q} {c}: count {p['count'][q, j]}, numpy {len(v)}")
                continue
            m = np.mean(v) if len(v) else np.nan
            close(p["mean"][q, j], m, 1e-12, f"{what}: segment {q} mean of {c}")
            med = np.nan if cat or not len(v) else np.median(v)
            got = p["median"][q, j]
            if rel_med:
                close(got, med, rel_med, f"{what}: segment {q} median of {c}")
            elif not (got == med or (np.isnan(got) and np.isnan(med))):
                fail(f"{what}: segment {q} median of {c}: custseg {got!r}, numpy {med!r}")
            zo[q, j] = (m - pm) / sd if sd > 0 else 0.0
            close(p["zdiff"][q, j], zo[q, j], 1e-9, f"{what}: segment {q} zdiff of {c}")
    echo = echoes(p["zdiff"], levels)
    for q in range(k):
        top, label = rule(cols, p["zdiff"][q], echo, levels)
        if list(p["top"][q]) != top:
            fail(f"{what}: segment {q}: top {list(p['top'][q])}, rule {top}")
        if p["labels"][q] != label:
            fail(f"{what}: segment {q}: label {p['labels'][q]!r}, rule {label!r}")
        otop, _ = rule(cols, zo[q], echoes(zo, levels), levels)
        a = sorted(np.abs(zo[q][np.isfinite(zo[q])]), reverse=True)
        near = any(abs(a[i] - a[i + 1]) < 1e-9 for i in range(min(3, len(a) - 1)))
        if otop != top and not near:
            fail(f"{what}: segment {q}: top {top}, oracle's zdiff gives {otop}")
    # The CSV: the same numbers to the last bit, the sizes and labels.
    with open(name + ".csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = ["segment", "customers", "label"] + [f"{s}_{c}" for c in cols
                                                  for s in ("mean", "median")]
    if rows[0] != header:
        fail(f"{what}: CSV header {rows[0][:6]}... != {header[:6]}...")
    if len(rows) != k + 1:
        fail(f"{what}: CSV has {len(rows) - 1} segment rows, want {k}")
    for q, row in enumerate(rows[1:k + 1]):
        if row[:3] != [str(q), str(int(p["sizes"][q])), p["labels"][q]]:
            fail(f"{what}: CSV row {q} starts {row[:3]}")
        vals = np.array([float(v) for v in row[3:]]).reshape(ncol, 2)
        for s, ds in enumerate(("mean", "median")):
            a, b = vals[:, s], p[ds][q]
            if not np.array_equal(a, b, equal_nan=True):
                fail(f"{what}: CSV row {q} {ds}s differ from /segments/personas/{ds}")
    return p


# ---- the store ---------------------------------------------------------------------------------
store = path("store.h5")
su.custseg(2, "generate", "--customers", N, "--segments", 6, "--seed", 31, "--transactions",
           "--missing-rate", "0.02", "--quiet", "--output", store)
with h5py.File(store, "r") as f:
    raw_store_names = set(f["customers"].keys())

# 1. The same personas on 1 x 1 and 3 x 2 ranks x threads.
s1 = segment(1, 1, path("r1.h5"))
s3 = segment(3, 2, path("r3.h5"))
if subprocess.run(["h5diff", path("r1.h5"), path("r3.h5"), "/segments/personas"]).returncode:
    fail("/segments/personas differs between 1 x 1 and 3 x 2 ranks x threads")
with open(path("r1.h5.csv"), "rb") as a, open(path("r3.h5.csv"), "rb") as b:
    if a.read() != b.read():
        fail("the personas CSV differs between 1 x 1 and 3 x 2 ranks x threads")
if s1["personas"] != s3["personas"]:
    fail("the summaries' personas differ between 1 x 1 and 3 x 2 ranks x threads")

# 2-4. Every value against numpy, the rule, the CSV and the summary.
p = check(path("r1.h5"), "1 rank")
for q, e in enumerate(s1["personas"]):
    tops = [p["columns"][j] for j in p["top"][q] if j >= 0]
    if e["segment"] != q or e["label"] != p["labels"][q] or [t["column"] for t in e["top"]] != tops:
        fail(f"summary persona {q}: {e}")
if not any(np.isnan(p["median"]).ravel()) or not (p["count"] < p["sizes"][:, None]).any():
    fail("expected categorical medians (NaN) and columns with missing values left out")
for q in range(K):
    print(f"segment {q} ({int(p['sizes'][q])} customers): {p['labels'][q]}")

# 5. --missing drop: customers without a segment are in no statistic.
segment(2, 1, path("drop.h5"), "--missing", "drop")
d = check(path("drop.h5"), "--missing drop")
if not (d["labels_file"] < 0).any():
    fail("--missing drop left every customer a segment")

# 5. --previous with a cold start: renumbered segments, personas of the final ids.
s_prev = segment(2, 1, path("prev.h5"), "--previous", path("r1.h5"), "--init", "kmeans++",
                 seed=9)
pp = check(path("prev.h5"), "--previous")
# The same fit without --previous keeps the fit's own order: the renumbering must be a
# permutation that moves something (else this check proves nothing), and the personas move
# with it, bit for bit.
segment(2, 1, path("cold.h5"), "--init", "kmeans++", seed=9)
cold = personas(path("cold.h5"))
lp, lc = pp["labels_file"], cold["labels_file"]
perm = [int(np.bincount(lp[lc == q]).argmax()) for q in range(K)]  # cold id -> final id
print(f"--previous: the fit's segments 0..{K - 1} became {perm}")
if sorted(perm) != list(range(K)) or not np.array_equal(np.array(perm)[lc], lp):
    fail(f"--previous did not renumber by a permutation: {perm}")
elif perm == list(range(K)):
    fail("--previous kept the fit's order; choose another seed so the renumbering is tested")
else:
    for ds in ("mean", "median", "zdiff", "count", "top"):
        if not np.array_equal(cold[ds], pp[ds][perm], equal_nan=True):
            fail(f"--previous: /segments/personas/{ds} is not the fit's, renumbered")
    if [pp["labels"][perm[q]] for q in range(K)] != cold["labels"]:
        fail("--previous: the labels are not the fit's, renumbered")

# 5b. The six purchase features (guards rfm_recency/rfm_age kept apart and rfm_ipt_sd's
# variance): /segments/feature_stats' mean, std, min and max of each, --scale none, against
# numpy on the clv_oracle RFM summary and the gaps between purchase days (same-day merged).
RFM6 = ["rfm_frequency", "rfm_recency", "rfm_age", "rfm_monetary", "rfm_ipt_mean", "rfm_ipt_sd"]
su.custseg(2, "segment", "--input", store, "--output", path("rfm6.h5"), "--features", ",".join(RFM6),
           "--scale", "none", "--k", 2, "--quiet")
_, off, tm, am = clv_oracle.read_store(store)
last = int(np.floor(tm.max()))
rfm = clv_oracle.rfm_summary(off, tm, am, last, unit=1.0, merge=True)
row = np.repeat(np.arange(len(off) - 1), np.diff(off))
day = np.unique(np.stack([row, np.floor(tm).astype(np.int64)], 1), axis=0)  # sorted, merged
same = day[1:, 0] == day[:-1, 0]
gap, grow = (day[1:, 1] - day[:-1, 1])[same].astype(np.float64), day[1:, 0][same]
ng = np.bincount(grow, minlength=len(off) - 1)
with np.errstate(invalid="ignore", divide="ignore"):
    ipt_mean = np.bincount(grow, gap, len(off) - 1) / ng
    ipt_sd = np.sqrt(np.bincount(grow, (gap - ipt_mean[grow]) ** 2, len(off) - 1) / ng)
want = dict(zip(RFM6, (rfm["x"], rfm["t_x"], rfm["T"], rfm["zbar"], ipt_mean, ipt_sd)))
st = su.feature_stats(path("rfm6.h5"))
if st["columns"] != RFM6:
    fail(f"rfm features: columns {st['columns']}, wanted {RFM6}")
for j, name in enumerate(st["columns"]):
    x = want[name][np.isfinite(want[name])]
    row_ = dict(zip(su.TABLE, st["table"][j]))
    for stat, v in (("mean", np.mean(x)), ("std", np.std(x)), ("min", x.min()), ("max", x.max())):
        if not abs(row_[stat] - v) <= 1e-9 * (1 + abs(v)):
            fail(f"rfm features: {name} {stat} {row_[stat]!r}, numpy {v!r}")

# 6. Long category levels: distinct, valid UTF-8 names (they had been cut at 127 bytes, so two
# levels shared one name and a cut in a two-byte character broke the CSV).
long_store = path("long.h5")
rng = np.random.default_rng(2)
a = rng.normal(0, 1, 2000)
with h5py.File(long_store, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = 1
    g["customer_id"] = np.arange(a.size, dtype=np.int64)
    g["a"] = a
    for col, levels, cut in (("plan", ["Premium " + "x" * 120 + " yearly",
                                       "Premium " + "x" * 120 + " monthly"], 0.0),
                             ("tier", ["x" + "\u00e9" * 70, "basic", "gold"], 0.5)):
        g[col] = (a > cut).astype(np.int8)
        g[col].attrs["categories"] = np.array(levels, dtype=h5py.string_dtype())
su.custseg(1, "segment", "--input", long_store, "--output", path("long_s.h5"), "--k", 2,
           "--personas-csv", path("long_s.csv"), "--quiet")
with h5py.File(path("long_s.h5")) as f:
    names = [n.decode() if isinstance(n, bytes) else n
             for n in f["segments/personas"].attrs["columns"]]
    feats = [n.decode() if isinstance(n, bytes) else n
             for n in f["segments/centroids"].attrs["features"]]
want = ["a", None, None, None, "tier=basic", "tier=gold"]
if len(set(names)) != len(names) or names != feats:
    fail(f"long level names: not distinct or not the features' names: {names} / {feats}")
for n, w in zip(names, want):
    if w is not None and n != w:
        fail(f"long level names: {n!r} where {w!r} was expected")
    elif w is None and (len(n.encode()) > 127 or not n.endswith(("\u2026#0", "\u2026#1"))
                        or "\udcc3" in n):
        fail(f"long level names: {n!r} is not shortened to <= 127 bytes ending in ...#code")
# A level no customer has (tier=gold): its share's standard deviation is 0, and its zdiff 0
# (typical), as the oracle of check() has it, not NaN.
with h5py.File(path("long_s.h5")) as f:
    zg = f["segments/personas/zdiff"][:, names.index("tier=gold")] if "tier=gold" in names else None
    sg = f["segments/personas/population_sd"][names.index("tier=gold")] if zg is not None else None
if zg is None or sg != 0 or not (zg == 0).all():
    fail(f"a level without customers: population sd {sg!r} and zdiff {zg!r}, not 0 and 0")
try:
    import pandas as pd
    cols = list(pd.read_csv(path("long_s.csv")).columns)
    if len(set(cols)) != len(cols):
        fail(f"long level names: the personas CSV repeats a column: {cols}")
except ImportError:
    pass
except Exception as e:  # noqa: BLE001 - any read failure is the finding
    fail(f"long level names: pandas cannot read the personas CSV: {e}")

if failures:
    print(f"FAIL: {len(failures)} problems")
    sys.exit(1)
print("ok: personas identical at 1 x 1 and 3 x 2, equal to the numpy oracle, CSV and summary "
      "consistent, --missing drop and --previous follow the final labels, long level names "
      "distinct")
