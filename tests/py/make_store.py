#!/usr/bin/python3
"""Write small customer stores with h5py alone (no custseg code), good or broken on purpose.

usage: make_store.py KIND PATH
KIND: good | no_customers_group | no_customer_id | duplicate_ids | length_mismatch |
      string_column | all_nan_column | no_schema_version | constant_column | huge_value |
      large_offset | stats |
      no_labels | one_class | holdout_only_column | no_income | new_region | numeric_segment |
      txn_good | txn_unsorted | txn_bad_offsets | txn_unknown_customer | txn_negative_amount |
      txn_nan_time txn_huge_time txn_extra_rows
(txn_*: the good store plus /transactions and txn_offset, each with one defect)
(stats: the good store with 5001 rows, NaN in income, score and spend, one +inf in spend;
 constant_column: the good store plus a column 'flat' that is 7 everywhere;
 huge_value: the good store plus a column 'sentinel' of small values and one 1e200;
 large_offset: the good store plus a column 'epoch' of 1e15 + N(0, 1))
"""
import sys

import h5py
import numpy as np

kind, path = sys.argv[1], sys.argv[2]
n = 5001 if kind == "stats" else 40
rng = np.random.default_rng(3)

with h5py.File(path, "w") as f:
    g = f.create_group("other" if kind == "no_customers_group" else "customers")
    if kind != "no_schema_version":
        g.attrs["schema_version"] = np.int32(1)
    ids = np.arange(500, 500 + n, dtype=np.int64)[::-1].copy()  # unsorted is fine
    if kind == "duplicate_ids":
        ids[7] = ids[20]
        ids[30] = ids[31]
    if kind != "no_customer_id":
        g["customer_id"] = ids
    g["age"] = rng.integers(18, 90, n).astype(np.uint8)
    g["income"] = rng.normal(50000, 9000, n).astype(">f8")  # big-endian on purpose
    g["visits"] = rng.integers(0, 50, n).astype(np.int16)
    score = rng.random(n).astype(np.float32)
    score[[3, 9]] = np.nan
    g["score"] = score
    g["region"] = rng.integers(0, 3, n).astype(np.int8)
    g["region"].attrs["categories"] = ["north", "south", "west"]
    g["tier"] = rng.integers(0, 2, n).astype(np.uint32)
    g["tier"].attrs["categories"] = np.array([b"basic", b"gold"], dtype="S5")  # fixed-length
    churned = rng.integers(0, 2, n).astype(np.int64)
    if kind == "no_labels":
        churned[:] = -1
    if kind == "one_class":
        churned[:] = 0
    if kind == "labels_in_holdout":  # the labelled customers are all in the holdout column
        churned[n // 2:] = -1
        g["is_test"] = (np.arange(n) < n // 2).astype(np.int8)
    if kind == "holdout_only_column":  # 'late' is known only in the holdout half
        g["is_test"] = (np.arange(n) < n // 2).astype(np.int8)
        g["late"] = np.where(np.arange(n) < n // 2, rng.normal(0, 1, n), np.nan)
    g["churned"] = churned
    if kind == "no_income":
        del g["income"]
    if kind == "numeric_segment":  # an ordinary numeric column that happens to be 'segment'
        g["segment"] = rng.integers(0, 4, n).astype(np.int32)
    if kind == "new_region":  # a level the model never saw
        del g["region"]
        g["region"] = rng.integers(0, 4, n).astype(np.int8)
        g["region"].attrs["categories"] = ["north", "south", "west", "east"]
    g["treated"] = rng.random(n) < 0.5  # numpy bool: an HDF5 enum over int8
    if kind == "length_mismatch":
        g["short"] = np.zeros(n - 1)
    if kind == "string_column":
        g["name"] = np.array([b"c%d" % i for i in range(n)], dtype="S8")
    if kind == "all_nan_column":
        g["empty"] = np.full(n, np.nan)
    if kind == "constant_column":
        g["flat"] = np.full(n, 7, dtype=np.int32)
    if kind == "two_points":  # 40 customers on 2 distinct points, and weights all 0
        g["a"] = np.repeat([0.0, 1.0], n // 2)
        g["b"] = np.repeat([5.0, 7.0], n // 2)
        g["w0"] = np.zeros(n)
    if kind == "large_offset":  # a spread of 1 around 1e15: below 1e-12 of the magnitude
        g["epoch"] = 1e15 + rng.normal(0, 1, n)
    if kind == "huge_value":
        sentinel = rng.normal(0, 1, n)
        sentinel[n - 1] = 1e200
        g["sentinel"] = sentinel
    if kind == "stats":
        income = g["income"][...]
        income[rng.choice(n, 60, replace=False)] = np.nan
        g["income"][...] = income
        score[rng.choice(n, 45, replace=False)] = np.nan
        g["score"][...] = score
        spend = rng.lognormal(3, 1.2, n)  # heavy-tailed: mean and median differ
        spend[rng.choice(n, 30, replace=False)] = np.nan
        spend[17] = np.inf
        g["spend"] = spend

    if kind.startswith("txn_"):
        # 1 to 4 purchases per customer from day 10000 on, two of them on one day.
        cnt = 1 + np.arange(n) % 4
        off = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
        m = int(off[-1])
        tid = np.repeat(ids, cnt)
        time = np.concatenate([10000 + np.sort(rng.integers(0, 300, c)).astype(float) + 0.25
                               for c in cnt])
        amount = np.round(rng.gamma(4.0, 8.0, m), 2)
        if kind == "txn_unsorted":
            time[off[5] + 1], time[off[5] + 2] = time[off[5] + 2] + 50, time[off[5] + 1]
        if kind == "txn_bad_offsets":
            off[12] = off[11] - 1
        if kind == "txn_unknown_customer":
            tid[off[7]] = 999999
        if kind == "txn_negative_amount":
            amount[9] = -5.0
        if kind == "txn_nan_time":
            time[13] = np.nan
        if kind == "txn_huge_time":  # the last purchase of a customer, in seconds
            time[off[5] - 1] = 1.7e9
        if kind == "txn_extra_rows":  # two purchases after the last customer's offsets
            tid = np.concatenate([tid, tid[-1:], tid[-1:]])
            time = np.concatenate([time, time[-1:] + 1, time[-1:] + 2])
            amount = np.concatenate([amount, [5.0, 6.0]])
        g["txn_offset"] = off
        t = f.create_group("transactions")
        t["customer_id"] = tid
        t["time"] = time
        t["amount"] = amount
