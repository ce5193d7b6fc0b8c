#!/usr/bin/env bash
# A read that fails on one rank only (a disk error, a file truncated under the job) is one
# clear error on every rank, with no hang and no output left. The failure is injected by
# tests/fault/io_eio.c (LD_PRELOAD: reads of a file in a byte range fail with EIO on one
# rank). Through Open MPI's MPI-IO, as custseg read columns until 2026-12-07, a failed read
# hung the job at 3 and 4 ranks (the failing rank was an aggregator of the collective read)
# and ran on zeros with exit status 0 at 1 and 2 (the failed read came back as a short one,
# which HDF5 fills with zeros); rows are now read with pread(2) or a serial HDF5 open
# (src/io/rows.c, docs/format.md). The library's write mode (CS_FAULT_OP=write) is not used
# at the end: writes of a results file failing on one rank (until 2026-12-08 a hang at 2
# ranks and a crash at 1, in parallel HDF5's close; docs/operations.md, "A write that fails on
# one rank").
# usage: io_fault.sh RANKS   (env: CUSTSEG, MPIEXEC, PYTHON, CS_TEST_DIR, CS_FAULT_LIB, and
# CS_FAULT_TIMEOUT: seconds a command may take, 120 by default)
set -euo pipefail
ranks=${1:-1}
dir="$CS_TEST_DIR/io_fault_np$ranks" && rm -rf "$dir" && mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
n=200000
$MPIEXEC -n "$ranks" "$CUSTSEG" generate --customers $n --segments 4 --seed 3 --quiet \
  --output "$dir/store.h5"
# Where the income column's rows lie in the file, and where the file's data ends (HDF5 puts
# the object headers written at close after it).
off= size= end=
read -r off size end < <("$PYTHON" - "$dir/store.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    g = f["customers"]
    print(g["income"].id.get_offset(), g["income"].dtype.itemsize,
          max(d.id.get_offset() + d.id.get_storage_size() for d in g.values()))
PY
)
[ -n "$end" ] || { echo "FAIL: the store's layout could not be read with h5py"; exit 1; }

# A results file of segment, for roi to read its labels (int32) from.
$MPIEXEC -n "$ranks" "$CUSTSEG" segment --input "$dir/store.h5" --features income,age --k 3 \
  --output "$dir/seg0.h5" --quiet
loff=$("$PYTHON" -c 'import sys, h5py; print(h5py.File(sys.argv[1], "r")["segments/labels"].id.get_offset())' "$dir/seg0.h5")
# Where its datasets' data ends: the metadata HDF5 writes when it closes the file comes after.
# And where the small datasets' data begins (after the per-customer ones).
sfrom= mend=
read -r sfrom mend < <("$PYTHON" - "$dir/seg0.h5" <<'PY'
import sys, h5py
spans = []
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(lambda n, o: spans.append((o.id.get_offset(), o.id.get_storage_size(), o.shape))
                 if isinstance(o, h5py.Dataset) and o.id.get_offset() is not None else None)
n = max(s[2][0] for s in spans if len(s[2]) == 1)
big_end = max(a + b for a, b, shape in spans if shape == (n,))
print(min(a for a, b, shape in spans if a >= big_end), max(a + b for a, b, shape in spans))
PY
)
[ -n "$mend" ] || { echo "FAIL: the results file's layout could not be read with h5py"; exit 1; }

# run LABEL FILE RANK FROM TO CMD...: the command with reads of bytes [FROM, TO) of FILE failing
# on RANK; every rank must end, with the same status, 2 or 3, and one error line within the
# timeout. mpiexec waits for every rank, and each rank writes down its own status (by default
# mpiexec kills the job once one rank exits non-zero, and a rank left waiting in a collective
# call would go unseen).
run() {
  local label=$1 file=$2 rank=$3 from=$4 to=$5; shift 5
  local st=0
  rm -f "$dir"/rank_*.st
  OMPI_MCA_io_ompio_bytes_per_agg=1048576 timeout -k 10 "${CS_FAULT_TIMEOUT:-120}" \
    $MPIEXEC --mca orte_abort_on_non_zero_status 0 -n "$ranks" \
    -x LD_PRELOAD="$CS_FAULT_LIB" -x CS_FAULT_FILE="$file" -x CS_FAULT_RANK="$rank" \
    -x CS_FAULT_FROM="$from" -x CS_FAULT_TO="$to" -x CS_FAULT_EOF="${CS_FAULT_EOF:-0}" \
    -x CS_FAULT_SWAP="${CS_FAULT_SWAP:-}" -x CS_FAULT_OP="${CS_FAULT_OP:-read}" -x ST_DIR="$dir" \
    bash -c 'st=0; "$@" || st=$?; echo $st > "$ST_DIR/rank_$OMPI_COMM_WORLD_RANK.st"' _ \
    "$CUSTSEG" "$@" > "$dir/out.txt" 2> "$dir/err.txt" || st=$?
  [ "$st" != 124 ] && [ "$st" != 137 ] || { cat "$dir/err.txt"; echo "FAIL: $label: hung (timeout)"; exit 1; }
  local all
  all=$(cat "$dir"/rank_*.st 2>/dev/null | sort -u | tr '\n' ' ')
  [ "$(ls "$dir"/rank_*.st | wc -l)" = "$ranks" ] && { [ "$all" = "2 " ] || [ "$all" = "3 " ]; } \
    || { cat "$dir/err.txt"; echo "FAIL: $label: rank exit statuses '$all', wanted one, 2 or 3"; exit 1; }
  st=${all% }
  [ "$(grep -c 'custseg: error' "$dir/err.txt")" = 1 ] \
    || { cat "$dir/err.txt"; echo "FAIL: $label: not one error line"; exit 1; }
  rm -f "$dir"/rank_*.st
  echo "ok: $ranks rank(s), $label: exit $st: $(grep 'custseg: error' "$dir/err.txt")"
}

for ((r = 0; r < ranks; r++)); do
  # A row in the middle of rank r's block, whatever the partition does with the remainder.
  row=$(( (2 * r + 1) * n / (2 * ranks) ))
  from=$(( off + row * size ))
  run "inspect, rank $r's rows of income" "$dir/store.h5" "$r" "$from" $((from + size)) inspect "$dir/store.h5"
  grep -q "custseg: error: $dir/store.h5: read of /customers/income rows \[[0-9]*, [0-9]*) failed" \
    "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: the error does not name the column"; exit 1; }
  run "segment, rank $r's rows of income" "$dir/store.h5" "$r" "$from" $((from + size)) segment \
    --input "$dir/store.h5" --features income,age --k 3 --output "$dir/seg.h5" --quiet
  [ ! -e "$dir/seg.h5" ] || { echo "FAIL: results left after the failed read"; exit 1; }
  left=$(ls -A "$dir" | grep -v -x -e store.h5 -e seg0.h5 -e out.txt -e err.txt || true)
  [ -z "$left" ] || { echo "$left"; echo "FAIL: partial output left"; exit 1; }
  # Another file's rows (io/small.c): roi reading the labels of a results file.
  from=$(( loff + row * 4 ))
  run "roi, rank $r's labels" "$dir/seg0.h5" "$r" "$from" $((from + 4)) roi --input "$dir/store.h5" \
    --segment-results "$dir/seg0.h5" --output "$dir/roi.h5" --quiet
  grep -q "custseg: error: $dir/seg0.h5: read of /segments/labels rows \[[0-9]*, [0-9]*) failed" \
    "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: the error does not name the labels"; exit 1; }
  [ ! -e "$dir/roi.h5" ] || { echo "FAIL: roi results left after the failed read"; exit 1; }
done
# The file ends inside the last rank's rows (truncated while the job reads it).
r=$((ranks - 1)); from=$(( off + (2 * r + 1) * n / (2 * ranks) * size ))
CS_FAULT_EOF=1 run "the file ending in rank $r's rows" "$dir/store.h5" "$r" "$from" $((from + size)) inspect "$dir/store.h5"
grep -q "custseg: error: $dir/store.h5: the file ends at byte [0-9]*, inside /customers/income rows" \
  "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: the error does not say where the file ends"; exit 1; }
# A chunked column, read through a rank-local serial HDF5 open rather than pread: the same
# error (through MPI-IO it had come back as zeros, as above).
"$PYTHON" - "$dir/store.h5" "$dir/chunked.h5" <<'PY'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    g = f["customers"]
    v, attrs = g["income"][...], dict(g["income"].attrs)
    del g["income"]
    g.create_dataset("income", data=v, chunks=(10000,))
    g["income"].attrs.update(attrs)
PY
r=$((ranks - 1)); row=$(( (2 * r + 1) * n / (2 * ranks) ))
coff=$("$PYTHON" -c 'import sys, h5py; print(h5py.File(sys.argv[1], "r")["customers/income"].id.get_chunk_info_by_coord((int(sys.argv[2]),)).byte_offset)' "$dir/chunked.h5" "$row")
run "a chunk of rank $r's rows" "$dir/chunked.h5" "$r" "$coff" $((coff + 8)) inspect "$dir/chunked.h5"
grep -q "custseg: error: $dir/chunked.h5: read of /customers/income rows \[[0-9]*, [0-9]*) failed" \
  "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: the chunked read's error does not name the column"; exit 1; }
# The chunked copy cut short for real while rank r reads it: HDF5's serial reader fills what
# lies past the end of the file with zeros, which had been read as data (exit 0); the file's
# size is now checked against HDF5's end of data after every serial read.
cp "$dir/chunked.h5" "$dir/cut.h5"
CS_FAULT_EOF=2 run "the chunked file cut short in rank $r's rows" "$dir/cut.h5" "$r" "$coff" \
  $((coff + 8)) inspect "$dir/cut.h5"
# With more ranks, another rank may meet the cut first: HDF5 refuses its serial open of the
# file, or its chunk index, past the new end, to be read. At 1 rank it is this check.
want="the file ends at byte $coff, before the end of its data"
[ "$ranks" = 1 ] || want="\($want\|cannot open it again (serially)\|read of /customers/income rows\)"
grep -q "custseg: error: $dir/cut.h5: $want" "$dir/err.txt" \
  || { cat "$dir/err.txt"; echo "FAIL: the cut file's error does not say where it ends"; exit 1; }
rm -f "$dir/cut.h5"
# The store replaced (renamed over) on one rank between custseg's own open of it and the
# MPI-IO open: refused, where the rows had been read from the new file at the old file's
# offsets (a 400-customer store over a 200000-customer one: exit 0 and nonsense).
$MPIEXEC -n "$ranks" "$CUSTSEG" generate --customers 400 --seed 8 --quiet --output "$dir/new.h5"
cp "$dir/store.h5" "$dir/victim.h5"
CS_FAULT_SWAP="$dir/new.h5" run "the store replaced on rank $r" "$dir/victim.h5" "$r" 0 "" \
  inspect "$dir/victim.h5"
grep -q "custseg: error: '$dir/victim.h5' was replaced while it was being opened" "$dir/err.txt" \
  || { cat "$dir/err.txt"; echo "FAIL: the replaced store was not refused"; exit 1; }
# Everything after the columns' data (the data of the attributes, such as the variable-length
# category names), unreadable on the last rank: the store cannot be opened, one error naming
# what could not be read (which object fails first depends on the file's layout).
run "the metadata on rank $((ranks - 1))" "$dir/store.h5" $((ranks - 1)) "$end" "" inspect "$dir/store.h5"
grep -q "custseg: error: $dir/store.h5: \(cannot open /customers\|cannot read /customers/\)" \
  "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: the error does not say what could not be read"; exit 1; }

# Writes of segment's results file failing on one rank (CS_FAULT_OP=write): all of them (the
# labels, written by every rank, fail first), or only those after the datasets' data (the
# metadata written while closing the file, by whichever ranks HDF5 gives it to). Either one
# error, exit status 3 and nothing left, or, when that rank had nothing there to write (no
# failed write logged by the library), the same results as seg0.h5. Closing a file whose
# metadata write failed on one rank left the ranks waiting in different collective calls: the
# close is now watched (CUSTSEG_CLOSE_TIMEOUT), and a file a rank failed to write to is not
# closed at all, the job ending by MPI_Abort, which may kill the ranks' wrappers before they
# write their status: then mpiexec's own status (3) stands for them. Sets `outcome`.
outcome=
run_write() {
  local label=$1 rank=$2 from=$3 to=${4:-}
  local st=0
  rm -f "$dir"/rank_*.st "$dir/segw.h5"
  CUSTSEG_CLOSE_TIMEOUT=5 timeout -k 10 "${CS_FAULT_TIMEOUT:-120}" \
    $MPIEXEC --mca orte_abort_on_non_zero_status 0 -n "$ranks" -x CUSTSEG_CLOSE_TIMEOUT \
    -x LD_PRELOAD="$CS_FAULT_LIB" -x CS_FAULT_FILE=/.segw.h5.tmp -x CS_FAULT_RANK="$rank" \
    -x CS_FAULT_FROM="$from" -x CS_FAULT_TO="$to" -x CS_FAULT_OP=write -x CS_FAULT_LOG=1 \
    -x ST_DIR="$dir" \
    bash -c 'st=0; "$@" || st=$?; echo $st > "$ST_DIR/rank_$OMPI_COMM_WORLD_RANK.st"' _ \
    "$CUSTSEG" segment --input "$dir/store.h5" --features income,age --k 3 \
    --output "$dir/segw.h5" --quiet > "$dir/out.txt" 2> "$dir/err.txt" || st=$?
  [ "$st" != 124 ] && [ "$st" != 137 ] || { cat "$dir/err.txt"; echo "FAIL: $label: hung (timeout)"; exit 1; }
  local all failed
  all=$( (cat "$dir"/rank_*.st 2>/dev/null || true) | sort -u | tr '\n' ' ')
  failed=$(grep -c '^io_eio: a write failed' "$dir/err.txt" || true)
  rm -f "$dir"/rank_*.st
  if [ "$all" = "0 " ] || [ "$failed" = 0 ]; then
    # No write failed on that rank: a clean run, on every rank.
    [ "$all" = "0 " ] && [ "$st" = 0 ] && [ "$failed" = 0 ] && ! grep -q 'custseg: error' "$dir/err.txt" \
      || { cat "$dir/err.txt"; echo "FAIL: $label: statuses '$all' (mpiexec $st) after $failed failed write(s)"; exit 1; }
    "$PYTHON" -c 'import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["segments/labels"][...] for p in sys.argv[1:])
sys.exit(not np.array_equal(a, b))' "$dir/seg0.h5" "$dir/segw.h5" \
      || { echo "FAIL: $label: exit 0, but the results differ from seg0.h5"; exit 1; }
    echo "ok: $ranks rank(s), $label: no write failed there, the same results"
    rm -f "$dir/segw.h5"
    outcome=clean
    return
  fi
  { [ "$all" = "3 " ] || { [ -z "$all" ] && [ "$st" = 3 ]; }; } \
    || { cat "$dir/err.txt"; echo "FAIL: $label: rank exit statuses '$all' (mpiexec $st), wanted 3"; exit 1; }
  [ "$(grep -c 'custseg: error' "$dir/err.txt")" = 1 ] \
    || { cat "$dir/err.txt"; echo "FAIL: $label: not one error line"; exit 1; }
  left=$(ls -A "$dir" | grep -v -x -e store.h5 -e seg0.h5 -e out.txt -e err.txt -e new.h5 \
    -e victim.h5 -e chunked.h5 || true)
  [ -z "$left" ] || { echo "$left"; echo "FAIL: $label: partial output left"; exit 1; }
  echo "ok: $ranks rank(s), $label: $failed failed write(s), exit 3: $(grep 'custseg: error' "$dir/err.txt")"
  outcome=error
}
errors=0
for ((r = 0; r < ranks; r++)); do
  run_write "every write of the results file failing on rank $r" "$r" 0
  grep -q "custseg: error: $dir/segw.h5: write of /segments/labels rows \[[0-9]*, [0-9]*) failed" \
    "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: the error does not name the labels"; exit 1; }
  run_write "the close's metadata writes failing on rank $r" "$r" "$mend"
  [ "$outcome" = clean ] || errors=$((errors + 1))
done
# Some rank writes metadata at the close at every rank count: its failure must have been met.
[ "$errors" -gt 0 ] || { echo "FAIL: no rank's metadata write failed: the close was not tested"; exit 1; }
# The small datasets (centroids, sizes, ...), which rank 0 writes alone: its failed write is the
# error at every rank count (written collectively, it had come back as a success from Open MPI's
# collective writer at 3 and 4 ranks, and only reading the file back caught it).
run_write "rank 0's writes of the small datasets failing" 0 "$sfrom" "$mend"
grep -q "custseg: error: $dir/segw.h5: cannot write /segments/" "$dir/err.txt" \
  || { cat "$dir/err.txt"; echo "FAIL: the error does not name the small dataset"; exit 1; }
