#!/usr/bin/env bash
# One writer per output: a command claims every output it will write (a POSIX lock on
# ".NAME.lock" beside it, from the check of its path until the command ends), and a second
# command given the same output is refused while the first holds it, naming the holder and
# leaving the directory as it was. Two such jobs had both run, and the second rename left the
# first job's summary describing the other job's results. Checked with a lock held here (as a
# command holds it) and with a real job; a lock file left by a killed job is taken over, one
# that cannot be locked gives a warning, and a finished command leaves no lock file.
# usage: one_writer.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/one_writer" && rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 5000 --seed 1 --quiet --output s.h5
mkdir out

# Holds a POSIX lock on $1 (with the line $2 in it) until killed; returns once it is held.
hold() {
  $py -c 'import fcntl, sys, time
f = open(sys.argv[1], "a+"); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
f.seek(0); f.truncate(); f.write(sys.argv[2] + "\n"); f.flush()
open(sys.argv[1] + ".held", "w").close(); time.sleep(300)' "$1" "$2" &
  holder=$!
  for _ in $(seq 200); do [ -e "$1.held" ] && break; sleep 0.05; done
  rm -f "$1.held"
}
# 0 when $1 is locked by another process, 1 when not.
locked() {
  $py -c 'import fcntl, sys
try:
    fcntl.lockf(open(sys.argv[1], "a+"), fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)
sys.exit(1)' "$1"
}
trap 'kill ${holder:-} ${job:-} 2> /dev/null || true' EXIT

# 1. The results file and the summary, each held by "another job": refused, nothing written.
for held in o.h5 o.json; do
  hold "out/.$held.lock" "pid 4242 on other-node, Slurm job 77, since 2026-12-06 10:00:00 UTC"
  before=$(ls -A out)
  st=0
  $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" segment --input s.h5 --k 3 --output out/o.h5 \
    --summary out/o.json > /dev/null 2> err.txt || st=$?
  [ "$st" = 3 ] || { cat err.txt; fail "$held held: exit $st, not 3"; }
  grep -q "another custseg process is writing .* 'out/$held' (pid 4242 on other-node, Slurm job 77," err.txt \
    || { cat err.txt; fail "$held held: the refusal does not name the output and its holder"; }
  grep -q "delete 'out/.$held.lock'" err.txt || { cat err.txt; fail "$held held: no lock file named"; }
  [ "$(ls -A out)" = "$before" ] || fail "$held held: the refused command left $(ls -A out)"
  grep -q "pid 4242 on other-node" "out/.$held.lock" || fail "$held held: the holder's lock file was changed"
  kill $holder && wait $holder 2> /dev/null || true
  rm -f "out/.$held.lock"
done

# 1b. select-k's summary, and a run whose stages would remove segments.h5 (another run's,
#     from a segment stage now switched off) while another process writes it by hand.
mkdir sw
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" segment --input s.h5 --k 3 --output sw/k3.h5 \
  --summary sw/k3.json --quiet
hold "out/.sel.json.lock" "pid 4343 on other-node"
st=0
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" select-k --sweep sw --output out/sel.h5 \
  --summary out/sel.json > /dev/null 2> err.txt || st=$?
[ "$st" = 3 ] && grep -q "writing summary 'out/sel.json' (pid 4343 on other-node)" err.txt \
  || { cat err.txt; fail "select-k: exit $st with its summary held"; }
[ ! -e out/sel.h5 ] || fail "select-k wrote its results with its summary held"
kill $holder && wait $holder 2> /dev/null || true
rm -f out/.sel.json.lock
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" run --input s.h5 --output-dir rd --quiet \
  || fail "the first run into rd failed"
hold "rd/.segments.h5.lock" "pid 4444 on other-node"
before=$(cd rd && ls -A | sort | xargs -n1 cksum 2> /dev/null || true)
st=0
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" run --input s.h5 --output-dir rd --stages churn \
  > /dev/null 2> err.txt || st=$?
[ "$st" = 3 ] && grep -q "writing file of --output-dir 'rd/segments.h5' (pid 4444 on other-node)" err.txt \
  || { cat err.txt; fail "run --stages churn: exit $st with rd/segments.h5 held"; }
[ "$(cd rd && ls -A | sort | xargs -n1 cksum 2> /dev/null || true)" = "$before" ] \
  || fail "the refused run changed rd: $(ls -A rd)"
kill $holder && wait $holder 2> /dev/null || true
rm -f rd/.segments.h5.lock

# 1c. The lock file of an output named like a temporary file ("a.tmp-1" -> ".a.tmp-1.lock"),
#     held and old, is no leftover of output "a": it stays.
hold "out/.a.tmp-1.lock" "pid 4545 on other-node"
touch -d '-2 min' out/.a.tmp-1.lock
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 100 --output out/a --quiet \
  || fail "generate --output out/a failed"
[ -e out/.a.tmp-1.lock ] || fail "writing out/a removed the held lock file of out/a.tmp-1"
kill $holder && wait $holder 2> /dev/null || true
rm -f out/.a.tmp-1.lock out/a

# 2. A real job writing g.h5: a second job into g.h5 is refused, naming the first one's pid;
#    the first ends normally and leaves no lock file.
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 3000000 --seed 2 --quiet \
  --output out/g.h5 > /dev/null 2> err_first.txt &
job=$!
for _ in $(seq 1200); do
  [ -e out/.g.h5.lock ] && locked out/.g.h5.lock && break
  kill -0 $job 2> /dev/null || break
  sleep 0.05
done
locked out/.g.h5.lock || { wait $job || true; fail "the running job holds no lock on .g.h5.lock"; }
pid=$(sed -n 's/^pid \([0-9]*\) on .*/\1/p' out/.g.h5.lock)
st=0
$MPIEXEC --oversubscribe -n 1 "$CUSTSEG" generate --customers 1000 --seed 3 --output out/g.h5 \
  2> err2.txt || st=$?
[ "$st" = 3 ] || { cat err2.txt; fail "a second job into g.h5: exit $st, not 3"; }
grep -q "another custseg process is writing output 'out/g.h5' (pid $pid on " err2.txt \
  || { cat err2.txt; fail "the second job's refusal does not name the first ($pid)"; }
wait $job || { cat err_first.txt; fail "the first job failed beside the refused one"; }
job=""
$py -c 'import h5py, sys; assert len(h5py.File(sys.argv[1])["customers/customer_id"]) == 3000000' \
  out/g.h5 || fail "g.h5 is not the first job's 3,000,000 customers"
[ ! -e out/.g.h5.lock ] || fail "a finished job left its lock file"

# 3. A lock file left by a killed job (no process holds it) is taken over, then removed.
echo "pid 1 on gone-node, since 2026-01-01 00:00:00 UTC" > out/.k.h5.lock
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" segment --input s.h5 --k 3 --output out/k.h5 --quiet \
  || fail "a left lock file refused the output"
[ -f out/k.h5 ] && [ ! -e out/.k.h5.lock ] || fail "k.h5 missing, or its lock file left: $(ls -A out)"

# 4. A lock that cannot be taken (here a directory in its place): one warning, and the command
#    goes on.
mkdir out/.w.h5.lock
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" segment --input s.h5 --k 3 --output out/w.h5 \
  > /dev/null 2> err4.txt || { cat err4.txt; fail "an unlockable lock file failed the command"; }
grep -q "cannot lock 'out/.w.h5.lock' (.*): a second job writing output 'out/w.h5' at the same time would not be noticed" \
  err4.txt || { cat err4.txt; fail "no warning that w.h5 could not be locked"; }
[ -f out/w.h5 ] && [ -d out/.w.h5.lock ] || fail "w.h5 missing or the directory in the way removed"
echo "one_writer: all checks passed"
