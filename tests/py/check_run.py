#!/usr/bin/python3
"""`custseg run` and `custseg demo`: every stage in one job.

1. A generated store with churn labels and transactions, run at 1 and 3 ranks: every stage
   runs; each stage's results are h5diff-identical to the same stage run on its own with the
   same config; the 1- and 3-rank runs give identical /segments, /churn, /clv and /roi; run.json
   lists every stage with its time.
2. The same store without the `churned` column and without /transactions: churn and clv are
   skipped with a one-line notice naming what is missing, roi runs without them and leaves
   their fields NaN; run.json says so.
2b. The churn label under another name (label-column = left): trained on, never a feature of
   the segment or churn stage, the observed churn of roi; the results are those of run 1.
2c. A fixed split (holdout-column of the churn stage): a feature of neither stage.
3. --stages segment: only the segment stage runs, the others are "off".
4. Bad input: an unknown stage, a missing store, an output directory under a missing parent:
   exit status 2/3, one error line, no run.json.
5. `custseg demo --customers 10000`: prints the ROI table and writes every stage's results.
1a. h5copy copies every group of the store and the results files (HDF5 1.10 crashed on
   groups with many string attributes).
1b. The read cache: each column read from the file once by default, more often with
   --read-cache-mb 0, in between with a 1 MiB budget; the results identical in all three.

Run by CTest (env CUSTSEG, MPIEXEC, CS_TEST_DIR); exit 0 pass, 1 fail.
"""
import fcntl
import json
import re
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_util import check, finish, fresh_workdir, run, same  # noqa: E402

path = fresh_workdir("run_pipeline")


# A 1000-customer silhouette sample (4000 by default): the K range's silhouettes were 85% of
# the segment stage's time under the sanitizers (3.2 of 3.6 s per fit), and this test fits the
# range a dozen times; the silhouette itself is checked in segment_kselect.
config = path("job.ini")
with open(config, "w") as f:
    f.write("""[segment]
k = 2..5
silhouette-sample = 1000
[churn-train]
holdout = 0.2
[clv]
calibration-end = 2024-12-29
holdout-end = 2025-06-29
merge-same-day = no
""")

store = path("store.h5")
run(2, "generate", "--customers", "10000", "--segments", "4", "--transactions", "--seed", "3",
    "--quiet", "--output", store)

# 1. Every stage, 1 and 3 ranks, and each stage alone.
p1 = run(1, "run", "--config", config, "--input", store, "--output-dir", path("r1"))
run(3, "run", "--config", config, "--input", store, "--output-dir", path("r3"), "--quiet")
summary = json.load(open(path("r1", "run.json")))
for s in ("segment", "churn", "clv", "roi"):
    st = summary["stages"][s]
    check(st["status"] == "ran" and st["seconds"] > 0, f"run.json: {s} ran ({st})")
for name, obj in (("segments.h5", "/segments"), ("churn.h5", "/churn"), ("clv.h5", "/clv"),
                  ("roi.h5", "/roi/table")):
    check(same(path("r1", name), path("r3", name), obj), f"{obj} identical at 1 and 3 ranks")
run(1, "segment", "--config", config, "--input", store, "--output", path("alone_seg.h5"), "--quiet")
check(same(path("r1", "segments.h5"), path("alone_seg.h5"), "/segments"),
      "run's segment stage equals `custseg segment` with the same config")
run(1, "churn", "train", "--config", config, "--input", store, "--output", path("alone_churn.h5"),
    "--quiet")
check(same(path("r1", "churn.h5"), path("alone_churn.h5"), "/churn"),
      "run's churn stage equals `custseg churn train`")
run(1, "roi", "--config", config, "--input", store, "--segment-results", path("r1", "segments.h5"),
    "--churn-results", path("r1", "churn.h5"), "--clv-results", path("r1", "clv.h5"),
    "--output", path("alone_roi.h5"), "--quiet")
check(same(path("r1", "roi.h5"), path("alone_roi.h5"), "/roi"), "run's roi stage equals `custseg roi`")
for f in ("roi.csv", "roi.md", "segments.json", "churn.json", "clv.json", "roi.json"):
    check(os.path.getsize(path("r1", f)) > 0, f"run wrote {f}")

# 1a. Every group of the store and of the results files can be copied with h5copy (HDF5's
#     H5Ocopy, also behind h5py's Group.copy): HDF5 1.10 crashed on groups whose string
#     attributes had gone to dense storage (more than 8 attributes), /truth, /roi,
#     /segments and /clv among them.
for f in [store] + [path("r1", n) for n in ("segments.h5", "churn.h5", "clv.h5", "roi.h5")]:
    with h5py.File(f, "r") as h:
        groups = [g for g in h if isinstance(h[g], h5py.Group)]
    for g in groups:
        dst = path("copy.h5")
        if os.path.exists(dst):
            os.remove(dst)
        rc = subprocess.run(["h5copy", "-i", f, "-o", dst, "-s", "/" + g, "-d", "/" + g],
                            capture_output=True).returncode
        check(rc == 0, f"h5copy {os.path.basename(f)}:/{g} (exit {rc})")

# 1b. Reading the store once: with the read cache (default) every column crosses from the file
#     at most once; without it (--read-cache-mb 0) the stages read some columns again; with a
#     budget too small for all of them, in between; the results are the same in all three.
#     At 1 rank: the smallest budget is 1 MiB, and a rank's share of the 10^4 customers at 3
#     ranks (0.5 MB) fits in it, so the budget would not bind (checked below).
with h5py.File(store, "r") as f:
    once = sum(8 * d.shape[0] for g in ("customers", "transactions") for d in f[g].values())
reads = {}
for mb in ("default", "0", "1"):
    out = path("r1") if mb == "default" else path(f"cache{mb}")
    if mb != "default":
        run(1, "run", "--config", config, "--input", store, "--output-dir", out,
            "--read-cache-mb", mb, "--quiet")
        for name, obj in (("segments.h5", "/segments"), ("churn.h5", "/churn"),
                          ("clv.h5", "/clv"), ("roi.h5", "/roi/table")):
            check(same(path("r1", name), os.path.join(out, name), obj),
                  f"{obj} identical with --read-cache-mb {mb} and the default")
    reads[mb] = json.load(open(os.path.join(out, "run.json")))["store_reads"]
check(reads["default"]["cache_peak_bytes_per_rank"] > 1 << 20,
      f"the store's columns need more than the 1 MiB budget, which would otherwise test nothing "
      f"({reads['default']})")
check(0 < reads["default"]["file_bytes"] <= once and reads["default"]["cache_reads"] > 0,
      f"with the read cache the file is read once ({reads['default']}, {once} bytes stored)")
check(reads["0"]["file_bytes"] > once and reads["0"]["cache_reads"] == 0,
      f"without it some columns are read again ({reads['0']})")
check(reads["default"]["file_bytes"] <= reads["1"]["file_bytes"] <= reads["0"]["file_bytes"]
      and reads["1"]["cache_peak_bytes_per_rank"] <= 1 << 20
      < reads["default"]["cache_peak_bytes_per_rank"],
      f"a 1 MiB budget keeps what fits ({reads['1']})")

# 2. No labels, no transactions: churn and clv skipped, roi without them.
bare = path("bare.h5")
with h5py.File(store, "r") as src, h5py.File(bare, "w") as dst:
    src.copy("customers", dst)
    for a, v in src.attrs.items():
        dst.attrs[a] = v
    del dst["customers/churned"]
    if "txn_offset" in dst["customers"]:
        del dst["customers/txn_offset"]
p = run(3, "run", "--config", config, "--input", bare, "--output-dir", path("bare"))
s = json.load(open(path("bare", "run.json")))["stages"]
check(s["churn"]["status"] == "skipped" and "churned" in s["churn"]["reason"],
      f"churn skipped without a label column ({s['churn']})")
check(s["clv"]["status"] == "skipped" and "/transactions" in s["clv"]["reason"],
      f"clv skipped without transactions ({s['clv']})")
check(s["roi"]["status"] == "ran", "roi ran without churn and clv")
check("churn skipped: the store has no 'churned' column" in p.stderr, "a one-line notice for churn")
check(not os.path.exists(path("bare", "churn.h5")) and not os.path.exists(path("bare", "clv.h5")),
      "no churn or clv results written")
with h5py.File(path("bare", "roi.h5"), "r") as f:
    t = f["roi/table"][...]
check(np.all(np.isnan(t["churn_score_mean"])) and np.all(np.isnan(t["clv_mean"])),
      "roi leaves the churn score and CLV fields NaN")
check(np.all(np.isnan(t["churn_rate_observed"])), "roi: no observed churn without labels")

# 2b. The label under another name (`label-column` in the general part of the config): the
#     churn stage trains on it, neither the segment nor the churn stage takes it as a feature,
#     and roi reads the observed churn from it; the results are those of run 1.
def with_label_as(name, out):
    """A copy of the store whose label column `churned` is called `name`."""
    with h5py.File(store, "r") as src, h5py.File(out, "w") as dst:
        for obj in src:
            src.copy(obj, dst)
        for a, v in src.attrs.items():
            dst.attrs[a] = v
        dst.move("customers/churned", f"customers/{name}")
    return out


renamed = with_label_as("left", path("renamed.h5"))
relabel = path("relabel.ini")
with open(relabel, "w") as f:
    f.write("label-column = left\n" + open(config).read())
run(1, "run", "--config", relabel, "--input", renamed, "--output-dir", path("relabel"),
    "--stages", "segment,churn,roi", "--quiet")
with h5py.File(path("relabel", "segments.h5"), "r") as a, \
        h5py.File(path("relabel", "churn.h5"), "r") as b:
    feats = list(a["segments/centroids"].attrs["features"]) + \
        list(b["churn/model/coefficients"].attrs["features"])
check(not [f for f in feats if f in ("left", b"left")], "the label 'left' is not a feature")
check(same(path("r1", "segments.h5"), path("relabel", "segments.h5"), "/segments"),
      "label 'left': the segments of run 1")
check(same(path("r1", "churn.h5"), path("relabel", "churn.h5"), "/churn/model/coefficients"),
      "label 'left': the churn model of run 1")
with h5py.File(path("r1", "roi.h5"), "r") as a, h5py.File(path("relabel", "roi.h5"), "r") as b:
    ta, tb = a["roi/table"][...], b["roi/table"][...]
    cols = list(b["roi"].attrs["store_columns"])
check(np.array_equal(ta["churn_rate_observed"], tb["churn_rate_observed"]) and
      np.all(np.isfinite(tb["churn_rate_observed"])), "roi: observed churn from 'left'")
check("left" in cols or b"left" in cols, f"roi store_columns name 'left' ({cols})")

# 2d. The label as exports name it ('Churn') and no label-column in the config: the skip notice,
#     the segment stage (which takes it as a feature) and `churn train` alone point at it.
exported = with_label_as("Churn", path("exported.h5"))
p = run(1, "run", "--config", config, "--input", exported, "--output-dir", path("exported"),
        "--stages", "segment,churn")
check("if its column 'Churn' is the label, set label-column in the config" in p.stderr,
      "the churn skip notice names the column 'Churn'")
check("column 'Churn' is a feature, and its name says it may be the churn label" in p.stderr,
      "the segment stage warns that 'Churn' may be the label")
p = run(1, "churn", "train", "--input", exported, "--output", path("exported_churn.h5"), expect=2)
check("the store has 'Churn': name it with --label-column" in p.stderr,
      f"churn train without the label names 'Churn' ({p.stderr.strip()[-300:]})")

# 2c. A fixed split (`holdout-column` of the churn stage): run passes it to the segment stage
#     too, so it is a feature of neither; the segments are those of run 1.
with h5py.File(renamed, "r+") as f:
    f["customers/split"] = (f["customers/customer_id"][...] % 5 == 0).astype(np.int8)
split_ini = path("split.ini")
with open(split_ini, "w") as f:
    f.write("label-column = left\n[segment]\nk = 2..5\nsilhouette-sample = 1000\n[churn-train]\nholdout-column = split\n")
run(1, "run", "--config", split_ini, "--input", renamed, "--output-dir", path("split"),
    "--stages", "segment,churn", "--quiet")
with h5py.File(path("split", "segments.h5"), "r") as a, \
        h5py.File(path("split", "churn.h5"), "r") as b, h5py.File(renamed, "r") as c:
    feats = list(a["segments/centroids"].attrs["features"]) + \
        list(b["churn/model/coefficients"].attrs["features"])
    sp = b["churn/split"][...]  # -1: unlabelled
    check(np.array_equal(sp[sp >= 0], c["customers/split"][...][sp >= 0]),
          "holdout-column: the churn split is the column")
check(not [f for f in feats if f in ("split", b"split")], "the split column is not a feature")
check(same(path("r1", "segments.h5"), path("split", "segments.h5"), "/segments"),
      "holdout-column: the segments of run 1")

# 3. One stage only.
run(1, "run", "--config", config, "--input", store, "--output-dir", path("only"), "--stages",
    "segment", "--quiet")
s = json.load(open(path("only", "run.json")))["stages"]
check(s["segment"]["status"] == "ran" and all(s[x]["status"] == "off" for x in
      ("churn", "clv", "roi", "report")), f"--stages segment runs only segment ({s})")
tm = json.load(open(path("only", "run.json")))["timings_seconds"]
check(list(tm) == ["segment"] and 0 < tm["segment"]["max"] <= s["segment"]["seconds"] + 0.5,
      f"run.json's timings_seconds: the stage's wall time ({tm}; it had been empty)")

# 3b. The store written over while the run goes on (next month's store landing mid-job): the
# stage after which it is seen changed is not recorded and the run fails with exit 2 (it had
# ended green, its stages reading two versions of the data). The store is touched once the
# churn stage begins; clv, roi and report remain to see it.
import shutil  # noqa: E402
import time  # noqa: E402
shutil.copy(store, path("moving.h5"))
proc = subprocess.Popen([os.environ["MPIEXEC"], "--oversubscribe", "-n", "1", os.environ["CUSTSEG"],
                         "run", "--config", config, "--input", path("moving.h5"), "--output-dir",
                         path("moving")], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                        text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
err = []
for line in proc.stderr:
    err.append(line)
    if "run: churn" in line and not os.path.exists(path("moving.touched")):
        os.utime(path("moving.h5"), ns=(time.time_ns(), time.time_ns() + 10**9))
        open(path("moving.touched"), "w").close()
proc.wait(timeout=900)
msg = [l for l in err if l.startswith("custseg: error:")]
check(proc.returncode == 2 and len(msg) == 1 and "run: the store '" in msg[0] and
      "changed during the " in msg[0] and "so this one is not recorded" in msg[0],
      f"a store written over mid-run: exit {proc.returncode}, errors {msg}")
check(not os.path.exists(path("moving", "run.json")), "a store written over mid-run: no run.json")

# 4. Bad input.
for args, code, text in (
        (["--stages", "segment,bogus"], 1, "unknown stage 'bogus'"),
        (["--input", path("missing.h5")], 2, "missing.h5"),
        (["--output-dir", path("no", "such", "dir")], 3, "cannot create --output-dir"),
        # a summary named like a stage's results had replaced them (exit 0)
        (["--summary", path("bad", "segments.h5")], 1, "a file run writes in --output-dir: "
         "choose another name"),
        # an unwritable summary had been found only after every stage
        (["--summary", path("no", "such", "run.json")], 3, "cannot write summary"),
):
    base = {"--input": store, "--output-dir": path("bad")}
    extra = []
    for i in range(0, len(args), 2):
        if args[i] in base:
            base[args[i]] = args[i + 1]
        else:
            extra += args[i:i + 2]
    cmd = ["run", "--config", config, "--quiet"] + [x for kv in base.items() for x in kv] + extra
    p = run(1, *cmd, expect=code)
    lines = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
    check(len(lines) == 1 and text in lines[0], f"run {' '.join(args)}: exit {code}, {lines}")
    check(not os.path.exists(os.path.join(base["--output-dir"], "run.json")),
          f"run {' '.join(args)}: no run.json left")

# A store of purchase histories alone (CDNOW as it comes): the segment stage has no default
# feature, and the message says how to name them for run, or to run the CLV alone (it had
# named --features only, which run refuses).
with open(path("txn_only.csv"), "w") as f:
    f.write("customer_id,date,amount\n" + "".join(
        f"{i % 40},{20200101 + i % 28},{1 + i % 7}.5\n" for i in range(200)))
run(1, "import", "--transactions-csv", path("txn_only.csv"), "--txn-date-format", "yyyymmdd",
    "--output", path("txn_only.h5"), "--quiet")
p = run(1, "run", "--config", config, "--input", path("txn_only.h5"), "--output-dir",
        path("txn_only"), "--quiet", expect=2)
lines = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
check(len(lines) == 1 and "no numeric column to use as a feature" in lines[0] and
      "under run, features = that list in the config's section of the stage, or --stages clv"
      in lines[0], f"run on purchase histories alone: the advice fits run ({lines})")

# Paths run sets itself, given in a stage's section: not used, a warning each, and no error
# for a file that does not exist yet (the first run into a fresh directory had failed with
# 'cannot open --timings'). Nor when run sets none because the stage that makes the file is
# off: the config's path had reached the stage after its warning (an ROI table from another
# run's CLV file, or here, files that do not exist: 'cannot open').
fixed_keys = path("fixed_keys.ini")
with open(fixed_keys, "w") as f:
    f.write(f"[segment]\nk = 3\nresume = {path('gone.ckpt')}\n"
            f"[roi]\nclv-results = {path('gone_clv.h5')}\nchurn-results = {path('gone_churn.h5')}\n"
            f"[report]\ntimings = {path('fk', 'stage_times.json')}\n"
            f"segment-results = {path('fk', 'segments.h5')}\nchurn-results = {path('gone_churn.h5')}\n")
p = run(1, "run", "--config", fixed_keys, "--input", store, "--output-dir", path("fk"),
        "--stages", "segment,roi,report")
warned = {stage: [l for l in p.stderr.splitlines() if f"is not used by the {stage} stage of run" in l]
          for stage in ("segment", "roi", "report")}
check([len(warned[x]) for x in ("segment", "roi", "report")] == [1, 2, 3]
      and os.path.exists(path("fk", "report.html")),
      f"paths run sets, from the config: 1, 2 and 3 warnings and a report ({warned})")
with h5py.File(path("fk", "roi.h5"), "r") as f:
    used = {k: f["roi"].attrs.get(k) for k in ("clv_results", "churn_results")}
check(all(v is None or "gone" not in str(v) for v in used.values()),
      f"the roi stage used no results file named only in the config ({used})")

# A bad value in a stage's config section is named with its file and line (a stage's own
# check had named only the option).
k0 = path("k0.ini")
with open(k0, "w") as f:
    f.write("[segment]\nk = 0\n")
p = run(1, "run", "--config", k0, "--input", store, "--output-dir", path("k0"), "--quiet", expect=1)
check(f"--k must be in 1..100000, got 0 (k is set in config {k0} line 2)" in p.stderr,
      f"a stage's config value is blamed on its line ({p.stderr.strip()[-200:]})")

# 6. Interrupted and continued: SIGTERM inside the segment stage (its checkpoint) and between
#    stages; `run --continue` ends with results identical to an uninterrupted run.
fixed = path("fixed.ini")
with open(config) as f:
    text = f.read().replace("k = 2..5", "k = 6\ntol = 1e-9")
with open(fixed, "w") as f:
    f.write(text)
run(3, "run", "--config", fixed, "--input", store, "--output-dir", path("ref"), "--quiet")
iterations = json.load(open(path("ref", "segments.json")))["kmeans"]["iterations"]
check(iterations >= 4, f"the reference fit takes {iterations} iterations (>= 4)")


def interrupted(name, at, where):
    d = path(name)
    p = run(3, "run", "--config", fixed, "--input", store, "--output-dir", d, "--quiet",
            expect=75, env={"CUSTSEG_TEST_SIGNAL_AT": str(at)})
    lines = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
    check(len(lines) == 1 and where in lines[0], f"{name}: SIGTERM at boundary {at}: {lines}")
    check(not os.path.exists(os.path.join(d, "run.json")), f"{name}: no run.json when interrupted")
    return d


d = interrupted("int_kmeans", 2, "interrupted by SIGTERM after k-means iteration 2")
# The advice is run's own (--continue), not segment's --resume, which run does not take.
d_err = [l for l in run(3, "run", "--config", fixed, "--input", store, "--output-dir",
                        path("int_advice"), "--quiet", expect=75,
                        env={"CUSTSEG_TEST_SIGNAL_AT": "2"}).stderr.splitlines()
         if l.startswith("custseg: error:")]
check(len(d_err) == 1 and "the same run command with --continue carries on" in d_err[0] and
      "--resume" not in d_err[0], f"int_kmeans: the advice under run: {d_err}")
check(os.path.exists(os.path.join(d, "segments.h5.ckpt")) and
      not os.path.exists(os.path.join(d, "segments.h5")), "int_kmeans: a checkpoint, no segments")
# run.progress holds this run's key from the first checkpoint on (so --continue resumes it),
# and is not written before: a K range writes no checkpoint, and a key alone, written before
# the first stage, had counted as progress to the job templates (cs_step), which requeued a
# job that then stopped at the same point again. A record of an earlier run goes too.
with open(os.path.join(d, "run.progress")) as f:
    words = f.read().split()
check(len(words) == 1 and len(words[0]) == 16, f"int_kmeans: run.progress holds the key ({words})")
d5 = path("int_range")
os.makedirs(d5, exist_ok=True)
with open(os.path.join(d5, "run.progress"), "w") as f:
    f.write("0123456789abcdef segment churn clv roi report\n")
run(3, "run", "--config", config, "--input", store, "--output-dir", d5, "--quiet",
    expect=75, env={"CUSTSEG_TEST_SIGNAL_AT": "2"})
check(not os.path.exists(os.path.join(d5, "run.progress")) and
      not os.path.exists(os.path.join(d5, "segments.h5.ckpt")),
      "int_range: a K range stopped in the segment stage leaves no run.progress, no checkpoint")
run(2, "run", "--config", fixed, "--input", store, "--output-dir", d, "--continue", "--quiet")
d2 = interrupted("int_stage", iterations, "after the segment stage")
check(os.path.exists(os.path.join(d2, "segments.h5")) and
      not os.path.exists(os.path.join(d2, "churn.h5")), "int_stage: segments, no churn yet")
# The same stages written in another order (the key had hashed the list's text: not kept).
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d2, "--continue",
        "--stages", "report, roi,clv,churn,segment")
check("run: segment finished in an earlier run: kept" in p.stderr, "int_stage: segment kept")
# The log names each stage as --stages and run.json do (it had said `run: churn-train`).
check(re.search(r"\] run: churn$", p.stderr, re.M) and "run: churn-train" not in p.stderr,
      "int_stage: the churn stage logged as 'run: churn'")
for dd in (d, d2):
    s = json.load(open(os.path.join(dd, "run.json")))["stages"]
    want = "ran" if dd == d else "kept"
    check(s["segment"]["status"] == want and s["roi"]["status"] == "ran",
          f"{os.path.basename(dd)}: run.json after --continue ({s})")
    for name, obj in (("segments.h5", "/segments"), ("churn.h5", "/churn"), ("clv.h5", "/clv"),
                      ("roi.h5", "/roi/table")):
        check(same(os.path.join(dd, name), path("ref", name), obj),
              f"{os.path.basename(dd)}: {obj} after --continue identical to the uninterrupted run")
# SIGTERM after the last stage (the report's boundary, counted as in int_stage): nothing to
# carry on with, so the run ends with its run.json, exit 0 (it had said "interrupted after
# the report stage; --continue carries on from the next stage", exit 75, no run.json).
d4 = path("int_last")
run(3, "run", "--config", fixed, "--input", store, "--output-dir", d4, "--quiet",
    env={"CUSTSEG_TEST_SIGNAL_AT": str(iterations + 4)})
check(os.path.exists(os.path.join(d4, "run.json")), "a signal after the last stage: run.json written")
# A kept stage whose results are gone since runs again, with the stages after it (every stage
# had been kept, and run.json named missing files, exit 0).
os.remove(os.path.join(d2, "clv.h5"))
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d2, "--continue")
s = json.load(open(os.path.join(d2, "run.json")))["stages"]
check(s["churn"]["status"] == "kept" and s["clv"]["status"] == "ran" and
      s["roi"]["status"] == "ran" and os.path.exists(os.path.join(d2, "clv.h5")) and
      "clv.h5 is missing: it runs again" in p.stderr,
      f"--continue with clv.h5 removed: {s}")
# A kept stage whose results were replaced since (roi.h5 written again: here a copy of itself,
# newer than run.progress) runs again, with the stages after it (the old results had been
# kept beside a segments.h5 fitted again by hand, exit 0).
shutil.copyfile(os.path.join(d2, "roi.h5"), os.path.join(d2, "roi.h5.new"))
os.replace(os.path.join(d2, "roi.h5.new"), os.path.join(d2, "roi.h5"))
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d2, "--continue")
s = json.load(open(os.path.join(d2, "run.json")))["stages"]
check(s["clv"]["status"] == "kept" and s["roi"]["status"] == "ran" and
      s["report"]["status"] == "ran" and
      "roi.h5 was written after the run recorded it: it runs again" in p.stderr,
      f"--continue with roi.h5 replaced: {s}")
# Another config file: --continue starts over.
with open(fixed, "a") as f:
    f.write("; changed\n")
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d2, "--continue")
s = json.load(open(os.path.join(d2, "run.json")))["stages"]
check(s["segment"]["status"] == "ran" and "starting over" in p.stderr,
      "--continue after the config file changed starts over")
# The same store refreshed (new values, same customers: here only a new modification time):
# --continue must not keep the earlier stages, whose results came from the old values.
times_before = open(os.path.join(d2, "stage_times.json")).read()
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d2, "--continue")
check("finished in an earlier run: kept" in p.stderr, "--continue with nothing changed keeps")
# ... and the kept report keeps the stage timings it shows (they had been rewritten as {})
check(open(os.path.join(d2, "stage_times.json")).read() == times_before and
      json.loads(times_before), "--continue with every stage kept keeps stage_times.json")
st_ = os.stat(store)
os.utime(store, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d2, "--continue")
s = json.load(open(os.path.join(d2, "run.json")))["stages"]
check(s["segment"]["status"] == "ran" and "starting over" in p.stderr,
      "--continue after the store file changed starts over")
# The same for a file a stage reads besides the store (`previous`, last month's results
# re-done since): a segment stage kept from before would report migration against results
# that no longer exist.
prev_ini, d4 = path("prev.ini"), path("int_prev")
with open(prev_ini, "w") as f:
    f.write(f"[segment]\nprevious = {path('ref', 'segments.h5')}\n")
run(1, "run", "--config", prev_ini, "--input", store, "--output-dir", d4, "--stages", "segment",
    "--quiet")
p = run(1, "run", "--config", prev_ini, "--input", store, "--output-dir", d4, "--stages",
        "segment", "--continue")
check("finished in an earlier run: kept" in p.stderr, "--continue with previous unchanged keeps")
st_ = os.stat(path("ref", "segments.h5"))
os.utime(path("ref", "segments.h5"), ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
p = run(1, "run", "--config", prev_ini, "--input", store, "--output-dir", d4, "--stages",
        "segment", "--continue")
check("starting over" in p.stderr, "--continue after the previous file changed starts over")
# A checkpoint of another configuration: --continue starts over instead of failing on it.
d3 = interrupted("int_other", 2, "interrupted by SIGTERM after k-means iteration 2")
with open(fixed, "a") as f:
    f.write("; changed again\n")
p = run(1, "run", "--config", fixed, "--input", store, "--output-dir", d3, "--continue")
check("resume:" not in p.stderr and os.path.exists(os.path.join(d3, "run.json")),
      "--continue with a checkpoint of another configuration starts over")
# A re-run that fails leaves no run.json and no results of the earlier run (the directory
# never mixes two runs).
bad = path("bad.ini")
with open(bad, "w") as f:
    f.write("[segment]\nk = 3\n[clv]\ncalibration-end = 1990-01-01\n")
p = run(1, "run", "--config", bad, "--input", store, "--output-dir", d3, expect=2)
left = sorted(os.listdir(d3))
check(not any(x in left for x in ("run.json", "clv.h5", "roi.h5", "report.html")),
      f"a failed re-run leaves no run.json and no earlier results: {left}")
with h5py.File(os.path.join(d3, "segments.h5"), "r") as f:
    check(len(f["segments/sizes"]) == 3, "the failed re-run's own segments are K = 3")
# Two runs into one directory at once (two jobs given the same --output-dir): the second is
# refused while the first holds the lock, naming it, and touches nothing (both had run, each
# overwriting the other's files). The lock is held here as a run holds it (fcntl).
before = {x: os.path.getmtime(os.path.join(d3, x)) for x in os.listdir(d3)}
with open(os.path.join(d3, ".run.lock"), "a+") as lk:
    fcntl.lockf(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lk.seek(0)
    lk.truncate()
    lk.write("pid 4242 on another-node, Slurm job 77\n")
    lk.flush()
    p = run(2, "run", "--input", store, "--output-dir", d3, "--stages", "segment", expect=3)
    check("another custseg run is writing --output-dir" in p.stderr and
          "pid 4242 on another-node, Slurm job 77" in p.stderr,
          f"a second run into a locked directory: {p.stderr[-300:]}")
    check({x: os.path.getmtime(os.path.join(d3, x)) for x in os.listdir(d3) if x != ".run.lock"} ==
          {x: t for x, t in before.items() if x != ".run.lock"},
          "the refused run changed the directory")
os.unlink(os.path.join(d3, ".run.lock"))
run(1, "run", "--input", store, "--output-dir", d3, "--stages", "segment", "--quiet")
check(".run.lock" not in os.listdir(d3), "a finished run leaves its lock file")
for stages, why in (("", "names no stage"), ("segment,segment", "is listed twice")):
    p = run(1, "run", "--input", store, "--output-dir", path("st"), "--stages", stages, expect=1)
    check(why in p.stderr, f"--stages '{stages}': {why}")

# 5. The demo command.
p = run(2, "demo", "--output-dir", path("demo"), "--customers", "10000")
check("ROI per segment" in p.stdout and "| **total** |" in p.stdout, "demo prints the ROI table")
s = json.load(open(path("demo", "run.json")))["stages"]
check(all(s[x]["status"] == "ran" for x in ("segment", "churn", "clv", "roi")),
      f"demo ran every stage ({s})")
# Too few customers for the demo's job is said up front, with nothing written (7 had been
# generated and then failed in segment, naming the demo's own demo.ini).
p = run(2, "demo", "--output-dir", path("demo_tiny"), "--customers", "7", expect=1)
check("--customers must be at least 100 for the demo" in p.stderr
      and not os.path.exists(path("demo_tiny")), "demo --customers 7 is refused up front")
# A demo that fails before it has a store (here generate's space check) leaves nothing: its
# demo.ini had stayed, alone in the directory the demo made.
run(2, "demo", "--output-dir", path("demo_full"), "--customers", "1000000000000", expect=3)
check(not os.path.exists(path("demo_full")), "a demo failed in generate leaves no directory")
# ... but an earlier demo's config stays with its results (it had been removed with them left).
run(2, "demo", "--output-dir", path("demo"), "--customers", "1000000000000", expect=3)
check(os.path.exists(path("demo", "demo.ini")) and os.path.exists(path("demo", "run.json")),
      "a failed demo keeps an earlier demo's demo.ini")
# demo's --summary may not be a file demo writes (it had replaced the generated store, exit 0),
# and run's may not be a file a stage reads (last month's results, removed before reading).
run(1, "demo", "--output-dir", path("demo"), "--customers", "3000", "--summary",
    path("demo", "customers.h5"), expect=1)
check(h5py.is_hdf5(path("demo", "customers.h5")), "demo --summary DIR/customers.h5 is refused")
run(1, "run", "--config", prev_ini, "--input", store, "--output-dir", path("sum_prev"), "--stages",
    "segment", "--summary", path("ref", "segments.h5"), expect=1)
check(h5py.is_hdf5(path("ref", "segments.h5")), "run --summary PREVIOUS is refused")
# demo's own default population (10^6), in its help and in the summary of a run without
# --customers (the help and run.json had said generate's 100000).
check("--customers INT            number of customers N [default: 1000000]" in
      run(1, "demo", "--help").stdout, "demo --help: --customers defaults to 1000000")
# Again in the same directory without the roi and report stages: no earlier table or report.
p = run(1, "demo", "--output-dir", path("demo"), "--customers", "3000", "--stages",
        "segment,churn")
check("ROI per segment" not in p.stdout and "report:" not in p.stdout and
      not os.path.exists(path("demo", "roi.h5")), "demo without roi prints no earlier table")
# threads in a stage's section is not used by run (one process, threads set once): said so
# (the stage's summary had recorded it as if used); in the general part it is not warned of.
for name, text, warned in (("th1.ini", "[segment]\nk = 3\nthreads = 2\n", True),
                           ("th2.ini", "threads = 1\n[segment]\nk = 3\n", False)):
    with open(path(name), "w") as f:
        f.write(text)
    p = run(1, "run", "--config", path(name), "--input", store, "--output-dir", path("th"),
            "--stages", "segment", "--quiet")
    check(("threads = 2 in the segment stage's section is not used" in p.stderr) == warned,
          f"{name}: threads in a stage's section warned of: {not warned}")

# A churn label whose levels do not say which is yes: under run the error names the config
# key, not --label-positive, which run refuses.
with open(path("ls.csv"), "w") as f:
    f.write("customer_id,age,churned\n1,30,Left\n2,40,Stayed\n3,35,Left\n4,50,Stayed\n")
run(1, "import", "--customers-csv", path("ls.csv"), "--output", path("ls.h5"), "--quiet")
with open(path("ls.ini"), "w") as f:
    f.write("[churn-train]\nholdout = 0\n")
p = run(1, "run", "--config", path("ls.ini"), "--input", path("ls.h5"), "--output-dir",
        path("ls"), "--stages", "churn", expect=2)
check("name that level with label-positive in [churn-train]" in p.stderr,
      f"run: the label's levels error names the config key: {p.stderr[-300:]}")

finish()
