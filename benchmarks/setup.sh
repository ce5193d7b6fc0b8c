#!/usr/bin/env bash
# Packages needed only for the benchmarks (never for building or testing custseg):
#   libopenblas-dev  cblas_sgemm for benchmarks/sgemm.c (the machine's SGEMM rate), and, through
#                    Debian's libblas.so.3 alternative, the BLAS that numpy/scipy/scikit-learn use
#   python3-sklearn  scikit-learn (with numpy, scipy, threadpoolctl) for kmeans_vs_sklearn.py
#   python3-h5py     stores for make_blobs_store.py
#   python3-pandas   the data team's groupby in pipeline_vs_python.py
# Note: installing OpenBLAS switches the system's libblas.so.3 alternative from the reference
# BLAS to OpenBLAS (check with `update-alternatives --display libblas.so.3-x86_64-linux-gnu`).
# usage: sudo bash benchmarks/setup.sh   (or as root)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends libopenblas-dev python3-sklearn python3-h5py \
  python3-threadpoolctl python3-pandas time
