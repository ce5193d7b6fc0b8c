# jobs/common.sh: sourced by the job templates. Not a job itself.
#
# - CUSTSEG: the binary (default: `custseg` on PATH, else the repository's build/src/custseg).
# - Ranks: srun starts SLURM_NTASKS of them, with --mpi=pmix when the cluster's MpiDefault is
#   none (Slurm's own default) and SLURM_MPI_TYPE names no other: Debian's Open MPI starts
#   under srun through PMIx only; a site's own MpiDefault (pmix, pmi2) is kept. Threads: SLURM_CPUS_PER_TASK per rank, passed as --threads and
#   OMP_NUM_THREADS; tasks are bound to cores (srun --cpu-bind=cores) where the cluster can.
#   OpenMP's thread binding is left to the environment: OMP_PROC_BIND=close set here had bound
#   every rank's threads to the first core of the node where Slurm does not bind tasks
#   (TaskPlugin=task/none): 15 to 19 times slower. Export OMP_PLACES and OMP_PROC_BIND before
#   sbatch to pin threads on a cluster that binds tasks.
# - Signals: the templates ask Slurm for SIGUSR1 some minutes before the time limit
#   (#SBATCH --signal=B:USR1@...), which goes to this batch shell; cs_step forwards it (and
#   SIGTERM) to the running step, whose ranks write a checkpoint and exit with status 75.
# - Requeue: a step stopped by that SIGUSR1 (exit 75) makes the job requeue itself (scontrol
#   requeue), and the requeued job resumes from the checkpoint when it finds one (cs_resume),
#   but only when the step saved progress: one of the files the template lists in CS_PROGRESS
#   (its checkpoint; run's progress record, written with the first checkpoint or stage)
#   changed. A step stopped before its first checkpoint (a warning that comes before the first restart ends) would stop at the same
#   point every time: the job then ends with exit 75 and says to give it a longer --time.
#   CS_MAX_REQUEUES (default 20) caps the requeues of one job.
#   A step stopped by SIGTERM (scancel, or a time limit without the warning) is not requeued,
#   even after a warning: `scancel` ends the job for good (its checkpoint stays for a
#   resubmission), and `scancel --batch --signal=USR1 JOBID` stops it now to requeue and resume.
#   Nor is one stopped by a signal sent to the step alone (`scancel --signal=USR1` without
#   --batch, `sbatch --signal=USR1@...` without B:): this shell never saw a warning.
#   A warning that comes in the first CS_SIGNAL_HOLD seconds (default 5) of a step is passed
#   on once they have passed: srun dies of a SIGUSR1 that comes before it has set up its
#   handlers (exit 138, the job failed with no checkpoint), and the task never sees it.
set -euo pipefail
if [ -z "${CUSTSEG:-}" ]; then
  if command -v custseg >/dev/null; then CUSTSEG=custseg
  else CUSTSEG="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/src/custseg"; fi
fi
CS_THREADS=${SLURM_CPUS_PER_TASK:-1}
CS_PROGRESS=() # set by each template after sourcing: the files whose change is progress
# The time limit's warning can come before any step starts (a limit shorter than the
# warning's lead): kept, instead of bash's default for SIGUSR1, which ends the job at once.
CS_WARNED=0
trap 'CS_WARNED=1' USR1
export OMP_NUM_THREADS=$CS_THREADS
CS_SRUN_MPI=()
if [ -z "${SLURM_MPI_TYPE:-}" ] &&
   scontrol show config 2>/dev/null | grep -qiE '^MpiDefault *= *none *$'; then
  CS_SRUN_MPI=(--mpi=pmix)
fi

# A file's content as one word ("-" when absent), to tell whether a step changed it.
cs_sum() { if [ -e "$1" ]; then { cksum < "$1" || echo unreadable; } 2>/dev/null | tr ' ' _; else echo -; fi; }

# The warning while a step runs (the USR1 trap of cs_step): passed on to the step, or, in
# its first CS_SIGNAL_HOLD seconds, by a sleeper once they have passed (one sleeper; killed
# with its sleep when the step ends first).
case ${CS_SIGNAL_HOLD:-5} in
  '' | *[!0-9]*) echo "custseg job: CS_SIGNAL_HOLD must be a whole number of seconds, got" \
                   "'$CS_SIGNAL_HOLD'" >&2; exit 2 ;;
esac
cs_warning() {
  CS_WARNED=1
  if [ $((SECONDS - CS_STEP_START)) -ge "${CS_SIGNAL_HOLD:-5}" ]; then
    kill -USR1 "$CS_STEP_PID" 2>/dev/null || true
  elif [ -z "$CS_STEP_LATER" ]; then
    ( trap 'kill "$!" 2>/dev/null; exit 0' TERM
      sleep "${CS_SIGNAL_HOLD:-5}" & wait "$!"
      kill -USR1 "$CS_STEP_PID" 2>/dev/null || true ) &
    CS_STEP_LATER=$!
  fi
}

# cs_step ARGS...: srun custseg ARGS with this job's ranks and threads; forwards SIGUSR1 (see
# cs_warning) and SIGTERM to the step; on exit status 75 after SIGUSR1 to this shell and no
# SIGTERM requeues the job when the step saved progress (a file of the array CS_PROGRESS
# changed).
cs_step() {
  local st=0 f before=() moved=0 termed=0
  if [ "$CS_WARNED" = 1 ]; then
    echo "custseg job: the time limit's warning came before this step started: not started," \
      "not requeued; submit the job again with a longer --time" >&2
    return 75
  fi
  for f in "${CS_PROGRESS[@]}"; do before+=("$(cs_sum "$f")"); done
  CS_STEP_START=$SECONDS CS_STEP_LATER=
  srun "${CS_SRUN_MPI[@]}" --cpu-bind=cores "$CUSTSEG" "$@" --threads "$CS_THREADS" &
  CS_STEP_PID=$!
  trap cs_warning USR1
  trap 'termed=1; kill -TERM "$CS_STEP_PID" 2>/dev/null || true' TERM
  # a warning that came while the step was being started: passed on in its turn
  if [ "$CS_WARNED" = 1 ]; then cs_warning; fi
  # wait returns early when a trapped signal arrives: wait again until the step is gone.
  while :; do
    st=0; wait "$CS_STEP_PID" || st=$?
    kill -0 "$CS_STEP_PID" 2>/dev/null || break
  done
  trap 'CS_WARNED=1' USR1
  trap - TERM
  if [ -n "$CS_STEP_LATER" ]; then kill "$CS_STEP_LATER" 2>/dev/null || true; fi
  local i=0
  for f in "${CS_PROGRESS[@]}"; do
    [ -e "$f" ] && [ "$(cs_sum "$f")" != "${before[$i]}" ] && moved=1
    i=$((i + 1))
  done
  if [ "$st" = 75 ] && [ "$termed" = 1 ]; then
    echo "custseg job: step stopped by SIGTERM (scancel, or the time limit without its" \
      "warning): not requeued; submitting the same job again resumes from its checkpoint" >&2
  elif [ "$st" = 75 ] && [ "$CS_WARNED" = 0 ]; then
    echo "custseg job: step stopped by a signal that reached the step but not this batch shell" \
      "as the warning (the time limit's SIGTERM, or scancel --signal without --batch, or" \
      "sbatch --signal without B:): not requeued, as only the warning to the batch shell" \
      "requeues (scancel --batch --signal=USR1 JOBID); submitting the same job again resumes" \
      "from its checkpoint" >&2
  elif [ "$st" = 75 ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "$moved" = 0 ]; then
    echo "custseg job: step interrupted before it saved any progress (no checkpoint): not" \
      "requeued, since the same time limit would stop it at the same point; submit it again" \
      "with a longer --time" >&2
  elif [ "$st" = 75 ] && [ -n "${SLURM_JOB_ID:-}" ] &&
       [ "${SLURM_RESTART_COUNT:-0}" -ge "${CS_MAX_REQUEUES:-20}" ]; then
    echo "custseg job: step interrupted after ${SLURM_RESTART_COUNT} requeues" \
      "(CS_MAX_REQUEUES=${CS_MAX_REQUEUES:-20}): not requeued again; its progress stays," \
      "submit it again with a longer --time" >&2
  elif [ "$st" = 75 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    # In a job array, SLURM_JOB_ID of the task that carries the array's own id names the whole
    # array to scontrol: every task, finished and running ones too, was requeued with it.
    local target=$SLURM_JOB_ID
    if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then target=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}; fi
    echo "custseg job: step interrupted (progress saved); requeueing job $target" >&2
    scontrol requeue "$target"
  fi
  return "$st"
}

# cs_resume CHECKPOINT: sets the array CS_RESUME to the options that resume from CHECKPOINT
# when it exists (one argument each, so a path with spaces stays whole), else to none. A
# checkpoint of another configuration (a leftover of an earlier job with other options) is
# set aside with a warning and the fit starts over (--resume-mismatch restart).
cs_resume() {
  CS_RESUME=()
  if [ -s "$1" ]; then CS_RESUME=(--resume "$1" --resume-mismatch restart); fi
}
