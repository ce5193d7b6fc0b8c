#!/usr/bin/python3
"""`custseg import` on files as they come from other tools (a review's findings, each of which
failed before its fix):

 1. a text column with 5,000 levels (more than an HDF5 object header's 64 KiB of attributes);
 2. with --skip-bad-rows, rows dropped for a repeated id play no part in the column types, the
    category levels or the missing counts (as if they were not in the file), at 1 and 3 ranks
    and with spilling sorts; a row judged otherwise because of that is an error (2b);
 3. an integer outside int64 is a bad row naming the range, not a silent float64, unless the
    column is declared float64 or categorical; so is one beyond 2^53 in an inferred column
    that becomes float64 (3b); a schema with a byte-order mark is read, and declared levels
    that are not UTF-8 are refused (3c); quoted numbers with spaces are numbers, and a header
    that is one field with ';' suggests --delimiter semicolon (3d); a column of numbers made
    categorical by one text value is named with that value and its line (3e); an integer
    outside int64 in a column inferred float64, float32's largest value, empty declared
    levels and a transactions file of no purchase (3, after 3b);
 4. bare CR line ends: every record has its own line number, so --skip-bad-rows skips only the
    bad record; so does a line of tabs in a tab-separated file (4b);
 5. text that is not UTF-8 (Latin-1, UTF-16) is an error naming the file, line and byte, and
    so is a NUL byte in a field (it had cut the value short);
 6. a customers file that is a pipe is refused at once (exit 2);
 7. an unnamed header column (pandas' index) is left out with a warning; in a transactions
    file, unnamed or repeated columns that are not imported are allowed;
 8. a SIGINT removes the temporary output; a leftover temporary file is reported;
 9. names from a header reach the outputs intact: long UTF-8 names make a report that is valid
    UTF-8 (labels had been cut inside a character); a column named like another column's level
    ('plan=a') and a churn feature named 'intercept' are errors (they had collided in the CSV
    and JSON keys); a column whose name has a ',' is no default feature (with a warning), so
    two stores with columns [a,b; c] and [a; b,c] are not taken for the same features;
10. transactions: a `days` or `unix` date outside the years 0000-9999 (seconds given as days,
    milliseconds as seconds) is refused with a hint, quoted fields with spaces are read as in
    the customers file, and a gzip file is named as one;
11. the summary lists every warning, and a long UTF-8 one stays valid JSON;
12. --rename stores an export's columns under the names the stages look for (MonthlyCharges as
    revenue, Churn as churned: they had to be renamed in the file), a swap included; a pair
    that is not OLD=NEW, an unknown, skipped or id column, a column renamed twice, a clash and
    a name the store cannot hold are errors (exit 1); a header name the store cannot hold
    ('/', only spaces, a line break) is an error saying to rename or skip it, and either works;
13. control characters from the data are written out in errors and warnings (one line, no
    ESC reaches the terminal); a header name with a C1 control or a space at either end is
    refused; the report shows C1 and DEL as U+FFFD.
14. categorical codes: 127 levels are int8, 200 int16 (read back as the levels); a declared
    int8 holds -128 and 127 and refuses 128; a quoted number with tabs around it is a number;
15. a transactions file alone with customer id 0 counts that customer; an adjacent repeated
    header name is refused as a repeat.

Every error: exit 2, one `custseg: error:` line, no output file left.
usage: check_import_edges.py   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
"""
import glob
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

CUSTSEG = os.environ["CUSTSEG"]
MPI = os.environ.get("MPIEXEC", "mpirun").split() + ["--oversubscribe"]
WORK = os.path.join(os.environ["CS_TEST_DIR"], "import-edges")
os.makedirs(WORK, exist_ok=True)
failures = []


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path(name)


def custseg(*args, ranks=1):
    cmd = MPI + ["-n", str(ranks), CUSTSEG, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, errors="replace")


def fresh(out):
    for p in glob.glob(out) + glob.glob(os.path.join(os.path.dirname(out),
                                                     "." + os.path.basename(out) + "*")):
        os.remove(p)


def expect_error(what, out, args, needle, ranks=1, want=2):
    fresh(out)
    p = custseg(*args, ranks=ranks)
    err = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
    left = glob.glob(out) + glob.glob(os.path.join(WORK, "." + os.path.basename(out) + "*"))
    if p.returncode != want or len(err) != 1 or needle not in err[0] or left:
        failures.append(f"{what}: exit {p.returncode}, errors {err}, left {left}; wanted exit {want} "
                        f"and '{needle}'")


def imported(what, out, args, ranks=1):
    fresh(out)
    p = custseg(*args, ranks=ranks)
    if p.returncode != 0:
        failures.append(f"{what}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
        return None
    return p


# 1. many levels
csv = write("levels.csv", "customer_id,city\n" + "".join(f"{i},City {i}\n" for i in range(5000)))
if imported("5000 levels", path("levels.h5"), ["import", "--customers-csv", csv, "--output",
                                               path("levels.h5"), "--quiet"]):
    with h5py.File(path("levels.h5"), "r") as f:
        cats = f["customers/city"].attrs["categories"]
        codes = f["customers/city"][...]
        names = [c.decode() if isinstance(c, bytes) else c for c in cats]
        if len(names) != 5000 or [names[c] for c in codes[:3]] != ["City 0", "City 1", "City 2"]:
            failures.append(f"5000 levels: {len(names)} categories stored, codes {codes[:3]}")
    p = custseg("inspect", path("levels.h5"))
    if p.returncode != 0 or "5000 levels" not in p.stdout:
        failures.append(f"inspect of the 5000-level store: exit {p.returncode}")

# 2. repeated ids leave no trace
rows = ["customer_id,age,plan,score"]
for i in range(1, 41):
    rows.append(f"{i},{20 + i},{'ab'[i % 2]},{i * 0.5}")
rows += ["7,,zzz,1.5", "9,unknown,a,2", "12,30,b,", "3,31,c,x"]   # repeats: empty, text, ...
rows.append("41,40")                                              # a bad row of its own (ragged)
csv = write("dups.csv", "\n".join(rows) + "\n")
want = {"customer_id": np.arange(1, 41), "age": np.arange(21, 61), "score": np.arange(1, 41) * 0.5}
for ranks in (1, 3):
    out = path(f"dups_np{ranks}.h5")
    p = imported(f"repeated ids at {ranks} ranks", out,
                 ["import", "--customers-csv", csv, "--output", out, "--skip-bad-rows",
                  "--sort-memory", "16384", "--summary", out + ".json"], ranks=ranks)
    if not p:
        continue
    with h5py.File(out, "r") as f:
        g = f["customers"]
        for k, v in want.items():
            kind = "f" if k == "score" else "i"
            if g[k].dtype.kind != kind or not np.array_equal(g[k][...], v):
                failures.append(f"repeated ids, {ranks} ranks: {k} is {g[k].dtype} "
                                f"{g[k][...][:5]}..., wanted {v[:5]}... of kind {kind}")
        cats = [c.decode() if isinstance(c, bytes) else c for c in g["plan"].attrs["categories"]]
        if cats != ["a", "b"]:
            failures.append(f"repeated ids, {ranks} ranks: plan levels {cats}, wanted ['a', 'b']")
    res = json.load(open(out + ".json"))["result"]
    cols = {c["name"]: c for c in res["columns"]}
    cr = res["customers_csv"]
    if any(cols[k]["missing"] for k in ("age", "score", "plan")) or \
            (cr["skipped_repeated_id"], cr["skipped_bad"]) != (4, 1):
        failures.append(f"repeated ids, {ranks} ranks: summary {cr}, columns {cols}")
    warned = [l for l in p.stderr.splitlines() if "warning" in l and "skipped" in l]
    if len(warned) != 5:
        failures.append(f"repeated ids, {ranks} ranks: {len(warned)} skip warnings, wanted 5 "
                        "(none repeated by the second reading)")
if not failures and subprocess.run(["h5diff", path("dups_np1.h5"), path("dups_np3.h5")]).returncode:
    failures.append("repeated ids: the store differs between 1 and 3 ranks")
# 2b. ... but when leaving them out changes a column's type so that a row is judged otherwise
#     than in the first read, the import stops: a row made bad would lose its customer (its
#     later row already left out as a repeat), a row made good had been reported skipped.
for name, text, line, how in (
        ("flipbad.csv", "customer_id,age\n1,5\n1,x\n2,6\n3,abc\n3,7\n", 5, "bad (though good with them)"),
        ("flipgood.csv", "customer_id,age\n1,5\n1,6\n2,abc\n", 4, "good (though skipped as bad above)")):
    expect_error(f"repeated ids change a type: {name}", path("flip.h5"),
                 ["import", "--customers-csv", write(name, text), "--infer-rows", "2",
                  "--skip-bad-rows", "--output", path("flip.h5")],
                 f"{name}:{line}: this row is {how} without the rows of repeated ids, whose "
                 "absence changes the column types ('age' (")

# 3. integers beyond int64
csv = write("big.csv", "customer_id,big\n1,9223372036854775807\n2,9223372036854775808\n")
expect_error("int64 overflow, inferred", path("big.h5"),
             ["import", "--customers-csv", csv, "--output", path("big.h5")],
             "big.csv:3: column 'big': 9223372036854775808 is an integer outside the int64 range")
# ... but text in the same column makes it categorical, the big integer a level like any text,
# whichever comes first (text after it had been refused, text before it accepted).
for name, rows in (("bigfirst.csv", "1,99999999999999999999\n2,ABC-1\n3,XYZ\n"),
                   ("textfirst.csv", "1,ABC-1\n2,99999999999999999999\n3,XYZ\n")):
    if imported(f"a big integer in a text column: {name}", path("bigtext.h5"),
                ["import", "--customers-csv", write(name, "customer_id,acct\n" + rows),
                 "--output", path("bigtext.h5"), "--quiet"]):
        with h5py.File(path("bigtext.h5"), "r") as f:
            cats = sorted(c.decode() if isinstance(c, bytes) else c
                          for c in f["customers/acct"].attrs.get("categories", []))
        if cats != ["99999999999999999999", "ABC-1", "XYZ"]:
            failures.append(f"a big integer in a text column ({name}): levels {cats}")
# A field over the 16 MiB limit that ends on its line (it had been stored as a level: the limit
# held only for a field still open at a line's end).
expect_error("a 17 MiB field", path("long.h5"),
             ["import", "--customers-csv", write("long.csv", "customer_id,c\n1," + "a" * (17 << 20)
                                                 + "\n2,b\n"), "--output", path("long.h5")],
             "long.csv:2: field 2 of the record on this line is longer than 16 MiB, the limit of "
             "a field")
# The same on the file's last line without a newline: still open when the file ends, it had
# been called "a quote that is never closed" though it has no quote.
expect_error("a 17 MiB field at the end of the file", path("longend.h5"),
             ["import", "--customers-csv", write("longend.csv", "customer_id,c\n1,b\n2,"
                                                 + "a" * (17 << 20)), "--output", path("longend.h5")],
             "longend.csv:3: field 2 of the record on this line is longer than 16 MiB, the limit "
             "of a field")
# ... and so is a closed quoted field there (libcsv keeps it "quoted" until the field ends).
expect_error("a closed quoted 17 MiB field at the end of the file", path("longq.h5"),
             ["import", "--customers-csv", write("longq.csv", "customer_id,c\n1,b\n2,\""
                                                 + "a" * (17 << 20) + "\""), "--output", path("longq.h5")],
             "longq.csv:3: field 2 of the record on this line is longer than 16 MiB, the limit "
             "of a field")
# With --skip-bad-rows such a number in a numeric column is a skipped row wherever it is (inside
# the inference window it had become an error that could not be skipped).
if imported("a big integer skipped", path("bigskip.h5"),
            ["import", "--customers-csv", write("bigskip.csv", "customer_id,x\n1,5\n2,99999999999999999999\n3,7\n4,8\n"),
             "--skip-bad-rows", "--output", path("bigskip.h5"), "--quiet"]):
    with h5py.File(path("bigskip.h5"), "r") as f:
        if list(f["customers/customer_id"][...]) != [1, 3, 4]:
            failures.append(f"a big integer skipped: ids {list(f['customers/customer_id'][...])}")
expect_error("int64 overflow, id", path("big.h5"),
             ["import", "--customers-csv", write("bigid.csv", "customer_id\n99999999999999999999\n"),
              "--output", path("big.h5")], "is outside the int64 range of customer ids")
# Text ids (a telco export's '7590-VHVEG'): the error says how to import them.
expect_error("text id", path("big.h5"),
             ["import", "--customers-csv", write("textid.csv", "customer_id,a\n7590-VHVEG,1\n"),
              "--output", path("big.h5")],
             "'7590-VHVEG' is not an integer customer id (ids that are text: import with --hash-ids)")
# A missing-value token in a declared integer column is named as one (it had read "an empty value")
expect_error("NA in a declared int column", path("big.h5"),
             ["import", "--customers-csv", write("int_na.csv", "customer_id,age\n1,30\n2,NA\n"),
              "--schema", write("int_na.txt", "age = int\n"), "--na-values", "NA", "--output", path("big.h5")],
             "int_na.csv:3: column 'age': a missing value 'NA' (--na-values), but integer columns have no")
# ... but a spreadsheet's 1042.0 is not text to hash (it would not match 1042 elsewhere)
for col, what in (("customer_id", "customers"), ("tid", "transactions")):
    f = write(f"floatid_{what}.csv", f"{col},date,amount\n1042.0,2024-01-02,3\n")
    args = (["--customers-csv", f] if what == "customers" else
            ["--transactions-csv", f, "--txn-id-column", "tid"])
    expect_error(f"decimal id in {what}", path("big.h5"), ["import", *args, "--output", path("big.h5")],
                 "'1042.0' is a decimal number, not an integer customer id (a spreadsheet's number format?")
expect_error("quote as delimiter", path("big.h5"), ["import", "--customers-csv", f, "--delimiter",
             '"', "--output", path("big.h5")], "--delimiter: '\"' cannot be the delimiter", want=1)
for decl, kind in (("float64", "f"), ("categorical", "i")):
    sch = write("big.schema", f"big = {decl}\n")
    if imported(f"int64 overflow declared {decl}", path("big.h5"),
                ["import", "--customers-csv", csv, "--output", path("big.h5"), "--schema", sch,
                 "--quiet"]):
        with h5py.File(path("big.h5"), "r") as f:
            if f["customers/big"].dtype.kind != kind:
                failures.append(f"int64 overflow declared {decl}: stored {f['customers/big'].dtype}")

# 3b. integers beyond 2^53 in a column that becomes float64 (a missing value, a fraction):
#     an error naming the line and value (the digits had changed without a word)
csv = write("wide.csv", "customer_id,acct,acct2\n1,9007199254740993,5\n2,,1234567890123456789\n"
            "3,5,0.5\n")
expect_error("2^53 with a missing value", path("wide.h5"),
             ["import", "--customers-csv", csv, "--output", path("wide.h5")],
             "wide.csv:2: column 'acct': 9007199254740993 is an integer beyond 2^53, but the "
             "column becomes float64 (it has empty values)")
sch = write("wide.schema", "acct = float64\n")
expect_error("2^53 with a fraction", path("wide.h5"),
             ["import", "--customers-csv", csv, "--output", path("wide.h5"), "--schema", sch],
             "wide.csv:3: column 'acct2': 1234567890123456789 is an integer beyond 2^53, but the "
             "column becomes float64 (it has fractional values)")
expect_error("2^53 after the column became float64", path("wide.h5"),
             ["import", "--customers-csv", write("wide2.csv", "customer_id,x\n1,1.5\n2,9007199254740993\n"),
              "--output", path("wide.h5"), "--infer-rows", "1"],
             "wide2.csv:3: column 'x': 9007199254740993 is an integer beyond 2^53")
# ... and one outside int64 in a column already inferred float64 (it had been stored as 1e+20)
expect_error("int64 overflow after the column became float64", path("wide.h5"),
             ["import", "--customers-csv", write("wide4.csv", "customer_id,x\n1,1.5\n2,100000000000000000000\n"),
              "--output", path("wide.h5"), "--infer-rows", "1"],
             "wide4.csv:3: column 'x': 100000000000000000000 is an integer outside the int64 range")
# float32's largest value as numpy prints it rounds to it: it fits (it had been refused); a
# value beyond it by more than half a step does not
sch = write("f32.schema", "a = float32\n")
if imported("float32 maximum", path("f32.h5"),
            ["import", "--customers-csv", write("f32.csv", "customer_id,a\n1,3.4028235e38\n2,-3.4028235e+38\n"),
             "--schema", sch, "--output", path("f32.h5"), "--quiet"]):
    with h5py.File(path("f32.h5"), "r") as f:
        a = f["customers/a"][...]
        if a.dtype != np.float32 or list(a) != [np.finfo(np.float32).max, -np.finfo(np.float32).max]:
            failures.append(f"float32 maximum: stored {a.dtype} {a}")
expect_error("beyond float32", path("f32.h5"),
             ["import", "--customers-csv", write("f32b.csv", "customer_id,a\n1,3.40282357e38\n"),
              "--schema", sch, "--output", path("f32.h5")],
             "f32b.csv:2: column 'a': 3.40282357e38 does not fit (declared float32")
# empty declared levels, between commas or at the end (they had been dropped without a word)
for lv in ("x,,y", "x,y,"):
    expect_error(f"empty declared level '{lv}'", path("lv.h5"),
                 ["import", "--customers-csv", write("lv.csv", "customer_id,c\n1,x\n"),
                  "--schema", write("lv.schema", f"c = categorical: {lv}\n"), "--output", path("lv.h5")],
                 "lv.schema line 1: column 'c': an empty category", want=1)
# a transactions file of no purchase makes no store (it had made one no command could read)
expect_error("transactions without purchases", path("nop.h5"),
             ["import", "--transactions-csv", write("nop.csv", "customer_id,date,amount\n"),
              "--output", path("nop.h5")],
             "nop.csv: no customer to import: no purchase after the header line")
# ... nor with a customers file: a header alone, or rows all skipped as bad (it had made a store
# of empty purchase histories, exit 0, that clv then refused)
cust3 = write("cust3.csv", "customer_id,age\n1,5\n2,6\n3,7\n")
for name, text, extra, why in (
        ("nop2.csv", "customer_id,date,amount\n", [], "no purchase after the header line"),
        ("allbad.csv", "customer_id,date,amount\n1,2024-01-01,-5\n2,xx,3\n", ["--skip-bad-rows"],
         "no purchase after the header line, or every row skipped as bad")):
    expect_error(f"transactions without purchases, with customers: {name}", path("nop.h5"),
                 ["import", "--customers-csv", cust3, "--transactions-csv", write(name, text),
                  *extra, "--output", path("nop.h5")], f"{name}: no purchase to import: {why}")

# a fraction only in a row dropped for its repeated id: the column stays int64, no error
csv2 = write("wide3.csv", "customer_id,x\n1,9007199254740993\n2,5\n2,1.5\n3,4\n")
if imported("2^53 with a dropped fraction", path("wide3.h5"),
            ["import", "--customers-csv", csv2, "--output", path("wide3.h5"), "--skip-bad-rows", "--quiet"]):
    with h5py.File(path("wide3.h5"), "r") as f:
        if list(f["customers/x"][...]) != [9007199254740993, 5, 4]:
            failures.append(f"2^53 with a dropped fraction: {f['customers/x'][...]}")
sch = write("wide.schema", "acct = float64\nacct2 = categorical\n")
if imported("2^53 declared", path("wide.h5"), ["import", "--customers-csv", csv, "--output",
                                               path("wide.h5"), "--schema", sch, "--quiet"]):
    with h5py.File(path("wide.h5"), "r") as f:
        cats = [c.decode() if isinstance(c, bytes) else c for c in f["customers/acct2"].attrs["categories"]]
        if "1234567890123456789" not in cats:
            failures.append(f"2^53 declared categorical: levels {cats}")

# 3c. a schema saved with a byte-order mark, and declared levels that are not UTF-8
csv = write("bom.csv", "customer_id,age,city\n1,30,a\n")
if not imported("schema with a BOM", path("bom.h5"),
                ["import", "--customers-csv", csv, "--output", path("bom.h5"), "--quiet",
                 "--schema", write("bom.schema", b"\xef\xbb\xbfcustomer_id = id\r\nage = float\r\n")]):
    pass
# a byte-order mark inside the header (a field pasted from a file that had one) is refused,
# naming the column: it had become part of the name 'age', unseen
expect_error("a BOM inside the header", path("bom2.h5"),
             ["import", "--customers-csv", write("bom2.csv", b"customer_id,\xef\xbb\xbfage\n1,30\n"),
              "--output", path("bom2.h5")],
             "bom2.csv:1: column 2 of the header holds a byte-order mark (U+FEFF) at byte 0")
expect_error("declared levels not UTF-8", path("bom.h5"),
             ["import", "--customers-csv", csv, "--output", path("bom.h5"), "--schema",
              write("l1.schema", "city = categorical: a, Z\u00fcrich\n".encode("latin-1"))],
             "l1.schema line 1: column 'city': a category that is not UTF-8 (byte 1 is 0xFC)",
             want=1)

# 3d. quoted numbers with spaces around them are numbers, a quoted blank is missing (as
#     pandas reads them; a QUOTE_ALL export had made them categorical); a header of one field
#     holding ';' suggests --delimiter semicolon
csv = write("qsp.csv", 'customer_id,amount,city\n1,"  12.50"," a"\n2,"3.00","b"\n3," ","c"\n'
            '" 4",7,d\n')
if imported("quoted spaces", path("qsp.h5"), ["import", "--customers-csv", csv, "--output",
                                              path("qsp.h5"), "--quiet"]):
    with h5py.File(path("qsp.h5"), "r") as f:
        a = f["customers/amount"][...]
        if f["customers/amount"].dtype.kind != "f" or not np.allclose(a[[0, 1, 3]], [12.5, 3, 7]) \
                or not np.isnan(a[2]) or list(f["customers/customer_id"][...]) != [1, 2, 3, 4]:
            failures.append(f"quoted spaces: amount {f['customers/amount'].dtype} {a}")
expect_error("semicolon header", path("semi.h5"),
             ["import", "--customers-csv", write("semi.csv", "customer_id;amt\n1;2\n"),
              "--output", path("semi.h5")],
             "(the columns are: customer_id;amt; name the customer id column with --id-column, "
             "or mark it 'id' in --schema; the header is one field holding ';': is the file "
             "separated by it (--delimiter semicolon)?)")
# a header and no rows: refused, naming the file (it had made a store of 0 customers, which
# every later command refused without naming the cause)
expect_error("header only", path("header_only.h5"),
             ["import", "--customers-csv", write("header_only.csv", "customer_id,amt\n"),
              "--output", path("header_only.h5")],
             "header_only.csv: no customer to import: no row after the header line")
# and the other way round: --delimiter semicolon on a comma-separated file
expect_error("comma header read with semicolons", path("comma.h5"),
             ["import", "--customers-csv", write("comma.csv", "customer_id,amt\n1,2\n"),
              "--delimiter", "semicolon", "--output", path("comma.h5")],
             "the header is one field holding ',': is the file separated by it (--delimiter "
             "comma)?)")

# 3e. one 'NA' in a column of numbers makes it categorical: a warning says where and why,
#     and the too-many-levels error points at that line (it had suggested --max-categories)
vals = ["%.2f" % (1000 + i * 1.37) for i in range(300)]
vals[48] = "NA"
csv = write("na.csv", "customer_id,income\n" + "".join(f"{i + 1},{v}\n" for i, v in enumerate(vals)))
p = imported("a stray NA", path("na.h5"), ["import", "--customers-csv", csv, "--output", path("na.h5")])
if p and "column 'income' is stored as categorical with 300 levels because of text such as 'NA' " \
        "(line 50), though 299 of its 300 values are numbers" not in p.stderr:
    failures.append(f"a stray NA: no warning: {p.stderr[-400:]}")
expect_error("a stray NA, too many levels", path("na.h5"),
             ["import", "--customers-csv", csv, "--output", path("na.h5"), "--max-categories", "100"],
             "it holds numbers but became text at line 50 with 'NA': if that marks a missing value, "
             "add it to --na-values")

# 3f. numbers written for people (a decimal comma, digit grouping, a currency or percent sign)
#     become categorical without a numeric value among them: a warning says so (one-hot
#     amounts had gone into the features silently); a column of words does not get it
lines = ["customer_id;discount;income;price;share;plan"]
for i in range(40):
    lines.append(f'{i + 1};0,{i % 9 + 1};"{1 + i % 7}.{234 + i},56";${i + 5}.00;{i % 50} %;'
                 f"{['gold', 'basic'][i % 2]}")
csv = write("decimal_comma.csv", "\n".join(lines) + "\n")
p = imported("decimal commas", path("dc.h5"), ["import", "--customers-csv", csv, "--delimiter",
                                               "semicolon", "--output", path("dc.h5")])
for col, example in (("discount", "0,1"), ("income", "1.234,56"), ("price", "$5.00"),
                     ("share", "0 %")):
    if p and f"column '{col}' is stored as categorical with " not in p.stderr or \
            p and f"look like numbers in a notation custseg does not read, such as '{example}' " \
            "(line 2" not in p.stderr:
        failures.append(f"decimal commas: no warning for {col}: {p.stderr[-600:]}")
if p and "column 'plan'" in p.stderr:
    failures.append(f"a column of words was warned of as numbers: {p.stderr[-400:]}")

# 3g. whole amounts grouped by '.' in a ';' file (1.234 for 1234) read as decimals, as pandas
#     reads them: a warning says so (they had gone in a thousand times too small, silently);
#     three-decimal weights among others do not get it
lines = ["customer_id;amount;weight"]
for i in range(40):
    lines.append(f"{i + 1};{i * 37 % 990 + 1 if i % 2 else f'{1 + i % 9}.{i * 7 % 1000:03d}'};"
                 f"{1 + i % 5}.{125 * (i % 4):03d}")
csv = write("dot_grouped.csv", "\n".join(lines) + "\n")
p = imported("dot-grouped thousands", path("dg.h5"), ["import", "--customers-csv", csv,
                                                      "--delimiter", "semicolon", "--output", path("dg.h5")])
if p and "column 'amount' is read as decimal numbers, but each of its 20 values with a '.' has " \
        "three digits after it (such as '1.000', line 2) and none of its 20 values without one " \
        "reaches 1000: if the '.' groups thousands ('1.000' meaning 1000), remove it" not in p.stderr:
    failures.append(f"dot-grouped thousands: no warning: {p.stderr[-600:]}")
if p and "column 'weight'" in p.stderr:
    failures.append(f"three-decimal weights were warned of as thousands: {p.stderr[-400:]}")

# ... and the same for the amounts of a transactions file, which CLV's spend model reads (they
#     had gone in unwarned)
lines = ["customer_id;date;amount"]
for i in range(40):
    lines.append(f"{i % 7 + 1};2024-01-{i % 28 + 1:02d};"
                 f"{i * 37 % 990 + 1 if i % 2 else f'{1 + i % 9}.{i * 7 % 1000:03d}'}")
csv = write("dot_grouped_txn.csv", "\n".join(lines) + "\n")
p = imported("dot-grouped amounts", path("dgt.h5"), ["import", "--transactions-csv", csv,
                                                     "--txn-delimiter", "semicolon", "--output",
                                                     path("dgt.h5")])
if p and "the amount column 'amount' is read as decimal numbers, but each of its 20 values with " \
        "a '.' has three digits after it (such as '1.000', line 2)" not in p.stderr:
    failures.append(f"dot-grouped amounts: no warning: {p.stderr[-600:]}")

# 4. bare CR
csv = write("cr.csv", "customer_id,age,note\n1,30,ab\n2,40,x\ry\n3,50,z\n")
if imported("stray CR", path("cr.h5"), ["import", "--customers-csv", csv, "--output",
                                         path("cr.h5"), "--skip-bad-rows", "--quiet"]):
    with h5py.File(path("cr.h5"), "r") as f:
        if list(f["customers/customer_id"][...]) != [1, 2, 3]:
            failures.append(f"stray CR: ids {f['customers/customer_id'][...]}, wanted [1 2 3]")
csv = write("cronly.csv", "customer_id,age\r1,30\r2,40\r1,50\r")
expect_error("CR line ends", path("cr.h5"), ["import", "--customers-csv", csv, "--output",
                                             path("cr.h5")],
             "cronly.csv:4: column 'customer_id': customer id 1 is repeated (first on line 2)")
# 4b. a line of tabs in a tab-separated file (an empty spreadsheet row) is a record of empty
#     fields with its own line number: it had taken the line of the record before it, so
#     --skip-bad-rows dropped that good row too (and the second pass disagreed with the first)
csv = write("tabrow.tsv", "customer_id\tage\n1\t30\n\t\n2\t40\n3\tx\n")
expect_error("a line of tabs", path("tab.h5"), ["import", "--customers-csv", csv, "--delimiter",
             "tab", "--output", path("tab.h5")], "tabrow.tsv:3: column 'customer_id': no customer id")
if imported("a line of tabs skipped", path("tab.h5"), ["import", "--customers-csv", csv,
            "--delimiter", "tab", "--skip-bad-rows", "--output", path("tab.h5"), "--quiet"]):
    with h5py.File(path("tab.h5"), "r") as f:
        if list(f["customers/customer_id"][...]) != [1, 2, 3]:
            failures.append(f"a line of tabs: ids {f['customers/customer_id'][...]}, wanted [1 2 3]")
txn = write("tabrow_txn.tsv", "customer_id\tdate\tamount\n1\t2024-01-02\t5\n\t\t\n")
expect_error("a line of tabs in transactions", path("tab.h5"), ["import", "--transactions-csv",
             txn, "--txn-delimiter", "tab", "--output", path("tab.h5")], "tabrow_txn.tsv:3:")

# 5. not UTF-8
expect_error("Latin-1 value", path("l1.h5"),
             ["import", "--customers-csv", write("l1.csv", b"customer_id,city\n1,Z\xfcrich\n"),
              "--output", path("l1.h5")],
             "l1.csv:2: column 'city': text that is not UTF-8 (byte 0xFC after 'Z')")
expect_error("Latin-1 header", path("l1.h5"),
             ["import", "--customers-csv", write("l2.csv", b"customer_id,r\xe9gion\n1,a\n"),
              "--output", path("l1.h5")],
             "l2.csv:1: column 2 of the header: text that is not UTF-8 (byte 0xE9 after 'r')")
expect_error("UTF-16", path("l1.h5"),
             ["import", "--customers-csv", write("u16.csv", "customer_id,a\n1,2\n".encode("utf-16")),
              "--output", path("l1.h5")], "the file is UTF-16 text")

expect_error("a NUL byte", path("l1.h5"),
             ["import", "--customers-csv", write("nul.csv", b"customer_id,age\n1,30\n12\x00 34,5\n"),
              "--output", path("l1.h5")], "nul.csv:3: field 1 holds a NUL byte")

# A file of bare CR line ends (classic Mac OS) is read a line at a time: getline had
# returned the whole file as one line, and memory grew to about 5 times the file.
with open(path("big_lf.csv"), "w") as f:
    f.write("customer_id,date,amount\n")
    f.write("".join(f"{i % 5000 + 1},2024-01-{i % 28 + 1:02d},{i % 997}.25\n"
                    for i in range(600000)))
with open(path("big_lf.csv"), "rb") as f, open(path("big_cr.csv"), "wb") as g:
    g.write(f.read().replace(b"\n", b"\r"))
peak = {}
for name in ("big_lf", "big_cr"):
    fresh(path(name + ".h5"))
    p = subprocess.run(["/usr/bin/time", "-f", "%M", CUSTSEG, "import", "--transactions-csv",
                        path(name + ".csv"), "--sort-memory", "1048576", "--quiet", "--output",
                        path(name + ".h5")], capture_output=True, text=True, timeout=300)
    peak[name] = int(p.stderr.strip().splitlines()[-1]) if p.returncode == 0 else None
    if p.returncode != 0:
        failures.append(f"{name}: exit {p.returncode}: {p.stderr.strip()}")
if None not in peak.values() and peak["big_cr"] > peak["big_lf"] + 10240:
    failures.append(f"bare CR file: peak {peak['big_cr']} KB against {peak['big_lf']} KB with LF "
                    f"(the file is {os.path.getsize(path('big_cr.csv')) >> 10} KB)")

# 6. a pipe
fresh(path("pipe.h5"))
p = subprocess.run(["bash", "-c", f"{CUSTSEG} import --customers-csv <(cat {path('cr.csv')}) "
                    f"--output {path('pipe.h5')}"], capture_output=True, text=True, timeout=60)
if p.returncode != 2 or "is not a regular file" not in p.stderr or os.path.exists(path("pipe.h5")):
    failures.append(f"a pipe as customers file: exit {p.returncode}: {p.stderr.strip()}")

# A transactions file from a pipe: its size is unknown, so progress comes every 5 s with the
# rows so far (a "100.0%" line had come every 4096 rows).
with open(path("pipe_txn.csv"), "w") as f:
    f.write("customer_id,date,amount\n")
    for i in range(40000):
        f.write(f"{i % 500 + 1},2024-01-{i % 28 + 1:02d},{i % 97}.5\n")
fresh(path("pipe_txn.h5"))
p = subprocess.run(["bash", "-c", f"{CUSTSEG} import --transactions-csv <(cat {path('pipe_txn.csv')}) "
                    f"--output {path('pipe_txn.h5')}"], capture_output=True, text=True, timeout=120)
if p.returncode != 0 or len([ln for ln in p.stderr.splitlines() if "100.0%" in ln]) > 3:
    failures.append(f"transactions from a pipe: exit {p.returncode}, "
                    f"{sum('100.0%' in ln for ln in p.stderr.splitlines())} '100.0%' lines")

# 7. unnamed columns
csv = write("pd.csv", ",customer_id,age\n0,1,30\n1,2,40\n")
p = imported("unnamed column", path("pd.h5"), ["import", "--customers-csv", csv, "--output",
                                                path("pd.h5")])
if p:
    with h5py.File(path("pd.h5"), "r") as f:
        if sorted(f["customers"]) != ["age", "customer_id"]:
            failures.append(f"unnamed column: stored {sorted(f['customers'])}")
    if "column 1 of the header has no name: not imported" not in p.stderr:
        failures.append("unnamed column: no warning")
cust = write("tc.csv", "customer_id,age\n1,30\n2,40\n")
txn = write("tt.csv", "customer_id,date,amount,note,note,\n1,20230101,5.5,a,b,\n2,20230102,1,c,d,\n")
if imported("transactions with unnamed and repeated unused columns", path("tt.h5"),
            ["import", "--customers-csv", cust, "--transactions-csv", txn, "--txn-date-format",
             "yyyymmdd", "--output", path("tt.h5"), "--quiet"]):
    with h5py.File(path("tt.h5"), "r") as f:
        if list(f["transactions/amount"][...]) != [5.5, 1.0]:
            failures.append(f"transactions: amounts {f['transactions/amount'][...]}")

# 8. SIGINT removes the temporary output; a leftover is reported
big = path("sig.csv")
with open(big, "w") as f:
    f.write("customer_id,a,b,city\n")
    for i in range(1500000):
        f.write(f"{i},{i * 0.5},{i % 97},C{i % 50}\n")
fresh(path("sig.h5"))
proc = subprocess.Popen([CUSTSEG, "import", "--customers-csv", big, "--output", path("sig.h5"),
                         "--quiet"], stderr=subprocess.DEVNULL)
t0 = time.time()
while not glob.glob(path(".sig.h5.tmp-*")) and proc.poll() is None and time.time() - t0 < 120:
    time.sleep(0.02)
if proc.poll() is None:
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    left = glob.glob(path(".sig.h5*")) + glob.glob(path("sig.h5"))
    if proc.returncode != -signal.SIGINT or left:
        failures.append(f"SIGINT during the write: exit {proc.returncode}, left {left}")
else:
    print("note: the import ended before the signal could be sent; SIGINT check not made")
fresh(path("tc.h5"))
write(".tc.h5.tmp-1-2", b"\0" * 1000)
p = custseg("import", "--customers-csv", cust, "--output", path("tc.h5"))
if p.returncode != 0 or "1 temporary file(s) of an earlier, interrupted write" not in p.stderr:
    failures.append("a leftover temporary file was not reported")
if not os.path.exists(path(".tc.h5.tmp-1-2")):
    failures.append("a leftover temporary file was removed (another job may be writing it)")
os.remove(path(".tc.h5.tmp-1-2"))

# 9. names from the header
rows = ["%d,%.3f,%.3f,%.3f" % (i, (i % 3) * 5 + (i * 7 % 11) / 11, (i % 3) + (i * 5 % 7) / 7,
                               (i * 3 % 13) / 13) for i in range(1, 201)]
cust = write("u.csv", "customer_id,%s,%s,%s\n" % ("\u00e9" * 31, "\u05e9" * 31,
                                                 "a" + "\U0001F600" * 15) + "\n".join(rows) + "\n")
if imported("UTF-8 names", path("u.h5"), ["import", "--customers-csv", cust, "--output",
                                          path("u.h5"), "--quiet"]):
    for args in (["segment", "--input", path("u.h5"), "--output", path("useg.h5"), "--k", "3",
                  "--summary", path("useg.json"), "--quiet"],
                 ["report", "--segment-results", path("useg.h5"), "--output", path("u.html"),
                  "--quiet"]):
        p = custseg(*args)
        if p.returncode != 0:
            failures.append(f"UTF-8 names: {args[0]} exit {p.returncode}: {p.stderr[-300:]}")
    # inspect's table: the type column starts at one character offset on every line (it was
    # padded by bytes, so multi-byte names pushed their rows to the right)
    p = custseg("inspect", path("u.h5"))
    rows_t = [l for l in p.stdout.splitlines() if l.split(" ")[0] in
              ("column", "customer_id", "\u00e9" * 31, "\u05e9" * 31, "a" + "\U0001F600" * 15)]
    starts = {l.index(" float64" if "float64" in l else " type") for l in rows_t if "float64" in l or
              l.startswith("column")}
    if p.returncode != 0 or len(rows_t) != 5 or len(starts) != 1:
        failures.append(f"inspect with UTF-8 names: columns not aligned: {rows_t}")
    try:
        open(path("u.html"), "rb").read().decode("utf-8")
        json.load(open(path("useg.json"), encoding="utf-8"))
    except (OSError, ValueError) as e:
        failures.append(f"UTF-8 names: the report or the summary is not valid UTF-8/JSON: {e}")
rows = ["%d,%s,%.1f,%.1f,%d" % (i, "ab"[i % 2], (i * 7 % 11) / 2, (i * 5 % 13) / 3, i % 3 == 0)
        for i in range(1, 201)]
cust = write("eq.csv", "customer_id,plan,plan=a,intercept,churned\n" + "\n".join(rows) + "\n")
if imported("colliding names", path("eq.h5"), ["import", "--customers-csv", cust, "--output",
                                               path("eq.h5"), "--quiet"]):
    expect_error("a column named like a level", path("eqs.h5"),
                 ["segment", "--input", path("eq.h5"), "--output", path("eqs.h5"), "--k", "2"],
                 "two features are named 'plan=a' (columns 'plan' and 'plan=a')")
    expect_error("a feature named intercept", path("eqc.h5"),
                 ["churn", "train", "--input", path("eq.h5"), "--output", path("eqc.h5"),
                  "--features", "plan,intercept"],
                 "feature 'intercept' has the name of the model's intercept")
for name, header in (("c1", "customer_id,\"a,b\",c"), ("c2", "customer_id,a,\"b,c\"")):
    cust = write(name + ".csv", header + "\n" + "\n".join(
        "%d,%.2f,%.2f" % (i, (i % 2) * 10 + (i * 7 % 11) / 11, (i * 5 % 13) * 70)
        for i in range(1, 101)) + "\n")
    imported("comma names", path(name + ".h5"), ["import", "--customers-csv", cust, "--output",
                                                 path(name + ".h5"), "--quiet"])
p = custseg("segment", "--input", path("c1.h5"), "--output", path("c1s.h5"), "--k", "2")
if p.returncode != 0 or "column 'a,b' is not a feature" not in p.stderr:
    failures.append(f"a column named 'a,b' was used or not reported: exit {p.returncode}")
expect_error("features of another store through commas", path("c2s.h5"),
             ["segment", "--input", path("c2.h5"), "--output", path("c2s.h5"), "--previous",
              path("c1s.h5")], "this run has 'a', which it has not, and lacks 'c'; ", want=1)

# 10. Transactions: a `days` or `unix` number outside the years 0000-9999 (a Unix time in
# seconds given as days, in milliseconds given as seconds) is refused with a hint; quoted
# fields with spaces are read as in the customers file; a gzip file is named as one.
txn_secs = write("secs.csv", "customer_id,date,amount\n1,1700000000,5\n1,1700086400,5\n")
txn_ms = write("ms.csv", "customer_id,date,amount\n1,1700000000000,5\n1,1700086400000,7\n")
expect_error("seconds as days", path("secs.h5"), ["import", "--transactions-csv", txn_secs,
             "--txn-date-format", "days", "--output", path("secs.h5")],
             "secs.csv:2: column 'date': '1700000000' is outside the years 0000-9999 as days "
             "since 1970 (--txn-date-format days); seconds? use --txn-date-format unix")
expect_error("milliseconds as unix", path("ms.h5"), ["import", "--transactions-csv", txn_ms,
             "--txn-date-format", "unix", "--output", path("ms.h5")],
             "ms.csv:2: column 'date': '1700000000000' is outside the years 0000-9999 as "
             "seconds since 1970 (--txn-date-format unix); milliseconds? divide them by 1000 first")
txn_early = write("early.csv", "customer_id,date,amount\n1,-62167219201,5\n")
expect_error("before year 0 as unix: no hint", path("early.h5"), ["import", "--transactions-csv",
             txn_early, "--txn-date-format", "unix", "--output", path("early.h5")],
             "is outside the years 0000-9999 as seconds since 1970 (--txn-date-format unix) [")
if imported("unix seconds", path("secs.h5"), ["import", "--transactions-csv", txn_secs,
                                              "--txn-date-format", "unix", "--output",
                                              path("secs.h5"), "--quiet"]):
    with h5py.File(path("secs.h5"), "r") as f:
        t = f["transactions/time"][...]
    if abs(t[0] - 1700000000 / 86400) > 1e-9:
        failures.append(f"unix seconds: time {t[0]}")
cust = write("padded.csv", 'customer_id,age\n" 42","  30"\n7,1\n')
txn = write("padded_txn.csv", 'customer_id,date,amount\n" 42"," 2024-01-01 "," 5.5 "\n7,2024-01-02,1\n')
if imported("padded transactions", path("padded.h5"), ["import", "--customers-csv", cust,
            "--transactions-csv", txn, "--output", path("padded.h5"), "--quiet"]):
    with h5py.File(path("padded.h5"), "r") as f:
        got = (list(f["transactions/customer_id"][...]), list(f["transactions/amount"][...]),
               list(f["transactions/time"][...]))
    if got != ([42, 7], [5.5, 1.0], [19723.0, 19724.0]):  # in the customers file's order
        failures.append(f"padded transactions: {got}")
# a padded id of 300 leading zeros (longer than any stack buffer) is still the id 42; a blank
# hashed id is no id, as in the customers file
zeros = "0" * 300
cust = write("long_id.csv", f'customer_id,age\n" {zeros}42 ",30\n')
txn = write("long_id_txn.csv", f'customer_id,date,amount\n" {zeros}42 ",2024-01-01,5\n')
if imported("long padded id", path("long_id.h5"), ["import", "--customers-csv", cust,
            "--transactions-csv", txn, "--output", path("long_id.h5"), "--quiet"]):
    with h5py.File(path("long_id.h5"), "r") as f:
        if list(f["transactions/customer_id"][...]) != [42]:
            failures.append(f"long padded id: {f['transactions/customer_id'][...]}")
txn = write("blank_hashed.csv", 'customer_id,date,amount\n" ",2024-01-01,5\nab,2024-01-02,1\n')
expect_error("blank hashed transaction id", path("blank_hashed.h5"), ["import",
             "--transactions-csv", txn, "--hash-ids", "--output", path("blank_hashed.h5")],
             "blank_hashed.csv:2: column 'customer_id': no customer id")
# 10b. A date with a mistyped year is a valid date: imported, and warned of with the first
#      one's line (0024-01-05 had passed silently, 1990 years before the others); "-0" is 0
cust = write("odd_c.csv", "customer_id,age\n1,30\n2,40\n")
txn = write("odd_t.csv", "customer_id,date,amount\n1,2024-01-05,10\n1,0024-01-05,-0\n"
            "2,2024-03-01,5\n2,2204-01-05,3\n")
p = imported("odd dates", path("odd.h5"), ["import", "--customers-csv", cust,
                                           "--transactions-csv", txn, "--output", path("odd.h5")])
if p and "odd_t.csv: 2 transactions are dated before 1900 or more than a year from today, the " \
        "first '0024-01-05' (line 3): a mistyped year?" not in p.stderr:
    failures.append(f"odd dates: no warning: {p.stderr[-400:]}")
if p:
    with h5py.File(path("odd.h5"), "r") as f:
        if np.signbit(f["transactions/amount"][...]).any():
            failures.append("an amount of -0 was stored as -0.0")

# 11. The summary lists every warning (300 here, each distinct), and one with a long UTF-8 value
# is elided at a character start, so the summary stays valid JSON.
cust = write("unnamed.csv", "customer_id" + "," * 300 + "\n1" + ",5" * 300 + "\n")
if imported("300 warnings", path("unnamed.h5"), ["import", "--customers-csv", cust, "--output",
            path("unnamed.h5"), "--quiet", "--summary", path("unnamed.json")]):
    w = json.load(open(path("unnamed.json")))["warnings"]
    if len(w) != 300 or "column 301 of the header has no name" not in w[-1]:
        failures.append(f"300 warnings: the summary lists {len(w)}")
cust = write("utf8.csv", "customer_id,age\n1,30\n2,40\n3," + "\u00e9" * 1500 + "\n4,5\n")
if imported("long UTF-8 warning", path("utf8.h5"), ["import", "--customers-csv", cust,
            "--infer-rows", "2", "--skip-bad-rows", "--output", path("utf8.h5"), "--quiet",
            "--summary", path("utf8.json")]):
    try:
        w = json.load(open(path("utf8.json"), encoding="utf-8"))["warnings"]
        if not any("[...]" in x and "utf8.csv:4" in x for x in w):
            failures.append(f"long UTF-8 warning not elided: {[x[:80] for x in w]}")
    except (UnicodeDecodeError, ValueError) as e:
        failures.append(f"long UTF-8 warning: the summary is not valid JSON: {e}")
gz = path("gz.csv.gz")
with gzip.open(gz, "wb") as g:
    g.write(b"customer_id,age\n1,30\n")
expect_error("gzip customers", path("gz.h5"), ["import", "--customers-csv", gz, "--output",
             path("gz.h5")], "gz.csv.gz: the file is gzip-compressed; decompress it first")

# 12. --rename
cust = write("telco.csv", "customerID,MonthlyCharges,Churn,a,b,note\n"
             "1,29.85,No,1,10,x\n2,56.95,Yes,2,20,y\n3,53.85,No,3,30,z\n")
base = ["import", "--customers-csv", cust, "--id-column", "customerID", "--output", path("ren.h5")]
p = imported("--rename", path("ren.h5"), base + ["--rename", "MonthlyCharges=revenue,Churn=churned,a=b,b=a"])
if p:
    if "column 'MonthlyCharges' is stored as 'revenue' (--rename)" not in p.stderr:
        failures.append(f"--rename: no info line: {p.stderr[-300:]}")
    with h5py.File(path("ren.h5"), "r") as f:
        c = f["customers"]
        names = sorted(c.keys())
        if names != ["a", "b", "churned", "customer_id", "note", "revenue"]:
            failures.append(f"--rename: store columns {names}")
        else:
            lv = [x.decode() if isinstance(x, bytes) else x for x in c["churned"].attrs["categories"]]
            if list(c["revenue"][...]) != [29.85, 56.95, 53.85] or \
                    [lv[x] for x in c["churned"][...]] != ["No", "Yes", "No"] or \
                    list(c["a"][...]) != [10, 20, 30] or list(c["b"][...]) != [1, 2, 3]:
                failures.append(f"--rename: values {c['revenue'][...]}, {c['a'][...]}, {c['b'][...]}")
schema = write("ren_schema.txt", "note = skip\n")
for what, ren, needle in (
        ("not a pair", "MonthlyCharges", "--rename: 'MonthlyCharges' is not OLD=NEW"),
        ("empty new name", "MonthlyCharges=", "is not OLD=NEW"),
        ("unknown column", "Monthly=revenue", "telco.csv has no column 'Monthly' (the columns are: customerID,"),
        ("id column", "customerID=id", "'customerID' is the customer id column, which is stored as customer_id"),
        ("skipped column", "note=comment", "column 'note' is marked 'skip' in --schema"),
        ("twice", "a=x,a=y", "--rename: column 'a' is renamed twice"),
        ("clash", "a=b", "columns 'a' and 'b' of"),
        ("clash with a renamed one", "a=z,b=z", "would both be stored as 'z'"),
        ("slash", "a=x/y", "'x/y' cannot be a column name in the store"),
        ("reserved", "a=txn_offset", "'txn_offset' is written by the import itself")):
    expect_error(f"--rename {what}", path("ren.h5"), base + ["--schema", schema, "--rename", ren],
                 needle, want=1)
# A header name the store cannot hold ('/', only spaces, a line break) is refused with the way
# out, and taking that way works: it had been refused even when the schema skipped the column.
cust = write("slash.csv", 'customer_id,age,Revenue/Month," ","a\nb"\n1,30,5,6,7\n')
for what, extra, needle in (
        ("'/'", ["--schema", write("slash_s1.txt", "' ' = skip\n")],
         "column name 'Revenue/Month' cannot be a dataset name (no '/', not '.'): store it under another "
         "with --rename, or mark it 'skip' in --schema"),
        ("only spaces", ["--rename", "Revenue/Month=rm"], "column name ' ' cannot be a dataset name (not only spaces)"),
        ("a line break", ["--rename", "Revenue/Month=rm, =sp"], "(no control characters such as line breaks")):
    expect_error(f"header name with {what}", path("slash.h5"), ["import", "--customers-csv", cust,
                 "--output", path("slash.h5"), *extra], needle)
sch = write("slash_s2.txt", "Revenue/Month = skip\n")
if imported("header names skipped or renamed", path("slash.h5"), ["import", "--customers-csv", cust,
            "--schema", sch, "--rename", " =spaces,a\nb=ab", "--output", path("slash.h5"), "--quiet"]):
    with h5py.File(path("slash.h5"), "r") as f:
        if sorted(f["customers"].keys()) != ["ab", "age", "customer_id", "spaces"]:
            failures.append(f"header names skipped or renamed: {sorted(f['customers'].keys())}")
expect_error("--rename without --customers-csv", path("ren.h5"),
             ["import", "--transactions-csv", cust, "--rename", "a=b", "--output", path("ren.h5")],
             "--rename names columns of --customers-csv, which is not given", want=1)
# Every --txn-* option describes the transactions file: given without one, it was ignored.
for opt, val in (("--txn-header", "no"), ("--txn-date-format", "yyyymmdd")):
    expect_error(f"{opt} without --transactions-csv", path("ren.h5"),
                 ["import", "--customers-csv", cust, "--schema", sch, opt, val, "--output",
                  path("ren.h5")], f"{opt} describes --transactions-csv, which is not given", want=1)

# 13. Control characters from the data are written out in messages (\n, \x1b, \u009b), so an
# error or warning stays one line and cannot drive the terminal (an OSC sequence in a value had
# set the terminal's title; a line break had split a warning); a header name with a C1 control
# character or a space at either end is refused (' lead' had been stored, and then could not
# be named by --features or --schema, which trim); the report shows C1 and DEL as U+FFFD.
RAW = set(chr(c) for c in range(0x20)) - {"\n"} | {"\x7f"} | set(chr(c) for c in range(0x80, 0xa0))
sch = write("esc_schema.txt", "plan = categorical: basic, plus\n")
cust = write("esc_value.csv", 'customer_id,plan\n1,basic\n2,"pl\nus\a\x1b]0;pwned\a"\n')
expect_error("a value with ESC and BEL", path("esc.h5"), ["import", "--customers-csv", cust,
             "--schema", sch, "--output", path("esc.h5")],
             "column 'plan': 'pl\\nus\\x07\\x1b]0;pwned\\x07' is not one of the 2 categories")
cust = write("esc_warn.csv", 'customer_id,inc\n1,5\n2,6\n3,7\n4,"N\nA\x1b[31m"\n')
p = imported("a warning quoting a value with a line break", path("esc.h5"),
             ["import", "--customers-csv", cust, "--output", path("esc.h5"), "--quiet"])
if p and ("text such as 'N\\nA\\x1b[31m' (line 5)" not in p.stderr or RAW & set(p.stderr)
          or len(p.stderr.strip().splitlines()) != 1):
    failures.append(f"a warning quoting a value with a line break: {p.stderr!r}")
for what, header, needle in (
        ("a space at the start", 'customer_id," lead",ok', "column name ' lead' cannot be a dataset "
         "name (no space at the start or end): store it under another with --rename ["),
        ("a space at the end", 'customer_id,"trail ",ok', "column name 'trail ' cannot"),
        ("a C1 control character", "customer_id,c1\u009b31m,ok", "column name 'c1\\u009b31m' cannot "
         "be a dataset name (no control characters")):
    cust = write("esc_header.csv", header + "\n1,2,3\n")
    expect_error(f"a header name with {what}", path("esc.h5"), ["import", "--customers-csv", cust,
                 "--output", path("esc.h5")], needle)
cust = write("esc_lead.csv", 'customer_id," lead",ok\n1,2,3\n2,5,1\n')
if imported("' lead' renamed", path("esc.h5"), ["import", "--customers-csv", cust, "--rename",
            " lead=lead", "--output", path("esc.h5"), "--quiet"]):
    with h5py.File(path("esc.h5"), "r") as f:
        if sorted(f["customers"].keys()) != ["customer_id", "lead", "ok"]:
            failures.append(f"' lead' renamed: {sorted(f['customers'].keys())}")
LEVELS = ["v\u009b2J", "del\x7fx", "plain"]
cust = write("esc_levels.csv", "customer_id,x,kind\n" + "".join(
    f"{i},{i % 7},{LEVELS[i % 3]}\n" for i in range(60)))
if imported("levels with C1 and DEL", path("esc.h5"), ["import", "--customers-csv", cust,
            "--output", path("esc.h5"), "--quiet"]):
    fresh(path("esc_seg.h5"))
    p = custseg("segment", "--input", path("esc.h5"), "--output", path("esc_seg.h5"), "--k", "2")
    if p.returncode != 0 or RAW & set(p.stderr):
        failures.append(f"segment's persona lines with C1 and DEL levels: exit {p.returncode}, "
                        f"{sorted(RAW & set(p.stderr))}")
    fresh(path("esc.html"))
    p = custseg("report", "--segment-results", path("esc_seg.h5"), "--output", path("esc.html"),
                "--quiet")
    page = open(path("esc.html"), encoding="utf-8").read() if p.returncode == 0 else ""
    TAB = "\t"
    if p.returncode != 0 or (RAW - {TAB}) & set(page) or "\ufffd" not in page:
        failures.append(f"a report with C1 and DEL levels: exit {p.returncode}, raw "
                        f"{sorted((RAW - {TAB}) & set(page))}")
# ... also a byte that starts no UTF-8 character (a lone 0x9b), a path's control characters
# in a message rewritten with its config line (the line number had been put in at a byte
# offset of the raw path: "line 2i"), a long message elided next to escapes (none cut in
# two), and `inspect`'s column names and path (printed raw).
sch = write("esc_schema2.txt", "ok = categorical: a, b\n")
cust = write("esc_lone.csv", b"customer_id,ok\n1,a\n2,x\x9b2Jy\n")
expect_error("a lone C1 byte", path("esc.h5"), ["import", "--customers-csv", cust, "--schema", sch,
             "--output", path("esc.h5")], "column 'ok': 'x\\x9b2Jy' is not one of the 2 categories")
os.makedirs(path("cfg\tdir"), exist_ok=True)
cfg = write("cfg\tdir/c.ini", "[segment]\nnosuchkey = 1\n")
expect_error("a config path with a tab", path("esc.h5"), ["segment", "--config", cfg, "--input",
             path("esc.h5"), "--output", path("esc_o.h5")],
             f"config {WORK}/cfg\\tdir/c.ini line 2: ", want=1)
p = custseg("inspect", path("esc\x1b" * 300 + ".h5"))
err = [l for l in p.stderr.splitlines() if l.startswith("custseg: error:")]
halves = err[0].split(" [...] ") if len(err) == 1 else []
if len(halves) != 2 or RAW & set(err[0]) or re.findall(r"\\(?!x[0-9a-f]{2})", err[0]) or \
        not halves[1].startswith(("esc", "\\x1b", ".h5")):
    failures.append(f"a long message of escapes elided: {err}")
if imported("a column named with ESC", path("esc.h5"), ["import", "--customers-csv",
            write("esc_col.csv", "customer_id,a\n1,2\n2,3\n"), "--output", path("esc.h5"), "--quiet"]):
    with h5py.File(path("esc.h5"), "r+") as f:
        f["customers"].move("a", "a\x1b]0;PWNED\x07b")
    p = custseg("inspect", path("esc.h5"))
    if RAW & set(p.stdout) or "a\\x1b]0;PWNED\\x07b" not in p.stdout:
        failures.append(f"inspect's column names: {p.stdout!r}")

# 14. categorical codes at the int8/int16 boundary (docs/import.md): a column of 127 levels is
#     int8, one of 200 int16 (codes above 127 in an int8 would wrap to negative ones, read
#     back as other levels or as missing); a column declared int8 holds -128 and 127, and 128
#     is a bad row naming the type; a quoted number with tabs around it is a number, as one
#     with spaces is (3d).
vals = {"a": [f"s{(i * 7) % 127:03d}" for i in range(220)],
        "b": [f"s{(i * 7) % 200:03d}" for i in range(220)],
        "small": [str([127, -128, 0, 5][i % 4]) for i in range(220)]}
sch = write("int8_schema.txt", "small = int8\n")
csv = write("codes.csv", "customer_id,a,b,small,tabbed\n" + "".join(
    f"{i},{vals['a'][i]},{vals['b'][i]},{vals['small'][i]},\"\t{i}.5\t\"\n" for i in range(220)))
if imported("categorical codes and int8 at their bounds", path("codes.h5"),
            ["import", "--customers-csv", csv, "--schema", sch, "--output", path("codes.h5"),
             "--quiet"]):
    with h5py.File(path("codes.h5"), "r") as f:
        tab = f["customers"]["tabbed"]
        if tab.dtype != np.float64 or not np.array_equal(tab[...], np.arange(220) + 0.5):
            failures.append(f"quoted numbers with tabs around them: stored as {tab.dtype}")
        for col, dtype in (("a", "int8"), ("b", "int16"), ("small", "int8")):
            ds = f["customers"][col]
            if col == "small":
                got = [str(v) for v in ds[...].tolist()]
            else:
                cats = [c.decode() if isinstance(c, bytes) else c for c in ds.attrs["categories"]]
                got = [cats[c] if 0 <= c < len(cats) else None for c in ds[...].tolist()]
            if str(ds.dtype) != dtype or got != vals[col]:
                failures.append(f"column {col}: stored as {ds.dtype} (wanted {dtype}), read back "
                                f"as {got[:6]}..., wanted {vals[col][:6]}...")
expect_error("int8 beyond its bounds", path("codes.h5"), ["import", "--customers-csv", write(
    "int8_over.csv", "customer_id,small\n1,127\n2,128\n"), "--schema", sch, "--output",
    path("codes.h5")], "int8_over.csv:3: column 'small': 128 does not fit (declared int8")
# 15. a transactions file alone whose smallest customer id is 0: every distinct id is a
#     customer, 0 included (0 is also where the count of distinct ids starts from).
txn = write("id0_txn.csv", "customer_id,date,amount\n2,2024-01-02,4\n0,2024-01-01,1\n"
            "0,2024-01-03,2\n1,2024-01-01,3\n")
out = path("id0.h5")
if imported("a customer id 0", out, ["import", "--transactions-csv", txn, "--output", out,
                                     "--quiet"]):
    with h5py.File(out, "r") as f:
        got = (f["customers/customer_id"][...].tolist(), f["customers/txn_offset"][...].tolist())
    if got != ([0, 1, 2], [0, 2, 3, 4]):
        failures.append(f"a customer id 0: ids and offsets {got}")
# ... and a header naming one column twice in adjacent fields is refused like any repeat
expect_error("a repeated header name, adjacent", path("dup_adj.h5"), ["import",
             "--customers-csv", write("dup_adj.csv", "customer_id,a,a\n1,5,6\n"), "--output",
             path("dup_adj.h5")],
             "dup_adj.csv:1: column 'a' appears twice in the header (fields 2 and 3)")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok: import of many levels, repeated ids, big integers, CR, non-UTF-8, pipes, unnamed "
      "columns and interrupted writes; names from the header intact or refused; transaction dates "
      "in range, padded fields, gzip; --rename")
