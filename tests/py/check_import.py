#!/usr/bin/python3
"""`custseg import` round trip: a customers CSV written here (ints, floats, text columns,
empty fields, an NA token, quoted fields with commas, quotes and a line break, CRLF line
ends and a byte-order mark, declared types in a schema) -> store -> h5py and numpy.

Checks: every column's stored type, values (integers exact, floats as Python parses them,
NaN where a field was empty or NA), category levels (byte order when inferred, declared order
when declared) and codes (-1 for missing); skipped columns absent; the summary's counts. Then
`custseg inspect` and `custseg segment` run on the store. With --skip-bad-rows, a copy of the
file with bad rows (ragged, non-numeric, repeated id, no id) imports to the same columns and
counts them. At RANKS > 1 the file must be identical (h5diff) to the 1-rank file.

usage: check_import.py RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import csv
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np

RANKS = sys.argv[1] if len(sys.argv) > 1 else "1"
CUSTSEG = os.environ["CUSTSEG"]
MPI = os.environ.get("MPIEXEC", "mpirun").split() + ["--oversubscribe"]
WORK = os.path.join(os.environ["CS_TEST_DIR"], f"import-np{RANKS}")
os.makedirs(WORK, exist_ok=True)
failures = []


def path(name):
    return os.path.join(WORK, name)


def custseg(ranks, *args, ok=True):
    cmd = MPI + ["-n", str(ranks), CUSTSEG, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if ok and p.returncode != 0:
        print(f"FAIL: `{' '.join(cmd)}` exited {p.returncode}:\n{p.stderr}")
        sys.exit(1)
    return p


# ---- the data -----------------------------------------------------------------------------
rng = np.random.default_rng(2024)
N = 3000
ids = rng.choice(np.arange(1, 40 * N), N, replace=False) * 7919 + 10**12   # unsorted, > 2^32
age = rng.integers(18, 90, N)
income = np.round(rng.lognormal(10.5, 0.6, N), 2)
income_missing = rng.random(N) < 0.05
visits = rng.poisson(4, N)                     # ints with empty fields -> float64 with NaN
visits_missing = rng.random(N) < 0.03
big = rng.integers(-2**62, 2**62, N)           # int64 beyond 2^53: must stay exact
sci = rng.normal(0, 1, N) * 1e3                # written in scientific notation
regions = np.array(["north", "south", "east", "west", "Zentral", "süd"])
region = regions[rng.integers(0, len(regions), N)]
region_missing = rng.random(N) < 0.04
plans = np.array(["basic", "plus", "premium"])
plan = plans[rng.integers(0, 3, N)]
plan_na = rng.random(N) < 0.05                 # written as NA (--na-values NA)
notes = np.array(['said "hi", left', "two\r\nlines", "  padded  ", "a,b,c", "x"])
note = notes[rng.integers(0, len(notes), N)]
score = rng.random(N).astype(np.float32)       # declared float32
tier = rng.integers(0, 256, N)                 # declared uint8
tiers = ["gold", "silver", "bronze"]           # declared categorical, this order
segment = rng.integers(0, 3, N)
segment_missing = rng.random(N) < 0.02
secret = rng.integers(0, 10**6, N)             # declared skip


def field_rows():
    for i in range(N):
        yield [str(ids[i]), str(age[i]),
               "" if income_missing[i] else f"{income[i]:.2f}",
               "" if visits_missing[i] else str(visits[i]),
               str(big[i]), f"{sci[i]:.6e}",
               "" if region_missing[i] else region[i],
               "NA" if plan_na[i] else plan[i],
               note[i], repr(float(score[i])), str(tier[i]),
               "" if segment_missing[i] else tiers[segment[i]], str(secret[i])]


HEADER = ["cid", "age", "income", "visits", "big", "sci", "region", "plan", "note", "score",
          "tier", "loyalty", "secret"]


def write_csv(name, extra_rows=()):
    """CRLF, a byte-order mark, minimal quoting; extra rows are inserted every 500 rows."""
    p = path(name)
    with open(p, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(HEADER)
        extra = list(extra_rows)
        for i, row in enumerate(field_rows()):
            if extra and i and i % 500 == 0:
                f.write(extra.pop(0) + "\r\n")
            w.writerow(row)
        for e in extra:
            f.write(e + "\r\n")
    return p


schema = path("schema.txt")
with open(schema, "w") as f:
    f.write("# declared types; the rest is inferred\n"
            "cid = id\n"
            "score = float32\n"
            "tier = uint8\n"
            "loyalty = categorical: gold, silver, bronze\n"
            "\n"
            "secret = skip\n")

cust = write_csv("customers.csv")
store, summ = path("store.h5"), path("store.json")
common = ["--schema", schema, "--na-values", "NA,NULL", "--infer-rows", "200"]
custseg(RANKS, "import", "--customers-csv", cust, "--output", store, "--summary", summ,
        "--chunk-rows", "700", *common)


# ---- check the store ------------------------------------------------------------------------
def levels_of(ds):
    return [s.decode() if isinstance(s, bytes) else str(s) for s in ds.attrs["categories"]]


def check_cat(g, name, values, missing, want_levels):
    ds = g[name]
    got_levels = levels_of(ds)
    if got_levels != want_levels:
        failures.append(f"{name}: levels {got_levels} != {want_levels}")
        return
    codes = ds[...].astype(np.int64)
    want = np.array([-1 if m else want_levels.index(v) for v, m in zip(values, missing)])
    if not np.array_equal(codes, want):
        bad = np.flatnonzero(codes != want)[:5]
        failures.append(f"{name}: codes differ at rows {bad.tolist()}")


def check_store(store, summ):
    with h5py.File(store, "r") as f:
        g = f["customers"]
        if int(g.attrs["schema_version"]) != 1:
            failures.append("schema_version is not 1")
        want_types = {"customer_id": "int64", "age": "int64", "income": "float64",
                      "visits": "float64", "big": "int64", "sci": "float64", "region": "int8",
                      "plan": "int8", "note": "int8", "score": "float32", "tier": "uint8",
                      "loyalty": "int8"}
        names = sorted(g.keys())
        if names != sorted(want_types):
            failures.append(f"columns {names}, wanted {sorted(want_types)} (secret skipped)")
        for k, t in want_types.items():
            if k in g and str(g[k].dtype) != t:
                failures.append(f"{k}: dtype {g[k].dtype}, wanted {t}")
        eq = {"customer_id": ids, "age": age, "big": big, "tier": tier}
        for k, v in eq.items():
            if k in g and not np.array_equal(g[k][...].astype(np.int64), v):
                failures.append(f"{k}: values differ")
        floats = {"income": np.where(income_missing, np.nan, income),
                  "visits": np.where(visits_missing, np.nan, visits.astype(np.float64)),
                  "sci": np.array([float(f"{x:.6e}") for x in sci]),
                  "score": score}
        for k, v in floats.items():
            if k in g:
                x = g[k][...]
                if not np.array_equal(x, v.astype(x.dtype), equal_nan=True):
                    failures.append(f"{k}: values differ (first at row "
                                    f"{int(np.flatnonzero(~((x == v) | np.isnan(x) & np.isnan(v)))[0])})")
        check_cat(g, "region", region, region_missing,
                  sorted(set(region[~region_missing].tolist()), key=lambda s: s.encode()))
        check_cat(g, "plan", plan, plan_na, sorted(set(plan[~plan_na].tolist()), key=str.encode))
        # libcsv trims spaces around unquoted fields; Python's csv quotes only fields with a
        # comma, a quote or a line break.
        note_read = np.array([n if any(c in n for c in ',"\r\n') else n.strip(" ") for n in note])
        check_cat(g, "note", note_read, np.zeros(N, bool),
                  sorted(set(note_read.tolist()), key=lambda s: s.encode()))
        check_cat(g, "loyalty", [tiers[s] for s in segment], segment_missing, tiers)
        if "transactions" in f or "txn_offset" in g:
            failures.append("a store without transactions has /transactions or txn_offset")
    s = json.load(open(summ))["result"]
    cols = {c["name"]: c for c in s["columns"]}
    if s["customers"] != N:
        failures.append(f"summary customers {s['customers']} != {N}")
    for k, m in (("income", income_missing.sum()), ("visits", visits_missing.sum()),
                 ("region", region_missing.sum()), ("plan", plan_na.sum()),
                 ("loyalty", segment_missing.sum()), ("age", 0)):
        if cols[k]["missing"] != m:
            failures.append(f"summary {k}.missing {cols[k]['missing']} != {m}")
    for k, o in (("score", "declared"), ("age", "inferred"), ("loyalty", "declared"),
                 ("customer_id", "declared")):  # cid = id in the schema
        if cols[k]["origin"] != o:
            failures.append(f"summary {k}.origin {cols[k]['origin']} != {o}")
    return s


check_store(store, summ)

# ---- other commands read it -------------------------------------------------------------------
p = custseg(RANKS, "inspect", store, "--summary", path("inspect.json"), "--quiet")
ins = json.load(open(path("inspect.json")))
if ins["input"]["customers"] != N:
    failures.append(f"inspect: {ins['input']['customers']} customers")
custseg(RANKS, "segment", "--input", store, "--output", path("seg.h5"), "--k", "3",
        "--features", "age,income,visits,region,loyalty", "--quiet")
with h5py.File(path("seg.h5"), "r") as f:
    if len(f["segments/labels"]) != N or int(f["segments/sizes"][...].sum()) != N:
        failures.append("segment: labels or sizes do not cover every customer")

# ---- bad rows, skipped and counted --------------------------------------------------------------
bad_rows = [f"{ids[0] + 1},30,100",                                   # ragged
            f"{ids[0] + 2},31,12x,1,1,1,north,plus,x,0.5,3,gold,1",  # income not a number
            f"{ids[5]},32,100,1,1,1,north,plus,x,0.5,3,gold,1",      # repeated id
            ",33,100,1,1,1,north,plus,x,0.5,3,gold,1",               # no id
            f"{ids[0] + 3},34,100,1,1,1,north,plus,x,0.5,999,gold,1",  # 999 does not fit uint8
            f"{ids[0] + 4},35,100,1,1,1,north,plus,x,0.5,3,platinum,1"]  # undeclared level
cust_bad = write_csv("customers_bad.csv", bad_rows)
p = custseg(RANKS, "import", "--customers-csv", cust_bad, "--output", path("store_bad.h5"),
            "--summary", path("store_bad.json"), "--skip-bad-rows", *common, ok=False)
if p.returncode != 0:
    failures.append(f"--skip-bad-rows: exit {p.returncode}: {p.stderr.strip()}")
else:
    warned = [l for l in p.stderr.splitlines() if "warning" in l and "skipped" in l]
    if len(warned) != 6:
        failures.append(f"--skip-bad-rows: {len(warned)} warning lines, wanted 6:\n" + p.stderr)
    s = check_store(path("store_bad.h5"), path("store_bad.json"))
    rows = s["customers_csv"]
    if (rows["rows"], rows["skipped_bad"], rows["skipped_repeated_id"]) != (N + 6, 5, 1):
        failures.append(f"--skip-bad-rows: counts {rows}, wanted rows {N + 6}, 5 bad, 1 repeated")
    # Without the option the first bad row is the error, and nothing is written.
    p = custseg(RANKS, "import", "--customers-csv", cust_bad, "--output", path("store_bad2.h5"),
                *common, ok=False)
    err = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
    data = open(cust_bad, "rb").read()   # physical lines: quoted line breaks count
    line = data[:data.index(("\r\n" + bad_rows[0] + "\r\n").encode()) + 2].count(b"\n") + 1
    want = f"{cust_bad}:{line}: 3 fields, but the header has 13"
    if p.returncode != 2 or len(err) != 1 or want not in err[0]:
        failures.append(f"bad rows without --skip-bad-rows: exit {p.returncode}, {err}; wanted "
                        f"'{want}'")
    if any(n.startswith(("store_bad2.h5", ".store_bad2.h5")) for n in os.listdir(WORK)):
        failures.append("a failed import left a file behind")

# ---- any number of ranks writes the same file ---------------------------------------------------
if RANKS != "1":
    one = path("store_np1.h5")
    custseg(1, "import", "--customers-csv", cust, "--output", one, "--chunk-rows", "700",
            "--quiet", *common)
    d = subprocess.run(["h5diff", one, store], capture_output=True, text=True)
    if d.returncode != 0:
        failures.append(f"the store differs between 1 and {RANKS} ranks:\n{d.stdout[:2000]}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: import round trip at {RANKS} ranks: {N} customers, 12 columns, bad rows counted")
