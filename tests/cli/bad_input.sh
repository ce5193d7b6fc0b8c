#!/usr/bin/env bash
# One bad input per call: the command must fail with the documented exit status, a one-line
# error naming the problem, and leave no output file (not even a temporary one) behind.
# usage: bad_input.sh CASE RANKS   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR)
set -euo pipefail
case_name=$1 ranks=$2
dir="$CS_TEST_DIR/bad_input-$case_name-np$ranks"
rm -rf "$dir" && mkdir -p "$dir/out"
as_user=() # unreadable=1: the command runs as nobody where the test runs as root (root reads any file)
run() { timeout 120 "${as_user[@]}" $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" "$@"; }
unreadable() { chmod 000 "$1"; chmod 777 "$dir/out"
  [ "$(id -u)" = 0 ] || return 0
  # Open MPI keeps its session directory under TMPDIR, named by host and uid only: the np1 and
  # np3 cases, run side by side as the same user, raced to create it ('mkdir ... File exists',
  # orte_init failed). Each case gets a TMPDIR of its own, short enough for its sockets' paths.
  user_tmp=$(mktemp -d /tmp/cs-nobody.XXXXXX); chmod 777 "$user_tmp"; trap 'rm -rf "$user_tmp"' EXIT
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp TMPDIR="$user_tmp"); }
# A step that sets a case up must succeed: its log is shown when it does not (it had been
# thrown away, so a set-up that failed under load left a failed test with no output).
prep() { run "$@" >> "$dir/setup.log" 2>&1 ||
  { echo "FAIL: set-up step failed (exit $?): $*"; cat "$dir/setup.log"; exit 1; }; }
store() { "$PYTHON" "$(dirname "$0")/../py/make_store.py" "$1" "$dir/in.h5"; }

summary="$dir/out/summary.json" output="$dir/out/out.h5"
case $case_name in
  missing_file)   want=2 needle="cannot open input '$dir/absent.h5': No such file"
                  cmd=(inspect "$dir/absent.h5" --summary "$summary") ;;
  # A store or CSV that cannot be read is said to be so, exit 2 (a store had been called
  # 'not an HDF5 file', a CSV had given exit 3, the status of an output error).
  unreadable_store) store good; unreadable "$dir/in.h5"; want=2 needle="cannot open input '$dir/in.h5': Permission denied"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  unreadable_csv) printf 'customer_id,age\n1,30\n' > "$dir/c.csv"; unreadable "$dir/c.csv"
                  want=2 needle="cannot open '$dir/c.csv': Permission denied"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  # A store another process is writing, or whose writer died with it open (HDF5 1.10 format):
  # MPI-IO takes no file lock, and such a store had been read half updated, exit 0.
  store_being_written) store good
                  "$PYTHON" -c 'import h5py, sys, time
f = h5py.File(sys.argv[1], "a"); f["customers/income"][...] = -1.0; f.flush()
print("ready", flush=True); time.sleep(120)' "$dir/in.h5" > "$dir/writer.out" &
                  writer=$!; trap 'kill $writer 2>/dev/null || true' EXIT
                  for _ in $(seq 100); do grep -q ready "$dir/writer.out" && break; sleep 0.1; done
                  want=2 needle="in.h5 is open for writing by another process (HDF5 could not take its file lock)"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --summary "$summary") ;;
  store_left_open) "$PYTHON" -c 'import h5py, os, sys
f = h5py.File(sys.argv[1], "w", libver="latest"); f.create_group("customers"); f.flush()
os._exit(0)' "$dir/in.h5"
                  want=2 needle="in.h5 is marked as open for writing: its writer is still running, or ended without closing it"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  not_hdf5)       printf 'customer_id,age\n1,30\n' > "$dir/in.h5"; want=2 needle="is not an HDF5 file"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  truncated_store) store good; truncate -s $(( $(stat -c %s "$dir/in.h5") / 2 )) "$dir/in.h5"
                  want=2 needle="in.h5: a damaged or truncated HDF5 file"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  # An attribute of another shape than the format says (an array schema_version had been
  # read past its variable and crashed; a scalar categories string was taken as one level),
  # levels that are not UTF-8 (they went into JSON and HTML as they were).
  schema_version_array|schema_version_huge|categories_scalar|categories_not_utf8|categories_repeated) store good
                  "$PYTHON" - "$dir/in.h5" "$case_name" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    g = f["customers"]
    if sys.argv[2] == "schema_version_array":
        g.attrs["schema_version"] = np.ones(4000, dtype=np.int64)
    elif sys.argv[2] == "schema_version_huge":  # had been named as 2^63 - 1
        del g.attrs["schema_version"]
        g.attrs.create("schema_version", np.uint64(2 ** 64 - 1))
    elif sys.argv[2] == "categories_scalar":
        g["region"].attrs["categories"] = "north"
    elif sys.argv[2] == "categories_repeated":
        lv = list(g["region"].attrs["categories"])
        g["region"].attrs["categories"] = [lv[0], lv[0]] + lv[2:]
    else:
        n = len(g["region"].attrs["categories"])
        g["region"].attrs["categories"] = np.array([b"caf\xe9"] + [b"l%d" % i for i in range(1, n)])
PY
                  want=2
                  case $case_name in
                    schema_version_array) needle="/customers@schema_version must be one integer, found 4000 values" ;;
                    schema_version_huge) needle="/customers@schema_version is 18446744073709551615; this build reads version 1" ;;
                    categories_scalar) needle="/customers/region@categories must be a 1-D array of strings" ;;
                    # the same level twice had been blamed on two columns of one name
                    categories_repeated) needle="in.h5: /customers/region@categories has the level" ;;
                    *) needle="/customers/region@categories: level 0 is not UTF-8 text (byte 4 is 0xe9)" ;;
                  esac
                  cmd=(inspect "$dir/in.h5" --summary "$summary")
                  [ $case_name = categories_repeated ] &&
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --summary "$summary") ;;
  # Beyond the range of k-means' float32 distances and exact sums (they had put every row
  # in one segment with exit 0, or failed the inertia check).
  feature_magnitude|weight_range|weight_tiny|feature_weight_huge|feature_weight_clamped|feature_weight_onehot|feature_weights_tiny) store good
                  "$PYTHON" - "$dir/in.h5" "$case_name" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    g = f["customers"]
    n = len(g["customer_id"])
    if sys.argv[2] in ("feature_magnitude", "feature_weight_clamped"):
        g["huge"] = np.linspace(-1, 1, n) * 1e20
    elif sys.argv[2] == "weight_tiny":
        g["w"] = np.full(n, 1e-300)
    else:
        w = np.ones(n); w[5] = 1e13
        g["w"] = w
PY
                  want=2
                  if [ $case_name = feature_magnitude ]; then
                    needle="feature values reach 1e+20 in magnitude; k-means computes distances in float32 and needs them within 1e-18 .. 1e18 (feature 'huge' reaches it; use --scale zscore or rescale the column)"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,huge --scale none --summary "$summary")
                  elif [ $case_name = feature_weight_huge ]; then
                    # (the advice had been "use --scale zscore", under zscore)
                    needle="(feature 'income' reaches it with its --feature-weights weight 1e+30: lower the weight)"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,income --feature-weights income:1e30 --summary "$summary")
                  # A column beyond the range by itself, whose weight the float32 clamp hides:
                  # not the weight alone (lowering it had failed again); a one-hot column whose
                  # weight is beyond float32 (inf): the weight, not the scale; every weight tiny
                  # under zscore: the weights, not "use --scale zscore".
                  elif [ $case_name = feature_weight_clamped ]; then
                    needle="(feature 'huge' reaches it; use --scale zscore or rescale the column, and mind its --feature-weights weight)"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,huge --scale none --feature-weights huge:1e25 --summary "$summary")
                  elif [ $case_name = feature_weight_onehot ]; then
                    # (the one-hot value is clamped at the float32 limit as a value is: it was inf)
                    needle="reach at least 3.40282e+38 in magnitude (the float32 limit, where scaled values are clamped); k-means computes distances in float32 and needs them within 1e-18 .. 1e18 (feature 'region=north' reaches it with its --feature-weights weight 1e+39: lower the weight)"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,region --feature-weights region:1e39 --summary "$summary")
                  elif [ $case_name = feature_weights_tiny ]; then
                    needle="(the --feature-weights weights, the largest 1e-20, take every feature below 1e-18: raise them)"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,income --feature-weights age:1e-20,income:1e-20 --summary "$summary")
                  elif [ $case_name = weight_tiny ]; then
                    needle="customer weights (--weight-column 'w') reach 1e-300: k-means sums them in fixed point"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,income --weight-column w --summary "$summary")
                  else
                    needle="customer weights (--weight-column 'w') range from 1 to 1e+13, more than a factor 1e9"
                    cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --features age,income --weight-column w --summary "$summary")
                  fi ;;
  no_customers_group) store no_customers_group; want=2 needle="no group /customers"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  no_customer_id) store no_customer_id; want=2 needle="/customers/customer_id is missing"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  duplicate_ids)  store duplicate_ids; want=2 needle="2 duplicated customer_id values (e.g. "
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  # the largest id repeated: INT64_MAX had been the "no example yet" mark (rows 0 and 0)
  duplicate_max_id) store good
                  "$PYTHON" -c 'import h5py, sys; c = h5py.File(sys.argv[1], "r+")["customers/customer_id"]; x = c[...]; x[3] = x[9] = 2**63 - 1; c[...] = x' "$dir/in.h5"
                  want=2 needle="1 duplicated customer_id values (e.g. 9223372036854775807 at rows 3 and 9)"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  length_mismatch) store length_mismatch; want=2 needle="/customers/short has 39 rows but /customers/customer_id has 40"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  # customer_id the short one: it had been reported as the first other column being long
  id_short)       store good
                  "$PYTHON" -c 'import h5py, sys; g = h5py.File(sys.argv[1], "r+")["customers"]; x = g["customer_id"][:-1]; del g["customer_id"]; g["customer_id"] = x' "$dir/in.h5"
                  want=2 needle="/customers/customer_id has 39 rows but every other column of /customers has 40"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  # a float16 label had been "no numeric label column" though the column is there
  churn_label_float16) store good
                  "$PYTHON" -c 'import h5py, sys, numpy as np; g = h5py.File(sys.argv[1], "r+")["customers"]; x = g["churned"][...]; del g["churned"]; g["churned"] = x.astype(np.float16)' "$dir/in.h5"
                  want=2 needle="the label column /customers/churned is float (2 bytes), which custseg does not read"
                  cmd=(churn train --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  non_numeric_feature) store string_column; want=2 needle="feature 'name' (/customers/name) is not numeric"
                  cmd=(inspect "$dir/in.h5" --features age,name --summary "$summary") ;;
  # K above the distinct feature rows: named with the largest K that fits (it had said only
  # "no customer with positive weight left to choose"), also inside a K range
  segment_few_distinct) store two_points; want=2 needle="K = 3, but the customers (of positive weight) have only 2 distinct feature rows: choose K <= 2"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2..4 --features a,b --summary "$summary") ;;
  segment_weights_all_zero) store two_points; want=2 needle="in.h5: --weight-column 'w0' is 0 for every customer"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --weight-column w0 --features a,b --summary "$summary") ;;
  feature_no_finite) store all_nan_column; want=2 needle="feature 'empty' has no finite values"
                  cmd=(inspect "$dir/in.h5" --features age,empty --summary "$summary") ;;
  unknown_config_key) printf '[generate]\ncustomers = 10\ncolour = blue\n' > "$dir/bad.ini"
                  want=1 needle="config $dir/bad.ini line 3: unknown key 'colour'"
                  cmd=(generate --config "$dir/bad.ini" --output "$output" --summary "$summary") ;;
  unwritable_output_dir) want=3 needle="cannot write output '$dir/missing/out.h5': directory '$dir/missing'"
                  output="$dir/missing/out.h5"
                  cmd=(generate --customers 100 --output "$output" --summary "$summary") ;;
  # a FIFO (or /dev/null) as an output: renaming the new file into place had replaced it
  summary_fifo)   mkfifo "$dir/s.fifo"; fifo="$dir/s.fifo"; want=3 needle="cannot write summary '$dir/s.fifo': it is not a regular file"
                  cmd=(generate --customers 100 --output "$output" --summary "$dir/s.fifo") ;;
  output_dir_is_file) touch "$dir/file"; want=3 needle="is not a directory"
                  output="$dir/file/out.h5"
                  cmd=(generate --customers 100 --output "$output" --summary "$summary") ;;
  k_larger_than_n) store good; want=2 needle="--k 50 is larger than the number of customers (40)"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 50 --summary "$summary") ;;
  # after --missing drop: the customers used, and why fewer than the store's (it had said
  # "the number of customers (38)" of a store of 40)
  k_larger_than_used) store good; want=2 needle="--k 39 is larger than the number of customers (38 used, of the store's 40: --missing drop left out those with a missing value)"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 39 --features age,score --missing drop --summary "$summary") ;;
  k_zero)         store good; want=1 needle="--k must be in 1..100000, got 0"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 0 --summary "$summary") ;;
  churn_no_labels) store no_labels; want=2 needle="in.h5: column 'churned' labels no customer (a label is 0 or 1, or one of a categorical label's two levels; 40 values are neither)"
                  cmd=(churn train --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  # labelled customers only in the holdout: said so (it had blamed the labels' values)
  churn_labels_in_holdout) store labels_in_holdout; want=2 needle="in.h5: column 'churned': every labelled customer (20) is in the holdout, none is left to train on"
                  cmd=(churn train --input "$dir/in.h5" --output "$output" --holdout-column is_test --features age,income --summary "$summary") ;;
  # A feature known only in the holdout: the training split's statistics have no value to
  # come from (it had been called "zero variance (constant 0)", a value not in the data).
  churn_train_split_no_finite) store holdout_only_column; want=2
                  needle="in.h5: feature 'late' has no finite values among the customers the model is fitted on (the training split)"
                  cmd=(churn train --input "$dir/in.h5" --output "$output" --holdout-column is_test --features age,late --summary "$summary") ;;
  churn_one_class) store one_class; want=2 needle="in.h5: column 'churned' has only one class among the"
                  cmd=(churn train --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  churn_score_missing_feature|churn_score_unseen_level)
                  store good
                  prep churn train --input "$dir/in.h5" --output "$dir/model.h5" --quiet \
                    --features age,income,region
                  if [ $case_name = churn_score_missing_feature ]; then
                    store no_income; want=2 needle="feature 'income' is not a column of /customers"
                  else
                    store new_region; want=2 needle="feature 'region' has a level 'east' that the model lacks (the model's levels: north, south, west; here: north, south, west, east)"
                  fi
                  cmd=(churn score --model "$dir/model.h5" --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  # A model with an ordinary numeric column 'segment', scored on a store without it: that
  # column is missing, as any other (it had been taken for --churn-with-segment's segment:
  # "give --segment-results", then "numeric in the model but categorical here").
  churn_score_numeric_segment)
                  store numeric_segment
                  prep churn train --input "$dir/in.h5" --output "$dir/model.h5" --quiet \
                    --features age,income,segment
                  store good; want=2 needle="feature 'segment' is not a column of /customers"
                  cmd=(churn score --model "$dir/model.h5" --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  # a store of no customers (it had been scored with exit 0, nothing to score)
  churn_score_empty_store)
                  store good
                  prep churn train --input "$dir/in.h5" --output "$dir/model.h5" --quiet \
                    --features age,income
                  "$PYTHON" -c 'import h5py, sys, numpy as np
f = h5py.File(sys.argv[1], "w"); g = f.create_group("customers"); g.attrs["schema_version"] = 1
for c in ("customer_id", "age", "income"): g[c] = np.zeros(0, np.int64 if c == "customer_id" else np.float64)' "$dir/empty.h5"
                  want=2 needle="empty.h5: the store holds no customers"
                  cmd=(churn score --model "$dir/model.h5" --input "$dir/empty.h5" --output "$output" --summary "$summary") ;;
  # a segment results file given as the model: said so, not 'no object .../columns'
  churn_score_not_a_model)
                  store good
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                  want=2 needle="--model '$dir/seg.h5' is not a results file of custseg churn train (it has no /churn/model)"
                  cmd=(churn score --model "$dir/seg.h5" --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  churn_segment_other_store)
                  store good
                  prep generate --customers 100 --output "$dir/other.h5" --quiet
                  prep segment --input "$dir/other.h5" --output "$dir/seg.h5" --k 2 --quiet
                  want=2 needle="seg.h5 was not computed from $dir/in.h5"
                  cmd=(churn train --input "$dir/in.h5" --output "$output" --churn-with-segment
                       --segment-results "$dir/seg.h5" --summary "$summary") ;;
  # `segment --previous`: the previous results must exist, have this run's features and
  # hold customer ids.
  # K taken from --previous: the message names that file, not --k (the user gave none)
  previous_k_too_large) "$PYTHON" "$(dirname "$0")/../py/make_store.py" stats "$dir/big.h5"
                  prep segment --input "$dir/big.h5" --output "$dir/prev.h5" --k 45 --features age,income \
                    --quiet
                  store good; want=2
                  needle="--previous $dir/prev.h5 has K = 45 segments, more than the number of customers (40); give --k"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --previous "$dir/prev.h5"
                       --features age,income --summary "$summary") ;;
  # A previous run that gave a feature weight 0 stored NaN for it (the error had only said
  # "a non-finite value").
  previous_weight_zero) store good
                  prep segment --input "$dir/in.h5" --output "$dir/prev.h5" --k 2 --features age,income \
                    --feature-weights income:0 --quiet
                  want=1 needle="--previous $dir/prev.h5:/segments/centroids has no value for feature 'income' (NaN: the run that wrote it gave the feature weight 0, this run gives it 1); use the same --feature-weights"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --previous "$dir/prev.h5"
                       --features age,income --summary "$summary") ;;
  # An output name too long for its temporary name (had been blamed on the directory), and
  # one just short enough in a directory path of over 240 bytes (Open MPI 4.1's lockedfile
  # component had aborted in MPI_File_open).
  output_name_too_long) long=$(printf 'n%.0s' {1..202}) deep="$dir/out/$(printf 'd%.0s' {1..200})"
                  mkdir -p "$deep"
                  prep generate --customers 100 --output "$deep/$long.h5" --quiet
                  [ -f "$deep/$long.h5" ] && rm -r "$deep" || { echo "FAIL: a 205-byte name"; exit 1; }
                  want=3 needle="its file name is 207 bytes, and custseg writes it first under a temporary name up to 50 bytes longer"
                  cmd=(generate --customers 100 --output "$dir/out/${long}nn.h5") ;;
  # A truncated results file had been exit 3 "cannot open as HDF5" (an I/O error).
  results_truncated) store good
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --features age,income --quiet
                  truncate -s $(( $(stat -c %s "$dir/seg.h5") / 2 )) "$dir/seg.h5"
                  want=2 needle="$dir/seg.h5: a damaged or truncated HDF5 file"
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" --output "$output") ;;
  # A FIFO as a results file had blocked the job for good.
  results_fifo)   mkfifo "$dir/ff"; want=2 needle="--segment-results '$dir/ff' is not a regular file"
                  cmd=(report --segment-results "$dir/ff" --output "$output") ;;
  previous_missing) store good; want=2 needle="cannot open --previous '$dir/absent.h5': No such file or directory"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --previous "$dir/absent.h5"
                       --summary "$summary") ;;
  previous_other_features|previous_no_customer_id|previous_damaged_ids|previous_short_labels|previous_repeat_unlabelled|previous_label_out_of_range|previous_labels_edited|previous_centroid_nan|previous_centroid_inf)
                  store good
                  prep segment --input "$dir/in.h5" --output "$dir/prev.h5" --k 2 --features age,income \
                    --quiet
                  if [ $case_name = previous_other_features ]; then
                    feats=age,income,visits
                    want=1 needle="--previous $dir/prev.h5:/segments/centroids is for other features than this run: this run also has 'visits'; the features follow the store's columns (one added or left out changes the default ones), --features and --log1p: give this run that run's (it has [age,income], this run [age,income,visits])"
                  else
                    feats=age,income want=2
                    case $case_name in
                      previous_no_customer_id) needle="--previous $dir/prev.h5 has no /segments/customer_id"
                        "$PYTHON" -c 'import h5py, sys; del h5py.File(sys.argv[1], "r+")["segments/customer_id"]' "$dir/prev.h5" ;;
                      # a damaged object header: not "results written before custseg stored ids"
                      previous_damaged_ids) needle="prev.h5: dataset /segments/customer_id cannot be read (a damaged or truncated file?)"
                        "$PYTHON" - "$dir/prev.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    a = h5py.h5o.get_info(f["segments/customer_id"].id).addr
b = bytearray(open(sys.argv[1], "rb").read())
b[a + 20:a + 40] = b"\xff" * 20
open(sys.argv[1], "wb").write(b)
PY
                        ;;
                      previous_short_labels) needle="--previous $dir/prev.h5: /segments/labels has 35 rows but /segments/customer_id has 40"
                        "$PYTHON" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); l = f["segments/labels"][:35]; del f["segments/labels"]; f["segments/labels"] = l' "$dir/prev.h5" ;;
                      # a repeated id is an error even when one copy has no segment (-1)
                      # found before the features and the fit (it had failed only after the fit)
                      previous_repeat_unlabelled) needle="--previous $dir/prev.h5: /segments/customer_id repeats 1 ids (the smallest: " early=1
                        "$PYTHON" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); c = f["segments/customer_id"]; x = c[...]; x[5] = x[6]; c[...] = x; l = f["segments/labels"]; y = l[...]; y[5] = -1; l[...] = y' "$dir/prev.h5" ;;
                      # labels changed within range: a migration that never happened (it was
                      # reported as one, exit 0); the file's own verification hash catches it
                      previous_labels_edited) needle="--previous $dir/prev.h5: /segments/customer_id and /segments/labels give the verification hash" early=1
                        "$PYTHON" -c 'import h5py, sys; l = h5py.File(sys.argv[1], "r+")["segments/labels"]; y = l[...]; y[:6] = 1 - y[:6]; l[...] = y' "$dir/prev.h5" ;;
                      # NaN in one segment only: damaged, not "the run gave the feature weight 0"
                      previous_centroid_nan) needle="--previous $dir/prev.h5:/segments/centroids has NaN for feature 'income' in segment 1 but values in 1 other segment(s): the file is damaged or was edited"
                        "$PYTHON" -c 'import h5py, sys; h5py.File(sys.argv[1], "r+")["segments/centroids"][1, 1] = float("nan")' "$dir/prev.h5" ;;
                      # +inf: damaged input, exit 2 as NaN above (it had been a usage error, 1)
                      previous_centroid_inf) needle="--previous $dir/prev.h5:/segments/centroids has a non-finite value (segment 0, feature 'income')"
                        "$PYTHON" -c 'import h5py, sys; h5py.File(sys.argv[1], "r+")["segments/centroids"][0, 1] = float("inf")' "$dir/prev.h5" ;;
                      previous_label_out_of_range) needle="--previous $dir/prev.h5: /segments/labels has 1 values outside -1..1" early=1
                        "$PYTHON" -c 'import h5py, sys; h5py.File(sys.argv[1], "r+")["segments/labels"][30] = 2' "$dir/prev.h5" ;;
                    esac
                  fi
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --previous "$dir/prev.h5"
                       --features "$feats" --summary "$summary") ;;
  uint64_id_overflow) store good  # unsigned ids from 2^63 up would come back negative
                  "$PYTHON" -c 'import h5py, sys, numpy as np; g = h5py.File(sys.argv[1], "r+")["customers"]; x = g["customer_id"][...]; del g["customer_id"]; g["customer_id"] = x.astype(np.uint64) + np.uint64(2**63)' "$dir/in.h5"
                  want=2 needle="/customers/customer_id holds 92233720368547"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --summary "$summary") ;;
  # run refuses the store before any stage: the --output-dir it made is not left behind empty
  run_new_dir_duplicate_ids) store duplicate_ids; absent="$dir/newrun"
                  want=2 needle="2 duplicated customer_id values (e.g. "
                  cmd=(run --input "$dir/in.h5" --output-dir "$dir/newrun") ;;
  run_input_in_output_dir) store good  # run clears its files in --output-dir: never the store
                  mkdir -p "$dir/run" && cp "$dir/in.h5" "$dir/run/roi.h5"
                  keep="$dir/run/roi.h5" kept="$dir/in.h5"
                  want=1 needle="--input $dir/run/roi.h5 is $dir/run/roi.h5, a file run writes in --output-dir"
                  cmd=(run --input "$dir/run/roi.h5" --output-dir "$dir/run") ;;
  # An --output-dir that is a file, or a symbolic link to nothing, is said to be one (both had
  # been "not a directory this rank can see", a shared-file-system problem there was not).
  # a --stages list longer than its buffer: a name past the cut had been ignored (exit 0)
  run_stages_long) store good; want=1 needle="--stages: a list of 273 characters"
                  cmd=(run --input "$dir/in.h5" --output-dir "$dir/out/rd"
                       --stages "segment,$(printf '%*s' 260 '')bogus") ;;
  run_output_dir_is_file) store good; touch "$dir/afile"; want=3
                  needle="--output-dir '$dir/afile' is not a directory but a file"
                  cmd=(run --input "$dir/in.h5" --output-dir "$dir/afile") ;;
  run_output_dir_dangling) store good; ln -s "$dir/nowhere" "$dir/dangl"; want=3
                  needle="--output-dir '$dir/dangl' is a symbolic link to something that does not exist"
                  cmd=(run --input "$dir/in.h5" --output-dir "$dir/dangl") ;;
  # ... nor last month's results named as `previous` (they had been removed, then the
  # segment stage failed).
  run_previous_in_output_dir) store good
                  prep run --input "$dir/in.h5" --output-dir "$dir/run" --stages segment --quiet
                  cp "$dir/run/segments.h5" "$dir/prev.h5"
                  printf '[segment]\nprevious = %s\n' "$dir/run/segments.h5" > "$dir/job.ini"
                  keep="$dir/run/segments.h5" kept="$dir/prev.h5"
                  want=1 needle="--previous $dir/run/segments.h5 is $dir/run/segments.h5, a file run writes in --output-dir: move it or choose another --output-dir (previous is set in config $dir/job.ini line 2)"
                  cmd=(run --config "$dir/job.ini" --input "$dir/in.h5" --output-dir "$dir/run" --stages segment,roi) ;;
  # Three distinct customers for K = 5: k-means|| had ended with two empty segments, exit 0;
  # it counts distinct candidates (repeats had counted towards K).
  few_distinct_kmeans_par) store good
                  "$PYTHON" -c 'import h5py, sys, numpy as np; g = h5py.File(sys.argv[1], "r+")["customers"]; n = len(g["customer_id"]); g["age"][...] = np.arange(n) % 3; g["income"][...] = np.arange(n) % 3' "$dir/in.h5"
                  want=2 needle="K = 5: the customers of positive weight have only 3 distinct feature rows (k-means|| took each as a candidate); choose a smaller K"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 5 --features age,income
                       --init "kmeans||" --summary "$summary") ;;
  previous_and_init_centroids) store good; want=1 needle="give --previous or --init-centroids, not both"
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                  cmd=(segment --input "$dir/in.h5" --output "$output" --k 2 --previous "$dir/seg.h5"
                       --init-centroids "$dir/in.h5" --summary "$summary") ;;
  feature_large_offset) store large_offset; want=2 needle="feature 'epoch' varies (from 999999999999997.88 to 1000000000000002.2) but its standard deviation is below 1e-12 of its magnitude, too little for the sums behind its variance; subtract an offset"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --features age,epoch --k 2 --summary "$summary") ;;
  # exactly -1 under --log1p: refused like -5 (a mutation taking only values below -1 as bad,
  # and -1 as missing, had passed every test)
  log1p_minus_one) store good
                  "$PYTHON" -c 'import h5py, sys; d = h5py.File(sys.argv[1], "r+")["customers/income"]; v = d[...]; v[25] = -1; d[...] = v' "$dir/in.h5"
                  want=2 needle="--log1p column 'income' has -1 at row 25 (log1p needs values > -1)"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --features age,income
                       --log1p income --k 2 --summary "$summary") ;;
  zero_variance_feature) store constant_column; want=2 needle="feature 'flat' has zero variance"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --features age,flat --k 2
                       --summary "$summary") ;;
  # 64-bit integers near 2^64 that differ by less than 2^11 are one double: the "zero
  # variance" says so, with the remedy (it had read as a constant column).
  uint64_near_2_64) store good
                  "$PYTHON" -c 'import h5py, sys, numpy as np; g = h5py.File(sys.argv[1], "r+")["customers"]; n = len(g["customer_id"]); g["ticket"] = np.uint64(2**64 - 1000) + np.arange(n, dtype=np.uint64) % 7' "$dir/in.h5"
                  want=2 needle="feature 'ticket' has zero variance (constant 1.84467e+19) as a double, which holds integers exactly only up to 2^53 (if its values differ, subtract an offset"
                  cmd=(segment --input "$dir/in.h5" --output "$output" --features age,ticket --k 2
                       --summary "$summary") ;;
  clv_unsorted)   store txn_unsorted; want=2 needle="is before the previous transaction of customer"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  clv_bad_offsets) store txn_bad_offsets; want=2 needle="/customers/txn_offset decreases at row 12"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  # purchases beyond the last customer's offsets (they had been left out without a word)
  clv_offsets_short) store txn_extra_rows; want=2 needle="/customers/txn_offset ends at 100 but /transactions has 102 rows"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  clv_unknown_customer) store txn_unknown_customer; want=2 needle="/transactions/customer_id[16] is 999999, but txn_offset gives that row to customer"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  clv_negative_amount) store txn_negative_amount; want=2 needle="/transactions/amount[9] is -5"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  clv_nan_time)   store txn_nan_time; want=2 needle="/transactions/time[13] is nan"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  clv_time_in_seconds) store txn_huge_time; want=2 needle="is 1.7e+09 days since 1970-01-01, beyond"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  inspect_unsorted_transactions) store txn_unsorted; want=2 needle="is before the previous transaction of customer"
                  cmd=(inspect "$dir/in.h5" --summary "$summary") ;;
  clv_calibration_before_purchases) store txn_good; want=2 needle="the calibration end 1990-01-01 is before every purchase"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --calibration-end 1990-01-01 --summary "$summary") ;;
  # A horizon too long for the expected-purchases series is named as such (the fit, which is
  # sound, had been called degenerate), and a negative discount compounding to an infinite
  # CLV is an error (it had been written as inf, exit 0).
  clv_horizon_too_long) run generate --customers 300 --transactions --seed 1 --output "$dir/in.h5" --quiet
                  want=4 needle="expected purchases over the horizon of 12 months of 100000 weeks (1.2e+06 weeks); the fit itself is sound"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --month-weeks 1e5 --summary "$summary") ;;
  # A fit that did not converge is named as the cause (3 customers: the horizon had been
  # blamed, "the fit itself is sound", for a gradient of 1e60). Only the release build's
  # floating point makes this store's fit diverge (label `native`, tests/CMakeLists.txt).
  clv_not_converged) run generate --customers 3 --transactions --seed 5 --output "$dir/in.h5" --quiet
                  want=4 needle="verification: 3 customers get negative or non-finite expected purchases; the BG/NBD fit is degenerate ("
                  cmd=(clv --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  clv_infinite_value) store txn_good; want=4 needle="customers get an infinite CLV: --monthly-discount -0.5 over 1100 months weighs each month more"
                  cmd=(clv --input "$dir/in.h5" --output "$output" --horizon-months 1100 --monthly-discount -0.5 --summary "$summary") ;;
  # `custseg roi`: the segments (and churn/CLV results) must exist and come from this store.
  roi_no_segment_results) store good; want=1 needle="roi needs --segment-results FILE"
                  cmd=(roi --input "$dir/in.h5" --output "$output" --summary "$summary") ;;
  roi_missing_segment_results) store good
                  want=2 needle="cannot open --segment-results '$dir/absent.h5': No such file"
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/absent.h5" --output "$output"
                       --summary "$summary") ;;
  roi_segment_other_store|roi_churn_other_store)
                  store good
                  prep generate --customers 100 --output "$dir/other.h5" --quiet
                  if [ $case_name = roi_segment_other_store ]; then
                    prep segment --input "$dir/other.h5" --output "$dir/seg.h5" --k 2 --quiet
                    want=2 needle="seg.h5 was not computed from $dir/in.h5"
                    extra=()
                  else
                    prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                    prep churn train --input "$dir/other.h5" --output "$dir/churn.h5" --quiet
                    want=2 needle="churn.h5 was not computed from $dir/in.h5"
                    extra=(--churn-results "$dir/churn.h5")
                  fi
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" "${extra[@]}"
                       --output "$output" --summary "$summary") ;;
  roi_label_out_of_range|roi_sizes_mismatch)
                  store good   # a results file written with h5py, with this store's fingerprint
                  prep inspect "$dir/in.h5" --quiet --summary "$dir/inspect.json"
                  "$PYTHON" - "$dir" "$case_name" <<'EOF'
import json, sys
import h5py, numpy as np
d, case = sys.argv[1], sys.argv[2]
with open(d + "/inspect.json") as f:
    fp = json.load(f)["input"]["fingerprint"]
lab = (np.arange(40) % 2).astype(np.int32)
sizes = np.bincount(lab).astype(np.int64)
if case == "roi_label_out_of_range":
    lab[17] = 5
else:
    sizes[0] += 1
with h5py.File(d + "/seg.h5", "w") as f:
    f["segments/labels"] = lab
    f["segments/sizes"] = sizes
    f.create_group("run").attrs["input_fingerprint"] = fp
EOF
                  if [ $case_name = roi_label_out_of_range ]; then
                    want=2 needle="$dir/seg.h5:/segments/labels: segment 5 of the customer at row 17 is outside -1 .. 1"
                  else
                    want=2 needle="$dir/seg.h5: /segments/sizes gives segment 0 21 customers but /segments/labels 20"
                  fi
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" --output "$output"
                       --summary "$summary") ;;
  # results files edited by hand: a score of 1.5 or an infinite CLV had gone into the table
  # as they were (exit 0; revenue at risk inf)
  roi_score_out_of_range|roi_clv_inf)
                  store good
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                  prep inspect "$dir/in.h5" --quiet --summary "$dir/inspect.json"
                  "$PYTHON" - "$dir" "$case_name" <<'EOF'
import json, sys
import h5py, numpy as np
d, case = sys.argv[1], sys.argv[2]
with open(d + "/inspect.json") as f:
    fp = json.load(f)["input"]["fingerprint"]
v = np.full(40, 0.25)
v[3] = np.nan  # no value: allowed
with h5py.File(d + "/res.h5", "w") as f:
    if case == "roi_score_out_of_range":
        v[29], v[33] = 1.5, -0.5
        f["churn/score"] = v.astype(np.float32)
    else:
        v[31] = np.inf
        f["clv/value"] = v
    f.create_group("run").attrs["input_fingerprint"] = fp
EOF
                  if [ $case_name = roi_score_out_of_range ]; then
                    want=2 needle="$dir/res.h5:/churn/score has 2 values that are not probabilities (0 .. 1), first 1.5 at row 29"
                    extra=(--churn-results "$dir/res.h5")
                  else
                    want=2 needle="$dir/res.h5:/clv/value has 1 value that is not finite and at least 0, first inf at row 31"
                    extra=(--clv-results "$dir/res.h5")
                  fi
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" "${extra[@]}"
                       --output "$output" --summary "$summary") ;;
  roi_non_numeric_revenue) store good
                  "$PYTHON" -c 'import h5py, sys; h5py.File(sys.argv[1], "r+")["customers/revenue"] = [b"12.5"] * 40' "$dir/in.h5"
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                  want=2 needle="/customers/revenue is not numeric"
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" --output "$output"
                       --summary "$summary") ;;
  # a revenue column imported with an 'n/a' in it is categorical: its codes had been summed as
  # money (exit 0, revenue 6 instead of 450.75)
  roi_categorical_revenue) store good
                  "$PYTHON" -c 'import h5py, sys, numpy as np; g = h5py.File(sys.argv[1], "r+")["customers"]; g["revenue"] = (np.arange(40) % 3).astype(np.int32); g["revenue"].attrs["categories"] = ["100.5", "300", "n/a"]' "$dir/in.h5"
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                  want=2 needle="/customers/revenue is categorical (3 levels, such as 'n/a'), not amounts"
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" --output "$output"
                       --summary "$summary") ;;
  roi_csv_unwritable) store good
                  prep segment --input "$dir/in.h5" --output "$dir/seg.h5" --k 2 --quiet
                  want=3 needle="cannot write CSV table '$dir/missing/t.csv': directory '$dir/missing'"
                  cmd=(roi --input "$dir/in.h5" --segment-results "$dir/seg.h5" --output "$output"
                       --roi-csv "$dir/missing/t.csv" --summary "$summary") ;;
  # `custseg import`: CSV files written here; every error names file, line and column.
  import_ragged_row) printf 'customer_id,age,income\n1,30,100\n2,40\n3,50,300\n' > "$dir/c.csv"
                  want=2 needle="$dir/c.csv:3: 2 fields, but the header has 3"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  import_non_numeric) printf 'customer_id,age,income\n1,30,100.5\n2,40,12x\n3,50,7\n' > "$dir/c.csv"
                  want=2 needle="$dir/c.csv:3: column 'income': '12x' is not a number (the column is float64, inferred from its first 1 values"
                  cmd=(import --customers-csv "$dir/c.csv" --infer-rows 1 --output "$output" --summary "$summary") ;;
  import_non_numeric_declared) printf 'customer_id,age,income\n1,30,n/a\n' > "$dir/c.csv"
                  printf '# types\nincome = float32\n' > "$dir/schema.txt"
                  want=2 needle="$dir/c.csv:2: column 'income': 'n/a' is not a number (declared float32 in $dir/schema.txt)"
                  cmd=(import --customers-csv "$dir/c.csv" --schema "$dir/schema.txt" --output "$output" --summary "$summary") ;;
  # a schema that is a FIFO: import had blocked opening it, deaf to SIGTERM
  import_schema_fifo) printf 'customer_id,age\n1,30\n' > "$dir/c.csv"; mkfifo "$dir/schema"
                  want=2 needle="--schema '$dir/schema' is not a regular file"
                  cmd=(import --customers-csv "$dir/c.csv" --schema "$dir/schema" --output "$output"
                       --summary "$summary") ;;
  import_empty_file) : > "$dir/c.csv"
                  want=2 needle="$dir/c.csv: the file is empty (a header line with the column names is needed)"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  import_duplicate_header) printf 'customer_id,age,income,age\n1,30,100,31\n' > "$dir/c.csv"
                  want=2 needle="$dir/c.csv:1: column 'age' appears twice in the header (fields 2 and 4)"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  import_duplicate_ids) printf 'customer_id,age\n5,30\n6,31\n7,32\n5,33\n' > "$dir/c.csv"
                  want=2 needle="$dir/c.csv:5: column 'customer_id': customer id 5 is repeated (first on line 2)"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  import_unknown_customer) printf 'customer_id,age\n1,30\n2,40\n' > "$dir/c.csv"
                  printf 'customer_id,date,amount\n2,2024-01-05,5\n1,2024-01-02,7\n9,2024-01-03,1\n' > "$dir/t.csv"
                  want=2 needle="$dir/t.csv:4: column 'customer_id': customer 9 is not in $dir/c.csv"
                  cmd=(import --customers-csv "$dir/c.csv" --transactions-csv "$dir/t.csv" --output "$output" --summary "$summary") ;;
  import_bad_date) printf 'customer_id date amount\n1 20240105 5\n1 20240230 7\n' > "$dir/t.csv"
                  want=2 needle="$dir/t.csv:3: column 'date': '20240230' is not a date in the format yyyymmdd"
                  cmd=(import --transactions-csv "$dir/t.csv" --txn-delimiter whitespace --txn-date-format yyyymmdd --output "$output" --summary "$summary") ;;
  # An amount written for people is said to be one (it had been only "not a number").
  import_txn_decimal_comma) printf 'customer_id;date;amount\n1;2024-01-01;12,50\n' > "$dir/t.csv"
                  want=2 needle="$dir/t.csv:2: column 'amount': '12,50' is not a number (a decimal comma, digit grouping or a currency sign: custseg reads amounts as 1234.5"
                  cmd=(import --transactions-csv "$dir/t.csv" --txn-delimiter semicolon --output "$output" --summary "$summary") ;;
  import_unclosed_quote) printf 'customer_id,name\n1,"abc\n2,def\n' > "$dir/c.csv"
                  want=2 needle="$dir/c.csv:2: a quoted field is not closed before the end of the file"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  import_schema_unknown_column) printf 'customer_id,age\n1,30\n' > "$dir/c.csv"
                  printf 'age = int16\ncolour = categorical: red, blue\n' > "$dir/schema.txt"
                  want=1 needle="schema $dir/schema.txt line 2: column 'colour' is not in $dir/c.csv"
                  cmd=(import --customers-csv "$dir/c.csv" --schema "$dir/schema.txt" --output "$output" --summary "$summary") ;;
  # A lower-case time in the date format had been literal text, failing every date; an id
  # with digit grouping had been advised --hash-ids (which would not match the transactions'
  # 1234); a declared float beyond float64 had been called 'not a number'.
  import_date_lowercase_time) printf 'customer_id,date,amount\n1,2024-01-05 10:00,5\n' > "$dir/t.csv"
                  want=1 needle="date format 'yyyy-mm-dd hh:mi': 'hh' is not a field (the hour is HH"
                  cmd=(import --transactions-csv "$dir/t.csv" --txn-date-format 'yyyy-mm-dd hh:mi' --output "$output" --summary "$summary") ;;
  import_id_grouping) printf 'customer_id,a\n"1,234",2\n' > "$dir/c.csv"
                  want=2 needle="$dir/c.csv:2: column 'customer_id': '1,234' is a number with digit grouping"
                  cmd=(import --customers-csv "$dir/c.csv" --output "$output" --summary "$summary") ;;
  import_float_beyond_range) printf 'customer_id,a\n1,1e309\n2,3\n' > "$dir/c.csv"
                  printf 'a = float64\n' > "$dir/schema.txt"
                  want=2 needle="$dir/c.csv:2: column 'a': '1e309' is beyond the float64 range (declared float64 in"
                  cmd=(import --customers-csv "$dir/c.csv" --schema "$dir/schema.txt" --output "$output" --summary "$summary") ;;
  # A quote never closed had taken the rest of the file into memory, to fail at its end; all
  # purchases of unknown customers under --skip-bad-rows had made a store without any, exit 0.
  import_quote_runaway) "$PYTHON" -c 'import sys
with open(sys.argv[1], "w") as f:
    f.write("customer_id,date,amount,channel\n1,2024-01-02,5.0,\"web\n")
    f.write("".join(f"{i},2024-01-03,{i % 97}.5,shop\n" for i in range(2, 1200000)))' "$dir/t.csv"
                  want=2 needle="$dir/t.csv:2: field 4 of the record on this line is longer than 16 MiB by line"
                  cmd=(import --transactions-csv "$dir/t.csv" --output "$output" --summary "$summary") ;;
  import_txn_none_matched) printf 'customer_id,age\n1,30\n2,40\n' > "$dir/c.csv"
                  printf 'customer_id,date,amount\n9,2024-01-02,5\n8,2024-01-03,6\n' > "$dir/t.csv"
                  want=2 needle="$dir/t.csv: none of its 2 purchases is of a customer in $dir/c.csv (2 of unknown customers, 0 skipped as bad otherwise)"
                  cmd=(import --customers-csv "$dir/c.csv" --transactions-csv "$dir/t.csv" --skip-bad-rows --output "$output" --summary "$summary") ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac

set +e
run "${cmd[@]}" > "$dir/stdout" 2> "$dir/stderr"
rc=$?
set -e
errline=$(grep '^custseg: error:' "$dir/stderr" || true)
fail=0
[ "$rc" = "$want" ] || { echo "FAIL: exit status $rc, wanted $want"; fail=1; }
[ "$(printf '%s\n' "$errline" | grep -c .)" = 1 ] || { echo "FAIL: wanted exactly one error line, got: $errline"; fail=1; }
case $errline in *"$needle"*) ;; *) echo "FAIL: error line lacks '$needle'"; fail=1 ;; esac
left=$(find "$dir/out" "$(dirname "$output")" -maxdepth 1 \( -name 'out.h5' -o -name 'summary.json*' -o -name '.out.h5.*' \) 2>/dev/null || true)
[ -z "$left" ] || { echo "FAIL: output left behind: $left"; fail=1; }
# early=1: the error comes before the features are built (no stage log line after it)
if [ -n "${early:-}" ] && grep -q 'customers x .* features' "$dir/stdout" "$dir/stderr"; then
  echo "FAIL: the error came after the features were built"; fail=1
fi
if [ -n "${absent:-}" ] && [ -e "$absent" ]; then
  echo "FAIL: $absent was left behind: $(ls -A "$absent" | head -5 | tr '\n' ' ')"; fail=1
fi
if [ -n "${fifo:-}" ] && [ ! -p "$fifo" ]; then
  echo "FAIL: the FIFO $fifo was replaced"; fail=1
fi
if [ -n "${keep:-}" ] && ! cmp -s "$kept" "$keep"; then
  echo "FAIL: run removed or changed its input $keep"; fail=1
fi
if [ $fail = 1 ]; then echo "--- stderr:"; cat "$dir/stderr"; exit 1; fi
echo "ok: $case_name at $ranks ranks: $errline"
