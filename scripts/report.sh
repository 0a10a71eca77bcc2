#!/usr/bin/env bash
# Build the Allure HTML report of the last test run and say where it is (and open it when a browser exists).
#
# The trend pane needs history: before generating, the previous report's history/ (kept in
# $OUT/history; a nightly pipeline restores that directory from its cache) goes into the results, and the
# new history is kept there again afterwards. The single-file report a browser opens from disk has no
# history/ of its own, so a second, plain generation in a scratch directory produces it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPORTS=${1:-build/reports}
RESULTS="$REPORTS/allure-results"
OUT="$REPORTS/allure-report"
ALLURE=${ALLURE:-build/allure/node_modules/.bin/allure}

if [ ! -d "$RESULTS" ] || [ -z "$(ls -A "$RESULTS" 2>/dev/null)" ]; then
    echo "report: no results in $RESULTS; run 'make test' first" >&2
    exit 1
fi
if [ ! -x "$ALLURE" ]; then
    echo "report: the Allure CLI is missing; run 'make setup'" >&2
    exit 1
fi
rm -rf "$RESULTS/history"
if [ -d "$OUT/history" ]; then
    cp -r "$OUT/history" "$RESULTS/history"
fi
# --single-file: one self-contained index.html that a browser opens straight from disk
"$ALLURE" generate --single-file --clean "$RESULTS" -o "$OUT" >/dev/null
scratch=$(mktemp -d "$REPORTS/.allure-history.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
"$ALLURE" generate --clean "$RESULTS" -o "$scratch/report" >/dev/null
cp -r "$scratch/report/history" "$OUT/history"
runs=$(grep -o '"total"' "$OUT/history/history-trend.json" | wc -l)
echo "report: $OUT/index.html ($runs run(s) in the trend; JUnit XML: $REPORTS/junit.xml)"
if [ -n "${DISPLAY:-}" ] && command -v xdg-open >/dev/null 2>&1; then
    xdg-open "$OUT/index.html" >/dev/null 2>&1 || true
fi
