#!/usr/bin/python3
"""`custseg import` of transactions: rows in random order, sorted in bounded memory.

A customers CSV (ids in shuffled order, some customers without purchases) and a
transactions file as shops write them (whitespace-separated, right-aligned, yyyymmdd dates, an
extra column, CRLF, same-day rows, rows in random order) are imported with --sort-memory at its
minimum, which forces hundreds of sort runs and multi-level merges. The store must equal what
tests/py/cdnow_store.write_store (numpy, a stable sort by customer row then time) writes from
the same rows: /customers/customer_id, txn_offset and /transactions identical. Three variants:
customers in shuffled order (transactions sorted twice), customers in increasing id order
(joined twice instead), and no customers file (customers = the distinct ids). Transactions of
unknown customers are skipped and counted with --skip-bad-rows. Then `custseg clv` runs on the
imported store and gives the same /clv as on the numpy-written one. Last, text ids
(--hash-ids): the same data keyed "C-<id>" gives the same store with ids XXH3-64(text) >> 1.

usage: check_import_txn.py   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import xxhash

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cdnow_store  # noqa: E402

CUSTSEG = os.environ["CUSTSEG"]
MPI = os.environ.get("MPIEXEC", "mpirun").split() + ["--oversubscribe"]
WORK = os.path.join(os.environ["CS_TEST_DIR"], "import_txn")
os.makedirs(WORK, exist_ok=True)
failures = []


def path(name):
    return os.path.join(WORK, name)


def custseg(ranks, *args):
    cmd = MPI + ["-n", str(ranks), CUSTSEG, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(f"FAIL: `{' '.join(cmd)}` exited {p.returncode}:\n{p.stderr}")
        sys.exit(1)
    return p


rng = np.random.default_rng(77)
N, M = 1500, 40000
ids = rng.choice(np.arange(100, 100 + 20 * N), N, replace=False)
buyers = ids[: int(N * 0.9)]                      # the last 10% never buy
cust = rng.choice(buyers, M)
start = cdnow_store.day_number("2023-01-01")
day = start + rng.integers(0, 540, M)
day[rng.random(M) < 0.1] = day[0]                 # many rows on one day: ties by file order
cds = rng.integers(1, 6, M)
cents = rng.integers(0, 20000, M)
cents[rng.random(M) < 0.01] = 0
unknown = rng.random(M) < 0.002                   # customers that are not in the file
cust = np.where(unknown, 10**9 + rng.integers(0, 50, M), cust)
dates = [np.datetime64(int(d), "D").astype(str).replace("-", "") for d in day]


def write_txn(name, rows):
    with open(path(name), "w", newline="") as f:
        f.write("    cust     date  cds    amount\r\n")
        for i in rows:
            f.write(f"{cust[i]:8d} {dates[i]} {cds[i]:4d} {cents[i] // 100:6d}.{cents[i] % 100:02d}\r\n")
    return path(name)


txn = write_txn("txn.txt", range(M))              # already in random order
txn_args = ["--transactions-csv", txn, "--txn-delimiter", "whitespace",
            "--txn-date-format", "yyyymmdd", "--txn-id-column", "cust", "--sort-memory", "16384",
            "--skip-bad-rows"]
amount = cents / 100.0                            # what strtod makes of "123.45"
known = ~unknown


def reference(name, customer_ids):
    ref = path(name)
    keep = known if customer_ids is not None else np.ones(M, bool)
    cid = customer_ids if customer_ids is not None else np.unique(cust)
    cdnow_store.write_store(ref, cid, cust[keep], day[keep].astype(np.float64), amount[keep])
    return ref


def compare(store, ref, tag):
    for d in ("customers/customer_id", "customers/txn_offset", "transactions/customer_id",
              "transactions/time", "transactions/amount"):
        with h5py.File(store, "r") as a, h5py.File(ref, "r") as b:
            x, y = a[d][...], b[d][...]
        if x.shape != y.shape or not np.array_equal(x, y):
            diff = "" if x.shape != y.shape else f", first at {int(np.flatnonzero(x != y)[0])}"
            failures.append(f"{tag}: /{d} differs from numpy's ({x.shape} vs {y.shape}{diff})")


def check_summary(summ, tag, resorted, want_unknown):
    r = json.load(open(summ))["result"]
    t = r["transactions_csv"]
    if t["rows"] != M or t["skipped_unknown_customer"] != want_unknown or t["skipped_bad"] != 0:
        failures.append(f"{tag}: counts {t}, wanted {M} rows, {want_unknown} unknown")
    if t["sorted_twice"] != resorted:
        failures.append(f"{tag}: sorted_twice {t['sorted_twice']}, wanted {resorted}")
    s = r["sort"]
    if s["runs"] < 200 or s["merges"] < 10:
        failures.append(f"{tag}: only {s['runs']} runs and {s['merges']} merges with the "
                        "smallest --sort-memory")
    print(f"  {tag}: {r['customers']} customers, {r['transactions']} transactions; sort: "
          f"{s['runs']} runs, {s['merges']} merges, {s['bytes_spilled'] / 1e6:.1f} MB spilled")
    return r


# 1. customers in shuffled order: the transactions are sorted a second time, by row.
order = rng.permutation(N)
with open(path("customers.csv"), "w") as f:
    f.write("customer_id,age\n")
    for i in order:
        f.write(f"{ids[i]},{20 + i % 60}\n")
store1 = path("shuffled.h5")
custseg(3, "import", "--customers-csv", path("customers.csv"), *txn_args, "--output", store1,
        "--summary", path("shuffled.json"))
check_summary(path("shuffled.json"), "shuffled customers", True, int(unknown.sum()))
ref1 = reference("shuffled_ref.h5", ids[order])
compare(store1, ref1, "shuffled customers")

# 2. customers in increasing id order: joined twice, no second sort.
with open(path("customers_sorted.csv"), "w") as f:
    f.write("customer_id,age\n")
    for i in np.argsort(ids):
        f.write(f"{ids[i]},{20 + i % 60}\n")
store2 = path("sorted.h5")
custseg(1, "import", "--customers-csv", path("customers_sorted.csv"), *txn_args, "--output",
        store2, "--summary", path("sorted.json"))
check_summary(path("sorted.json"), "customers by id", False, int(unknown.sum()))
compare(store2, reference("sorted_ref.h5", np.sort(ids)), "customers by id")

# 3. no customers file: the customers are the distinct ids (unknown ones included).
store3 = path("txn_only.h5")
custseg(2, "import", *txn_args, "--output", store3, "--summary", path("txn_only.json"))
r = check_summary(path("txn_only.json"), "transactions only", False, 0)
compare(store3, reference("txn_only_ref.h5", None), "transactions only")

# 4. `custseg clv` on the imported store: the same /clv as on numpy's.
clv_args = ["--calibration-end", "2024-03-31", "--time-unit", "week", "--quiet"]
custseg(2, "clv", "--input", store1, "--output", path("clv.h5"), *clv_args)
custseg(2, "clv", "--input", ref1, "--output", path("clv_ref.h5"), *clv_args)
d = subprocess.run(["h5diff", path("clv.h5"), path("clv_ref.h5"), "/clv"], capture_output=True,
                   text=True)
if d.returncode != 0:
    failures.append(f"clv on the imported store differs from clv on numpy's:\n{d.stdout[:2000]}")

# 5. Text ids (--hash-ids): the same customers keyed "C-<id>" in both files (shuffled order)
#    give the store of variant 1 with every id replaced by XXH3-64("C-<id>") >> 1; a repeated
#    text id is an error naming both lines.
def hashed(v):
    return np.array([xxhash.xxh3_64_intdigest(f"C-{x}".encode()) >> 1 for x in v], np.int64)


with open(path("customers_text.csv"), "w") as f:
    f.write("customer_id,age\n")
    for i in range(N):
        f.write(f"C-{ids[i]},{20 + i % 60}\n")
with open(path("txn_text.txt"), "w") as f:
    f.write("cust date cds amount\n")
    for i in range(M):
        f.write(f"C-{cust[i]} {dates[i]} {cds[i]} {cents[i] // 100}.{cents[i] % 100:02d}\n")
text_args = [a if a != txn else path("txn_text.txt") for a in txn_args]
store5 = path("text_ids.h5")
custseg(2, "import", "--customers-csv", path("customers_text.csv"), *text_args, "--hash-ids",
        "--output", store5, "--quiet")
ref5 = path("text_ids_ref.h5")
hcust = hashed(cust)
cdnow_store.write_store(ref5, hashed(ids), hcust[known], day[known].astype(np.float64),
                        amount[known])
compare(store5, ref5, "text ids")
with open(path("customers_text_dup.csv"), "w") as f:
    f.write(f"customer_id,age\nC-1,30\nC-2,31\nC-1,32\n")
p = subprocess.run(MPI + ["-n", "1", CUSTSEG, "import", "--customers-csv",
                          path("customers_text_dup.csv"), "--hash-ids", "--output",
                          path("dup.h5")], capture_output=True, text=True, timeout=60)
want = (f"customers_text_dup.csv:4: column 'customer_id': customer id "
        f"{hashed([1])[0]} is repeated (first on line 2)")
if p.returncode != 2 or want not in p.stderr or os.path.exists(path("dup.h5")):
    failures.append(f"a repeated text id: exit {p.returncode}, wanted 2 and '{want}': {p.stderr}")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: {M} transactions in random order imported in bounded memory and sorted as numpy "
      "sorts them (3 variants); clv runs on the store")
