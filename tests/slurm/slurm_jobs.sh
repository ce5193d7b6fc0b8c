#!/usr/bin/env bash
# Every job template in jobs/ submitted with sbatch to a real single-node Slurm
# (../shared/tools/slurm-local.sh: Debian's slurm-wlm and munge, started here and stopped at
# the end): the K sweep as a job array with its dependent selection step, the monthly
# re-segmentation after it, the pipeline and the scoring job after that. Checks that every
# job (each array task) ends COMPLETED with exit code 0 and wrote its outputs, and that the
# selection equals `segment --k A..B` on the same store. The sweep directory has a space in
# its name and holds a checkpoint of other options for K = 3 (an earlier job's leftover): the
# task sets it aside and fits from the start. Then a plain `scancel` of a running sweep task
# ends it for good: CANCELLED, not requeued (its SIGTERM had made the job requeue itself).
# Skips (status 77, with the reason) when the Slurm tool is absent or Slurm cannot be
# installed or started here; never passes without running the jobs.
# usage: slurm_jobs.sh   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool=${SLURM_LOCAL:-$root/../shared/tools/slurm-local.sh}
[ -x "$tool" ] || [ -f "$tool" ] || { echo "SKIP: no $tool (the shared Slurm tool)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: starting Slurm needs root"; exit 77; }
dir="$CS_TEST_DIR/slurm_jobs" && rm -rf "$dir" && mkdir -p "$dir"
export SLURM_LOCAL_DIR=$dir/slurm
# GNU nproc honours OMP_NUM_THREADS (1 in the test environment): the node gets all CPUs.
if ! env -u OMP_NUM_THREADS bash "$tool" up > "$dir/up.log" 2>&1; then
  cat "$dir/up.log"; echo "SKIP: Slurm could not be installed or started here (log above)"; exit 77; fi
export SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf
trap 'bash "$tool" down > /dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.out; do echo "== $f"; tail -20 "$f"; done; exit 1; }
export CUSTSEG CUSTSEG_JOBS=$root/jobs
ntasks=2

# Inputs: a store with churn labels and transactions; month 2 = the same customers.
timeout 300 $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 20000 --segments 4 \
  --transactions --seed 1 --quiet --output "$dir/store.h5"

sw="$dir/sweep dir"
mkdir -p "$sw"
st=0
CUSTSEG_TEST_SIGNAL_AT=2 timeout 300 $MPIEXEC --oversubscribe -n 2 -x CUSTSEG_TEST_SIGNAL_AT \
  "$CUSTSEG" segment --input "$dir/store.h5" --k 3 --seed 9 --quiet --output "$sw/k3.h5" || st=$?
[ "$st" = 75 ] && [ -s "$sw/k3.h5.ckpt" ] || fail "could not leave a checkpoint behind (status $st)"

sub() { sbatch --parsable --ntasks=$ntasks -o "$dir/%x-%A_%a.out" "$@"; }
sweep=$(sub --array=0-2 --export=ALL,STORE="$dir/store.h5",SWEEP_DIR="$sw",K_MIN=3 \
  "$root/jobs/segment_sweep.sbatch")
select=$(sub --ntasks=1 --dependency=afterok:"$sweep" \
  --export=ALL,SWEEP_DIR="$sw",OUTPUT="$dir/selected.h5" "$root/jobs/select_k.sbatch")
monthly=$(sub --dependency=afterok:"$select" \
  --export=ALL,STORE="$dir/store.h5",PREVIOUS="$dir/selected.h5",OUTPUT="$dir/month2.h5" \
  "$root/jobs/monthly_resegment.sbatch")
printf '[segment]\nk = 4\n[churn-train]\nchurn-with-segment = yes\n[clv]\nmerge-same-day = no\n' > "$dir/pipeline.ini"
pipeline=$(sub --export=ALL,STORE="$dir/store.h5",OUT_DIR="$dir/pipeline",CONFIG="$dir/pipeline.ini" \
  "$root/jobs/pipeline.sbatch")
score=$(sub --dependency=afterok:"$pipeline" \
  --export=ALL,STORE="$dir/store.h5",MODEL="$dir/pipeline/churn.h5",OUTPUT="$dir/scores.h5",SEGMENT_RESULTS="$dir/pipeline/segments.h5" \
  "$root/jobs/score.sbatch")
jobs="$sweep $select $monthly $pipeline $score"
echo "submitted: sweep $sweep (array 0-2), select-k $select, monthly $monthly, pipeline $pipeline, score $score"

# Wait until none of them is pending or running (at most 15 minutes).
for _ in $(seq 1 180); do
  left=$(squeue -h -j "$(echo $jobs | tr ' ' ',')" -o %i 2>/dev/null | wc -l)
  [ "$left" = 0 ] && break
  sleep 5
done
[ "$left" = 0 ] || { squeue; fail "jobs still queued or running after 15 minutes"; }

# Every job and array task: COMPLETED, exit code 0:0 (job records stay for MinJobAge, 300 s).
for j in $jobs; do
  states=$(scontrol show job -o "$j" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*ExitCode=\([0-9:]*\).*/\1 \2/p')
  [ -n "$states" ] || fail "no record of job $j"
  while read -r state code; do
    [ "$state" = COMPLETED ] && [ "$code" = 0:0 ] || fail "job $j: $state, exit code $code"
  done <<< "$states"
  [ "$(echo "$states" | wc -l)" -ge 1 ]
done
[ "$(scontrol show job -o "$sweep" | wc -l)" = 3 ] || fail "the sweep array did not run 3 tasks"

# Outputs.
for f in "sweep dir/k3.h5" "sweep dir/k4.h5" "sweep dir/k5.h5" selected.h5 month2.h5 pipeline/segments.h5 \
         pipeline/churn.h5 pipeline/clv.h5 pipeline/roi.h5 pipeline/run.json scores.h5; do
  [ -s "$dir/$f" ] || fail "missing output $f"
done
# The sweep's choice equals segment --k 3..5 on the same store and options.
timeout 300 $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" segment --input "$dir/store.h5" --k 3..5 \
  --quiet --output "$dir/range.h5"
h5diff -q "$dir/range.h5" "$dir/selected.h5" /segments/labels ||
  fail "select-k over the job array chose differently from segment --k 3..5"
# The monthly job kept the ids (same customers, same store): every customer stayed.
"${PYTHON:-/usr/bin/python3}" - "$dir/month2.h5.json" <<'PY' || fail "monthly re-segmentation summary"
import json, sys
m = json.load(open(sys.argv[1]))["migration"]
assert m["customers_both"] == m["customers_stayed"] == 20000, m
PY
grep -q "resume: .*checkpoint of another configuration.*starting the fit from the start" \
  "$dir/custseg-sweep-${sweep}_0.out" || fail "the K = 3 task did not set the leftover checkpoint aside"

# scancel of a running task: the job ends, CANCELLED, and is not requeued.
cancel=$(sub --array=0 --export=ALL,STORE="$dir/store.h5",SWEEP_DIR="$dir/cancel",K_MIN=4,SEGMENT_ARGS="--n-init 100000 --tol 0" \
  "$root/jobs/segment_sweep.sbatch")
log="$dir/custseg-sweep-${cancel}_0.out"
for _ in $(seq 1 60); do grep -q "k-means" "$log" 2>/dev/null && break; sleep 1; done
grep -q "k-means" "$log" || fail "the job to cancel did not start its fit within 60 s"
scancel "$cancel"
for _ in $(seq 1 60); do [ -z "$(squeue -h -j "$cancel" -o %i 2>/dev/null)" ] && break; sleep 2; done
rec=$(scontrol show job -o "$cancel")
state=$(echo "$rec" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
restarts=$(echo "$rec" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
[ "$state" = CANCELLED ] && [ "$restarts" = 0 ] ||
  fail "scancel: job $cancel is $state after $restarts restart(s), expected CANCELLED after 0"
grep -q "not requeued" "$log" || fail "scancel: the job log does not say it was not requeued"
echo "ok: sweep (3 array tasks, one leftover checkpoint set aside), select-k, monthly re-segmentation, pipeline and scoring completed under Slurm; scancel ended a running job without requeueing it"
