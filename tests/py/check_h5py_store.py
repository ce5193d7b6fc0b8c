#!/usr/bin/python3
"""A store written by h5py alone (mixed widths, big-endian floats, unsorted ids, NaN,
variable- and fixed-length category names) is read by `custseg inspect` as it is, and its
statistics match numpy's (a mean whose sum overflows is still finite, every mean comes from
an exact sum, and a negative mean is negative: they had all been 0). A store of 400 numeric
columns has statistics for every one (the columns after the 320th had been left out
silently), and a column of +0 and -0 shows 0 at any rank count. Storage as h5py writes it: a
chunked column whose chunks were not all written reads as its fill value (a collective read
of it had hung at 2 and more ranks), compressed and space-padded categories read as h5py
reads them; an lzf column (a filter this HDF5 lacks) and a
dangling external link (it had dropped out of the columns silently) are one clear error each.
Values in an external raw file with a relative name are found next to the store from any
working directory, and a missing raw file is named.

usage: check_h5py_store.py RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np

ranks = sys.argv[1]
work = os.path.join(os.environ["CS_TEST_DIR"], f"h5py_store-np{ranks}")
os.makedirs(work, exist_ok=True)
store, summary = os.path.join(work, "store.h5"), os.path.join(work, "summary.json")
here = os.path.dirname(os.path.abspath(__file__))
subprocess.run([sys.executable, os.path.join(here, "make_store.py"), "good", store], check=True)

cmd = os.environ["MPIEXEC"].split() + ["--oversubscribe", "-n", ranks, os.environ["CUSTSEG"],
                                       "inspect", store, "--summary", summary, "--quiet"]
subprocess.run(cmd, check=True, timeout=300)
got = json.load(open(summary))
cols = {c["name"]: c for c in got["columns"]}

failures = []
with h5py.File(store, "r") as f:
    g = f["customers"]
    n = len(g["customer_id"])
    if got["input"]["customers"] != n:
        failures.append(f"customers {got['input']['customers']} != {n}")
    for name, ds in g.items():
        x = ds[...].astype(np.float64)
        c = cols[name]
        fin = x[np.isfinite(x)]
        want = {"finite": fin.size, "missing": int(np.isnan(x).sum()),
                "min": fin.min(), "max": fin.max(), "mean": fin.mean()}
        for k, v in want.items():
            if not math.isclose(c[k], v, rel_tol=1e-12, abs_tol=1e-9):
                failures.append(f"{name}.{k}: custseg {c[k]} numpy {v}")
        if "categories" in ds.attrs:
            levels = [s.decode() if isinstance(s, bytes) else str(s) for s in ds.attrs["categories"]]
            if c.get("categories") != levels:
                failures.append(f"{name}.categories: {c.get('categories')} != {levels}")
    types = {"age": "uint8", "income": "float64", "visits": "int16", "score": "float32",
             "tier": "uint32", "churned": "int64", "treated": "enum(int8)"}
    for name, t in types.items():
        if cols[name]["type"] != t:
            failures.append(f"{name}: type {cols[name]['type']} != {t}")
    if not cols["churned"]["reserved"] or cols["age"]["reserved"]:
        failures.append("reserved flags wrong")

# txn_offset holds N+1 values; its statistics had used the first N.
tstore = os.path.join(work, "txn.h5")
subprocess.run([sys.executable, os.path.join(here, "make_store.py"), "txn_ok", tstore], check=True)
subprocess.run(cmd[:-4] + [tstore, "--summary", summary, "--quiet"], check=True, timeout=300,
               stdout=subprocess.DEVNULL)
tc = {c["name"]: c for c in json.load(open(summary))["columns"]}["txn_offset"]
with h5py.File(tstore, "r") as f:
    off = f["customers/txn_offset"][...].astype(np.float64)
if tc["finite"] != off.size or tc["max"] != off.max() or not math.isclose(tc["mean"], off.mean()):
    failures.append(f"txn_offset: custseg {tc}, numpy {off.size} values, max {off.max()}, "
                    f"mean {off.mean()}")

wide = os.path.join(work, "wide.h5")
with h5py.File(wide, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = 1
    g["customer_id"] = np.arange(10, dtype=np.int64)
    g["zeros"] = np.array([0., -0., 0., -0., -0., 0., -0., 0., -0., -0.])
    g["plan"] = np.arange(10, dtype=np.int8) % 2  # a level with a newline: one table line
    g["huge"] = np.array([np.finfo(np.float64).max] * 2 + [1.0] * 8)  # a sum beyond doubles
    # a plain running sum loses the ones next to 1e16, differently for each split of the rows
    g["order"] = np.array([1e16, 1, -1e16, 1, 1e16, 1, -1e16, 1, 3, 0.1])
    # an exact sum of 0, and one of 2^-53: the bins are one number before the division (each
    # bin divided and rounded on its own had left 3.3e-24 and a 4th digit wrong)
    g["cancel0"] = np.array([1.1351017281236315, -0.27565069942382714, -0.8594510286998044] + [0.] * 7)
    g["cancel1"] = np.array([1.0, -(1 - 2.0 ** -53)] + [0.] * 8)
    # negative sums: the carried bins cancelled to a mean of 0 for every one of them
    g["negative"] = -np.arange(1., 11.)
    g["negmixed"] = np.array([-10., 1, 1, 1, 1, 1, 1, 1, 1, -20])
    g["negtiny"] = np.array([-(2.0 ** -1074), -3e-300] + [0.] * 8)
    g["plan"].attrs["categories"] = np.array(["two\nlines".encode(), b"one"], dtype=h5py.string_dtype())
    for j in range(400):
        g["x%03d" % j] = np.full(10, np.nan) if j >= 390 else np.arange(10.) + j
p = subprocess.run(cmd[:-4] + [wide, "--summary", summary, "--quiet"], capture_output=True,
                   text=True)
wcols = {c["name"]: c for c in json.load(open(summary))["columns"]} if p.returncode == 0 else {}
if p.returncode != 0 or "x399: no finite values" not in p.stdout + p.stderr:
    failures.append(f"400 columns: exit {p.returncode}, the all-NaN x399 not reported")
for j in (0, 319, 320, 389):
    c = wcols.get("x%03d" % j, {})
    if c.get("finite") != 10 or c.get("min") != j or c.get("max") != j + 9:
        failures.append(f"400 columns: x{j:03d} has no statistics: {c}")
# The mean of values near the largest double: their sum overflows, the mean does not (it was inf).
h, want = wcols.get("huge", {}), math.fsum(np.array([np.finfo(np.float64).max] * 2 + [1.0] * 8)
                                           * 2.0 ** -64) / 10 * 2.0 ** 64
if not h.get("mean") or not math.isclose(h["mean"], want, rel_tol=1e-12):
    failures.append(f"a column of two 1.8e308 and eight 1: mean {h.get('mean')}, wanted {want}")
# The mean's sum is exact: the same at any ranks and threads, and here right to the last digit
# (a plain double sum gave 0.41, and values that differed with the ranks).
from fractions import Fraction
for name, values in (("order", [1e16, 1, -1e16, 1, 1e16, 1, -1e16, 1, 3, 0.1]),
                     ("cancel0", [1.1351017281236315, -0.27565069942382714, -0.8594510286998044]),
                     ("cancel1", [1.0, -(1 - 2.0 ** -53)]),
                     ("negative", [-float(v) for v in range(1, 11)]),
                     ("negmixed", [-10., 1, 1, 1, 1, 1, 1, 1, 1, -20]),
                     ("negtiny", [-(2.0 ** -1074), -3e-300])):
    want = float(sum(Fraction(v) for v in values) / 10)
    got = wcols.get(name, {}).get("mean")
    if got is None or (got != want and not math.isclose(got, want, rel_tol=2e-16)):
        failures.append(f"column {name} ({values}): mean {got}, wanted {want} (exact sum / 10)")
z = wcols.get("zeros", {})
if z.get("min") != 0 or math.copysign(1, z.get("min", 1)) < 0 or math.copysign(1, z.get("max", 1)) < 0:
    failures.append(f"a column of +0 and -0: min {z.get('min')} max {z.get('max')}, wanted 0 and 0")
pl = [l for l in p.stdout.splitlines() if l.startswith("plan ")]
if not pl or "0=two\\nlines 1=one" not in pl[0]:
    failures.append(f"a level with a newline is printed as {pl}")
zl = [l for l in p.stdout.splitlines() if l.startswith("zeros ")]
if not zl or "-0" in zl[0]:
    failures.append(f"a column of +0 and -0 is printed as {zl}")

# Storage layouts of h5py.
lay = os.path.join(work, "layouts.h5")
n = 3000
with h5py.File(lay, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = 1
    g["customer_id"] = np.arange(1, n + 1, dtype=np.int64)
    d = g.create_dataset("app", shape=(n,), dtype="f4", chunks=(100,), fillvalue=np.nan)
    d[1000:2000] = 1.5  # written chunks in the middle rank's rows only
    g.create_dataset("spend", data=np.arange(n, dtype=np.float64), chunks=(333,), compression="gzip",
                     shuffle=True, fletcher32=True)
    plan = g.create_dataset("plan", data=np.arange(n, dtype=np.int8) % 2)
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(8)
    tid.set_strpad(h5py.h5t.STR_SPACEPAD)
    plan.attrs.create("categories", np.array([b"basic   ", b"plus    "], dtype="S8"), dtype=h5py.Datatype(tid))
p = subprocess.run(cmd[:-4] + [lay, "--summary", summary, "--quiet"], capture_output=True,
                   text=True, timeout=120)
lcols = {c["name"]: c for c in json.load(open(summary))["columns"]} if p.returncode == 0 else {}
if p.returncode != 0:
    failures.append(f"h5py layouts: exit {p.returncode}: {p.stderr.strip()[-300:]}")
elif (lcols["app"]["missing"], lcols["app"]["finite"]) != (n - 1000, 1000):
    failures.append(f"unwritten chunks: {lcols['app']}, wanted {n - 1000} missing")
elif lcols["spend"]["max"] != n - 1 or lcols["plan"].get("categories") != ["basic", "plus"]:
    failures.append(f"gzip column {lcols['spend']} or space-padded levels {lcols['plan']}")
# Values in an external raw file (h5py's `external=`, a relative name): found next to the store
# from any working directory (HDF5 had looked in the job's own, and failed with exit 3 naming
# no file), and a missing one named.
ext_dir = os.path.join(work, "ext")
os.makedirs(os.path.join(ext_dir, "raw"), exist_ok=True)
ext = os.path.join(ext_dir, "external.h5")
with h5py.File(ext, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = 1
    g["customer_id"] = np.arange(1, n + 1, dtype=np.int64)
    g.create_dataset("age", shape=(n,), dtype="<i2", external=[("raw/age.bin", 0, n * 2)])
for d in (ext_dir, work):  # h5py resolves the name in its working directory: write it there
    cwd = os.getcwd()
    os.chdir(d)
    if d == ext_dir:
        with h5py.File(ext, "r+") as f:
            f["customers/age"][...] = np.arange(n) % 90
    os.chdir(cwd)
p = subprocess.run(cmd[:-4] + [ext, "--summary", summary, "--quiet"], capture_output=True,
                   text=True, timeout=120, cwd=work)
ecols = {c["name"]: c for c in json.load(open(summary))["columns"]} if p.returncode == 0 else {}
if p.returncode != 0 or ecols["age"]["max"] != 89 or ecols["age"]["finite"] != n:
    failures.append(f"external raw file read from another directory: exit {p.returncode}, "
                    f"{ecols.get('age')}, {p.stderr.strip()[-300:]}")
os.rename(os.path.join(ext_dir, "raw", "age.bin"), os.path.join(ext_dir, "raw", "gone.bin"))
# HDF5_EXTFILE_PREFIX, when set, decides where relative names are found (HDF5's rule), and the
# check that names a missing raw file follows it (it had looked next to the store only).
alt = os.path.join(work, "alt")
os.makedirs(os.path.join(alt, "raw"), exist_ok=True)
with open(os.path.join(ext_dir, "raw", "gone.bin"), "rb") as src, \
        open(os.path.join(alt, "raw", "age.bin"), "wb") as dst:
    dst.write(src.read())
p = subprocess.run(cmd[:-4] + [ext, "--summary", summary, "--quiet"], capture_output=True,
                   text=True, timeout=120, env=dict(os.environ, HDF5_EXTFILE_PREFIX=alt))
if p.returncode != 0:
    failures.append(f"external raw file under HDF5_EXTFILE_PREFIX: exit {p.returncode}, "
                    f"{p.stderr.strip()[-300:]}")
# Columns behind links: a soft link, and an external link into another file whose data lie at
# other offsets (padding first). Rows of contiguous columns are read with pread(2) at the
# dataset's offset, which must be taken in the file the dataset is in.
other = os.path.join(work, "other.h5")
with h5py.File(other, "w") as f:
    f["pad"] = np.zeros(4096)
    f["income"] = np.arange(n, dtype=np.float64) * 3 + 7
linked = os.path.join(work, "linked.h5")
with h5py.File(linked, "w") as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = 1
    g["customer_id"] = np.arange(1, n + 1, dtype=np.int64)
    g["spend_data"] = np.arange(n, dtype=np.int32) % 50
    g["spend"] = h5py.SoftLink("/customers/spend_data")
    g["income"] = h5py.ExternalLink("other.h5", "/income")
p = subprocess.run(cmd[:-4] + [linked, "--summary", summary, "--quiet"], capture_output=True,
                   text=True, timeout=120, cwd=work)
kcols = {c["name"]: c for c in json.load(open(summary))["columns"]} if p.returncode == 0 else {}
if p.returncode != 0:
    failures.append(f"linked columns: exit {p.returncode}: {p.stderr.strip()[-300:]}")
elif ((kcols["income"]["min"], kcols["income"]["max"], kcols["income"]["mean"]) !=
      (7, (n - 1) * 3 + 7, (n - 1) * 1.5 + 7) or kcols["spend"]["max"] != 49):
    failures.append(f"linked columns read wrongly: {kcols['income']}, {kcols['spend']}")
# A user block, and a column created but never written (h5py allocates no storage; its fill
# value is its value): H5Dget_offset is the user block's size plus HADDR_UNDEF there, a
# small valid-looking offset, which the direct read had taken (income read as garbage, exit 0).
ub = os.path.join(work, "userblock.h5")
with h5py.File(ub, "w", userblock_size=512) as f:
    g = f.create_group("customers")
    g.attrs["schema_version"] = 1
    g["customer_id"] = np.arange(1, n + 1, dtype=np.int64)
    g["spend"] = np.arange(n, dtype=np.float64) % 70
    g.create_dataset("income", shape=(n,), dtype=np.float64, fillvalue=5.0)
p = subprocess.run(cmd[:-4] + [ub, "--summary", summary, "--quiet"], capture_output=True,
                   text=True, timeout=120)
ucols = {c["name"]: c for c in json.load(open(summary))["columns"]} if p.returncode == 0 else {}
if p.returncode != 0:
    failures.append(f"user block: exit {p.returncode}: {p.stderr.strip()[-300:]}")
elif ((ucols["income"]["min"], ucols["income"]["max"], ucols["income"]["finite"]) != (5, 5, n)
      or ucols["spend"]["max"] != 69):
    failures.append(f"user block: unwritten column {ucols['income']}, spend {ucols['spend']}")
for case, want in (("lzf", "/customers/spend is stored with HDF5 filter 32000 ('lzf'), which this HDF5 library does not have"),
                   ("link", "/customers/income is an external link to gone.h5:/income, which cannot be opened"),
                   ("raw", "/customers/age keeps its values in the external file 'raw/age.bin', which cannot be read as")):
    bad = ext if case == "raw" else os.path.join(work, case + ".h5")
    if case != "raw":
        with h5py.File(bad, "w") as f:
            g = f.create_group("customers")
            g.attrs["schema_version"] = 1
            g["customer_id"] = np.arange(1, n + 1, dtype=np.int64)
            if case == "lzf":
                g.create_dataset("spend", data=np.arange(n, dtype=np.float64), compression="lzf")
            else:
                g["income"] = h5py.ExternalLink("gone.h5", "/income")
    p = subprocess.run(cmd[:-4] + [bad, "--quiet"], capture_output=True, text=True, timeout=120)
    errs = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
    if p.returncode != 2 or len(errs) != 1 or want not in errs[0]:
        failures.append(f"{case}: exit {p.returncode}, errors {errs}, wanted one with '{want}'")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: h5py store read at {ranks} ranks, {len(cols)} columns match numpy")
