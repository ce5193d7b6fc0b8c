#!/usr/bin/env bash
# Checkpoint and resume of `custseg segment` (docs/operations.md) at RANKS ranks: a run
# interrupted by SIGTERM at a chosen iteration boundary (in the first and in the second of two
# restarts, and while the second is seeded) exits with status 75, leaves a checkpoint and no results file, and the same command
# with --resume ends with /segments identical (h5diff) to an uninterrupted run; SIGUSR1 sent to
# mpirun does the same; periodic checkpoints do not change the result and are removed at the
# end; a checkpoint of another configuration, another input or an earlier state of the
# store file or of the --previous file is refused, and so is a damaged one; the same options written differently
# (--tol 0.0001 for 1e-4) and the store named by another path resume.
# usage: segment_resume.sh RANKS   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
ranks=${1:-3}
dir="$CS_TEST_DIR/segment_resume_np$ranks" && rm -rf "$dir" && mkdir -p "$dir"
run() { timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
run "$CUSTSEG" generate --customers 20000 --segments 6 --seed 1 --quiet --output "$dir/store.h5"
run "$CUSTSEG" generate --customers 15000 --segments 6 --seed 2 --quiet --output "$dir/other.h5"
# seg NAME [-x VAR] [options]: the fixed run, into NAME.h5; -x VAR exports VAR to the ranks.
seg() { local out=$1; shift; local pre=()
  if [ "${1:-}" = -x ]; then pre=(-x "$2"); shift 2; fi
  timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "${pre[@]}" "$CUSTSEG" segment \
    --input "$dir/store.h5" --k 24 --seed "${SEED:-3}" --n-init 2 --max-iter 400 --algorithm hamerly \
    --output "$dir/$out.h5" "$@"; }
seg full 2> "$dir/full.log"
# Iterations of restart 1 (from the log), so that a boundary in restart 2 can be chosen.
iters=$(sed -n 's/.*k-means: restart 1\/2: inertia .* after \([0-9]*\) iterations.*/\1/p' "$dir/full.log")
[ -n "$iters" ] && [ "$iters" -ge 8 ] || { cat "$dir/full.log" | tail -5; fail "restart 1 took '$iters' iterations"; }

# Interrupt at boundary N (counted over both restarts), resume, compare.
interrupt_and_resume() { local n=$1 name=$2 st=0
  CUSTSEG_TEST_SIGNAL_AT=$n seg "$name" -x CUSTSEG_TEST_SIGNAL_AT 2> "$dir/$name.err" || st=$?
  [ "$st" = 75 ] || { cat "$dir/$name.err"; fail "$name: exit status $st, expected 75"; }
  [ ! -e "$dir/$name.h5" ] || fail "$name: a results file was left by the interrupted run"
  [ -s "$dir/$name.h5.ckpt" ] || fail "$name: no checkpoint $dir/$name.h5.ckpt"
  grep -q "custseg: error: interrupted by SIGTERM after k-means iteration .*--resume $dir/$name.h5.ckpt" \
    "$dir/$name.err" || { cat "$dir/$name.err"; fail "$name: no clear interruption message"; }
  seg "$name" --resume "$dir/$name.h5.ckpt" 2> "$dir/$name.resume.log"
  grep -q "resume: .*after iteration" "$dir/$name.resume.log" || fail "$name: resume not logged"
  h5diff -q "$dir/full.h5" "$dir/$name.h5" /segments ||
    { h5diff -r "$dir/full.h5" "$dir/$name.h5" /segments | head; fail "$name: /segments differs after resume"; }
  [ ! -e "$dir/$name.h5.ckpt" ] || fail "$name: the checkpoint was not removed after the run finished"
}
interrupt_and_resume 3 early
interrupt_and_resume $((iters + 3)) second_restart

# SIGTERM while a restart is seeded (k-means++, K - 1 = 23 steps per restart; the seeding had
# gone on to its end): exit 75 with its own message and no results file. In restart 2 the
# finished restart 1 is checkpointed, and resuming (restart 2 seeded again) gives the
# uninterrupted result; in restart 1 there is nothing to keep and no checkpoint.
st=0
CUSTSEG_TEST_SIGNAL_SEED=28 seg seeding -x CUSTSEG_TEST_SIGNAL_SEED 2> "$dir/seeding.err" || st=$?
[ "$st" = 75 ] || { cat "$dir/seeding.err"; fail "seeding: exit status $st, expected 75"; }
grep -q "custseg: error: interrupted by SIGTERM during k-means++ seeding of restart 2 (step 5 of 23); restart 1 is kept, checkpoint written to $dir/seeding.h5.ckpt" \
  "$dir/seeding.err" || { cat "$dir/seeding.err"; fail "seeding: no clear interruption message"; }
[ ! -e "$dir/seeding.h5" ] && [ -s "$dir/seeding.h5.ckpt" ] || fail "seeding: output left or checkpoint missing"
# Stopped again in the same seeding, the resumed run writes the same state: the same bytes, so
# the job templates (cs_sum, jobs/common.sh) see no progress and do not requeue again (HDF5's
# object times had made every rewrite differ: requeued up to CS_MAX_REQUEUES times).
cp "$dir/seeding.h5.ckpt" "$dir/seeding.first.ckpt"
st=0
CUSTSEG_TEST_SIGNAL_SEED=5 seg seeding -x CUSTSEG_TEST_SIGNAL_SEED --resume "$dir/seeding.h5.ckpt" \
  2> "$dir/seeding.again.err" || st=$?
[ "$st" = 75 ] || { cat "$dir/seeding.again.err"; fail "seeding again: exit status $st, expected 75"; }
cmp -s "$dir/seeding.first.ckpt" "$dir/seeding.h5.ckpt" ||
  fail "seeding again: the checkpoint rewritten with the same state differs in its bytes"
seg seeding --resume "$dir/seeding.h5.ckpt" 2> "$dir/seeding.resume.log"
grep -q "resuming at restart 2/2, from its seeding" "$dir/seeding.resume.log" || fail "seeding: resume not logged"
h5diff -q "$dir/full.h5" "$dir/seeding.h5" /segments || fail "seeding: /segments differs after resume"
st=0
CUSTSEG_TEST_SIGNAL_SEED=5 seg seeding1 -x CUSTSEG_TEST_SIGNAL_SEED 2> "$dir/seeding1.err" || st=$?
[ "$st" = 75 ] && grep -q "seeding of restart 1 (step 5 of 23); no restart had finished, so there is no checkpoint" \
  "$dir/seeding1.err" || { cat "$dir/seeding1.err"; fail "seeding1: status $st or unclear message"; }
[ ! -e "$dir/seeding1.h5" ] && [ ! -e "$dir/seeding1.h5.ckpt" ] || fail "seeding1: output or checkpoint left"

# Periodic checkpoints (every iteration) change nothing and are removed at the end.
seg periodic --checkpoint-every 0.000001 --checkpoint "$dir/periodic.ck" 2> "$dir/periodic.log"
grep -q "checkpoint: restart 2, iteration" "$dir/periodic.log" || fail "no periodic checkpoints written"
h5diff -q "$dir/full.h5" "$dir/periodic.h5" /segments || fail "periodic checkpoints changed /segments"
[ ! -e "$dir/periodic.ck" ] || fail "the periodic checkpoint was left behind"

# SIGUSR1 to mpirun (as Slurm's --signal does to the job step) is forwarded to the ranks. Many
# restarts keep the run busy well past the signal.
# The signal is sent once restart 1 has finished (a signal during the first restart's
# seeding stops it with nothing to checkpoint; under the sanitizers that took over 3 s).
$MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" segment --input "$dir/store.h5" --k 24 --seed 3 \
  --n-init 100000 --output "$dir/usr1.h5" 2> "$dir/usr1.err" &
pid=$!
for _ in $(seq 1200); do
  grep -q "k-means: restart 1/100000: inertia" "$dir/usr1.err" && break
  sleep 0.1
done
kill -USR1 "$pid" || fail "the SIGUSR1 run ended before the signal"
st=0; wait "$pid" || st=$?
[ "$st" = 75 ] || { cat "$dir/usr1.err"; fail "SIGUSR1: exit status $st, expected 75"; }
grep -q "interrupted by SIGUSR1" "$dir/usr1.err" || { cat "$dir/usr1.err"; fail "SIGUSR1 not reported"; }
[ -s "$dir/usr1.h5.ckpt" ] && [ ! -e "$dir/usr1.h5" ] || fail "SIGUSR1: checkpoint missing or output left"

# Refusals: another configuration (--seed 4), another input; no results file either way.
st=0; CUSTSEG_TEST_SIGNAL_AT=2 seg cfg -x CUSTSEG_TEST_SIGNAL_AT 2> /dev/null || st=$?
[ "$st" = 75 ] || fail "cfg: exit status $st, expected 75"
st=0; SEED=4 seg cfg --resume "$dir/cfg.h5.ckpt" 2> "$dir/cfg.err" || st=$?
[ "$st" = 1 ] && grep -q "checkpoint of another configuration" "$dir/cfg.err" ||
  { cat "$dir/cfg.err"; fail "a checkpoint of other options was not refused (status $st)"; }
# ... naming the option that differs (it had given only two hashes), and only it
grep -q "checkpoint of another configuration (--seed '3' there, '4' here; this run's options hash" "$dir/cfg.err" ||
  { cat "$dir/cfg.err"; fail "the refusal does not name --seed and its two values, alone"; }
# The job templates' --resume-mismatch restart: the leftover is set aside with a warning and
# the fit runs from the start, giving what a run without --resume gives.
cp "$dir/cfg.h5.ckpt" "$dir/left.ckpt"
st=0; SEED=4 seg mis --resume "$dir/left.ckpt" --resume-mismatch restart 2> "$dir/mis.err" || st=$?
SEED=4 seg fresh 2> /dev/null
[ "$st" = 0 ] && grep -q "resume: .*checkpoint of another configuration.*starting the fit from the start" \
  "$dir/mis.err" && h5diff -q "$dir/mis.h5" "$dir/fresh.h5" /segments ||
  { cat "$dir/mis.err"; fail "--resume-mismatch restart: status $st, or not the fresh fit"; }
# ... and a leftover under another name than --checkpoint is left alone, as the warning says
# (it had said the checkpoint would be overwritten).
grep -q "it is left as it is, and this run checkpoints to $dir/mis.h5.ckpt" "$dir/mis.err" &&
  cmp -s "$dir/left.ckpt" "$dir/cfg.h5.ckpt" ||
  { cat "$dir/mis.err"; fail "--resume-mismatch restart: the warning misstates what becomes of the leftover"; }
# The same file under another spelling (./) is the checkpoint this run overwrites.
cp "$dir/cfg.h5.ckpt" "$dir/mis2.h5.ckpt"
st=0; SEED=4 seg mis2 --resume "$dir/./mis2.h5.ckpt" --resume-mismatch restart 2> "$dir/mis2.err" || st=$?
[ "$st" = 0 ] && grep -q "restart); the checkpoint will be overwritten" "$dir/mis2.err" ||
  { cat "$dir/mis2.err"; fail "--resume-mismatch restart: ./ spelling of the checkpoint not seen as it"; }
st=0
timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" segment --input "$dir/other.h5" \
  --k 24 --seed 3 --n-init 2 --max-iter 400 --algorithm hamerly --quiet --output "$dir/inp.h5" \
  --resume "$dir/cfg.h5.ckpt" 2> "$dir/inp.err" || st=$?
[ "$st" = 1 ] && grep -q "checkpoint of another input" "$dir/inp.err" ||
  { cat "$dir/inp.err"; fail "a checkpoint of another input was not refused (status $st)"; }
# A damaged or edited checkpoint: refused with exit status 2 and one line, no results file
# (a restart beyond --n-init used to crash, a negative one to give other results silently).
damage() { local name=$1 code=$2 st=0
  cp "$dir/cfg.h5.ckpt" "$dir/$name.ckpt"
  "$PYTHON" -c "import h5py, numpy as np
f = h5py.File('$dir/$name.ckpt', 'r+'); s = f['/checkpoint/state']; c = f['/checkpoint/centroids']
$code"
  seg dmg --resume "$dir/$name.ckpt" 2> "$dir/$name.err" || st=$?
  [ "$st" = 2 ] && [ "$(grep -c 'custseg: error' "$dir/$name.err")" = 1 ] &&
    grep -q "damaged checkpoint\|checkpoint format_version" "$dir/$name.err" && [ ! -e "$dir/dmg.h5" ] ||
    { cat "$dir/$name.err"; fail "checkpoint with $name: status $st, not refused as damaged"; }
}
damage restart9 "v = s[...]; v[2] = 9; s[...] = v"
damage restart_neg "v = s[...]; v[2] = -5; s[...] = v"
damage restart2 "v = s[...]; v[2] = 2; s[...] = v"   # restarts are 0 and 1 of --n-init 2
damage best_is_current "v = s[...]; v[5] = v[2]; s[...] = v"   # the best is a finished one
damage iter5000 "v = s[...]; v[3] = 5000; s[...] = v"
damage nan_centroid "v = c[...]; v[0, 0] = np.nan; c[...] = v"
damage version2 "f['/checkpoint'].attrs['format_version'] = 2"
# The same configuration written differently, the store by another path: resumed.
ln -sfn "$dir" "$dir/alias"
st=0
timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" segment --input "$dir/alias/store.h5" \
  --k 24 --seed 3 --n-init 2 --max-iter 400 --algorithm hamerly --tol 0.00010 --quiet \
  --output "$dir/same.h5" --resume "$dir/cfg.h5.ckpt" 2> "$dir/same.err" || st=$?
[ "$st" = 0 ] || { cat "$dir/same.err"; fail "the same options written differently: status $st"; }
h5diff -q "$dir/full.h5" "$dir/same.h5" /segments || fail "/segments differs after resuming via another path"
# A --previous file replaced under the same path since the checkpoint (last month's results
# re-done): refused. The fit had resumed from the old file's warm start and ended with other
# labels than a run from the start, its migration made against the new file. (--tol 0: from
# its own centroids the fit would converge before the first boundary.)
cp "$dir/full.h5" "$dir/prev.h5"
st=0
CUSTSEG_TEST_SIGNAL_AT=1 seg prv -x CUSTSEG_TEST_SIGNAL_AT --tol 0 --previous "$dir/prev.h5" 2> "$dir/prv.err" || st=$?
[ "$st" = 75 ] && [ -s "$dir/prv.h5.ckpt" ] || { cat "$dir/prv.err"; fail "prv: status $st, or no checkpoint"; }
touch -d "+1 minute" "$dir/prev.h5"
st=0; seg prv --tol 0 --previous "$dir/prev.h5" --resume "$dir/prv.h5.ckpt" 2> "$dir/prv2.err" || st=$?
[ "$st" = 1 ] && grep -q "checkpoint of a fit that read other versions of its files (previous: size" "$dir/prv2.err" ||
  { cat "$dir/prv2.err"; fail "a checkpoint of an earlier --previous file was not refused (status $st)"; }
[ ! -e "$dir/prv.h5" ] || fail "a refused resume left a results file"
# The same store file changed since the checkpoint (a new modification time stands for new
# values of the same customers): refused too.
touch -d "+1 minute" "$dir/store.h5"
st=0; seg chg --resume "$dir/cfg.h5.ckpt" 2> "$dir/chg.err" || st=$?
[ "$st" = 1 ] && grep -q "checkpoint of the store as it was before its last change" "$dir/chg.err" ||
  { cat "$dir/chg.err"; fail "a checkpoint of the store before its last change was not refused (status $st)"; }
[ ! -e "$dir/inp.h5" ] && [ ! -e "$dir/cfg.h5" ] && [ ! -e "$dir/chg.h5" ] ||
  fail "a refused resume left a results file"
echo "ok: $ranks ranks: interrupted at boundary 3 and $((iters + 3)) (restart 2) and by SIGUSR1; resumed runs identical to the uninterrupted one ($iters iterations in restart 1)"
rm -rf "$dir"
