#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the main job on the embedded
# default (inputs/demo.ini): generate a sample population on 2 ranks, then inspect it.
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
echo "demo: results in $out (customers.h5, generate.json, inspect.json)"
