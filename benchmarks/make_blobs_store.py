#!/usr/bin/python3
"""Write a custseg customer store of Gaussian blobs with exact shapes (benchmarks only).

usage: /usr/bin/python3 benchmarks/make_blobs_store.py N D K OUT [--seed S] [--std S]
                                                       [--chunk-rows R]

The store is valid schema version 1 (docs/format.md):
  /customers                 attribute schema_version = 1
  /customers/customer_id     int64, 1..N
  /customers/f00 .. f{D-1}   float32 columns, the features (every numeric non-reserved column)
  /truth/segment             int32, the blob each row was drawn from (not a feature)
Blob centres are uniform in [-10, 10]^D, each row is its centre plus N(0, std^2) noise (like
scikit-learn's make_blobs). Rows are written in chunks of --chunk-rows, so memory stays at a
few hundred MB whatever N is; the result depends only on (N, D, K, seed, std, chunk-rows).
Needs numpy and h5py (Debian: python3-h5py; /usr/bin/python3)."""
import argparse
import sys
import time

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("d", type=int)
    ap.add_argument("k", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--std", type=float, default=1.0)
    ap.add_argument("--chunk-rows", type=int, default=1 << 21)
    a = ap.parse_args()
    if a.n < 1 or a.d < 1 or a.k < 1 or a.d > 256:
        sys.exit("need N >= 1, 1 <= D <= 256, K >= 1")
    rng = np.random.default_rng(a.seed)
    centres = rng.uniform(-10.0, 10.0, size=(a.k, a.d)).astype(np.float32)
    width = max(2, len(str(a.d - 1)))
    names = [f"f{j:0{width}d}" for j in range(a.d)]
    t0 = time.time()
    with h5py.File(a.out, "w") as f:
        g = f.create_group("customers")
        g.attrs["schema_version"] = np.int64(1)
        g.attrs["generator"] = "benchmarks/make_blobs_store.py"
        ids = g.create_dataset("customer_id", shape=(a.n,), dtype="<i8")
        cols = [g.create_dataset(nm, shape=(a.n,), dtype="<f4") for nm in names]
        t = f.create_group("truth")
        seg = t.create_dataset("segment", shape=(a.n,), dtype="<i4")
        t.attrs["centres"] = centres
        t.attrs["std"] = a.std
        for i0 in range(0, a.n, a.chunk_rows):
            m = min(a.chunk_rows, a.n - i0)
            crng = np.random.default_rng([a.seed, i0])
            lab = crng.integers(0, a.k, size=m, dtype=np.int32)
            x = crng.standard_normal((a.d, m), dtype=np.float32)  # column-major: one row per feature
            if a.std != 1.0:
                x *= np.float32(a.std)
            x += centres.T[:, lab]
            ids[i0:i0 + m] = np.arange(i0 + 1, i0 + m + 1, dtype=np.int64)
            seg[i0:i0 + m] = lab
            for j in range(a.d):
                cols[j][i0:i0 + m] = x[j]
            if a.n > 4 * a.chunk_rows:
                print(f"  {i0 + m}/{a.n} rows, {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
    print(f"wrote {a.out}: {a.n} customers x {a.d} float32 features, {a.k} blobs, "
          f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
