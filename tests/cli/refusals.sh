#!/usr/bin/env bash
# Mistakes in how files and options are given are refused before any work, with one error
# line, and nothing is overwritten or left behind:
#  - an output that is an input of the same command (the store, a model, a results file) or
#    another output of it (--summary, --personas-csv, --roi-csv ...);
#  - an option given twice on the command line, or a key set twice in one config section;
#  - --config naming a directory or a FIFO (which would block), a config line longer than
#    the INI reader takes, the first bad line of a config named even when good lines follow;
#  - `run` with a bad value in a later stage's config section, or one its store's schema
#    refutes (a feature that is not a column): no stage runs;
#  - a --k range whose upper end exceeds the customers (before any K is fitted);
#  - --churn-with-segment results whose labels are not segments of /segments/sizes;
#  - `segment` with an output under a missing directory names the output, not its checkpoint.
#  - integer values out of range (beyond an int, beyond 1024 threads), hexadecimal, a name
#    given twice in --feature-weights or --log1p, weight pairs not separated by commas, all
#    feature weights 0;
#  - the churn label or the --holdout-column named as a feature, a holdout column that is not
#    0/1 or both --holdout and --holdout-column (and the two kept out of the default features);
#    a categorical label whose churned level is not clear, or not two levels (and
#    --label-positive naming the churned level, code 0 here);
#  - churn score given segments numbered otherwise than those its model was trained with.
# --segment-results that churn train or score would not use is warned of (not within run).
# And --quiet silences the --threads warning (about speed), not a warning about the results,
# which the summary lists too.
# usage: refusals.sh RANKS   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
ranks=$1
here=$(cd "$(dirname "$0")" && pwd)
dir="$CS_TEST_DIR/refusals-np$ranks"
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
run() { timeout 60 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" "$@"; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PYTHON" "$here/../py/make_store.py" good in.h5
run segment --input in.h5 --output seg.h5 --k 2 --quiet
cp in.h5 in.orig.h5
cp seg.h5 seg.orig.h5

# refused WANT NEEDLE ARGS...: exit status WANT, exactly one error line containing NEEDLE,
# the inputs unchanged and no new file in the directory.
refused() {
  local want=$1 needle=$2
  shift 2
  ls -A | grep -v -x -e out.txt -e err.txt -e before.lst -e after.lst | sort > before.lst
  set +e
  run "$@" > out.txt 2> err.txt
  local rc=$?
  set -e
  local errline
  errline=$(grep '^custseg: error:' err.txt || true)
  [ "$rc" = "$want" ] || fail "$*: exit status $rc, wanted $want"
  [ "$(printf '%s\n' "$errline" | grep -c .)" = 1 ] || fail "$*: wanted one error line, got: $errline"
  case $errline in *"$needle"*) ;; *) fail "$*: error line lacks '$needle': $errline" ;; esac
  cmp -s in.h5 in.orig.h5 || fail "$*: the store changed"
  cmp -s seg.h5 seg.orig.h5 || fail "$*: seg.h5 changed"
  ls -A | grep -v -x -e out.txt -e err.txt -e before.lst -e after.lst | sort > after.lst
  diff -q before.lst after.lst > /dev/null || fail "$*: files left behind: $(comm -13 before.lst after.lst | tr '\n' ' ')"
  echo "ok: $errline"
}

refused 1 "--output 'in.h5' is the same file as --input 'in.h5': it would be overwritten" \
  segment --input in.h5 --output in.h5 --k 2
refused 1 "--output './in.h5' is the same file as --input" \
  clv --input "$dir/in.h5" --output ./in.h5
refused 1 "--output 'seg.h5' is the same file as --segment-results 'seg.h5'" \
  roi --input in.h5 --segment-results seg.h5 --output seg.h5
refused 1 "--output 'seg.h5' is the same file as --segment-results 'seg.h5'" \
  report --segment-results seg.h5 --output seg.h5
refused 1 "--output 'o.h5' is the same file as --summary 'o.h5': one output would replace the other" \
  segment --input in.h5 --output o.h5 --summary o.h5 --k 2
refused 1 "--output 'o.h5' is the same file as --personas-csv '$dir/o.h5'" \
  segment --input in.h5 --output o.h5 --personas-csv "$dir/o.h5" --k 2
refused 1 "--output 'o.h5' is the same file as --init-centroids 'o.h5:/segments/centroids_standardized'" \
  segment --input in.h5 --output o.h5 --k 2 --init-centroids o.h5:/segments/centroids_standardized
# The default checkpoint (OUTPUT.ckpt), which a successful fit removes, and an output's
# working files (.NAME.lock, .NAME.tmp-PID-TOKEN ...), which custseg creates and deletes: an
# input or output of that name had been deleted, with exit 0.
cp in.h5 o.h5.ckpt
cp in.h5 .o.h5.tmp-123-456
touch -d '10 minutes ago' .o.h5.tmp-123-456
refused 1 "the checkpoint (--output with '.ckpt' added; name another with --checkpoint) 'o.h5.ckpt' is the same file as --input 'o.h5.ckpt'" \
  segment --input o.h5.ckpt --output o.h5 --k 2
refused 1 "'o.h5.ckpt' is the same file as --summary 'o.h5.ckpt': one output would replace the other" \
  segment --input in.h5 --output o.h5 --summary o.h5.ckpt --k 2
refused 1 "--summary '.o.h5.lock' is a working file of --output 'o.h5' (its lock, temporary or backup file)" \
  segment --input in.h5 --output o.h5 --summary .o.h5.lock --k 2
refused 1 "--input '.o.h5.tmp-123-456' is a working file of --output 'o.h5'" \
  segment --input .o.h5.tmp-123-456 --output o.h5 --k 2
refused 1 "--summary out/.segments.h5.lock is a working file of out/segments.h5, a file run writes" \
  run --input in.h5 --output-dir out --stages segment --summary out/.segments.h5.lock
cmp -s o.h5.ckpt in.h5 && cmp -s .o.h5.tmp-123-456 in.h5 || fail "a store named as a working file changed"
# ... but a K range, which neither writes nor removes the checkpoint, may read o.h5.ckpt, and
# a name like a working file's that custseg never makes (no PID at its end) is anyone's.
run segment --input o.h5.ckpt --output o.h5 --k 2..3 --summary .o.h5.tmp-notes.json --quiet \
  || fail "a K range from o.h5.ckpt with --summary .o.h5.tmp-notes.json was refused"
cmp -s o.h5.ckpt in.h5 && [ -f .o.h5.tmp-notes.json ] || fail "o.h5.ckpt changed or no summary"
rm -f o.h5.ckpt .o.h5.tmp-123-456 o.h5 .o.h5.tmp-notes.json
refused 1 "--k given 2 times; give it once" segment --input in.h5 --output o.h5 --k 2 --k 3
refused 1 "the input store is given 2 times" inspect in.h5 --input in.h5
# An empty file name (an unset shell variable) is a usage error naming the option; it had been
# "output '' is not a file name" (exit 3) or "cannot open ''" (exit 2).
refused 1 "--output is empty: give a file name, or leave the option out" \
  segment --input in.h5 --output "" --k 2
refused 1 "--init-centroids is empty: give a file name" \
  segment --input in.h5 --output o.h5 --k 2 --init-centroids ""
refused 1 "--segment-results is empty: give a file name" \
  roi --input in.h5 --segment-results "" --output o.h5
printf '[segment]\nprevious =\n' > emptyfile.ini
refused 1 "config emptyfile.ini line 2: previous is empty: give a file name, or remove the line" \
  segment --config emptyfile.ini --input in.h5 --output o.h5 --k 2

printf '[segment]\nk = 2\nk = 3\n' > dup.ini
refused 1 "config dup.ini line 3: key 'k' set twice in [segment]; set it once" \
  segment --config dup.ini --input in.h5 --output o.h5
# an error followed by a good line keeps its line number (the good line had reset it)
printf 'seed = 1\n[segment]\nkk = 3\nk = 2\n' > typo.ini
refused 1 "config typo.ini line 3: unknown key 'kk' in [segment]" \
  segment --config typo.ini --input in.h5 --output o.h5
# a bad value from the config file: the error names the file and line (it had read as a flag's)
printf '[segment]\nk = 3 # four?\nseed = 2\n' > note.ini
refused 1 "--k must be a number or a range A..B, not '3 # four?' (k is set in config note.ini line 2)" \
  segment --config note.ini --input in.h5 --output o.h5
# a feature the config's list names that the store lacks: the list's line is named too
printf '[segment]\nfeatures = age,nosuch\n' > feat.ini
refused 2 "in.h5: feature 'nosuch' is not a column of /customers (features is set in config feat.ini line 2)" \
  segment --config feat.ini --input in.h5 --output o.h5 --k 2
# a line longer than the INI reader's buffer: its rest had been read as a line of its own
"$PYTHON" -c 'print("[segment]\nk = 2\nfeatures = " + ",".join(["age"] * 60) + "\nseed = 3")' > long.ini
# "[]" had been read as the general part; an indented line continues the key above it in
# the INI format, and had been reported as that key set twice, naming neither the indent.
printf '[generate]\ncustomers = 10\n[]\nk = 3\n' > nosect.ini
refused 1 "config nosect.ini line 3: a section with no name ([]); use [custseg] for the general part" \
  segment --config nosect.ini --input in.h5 --output o.h5
printf '[segment]\nk = 3\n\n    seed = 5\n' > indent.ini
refused 1 "config indent.ini line 4: the line is indented, which continues the key 'k' above it" \
  segment --config indent.ini --input in.h5 --output o.h5
refused 1 "config long.ini line 3 is longer than 199 characters, the limit of the INI reader" \
  segment --config long.ini --input in.h5 --output o.h5
mkdir cfgdir
refused 1 "config 'cfgdir' is not a regular file" segment --config cfgdir --input in.h5 --output o.h5
mkfifo cfg.fifo
refused 1 "config 'cfg.fifo' is not a regular file" segment --config cfg.fifo --input in.h5 --output o.h5

printf '[segment]\nk = 2\n[clv]\nhorizon-months = abc\n' > late.ini
refused 1 "config late.ini line 4: value 'abc' for horizon-months" \
  run --config late.ini --input in.h5 --output-dir rundir
# Values a stage checks itself (a date, a share) fail before the first stage too, in a dry
# pass of the stages (they had failed after segment and churn had run); nothing is written.
mkdir -p dry
# refused, and no stage ran: --output-dir is still empty
dry_refused() {
  refused "$@"
  [ -z "$(ls -A dry)" ] || fail "${*:3}: a stage ran before the refusal, leaving $(ls -A dry | tr '\n' ' ')"
  rm -rf dry && mkdir dry
}
"$PYTHON" "$here/../py/make_store.py" txn_ok tx.h5 # with purchase histories: clv runs
printf '[segment]\nk = 2\n[clv]\ncalibration-end = 2024-13-45\n' > late2.ini
dry_refused 1 "--calibration-end: '2024-13-45' is not a valid date (calibration-end is set in config late2.ini line 4)" \
  run --config late2.ini --input tx.h5 --output-dir dry
printf '[churn-train]\nholdout = 1.5\n' > late3.ini
dry_refused 1 "--holdout must be in [0, 1), got 1.5 (holdout is set in config late3.ini line 2)" \
  run --config late3.ini --input in.h5 --output-dir dry
# A label or split column set in [segment] alone had been replaced by the churn stage's (and
# the column became a segment feature); churn-with-segment with the segment stage off had
# asked for --segment-results, which run does not take (late7 below).
printf '[segment]\nk = 2\nlabel-column = income\n' > seglabel.ini
dry_refused 1 "config seglabel.ini: label-column = income in [segment] is not the job's churn label ('churned')" \
  run --config seglabel.ini --input in.h5 --output-dir dry
# The general part's summary is run's own (each stage had warned it unused), and a stage's
# summary records the threads run gave it (a section's threads, unused, had been recorded).
printf 'summary = gen.json\nthreads = 1\n[segment]\nk = 2\n[churn-train]\nthreads = 2\n' > general.ini
run run --config general.ini --input in.h5 --output-dir gen_run --stages segment,churn --threads 2 \
  --quiet 2> err.txt || fail "run with the general part's summary and threads"
grep -q "summary = gen.json is not used" err.txt && fail "the general part's summary was warned of as unused"
grep -q "segment-results is ignored" err.txt && fail "run's churn stage warned of the --segment-results run gives every stage"
grep -q "threads = 2 in the churn-train stage's section is not used" err.txt ||
  fail "no warning of [churn-train]'s threads"
[ "$(grep -c "is not used" err.txt)" = 1 ] || fail "warnings: $(cat err.txt)"
"$PYTHON" -c 'import json, sys
for f in ("gen_run/segments.json", "gen_run/churn.json"):
    s = json.load(open(f))
    sys.exit(f"{f}: {s['config']['threads']} against {s['threads']}") if s["config"]["threads"]["value"] != s["threads"] else None' ||
  fail "a stage summary's threads"
[ -s gen.json ] || fail "no run summary gen.json"
rm -rf gen_run gen.json
# --segment-results without --churn-with-segment, or for a model without the segment, had
# been ignored without a word.
run churn train --input in.h5 --output nseg.h5 --segment-results seg.h5 --quiet 2> err.txt ||
  fail "churn train with --segment-results alone"
grep -q "churn train: --segment-results is ignored without --churn-with-segment" err.txt ||
  fail "no warning that churn train ignores --segment-results: $(cat err.txt)"
run churn score --model nseg.h5 --input in.h5 --output nsc.h5 --segment-results seg.h5 --quiet 2> err.txt ||
  fail "churn score with --segment-results and a model without the segment"
grep -q "churn score: --segment-results is ignored: the model does not use the segment" err.txt ||
  fail "no warning that churn score ignores --segment-results: $(cat err.txt)"
rm -f nseg.h5 nsc.h5
# a Newton tolerance of 0 or below had run all --max-iter steps and warned, exit 0
refused 1 "--newton-tol must be > 0, got -1" churn train --input in.h5 --output o.h5 --newton-tol -1
# Checks against the store's schema too: a later stage's feature that is not a column, its
# split column, RFM features without purchase histories, a computed segment column that a
# store column would hide, and dates in the wrong order (they had failed after segment ran).
printf '[churn-train]\nfeatures = age,nosuch\n' > late4.ini
dry_refused 2 "in.h5: feature 'nosuch' is not a column of /customers" \
  run --config late4.ini --input in.h5 --output-dir dry
# K beyond the store's customers: the last run's results in --output-dir stay (they had been
# cleared, then the segment stage failed).
# kept_refused WHAT NEEDLE ARGS...: run ARGS (with --output-dir kept) exits 2 with NEEDLE and
# leaves kept/segments.json as it was.
kept_refused() {
  local what=$1 needle=$2 rc=0
  shift 2
  mkdir -p kept && echo last > kept/segments.json
  run "$@" --output-dir kept > out.txt 2> err.txt || rc=$?
  [ "$rc" = 2 ] && grep -qF "error: $needle" err.txt || fail "$what: exit $rc, $(grep error: err.txt)"
  [ "$(cat kept/segments.json 2>/dev/null)" = last ] || fail "$what cleared the last results"
}
printf '[segment]\nk = 41\n' > late8.ini
kept_refused "run with K beyond the customers" \
  "--k 41 is larger than the number of customers (40) (k is set in config late8.ini line 2)" \
  run --config late8.ini --input in.h5
# ... nor when K is that of --previous (a run of 10 segments on a store of 8 customers)
"$PYTHON" -c 'import h5py, sys
src, dst = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "w")
g = dst.create_group("customers")
for name, d in src["customers"].items():
    g.create_dataset(name, data=d[:8])
    for k, v in d.attrs.items():
        g[name].attrs[k] = v
for k, v in src["customers"].attrs.items():
    g.attrs[k] = v' in.h5 small8.h5
run segment --input in.h5 --output prev10.h5 --k 10 --quiet
printf '[segment]\nprevious = prev10.h5\n' > late9.ini
kept_refused "run with the previous K beyond the customers" \
  "--previous prev10.h5 has K = 10 segments, more than the number of customers (8); give --k" \
  run --config late9.ini --input small8.h5
rm -rf kept small8.h5 prev10.h5
printf '[churn-train]\nholdout-column = nosplit\n' > late5.ini
dry_refused 2 "in.h5: --holdout-column: no numeric column /customers/nosplit" \
  run --config late5.ini --input in.h5 --output-dir dry
printf '[churn-train]\nfeatures = age,rfm_recency\n' > late6.ini
dry_refused 2 "in.h5: no /transactions (CLV and RFM need purchase history; see docs/format.md)" \
  run --config late6.ini --input in.h5 --output-dir dry
cp in.h5 with_segment.h5
"$PYTHON" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); f["customers/segment"] = f["customers/age"][:]' with_segment.h5
printf '[churn-train]\nchurn-with-segment = yes\n' > late7.ini
dry_refused 2 "with_segment.h5: /customers/segment exists; the computed feature of that name would hide it" \
  run --config late7.ini --input with_segment.h5 --output-dir dry
# A model on the store's own 'segment' column does not read --segment-results: warned of.
run churn train --input with_segment.h5 --features age,segment --output wsm.h5 --quiet ||
  fail "churn train on the store's segment column"
run churn score --model wsm.h5 --input with_segment.h5 --segment-results seg.h5 --output wss.h5 \
  --quiet 2> err.txt || fail "churn score on the store's segment column"
grep -q "churn score: --segment-results is ignored: the segment comes from the store's own column 'segment'" err.txt ||
  fail "no warning that --segment-results is not read: $(cat err.txt)"
rm -f wsm.h5 wss.h5
printf '[churn-train]\nchurn-with-segment = yes\nlog1p = segment\n' > late10.ini
dry_refused 1 "--log1p: 'segment' is categorical" \
  run --config late10.ini --input in.h5 --output-dir dry
# (it had asked for --segment-results, which run does not take)
dry_refused 1 "config late7.ini: churn-with-segment = yes needs the segment stage, which --stages leaves off" \
  run --config late7.ini --input in.h5 --output-dir dry --stages churn
printf '[segment]\nk = 2\n[clv]\ncalibration-end = 2024-06-30\nholdout-end = 2024-01-01\n' > late8.ini
dry_refused 1 "--holdout-end 2024-01-01 must be after the calibration end 2024-06-30" \
  run --config late8.ini --input tx.h5 --output-dir dry
# The files the segment stage starts from, against the features (they had been read only once
# the output directory was cleared and the stage had begun).
printf '[segment]\nprevious = seg.h5\nfeatures = age\n' > late11.ini
dry_refused 1 "--previous seg.h5:/segments/centroids is for other features than this run" \
  run --config late11.ini --input in.h5 --output-dir dry
# ... also with as many features under other names (log1p added), or a weight-0 feature that
# this run weighs (these had passed the first version of the check)
printf '[segment]\nprevious = seg.h5\nlog1p = age\n' > late13.ini
dry_refused 1 "this run has 'log1p:age', which it has not, and lacks 'age'" \
  run --config late13.ini --input in.h5 --output-dir dry
run segment --input in.h5 --output segw.h5 --k 2 --feature-weights age:0 --quiet
cp segw.h5 segw.orig.h5
printf '[segment]\nprevious = segw.h5\n' > late14.ini
dry_refused 1 "has no value for feature 'age' (NaN: the run that wrote it gave the feature weight 0" \
  run --config late14.ini --input in.h5 --output-dir dry
printf '[segment]\nk = 3\ninit-centroids = seg.h5\n' > late12.ini
dry_refused 1 "--init-centroids seg.h5:/segments/centroids_standardized is 2 x 9, but --k 3" \
  run --config late12.ini --input in.h5 --output-dir dry
# The schema checks pass where the stages would: the computed columns are known to the dry
# pass (RFM features with purchase histories, the segment with --churn-with-segment).
printf '[segment]\nk = 2\n[churn-train]\nfeatures = age,rfm_recency\nchurn-with-segment = yes\n' > late9.ini
run run --config late9.ini --input tx.h5 --output-dir dry --quiet ||
  fail "run with RFM features and --churn-with-segment in churn-train failed"
[ -s dry/churn.h5 ] || fail "run with RFM features and the segment in churn-train wrote no churn.h5"

refused 2 "--k 2..50: K = 50 is larger than the number of customers (40)" \
  segment --input in.h5 --output o.h5 --k 2..50

cp seg.h5 bad_seg.h5
"$PYTHON" -c 'import h5py, sys; h5py.File(sys.argv[1], "r+")["segments/labels"][17] = 7' bad_seg.h5
cp bad_seg.h5 bad_seg.orig.h5
refused 2 "bad_seg.h5:/segments/labels: segment 7 of the customer at row 17 is outside -1 .. 1" \
  churn train --input in.h5 --segment-results bad_seg.h5 --churn-with-segment --output o.h5
cmp -s bad_seg.h5 bad_seg.orig.h5 || fail "bad_seg.h5 changed"

# Integer values beyond what the code keeps (they had wrapped through an int cast: a horizon of
# 4294967308 months ran as 12, --max-iter 4294967297 as 1), libgomp's limits (--threads 100000
# crashed), hexadecimal (strtod read 0x10 as 16), an overflowing sum of two options, a name
# repeated in a list (the second weight was ignored).
refused 1 "value '100000' for threads is not an integer in 0..1024" inspect in.h5 --threads 100000
refused 1 "value '4294967308' for horizon-months is not an integer in 1..1200" \
  clv --input in.h5 --output o.h5 --horizon-months 4294967308
refused 1 "value '0' for horizon-months is not an integer in 1..1200" \
  clv --input in.h5 --output o.h5 --horizon-months 0
refused 1 "value '4294967297' for max-iter is not an integer in 1..1000000000" \
  segment --input in.h5 --output o.h5 --k 2 --max-iter 4294967297
refused 1 "value '4294967296' for n-init is not an integer in 1..1000000" \
  segment --input in.h5 --output o.h5 --k 2 --n-init 4294967296
refused 1 "value '0x10' for customers is not a non-negative integer" \
  generate --output o.h5 --customers 0x10
refused 1 "value '0x1p-3' for tol is not a number" segment --input in.h5 --output o.h5 --k 2 --tol 0x1p-3
refused 1 "--id-base 1 + --customers 9007199254740991 must stay below 2^53" \
  generate --output o.h5 --customers 9007199254740991
# Integers from 2^53 on: the summary's JSON number (a double) had recorded a seed of 2^53 + 1
# as 2^53, another fit's seed.
refused 1 "value '9007199254740993' for seed is not a non-negative integer below 2^53" \
  segment --input in.h5 --output o.h5 --k 2 --seed 9007199254740993
# OMP_NUM_THREADS beyond the bound of --threads (libgomp crashed, leaving a temporary file).
OMP_NUM_THREADS=100000 refused 1 "OMP_NUM_THREADS=100000 asks for 100000 threads per rank; at most 1024" \
  generate --output o.h5 --customers 100
# An empty feature list (an unset shell variable; a ';' that made the rest of a config line a
# comment) had meant every column; a categorical column's level codes had been used as weights.
refused 1 "--features is empty: name the feature columns" segment --input in.h5 --output o.h5 --k 2 --features ""
printf '[segment]\nk = 2\nfeatures = ; age,income\n' > nofeat.ini
refused 1 "--features is empty" segment --config nofeat.ini --input in.h5 --output o.h5
refused 2 "in.h5: --weight-column 'region' is categorical with 3 levels; weights must be amounts" \
  segment --input in.h5 --output o.h5 --k 2 --weight-column region
# A day number of a date written yyyymmdd (the year 57385) had failed deep in the CLV fit.
refused 1 "--calibration-end: '20240101' as a day number is outside the years 1 to 9999 (-719162..2932896); for a date write it 2024-01-01" \
  clv --input in.h5 --output o.h5 --calibration-end 20240101
refused 1 "--feature-weights names 'age' twice" \
  segment --input in.h5 --output o.h5 --k 2 --features age,income --feature-weights age:2,age:3
# pairs separated by a space: the second weight had been dropped without a word
refused 1 "--feature-weights: 'age:2 income:3' is not name:weight with a decimal weight >= 0" \
  segment --input in.h5 --output o.h5 --k 2 --features age,income --feature-weights "age:2 income:3"
refused 1 "--feature-weights: 'age:0x10' is not name:weight" \
  segment --input in.h5 --output o.h5 --k 2 --features age,income --feature-weights age:0x10
# A name without ':' is quoted as given (it had been shown as 'age:').
refused 1 "--feature-weights: 'age' is not name:weight" \
  segment --input in.h5 --output o.h5 --k 2 --features age,income --feature-weights age
refused 1 "value '0' for n-init is not an integer in 1..1000000" \
  segment --input in.h5 --output o.h5 --k 2 --n-init 0
refused 1 "--feature-weights: every feature has weight 0" \
  segment --input in.h5 --output o.h5 --k 2 --features age,income --feature-weights age:0,income:0
refused 1 "--log1p names 'income' twice" \
  segment --input in.h5 --output o.h5 --k 2 --features age,income --log1p income,income
refused 1 "value '9223372036854775807' for chunk-rows is not an integer in 1..1099511627776" \
  inspect in.h5 --chunk-rows 9223372036854775807
refused 1 "--k must be in 1..100000, got 99999999999999999999" \
  segment --input in.h5 --output o.h5 --k 99999999999999999999

# `churn` alone names its two commands; `churn --help` lists them and exits 0, as every
# COMMAND --help does (docs/cli.md).
refused 1 "churn needs a second word: churn train or churn score" churn --input in.h5
# ... and a second word that is neither is named (it had been "unknown command 'churn-bogus'")
refused 1 "churn needs a second word: churn train or churn score (custseg churn train --help), not 'bogus'" churn bogus --input in.h5
set +e
run churn --help > out.txt 2> err.txt
rc=$?
set -e
[ "$rc" = 0 ] || fail "churn --help: exit status $rc, wanted 0"
grep -q '^  churn train ' out.txt && grep -q '^  churn score ' out.txt ||
  fail "churn --help does not list churn train and churn score: $(cat out.txt)"
run --help > out.txt
grep -q '^  churn train ' out.txt || fail "custseg --help does not show 'churn train'"

# A bad date names the option it came from.
refused 1 "--calibration-end: '1997-02-30' is not a valid date" \
  clv --input in.h5 --output o.h5 --calibration-end 1997-02-30
refused 1 "--holdout-end: 'soon' is neither a date YYYY-MM-DD nor a day number" \
  clv --input in.h5 --output o.h5 --holdout-end soon

# The churn label and the split column are never features; a split column holds 0 and 1.
refused 1 "--features: 'tier' is the churn label (--label-column), so it cannot be a feature" \
  churn train --input in.h5 --output o.h5 --label-column tier --features age,tier
refused 1 "--features: 'churned' is the split (--holdout-column), so it cannot be a feature" \
  churn train --input in.h5 --output o.h5 --label-column tier --holdout-column churned --features age,churned
refused 1 "--features: 'tier' is the churn label (--label-column), so it cannot be a feature" \
  segment --input in.h5 --output o.h5 --k 2 --label-column tier --features age,tier
refused 1 "--features: 'visits' is the split (--holdout-column), so it cannot be a feature" \
  segment --input in.h5 --output o.h5 --k 2 --holdout-column visits --features age,visits
refused 1 "--holdout and --holdout-column both choose the split: give one" \
  churn train --input in.h5 --output o.h5 --holdout-column churned --holdout 0.3
refused 1 "--holdout-column 'tier' is also the --label-column" \
  churn train --input in.h5 --output o.h5 --label-column tier --holdout-column tier
refused 2 "in.h5: --holdout-column 'visits' has " \
  churn train --input in.h5 --output o.h5 --holdout-column visits
refused 2 "in.h5: --holdout-column: no numeric column /customers/nosuch" \
  churn train --input in.h5 --output o.h5 --holdout-column nosuch
refused 2 "in.h5: column 'tier' is categorical with levels 'basic' and 'gold': which one means 1 (yes)?" \
  churn train --input in.h5 --output o.h5 --label-column tier
refused 2 "in.h5: column 'tier' has no level 'silver' (its levels are 'basic' and 'gold')" \
  churn train --input in.h5 --output o.h5 --label-column tier --label-positive silver
refused 2 "in.h5: flag column 'region' is categorical with 3 levels; a 0/1 flag has two" \
  churn train --input in.h5 --output o.h5 --label-column region
run churn train --input in.h5 --output lab.h5 --label-column tier --label-positive basic --holdout-column churned --quiet
"$PYTHON" - <<'PY' || fail "churn train --label-column tier --holdout-column churned"
import h5py, numpy as np
with h5py.File("lab.h5", "r") as r, h5py.File("in.h5", "r") as s:
    feats = [f.decode() if isinstance(f, bytes) else f for f in r["churn/model/coefficients"].attrs["features"]]
    assert not [f for f in feats if f.startswith("tier") or f == "churned"], feats
    assert (r["churn/split"][...] == s["customers/churned"][...]).all(), "split is not the column"
    assert r["churn/model"].attrs["holdout_column"] in ("churned", b"churned")
    assert r["churn/model"].attrs["label_positive"] in ("basic", b"basic")
    # 'basic' (code 0) is churned: the training positives are the code-0 customers
    tier, split = s["customers/tier"][...], r["churn/split"][...]
    assert r["churn/metrics/train"].attrs["positives"] == ((tier == 0) & (split == 0)).sum()
PY
rm -f lab.h5

# roi counts categorical flags by meaning: treated 'control'/'treatment' and converted
# 'yes'/'no' declared in the other order (code 0 = yes).
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("flags.h5", "w") as f:
    g = f.create_group("customers"); g.attrs["schema_version"] = np.int32(1); n = 40
    g["customer_id"] = np.arange(1, n + 1); g["x"] = np.arange(n) % 7 * 1.0
    t = g.create_dataset("treated", data=(np.arange(n) % 2).astype(np.int8))
    t.attrs["categories"] = ["control", "treatment"]
    c = g.create_dataset("converted", data=(np.arange(n) % 5 != 0).astype(np.int8))
    c.attrs["categories"] = ["yes", "no"]
PY
run segment --input flags.h5 --output fseg.h5 --k 2 --features x --quiet
run roi --input flags.h5 --segment-results fseg.h5 --output froi.h5 --quiet
"$PYTHON" - <<'PY' || fail "roi: categorical flags counted by their codes"
import h5py
with h5py.File("froi.h5", "r") as f:
    t = f["roi/table"][...]
total = t[t["segment"] == -1][0]
assert total["conversions"] == 8, total["conversions"]  # code 0 = 'yes': rows 0, 5, ..., 35
PY
# A campaign's 'holdout' is its control group (it had read as yes, inverting the experiment).
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("flags.h5", "r+") as f:
    t = f["customers/treated"]
    t[...] = (np.arange(40) % 4 == 0).astype(np.int8)  # code 1 in 10 rows
    t.attrs["categories"] = ["campaign", "holdout"]
PY
run roi --input flags.h5 --segment-results fseg.h5 --output froi.h5 --quiet
"$PYTHON" - <<'PY' || fail "roi: treated 'holdout' counted as treated"
import h5py
with h5py.File("froi.h5", "r") as f:
    total = f["roi/table"][-1]
assert (total["treated"], total["control"]) == (30, 10), (total["treated"], total["control"])
PY
rm -f flags.h5 fseg.h5 froi.h5

# churn score with segments numbered otherwise than the model's (the same run with its two
# segments swapped): refused; with the training segments themselves: scored.
run churn train --input in.h5 --output segm.h5 --segment-results seg.h5 --churn-with-segment --quiet
"$PYTHON" - <<'PY'
import h5py, shutil
shutil.copy("seg.h5", "perm.h5")
with h5py.File("perm.h5", "r+") as f:
    lab = f["segments/labels"][...]
    f["segments/labels"][...] = (1 - lab) * (lab >= 0) + lab * (lab < 0)
    for name in ("centroids", "centroids_standardized", "sizes"):
        d = f["segments/" + name]
        d[...] = d[...][::-1]
PY
run churn score --model segm.h5 --input in.h5 --segment-results seg.h5 --output sc.h5 --quiet
rm -f sc.h5
refused 2 "perm.h5: its segment 1 is the model's segment 0 (nearest centres)" \
  churn score --model segm.h5 --input in.h5 --segment-results perm.h5 --output o.h5
# Segments that segment --previous numbered against the training segments themselves keep the
# ids that run matched, even where the nearest centres say otherwise (a segment of next month
# that took over another's customers): they were refused, with advice to use --previous. Ids
# kept from other segments are checked, and the message names where they came from.
"$PYTHON" - <<'PY'
import h5py, shutil
with h5py.File("seg.h5", "r") as f:
    h = f["segments"].attrs["verification_hash"]
for name, prev_hash in (("permprev.h5", h), ("permother.h5", "0123456789abcdef")):
    shutil.copy("perm.h5", name)
    with h5py.File(name, "r+") as f:
        g = f.create_group("segments/previous")
        g.attrs["verification_hash"] = prev_hash
        g.attrs["file"] = "other.h5"
PY
run churn score --model segm.h5 --input in.h5 --segment-results permprev.h5 --output sc.h5 \
  --quiet || fail "churn score: segments numbered by --previous against the training segments refused"
rm -f sc.h5
refused 2 "the segments are numbered differently from those segm.h5 was trained with (its ids were kept from --previous other.h5, not from them)" \
  churn score --model segm.h5 --input in.h5 --segment-results permother.h5 --output o.h5
rm -f permprev.h5 permother.h5

refused 3 "cannot write output '$dir/missing/o.h5'" segment --input in.h5 --output "$dir/missing/o.h5" --k 2

run inspect in.h5 --threads 1024 --quiet > out.txt 2> err.txt
grep -q "exceeds" out.txt err.txt && fail "--quiet did not silence the --threads warning"
run inspect in.h5 --threads 1024 > out.txt 2> err.txt
grep -q "exceeds" out.txt err.txt || fail "no --threads warning without --quiet"
run segment --input in.h5 --output w.h5 --k 2 --max-iter 1 --quiet --summary w.json 2> err.txt
grep -q "did not converge in --max-iter 1" err.txt || fail "--quiet hid a warning about the fit"
"$PYTHON" -c 'import json, sys; w = json.load(open("w.json"))["warnings"]
sys.exit(not (len(w) == 1 and "did not converge" in w[0]))' || fail "the summary does not list the warning"
rm -f w.h5 w.json
# The --weight-column is no default feature (customers weighted by income had also been
# clustered on it), but --features may name it.
run segment --input in.h5 --output w.h5 --k 2 --weight-column income --summary w.json 2> err.txt ||
  fail "segment --weight-column income"
"$PYTHON" -c 'import json, sys; n = json.load(open("w.json"))["features"]["names"]
sys.exit("income" in n)' || fail "the weight column income is a default feature"
[ "$(grep -c "features: income not used by default (the customer weights (--weight-column)" err.txt)" = 1 ] ||
  fail "not one notice that the weight column is not a feature: $(grep -c 'not used by default' err.txt)"
rm -f w.h5 w.json
run segment --input in.h5 --output w.h5 --k 2 --weight-column income --features age,income \
  --quiet --summary w.json || fail "--features naming the weight column"
rm -f w.h5 w.json
# --init with --init-centroids: the start is the file's (it had been recorded as used, unwarned)
run segment --input in.h5 --output w.h5 --k 2 --init-centroids seg.h5:/segments/centroids_standardized \
  --init 'kmeans||' --quiet 2> err.txt || fail "segment from --init-centroids with --init"
grep -q "warning .*--init kmeans|| is ignored: the fit starts from --init-centroids seg.h5" err.txt ||
  fail "no warning that --init is ignored: $(cat err.txt)"
rm -f w.h5

[ $fails = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all refusals as expected"
