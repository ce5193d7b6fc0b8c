"""The ROI table of docs/roi.md recomputed in Python from the same inputs, independently of
custseg: totals with math.fsum (the correctly rounded exact sum), counts with numpy, then every
formula as the documentation writes it. Used by check_roi.py and check_roi_uplift.py."""
import json
import math
import subprocess

import h5py
import numpy as np

Z = 1.959963984540054
ACTIONS = ["retain", "grow", "maintain", "deprioritize"]
NAN = float("nan")


def fsum(x):
    return math.fsum(x.tolist())


def flag(v):
    """A 0/1 column as 1, 0 or -1 (any other value, NaN included, is unknown)."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v == 1, 1, np.where(v == 0, 0, -1)).astype(np.int8)


def ratio(a, b):
    return a / b if b > 0 else NAN


def wilson(x, n):
    p, z2 = x / n, Z * Z
    den = n + z2
    centre = (x + z2 / 2) / den
    half = Z * math.sqrt(n * p * (1 - p) + z2 / 4) / den
    return max(centre - half, 0.0), min(centre + half, 1.0)


def newcombe(x1, n1, x2, n2):
    if not (n1 > 0 and n2 > 0):
        return NAN, NAN
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def variance(x, m):
    """Sample variance of the values x around their mean m (the double of the exact mean)."""
    if len(x) < 2:
        return NAN
    return fsum((x - m) * (x - m)) / (len(x) - 1)


def row(sel, d, n_global, segment):
    """One row of the table over the customers `sel` (a boolean mask) of inputs d."""
    o = {"segment": segment, "customers": int(sel.sum())}
    o["share"] = o["customers"] / n_global if n_global > 0 else NAN
    t = d.get("treated")
    arm = {1: sel & (t == 1), 0: sel & (t == 0)} if t is not None else None

    def total(name, mask):
        x = d[name][mask]
        x = x[np.isfinite(x)]
        return fsum(x), len(x)

    rev = d.get("revenue")
    if rev is not None:
        s, n = total("revenue", sel)
        o["revenue_total"], o["revenue_mean"] = s, ratio(s, n)
    else:
        o["revenue_total"] = o["revenue_mean"] = NAN
    if d.get("acquisition_cost") is not None:
        s, n = total("acquisition_cost", sel)
        o["acquisition_cost_total"], o["acquisition_cost_mean"] = s, ratio(s, n)
    else:
        o["acquisition_cost_total"] = o["acquisition_cost_mean"] = NAN
    o["marketing_cost_total"] = total("marketing_cost", sel)[0] if d.get("marketing_cost") is not None else NAN
    c = d.get("converted")
    if c is not None:
        conv, known = int((c[sel] == 1).sum()), int((c[sel] >= 0).sum())
        o["conversions"], o["conversion_rate"] = float(conv), ratio(float(conv), known)
    else:
        o["conversions"] = o["conversion_rate"] = NAN
    ch = d.get("churned")
    if ch is not None:
        lab, churned = int((ch[sel] >= 0).sum()), int((ch[sel] == 1).sum())
        o["churn_labelled"], o["churn_rate_observed"] = float(lab), ratio(float(churned), lab)
    else:
        o["churn_labelled"] = o["churn_rate_observed"] = NAN
    p, v = d.get("churn_score"), d.get("clv")
    o["churn_score_mean"] = ratio(*total("churn_score", sel)) if p is not None else NAN
    if v is not None:
        s, n = total("clv", sel)
        o["clv_mean"], o["clv_total"] = ratio(s, n), s
    else:
        o["clv_mean"] = o["clv_total"] = NAN
    if p is not None and v is not None:
        m = sel & np.isfinite(p) & np.isfinite(v)
        o["revenue_at_risk"] = fsum(p[m] * v[m])
    else:
        o["revenue_at_risk"] = NAN
    o["roi"] = NAN
    have_acq, have_mkt = d.get("acquisition_cost") is not None, d.get("marketing_cost") is not None
    if rev is not None and (have_acq or have_mkt):
        cost = (o["acquisition_cost_total"] if have_acq else 0.0) + (o["marketing_cost_total"] if have_mkt else 0.0)
        if cost > 0:
            o["roi"] = (o["revenue_total"] - cost) / cost
    camp = ["treated", "control", "conversion_rate_treated", "conversion_rate_control", "uplift",
            "uplift_low", "uplift_high", "incremental_conversions", "incremental_revenue",
            "incremental_revenue_low", "incremental_revenue_high", "campaign_cost", "incremental_roi"]
    for k in camp:
        o[k] = NAN
    o["action"] = -1
    if t is None:
        return o
    nt = float(arm[1].sum())
    o["treated"], o["control"] = nt, float(arm[0].sum())
    if c is not None:
        xt, kt = int((c[arm[1]] == 1).sum()), int((c[arm[1]] >= 0).sum())
        xc, kc = int((c[arm[0]] == 1).sum()), int((c[arm[0]] >= 0).sum())
        o["conversion_rate_treated"], o["conversion_rate_control"] = ratio(xt, kt), ratio(xc, kc)
        o["uplift"] = o["conversion_rate_treated"] - o["conversion_rate_control"]
        o["uplift_low"], o["uplift_high"] = newcombe(xt, kt, xc, kc)
        o["incremental_conversions"] = o["uplift"] * nt
    if rev is not None:
        st, n_t = total("revenue", arm[1])
        sc, n_c = total("revenue", arm[0])
        xt2 = rev[arm[1]]
        xt2 = xt2[np.isfinite(xt2)]
        xc2 = rev[arm[0]]
        xc2 = xc2[np.isfinite(xc2)]
        mt, mc = ratio(st, n_t), ratio(sc, n_c)
        dd = mt - mc
        se = math.sqrt(variance(xt2, mt) / n_t + variance(xc2, mc) / n_c) \
            if n_t > 0 and n_c > 0 else NAN
        o["incremental_revenue"] = dd * nt
        o["incremental_revenue_low"] = (dd - Z * se) * nt
        o["incremental_revenue_high"] = (dd + Z * se) * nt
    if have_mkt:
        st, n_t = total("marketing_cost", arm[1])
        sc, n_c = total("marketing_cost", arm[0])
        o["campaign_cost"] = (ratio(st, n_t) - ratio(sc, n_c)) * nt
    if o["campaign_cost"] > 0:
        o["incremental_roi"] = (o["incremental_revenue"] - o["campaign_cost"]) / o["campaign_cost"]
    return o


def action(o, t, have_clv, have_score):
    value, value_t = (o["clv_mean"], t["clv_mean"]) if have_clv else (o["revenue_mean"], t["revenue_mean"])
    risk, risk_t = ((o["churn_score_mean"], t["churn_score_mean"]) if have_score
                    else (o["churn_rate_observed"], t["churn_rate_observed"]))
    responds = o["uplift_low"] > 0
    if responds and o["campaign_cost"] >= 0 and o["incremental_revenue_low"] > o["campaign_cost"]:
        return 1
    if not o["customers"] > 0 or value != value or value_t != value_t:
        return -1
    if risk > risk_t and value >= value_t:
        return 0
    if value < value_t and (risk > risk_t or o["uplift_low"] <= 0):  # NaN: no campaign data
        return 3
    return 2


def table(d, labels, k):
    """Rows as custseg orders them: segments 0..k-1, -2 (no segment) when any, -1 (total)."""
    n = len(labels)
    rows = [row(labels == g, d, n, g) for g in range(k)]
    if (labels == -1).any():
        rows.append(row(labels == -1, d, n, -2))
    total = row(np.ones(n, bool), d, n, -1)
    for o in rows[:k]:
        o["action"] = action(o, total, d.get("clv") is not None, d.get("churn_score") is not None)
    campaign_total(rows, total)
    rows.append(total)
    return rows


def campaign_total(rows, t):
    """docs/roi.md, "The campaign in the total row": the rows' effects added up in row order
    (the uplift: incremental conversions / N_t), the limits combined as sqrt of the summed
    squared half-widths (weights n_t / N_t for the uplift); rows without treated customers
    add nothing."""
    rs = [o for o in rows if o["treated"] > 0]
    nt = sum(o["treated"] for o in rs)
    if not nt > 0:
        return
    def mover(v, w, key, lo, hi):
        return (v - math.sqrt(sum((w(o) * (o[key] - o[lo])) ** 2 for o in rs)),
                v + math.sqrt(sum((w(o) * (o[hi] - o[key])) ** 2 for o in rs)))
    if not math.isnan(t["uplift"]):
        t["incremental_conversions"] = sum(o["incremental_conversions"] for o in rs)
        t["uplift"] = t["incremental_conversions"] / nt
        t["uplift_low"], t["uplift_high"] = mover(t["uplift"], lambda o: o["treated"] / nt,
                                                  "uplift", "uplift_low", "uplift_high")
    if not math.isnan(t["incremental_revenue"]):
        t["incremental_revenue"] = sum(o["incremental_revenue"] for o in rs)
        t["incremental_revenue_low"], t["incremental_revenue_high"] = mover(
            t["incremental_revenue"], lambda o: 1.0, "incremental_revenue",
            "incremental_revenue_low", "incremental_revenue_high")
    if not math.isnan(t["campaign_cost"]):
        t["campaign_cost"] = sum(o["campaign_cost"] for o in rs)
    t["incremental_roi"] = (t["incremental_revenue"] - t["campaign_cost"]) / t["campaign_cost"] \
        if t["campaign_cost"] > 0 else math.nan


def inputs(store, churn=None, clv=None):
    """The inputs custseg reads, from the store and the results files."""
    d = {}
    with h5py.File(store, "r") as f:
        c = f["customers"]
        for name in ("revenue", "marketing_cost", "acquisition_cost"):
            d[name] = c[name][...].astype(np.float64) if name in c else None
        for name in ("converted", "treated", "churned"):
            d[name] = flag(c[name][...]) if name in c else None
    d["churn_score"] = h5py.File(churn, "r")["churn/score"][...].astype(np.float64) if churn else None
    d["clv"] = h5py.File(clv, "r")["clv/value"][...].astype(np.float64) if clv else None
    return d


def same(a, b, rtol):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if rtol == 0:
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-300


# Totals, counts and the values computed from them without a multiply-add are compared bit for
# bit; the intervals (Wilson's n p (1 - p) + z^2/4, the deviations x - m squared, which the C
# compiler may fuse into one rounding) to a relative 1e-9.
EXACT = {"segment", "customers", "share", "revenue_total", "revenue_mean", "acquisition_cost_total",
         "acquisition_cost_mean", "marketing_cost_total", "conversions", "conversion_rate",
         "churn_labelled", "churn_rate_observed", "churn_score_mean", "clv_mean", "clv_total",
         "revenue_at_risk", "treated", "control", "conversion_rate_treated",
         "conversion_rate_control", "uplift", "roi", "incremental_conversions",
         "incremental_revenue", "campaign_cost", "incremental_roi", "action"}


def compare(got, want, where):
    """Differences between the table read from /roi/table and the oracle's rows."""
    bad = []
    if len(got) != len(want):
        return [f"{where}: {len(got)} rows, the oracle has {len(want)}"]
    for g, w in zip(got, want):
        for name, v in w.items():
            if not same(g[name], v, 0 if name in EXACT else 1e-9):
                bad.append(f"{where}: segment {w['segment']} {name}: custseg {g[name]!r}, oracle {v!r}")
    return bad


def fingerprint(custseg, store):
    """The store's fingerprint as `custseg inspect` reports it."""
    subprocess.run([custseg, "inspect", store, "--quiet", "--summary", store + ".inspect.json"],
                   check=True, stdout=subprocess.DEVNULL, timeout=600)
    with open(store + ".inspect.json") as f:
        return json.load(f)["input"]["fingerprint"]


def write_segments(path, labels, fp):
    """A minimal segment results file: /segments/labels, /segments/sizes, /run@input_fingerprint."""
    labels = np.asarray(labels, dtype=np.int32)
    k = int(labels.max()) + 1
    with h5py.File(path, "w") as f:
        f["segments/labels"] = labels
        f["segments/sizes"] = np.bincount(labels[labels >= 0], minlength=k).astype(np.int64)
        f.create_group("run").attrs["input_fingerprint"] = fp
