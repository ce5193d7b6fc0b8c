#!/usr/bin/env bash
# Temporary files of killed writes (SIGKILL, Ctrl-C at mpirun, a lost node) are removed by the
# next write of the same output once their writer has ended: the writer holds flock(2) on its
# temporary file and space reserve, which the kernel drops when it dies, and a leftover must
# also be a minute old. Files still held, too recent, symbolic links and kept earlier versions
# (.bak-) stay, and are reported. Checked on a real job killed while writing, and on files made
# here (a lock held by flock(1), which takes the same kind of lock).
# usage: leftovers.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/leftovers" && rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
fail() { echo "FAIL: $*"; exit 1; }
command -v flock > /dev/null || { echo "skip: no flock(1)"; exit 77; }
old() { touch -h -d '-2 min' "$@"; }
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 5000 --seed 1 --quiet --output s.h5

# 1. Files made here: two abandoned (a temporary file and its reserve), one too recent, one
#    held by a live process, one symbolic link to a file of the user's, one kept earlier version.
head -c 1000 /dev/zero > .o.h5.tmp-111-222
head -c 1000 /dev/zero > .o.h5.rsv-111-222
head -c 1000 /dev/zero > .o.h5.bak-777-888
head -c 1000 /dev/zero > .o.h5.tmp-555-666
echo precious > precious.txt
ln -s precious.txt .o.h5.tmp-999-999
old .o.h5.tmp-111-222 .o.h5.rsv-111-222 .o.h5.bak-777-888 .o.h5.tmp-555-666 .o.h5.tmp-999-999
head -c 1000 /dev/zero > .o.h5.tmp-333-444
# The lock is taken by this subshell, which then becomes the sleep: killing it drops the lock.
# It waits for the lock (flock without -n): the probe below takes it for an instant, and a
# holder that gave up when it met the probe had left the file unheld (the test then failed on
# a loaded CI machine, the file rightly removed as abandoned).
( exec 8<> .o.h5.tmp-555-666 && flock 8 && exec sleep 120 ) > /dev/null 2>&1 &
holder=$!
trap 'kill $holder 2> /dev/null || true' EXIT
# Wait until it holds the lock, and make sure it does.
for _ in $(seq 1200); do flock -n -E 9 .o.h5.tmp-555-666 true || break; sleep 0.05; done
flock -n -E 9 .o.h5.tmp-555-666 true && fail "the holder did not take the lock in 60 s"
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" segment --input s.h5 --k 3 --output o.h5 2> err1.txt \
  || { cat err1.txt; fail "segment failed beside leftover files"; }
[ -f o.h5 ] || fail "no o.h5"
for f in .o.h5.tmp-111-222 .o.h5.rsv-111-222; do
  [ ! -e "$f" ] || fail "the abandoned $f was not removed"
done
for f in .o.h5.tmp-333-444 .o.h5.tmp-555-666 .o.h5.bak-777-888 .o.h5.tmp-999-999 precious.txt; do
  [ -e "$f" ] || fail "$f was removed (too recent, held, a link or an earlier version)"
done
grep -q "removed 2 temporary file(s) of an earlier, interrupted write of 'o.h5'" err1.txt \
  || { cat err1.txt; fail "no line on the removed files"; }
grep -q "3 temporary file(s) of an earlier, interrupted write of 'o.h5' remain" err1.txt \
  || { cat err1.txt; fail "no warning of the 3 files kept (recent, held, link)"; }
grep -q "1 earlier version(s) of 'o.h5'" err1.txt || fail "the earlier version is not reported"
kill $holder 2> /dev/null || true

# 2. A real job killed while it writes: its temporary file is locked while it lives, no more
#    once it is killed, and the next write of the output removes it once it is a minute old.
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 3000000 --seed 2 --quiet \
  --output g.h5 > /dev/null 2>&1 &
job=$!
tmp=""
for _ in $(seq 1200); do
  tmp=$(find . -maxdepth 1 -name '.g.h5.tmp-*' | head -1)
  [ -n "$tmp" ] && break
  kill -0 $job 2> /dev/null || break
  sleep 0.05
done
if [ -z "$tmp" ]; then
  wait $job || true
  fail "the writing job ended before its temporary file was seen"
fi
# The file is locked just after it is made, and written after that: probed once it has bytes,
# so that the probe's own brief lock cannot come first and leave the writer without one.
for _ in $(seq 200); do [ -s "$tmp" ] && break; sleep 0.05; done
st=0; flock -n -E 9 "$tmp" true || st=$?
ranks=$(pgrep -P $job -f "custseg generate" || true)
kill -KILL $ranks 2> /dev/null || true
wait $job 2> /dev/null || true
[ "$st" = 9 ] || fail "the temporary file $tmp of a running job was not locked (flock exit $st)"
[ -f "$tmp" ] || fail "the killed job left no temporary file to test with"
# mpirun can end before a killed rank is gone: its lock goes with it, within seconds.
for _ in $(seq 100); do flock -n -E 9 "$tmp" true && break; sleep 0.1; done
flock -n -E 9 "$tmp" true || fail "the killed job's $tmp is still locked"
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 1000 --seed 2 --output g.h5 \
  2> err2.txt || { cat err2.txt; fail "generate failed beside a recent leftover"; }
[ -f "$tmp" ] || fail "a leftover under a minute old was removed"
grep -q "temporary file(s) of an earlier, interrupted write of 'g.h5' remain" err2.txt \
  || { cat err2.txt; fail "the recent leftover was not reported"; }
find . -maxdepth 1 -name '.g.h5.*' -exec touch -d '-2 min' {} +
$MPIEXEC --oversubscribe -n 2 "$CUSTSEG" generate --customers 1000 --seed 2 --output g.h5 \
  2> err3.txt || { cat err3.txt; fail "generate failed beside an old leftover"; }
left=$(find . -maxdepth 1 -name '.g.h5.*')
[ -z "$left" ] || fail "leftovers of the killed job remain: $left"
grep -q "removed [0-9]* temporary file(s) of an earlier, interrupted write of 'g.h5'" err3.txt \
  || { cat err3.txt; fail "no line on the removed files of the killed job"; }
echo "ok: abandoned leftovers removed; recent, held, linked and kept files stay; a live job's file is locked"
cd / && rm -rf "$dir"
