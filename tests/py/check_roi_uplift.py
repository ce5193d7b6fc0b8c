#!/usr/bin/python3
"""`custseg roi`: the campaign uplift against the generator's known effect per segment.

`custseg generate` draws `converted` with probability conversion_base[k] +
treated x conversion_uplift[k] in hidden segment k (both under /truth, docs/format.md), and
`revenue` independently of `treated`, so the true uplift of segment k is conversion_uplift[k]
and the true incremental revenue is 0. The segments given to `roi` are the true ones: a
results file written here with /segments/labels = /truth/segment and the store's fingerprint.

1. One store of 10^6 customers (seed 1, 6 segments): the 95% interval of every segment's
   uplift covers its true uplift; it covers neither 0 nor the true uplift of any other
   segment (so a wrong truth would fail the test).
2. Coverage: 40 stores of 20,000 customers (seeds 101..140, 240 intervals each): the uplift
   intervals cover the truth, and the incremental-revenue intervals cover 0, in at least 90%
   of the cases (nominal 95%; 90% is 3 binomial standard deviations below it); the total
   row's uplift interval covers the treated-weighted mean of the true uplifts as often.
3. A targeted campaign with no effect: `treated` redrawn with probability 0.9 in one segment
   and 0.1 elsewhere, `converted` shuffled within each segment. The total row's uplift and
   incremental revenue are the rows' added up, and their intervals cover 0 (comparing all
   treated with all control customers at once had found 4.29 points [3.34, 5.28] and
   -912,651 of incremental revenue: the segments' differences, not the campaign's). With one
   segment all treated, the total effect is NaN and a warning names that segment; with one
   treated customer in a segment, the total's revenue interval is NaN and the warning says
   why. Rows whose control customers cost more than their treated ones are warned of.

Run by CTest (env CUSTSEG, MPIEXEC, CS_TEST_DIR); exit 0 pass, 1 fail.
"""
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import roi_oracle as oracle  # noqa: E402

custseg, mpiexec = os.environ["CUSTSEG"], os.environ["MPIEXEC"]
work = os.path.join(os.environ.get("CS_TEST_DIR", "/tmp"), "roi_uplift")
os.makedirs(work, exist_ok=True)
path = lambda name: os.path.join(work, name)
failures = []


def run(ranks, *args):
    cmd = [custseg, *args, "--quiet"]
    if ranks > 1:
        cmd = [mpiexec, "--oversubscribe", "-n", str(ranks)] + cmd
    subprocess.run(cmd, check=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS="1"))


def roi_on_truth(name, customers, seed, ranks):
    """Generate a store, give roi its true segments; the table and the truth."""
    store, seg, out = path(name + ".h5"), path(name + "_seg.h5"), path(name + "_roi.h5")
    run(ranks, "generate", "--customers", str(customers), "--seed", str(seed), "--output", store)
    with h5py.File(store, "r") as f:
        labels = f["truth/segment"][...]
        uplift = f["truth"].attrs["conversion_uplift"][...]
    oracle.write_segments(seg, labels, oracle.fingerprint(custseg, store))
    run(ranks, "roi", "--input", store, "--segment-results", seg, "--output", out)
    with h5py.File(out, "r") as f:
        t = f["roi/table"][...]
    return t, uplift


def total_truth(t, truth):
    """The true uplift of the total row: the segments' true uplifts weighted by n_t."""
    nt = t["treated"][:len(truth)]
    return float(np.sum(nt * truth) / np.sum(nt))


# 1. One large store.
t, truth = roi_on_truth("big", 1000000, 1, 2)
k = len(truth)
for g in range(k):
    lo, hi, est = t["uplift_low"][g], t["uplift_high"][g], t["uplift"][g]
    print(f"segment {g}: true uplift {truth[g]:.4f}  measured {est:.4f}  95% [{lo:.4f}, {hi:.4f}]"
          f"  ({int(t['treated'][g])} treated, {int(t['control'][g])} control)")
    if not lo <= truth[g] <= hi:
        failures.append(f"segment {g}: the interval [{lo:.5f}, {hi:.5f}] misses the true uplift {truth[g]}")
    if lo <= 0 <= hi:
        failures.append(f"segment {g}: the interval [{lo:.5f}, {hi:.5f}] covers 0")
    for h in range(k):
        if h != g and lo <= truth[h] <= hi:
            failures.append(f"segment {g}: the interval also covers segment {h}'s uplift {truth[h]}")

# 2. Coverage over many stores.
hits = [0, 0]
total = 0
total_hits = 0
for seed in range(101, 141):
    t, truth = roi_on_truth("cov", 20000, seed, 1)
    total_hits += bool(t["uplift_low"][-1] <= total_truth(t, truth) <= t["uplift_high"][-1])
    for g in range(len(truth)):
        total += 1
        hits[0] += bool(t["uplift_low"][g] <= truth[g] <= t["uplift_high"][g])
        hits[1] += bool(t["incremental_revenue_low"][g] <= 0 <= t["incremental_revenue_high"][g])
for what, h in zip(("uplift covers the truth", "incremental revenue covers 0"), hits):
    print(f"coverage: {what}: {h}/{total} = {h / total:.3f}")
    if h < 0.90 * total:
        failures.append(f"coverage of '{what}' is {h}/{total}, below 90%")

print(f"coverage: the total row's uplift covers the weighted truth: {total_hits}/40")
if total_hits < 34:  # nominal 38 of 40; 34 is about 3 binomial standard deviations below
    failures.append(f"the total row's uplift covers its truth in {total_hits}/40 stores")

# 3. A targeted campaign without effect, and one segment with no control customers.
store, seg = path("cov.h5"), path("cov_seg.h5")
rng = np.random.default_rng(5)
with h5py.File(store, "r+") as f:
    g = f["truth/segment"][...]
    treated = (rng.random(len(g)) < np.where(g == 1, 0.9, 0.1)).astype(f["customers/treated"].dtype)
    conv = f["customers/converted"][...]
    for s in np.unique(g):  # no effect: conversion independent of treatment within a segment
        i = np.flatnonzero(g == s)
        conv[i] = conv[rng.permutation(i)]
    f["customers/treated"][...] = treated
    f["customers/converted"][...] = conv
run(2, "roi", "--input", store, "--segment-results", seg, "--output", path("target_roi.h5"))
with h5py.File(path("target_roi.h5"), "r") as f:
    t = f["roi/table"][...]
rows, tot = t[:-1], t[-1]
print(f"targeted, no effect: total uplift {tot['uplift']:.4f} [{tot['uplift_low']:.4f}, "
      f"{tot['uplift_high']:.4f}], incremental revenue {tot['incremental_revenue']:.0f} "
      f"[{tot['incremental_revenue_low']:.0f}, {tot['incremental_revenue_high']:.0f}]")
sum_rev = float(np.sum(rows["incremental_revenue"]))
if not abs(tot["incremental_revenue"] - sum_rev) <= 1e-9 * max(1.0, abs(sum_rev)):
    failures.append(f"targeted: total incremental revenue {tot['incremental_revenue']} is not "
                    f"the rows' sum {sum_rev}")
for lo, hi, what in (("uplift_low", "uplift_high", "uplift"),
                     ("incremental_revenue_low", "incremental_revenue_high", "incremental revenue")):
    if not tot[lo] <= 0 <= tot[hi]:
        failures.append(f"targeted, no effect: the total's {what} interval [{tot[lo]}, {tot[hi]}] "
                        "misses 0")
def roi_warning(name, edit, want, nan_fields):
    """Edit `treated`, run roi: the total's nan_fields are NaN and the warning says `want`."""
    with h5py.File(store, "r+") as f:
        tr = f["customers/treated"][...]
        edit(tr)
        f["customers/treated"][...] = tr
    p = subprocess.run([custseg, "roi", "--input", store, "--segment-results", seg, "--output",
                        path(name + ".h5"), "--roi-markdown", path(name + ".md")],
                       capture_output=True, text=True, timeout=900)
    with h5py.File(path(name + ".h5"), "r") as f:
        tot = f["roi/table"][-1]
    if p.returncode != 0 or not all(np.isnan(tot[x]) for x in nan_fields) or want not in p.stderr:
        failures.append(f"{name}: exit {p.returncode}, total {[(x, tot[x]) for x in nan_fields]}; "
                        f"wanted a warning '{want}'; stderr {p.stderr[-400:]}")


def negative_cost():
    """Control customers cost more than treated ones: warned, even under --quiet, and the
    rows' incremental ROI is NaN."""
    with h5py.File(store, "r+") as f:
        cost, tr = f["customers/marketing_cost"][...], f["customers/treated"][...]
        saved = cost.copy()
        cost[tr == 1], cost[tr == 0] = 1.0, 9.0
        f["customers/marketing_cost"][...] = cost
    p = subprocess.run([custseg, "roi", "--input", store, "--segment-results", seg, "--output",
                        path("negcost.h5"), "--quiet"], capture_output=True, text=True, timeout=900)
    with h5py.File(store, "r+") as f:
        f["customers/marketing_cost"][...] = saved
    n_t = int(np.sum(tr[g == 0] == 1))  # 8 less per treated customer of segment 0
    want = (f"roi: the campaign cost of segment 0 is negative ({-8 * n_t:.2f}: its treated "
            "customers cost less marketing_cost than its control customers), so its "
            "incremental_roi is NaN; 6 rows in all have a negative campaign cost")
    with h5py.File(path("negcost.h5"), "r") as f:
        table = f["roi/table"][...]
    row = table[0]
    if p.returncode != 0 or want not in p.stderr or not np.isnan(row["incremental_roi"]):
        failures.append(f"negative cost: exit {p.returncode}, incremental_roi "
                        f"{row['incremental_roi']}; wanted a warning '{want}'; stderr "
                        f"{p.stderr[-400:]}")
    # ... and a row whose campaign cost is negative is never told to grow (the revenue's lower
    # limit had only to exceed the negative cost: 'grow' on a loss).
    grown = [int(r["segment"]) for r in table if r["campaign_cost"] < 0 and r["action"] == 1]
    if grown:
        failures.append(f"negative cost: segments {grown} are told to grow")


negative_cost()


def column_edit(name, column, edit, want, nan_fields):
    """Edit a column of the store (restored after), run roi: the total's nan_fields are NaN
    and the warning says `want`."""
    with h5py.File(store, "r+") as f:
        saved = f["customers/" + column][...]
        v = saved.copy()
        edit(v)
        f["customers/" + column][...] = v
    p = subprocess.run([custseg, "roi", "--input", store, "--segment-results", seg, "--output",
                        path(name + ".h5"), "--summary", path(name + ".json"), "--roi-markdown",
                        path(name + ".md")], capture_output=True, text=True, timeout=900)
    with h5py.File(store, "r+") as f:
        f["customers/" + column][...] = saved
    with h5py.File(path(name + ".h5"), "r") as f:
        tot = f["roi/table"][-1]
    if p.returncode != 0 or not all(np.isnan(tot[x]) for x in nan_fields) or want not in p.stderr:
        failures.append(f"{name}: exit {p.returncode}, total {[(x, tot[x]) for x in nan_fields]}; "
                        f"wanted a warning '{want}'; stderr {p.stderr[-400:]}")


# A segment whose control customers have no marketing cost: the total campaign cost is NaN and
# said to be (it had been NaN without a word).
tr0 = None
with h5py.File(store, "r") as f:
    tr0 = f["customers/treated"][...]
column_edit("cost_nan", "marketing_cost",
            lambda v: v.__setitem__((g == 1) & (tr0 == 0), np.nan),
            "roi: the campaign's total campaign cost is unknown (NaN): segment 1 has no treated "
            "or no control customer with a marketing_cost value", ["campaign_cost", "incremental_roi"])


# Two treated revenues whose squared deviations are finite but whose sum is not: the row's
# revenue interval is NaN, as for one square that overflows (it had been [-inf, inf], or of
# width 0 in a build without FMA).
def huge_revenues(v):
    i = np.flatnonzero((g == 0) & (tr0 == 1))[:2]
    v[i] = [1.3e154, 1.0e154]


# Revenues times 1e-200: every squared deviation is below the normal doubles, so no row has a
# variance (each interval had been of width 0, the point estimate twice, without a warning).
def tiny_revenues(v):
    v *= 1e-200


for name, edit in (("rev2_over", huge_revenues), ("rev2_under", tiny_revenues)):
    column_edit(name, "revenue", edit,
                "roi: the campaign's total incremental revenue is unknown (NaN): segment 0 has "
                "fewer than 2 treated or 2 control customers with a revenue value (or revenues "
                "more than about 1.3e154 from their group's mean, or all within about 1.5e-154 "
                "of it but not equal", ["incremental_revenue_low", "incremental_revenue_high"])
    with h5py.File(path(name + ".h5"), "r") as f:
        r0 = f["roi/table"][0]
    if not (np.isnan(r0["incremental_revenue_low"]) and np.isnan(r0["incremental_revenue_high"])):
        failures.append(f"{name}: segment 0's revenue interval [{r0['incremental_revenue_low']}, "
                        f"{r0['incremental_revenue_high']}], wanted NaN")

# ... but one such deviation among ordinary ones (control revenues of +-100 and one 1e-160,
# refunds making the mean 0) changes nothing: the interval stays (a first version of the
# check above had made it NaN).
with h5py.File(store, "r+") as f:
    saved = f["customers/revenue"][...]
    v = saved.copy()
    ctl = np.flatnonzero((g == 0) & (tr0 == 0))
    v[ctl] = np.where(np.arange(len(ctl)) % 2, 100.0, -100.0)
    v[ctl[0]] = 1e-160
    f["customers/revenue"][...] = v
p = subprocess.run([custseg, "roi", "--input", store, "--segment-results", seg, "--output",
                    path("rev2_one_tiny.h5"), "--quiet"], capture_output=True, text=True, timeout=900)
with h5py.File(store, "r+") as f:
    f["customers/revenue"][...] = saved
with h5py.File(path("rev2_one_tiny.h5"), "r") as f:
    r0 = f["roi/table"][0]
lo, hi = r0["incremental_revenue_low"], r0["incremental_revenue_high"]
if p.returncode != 0 or not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
    failures.append(f"rev2_one_tiny: exit {p.returncode}, segment 0's revenue interval [{lo}, "
                    f"{hi}], wanted a finite one")


# One control customer in segment 0: its incremental revenue has a value but no interval. The
# Markdown table marks every incremental ROI whose return is not settled (the revenue interval
# unknown or holding the campaign cost) and no other; segment 0's had stood unmarked, and so
# had ROIs whose interval held the cost but not 0.
def one_control(tr):
    tr[g == 0] = 1
    tr[np.flatnonzero(g == 0)[0]] = 0


column_edit("one_control", "treated", one_control, "roi: the campaign's total incremental "
            "revenue is unknown (NaN): segment 0 has fewer than 2 treated or 2 control customers",
            ["incremental_revenue", "incremental_roi"])
with h5py.File(path("one_control.h5"), "r") as f:
    table = f["roi/table"][...]
with open(path("one_control.md")) as f:
    md = f.read().split("## Campaign")[1].splitlines()
marked = []
for r in table[:-1]:
    line = [l for l in md if l.startswith(f"| {int(r['segment'])} |")]
    if not np.isfinite(r["incremental_roi"]) or len(line) != 1:
        continue
    lo, hi, c = r["incremental_revenue_low"], r["incremental_revenue_high"], r["campaign_cost"]
    settled = np.isfinite(lo) and np.isfinite(hi) and (lo > c or hi < c)
    if (" \u2020 |" in line[0]) == settled:
        failures.append(f"one_control: segment {r['segment']}: revenue [{lo}, {hi}], cost {c}: "
                        f"marked {not settled} wanted: {line[0]}")
    marked += [] if settled else [int(r["segment"])]
if 0 not in marked or not any(l.startswith("\u2020 The incremental revenue's 95% interval holds "
                                           "the campaign cost, or is unknown") for l in md):
    failures.append(f"one_control: marked {marked}, wanted segment 0 among them, and the note")


def one_treated(tr):
    tr[g == 3] = 0
    tr[np.flatnonzero(g == 3)[0]] = 1


# The total's incremental revenue is NaN as the warning says, not the sum of the rows' values
# (it had been, with its ROI).
roi_warning("one_treated", one_treated, "roi: the campaign's total incremental revenue is "
            "unknown (NaN): segment 3 has fewer than 2 treated or 2 control customers with a "
            "revenue value", ["incremental_revenue", "incremental_revenue_low",
                              "incremental_revenue_high", "incremental_roi"])
roi_warning("alone", lambda tr: tr.__setitem__(g == 2, 1), "roi: the campaign's total uplift, "
            "incremental revenue and campaign cost are unknown (NaN): segment 2 has no control "
            "customers to compare the treated ones with",
            ["uplift", "incremental_revenue", "campaign_cost"])
roi_warning("all_treated", lambda tr: tr.fill(1), "roi: the campaign's total effect is unknown "
            "(NaN): no customer is in the control group", ["uplift", "incremental_revenue"])
# Nobody treated: every campaign field NaN, and said (all treated was said, this was not).
roi_warning("none_treated", lambda tr: tr.fill(0), "roi: the campaign's effect is unknown (NaN) "
            "in every row: no customer is treated (treated = 1)", ["uplift", "incremental_revenue"])
# A flag value that is neither 0/1 nor unknown is counted as unknown, and said (as churn train
# says it of its label).
column_edit("odd_converted", "converted", lambda v: v.__setitem__(slice(3, None, 2), 5),
            f"column 'converted' has {len(range(3, len(g), 2))} value(s) that are neither 0/1 (or "
            "its two levels) nor unknown (-1, NaN), first 5 at row 3: counted as unknown", [])

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
