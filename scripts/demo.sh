#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the main job on the embedded
# default (inputs/demo.ini): generate a sample population on 2 ranks, inspect it, segment it
# (choosing K in 2..8), train the churn model on it, compute CLV from its purchase histories,
# and print the per-segment ROI table built from all of them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
. "$root/scripts/env.sh"
out=${CUSTSEG_DEMO_DIR:-$root/demo-output}
mkdir -p "$out"
bin=$root/build/src/custseg
mpirun -n 2 "$bin" generate --config "$root/inputs/demo.ini" --output "$out/customers.h5" \
  --summary "$out/generate.json"
mpirun -n 2 "$bin" inspect "$out/customers.h5" --config "$root/inputs/demo.ini" \
  --summary "$out/inspect.json"
mpirun -n 2 "$bin" segment --config "$root/inputs/demo.ini" --input "$out/customers.h5" \
  --output "$out/segments.h5" --summary "$out/segments.json"
mpirun -n 2 "$bin" churn train --config "$root/inputs/demo.ini" --input "$out/customers.h5" \
  --output "$out/churn.h5" --summary "$out/churn.json"
mpirun -n 2 "$bin" clv --config "$root/inputs/demo.ini" --input "$out/customers.h5" \
  --output "$out/clv.h5" --summary "$out/clv.json"
mpirun -n 2 "$bin" roi --config "$root/inputs/demo.ini" --input "$out/customers.h5" \
  --segment-results "$out/segments.h5" --churn-results "$out/churn.h5" \
  --clv-results "$out/clv.h5" --output "$out/roi.h5" --roi-csv "$out/roi.csv" \
  --roi-markdown "$out/roi.md" --summary "$out/roi.json"
echo
echo "ROI per segment ($out/roi.md; formulas in docs/roi.md):"
cat "$out/roi.md"
echo
echo "demo: results in $out (customers.h5, segments.h5, churn.h5, clv.h5, roi.h5, roi.csv, roi.md and a JSON summary of each step)"
