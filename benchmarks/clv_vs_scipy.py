#!/usr/bin/python3
"""Benchmark: the BG/NBD + Gamma-Gamma fit of `custseg clv` against scipy.optimize on the same
likelihood (tests/py/clv_oracle.py), from the same RFM summary of a store's transactions.

scipy side: the oracle's RFM summary of the store (numpy, timed separately and not in the
ratio), then the two fits, timed: BFGS on log-parameters with the analytic gradient, by
default from one start point, (1, 1, 1, 1) and (1, 2, 1) (q > 1, where E[Z] exists; from
(1, 1, 1) BFGS stalls on CDNOW_sample), over every customer (no compression of
identical (x, t_x, T) rows, no Newton polish): what a careful scipy user would write.
--compress, --polish and --all-starts switch on the oracle's extras.
custseg side: `mpirun -n 1 --bind-to none custseg clv` with OMP_NUM_THREADS = --threads; its
fit time is the sum of the fit timers in the summary JSON (`timings_seconds`, keys with "fit"
in the name, each's "max" over ranks), all printed.
Prints both parameter sets, their max relative difference, and the time ratio (scipy /
custseg), each time the median of --repeat runs.

usage: clv_vs_scipy.py STORE [--threads 2] [--repeat 3] [--calibration-end D]
                       [--holdout-end D] [--time-unit week] [--workdir DIR] [--scipy-only]
                       [--custseg build/src/custseg]
Without --calibration-end, the last transaction day of the store is used (and passed to
custseg explicitly, so both sides split the same way). CDNOW: --calibration-end 1997-09-30.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
import cdnow_store  # noqa: E402
import clv_oracle as oracle  # noqa: E402

BG, GG = ("r", "alpha", "a", "b"), ("p", "q", "gamma")

ap = argparse.ArgumentParser()
ap.add_argument("store")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--calibration-end")
ap.add_argument("--holdout-end")
ap.add_argument("--time-unit", default="week", choices=sorted(oracle.UNIT_DAYS))
ap.add_argument("--workdir", default="/tmp/clv-bench")
ap.add_argument("--custseg", default=os.path.join(ROOT, "build", "src", "custseg"))
ap.add_argument("--scipy-only", action="store_true", help="do not run custseg")
ap.add_argument("--compress", action="store_true",
                help="scipy: fit identical (x, t_x, T) rows once, with weights")
ap.add_argument("--polish", action="store_true", help="scipy: Newton steps after BFGS")
ap.add_argument("--all-starts", action="store_true", help="scipy: the oracle's 3 start points")
a = ap.parse_args()
os.makedirs(a.workdir, exist_ok=True)

# ---- scipy ---------------------------------------------------------------------------------
t0 = time.perf_counter()
ids, off, tm, am = oracle.read_store(a.store)
t_read = time.perf_counter() - t0
cal = (cdnow_store.day_number(a.calibration_end) if a.calibration_end
       else int(np.floor(tm.max())) if len(tm) else 0)
hold = cdnow_store.day_number(a.holdout_end) if a.holdout_end else None
cal_arg = str(np.datetime64(cal, "D"))   # ISO dates: the form every date option accepts
t0 = time.perf_counter()
s = oracle.rfm_summary(off, tm, am, cal, hold, a.time_unit)
t_rfm = time.perf_counter() - t0
has = s["has_cal"]
x, tx, T, zbar = s["x"][has], s["t_x"][has], s["T"][has], s["zbar"][has]
print(f"store {a.store}: {len(ids)} customers, {len(tm)} transactions; calibration end day "
      f"{cal} ({np.datetime64(cal, 'D')}), {has.sum()} customers with calibration purchases, "
      f"{(x > 0).sum()} repeat buyers; unit {a.time_unit}")
print(f"scipy side: read {t_read:.3f} s, RFM summary (numpy) {t_rfm:.3f} s (not in the ratio); "
      f"fit: BFGS on log-params, analytic gradient, "
      f"{'3 starts' if a.all_starts else 'one start'}, "
      f"{'compressed rows' if a.compress else 'every customer'}"
      f"{', Newton polish' if a.polish else ''}")
one_bg, one_gg = [(1.0, 1.0, 1.0, 1.0)], [(1.0, 2.0, 1.0)]
times, bgf, ggf = [], None, None
for _ in range(a.repeat):
    t0 = time.perf_counter()
    bgf = oracle.fit_bgnbd(x, tx, T, compress=a.compress, polish=a.polish,
                           starts=None if a.all_starts else one_bg)
    t1 = time.perf_counter()
    ggf = oracle.fit_gg(x, zbar, polish=a.polish, starts=None if a.all_starts else one_gg)
    t2 = time.perf_counter()
    times.append((t1 - t0, t2 - t1))
t_sp_bg = statistics.median(t[0] for t in times)
t_sp_gg = statistics.median(t[1] for t in times)
t_sp = statistics.median(t[0] + t[1] for t in times)
sp = {**{k: bgf[k] for k in BG}, "bgnbd_loglik": bgf["loglik"],
      **{k: ggf[k] for k in GG}, "gg_loglik": ggf["loglik"]}
print(f"scipy fit (median of {a.repeat}): BG/NBD {t_sp_bg:.3f} s (max|grad| {bgf['gmax']:.1e}), "
      f"Gamma-Gamma {t_sp_gg:.3f} s on {ggf['n']} repeat buyers (max|grad| {ggf['gmax']:.1e}), "
      f"total {t_sp:.3f} s")


def fmt(d):
    return "  ".join(f"{k} {d[k]:.6f}" for k in (*BG, "bgnbd_loglik", *GG, "gg_loglik") if k in d)


print(f"scipy   {fmt(sp)}")
if a.scipy_only:
    sys.exit(0)

# ---- custseg -------------------------------------------------------------------------------
custseg = a.custseg
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS=str(a.threads))
res, summ = os.path.join(a.workdir, "clv.h5"), os.path.join(a.workdir, "clv.json")
cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-n", "1", custseg, "clv",
       "--input", a.store, "--output", res, "--summary", summ, "--calibration-end", cal_arg,
       "--time-unit", a.time_unit, "--threads", str(a.threads), "--quiet"]
if hold is not None:
    cmd += ["--holdout-end", str(np.datetime64(hold, "D"))]


def fit_timers(summary):
    """{name: seconds} of the fit timers: keys of timings_seconds containing "fit"; a value is
    a number or an object with max/mean/min (custseg writes min/mean/max over ranks)."""
    t = summary.get("timings_seconds", {})
    out = {}
    for k, v in t.items():
        if "fit" not in k.lower():
            continue
        if isinstance(v, dict):
            v = v.get("max", v.get("mean", v.get("min")))
        if isinstance(v, (int, float)):
            out[k] = float(v)
    return out, t


ours, all_timers = [], {}
for i in range(a.repeat):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"custseg failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
        sys.exit(1)
    summary = json.load(open(summ))
    fits, all_timers = fit_timers(summary)
    if not fits:
        print(f"no fit timer in {summ}: timings_seconds has {sorted(all_timers)}; "
              f"top-level keys {sorted(summary)}")
        break
    ours.append(fits)
import h5py  # noqa: E402

with h5py.File(res, "r") as f:
    attrs = f["clv/model"].attrs
    cs = {k: float(np.asarray(attrs[k]).ravel()[0]) for k in (*BG, "bgnbd_loglik", *GG, "gg_loglik")
          if k in attrs}
print(f"custseg {fmt(cs)}")
common = [k for k in (*BG, *GG) if k in cs]
rel = {k: abs(cs[k] - sp[k]) / abs(sp[k]) for k in common}
if rel:
    worst = max(rel, key=rel.get)
    print(f"max relative parameter difference {rel[worst]:.2e} ({worst}); log-likelihoods "
          f"differ by "
          f"{cs.get('bgnbd_loglik', np.nan) - sp['bgnbd_loglik']:+.2e} (BG/NBD), "
          f"{cs.get('gg_loglik', np.nan) - sp['gg_loglik']:+.2e} (Gamma-Gamma)")
print("custseg timers (max over ranks, last run): " + ", ".join(
    f"{k} {v['max'] if isinstance(v, dict) and 'max' in v else v}" for k, v in all_timers.items()))
if ours:
    names = sorted(ours[0])
    t_cs = statistics.median(sum(o.values()) for o in ours)
    parts = ", ".join(f"{k} {statistics.median(o[k] for o in ours):.4f} s" for k in names)
    print(f"fit time (median of {len(ours)}): custseg {t_cs:.4f} s ({parts}; 1 rank x "
          f"{a.threads} threads)  scipy {t_sp:.4f} s  ratio scipy/custseg "
          f"{t_sp / t_cs if t_cs > 0 else float('inf'):.1f}x")
