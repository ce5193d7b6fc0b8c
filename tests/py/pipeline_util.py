"""Helpers shared by the pipeline checks (check_run.py, check_e2e.py): a fresh work
directory, running custseg on some ranks, h5diff, and the list of failed checks.

env: CUSTSEG, MPIEXEC, CS_TEST_DIR
"""
import os
import shutil
import subprocess
import sys

CUSTSEG, MPIEXEC = os.environ["CUSTSEG"], os.environ["MPIEXEC"]
failures = []


def fresh_workdir(name):
    """CS_TEST_DIR/name, emptied; returns a function joining paths under it."""
    work = os.path.join(os.environ.get("CS_TEST_DIR", "/tmp"), name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return lambda *p: os.path.join(work, *p)


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def run(ranks, *args, expect=0, threads=1, env=None):
    """custseg ARGS on `ranks` ranks (always through mpirun, also for one: a singleton start
    under LeakSanitizer can crash LSan's own tracer at exit); stops the test unless it exits
    with `expect`."""
    cmd = [MPIEXEC, "--oversubscribe", "-n", str(ranks), CUSTSEG, *args]
    p = subprocess.run(cmd, timeout=900, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS=str(threads), **(env or {})))
    if p.returncode != expect:
        print(p.stdout[-3000:], p.stderr[-3000:])
        raise SystemExit(f"FAIL: {' '.join(args)}: exit {p.returncode}, expected {expect}")
    return p


def same(a, b, obj):
    """h5diff finds object `obj` identical in files a and b."""
    return subprocess.run(["h5diff", "-q", a, b, obj], capture_output=True).returncode == 0


def finish():
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
