#!/usr/bin/env bash
# Build the Allure HTML report of the last test run and say where it is (and open it when a browser exists).
set -euo pipefail
cd "$(dirname "$0")/.."
REPORTS=${1:-build/reports}
RESULTS="$REPORTS/allure-results"
OUT="$REPORTS/allure-report"
ALLURE=build/allure/node_modules/.bin/allure

if [ ! -d "$RESULTS" ] || [ -z "$(ls -A "$RESULTS" 2>/dev/null)" ]; then
    echo "report: no results in $RESULTS; run 'make test' first" >&2
    exit 1
fi
if [ ! -x "$ALLURE" ]; then
    echo "report: the Allure CLI is missing; run 'make setup'" >&2
    exit 1
fi
# --single-file: one self-contained index.html that a browser opens straight from disk
"$ALLURE" generate --single-file --clean "$RESULTS" -o "$OUT" >/dev/null
echo "report: $OUT/index.html (JUnit XML: $REPORTS/junit.xml)"
if [ -n "${DISPLAY:-}" ] && command -v xdg-open >/dev/null 2>&1; then
    xdg-open "$OUT/index.html" >/dev/null 2>&1 || true
fi
