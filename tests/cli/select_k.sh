#!/usr/bin/env bash
# `custseg select-k` over single-K fits (as a Slurm job array makes them) chooses the K and
# the results that `segment --k A..B` chooses; fits of another input or feature space in the
# sweep directory, fits made with other fit options (seed, silhouette sample, ...), an output
# that is a file of the sweep, and a results file that is not the fit its summary describes
# (another K, or the same K fitted again) are refused with one error line and no output; the sweep's
# relative paths resolve from another working directory.
# usage: select_k.sh   (env: CUSTSEG, MPIEXEC, CS_TEST_DIR)
set -euo pipefail
dir="$CS_TEST_DIR/select_k" && rm -rf "$dir" && mkdir -p "$dir/sweep"
run() { timeout 300 $MPIEXEC --oversubscribe -n 2 "$CUSTSEG" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
# Every fit takes a 1000-customer silhouette sample (4000 by default), as a sweep's fits share
# their options: the silhouettes were most of this test's time under the sanitizers.
run generate --customers 40000 --segments 4 --seed 1 --quiet --output "$dir/store.h5"
for k in 2 3 4 5 6; do  # relative paths, as a job started in $dir types them
  (cd "$dir" && run segment --silhouette-sample 1000 --input store.h5 --k $k --quiet --output sweep/k$k.h5 --summary sweep/k$k.json)
done
(cd / && run select-k --sweep "$dir/sweep" --output "$dir/chosen.h5" --summary "$dir/chosen.json" --quiet)
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k 2..6 --output "$dir/range.h5" --summary "$dir/range.json" \
  2> "$dir/range.log"
# The size line names the range (it had shown its top, K = 6, as if one K were fitted).
grep -q "segment: 40000 customers x .* features (40000 used), K = 2\.\.6$" "$dir/range.log" ||
  fail "the range's size line: $(grep 'customers x' "$dir/range.log")"
kr=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["recommended_k"])' "$dir/range.json")
ks=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["select_k"]["recommended_k"])' "$dir/chosen.json")
[ "$kr" = "$ks" ] || fail "select-k chose K = $ks, segment --k 2..6 chose $kr"
h5diff -q "$dir/range.h5" "$dir/chosen.h5" /segments/labels || fail "the chosen results differ from the range's"
# A range from K = 1: on the segmented store the rule chooses as from 2; on a store with no
# segments (the generator's --segments 1) it keeps K = 1 (it had taken K = 3: a K > 1
# replaced K = 1 whatever its silhouette), and a range from 2 warns that the choice is weak.
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k 1..6 --output "$dir/range1.h5" --summary "$dir/range1.json" --quiet
k1=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["recommended_k"])' "$dir/range1.json")
[ "$k1" = "$kr" ] || fail "--k 1..6 chose K = $k1, --k 2..6 chose $kr"
run generate --customers 20000 --segments 1 --seed 7 --quiet --output "$dir/one.h5"
run segment --silhouette-sample 1000 --input "$dir/one.h5" --k 1..5 --output "$dir/one1.h5" --summary "$dir/one1.json" --quiet
k1=$("${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kmeans"]["recommended_k"])' "$dir/one1.json")
[ "$k1" = 1 ] || fail "a store without segments: --k 1..5 chose K = $k1"
run segment --silhouette-sample 1000 --input "$dir/one.h5" --k 2..5 --output "$dir/one2.h5" --summary "$dir/one2.json" --quiet 2> "$dir/one2.err"
grep -q "warning.*k selection: the recommended K = [2-5] has a silhouette of 0\.[0-9]*, below 0.25, where Kaufman and Rousseeuw find no substantial structure" "$dir/one2.err" ||
  fail "a store without segments, --k 2..5: no warning of weak structure: $(cat "$dir/one2.err")"
rm -f "$dir"/one*.h5 "$dir"/one*.json "$dir/range1.h5" "$dir/range1.json"
# refused(NAME, STATUS, TEXT, select-k options...): one error line with TEXT, no output.
refused() { local name=$1 want=$2 text=$3 st=0; shift 3
  run select-k --sweep "$dir/sweep" "$@" 2> "$dir/$name.err" || st=$?
  [ "$st" = "$want" ] && [ "$(grep -c 'custseg: error' "$dir/$name.err")" = 1 ] &&
    grep -q "custseg: error: .*$text" "$dir/$name.err" || { cat "$dir/$name.err"; fail "$name: status $st"; }
}
cp "$dir/sweep/k3.json" "$dir/k3.keep"
refused out_is_input 1 "is a file of the sweep" --output "$dir/sweep/k2.h5" --summary "$dir/sweep/k3.json"
cmp -s "$dir/sweep/k3.json" "$dir/k3.keep" || fail "select-k wrote over a summary of the sweep"
# A fit in another feature space (two features only) is not comparable.
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k 8 --features age,income --quiet --output "$dir/sweep/k8.h5" --summary "$dir/sweep/k8.json"
refused space 2 "k8.json: a fit in another feature space (features" --output "$dir/bad.h5"
rm "$dir/sweep/k8.h5" "$dir/sweep/k8.json"
# ... nor one whose default features differ through --label-column (it had been compared:
# only the options --features, --log1p, ... were).
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k 8 --label-column income --quiet --output "$dir/sweep/k8.h5" --summary "$dir/sweep/k8.json"
refused label_column 2 "k8.json: a fit in another feature space (next to .*k2.json, its features lack 'income')" --output "$dir/bad.h5"
rm "$dir/sweep/k8.h5" "$dir/sweep/k8.json"
# ... nor one made with another seed or silhouette sample (the indices are not comparable: a
# 60-customer sample's silhouette had changed the choice without a word).
run segment --input "$dir/store.h5" --k 8 --seed 99 --silhouette-sample 60 --quiet --output "$dir/sweep/k8.h5" --summary "$dir/sweep/k8.json"
refused fit_opts 2 "k8.json: a fit made with other fit options (seed 99, not 1 as .*k2.json)" --output "$dir/bad.h5"
rm "$dir/sweep/k8.h5" "$dir/sweep/k8.json"
# The chosen results file fitted again into the same file without its summary (same K, other
# features): not the fit its summary describes (it had been copied).
cp "$dir/sweep/k$ks.h5" "$dir/k.keep"
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k "$ks" --features age,income --quiet --output "$dir/sweep/k$ks.h5"
refused refitted 2 "is not the fit .*describes (input fingerprint .*, K = $ks and verification hash" --output "$dir/bad.h5"
cp "$dir/k.keep" "$dir/sweep/k$ks.h5"
# The chosen results file replaced by a fit of another K: not the fit its summary describes.
cp "$dir/sweep/k$ks.h5" "$dir/k.keep"
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k 9 --quiet --output "$dir/sweep/k$ks.h5"
refused swapped 2 "is not the fit .*describes" --output "$dir/bad.h5"
cp "$dir/k.keep" "$dir/sweep/k$ks.h5"
[ ! -e "$dir/bad.h5" ] || fail "output left after a refused selection"
# A fit of the same store file as it is after a change (next month's store under the same name:
# the same customers, so the same fingerprint): refused, naming the two versions (a sweep
# directory used again had mixed last month's fits into this month's choice).
touch "$dir/store.h5"
run segment --silhouette-sample 1000 --input "$dir/store.h5" --k 7 --quiet --output "$dir/sweep/k7.h5" --summary "$dir/sweep/k7.json"
refused stale 2 "k[2-6].json and .*k7.json are fits of two versions of the store file (size [0-9]*, modified .*; size [0-9]*, modified .*): the sweep directory holds an earlier sweep's files; empty it" --output "$dir/bad.h5"
rm "$dir/sweep/k7.h5" "$dir/sweep/k7.json"
# A damaged summary (a job killed while copying it, a disk that filled): refused, naming it
# (it had been skipped without a word, and K chosen among the other fits).
cp "$dir/sweep/k3.json" "$dir/k3.keep"
truncate -s 200 "$dir/sweep/k3.json"
refused damaged 2 "--sweep: '$dir/sweep/k3.json' is not JSON (a damaged summary?)" --output "$dir/bad.h5"
cp "$dir/k3.keep" "$dir/sweep/k3.json"
# ... while a directory named *.json is no summary, and is passed over.
mkdir "$dir/sweep/notes.json"
run select-k --sweep "$dir/sweep" --output "$dir/again.h5" --quiet || fail "a directory notes.json stopped select-k"
rmdir "$dir/sweep/notes.json"
# A fit of another store in the sweep: refused.
run generate --customers 30000 --segments 4 --seed 2 --quiet --output "$dir/other.h5"
run segment --silhouette-sample 1000 --input "$dir/other.h5" --k 7 --quiet --output "$dir/sweep/k7.h5" --summary "$dir/sweep/k7.json"
st=0; run select-k --sweep "$dir/sweep" --output "$dir/bad.h5" 2> "$dir/err.txt" || st=$?
[ "$st" = 2 ] && grep -q "custseg: error: .*k7.json: a fit of another input" "$dir/err.txt" ||
  { cat "$dir/err.txt"; fail "a fit of another input was not refused (status $st)"; }
[ ! -e "$dir/bad.h5" ] || fail "output left after a refused selection"
echo "ok: select-k chose K = $ks like segment --k 2..6"
rm -rf "$dir"
