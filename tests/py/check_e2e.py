#!/usr/bin/python3
"""End to end: CSV files as a data team exports them -> `custseg import` -> `custseg run` ->
the ROI table and the HTML report.

The customers file has numeric behaviour columns, a text region, the reserved money and flag
columns (revenue, acquisition_cost, marketing_cost, converted, treated, churned with gaps) and
customers in shuffled id order; the transactions file has yyyymmdd dates in random row order.
Checks: the import, every stage of `run` at 3 ranks, the ROI totals equal to the CSV's column
sums (math.fsum: the table's sums are exact) and its customer counts per segment equal to the
labels', the CLV stage on the imported purchase histories, and the report: one HTML file
with every section, no external resources.

Run by CTest (env CUSTSEG, MPIEXEC, CS_TEST_DIR); exit 0 pass, 1 fail.
"""
import csv
import json
import math
import os
import re
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import check, finish, fresh_workdir, run  # noqa: E402

path = fresh_workdir("e2e")

# Customers: three behaviour groups, so the segments are real.
rng = np.random.default_rng(11)
n = 6000
group = rng.integers(0, 3, n)
ids = rng.permutation(np.arange(100001, 100001 + n))
visits = rng.poisson(np.array([2.0, 12.0, 30.0])[group])
spend = np.round(rng.gamma(2.0, np.array([20.0, 80.0, 300.0])[group]), 2)
age = rng.integers(18, 80, n)
tickets = rng.poisson(np.array([3.0, 1.0, 0.3])[group])
region = np.array(["north", "south", "east", "west"])[rng.integers(0, 4, n)]
revenue = np.round(spend * rng.uniform(0.5, 1.5, n), 2)
cac = np.round(rng.uniform(10, 90, n), 2)
mcost = np.round(rng.uniform(0, 20, n), 2)
treated = rng.integers(0, 2, n)
converted = (rng.random(n) < 0.05 + 0.05 * treated + 0.05 * group).astype(int)
churned = (rng.random(n) < np.array([0.5, 0.25, 0.1])[group]).astype(int)
unknown = rng.random(n) < 0.1
with open(path("customers.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer_id", "age", "visits", "spend", "support_tickets", "region", "revenue",
                "acquisition_cost", "marketing_cost", "converted", "treated", "churned"])
    for i in range(n):
        w.writerow([ids[i], age[i], visits[i], f"{spend[i]:.2f}", tickets[i], region[i],
                    f"{revenue[i]:.2f}", f"{cac[i]:.2f}", f"{mcost[i]:.2f}", converted[i],
                    treated[i], "" if unknown[i] else churned[i]])
# Transactions: a few purchases per customer in 2024-2025, rows shuffled.
rows = []
buyer = np.zeros(n, bool)  # a purchase up to the calibration end, 2025-03-31 (day 455)
for i in range(n):
    k = rng.poisson([1.0, 4.0, 9.0][group[i]])
    days = rng.integers(0, 540, k)
    buyer[i] = bool(np.any(days <= 455))
    for d in days:
        day = np.datetime64("2024-01-01") + int(d)
        rows.append((ids[i], str(day).replace("-", ""), f"{rng.gamma(2.0, 15.0):.2f}"))
order = rng.permutation(len(rows))
with open(path("transactions.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer_id", "date", "amount"])
    for j in order:
        w.writerow(rows[j])

store = path("store.h5")
run(2, "import", "--customers-csv", path("customers.csv"), "--transactions-csv",
    path("transactions.csv"), "--txn-date-format", "yyyymmdd", "--output", store, "--quiet")
with open(path("job.ini"), "w") as f:
    f.write("[segment]\nk = 2..6\nlog1p = visits,spend,support_tickets\n"
            "[clv]\ncalibration-end = 2025-03-31\nmerge-same-day = no\n")
p = run(3, "run", "--config", path("job.ini"), "--input", store, "--output-dir", path("out"))
summary = json.load(open(path("out", "run.json")))["stages"]
for s in ("segment", "churn", "clv", "roi"):
    check(summary[s]["status"] == "ran", f"stage {s} ran on the imported store ({summary[s]})")

# The ROI table against the CSV.
with h5py.File(path("out", "roi.h5"), "r") as f:
    t = f["roi/table"][...]
with h5py.File(path("out", "segments.h5"), "r") as f:
    labels = f["segments/labels"][...]
    seg_ids = f["segments/customer_id"][...]
total = t[t["segment"] == -1][0]
for col, v in (("revenue_total", revenue), ("acquisition_cost_total", cac),
               ("marketing_cost_total", mcost)):
    check(total[col] == math.fsum(v.tolist()), f"ROI total {col} = the CSV's column sum "
          f"({total[col]!r} vs {math.fsum(v.tolist())!r})")
check(total["conversions"] == converted.sum(), "ROI total conversions = the CSV's")
check(total["customers"] == n, "ROI total customers = the CSV's rows")
sizes = np.bincount(labels, minlength=len(t) - 1)
check(np.array_equal(t[t["segment"] >= 0]["customers"], sizes), "ROI customers per segment = labels")
# Per segment, against the CSV joined on customer_id.
pos = {c: i for i, c in enumerate(ids)}
order_rows = np.array([pos[c] for c in seg_ids])
for g in range(len(t) - 1):
    m = order_rows[labels == g]
    row = t[t["segment"] == g][0]
    check(row["revenue_total"] == math.fsum(revenue[m].tolist()),
          f"segment {g}: revenue total = the CSV's rows of that segment")
with h5py.File(path("out", "clv.h5"), "r") as f:
    value = f["clv/value"][...]
b = buyer[order_rows]
check(np.all(np.isfinite(value[b])) and np.all(np.isnan(value[~b])),
      f"CLV finite for the {b.sum()} customers who bought before the calibration end, NaN for "
      f"the {(~b).sum()} others (docs/clv.md)")

# The report.
html = path("out", "report.html")
if summary["report"]["status"] == "ran":
    page = open(html, encoding="utf-8").read()
    check(page.lstrip().lower().startswith("<!doctype html"), "report is an HTML document")
    check(not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page),
          "report loads nothing from the network")
    check(page.count("<svg") >= 5, f"report has charts ({page.count('<svg')} svg)")
    check("region" in page or "spend" in page, "report names the imported features")
else:
    check(False, f"the report stage ran ({summary['report']})")

finish()
