#!/usr/bin/env bash
# jobs/common.sh's cs_step decides whether a job interrupted by the time limit's warning
# (SIGUSR1 to the batch shell) requeues itself. Without Slurm: srun and scontrol are stand-ins
# on PATH (scontrol records its arguments), and the step is a stand-in for custseg that exits
# with status 75 on SIGUSR1, after writing its checkpoint or not. Checks:
# - a step that saved progress (the template's CS_PROGRESS file changed) is requeued;
# - one stopped before its first checkpoint is not (it had been requeued for ever: each
#   requeue stopped at the same point), and says to give the job a longer --time;
# - after CS_MAX_REQUEUES requeues, no more;
# - a warning that comes before the step starts does not kill the job shell (bash's default
#   for SIGUSR1): the step is not started, status 75 and the same advice;
# - a warning in the step's first moments is passed on once srun can take it (srun dies of a
#   SIGUSR1 before it has set up its handlers: the job had failed with status 138);
# - a SIGTERM after a warning that the step had not yet received (scancel) is not requeued
#   (it had been, as if the warning had stopped the step);
# - a SIGUSR1 sent to the step alone is not requeued, and not called a SIGTERM.
# usage: cs_step.sh   (env: CS_TEST_DIR)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$CS_TEST_DIR/cs_step" && rm -rf "$dir" && mkdir -p "$dir/bin"
fail() { echo "FAIL: $*"; exit 1; }
cat > "$dir/bin/srun" <<'SH'
#!/usr/bin/env bash
echo "$*" > "$FAKE_SRUN"
sleep "${FAKE_SRUN_SETUP:-0}" # as srun: a SIGUSR1 before its handlers are set up ends it
while [ "${1:-}" != "${CUSTSEG}" ]; do shift; done
exec "$@"
SH
cat > "$dir/bin/scontrol" <<'SH'
#!/usr/bin/env bash
if [ "$1 $2" = "show config" ]; then echo "MpiDefault              = ${FAKE_MPI:-pmix}"; exit 0; fi
echo "$*" >> "$FAKE_LOG"
SH
cat > "$dir/fake_custseg" <<'SH'
#!/usr/bin/env bash
# on SIGUSR1: write the checkpoint when FAKE_SAVES=1, then exit 75 as custseg does
trap '[ "$FAKE_SAVES" = 1 ] && echo "iteration $RANDOM" > "$FAKE_CKPT"; exit 75' USR1
trap 'exit 75' TERM
echo $$ > "$FAKE_STARTED.pid"
echo "${OMP_PROC_BIND:-unset}" > "$FAKE_STARTED"
for _ in $(seq 1 600); do sleep 0.1; done
exit 0
SH
chmod +x "$dir/bin/srun" "$dir/bin/scontrol" "$dir/fake_custseg"

# job SAVES RESTARTS MODE: a batch shell sourcing common.sh; SIGUSR1 once the step runs (MODE
# 0), or before cs_step (1, with EARLY=1), or as soon as srun is started (2), then also SIGTERM
# (3), or SIGUSR1 to the step alone once it runs (4). Prints the job's exit status; its stderr
# goes to $dir/job.err.
job() {
  rm -f "$dir/started" "$dir/started.pid" "$dir/scontrol.log" "$dir/srun.args"
  echo "old checkpoint" > "$dir/k.ckpt"
  (
    export PATH="$dir/bin:$PATH" CUSTSEG="$dir/fake_custseg" CUSTSEG_JOBS="$root/jobs"
    export SLURM_JOB_ID=42 SLURM_RESTART_COUNT=$2 FAKE_SAVES=$1 FAKE_CKPT="$dir/k.ckpt"
    export FAKE_STARTED="$dir/started" FAKE_LOG="$dir/scontrol.log" FAKE_SRUN="$dir/srun.args"
    export CS_SIGNAL_HOLD=${CS_SIGNAL_HOLD:-0} # no hold unless a check asks for one
    bash -c '. "$CUSTSEG_JOBS/common.sh"
      CS_PROGRESS=("$FAKE_CKPT")
      [ "$EARLY" = 1 ] && { kill -USR1 $$; sleep 0.2; }
      st=0; cs_step segment --input x.h5 || st=$?; exit $st' &
    pid=$!
    if [ "$3" = 0 ] || [ "$3" = 4 ]; then
      for _ in $(seq 1 100); do [ -e "$dir/started" ] && break; sleep 0.1; done
      [ -e "$dir/started" ] || fail "the stand-in step did not start"
      if [ "$3" = 0 ]; then kill -USR1 "$pid"; else kill -USR1 "$(cat "$dir/started.pid")"; fi
    elif [ "$3" = 2 ] || [ "$3" = 3 ]; then
      for _ in $(seq 1 200); do [ -e "$dir/srun.args" ] && break; sleep 0.01; done
      kill -USR1 "$pid"
      if [ "$3" = 3 ]; then sleep 0.2; kill -TERM "$pid"; fi
    fi
    st=0; wait "$pid" || st=$?
    echo "$st"
  ) 2> "$dir/job.err"
}
export EARLY=0
st=$(job 1 0 0)
[ "$st" = 75 ] && grep -qx "requeue 42" "$dir/scontrol.log" ||
  fail "a step that wrote its checkpoint: status $st, scontrol '$(cat "$dir/scontrol.log" 2>/dev/null)'"
echo "ok: interrupted after a checkpoint: requeued"
st=$(job 0 0 0)
# Once in a full suite run on 2 busy cores (never alone, in 30 runs under load) this job's
# batch shell died of the SIGUSR1 (138, nothing on its stderr), as if the signal came before
# common.sh set its trap; not understood, so it is retried once and said so.
if [ "$st" = 138 ] && [ ! -s "$dir/job.err" ]; then
  echo "note: the batch shell died of SIGUSR1 before its trap (status 138); once more"
  st=$(job 0 0 0)
fi
[ "$st" = 75 ] && [ ! -e "$dir/scontrol.log" ] && grep -q "before it saved any progress" "$dir/job.err" &&
  grep -q "longer --time" "$dir/job.err" ||
  fail "a step stopped before its first checkpoint: status $st, scontrol '$(cat "$dir/scontrol.log" 2>/dev/null)', $(cat "$dir/job.err")"
echo "ok: interrupted before any checkpoint: not requeued, a longer --time advised"
st=$(job 1 20 0)
[ "$st" = 75 ] && [ ! -e "$dir/scontrol.log" ] && grep -q "after 20 requeues" "$dir/job.err" ||
  fail "the 21st interruption: status $st, scontrol '$(cat "$dir/scontrol.log" 2>/dev/null)'"
echo "ok: no requeue after CS_MAX_REQUEUES (20)"
EARLY=1
st=$(job 1 0 1)
[ "$st" = 75 ] && [ ! -e "$dir/started" ] && [ ! -e "$dir/scontrol.log" ] &&
  grep -q "came before this step started" "$dir/job.err" ||
  fail "a warning before the step: status $st, $(cat "$dir/job.err")"
echo "ok: a warning before the step: the job shell lives, the step is not started"
EARLY=0

# A warning while srun is still setting up (1 s here) is held for CS_SIGNAL_HOLD seconds, then
# reaches the step, which saves and is requeued.
st=$(FAKE_SRUN_SETUP=1 CS_SIGNAL_HOLD=2 job 1 0 2)
[ "$st" = 75 ] && grep -qx "requeue 42" "$dir/scontrol.log" ||
  fail "a warning as the step starts: status $st, scontrol '$(cat "$dir/scontrol.log" 2>/dev/null)', $(cat "$dir/job.err")"
echo "ok: a warning as the step starts reaches it once srun can take it"
# ... and a SIGTERM (scancel) before the held warning was passed on ends the job for good, at
# once: the sleeper that held the warning goes with its sleep (a sleep left behind kept the
# job's output open, and $(...) here waited for it).
t0=$SECONDS
st=$(CS_SIGNAL_HOLD=6 job 1 0 3)
[ "$st" = 75 ] && [ ! -e "$dir/scontrol.log" ] && grep -q "stopped by SIGTERM (scancel" "$dir/job.err" ||
  fail "SIGTERM after a warning: status $st, scontrol '$(cat "$dir/scontrol.log" 2>/dev/null)', $(cat "$dir/job.err")"
[ $((SECONDS - t0)) -lt 5 ] || fail "SIGTERM after a held warning: the job took $((SECONDS - t0)) s (a sleeper left)"
echo "ok: SIGTERM after a warning not yet passed on: not requeued, nothing left behind"
# A hold that is not a whole number of seconds is refused when the job starts (0.5 had dropped
# the held warning).
st=0
(export CS_SIGNAL_HOLD=0.5 CUSTSEG=true; bash -c '. "$0/common.sh"' "$root/jobs") 2> "$dir/hold.err" || st=$?
[ "$st" = 2 ] && grep -q "CS_SIGNAL_HOLD must be a whole number of seconds, got '0.5'" "$dir/hold.err" ||
  fail "CS_SIGNAL_HOLD=0.5: status $st, $(cat "$dir/hold.err")"
echo "ok: a fractional CS_SIGNAL_HOLD is refused"
# A SIGUSR1 to the step alone: not requeued, and said so (it had been called a SIGTERM).
st=$(job 1 0 4)
[ "$st" = 75 ] && [ ! -e "$dir/scontrol.log" ] && grep -q "reached the step but not this batch shell" "$dir/job.err" &&
  ! grep -q "stopped by SIGTERM" "$dir/job.err" ||
  fail "SIGUSR1 to the step alone: status $st, $(cat "$dir/job.err")"
echo "ok: SIGUSR1 to the step alone: not requeued, said so"

# In a job array, the requeue names the task (ARRAY_TASK), not SLURM_JOB_ID: for the task that
# carries the array's own id, that id requeued every task of the array, finished ones too.
st=$(SLURM_ARRAY_JOB_ID=40 SLURM_ARRAY_TASK_ID=3 job 1 0 0)
[ "$st" = 75 ] && grep -qx "requeue 40_3" "$dir/scontrol.log" ||
  fail "an array task: status $st, scontrol '$(cat "$dir/scontrol.log" 2>/dev/null)'"
echo "ok: an array task requeues itself alone"

# Threads are not bound by the job (OMP_PROC_BIND=close bound every rank's threads to the first
# core where Slurm binds no tasks); a binding the user exported stays. srun gets --mpi=pmix
# only where the cluster's MpiDefault is none.
[ "$(cat "$dir/started")" = unset ] || fail "OMP_PROC_BIND in the step: $(cat "$dir/started")"
grep -q -- "--mpi" "$dir/srun.args" && fail "srun got an MPI type under MpiDefault=pmix: $(cat "$dir/srun.args")"
st=$(OMP_PROC_BIND=spread FAKE_MPI=none job 1 0 0)
[ "$(cat "$dir/started")" = spread ] || fail "OMP_PROC_BIND=spread became $(cat "$dir/started")"
grep -q -- "^--mpi=pmix " "$dir/srun.args" || fail "MpiDefault=none: srun args $(cat "$dir/srun.args")"
echo "ok: thread binding left to the user; --mpi=pmix where the cluster has no MPI default"
