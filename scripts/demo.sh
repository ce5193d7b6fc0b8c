#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the main job on the embedded
# default: `custseg demo` generates 10^6 customers with purchase histories (inputs/demo.ini,
# compiled into the binary), runs the whole pipeline on them (segment, churn, clv, roi,
# report) with one rank per core, and prints the ROI table per segment and the report's path.
# env: CUSTSEG_DEMO_DIR (default demo-output in the repository), CUSTSEG_DEMO_CUSTOMERS (default 1000000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
. "$root/scripts/env.sh"
out=${CUSTSEG_DEMO_DIR:-$root/demo-output}
mpirun -n "$(nproc)" "$root/build/src/custseg" demo --output-dir "$out" \
  --customers "${CUSTSEG_DEMO_CUSTOMERS:-1000000}"
