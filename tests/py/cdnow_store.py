#!/usr/bin/python3
"""Customer stores with transactions, written with h5py alone (no custseg code): the CDNOW
files converted as they are, and a small generated fixture for the CLV checks.

The layout is the store of docs/format.md plus the transactions extension read by
`custseg clv`: /customers/customer_id (int64, N, unique), /customers/txn_offset (int64, N+1),
/transactions/customer_id, /transactions/time (float64, days since 1970-01-01) and
/transactions/amount (float64), sorted by customer (in /customers row order) then time.

usage: cdnow_store.py SRC.txt OUT.h5 [--master]     convert CDNOW_sample.txt (or, with
                                                    --master, CDNOW_master.txt)
       cdnow_store.py --fixture OUT.h5 [--seed 5]   write the generated fixture
Run with Debian's /usr/bin/python3 (python3-h5py, python3-numpy).
"""
import argparse
import datetime
import sys

import h5py
import numpy as np

EPOCH = datetime.date(1970, 1, 1)


def day_number(value):
    """A date as custseg takes it (YYYY-MM-DD, YYYYMMDD or a plain day number) -> days since
    1970-01-01."""
    s = str(value).strip()
    if "-" in s[1:]:
        return (datetime.date.fromisoformat(s) - EPOCH).days
    if len(s) == 8 and s.isdigit():
        return (datetime.date(int(s[:4]), int(s[4:6]), int(s[6:])) - EPOCH).days
    return int(s)


def yyyymmdd_to_days(d):
    """Vectorised yyyymmdd integers -> days since 1970-01-01 (numpy's calendar arithmetic)."""
    d = np.asarray(d, dtype=np.int64)
    iso = np.char.add(np.char.add(np.char.add((d // 10000).astype(str), "-"),
                                  np.char.zfill((d // 100 % 100).astype(str), 2)),
                      np.char.add("-", np.char.zfill((d % 100).astype(str), 2)))
    return iso.astype("datetime64[D]").astype(np.int64)


def read_cdnow(path, master=False):
    """The rows of a CDNOW file, unchanged and in file order.

    Returns (customer_id, day, cds, dollars). customer_id is the sample id (2nd column) for
    CDNOW_sample.txt and the master id for CDNOW_master.txt; lines whose first field is not
    numeric (the master's header) are skipped, CRLF endings are accepted."""
    ncol = 4 if master else 5
    rows = []
    with open(path, "r", newline=None) as f:  # universal newlines: CRLF -> \n
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields or not fields[0].isdigit():
                continue  # header or blank line
            if len(fields) != ncol:
                raise ValueError(f"{path}:{lineno}: {len(fields)} fields, expected {ncol} "
                                 f"({'master' if master else 'sample'} format"
                                 f"{'' if master else '; is this CDNOW_master.txt? use --master'})")
            rows.append(fields)
    if not rows:
        raise ValueError(f"{path}: no data lines")
    a = np.array(rows)
    if master:
        cid, date, cds, dollars = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    else:
        cid, date, cds, dollars = a[:, 1], a[:, 2], a[:, 3], a[:, 4]
    return (cid.astype(np.int64), yyyymmdd_to_days(date.astype(np.int64)),
            cds.astype(np.int64), dollars.astype(np.float64))


def write_store(path, customer_id, txn_customer, txn_time, txn_amount, columns=None, attrs=None):
    """Write a store with transactions.

    customer_id gives the /customers rows in order (may include customers without
    transactions); every txn_customer must be one of them. Transactions are ordered by their
    customer's row, then time; rows with equal (customer, time) keep their given order (stable
    sort), so nothing is merged or dropped. columns: extra per-customer columns {name: array}.
    """
    customer_id = np.asarray(customer_id, dtype=np.int64)
    txn_customer = np.asarray(txn_customer, dtype=np.int64)
    txn_time = np.asarray(txn_time, dtype=np.float64)
    txn_amount = np.asarray(txn_amount, dtype=np.float64)
    n, m = len(customer_id), len(txn_customer)
    if len(np.unique(customer_id)) != n:
        raise ValueError("customer_id values are not unique")
    order = np.argsort(customer_id, kind="stable")
    pos = np.searchsorted(customer_id[order], txn_customer)
    pos = np.minimum(pos, max(n - 1, 0))
    if m and (n == 0 or np.any(customer_id[order][pos] != txn_customer)):
        raise ValueError("a transaction names a customer that is not in customer_id")
    row = order[pos] if m else np.zeros(0, dtype=np.int64)
    perm = np.lexsort((txn_time, row))  # last key is primary; lexsort is stable
    counts = np.bincount(row, minlength=n) if m else np.zeros(n, dtype=np.int64)
    offset = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offset[1:])
    with h5py.File(path, "w") as f:
        g = f.create_group("customers")
        g.attrs["schema_version"] = np.int64(1)
        for k, v in (attrs or {}).items():
            g.attrs[k] = v
        g["customer_id"] = customer_id
        g["txn_offset"] = offset
        for name, values in (columns or {}).items():
            values = np.asarray(values)
            if values.shape != (n,):
                raise ValueError(f"column {name}: shape {values.shape}, expected ({n},)")
            g[name] = values
        t = f.create_group("transactions")
        t["customer_id"] = txn_customer[perm]
        t["time"] = txn_time[perm]
        t["amount"] = txn_amount[perm]
    return offset


def cdnow_to_store(src, out, master=False):
    """Convert a CDNOW file; customers in increasing id order. Returns (customers, rows)."""
    cid, day, cds, dollars = read_cdnow(src, master)
    ids = np.unique(cid)
    cds_total = np.bincount(np.searchsorted(ids, cid), weights=cds, minlength=len(ids))
    write_store(out, ids, cid, day.astype(np.float64), dollars,
                columns={"cds_total": cds_total.astype(np.int64)},
                attrs={"source": "CDNOW_master.txt" if master else "CDNOW_sample.txt"})
    return len(ids), len(cid)


# ---- the generated fixture ---------------------------------------------------------------
# Dates of the fixture's split (day numbers are what check_clv.py passes on the command line).
FIXTURE_START = "2020-01-01"          # first purchases fall in the first 26 weeks after this
FIXTURE_CAL_END = "2020-12-31"
FIXTURE_HOLDOUT_END = "2021-06-30"


def make_fixture(path, seed=5, customers=500):
    """Write a small store drawn from BG/NBD + Gamma-Gamma, with the awkward cases the CLV code
    must handle. Times carry fractions of a day (custseg floors them). Returns a dict with the
    split dates and the ids of the special customers:

    one_purchase     a single purchase, in calibration (x = 0, no holdout purchase)
    after_only       purchases only after the calibration end (no calibration: NaN values)
    no_txn           no transactions at all (txn_offset[i] == txn_offset[i+1])
    first_on_end     first purchase on the calibration end day itself (T = 0)
    zero_repeat      one repeat purchase of amount 0 (x = 1, zbar = 0: left out of the
                     Gamma-Gamma fit, as CDNOW_master's customer 10244)
    zero_amount      a 0.00 row among positive repeat purchases
    heavy            a purchase nearly every day (x in the hundreds: the 2F1 numerics)
    boundary         rows at the last second of the calibration end day, the first second
                     after it, the holdout end day and the day after it
    Same-day duplicates are spread over the ordinary customers (about 5% of purchases)."""
    rng = np.random.default_rng(seed)
    start, cal_end, hold_end = (day_number(d) for d in
                                (FIXTURE_START, FIXTURE_CAL_END, FIXTURE_HOLDOUT_END))
    r, alpha, a, b = 1.2, 9.0, 1.4, 3.5      # weeks; identifiable with a few hundred customers
    p, q, gam = 5.0, 4.0, 30.0               # spend: mean p*gam/(q-1) = 50
    n_special = 8
    n = customers
    # Unique, unsorted ids with gaps and values beyond 2^32: the code must use row order.
    ids = rng.choice(np.arange(10**9, 10**9 + 50 * n, dtype=np.int64), n, replace=False)
    ids = ids * 1009 % (2**40)
    assert len(np.unique(ids)) == n
    cust, times, amounts = [], [], []

    def add(i, day, amount, frac=None):
        cust.append(ids[i])
        times.append(day + (rng.uniform(0.0, 0.99) if frac is None else frac))
        amounts.append(amount)

    for i in range(n - n_special):
        lam = rng.gamma(r, 1.0 / alpha) / 7.0        # purchases per day
        pdrop = rng.beta(a, b)
        nu = rng.gamma(q, 1.0 / gam)
        first = start + int(rng.integers(0, 26 * 7))
        day = first
        while day <= hold_end + 20:   # a few rows after the holdout end: custseg ignores them
            add(i, day, round(rng.gamma(p, 1.0 / nu), 2))
            if rng.random() < 0.05:   # a second row the same day: merged by custseg
                add(i, day, round(rng.gamma(p, 1.0 / nu), 2), frac=0.995)
            if day > first and rng.random() < pdrop:
                break                 # BG/NBD: drop out after a repeat purchase
            if lam <= 0:
                break
            gap = rng.exponential(1.0 / lam)
            if gap > 10 * 365:
                break
            day = day + max(1, int(round(gap)))
    s = n - n_special
    special = {}
    special["one_purchase"] = ids[s]
    add(s, start + 40, 25.00)
    special["after_only"] = ids[s + 1]
    add(s + 1, cal_end + 3, 19.99)
    add(s + 1, cal_end + 30, 42.50)
    add(s + 1, cal_end + 30, 7.25)   # same day: one holdout purchase
    special["no_txn"] = ids[s + 2]   # no rows added
    special["first_on_end"] = ids[s + 3]
    add(s + 3, cal_end, 33.10, frac=0.25)
    add(s + 3, cal_end, 12.00, frac=0.75)  # same day as the first: not a repeat
    add(s + 3, cal_end + 10, 15.00)
    special["zero_repeat"] = ids[s + 4]
    add(s + 4, start + 10, 60.00)
    add(s + 4, start + 100, 0.00)
    special["zero_amount"] = ids[s + 5]
    for k, amt in enumerate([30.0, 22.5, 0.0, 41.0, 18.75]):
        add(s + 5, start + 5 + 31 * k, amt)
    add(s + 5, cal_end + 45, 0.0)
    special["heavy"] = ids[s + 6]
    for day in range(start + 2, hold_end + 1):
        if rng.random() < 0.9:
            add(s + 6, day, round(rng.uniform(5, 15), 2))
            if rng.random() < 0.1:
                add(s + 6, day, 1.00, frac=0.999)
    special["boundary"] = ids[s + 7]
    add(s + 7, start + 7, 10.0)
    add(s + 7, cal_end, 11.0, frac=86399.0 / 86400.0)   # still calibration (floor = cal_end)
    add(s + 7, cal_end + 1, 12.0, frac=1.0 / 86400.0)   # holdout
    add(s + 7, hold_end, 13.0, frac=0.5)                # holdout end is inclusive
    add(s + 7, hold_end + 1, 14.0, frac=0.0)            # after the holdout: not counted
    # Rows are shuffled before writing: write_store must put them in order.
    perm = rng.permutation(len(cust))
    cust, times, amounts = (np.asarray(v)[perm] for v in (cust, times, amounts))
    # Customer rows in a shuffled order, unrelated to id order.
    write_store(path, rng.permutation(ids), cust, times, amounts,
                attrs={"source": f"cdnow_store.make_fixture(seed={seed})"})
    return {"calibration_end": FIXTURE_CAL_END, "holdout_end": FIXTURE_HOLDOUT_END,
            "calibration_end_day": cal_end, "holdout_end_day": hold_end,
            "special": {k: int(v) for k, v in special.items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="?", help="CDNOW_sample.txt or CDNOW_master.txt")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--master", action="store_true", help="SRC is CDNOW_master.txt")
    ap.add_argument("--fixture", metavar="OUT.h5", help="write the generated fixture instead")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args(argv)
    if a.fixture:
        info = make_fixture(a.fixture, seed=a.seed)
        print(f"wrote {a.fixture}: calibration end {info['calibration_end']}, holdout end "
              f"{info['holdout_end']}; special customers {info['special']}")
        return 0
    if not (a.src and a.out):
        ap.error("SRC.txt and OUT.h5 are required (or --fixture OUT.h5)")
    try:
        n, m = cdnow_to_store(a.src, a.out, a.master)
    except (OSError, ValueError) as e:
        print(f"cdnow_store.py: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out}: {n} customers, {m} transactions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
