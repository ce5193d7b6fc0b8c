#!/usr/bin/env bash
# Benchmark: peak memory per rank of every custseg command, for sizing Slurm's --mem.
#
# For each N it generates a store with purchase histories (custseg generate --transactions
# --seed 1), then runs every command on it, one at a time, as
#     mpirun -n RANKS sh -c 'exec /usr/bin/time -f %M -o WORK/rankR.time custseg ...'
# so that GNU time records each rank's peak RSS (ru_maxrss of the custseg process) in its own
# file. Commands: generate, inspect, import (a customers CSV exported from the store with
# pandas, IMPORT_N rows; customers only, no transactions), segment --k 8 (its summary makes a
# one-K sweep for select-k), select-k, churn train, churn score (with that model), clv, roi
# (segment + churn + clv results), report (all four results) and run (the whole pipeline,
# [segment] k = 8 in its config file). It prints one Markdown table per N: wall seconds
# (around mpirun, start-up included), peak RSS per rank and its maximum over ranks (MB =
# 10^6 bytes), and that maximum per local customer (peak / (N / RANKS)). With two or more N
# values it then prints, per command, the line through the smallest and largest N: the slope
# in bytes per local customer and the fixed part in MB. Any failing command stops the
# script with its log.
#
# Memory is measured as custseg runs by default: CUSTSEG_KEEP_FREED unset means freed arrays
# are kept for reuse (docs/operations.md); export CUSTSEG_KEEP_FREED=0 to measure without.
#
# usage: benchmarks/memory_per_command.sh [WORKDIR [RANKS [N ...]]]
#        defaults: /tmp/custseg-mem, 2 ranks, N = 4000000
#        CUSTSEG=path/to/custseg (default build/src/custseg); IMPORT_N=rows of the import's
#        CSV (default N); the data for each N and RANKS stays in WORKDIR/nN-rRANKS
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
work=${1:-/tmp/custseg-mem} ranks=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
sizes=("${@:-4000000}")
custseg=${CUSTSEG:-$root/build/src/custseg}
mkdir -p "$work"
results="$work/results-r$ranks.tsv"   # N, command, local customers, wall, per-rank KB list
: > "$results"

# measure N NAME LOCAL_CUSTOMERS ARGS...: run `custseg ARGS --quiet` on every rank under GNU
# time, from the current directory, and append a line to $results.
measure() {
  local n=$1 name=$2 nloc=$3; shift 3
  rm -f rank*.time
  local t0 t1 kb
  t0=$(date +%s.%N)
  if ! mpirun -n "$ranks" sh -c \
       'exec /usr/bin/time -f %M -o "rank$OMPI_COMM_WORLD_RANK.time" "$@"' sh \
       "$custseg" "$@" --quiet > "$name.log" 2>&1; then
    echo "memory_per_command: FAILED at N=$n: custseg $*" >&2
    cat "$name.log" rank*.time >&2 2>/dev/null || true
    exit 1
  fi
  t1=$(date +%s.%N)
  # the last line of each file is %M (a failed command adds a line before it)
  kb=$(for f in rank*.time; do tail -n 1 "$f"; done | paste -sd,)
  printf '%s\t%s\t%s\t%s\tcustseg %s\t%s\n' "$n" "$name" "$nloc" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" "$*" "$kb" >> "$results"
}

for n in "${sizes[@]}"; do
  dir="$work/n$n-r$ranks"
  rm -rf "$dir" && mkdir -p "$dir/sweep" && cd "$dir"
  nloc=$(( n / ranks )) nimp=${IMPORT_N:-$n}
  echo "N=$n ranks=$ranks in $dir" >&2
  measure "$n" generate "$nloc" generate --customers "$n" --transactions --seed 1 --output store.h5
  measure "$n" inspect "$nloc" inspect store.h5
  # customers CSV of the first nimp rows, every /customers column but txn_offset (not timed)
  /usr/bin/python3 -c '
import sys, h5py, pandas as pd
with h5py.File("store.h5", "r") as f:
    g = f["customers"]; m = int(sys.argv[1])
    pd.DataFrame({c: g[c][:m] for c in g if c != "txn_offset"}).to_csv("customers.csv", index=False)
' "$nimp"
  # import runs on rank 0 only (docs/import.md): per local customer = per imported customer
  measure "$n" import "$nimp" import --customers-csv customers.csv --output imported.h5
  measure "$n" segment "$nloc" segment --input store.h5 --k 8 --output sweep/k8.h5 --summary sweep/k8.json
  measure "$n" select-k "$nloc" select-k --sweep sweep --output selected.h5
  measure "$n" "churn train" "$nloc" churn train --input store.h5 --output churn.h5
  measure "$n" "churn score" "$nloc" churn score --model churn.h5 --input store.h5 --output score.h5
  measure "$n" clv "$nloc" clv --input store.h5 --output clv.h5
  measure "$n" roi "$nloc" roi --input store.h5 --segment-results sweep/k8.h5 \
    --churn-results churn.h5 --clv-results clv.h5 --output roi.h5
  measure "$n" report "$nloc" report --segment-results sweep/k8.h5 --churn-results churn.h5 \
    --clv-results clv.h5 --roi-results roi.h5 --output report.html
  printf '[segment]\nk = 8\n' > run.ini
  measure "$n" run "$nloc" run --input store.h5 --output-dir runout --config run.ini
done

echo "custseg memory per command, $ranks rank(s), $(nproc) cores; CUSTSEG_KEEP_FREED=${CUSTSEG_KEEP_FREED:-unset (default: freed memory kept)}"
echo "each command ran as: mpirun -n $ranks /usr/bin/time -f %M custseg ... --quiet"
awk -F'\t' -v R="$ranks" '
  function row_max(s,   a, i, m) { split(s, a, ","); m = 0; for (i in a) if (a[i] + 0 > m) m = a[i] + 0; return m }
  $1 != cur { cur = $1; printf "\n### N = %d customers, %d rank(s)\n\n", $1, R
              print "| command | command line | wall s | peak RSS per rank, MB | max MB | bytes / local customer |"
              print "|---|---|---:|---|---:|---:|" }
  { split($6, a, ","); per = ""; for (i = 1; i <= length(a); i++) per = per (i > 1 ? " / " : "") sprintf("%.0f", a[i] * 1024 / 1e6)
    m = row_max($6) * 1024
    note = ($2 == "import" && $3 != $1) ? sprintf(" (CSV of %d customers)", $3) : ""
    printf "| %s%s | `%s` | %s | %s | %.0f | %.0f |\n", $2, note, $5, $4, per, m / 1e6, m / $3 }
  # slope and fixed part between the smallest and the largest N (same local counts per command)
  { m = row_max($6) * 1024
    if (!($2 in lo) || $3 < lon[$2]) { lo[$2] = m; lon[$2] = $3 }
    if (!($2 in hi) || $3 > hin[$2]) { hi[$2] = m; hin[$2] = $3 }
    if (!($2 in seen)) { seen[$2] = 1; order[++nc] = $2 } }
  END { if (lon[order[1]] == hin[order[1]]) exit
        printf "\n### Linear fit per rank, peak = fixed + slope x local customers (smallest and largest N)\n\n"
        print "| command | local customers | slope, bytes / local customer | fixed, MB |"
        print "|---|---|---:|---:|"
        for (i = 1; i <= nc; i++) { c = order[i]
          if (hin[c] == lon[c]) { printf "| %s | %d | - | - |\n", c, lon[c]; continue }
          s = (hi[c] - lo[c]) / (hin[c] - lon[c])
          printf "| %s | %d .. %d | %.1f | %.0f |\n", c, lon[c], hin[c], s, (lo[c] - s * lon[c]) / 1e6 } }
' "$results"
