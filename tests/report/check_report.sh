#!/usr/bin/env bash
# `custseg report` end to end: a small pipeline (generate 20,000 customers with purchase
# histories, segment --k 2..5, churn train, clv with the demo's [clv] settings, roi), the report
# at 1 and 3 ranks (the two pages must be the same bytes), every section present with content,
# no reference to anything outside the file, then the page opened in headless Chromium: no
# console messages, the DOM parsed (every section in --dump-dom), a screenshot PNG saved.
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
run 2 segment --input customers.h5 --output segments.h5 --k 2..5 --quiet \
  --log1p income,monetary,recency_days,frequency,tenure_months,web_visits,support_tickets
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
for id in run-facts segment-sizes personas centroid-heatmap k-selection roi churn clv; do
  grep -q "<section id=\"$id\">" report1.html || fail "section $id missing"
  grep -Eq "\"$id\":[[:space:]]*true" report1.json || fail "section $id noted as absent in the summary"
done
for text in "verification hash" "Customers per segment" "Standardized segment centres" \
            "chosen K = " "ROI per segment" "Revenue at risk" "Cumulative gains" "Lift" \
            "Calibration" "CLV per customer by segment" "Stage timings" "2.250 s"; do
  grep -qF "$text" report1.html || fail "'$text' not in the report"
done
# Self-contained: no script, no external references of any kind.
if grep -Eio '<script|<link|<img|<iframe|@import|url\((["'\'']?)(https?:|//)|(src|href)="(https?:)?//' report1.html; then
  fail "the report refers to something outside the file"
fi
grep -q '<dd>customers.h5</dd>' report1.html || fail "store path not shown"

# A report without the optional inputs: each absent section is one note. Its segment file's
# name has markup characters, which must appear escaped wherever the name is shown.
cp segments.h5 "seg&<b>'x'.h5"
run 1 report --segment-results "seg&<b>'x'.h5" --output minimal.html --quiet
grep -qF "seg&amp;&lt;b&gt;&#39;x&#39;.h5" minimal.html || fail "file name not escaped"
if grep -qF "seg&<b>" minimal.html; then fail "file name written unescaped"; fi
for id in roi churn clv; do
  grep -A2 "<section id=\"$id\">" minimal.html | grep -q 'class="note">Not shown' ||
    fail "section $id of the minimal report is not a note"
done

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
for id in run-facts segment-sizes personas centroid-heatmap k-selection roi churn clv; do
  grep -q "<section id=\"$id\">" dom.html || fail "section $id not in Chromium's DOM"
done
svgs=$(grep -o '<svg ' dom.html | wc -l)
[ "$svgs" -ge 10 ] || fail "only $svgs charts in Chromium's DOM"
echo "report_chromium: identical at 1 and 3 ranks, 8 sections, $svgs charts, no console messages"
echo "screenshot: $dir/report.png"
