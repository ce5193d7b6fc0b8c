#!/usr/bin/python3
"""`custseg import` of the CDNOW files as they are (../shared/data/cdnow, read in place), then
`custseg clv` on the imported store.

CDNOW_master.txt (whitespace-separated, right-aligned, a header line, CRLF, yyyymmdd dates,
dollar_value as the amount) and CDNOW_sample.txt (no header, five columns: the sample id is
the second) are imported without a customers file, so the customers are the distinct ids.
Each store must hold exactly the rows tests/py/cdnow_store.py writes with h5py
(/customers/customer_id, txn_offset, /transactions identical), and `custseg clv` with the
parameters of tests/py/check_clv.py (calibration to 1997-09-30, holdout to 1998-06-30, weeks,
12-month CLV) must give the same model and per-customer values to 1e-6 as on the h5py store,
and the parameters of the reference run (master) and the published ones (sample, 3
significant figures).

Exit 0 pass, 1 fail, 77 when the data is absent.
usage: check_import_cdnow.py   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import os
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "cdnow"))
sys.path.insert(0, HERE)
import cdnow_store  # noqa: E402

if not os.path.exists(os.path.join(DATA, "CDNOW_master.txt")):
    print(f"SKIP: {DATA}/CDNOW_master.txt is absent")
    sys.exit(77)

CUSTSEG = os.environ["CUSTSEG"]
MPI = os.environ.get("MPIEXEC", "mpirun").split() + ["--oversubscribe"]
WORK = os.path.join(os.environ["CS_TEST_DIR"], "import_cdnow")
os.makedirs(WORK, exist_ok=True)
failures = []
CLV = ["--calibration-end", "1997-09-30", "--holdout-end", "1998-06-30", "--time-unit", "week",
       "--horizon-months", "12", "--monthly-discount", "0.01", "--month-weeks", "4.345",
       "--quiet"]
MASTER_REF = {"r": 0.251624, "alpha": 4.788943, "a": 0.723434, "b": 2.161088, "p": 6.275360,
              "q": 3.624450, "gamma": 14.983683}
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74,
             "gamma": 15.44}


def path(name):
    return os.path.join(WORK, name)


def custseg(ranks, *args):
    cmd = MPI + ["-n", str(ranks), CUSTSEG, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(f"FAIL: `{' '.join(cmd)}` exited {p.returncode}:\n{p.stderr}")
        sys.exit(1)
    return p


def clv(store, tag):
    out = path(f"{tag}.h5")
    custseg(2, "clv", "--input", store, "--output", out, *CLV)
    with h5py.File(out, "r") as f:
        model = {k: float(v) for k, v in f["clv/model"].attrs.items()
                 if np.asarray(v).dtype.kind == "f"}
        cols = {k: f[f"clv/{k}"][...] for k in f["clv"] if isinstance(f[f"clv/{k}"], h5py.Dataset)}
    return model, cols


def run(name, args, master):
    store, ref = path(name.replace(".txt", ".h5")), path(name.replace(".txt", "_h5py.h5"))
    src = os.path.join(DATA, name)
    custseg(3, "import", "--transactions-csv", src, "--txn-delimiter", "whitespace",
            "--txn-date-format", "yyyymmdd", *args, "--output", store, "--quiet")
    n, m = cdnow_store.cdnow_to_store(src, ref, master=master)
    for d in ("customers/customer_id", "customers/txn_offset", "transactions/customer_id",
              "transactions/time", "transactions/amount"):
        with h5py.File(store, "r") as a, h5py.File(ref, "r") as b:
            if not np.array_equal(a[d][...], b[d][...]):
                failures.append(f"{name}: /{d} differs from cdnow_store.py's")
    got, got_cols = clv(store, name + "_clv")
    want, want_cols = clv(ref, name + "_clv_h5py")
    for k, v in want.items():
        if not np.isclose(got.get(k, np.nan), v, rtol=1e-6, atol=0):
            failures.append(f"{name}: /clv/model@{k} {got.get(k)} vs {v} on the h5py store")
    for k, v in want_cols.items():
        if not np.allclose(got_cols[k], v, rtol=1e-6, atol=1e-12, equal_nan=True):
            failures.append(f"{name}: /clv/{k} differs from clv on the h5py store")
    ref_params = MASTER_REF if master else PUBLISHED
    for k, v in ref_params.items():
        ok = (np.isclose(got[k], v, rtol=1e-5) if master
              else float(f"{got[k]:.3g}") == float(f"{v:.3g}"))
        if not ok:
            failures.append(f"{name}: {k} = {got[k]:.6f}, reference {v}")
    print(f"  {name}: {n} customers, {m} transactions; r {got['r']:.6f} alpha "
          f"{got['alpha']:.6f} a {got['a']:.6f} b {got['b']:.6f} p {got['p']:.6f} "
          f"q {got['q']:.6f} gamma {got['gamma']:.6f}")


# The master file as it is: its header names the columns.
run("CDNOW_master.txt", ["--txn-amount-column", "dollar_value"], master=True)
# The sample has no header; its second column is the sample id the papers use.
if os.path.exists(os.path.join(DATA, "CDNOW_sample.txt")):
    run("CDNOW_sample.txt", ["--txn-header", "no", "--txn-columns",
                             "master_id,customer_id,date,cds,amount"], master=False)

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok: CDNOW imported as it is; clv on it matches the h5py store and the references")
