#!/usr/bin/env bash
# Benchmark: `custseg import` at large N, for bounded memory. Writes a customers CSV of N rows
# (id in shuffled order, ints, floats with empty fields, a text column) and a transactions
# CSV of N x TXN rows in random order, imports them under GNU time, and prints the wall time,
# the peak RSS of the importing rank (rank 0) and the sort's figures from the summary. Peak RSS
# should stay near --sort-memory plus a few tens of MB whatever N is (docs/import.md).
# The CSV files are kept for reruns (delete OUTDIR to regenerate); the store is removed unless
# KEEP=1.
# usage: benchmarks/import_scale.sh [N [TXN [SORT_MEMORY [RANKS [OUTDIR]]]]]
#        defaults: 10000000 customers, 3 transactions each, 268435456 bytes, 1 rank,
#        /tmp/custseg-import-bench; CUSTSEG=path/to/custseg (default build/src/custseg)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/env.sh"
n=${1:-10000000} txn=${2:-3} mem=${3:-268435456} ranks=${4:-1} out=${5:-/tmp/custseg-import-bench}
custseg=${CUSTSEG:-$root/build/src/custseg}
mkdir -p "$out"
cust="$out/customers-$n.csv" tx="$out/transactions-$n-$txn.csv"

# Deterministic data from awk's own generator (srand with a fixed seed): no Python, no numpy,
# constant memory. Ids are a bijection of the row (i * 7919 mod P, P prime > N), so unique and
# shuffled; transactions pick a random customer and day, so they come in no order.
if [ ! -s "$cust" ]; then
  echo "writing $cust"
  awk -v n="$n" 'BEGIN {
    srand(1); p = 2147483647
    split("north south east west central", reg, " ")
    print "customer_id,age,income,visits,region,score"
    for (i = 1; i <= n; i++) {
      id = (i * 7919) % p
      inc = (rand() < 0.05) ? "" : sprintf("%.2f", 20000 + 80000 * rand())
      printf "%d,%d,%s,%d,%s,%.4f\n", id, 18 + int(77 * rand()), inc, int(10 * rand()),
             reg[1 + int(5 * rand())], rand()
    }
  }' > "$cust"
fi
if [ ! -s "$tx" ]; then
  echo "writing $tx"
  awk -v n="$n" -v t="$txn" 'BEGIN {
    srand(2); p = 2147483647; m = n * t
    print "customer_id,date,amount"
    for (k = 1; k <= m; k++) {
      i = 1 + int(n * rand()); d = int(540 * rand())
      # days after 2023-01-01 as yyyy-mm-dd, roughly (28-day months keep it a valid date)
      printf "%d,%04d-%02d-%02d,%.2f\n", (i * 7919) % p, 2023 + int(d / 336),
             1 + int((d % 336) / 28), 1 + d % 28, 100 * rand()
    }
  }' > "$tx"
fi

rm -f "$out"/rank_*.time "$out/store.h5" "$out/summary.json"
start=$(date +%s.%N)
mpirun -n "$ranks" sh -c \
  '/usr/bin/time -v -o "$0/rank_${OMPI_COMM_WORLD_RANK}.time" "$@"' "$out" \
  "$custseg" import --customers-csv "$cust" --transactions-csv "$tx" --sort-memory "$mem" \
  --output "$out/store.h5" --summary "$out/summary.json"
end=$(date +%s.%N)
echo "customers=$n transactions=$((n * txn)) sort_memory=$mem ranks=$ranks"
echo "csv_bytes=$(( $(stat -c %s "$cust") + $(stat -c %s "$tx") ))"
echo "store_bytes=$(stat -c %s "$out/store.h5")"
echo "wall_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b - a}')"
for f in "$out"/rank_*.time; do
  echo "$(basename "$f" .time) peak_rss_kib=$(awk -F': ' '/Maximum resident/{print $2}' "$f")"
done
/usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))['result']
s = r['sort']
print(f\"imported customers={r['customers']} transactions={r['transactions']} \"
      f\"sorted_twice={r['transactions_csv']['sorted_twice']}\")
print(f\"sort records={s['records']} runs={s['runs']} merges={s['merges']} \"
      f\"spilled_bytes={s['bytes_spilled']}\")
print('timer_seconds=%.1f' % json.load(open(sys.argv[1]))['timings_seconds']['import']['max'])
" "$out/summary.json"
[ "${KEEP:-0}" = 1 ] || rm -f "$out/store.h5"
