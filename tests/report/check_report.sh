#!/usr/bin/env bash
# `custseg report` end to end: a small pipeline (generate 20,000 customers with purchase
# histories, segment --k 2..5 with --previous last month's results, churn train, clv with the
# demo's [clv] settings, roi), the report at 1 and 3 ranks (the two pages must be the same
# bytes), every section present with content, no reference to anything outside the file, the
# "Changes since the previous run" numbers equal to /segments/previous (h5py), then the page
# opened in headless Chromium: no console messages, the DOM parsed (every section in
# --dump-dom), a screenshot PNG saved. "Last month" is another generated store (another --seed)
# whose ids overlap this one's (--id-base 1001: 19,000 in both, 1,000 new, 1,000 departed).
# Exit 77 (skipped) when Chromium is not installed.
# usage: check_report.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/report_chromium"
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
run() { timeout 300 $MPIEXEC --oversubscribe -n "$1" "$CUSTSEG" "${@:2}"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

chromium=${CHROMIUM-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$chromium" ]; then
  echo "SKIP: chromium is not installed (Debian package 'chromium'; scripts/install-deps.sh installs it)"
  exit 77
fi

run 2 generate --customers 20000 --segments 4 --seed 17 --transactions --output customers.h5 --quiet
log1p=(--log1p income,monetary,recency_days,frequency,tenure_months,web_visits,support_tickets)
# Last month's results; the file name has markup characters, which must appear escaped
# wherever the page shows it (here in the minimal report and as the --previous path).
prev="seg&<b>'x'.h5"
run 2 generate --customers 20000 --segments 4 --seed 18 --id-base 1001 --output last_month.h5 --quiet
run 2 segment --input last_month.h5 --output "$prev" --k 2..5 --quiet "${log1p[@]}"
run 2 segment --input customers.h5 --output segments.h5 --k 2..5 --previous "$prev" --quiet \
  "${log1p[@]}"
run 2 churn train --input customers.h5 --output churn.h5 --quiet
run 2 clv --input customers.h5 --output clv.h5 --calibration-end 2024-12-29 \
  --holdout-end 2025-06-29 --time-unit week --merge-same-day no --quiet
run 2 roi --input customers.h5 --segment-results segments.h5 --churn-results churn.h5 \
  --clv-results clv.h5 --output roi.h5 --quiet
printf '{"segment": 1.5, "churn": 0.75, "clv": 2.25, "roi": 0.5}\n' > timings.json

report=(report --segment-results segments.h5 --churn-results churn.h5 --clv-results clv.h5
        --roi-results roi.h5 --timings timings.json --quiet)
run 1 "${report[@]}" --output report1.html --summary report1.json
run 3 "${report[@]}" --output report3.html
cmp report1.html report3.html || fail "the report differs between 1 and 3 ranks"
ls -A | grep -q '\.tmp-' && fail "a temporary file was left: $(ls -A | grep '\.tmp-')"

# Every section, with its content rather than a note.
sections="run-facts segment-sizes changes personas centroid-heatmap k-selection roi churn clv"
for id in $sections; do
  grep -q "<section id=\"$id\">" report1.html || fail "section $id missing"
  grep -Eq "\"$id\":[[:space:]]*true" report1.json || fail "section $id noted as absent in the summary"
done
for text in "verification hash" "Customers per segment" "Segment means against the population" \
            "chosen K = " "ROI per segment" "Revenue at risk (churn score × CLV)" " pp" "Cumulative gains" "Lift" \
            "Calibration" "CLV per customer by segment" "Stage timings" "2.250 s" \
            "Centroid drift per segment" "Where the customers went" "New customers" \
            "top; labels and columns attributes); shares of the customers with a segment" \
            "shares of all customers of the store, those without a segment included" \
            "incremental revenue [95%]" "campaign cost" "ROI (descriptive, ratio)" "incremental ROI (ratio)" \
            "revenue at risk (churn × CLV)" "churn (predicted)" \
            "(0.25: a return of 25% of the cost)"; do
  grep -qF "$text" report1.html || fail "'$text' not in the report"
done
# Self-contained: no script, no external references of any kind.
if grep -Eio '<script|<link|<img|<iframe|@import|url\((["'\'']?)(https?:|//)|(src|href)="(https?:)?//' report1.html; then
  fail "the report refers to something outside the file"
fi
grep -q '<dd>customers.h5</dd>' report1.html || fail "store path not shown"
grep -qF "<dd>seg&amp;&lt;b&gt;&#39;x&#39;.h5</dd>" report1.html || fail "--previous path not shown escaped"
# The changes section against the results file: the index, the counts and every cell and total
# of the migration matrix.
/usr/bin/python3 - segments.h5 report1.html <<'PY' || fail "the changes section does not match /segments/previous"
import html, re, sys
import h5py, numpy as np
seg, page = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
sec = page[page.index('<section id="changes">'):]
sec = sec[:sec.index("</section>")]
facts = {html.unescape(k): html.unescape(v) for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", sec)}
with h5py.File(seg, "r") as f:
    g = f["/segments/previous"]
    a = dict(g.attrs)
    m = g["migration"][:].astype(np.int64)
    sizes = f["/segments/sizes"][:]
ari = float(a["adjusted_rand_index"])
assert facts["adjusted Rand index"] == f"{ari:.6f}", (facts["adjusted Rand index"], ari)
def count(text): return int(text.split(" ")[0].replace(",", ""))
both, stayed = int(a["customers_both"]), int(a["customers_stayed"])
assert count(facts["customers in both runs"]) == both
assert count(facts["stayed (in the matched segment)"]) == stayed
assert count(facts["moved"]) == both - stayed
assert count(facts["new customers"]) == int(a["customers_new"]) == m[-1, :-1].sum()
assert count(facts["departed customers"]) == int(a["customers_departed"]) == m[:-1, -1].sum()
assert count(facts["previous K"]) == m.shape[0] - 1 == int(a["k"])
table = sec[sec.index('<table class="migration">'):sec.index("</table>")]
rows = []
for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]:
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
    if cells[0] == "total":
        rows.append(cells)
        break
    rows.append(cells)
kp, k = m.shape[0] - 1, m.shape[1] - 1
assert len(rows) == kp + 2, len(rows)
num = lambda c: 0 if c == "\u2013" else int(c.replace(",", ""))
got = np.array([[num(c) for c in r[1:]] for r in rows])
want = np.zeros((kp + 2, k + 2), dtype=np.int64)
want[:-1, :-1] = m
want[:-1, -1] = m.sum(axis=1)
want[-1, :] = want[:-1, :].sum(axis=0)
assert (got == want).all(), (got, want)
assert (want[-1, :k] == sizes).all()
assert want[-1, -1] == both + int(a["customers_new"]) + int(a["customers_departed"])
assert rows[-2][0] == "New customers" and rows[-1][0] == "total"
print(f"changes: ARI {ari:.6f}, {both} in both ({stayed} stayed), matrix {kp + 1} x {k + 1} "
      f"with totals equal to /segments/previous/migration")
PY

# The heatmap: every cell in standard deviations from the population, the persona's zdiff of
# the feature's column (log1p: dropped; column=level for a one-hot feature). The standardized
# centres, drawn before, are in log units for the log1p features here, and with another
# --scale or feature weights in no standard deviations at all, under the same legend.
/usr/bin/python3 - segments.h5 report1.html <<'PY' || fail "the heatmap cells do not match /segments"
import re, sys
import h5py, numpy as np
seg, page = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
sec = page[page.index('<section id="centroid-heatmap">'):]
sec = sec[:sec.index("</section>")]
cells = [float(t) for t in re.findall(r'font-size="10" fill="#[0-9a-f]+">(-?[0-9.]+)</text>', sec)]
with h5py.File(seg, "r") as f:
    c = f["/segments/centroids_standardized"][...]
    feats = [x.decode() if isinstance(x, bytes) else x for x in f["/segments/centroids_standardized"].attrs["features"]]
    cols = [x.decode() if isinstance(x, bytes) else x for x in f["/segments/personas"].attrs["columns"]]
    z = f["/segments/personas/zdiff"][...]
want = np.column_stack([z[:, cols.index(n[6:] if n.startswith("log1p:") else n)] for n in feats])
onehot = [j for j, n in enumerate(feats) if "=" in n]
assert onehot and any(n.startswith("log1p:") for n in feats), feats
assert len(cells) == want.size, (len(cells), want.shape)
assert np.allclose(np.array(cells).reshape(want.shape), want, atol=0.006), "cells differ"
assert "standard deviations from the population mean (colours" in sec
print(f"heatmap: {want.shape[0]} x {want.shape[1]} cells, the personas' zdiff ({len(onehot)} "
      f"one-hot features)")
PY

# A migration matrix that does not add up to /segments/sizes: exit 2, one line, no page.
cp segments.h5 badmig.h5
/usr/bin/python3 -c "
import h5py
with h5py.File('badmig.h5', 'r+') as f:
    d = f['/segments/previous/migration']; m = d[:]; m[0, 1] -= 1; d[...] = m"
set +e
run 1 report --segment-results badmig.h5 --output badmig.html --quiet 2> badmig.err
rc=$?
set -e
[ "$rc" = 2 ] || fail "a migration matrix that does not add up: exit $rc, not 2"
grep -q 'badmig.h5:/segments/previous/migration column 1 adds up to' badmig.err ||
  fail "no clear error for a migration matrix that does not add up: $(head -3 badmig.err)"
[ ! -e badmig.html ] || fail "a page was written from a migration matrix that does not add up"

# A report without the optional inputs, of last month's results (no --previous): each absent
# section is one note, and the file name is escaped.
run 1 report --segment-results "$prev" --output minimal.html --quiet
grep -qF "seg&amp;&lt;b&gt;&#39;x&#39;.h5" minimal.html || fail "file name not escaped"
if grep -qF "seg&<b>" minimal.html; then fail "file name written unescaped"; fi
for id in changes roi churn clv; do
  grep -A2 "<section id=\"$id\">" minimal.html | grep -q 'class="note">Not shown' ||
    fail "section $id of the minimal report is not a note"
done
# The calibration points' customers are shown (a point of 4 customers had read as a trend),
# and they add up to the metrics' customers.
"$PYTHON" - report1.html churn.h5 <<'PY' || fail "the calibration bins table"
import h5py, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
part = page.split("<h3>Calibration bins</h3>", 1)[1].split("</table>", 1)[0]
rows = re.findall(r"<tr><td>[^<]*</td><td>[^<]*</td><td>([0-9,]+)</td>", part)
with h5py.File(sys.argv[2], "r") as f:
    want = int(f["churn/metrics/holdout"].attrs["customers"])
got = sum(int(x.replace(",", "")) for x in rows)
sys.exit(0 if rows and got == want else f"calibration bins add up to {got}, not {want}")
PY
# The K choice's numbers are on the page, with the smallest segment's share (the curves alone
# could not be checked against the rule).
"$PYTHON" - report1.html segments.h5 <<'PY' || fail "the K selection table"
import h5py, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
part = page.split('<section id="k-selection">', 1)[1].split("</section>", 1)[0]
table = part.split("<table>", 1)[1].split("</table>", 1)[0]
rows = re.findall(r"<tr(?: class=\"total\")?><td>([0-9]+)</td>", table)
with h5py.File(sys.argv[2], "r") as f:
    ks = [int(x) for x in f["segments/k_selection"][:, 0]]
ok = "smallest segment" in table and [int(x) for x in rows] == ks
sys.exit(0 if ok else f"K table rows {rows}, k_selection {ks}")
PY
# A categorical level's means are shares, shown as percentages (they had read "1" and "0"), and
# so is its standard deviation (it had been a fraction beside the percentage).
grep -qE '<td class="l">region=north</td><td>[0-9]+\.[0-9]%</td><td>[0-9]+\.[0-9]%</td><td[^>]*>[0-9]+\.[0-9]%</td>' \
  report1.html || fail "a level's population and segment means are not percentages"
grep -q '>-0\.00<' report1.html && fail "a heatmap cell reads -0.00"
# An ROI table of a store without revenue or cost columns and without CLV: one line in place
# of each empty chart, saying why (two charts of 'no value' bars had stood unexplained), and
# no revenue period to state.
"$PYTHON" -c 'import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    for c in ("revenue", "acquisition_cost", "marketing_cost"):
        del f["customers"][c]' "$(cp customers.h5 nomoney.h5 && echo nomoney.h5)"
run 2 segment --input nomoney.h5 --output seg_nomoney.h5 --k 3 --max-iter 5 --quiet
run 1 roi --input nomoney.h5 --segment-results seg_nomoney.h5 --output roi_nomoney.h5 --quiet 2>/dev/null
run 1 report --segment-results seg_nomoney.h5 --roi-results roi_nomoney.h5 --output nomoney.html --quiet
grep -qF '<p class="note">No ROI: it needs revenue and a cost, and the store has no revenue column' nomoney.html &&
  grep -qF '<p class="note">No revenue at risk: it needs churn scores and CLV, and the table was built without either' nomoney.html ||
  fail "the empty ROI charts of a store without money columns are not explained"
grep -qF '>Revenue: ' nomoney.html && fail "a revenue period stated for a store without revenue"
# The action is the ROI table's second column (a narrow window or a screenshot had cut it).
grep -qE '<div class="scroll"><table><tr><th[^>]*>segment</th><th[^>]*>action</th>' \
  report1.html || fail "the ROI table's second column is not the action"
# Before the table: the revenue's period from the store, and what the action compares (a
# reader had neither); an incremental ROI whose revenue interval holds the campaign cost is marked.
grep -qF '<h3>ROI table</h3><p class="note">Revenue: currency, last 12 months (the store&#39;s /customers/revenue@units). The action compares each segment&#39;s CLV / customer and predicted churn with the total row&#39;s, and the campaign&#39;s uplift interval where there is one; read the figures, not the label alone.</p>' \
  report1.html || fail "the ROI table's note on the revenue period and the action's basis"
grep -qF "The incremental revenue's 95% interval holds the campaign cost, or is unknown" report1.html ||
  fail "no incremental ROI marked as not established"
# The group sizes and conversion rates behind each uplift, per row as /roi/table holds them
# (the page had shown the uplift and its interval without them).
/usr/bin/python3 - roi.h5 report1.html <<'PY' || fail "the ROI table's treated/control columns do not match /roi/table"
import re, sys
import h5py
t = h5py.File(sys.argv[1], "r")["roi/table"][:]
page = open(sys.argv[2], encoding="utf-8").read()
table = page[page.index("<h3>ROI table</h3>"):]
table = table[:table.index("</table>")]
rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
cells = lambda r: [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
head = cells(rows[0])
for name in ("treated", "control", "conversion treated", "conversion control"):
    assert name in head, f"no column '{name}'"
body = [cells(r) for r in rows[1:]]
assert len(body) == len(t), (len(body), len(t))
for row, rec in zip(body, t):
    for name, field in (("treated", "treated"), ("control", "control")):
        shown = int(re.sub(r"[^0-9]", "", row[head.index(name)]))
        assert shown == int(rec[field]), (rec["segment"], name, shown, rec[field])
PY
grep -q 'class="warn"' report1.html && fail "a warnings box in a report without warnings"
# A churn model other than the one behind the ROI table: warned of, and the warning is shown
# at the top of the page.
run 1 churn train --input customers.h5 --output churn2.h5 --l2 3 --quiet
run 1 report --segment-results segments.h5 --churn-results churn2.h5 --roi-results roi.h5 \
  --output mixed.html 2> mixed.err
want="--roi-results roi.h5 was computed from churn_results 'churn.h5', not --churn-results 'churn2.h5'"
grep -qF -- "$want" mixed.err || fail "no warning that the ROI table used another churn model"
/usr/bin/python3 -c 'import html, sys
page, want = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2]
sys.exit(not page.count("<div class=\"warn\"><h3>Warnings (1)</h3><ul><li>" + html.escape(want).replace("&#x27;", "&#39;")))' \
  mixed.html "$want" || fail "the warning is not at the top of the page"

# Each results file's own input store is in the results-files table (a churn file of a copy of
# the store had been named nowhere on the page).
n_in=$(grep -o '<span class="tag">input</span> customers.h5' report1.html | wc -l)
[ "$n_in" -ge 4 ] || fail "the input store of each results file is not shown ($n_in of 4)"
# Long column names make persona labels of about 200 bytes: whole in the tables (they had been
# cut at 159 bytes, the full label nowhere on the page); a segment of 2 of 6,000 customers is
# "under 0.1%" in the sizes chart, as in the tables (the chart had said "0.0%").
run 2 generate --customers 6000 --segments 3 --seed 21 --output long.h5 --quiet
"$PYTHON" - long.h5 <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    g = f["customers"]
    for n in ("age", "discount_usage", "email_open_rate", "frequency", "income", "monetary",
              "recency_days", "support_tickets", "tenure_months", "web_visits"):
        g.move(n, (n + "_" + "x" * 60)[:60])
    d = g["income_" + "x" * 53]
    v = d[...]
    v[:2] = 1e10
    d[...] = v
PY
run 1 segment --input long.h5 --output seg_long.h5 --k 4 --init kmeans++ --scale none --quiet 2>/dev/null
run 1 report --segment-results seg_long.h5 --output long.html --quiet
"$PYTHON" - seg_long.h5 long.html <<'PY' || fail "long persona labels or a tiny segment's share"
import html, sys, h5py
page = open(sys.argv[2], encoding="utf-8").read()
with h5py.File(sys.argv[1], "r") as f:
    labels = [x.decode() if isinstance(x, bytes) else x for x in f["segments/personas"].attrs["labels"]]
    sizes = list(f["segments/sizes"][...])
assert min(len(l.encode()) for l in labels) > 160, [len(l) for l in labels]
personas = page[page.index('<section id="personas">'):]
personas = personas[:personas.index("</section>")]
for l in labels:
    assert html.escape(l, quote=True).replace("&#x27;", "&#39;") in personas, f"label cut: {l}"
assert 2 in sizes, sizes
sec = page[page.index('<section id="segment-sizes">'):]
assert "2 (under 0.1%)" in sec[:sec.index("</section>")], "the 2-customer segment's share"
PY

# Chromium: no console messages (errors, warnings, uncaught exceptions), DOM parsed.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$profile" --enable-logging=stderr --v=0)
timeout 120 "$chromium" "${flags[@]}" --screenshot="$dir/report.png" --window-size=1400,4000 \
  "file://$dir/report1.html" > chromium.out 2> chromium.err || fail "chromium failed: $(tail -3 chromium.err)"
if grep -E 'CONSOLE|Uncaught' chromium.err; then fail "console messages in Chromium (above)"; fi
[ -s report.png ] || fail "no screenshot written"
head -c 8 report.png | od -An -c | grep -q 'P   N   G' || fail "report.png is not a PNG"
timeout 120 "$chromium" "${flags[@]}" --dump-dom "file://$dir/report1.html" > dom.html 2> dom.err ||
  fail "chromium --dump-dom failed: $(tail -3 dom.err)"
if grep -E 'CONSOLE|Uncaught' dom.err; then fail "console messages in Chromium (--dump-dom)"; fi
for id in $sections; do
  grep -q "<section id=\"$id\">" dom.html || fail "section $id not in Chromium's DOM"
done
svgs=$(grep -o '<svg ' dom.html | wc -l)
[ "$svgs" -ge 10 ] || fail "only $svgs charts in Chromium's DOM"
echo "report_chromium: identical at 1 and 3 ranks, 9 sections, $svgs charts, no console messages"
echo "screenshot: $dir/report.png"
