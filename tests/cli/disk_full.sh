#!/usr/bin/env bash
# An output directory on a file system too small for the results is reported before any
# compute, with one error line, exit status 3 and nothing left in the directory. Uses a 1 MiB
# tmpfs (needs root and mount; skipped with status 77 otherwise).
# Then a disk that fills during the write (generate's purchase histories on a tmpfs just large
# enough for the customers): exit status 3, one error line, no hang, nothing published or
# left behind, at any rank count (Open MPI's collective writer at 3 ranks reported ENOSPC only
# on stderr, and the file used to be published damaged, with exit status 0; then the job hung
# when the disk filled before the writer's last cycle: the ranks now write their rows
# independently, and the failed write is the error); and the same on a loop-mounted ext4, where
# it must not be taken for a failing disk (docs/operations.md, "A write that fails on one rank").
# Then no room at all when a results file is created (a used-up quota): the same, where the
# close of the file had hung (2 ranks) or crashed MPI_Finalize (1 rank).
# usage: disk_full.sh RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
ranks=${1:-1}
dir="$CS_TEST_DIR/disk_full_np$ranks" && rm -rf "$dir" && mkdir -p "$dir/small"
if ! mount -t tmpfs -o size=1m tmpfs "$dir/small" 2>/dev/null; then
  echo "SKIP: cannot mount a small tmpfs here (needs root)"; exit 77; fi
trap 'umount "$dir/small" "$dir/mid" 2>/dev/null || true; rm -rf "$dir"' EXIT
timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" generate --customers 200000 \
  --segments 4 --seed 1 --quiet --output "$dir/store.h5"
st=0
timeout 300 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" segment --input "$dir/store.h5" \
  --k 4 --output "$dir/small/seg.h5" 2> "$dir/err.txt" || st=$?
[ "$st" = 3 ] || { cat "$dir/err.txt"; echo "FAIL: exit status $st, expected 3"; exit 1; }
grep -q "custseg: error: not enough space for output '$dir/small/seg.h5': about [0-9.]* MB needed" \
  "$dir/err.txt" || { cat "$dir/err.txt"; echo "FAIL: no clear message"; exit 1; }
grep -q "k-means: iteration" "$dir/err.txt" && { echo "FAIL: k-means ran before the check"; exit 1; }
[ "$(grep -c 'custseg: error' "$dir/err.txt")" = 1 ] || { cat "$dir/err.txt"; echo "FAIL: not one error line"; exit 1; }
[ -z "$(ls -A "$dir/small")" ] || { ls -la "$dir/small"; echo "FAIL: files left on the small disk"; exit 1; }
echo "ok: $ranks rank(s): $(grep 'custseg: error' "$dir/err.txt")"

# The disk fills during the write. The pre-check's figure for the customers (on the 1 MiB disk)
# sizes a second tmpfs 0.2 MB above it; the purchase histories then do not fit. Open MPI's
# collective writer is given 1 MiB cycles (32 MiB by default), so that a write spans several:
# when the disk filled in a cycle before the last, the aggregator that failed stayed in the
# write while the other ranks went on, and the job hung (3 ranks) until the timeout.
n=30000
st=0
timeout 120 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" generate --customers $n --quiet \
  --output "$dir/small/g.h5" 2> "$dir/err0.txt" || st=$?
need=$(sed -n "s/.*about \([0-9.]*\) MB needed.*/\1/p" "$dir/err0.txt" | head -1)
[ "$st" = 3 ] && [ -n "$need" ] || { cat "$dir/err0.txt"; echo "FAIL: generate's space check"; exit 1; }
mkdir -p "$dir/mid"
kb=$(awk -v m="$need" 'BEGIN { printf "%d", (m + 0.2) * 1e6 / 1024 }')
mount -t tmpfs -o size=${kb}k tmpfs "$dir/mid"
st=0
OMPI_MCA_io_ompio_bytes_per_agg=1048576 timeout 120 $MPIEXEC --oversubscribe -n "$ranks" \
  "$CUSTSEG" generate --customers $n --transactions --quiet --output "$dir/mid/g.h5" \
  2> "$dir/err1.txt" || st=$?
[ "$st" = 3 ] || { cat "$dir/err1.txt"; echo "FAIL: disk full during the write: exit status $st, expected 3"; exit 1; }
[ "$(grep -c 'custseg: error' "$dir/err1.txt")" = 1 ] || { cat "$dir/err1.txt"; echo "FAIL: not one error line"; exit 1; }
[ -z "$(ls -A "$dir/mid")" ] || { ls -la "$dir/mid"; echo "FAIL: a file was published or left behind"; exit 1; }
# A full disk leaves the file to be closed as usual (the reserve's room), not by MPI_Abort as
# after another write error (io_fault.sh): ENOSPC was told apart.
! grep -q -e 'removed without closing it' -e 'MPI_ABORT' "$dir/err1.txt" \
  || { cat "$dir/err1.txt"; echo "FAIL: a full disk was taken for a failing one (MPI_Abort)"; exit 1; }
echo "ok: $ranks rank(s), disk full during the write: $(grep 'custseg: error' "$dir/err1.txt")"

# The same on ext4 (a loop-mounted image; skipped where one cannot be made), which keeps back
# blocks that root cannot write either: root's free-block count still showed several MB at
# ENOSPC there, and the full disk was taken for a failing one (MPI_Abort).
mkdir -p "$dir/e4"
if truncate -s 64M "$dir/e4.img" && mkfs.ext4 -q -F -m 0 "$dir/e4.img" >/dev/null 2>&1 &&
   mount -o loop "$dir/e4.img" "$dir/e4" 2>/dev/null; then
  trap 'umount "$dir/small" "$dir/mid" "$dir/e4" 2>/dev/null || true; rm -rf "$dir"' EXIT
  avail=$(( $(stat -f -c %a "$dir/e4") * $(stat -f -c %S "$dir/e4") ))
  fill=$(awk -v a="$avail" -v m="$need" 'BEGIN { printf "%d", (a - (m + 0.2) * 1e6) / 4096 }')
  dd if=/dev/zero of="$dir/e4/fill" bs=4096 count="$fill" 2>/dev/null; sync
  st=0
  OMPI_MCA_io_ompio_bytes_per_agg=1048576 timeout 120 $MPIEXEC --oversubscribe -n "$ranks" \
    "$CUSTSEG" generate --customers $n --transactions --quiet --output "$dir/e4/g.h5" \
    2> "$dir/err4.txt" || st=$?
  [ "$st" = 3 ] && [ "$(grep -c 'custseg: error' "$dir/err4.txt")" = 1 ] \
    || { cat "$dir/err4.txt"; echo "FAIL: ext4 disk full during the write: exit status $st, expected 3 and one error"; exit 1; }
  [ "$(ls -A "$dir/e4" | grep -v -x -e fill -e lost+found || true)" = "" ] \
    || { ls -la "$dir/e4"; echo "FAIL: ext4: a file was published or left behind"; exit 1; }
  ! grep -q -e 'removed without closing it' -e 'MPI_ABORT' "$dir/err4.txt" \
    || { cat "$dir/err4.txt"; echo "FAIL: ext4: a full disk was taken for a failing one (MPI_Abort)"; exit 1; }
  echo "ok: $ranks rank(s), ext4 disk full during the write: $(grep 'custseg: error' "$dir/err4.txt")"
  umount "$dir/e4"
else
  echo "skip: no loop-mounted ext4 here"
fi

# A checkpoint on a full disk (written every iteration). Its write had failed inside parallel
# HDF5: at 2 ranks the ranks then waited in different collectives forever, at 1 rank
# MPI_Finalize crashed (exit 139). Now: exit status 3, one error line naming the checkpoint,
# no temporary file left.
umount "$dir/mid"
dd if=/dev/zero of="$dir/small/fill" bs=4k count=1000 2>/dev/null || true  # fills the 1 MiB
st=0
timeout 120 $MPIEXEC --oversubscribe -n "$ranks" "$CUSTSEG" segment --input "$dir/store.h5" \
  --k 8 --tol 0 --max-iter 50 --output "$dir/seg.h5" --checkpoint "$dir/small/c.ckpt" \
  --checkpoint-every 0.000001 --quiet 2> "$dir/err2.txt" || st=$?
[ "$st" = 3 ] || { cat "$dir/err2.txt"; echo "FAIL: checkpoint on a full disk: exit status $st, expected 3"; exit 1; }
grep -q "custseg: error: cannot write '$dir/small/c.ckpt' (as .*): No space left on device" \
  "$dir/err2.txt" || { cat "$dir/err2.txt"; echo "FAIL: no clear message for the checkpoint"; exit 1; }
[ "$(ls -A "$dir/small")" = fill ] || { ls -la "$dir/small"; echo "FAIL: checkpoint files left behind"; exit 1; }
[ ! -e "$dir/seg.h5" ] || { echo "FAIL: results published after the failed checkpoint"; exit 1; }
echo "ok: $ranks rank(s), checkpoint on a full disk: $(grep 'custseg: error' "$dir/err2.txt")"

# No room at all when the results file is created (a quota used up, or a disk another job
# filled after the space check, which the test skips): at 2 ranks the ranks had waited in
# different collectives of the file's close for good, at 1 rank MPI_Finalize crashed (exit
# 139). Now the 1 MiB held back for the close cannot be written: exit status 3, one error
# line, nothing left.
st=0
CUSTSEG_TEST_NO_SPACE_CHECK=1 timeout 120 $MPIEXEC --oversubscribe -n "$ranks" \
  -x CUSTSEG_TEST_NO_SPACE_CHECK "$CUSTSEG" segment --input "$dir/store.h5" --k 4 \
  --output "$dir/small/seg2.h5" --quiet 2> "$dir/err3.txt" || st=$?
[ "$st" = 3 ] || { cat "$dir/err3.txt"; echo "FAIL: no room at all: exit status $st, expected 3"; exit 1; }
grep -q "custseg: error: cannot write output '$dir/small/seg2.h5': No space left on device (no room for even 1024 KiB" \
  "$dir/err3.txt" || { cat "$dir/err3.txt"; echo "FAIL: no clear message for a disk without room"; exit 1; }
[ "$(grep -c 'custseg: error' "$dir/err3.txt")" = 1 ] || { cat "$dir/err3.txt"; echo "FAIL: not one error line"; exit 1; }
[ "$(ls -A "$dir/small")" = fill ] || { ls -la "$dir/small"; echo "FAIL: files left on the full disk"; exit 1; }
echo "ok: $ranks rank(s), no room at all: $(grep 'custseg: error' "$dir/err3.txt")"
