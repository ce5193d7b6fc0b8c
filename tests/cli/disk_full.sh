#!/usr/bin/env bash
# An output directory on a file system too small for the results is reported before any
# compute, with one error line, exit status 3 and nothing left in the directory. Uses a 1 MiB
# tmpfs (needs root and mount; skipped with status 77 otherwise).
# usage: disk_full.sh RANKS   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
ranks=${1:-1}
dir="$CS_TEST_DIR/disk_full_np$ranks" && rm -rf "$dir" && mkdir -p "$dir/small"
if ! mount -t tmpfs -o size=1m tmpfs "$dir/small" 2>/dev/null; then
  echo "SKIP: cannot mount a small tmpfs here (needs root)"; exit 77; fi
trap 'umount "$dir/small" 2>/dev/null || true; rm -rf "$dir"' EXIT
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
