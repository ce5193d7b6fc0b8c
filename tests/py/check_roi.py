#!/usr/bin/python3
"""`custseg roi`: the ROI table on the full pipeline (the ROI issue's first two checks).

1. A generated store with purchase histories and 1% missing values (200,000 customers),
   `segment --missing drop` (so some customers have no segment), `churn train`, `clv`, then
   `roi` at 1, 2, 3 and 4 ranks (4 ranks with 2 threads): /roi identical (h5diff), and the
   CSV files identical byte for byte.
2. The total row equals the store's column sums: revenue, marketing and acquisition cost as
   math.fsum gives them (to the last bit), conversions as a count; CLV and revenue at risk too.
   Segment rows add up to the store's customers and match /segments/sizes.
3. Every field of every row recomputed by roi_oracle.py from the same inputs (docs/roi.md):
   totals, counts and rates bit for bit, intervals to a relative 1e-9.
4. The CSV and /roi/table hold the same values bit for bit, the summary's `roi.table` to the
   last bit (cJSON prints 15 digits when they read back within 2.2e-16); the Markdown has both
   tables and a line per row.
5. Optional inputs: without --churn-results and --clv-results the churn score, CLV and
   revenue-at-risk fields are NaN; a store without revenue, costs or conversion (written with
   h5py) gives NaN in those fields and still succeeds.

Run by CTest (env CUSTSEG, MPIEXEC, CS_TEST_DIR); exit 0 pass, 1 fail.
"""
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import roi_oracle as oracle  # noqa: E402

custseg, mpiexec = os.environ["CUSTSEG"], os.environ["MPIEXEC"]
work = os.path.join(os.environ.get("CS_TEST_DIR", "/tmp"), "roi")
os.makedirs(work, exist_ok=True)
path = lambda name: os.path.join(work, name)
failures = []


def run(ranks, *args, threads=1):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([mpiexec, "--oversubscribe", "-n", str(ranks), custseg, *args, "--quiet"],
                   check=True, timeout=900, env=env)


def read_table(p):
    with h5py.File(p, "r") as f:
        t = f["roi/table"][...]
    return [{name: t[name][i] for name in t.dtype.names} for i in range(len(t))]


store, seg, churn, clv = path("store.h5"), path("seg.h5"), path("churn.h5"), path("clv.h5")
# 2 x 10^5 customers; 5 x 10^4 under the sanitizers, where this store's stages and the table at
# 1-4 ranks took 50 s of a 30-minute CI run.
N = 50000 if os.environ.get("CS_SANITIZED") else 200000
run(2, "generate", "--customers", str(N), "--seed", "23", "--transactions", "--missing-rate",
    "0.01", "--output", store)
run(2, "segment", "--input", store, "--output", seg, "--k", "5", "--missing", "drop")
run(2, "churn", "train", "--input", store, "--output", churn)
run(2, "clv", "--input", store, "--output", clv, "--calibration-end", "2024-12-29",
    "--merge-same-day", "no")
for ranks in (1, 2, 3, 4):
    run(ranks, "roi", "--input", store, "--segment-results", seg, "--churn-results", churn,
        "--clv-results", clv, "--output", path(f"roi{ranks}.h5"), "--roi-csv",
        path(f"roi{ranks}.csv"), "--roi-markdown", path(f"roi{ranks}.md"), "--summary",
        path(f"roi{ranks}.json"), threads=2 if ranks == 4 else 1)

# 1. The same table on any decomposition.
for ranks in (2, 3, 4):
    if subprocess.run(["h5diff", path("roi1.h5"), path(f"roi{ranks}.h5"), "/roi"]).returncode:
        failures.append(f"/roi differs between 1 and {ranks} ranks")
    with open(path("roi1.csv"), "rb") as a, open(path(f"roi{ranks}.csv"), "rb") as b:
        if a.read() != b.read():
            failures.append(f"the CSV differs between 1 and {ranks} ranks")

# The columns read, as the file and the summary list them: with a churn model of another label
# (here `converted`, itself one of roi's columns) that label once, and not `churned` (the
# summary had listed `churned`, the file `converted` twice).
run(2, "churn", "train", "--input", store, "--output", path("churn_conv.h5"), "--label-column",
    "converted", "--features", "age,income")
run(2, "roi", "--input", store, "--segment-results", seg, "--churn-results", path("churn_conv.h5"),
    "--output", path("roi_conv.h5"), "--summary", path("roi_conv.json"))
with h5py.File(path("roi_conv.h5"), "r") as f:
    in_file = [x.decode() if isinstance(x, bytes) else x for x in f["roi"].attrs["store_columns"]]
with open(path("roi_conv.json")) as fh:
    in_summary = json.load(fh)["roi"]["inputs"]["store_columns"]
if in_file != in_summary or in_file.count("converted") != 1 or "churned" in in_file:
    failures.append(f"store_columns with label 'converted': file {in_file}, summary {in_summary}")

got = read_table(path("roi1.h5"))
labels = h5py.File(seg, "r")["segments/labels"][...].astype(np.int64)
sizes = h5py.File(seg, "r")["segments/sizes"][...]
d = oracle.inputs(store, churn, clv)
n = len(labels)

# 2. Totals are the column sums.
tot = got[-1]
if tot["segment"] != -1 or tot["customers"] != n:
    failures.append(f"last row: segment {tot['segment']}, customers {tot['customers']} (want -1, {n})")
for col, field in (("revenue", "revenue_total"), ("marketing_cost", "marketing_cost_total"),
                   ("acquisition_cost", "acquisition_cost_total")):
    want = math.fsum(d[col].tolist())
    print(f"{col:18s} column sum {want!r:>22}  total row {float(tot[field])!r:>22}")
    if float(tot[field]) != want:
        failures.append(f"total {field} {tot[field]!r} != fsum of /customers/{col} {want!r}")
conv = int((h5py.File(store, "r")["customers/converted"][...] == 1).sum())
if float(tot["conversions"]) != conv:
    failures.append(f"total conversions {tot['conversions']} != {conv}")
v = d["clv"]
if float(tot["clv_total"]) != math.fsum(v[np.isfinite(v)].tolist()):
    failures.append("total CLV differs from the fsum of /clv/value")
if sum(int(r["customers"]) for r in got[:-1]) != n:
    failures.append("segment rows do not add up to the customers")
if not (labels == -1).any() or got[-2]["segment"] != -2:
    failures.append("expected a row of customers without a segment (--missing drop)")
for g in range(len(sizes)):
    if got[g]["customers"] != sizes[g]:
        failures.append(f"segment {g}: {got[g]['customers']} customers, /segments/sizes {sizes[g]}")
with h5py.File(path("roi1.h5"), "r") as f:
    a = f["roi"].attrs
    for q in ("revenue", "marketing_cost", "acquisition_cost"):
        if int(a[q + "_exact"]) != 1:
            failures.append(f"{q}: the sum is not marked exact")

# 3. Every formula.
want = oracle.table(d, labels, len(sizes))
failures += oracle.compare(got, want, "full pipeline")
print("actions:", [oracle.ACTIONS[r["action"]] if r["action"] >= 0 else "-" for r in got[:len(sizes)]])

# 4. CSV, summary and Markdown.
names = list(got[0].keys())
with open(path("roi1.csv")) as f:
    rows = list(csv.reader(f))
if rows[0] != names:
    failures.append(f"CSV header {rows[0]} != table fields {names}")
for r, line in zip(got, rows[1:]):
    for name, text in zip(names, line):
        if name == "action":
            ok = text == (oracle.ACTIONS[r[name]] if r[name] >= 0 else "")
        else:
            ok = oracle.same(float(text), r[name], 0)
        if not ok:
            failures.append(f"CSV segment {r['segment']} {name}: '{text}' vs {r[name]!r}")
if len(rows) != len(got) + 1:
    failures.append(f"CSV has {len(rows) - 1} rows, the table {len(got)}")
with open(path("roi1.json")) as f:
    js = json.load(f)["roi"]["table"]
for r, o in zip(got, js):
    for name in names:
        x = o[name]
        if name == "action":
            ok = x == (oracle.ACTIONS[r[name]] if r[name] >= 0 else None)
        else:
            # exact: the summary prints the fewest digits that read back to the same double
            # (cJSON's own printing had been off in the last bit for some)
            ok = oracle.same(float("nan") if x is None else x, r[name], 0)
        if not ok:
            failures.append(f"summary segment {r['segment']} {name}: {x!r} vs {r[name]!r}")
with open(path("roi1.md")) as f:
    md = f.read()
if md.count("\n| ") != 2 * (len(got) + 1) or "## Campaign" not in md:
    failures.append("the Markdown file does not have both tables with a line per row")
if re.search(r"[ \[]-0(\.0+)?[ ,\]]", md):
    failures.append("the Markdown file shows a value that rounds to zero as -0")

# 5a. Without the churn and CLV results.
run(2, "roi", "--input", store, "--segment-results", seg, "--output", path("plain.h5"))
plain = read_table(path("plain.h5"))
for r in plain:
    for name in ("churn_score_mean", "clv_mean", "clv_total", "revenue_at_risk"):
        if not math.isnan(r[name]):
            failures.append(f"without churn/CLV results: {name} = {r[name]} (want NaN)")
failures += oracle.compare(plain, oracle.table(oracle.inputs(store), labels, len(sizes)),
                           "without churn and CLV")

# 5c. No campaign data (the store without its treated column): 'not responding to the
# campaign' is unknown, so a segment of below-average value and risk is maintain, not
# deprioritize (it had been: a telco's most loyal segment was to be dropped).
nocamp = path("nocamp.h5")
shutil.copy(store, nocamp)
with h5py.File(nocamp, "a") as f:
    del f["customers/treated"]
nocamp_seg = path("nocamp_seg.h5")
run(2, "segment", "--input", nocamp, "--output", nocamp_seg, "--k", "5", "--missing", "drop")
p = subprocess.run([mpiexec, "--oversubscribe", "-n", "2", custseg, "roi", "--input", nocamp,
                    "--segment-results", nocamp_seg, "--output", path("nocamp_roi.h5"), "--quiet"],
                   capture_output=True, text=True, timeout=900)
if p.returncode != 0 or "campaign" in p.stderr:  # no campaign, nothing to say of one
    failures.append(f"without campaign data: exit {p.returncode}, stderr {p.stderr[-400:]!r}")
nrows = read_table(path("nocamp_roi.h5"))
nlabels = h5py.File(nocamp_seg, "r")["segments/labels"][...].astype(np.int64)
failures += oracle.compare(nrows, oracle.table(oracle.inputs(nocamp), nlabels, len(sizes)),
                           "without campaign data")
tot = nrows[-1]
quiet = [r for r in nrows[:len(sizes)] if r["revenue_mean"] < tot["revenue_mean"]
         and r["churn_rate_observed"] <= tot["churn_rate_observed"]]
if not quiet:
    failures.append("without campaign data: no segment of below-average revenue and churn to check")
for r in quiet:
    if r["action"] != 2:
        failures.append(f"without campaign data: segment {r['segment']} (revenue and churn below the "
                        f"total's) has action {r['action']}, want 2 (maintain)")

# 5b. A store without revenue, costs or conversion (h5py, tests/py/make_store.py: 40
# customers with churned and a numpy-bool treated column).
small, small_seg = path("small.h5"), path("small_seg.h5")
subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "make_store.py"), "good",
                small], check=True)
run(3, "segment", "--input", small, "--output", small_seg, "--k", "2")
run(3, "roi", "--input", small, "--segment-results", small_seg, "--output", path("small_roi.h5"),
    "--roi-csv", path("small_roi.csv"))
srows = read_table(path("small_roi.h5"))
for r in srows:
    for name in ("revenue_total", "revenue_mean", "acquisition_cost_total", "marketing_cost_total",
                 "conversions", "conversion_rate", "roi", "uplift", "incremental_revenue",
                 "campaign_cost"):
        if not math.isnan(r[name]):
            failures.append(f"store without revenue: {name} = {r[name]} (want NaN)")
    if math.isnan(r["churn_rate_observed"]) or math.isnan(r["treated"]):
        failures.append("store without revenue: churn_rate_observed or treated is NaN")
slabels = h5py.File(small_seg, "r")["segments/labels"][...].astype(np.int64)
failures += oracle.compare(srows, oracle.table(oracle.inputs(small), slabels, 2), "store without revenue")

# 6. Results of the same customers but an older state of the store file: a warning naming
# the results file, no error (the ids still match). Without a change, no warning.
def roi_stderr(out):
    p = subprocess.run([mpiexec, "--oversubscribe", "-n", "2", custseg, "roi", "--input", small,
                        "--segment-results", small_seg, "--output", path(out)],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        failures.append(f"roi on {out}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stderr


if "same customers but another size or modification time" in roi_stderr("same_store.h5"):
    failures.append("roi warns that the store changed although it did not")
st_ = os.stat(small)
os.utime(small, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
err = roi_stderr("changed_store.h5")
# The small store has no money columns: that is said too, once (a table of n/a had been silent).
money = err.count("has none of the columns revenue, marketing_cost, acquisition_cost and converted")
if "same customers but another size or modification time" not in err or small_seg not in err or \
        err.count("warning") != 2 or money != 1:
    failures.append(f"roi after the store changed: want one warning naming {small_seg}, and one "
                    f"that the store has no money columns: {err!r}")

# 7. One extreme CLV coarsens the grid for every segment: a warning, once (rank 0), naming
# the quantity; the ordinary CLV of the runs above gives none.
def roi_clv_stderr(clv_file, out):
    p = subprocess.run([mpiexec, "--oversubscribe", "-n", "3", custseg, "roi", "--input", store,
                        "--segment-results", seg, "--clv-results", clv_file, "--output", path(out)],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        failures.append(f"roi on {out}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stderr


if "spans too wide a range" in roi_clv_stderr(clv, "clv_ordinary.h5"):
    failures.append("roi warns about the grid of an ordinary CLV")
shutil.copy(clv, path("clv_extreme.h5"))
with h5py.File(path("clv_extreme.h5"), "r+") as f:
    f["clv/value"][0] = 1e300  # finite and >= 0, as roi requires of a CLV
err = roi_clv_stderr(path("clv_extreme.h5"), "clv_extreme_roi.h5")
if err.count("roi: clv spans too wide a range") != 1:
    failures.append(f"roi with a CLV of 1e300: want one warning about the clv grid: {err!r}")
# The other segments' CLV sums are 0 on that grid: unknown, so NaN (and no action, unless the
# campaign rule `grow`, which comes before the value's, holds), not a confident 0; the extreme
# customer's segment and the total row keep theirs.
with h5py.File(path("clv_extreme_roi.h5"), "r") as f, h5py.File(seg, "r") as s_:
    t, g0 = f["roi/table"][...], int(s_["segments/labels"][0])
for r in t:
    g = int(r["segment"])
    grows = (r["uplift_low"] > 0 and r["campaign_cost"] >= 0
             and r["incremental_revenue_low"] > r["campaign_cost"])
    if g == g0 or g == -1:
        if not np.isfinite(r["clv_total"]) or r["clv_total"] < 1e299:
            failures.append(f"extreme CLV: row {g} has clv_total {r['clv_total']}, want about 1e300")
    elif g >= 0 and (not np.isnan(r["clv_total"]) or not np.isnan(r["clv_mean"])
                     or r["action"] != (1 if grows else -1)):
        failures.append(f"extreme CLV: segment {g} has clv_total {r['clv_total']} and action "
                        f"{r['action']}, want NaN and {1 if grows else -1} (its sum is unknown "
                        "on the coarse grid)")

# 7b. One revenue of 4e12 among ordinary ones: its arm's squared deviations take a coarse grid,
# but every row's sums stay within the bound (2^-20 of the sum), so none is NaN and the
# campaign intervals that were finite stay finite (the first version counted every customer
# of the row as a term, and asked for 2^-40: this made them NaN without a grid warning).
shutil.copy(store, path("rev4e12.h5"))
with h5py.File(path("rev4e12.h5"), "r+") as f:
    rv, tr = f["customers/revenue"][...], f["customers/treated"][...]
    j = int(np.flatnonzero(np.isfinite(rv) & (tr == 1))[0])
    rv[j] = 4e12
    f["customers/revenue"][...] = rv
p = subprocess.run([mpiexec, "--oversubscribe", "-n", "3", custseg, "roi", "--input",
                    path("rev4e12.h5"), "--segment-results", seg, "--output", path("rev4e12_roi.h5"),
                    "--summary", path("rev4e12.json")], capture_output=True, text=True, timeout=300)
if p.returncode != 0:
    failures.append(f"roi with a revenue of 4e12: exit {p.returncode}: {p.stderr[-300:]}")
else:
    sq = json.load(open(path("rev4e12.json")))["roi"]["sums"]["revenue_deviation_squared"]
    print("revenue of 4e12: revenue_deviation_squared grid 2^-%d, exact %s, unknown sums %d"
          % (sq["grid_exponent"], sq["exact"], sq["unknown_sums"]))
    with h5py.File(path("rev4e12_roi.h5"), "r") as f, h5py.File(path("roi1.h5"), "r") as g:
        t, base = f["roi/table"][...], g["roi/table"][...]
    if sq["grid_exponent"] > 0 or sq["unknown_sums"] != 0 or "spans too wide" in p.stderr:
        failures.append(f"revenue of 4e12: want a coarse grid with no unknown sum and no grid "
                        f"warning: {sq}, {p.stderr[-300:]!r}")
    for a, b in zip(t, base):
        for name in ("incremental_revenue_low", "incremental_revenue_high", "revenue_total"):
            if np.isfinite(b[name]) and not np.isfinite(a[name]):
                failures.append(f"revenue of 4e12: row {a['segment']} {name} is {a[name]}")

# 7e. One revenue of 1e20 in one segment's treated arm: each row and arm has a grid of its own
# for the squared deviations, so the other rows' intervals are those of the store without it
# (to 1e-9: the revenue sums themselves share a grid, which the 1e20 makes 2^-41, so their last
# bits can go), and that segment's own is finite too (one grid for all had made every row's
# interval NaN).
shutil.copy(store, path("rev1e20.h5"))
with h5py.File(seg, "r") as f:
    lab20 = f["segments/labels"][...]
with h5py.File(path("rev1e20.h5"), "r+") as f:
    rv, tr = f["customers/revenue"][...], f["customers/treated"][...]
    j = int(np.flatnonzero(np.isfinite(rv) & (tr == 1) & (lab20 == 0))[0])
    rv[j] = 1e20
    f["customers/revenue"][...] = rv
run(3, "roi", "--input", path("rev1e20.h5"), "--segment-results", seg, "--output",
    path("rev1e20_roi.h5"))
with h5py.File(path("rev1e20_roi.h5"), "r") as f, h5py.File(path("roi1.h5"), "r") as g:
    t, base = f["roi/table"][...], g["roi/table"][...]
for a, b in zip(t[:-1], base[:-1]):
    for name in ("incremental_revenue_low", "incremental_revenue_high"):
        if a["segment"] == 0:
            ok = np.isfinite(a[name])
        else:
            ok = abs(a[name] - b[name]) <= 1e-9 * abs(b[name]) or (np.isnan(a[name]) and
                                                                   np.isnan(b[name]))
        if not ok:
            failures.append(f"revenue of 1e20 in segment 0: row {a['segment']} {name} is "
                            f"{a[name]}, {b[name]} without it")

# 7c. Revenues large next to their spread (1e8 and cents, as amounts in IDR or KRW are): the
# intervals are Welch's, as numpy's var(ddof=1) gives them, at 1 and 3 ranks. From sums of
# squares, S2 - S^2/n cancelled every digit of the variance: intervals 3x too wide, off centre.
shutil.copy(store, path("rev1e8.h5"))
with h5py.File(path("rev1e8.h5"), "r+") as f:
    rv, tr = f["customers/revenue"][...], f["customers/treated"][...]
    rv = np.where(np.isfinite(rv), np.round(1e8 + np.random.default_rng(7).uniform(0, 1, rv.size), 2), rv)
    f["customers/revenue"][...] = rv
with h5py.File(seg, "r") as f:
    lab = f["segments/labels"][...]
for n in (1, 3):
    run(n, "roi", "--input", path("rev1e8.h5"), "--segment-results", seg, "--output",
        path(f"rev1e8_{n}.h5"))
t1, t3 = (h5py.File(path(f"rev1e8_{n}.h5"), "r")["roi/table"][...] for n in (1, 3))
if t1.tobytes() != t3.tobytes():
    failures.append("revenues of 1e8: the tables at 1 and 3 ranks differ")
for r in t1:
    if r["segment"] < 0:
        continue
    a, b = (rv[(lab == r["segment"]) & (tr == arm) & np.isfinite(rv)] for arm in (1, 0))
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    d = math.fsum(a) / a.size - math.fsum(b) / b.size
    # the centre is a difference of two rounded means of 1e8: a few of their ulps, times n_t
    tol = 1e-6 * se * a.size + 4 * np.spacing(1e8) * a.size
    for name, want in (("incremental_revenue_low", (d - 1.959963984540054 * se) * a.size),
                       ("incremental_revenue_high", (d + 1.959963984540054 * se) * a.size)):
        if abs(r[name] - want) > tol:
            failures.append(f"revenues of 1e8: segment {r['segment']} {name} {r[name]}, numpy {want}")

# 7d. Segments far apart (revenue 1e15 x segment + cents): the deviations are taken within each
# segment's arms only, so the spread between segments does not coarsen their grid (the total
# row's deviations from the pooled mean had made every segment's interval NaN).
shutil.copy(store, path("rev_far.h5"))
with h5py.File(path("rev_far.h5"), "r+") as f:
    rv = f["customers/revenue"][...]
    far = np.round(np.random.default_rng(8).normal(0, 10, rv.size), 2) + 1000 + 1e15 * np.maximum(lab, 0)
    f["customers/revenue"][...] = np.where(np.isfinite(rv), far, rv)
run(3, "roi", "--input", path("rev_far.h5"), "--segment-results", seg, "--output",
    path("rev_far_roi.h5"), "--summary", path("rev_far.json"))
dev = json.load(open(path("rev_far.json")))["roi"]["sums"]["revenue_deviation_squared"]
far_rows = h5py.File(path("rev_far_roi.h5"), "r")["roi/table"][...]
if dev["unknown_sums"] or not all(np.isfinite(r["incremental_revenue_low"]) for r in far_rows):
    failures.append(f"segments 1e15 apart: deviation sums {dev}, intervals "
                    f"{[(r['incremental_revenue_low'], r['incremental_revenue_high']) for r in far_rows]}")

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
