#!/usr/bin/env bash
# run.sh - every test of the project: cmocka unit tests, then a throwaway
# stack (its own CHAT_HOME and ports) for the integration tests, the
# browser tests and the compose file check, then the shell tests of
# tests/shell/ (each with stacks of its own). Exits non-zero on any failure.
#
#   tests/run.sh          everything
#   tests/run.sh unit     unit tests only
#   KEEP=1 tests/run.sh   keep the data directory and logs afterwards
#   ONLY='test_ws*' tests/run.sh   only the integration, e2e and shell tests
#                         whose file name matches the glob (unit tests and
#                         the checks of the whole suite still run)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B=${B:-build}
export CHAT_BIN=$ROOT/$B
failed=()
passed=0

# only FILE: 0 when $ONLY is unset or matches FILE's name.
only() {
    [ -z "${ONLY:-}" ] && return 0
    # shellcheck disable=SC2053
    [[ $(basename "$1") == $ONLY ]]
}

# Each step's output is kept too, so the summary can end with the last lines
# of every failed one (a CI log often shows only its end).
STEP_LOGS=$(mktemp -d /tmp/chat-steps.XXXXXX)
step_logs=()
step() { # name command...
    local name=$1 out
    shift
    printf '\n=== %s\n' "$name"
    out=$STEP_LOGS/$((passed + ${#failed[@]})).log
    if "$@" 2>&1 | tee "$out"; then
        passed=$((passed + 1))
    else
        failed+=("$name")
        step_logs+=("$out")
    fi
}

summary() {
    local i
    for i in "${!failed[@]}"; do
        printf '\n--- last lines of FAILED %s\n' "${failed[$i]}"
        tail -n 30 "${step_logs[$i]:-/dev/null}"
    done
    rm -rf "$STEP_LOGS"
    printf '\n=== summary: %d passed, %d failed\n' "$passed" "${#failed[@]}"
    for f in "${failed[@]}"; do printf '  FAILED %s\n' "$f"; done
    [ ${#failed[@]} -eq 0 ]
}

for t in "$B"/tests/test_*; do
    [ -x "$t" ] && step "unit $(basename "$t")" "$t"
done
command -v clang-format >/dev/null && step "style (clang-format)" make -s check-style
[ "${1:-}" = unit ] && { summary; exit; }

# libFuzzer targets of the parsers of outside input (tests/fuzz/README.md),
# FUZZ_SECONDS each (default 20); longer: make fuzz SECONDS=N.
fuzz_targets=()
for f in tests/fuzz/fuzz_*.c; do only "$f" && fuzz_targets+=("$(basename "$f" .c)"); done
if [ ${#fuzz_targets[@]} -gt 0 ] && step "fuzz build" make -s --no-print-directory FUZZ=1 B=build-fuzz fuzz-bins; then
    for t in "${fuzz_targets[@]}"; do
        step "fuzz $t" env B=build-fuzz tests/fuzz/run.sh "${FUZZ_SECONDS:-20}" "$t"
    done
fi

. "$ROOT/scripts/ports.sh"

export CHAT_HOME
CHAT_HOME=$(mktemp -d /tmp/chat-test.XXXXXX)
chmod 755 "$CHAT_HOME"
export CHAT_PORT
# 9 ports: nginx, chat-push, PostgreSQL, Redis, chat-notify, chat-push WebSocket and long-poll,
# chat-api metrics, and Prism (tests/openapi/prism_run.mjs)
CHAT_PORT=$(pick_ports 20000 31999 9) || { echo "no free ports" >&2; exit 1; }
export CHAT_REFRESH_GRACE=${CHAT_REFRESH_GRACE:-1}
# Every test client shares 127.0.0.1: per-IP limits sized for a whole suite.
export CHAT_RATE_AUTH=${CHAT_RATE_AUTH:-1000} CHAT_RATE_READ=${CHAT_RATE_READ:-20000}
export CHAT_RATE_WRITE=${CHAT_RATE_WRITE:-20000}
# chat-notify: the tests' webhook receivers and push gateways are on loopback.
export CHAT_NOTIFY_ALLOW_PRIVATE=${CHAT_NOTIFY_ALLOW_PRIVATE:-1}
export CHAT_PUSH_GATEWAYS=${CHAT_PUSH_GATEWAYS:-http://127.0.0.1}
export CHAT_NOTIFY_BACKOFF_MS=${CHAT_NOTIFY_BACKOFF_MS:-400}
# chat-push's open streams per client IP: low enough for test_push_limits.py to
# reach, high enough for the suite's own streams (all from 127.0.0.1 via nginx).
export CHAT_PUSH_MAX_PER_IP=${CHAT_PUSH_MAX_PER_IP:-100}
export CHAT_URL=http://127.0.0.1:$CHAT_PORT

# Sanitizer reports of the services land in their logs: any is a failure.
check_sanitizer_logs() {
    ! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CHAT_HOME"/log/chat-*.log
}

stopped=
stop_stack() {
    [ -n "$stopped" ] && return
    stopped=1
    "$ROOT/chatctl" stop
    if [ ${#failed[@]} -gt 0 ] || [ -n "${KEEP:-}" ]; then
        for f in "$CHAT_HOME"/log/*.log; do
            [ -s "$f" ] && { printf '\n--- tail of %s\n' "$f"; tail -n 25 "$f"; }
        done
    fi
}
cleanup() {
    stop_stack
    if [ -n "${KEEP:-}" ]; then echo "kept $CHAT_HOME"; else rm -rf "$CHAT_HOME"; fi
}
trap cleanup EXIT

echo "=== stack in $CHAT_HOME on port $CHAT_PORT"
if ! "$ROOT/chatctl" start; then
    failed+=("stack start")
    summary
    exit 1
fi

export CHAT_RECORD=$CHAT_HOME/exchanges.jsonl
for t in tests/integration/test_*.py; do
    only "$t" || continue
    step "integration $(basename "$t")" /usr/bin/python3 "$t"
done
step "openapi lint (spectral)" tests/openapi/node_modules/.bin/spectral lint -F error \
    -r tests/openapi/spectral.yaml docs/openapi.yaml
# The REST-heavy black-box tests once more, through Prism validating every
# exchange against docs/openapi.yaml (streams stay direct; see the runner).
prism_tests=()
for t in auth chats messages messages_more sessions_tokens tokens_negative webhooks changes poll; do
    only "tests/integration/test_$t.py" && prism_tests+=("tests/integration/test_$t.py")
done
step "openapi proxy (prism)" node tests/openapi/prism_run.mjs --self-test --port $((CHAT_PORT + 8)) \
    "${prism_tests[@]}"
step "openapi routes" /usr/bin/python3 tests/openapi/check_routes.py "$B/chat-api"
# (with ONLY= the record may be empty: nothing to check then)
[ -z "${ONLY:-}" ] || [ -s "$CHAT_RECORD" ] &&
    step "openapi responses" node tests/openapi/validate_responses.mjs "$CHAT_RECORD"
for t in tests/e2e/*.spec.mjs; do
    only "$t" || continue
    [ -f "$t" ] && step "e2e $(basename "$t")" node "$t"
done
step "docker-compose config" docker-compose -f docker-compose.yml config -q
"$ROOT/chatctl" stop
step "no sanitizer reports in service logs" check_sanitizer_logs
stop_stack
# Shell tests of chatctl, the Makefile and install paths: stacks of their own.
for t in tests/shell/test_*.sh; do
    only "$t" || continue
    step "shell $(basename "$t")" "$t"
done
summary
