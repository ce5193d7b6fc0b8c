#!/usr/bin/env bash
# SIGUSR1 (Slurm's warning signal, forwarded by mpirun to the ranks) stops `generate` within
# one chunk of rows: exit status 75, one error line, nothing published or left behind. It had
# been swallowed: the job ran on to its end, or to the SIGKILL of a time limit, which leaves
# the temporary file. The same for `clv` within its fits and its prediction. (k-means, its seeding and run's
# stage boundaries: segment_resume.sh, check_run.py.)
# usage: signal_stop.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/signal_stop" && rm -rf "$dir" && mkdir -p "$dir/out"
fail() { echo "FAIL: $*"; exit 1; }
# Small chunks, many of them (about 2.5 s of work at 2 ranks on the 2-core CI machine): the
# signal is sent as soon as the temporary file exists, so it lands between two chunks.
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 3000000 --chunk-rows 50000 \
  --quiet --output "$dir/out/g.h5" 2> "$dir/err.txt" &
pid=$!
for _ in $(seq 1200); do
  compgen -G "$dir/out/.g.h5.tmp-*" > /dev/null && break
  sleep 0.05
done
kill -USR1 "$pid" || fail "generate ended before the signal"
st=0; wait "$pid" || st=$?
[ "$st" = 75 ] || { cat "$dir/err.txt"; fail "exit status $st, expected 75"; }
grep -q "custseg: error: interrupted by SIGUSR1 while generating the customers (nothing was published)" \
  "$dir/err.txt" || { cat "$dir/err.txt"; fail "no clear message"; }
[ "$(grep -c 'custseg: error' "$dir/err.txt")" = 1 ] || fail "not one error line"
[ -z "$(ls -A "$dir/out")" ] || fail "left behind: $(ls -A "$dir/out")"
echo "ok: $(grep 'custseg: error' "$dir/err.txt")"

# `clv` polls between the likelihood evaluations of its fits (it had finished its pass, into
# the SIGKILL of a time limit at 10^8 customers): the signal is sent once the BG/NBD fit is
# under way.
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 600000 --transactions --seed 2 \
  --quiet --output "$dir/t.h5"
# clv_stopped LOG_LINE WHILE [clv options]: SIGUSR1 once LOG_LINE is logged; clv must stop
# within 60 s with exit 75, one message naming WHILE, and nothing left behind.
clv_stopped() {
  local line=$1 while=$2 pid st
  shift 2
  rm -rf "$dir/clv" && mkdir -p "$dir/clv"
  $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" clv --input "$dir/t.h5" --output "$dir/clv/c.h5" \
    --summary "$dir/clv/c.json" "$@" 2> "$dir/clv_err.txt" &
  pid=$!
  for _ in $(seq 3000); do
    grep -q "$line" "$dir/clv_err.txt" && break
    sleep 0.02
  done
  kill -USR1 "$pid" || fail "clv ended before the signal ($while)"
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; wait "$pid" || true
    fail "clv went on for 60 s after SIGUSR1 ($while)"
  fi
  st=0; wait "$pid" || st=$?
  [ "$st" = 75 ] || { cat "$dir/clv_err.txt"; fail "clv ($while): exit status $st, expected 75"; }
  grep -q "custseg: error: interrupted by SIGUSR1 $while (nothing was published)" \
    "$dir/clv_err.txt" || { cat "$dir/clv_err.txt"; fail "clv ($while): no clear message"; }
  [ -z "$(ls -A "$dir/clv")" ] || fail "clv ($while) left behind: $(ls -A "$dir/clv")"
  echo "ok: $(grep 'custseg: error' "$dir/clv_err.txt")"
}
clv_stopped "BG/NBD: iteration 2 " "while fitting the CLV models"
# ... and in its prediction, which a long horizon makes long (1200 months of this store: about
# 390 s at 2 ranks), where it had run on to the end: the signal is sent once the fits are
# logged.
clv_stopped "clv: Gamma-Gamma p " "while predicting the CLV" --horizon-months 1200

# A reader of the log that goes away (`2>&1 | head -1`) is no reason to stop: the command ran
# without mpirun died of SIGPIPE at its next log line, in the middle of writing its output,
# with exit status 141, no message and the temporary file left behind.
mkdir -p "$dir/pipe"
set +o pipefail
"$CUSTSEG" generate --customers 100000 --output "$dir/pipe/p.h5" 2>&1 | head -1 > /dev/null
st=${PIPESTATUS[0]}
set -o pipefail
[ "$st" = 0 ] || fail "generate with its log piped to head -1: exit status $st, expected 0"
[ "$(ls -A "$dir/pipe")" = p.h5 ] || fail "piped log: the directory holds: $(ls -A "$dir/pipe")"
"$CUSTSEG" inspect --input "$dir/pipe/p.h5" --quiet > /dev/null || fail "piped log: p.h5 unreadable"
echo "ok: a closed log pipe leaves the job to finish"
