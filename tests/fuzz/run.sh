#!/usr/bin/env bash
# run.sh - run every libFuzzer target in $B/fuzz for SECONDS (default 20)
# each, from its seed corpus in tests/fuzz/corpus/<target>/; new inputs go to
# a temporary directory, never into the repository. Prints each target's
# executions and fails on the first crash, leak, timeout or sanitizer report,
# keeping the input that caused it (see tests/fuzz/README.md).
#
#   B=build-fuzz tests/fuzz/run.sh [SECONDS] [target...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build-fuzz}
SECONDS_EACH=${1:-20}
shift || true
case "$SECONDS_EACH" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a number" >&2; exit 2 ;; esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$ROOT"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
work=$(mktemp -d /tmp/chat-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0 total=0
for t in "${targets[@]}"; do
    bin="$ROOT/$B/fuzz/$t"
    [ -x "$bin" ] || { echo "fuzz: $bin is missing (make FUZZ=1 fuzz-bins)" >&2; exit 2; }
    seeds="$ROOT/tests/fuzz/corpus/$t"
    [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 2; }
    mkdir -p "$work/$t/new" "$work/$t/crash"
    # One process per target (no -jobs): the stack of make test shares the cores.
    if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t/crash/" \
        "$work/$t/new" "$seeds" >"$work/$t/log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
        echo "fuzz $t: ${execs:-?} executions in ${SECONDS_EACH} s, no crash"
        total=$((total + ${execs:-0}))
    else
        echo "fuzz $t: FAILED" >&2
        tail -n 40 "$work/$t/log" >&2
        mkdir -p "$ROOT/$B/fuzz-crashes/$t"
        cp "$work/$t/crash/"* "$ROOT/$B/fuzz-crashes/$t/" 2>/dev/null &&
            echo "fuzz $t: the input is in $B/fuzz-crashes/$t/ (rerun: $bin FILE)" >&2
        fail=1
    fi
done
echo "fuzz: $total executions in all"
exit $fail
