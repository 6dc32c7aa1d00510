# shellcheck shell=bash
# lib.sh - helpers for the shell tests of tests/shell/ (sourced): checks
# that count failures, a throwaway stack's environment, and the few API
# calls they need (curl; JSON read with Debian's /usr/bin/python3).
#
#   ok "what" command...     passes when the command succeeds
#   no "what" command...     passes when it fails ("not: what")
#   new_stack_env            CHAT_HOME (mktemp, mode 755) and free ports
#   api METHOD PATH [JSON] [TOKEN]   prints "STATUS BODY"
#   register NAME            registers NAME (password "password-NAME"), prints its access token
#   login NAME               logs NAME in, prints its access token
#   quiet command...         the command with its output dropped
#   ready                    GET /api/v1/readyz answers 200
#   finish                   prints the result, returns 1 on any failure
#   logs_if_failed           the tail of each log of $CHAT_HOME after a failure

LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fails=0
ok() {
    local what=$1
    shift
    if "$@"; then echo "  ok   $what"; else echo "  FAIL $what"; fails=$((fails + 1)); fi
}
no() {
    local what=$1
    shift
    if "$@"; then echo "  FAIL not: $what"; fails=$((fails + 1)); else echo "  ok   not: $what"; fi
}
finish() {
    if [ "$fails" -eq 0 ]; then echo "$(basename "$0"): all passed"; return 0; fi
    echo "$(basename "$0"): $fails failed"
    return 1
}

logs_if_failed() {
    local f
    [ "$fails" -gt 0 ] || return 0
    for f in "$CHAT_HOME"/log/*.log; do
        [ -s "$f" ] && { printf -- '--- tail of %s\n' "$f"; tail -n 15 "$f"; }
    done
    return 0
}

new_stack_env() {
    # shellcheck source=../../scripts/ports.sh
    . "$LIB_ROOT/scripts/ports.sh"
    CHAT_HOME=$(mktemp -d /tmp/chat-shell.XXXXXX)
    chmod 755 "$CHAT_HOME"
    CHAT_PORT=$(pick_ports 20000 31999 8) || { echo "no free ports" >&2; return 1; }
    # The other ports derive from CHAT_PORT: drop any a caller exported.
    unset CHAT_PUSH_PORT CHAT_PG_PORT CHAT_REDIS_PORT CHAT_REDIS_SOCKET CHAT_NOTIFY_PORT \
        CHAT_PUSH_WS_PORT CHAT_PUSH_POLL_PORT CHAT_METRICS_PORT CHAT_DB_CONNINFO CHAT_URL
    export CHAT_HOME CHAT_PORT
}

api() { # METHOD PATH [JSON] [TOKEN]
    local args=(-sS -o /tmp/.api.$$ -w '%{http_code}' --max-time 10 -X "$1"
        "http://127.0.0.1:$CHAT_PORT/api/v1$2")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    [ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
    local code
    code=$(curl "${args[@]}") || code=000
    printf '%s %s\n' "$code" "$(cat /tmp/.api.$$ 2>/dev/null)"
    rm -f /tmp/.api.$$
}

json() { # KEY.PATH < JSON: prints the value
    /usr/bin/python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1"
}

register() { # NAME: prints the access token
    local r
    r=$(api POST /auth/register "{\"username\":\"$1\",\"password\":\"password-$1\"}")
    [ "${r%% *}" = 201 ] || { echo "register $1: $r" >&2; return 1; }
    json access_token <<<"${r#* }"
}

login() { # NAME: prints the access token
    local r
    r=$(api POST /auth/login "{\"username\":\"$1\",\"password\":\"password-$1\"}")
    [ "${r%% *}" = 200 ] || { echo "login $1: $r" >&2; return 1; }
    json access_token <<<"${r#* }"
}

# chat-api's readiness through nginx: PostgreSQL and Redis answer.
ready() {
    local r
    r=$(api GET /readyz)
    [ "${r%% *}" = 200 ]
}

quiet() { "$@" >/dev/null; }

# clone_to DIR: a git clone of this checkout's current state (HEAD plus
# uncommitted changes to tracked files, by `git stash create`) in DIR, with
# the binaries of CHAT_BIN (default ./build) copied into DIR/build.
clone_to() {
    local rev b
    rev=$(git -C "$LIB_ROOT" stash create 2>/dev/null)
    git clone -q --shared "$LIB_ROOT" "$1" || return 1
    git -C "$1" -c advice.detachedHead=false checkout -q "${rev:-HEAD}" || return 1
    mkdir -p "$1/build"
    for b in chat-api chat-push chat-notify; do
        cp "${CHAT_BIN:-$LIB_ROOT/build}/$b" "$1/build/" || return 1
    done
}
