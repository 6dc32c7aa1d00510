#!/bin/sh
# Runs every tests/integration/test_*.py with Debian's /usr/bin/python3 against
# the running stack at $CHAT_URL, prints a summary, exits non-zero on failure.
#   CHAT_URL=http://127.0.0.1:18080 tests/integration/run_all.sh [test_x.py ...]
set -u
PY=/usr/bin/python3
DIR=$(cd "$(dirname "$0")" && pwd)
: "${CHAT_URL:?set CHAT_URL, e.g. http://127.0.0.1:18080}"
export CHAT_URL

if [ $# -gt 0 ]; then files="$*"; else files=$(ls "$DIR"/test_*.py | sort); fi
pass=0; fail=0; failed=""
start=$(date +%s)
for f in $files; do
    case "$f" in /*) ;; *) [ -f "$f" ] || f="$DIR/$f" ;; esac
    name=$(basename "$f")
    echo "=== $name"
    t0=$(date +%s)
    if "$PY" "$f"; then
        pass=$((pass + 1)); echo "=== $name: PASS ($(( $(date +%s) - t0 )) s)"
    else
        fail=$((fail + 1)); failed="$failed $name"; echo "=== $name: FAIL ($(( $(date +%s) - t0 )) s)"
    fi
done
echo
echo "integration summary: $pass passed, $fail failed ($(( $(date +%s) - start )) s)${failed:+ - failed:$failed}"
[ "$fail" -eq 0 ]
