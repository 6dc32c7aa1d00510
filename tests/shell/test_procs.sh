#!/usr/bin/env bash
# test_procs.sh - several processes of each service behind one nginx
# (chatctl CHAT_API_PROCS, CHAT_PUSH_PROCS, CHAT_NOTIFY_PROCS;
# docs/SCALING.md): all start and show in status; resumes reach the
# chat-push process that issued the cursor (procs_check.py); a SIGKILLed
# one's cursor gets resync from another; restart-rolling brings every
# chat-push back; a start with fewer processes stops the extra ones; stop
# stops them all.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$LIB_ROOT" || exit 1
new_stack_env || exit 1
# process i of a service uses CHAT_PORT + 10 i + its offset: 3 processes, 30 ports
CHAT_PORT=$(pick_ports 20000 31999 30) || { echo "no free ports" >&2; exit 1; }
export CHAT_URL=http://127.0.0.1:$CHAT_PORT CHAT_API_PROCS=2 CHAT_PUSH_PROCS=3 CHAT_NOTIFY_PROCS=2
cleanup() {
    ./chatctl stop >/dev/null 2>&1
    logs_if_failed
    rm -rf "$CHAT_HOME"
}
trap cleanup EXIT

# The PIDs of every chat-* process, from their PID files.
daemon_pids() { cat "$CHAT_HOME"/run/chat-*.pid 2>/dev/null; }
running() { ./chatctl status | grep -c "^$1.* running"; }
none_alive() { # PIDs...
    local p
    for p in "$@"; do [ -e "/proc/$p" ] && grep -qv '^State:.Z' "/proc/$p/status" 2>/dev/null && return 1; done
    return 0
}

echo "=== stack in $CHAT_HOME on port $CHAT_PORT: 2 chat-api, 3 chat-push, 2 chat-notify"
ok "chatctl start" quiet ./chatctl start
ok "status: every process runs" ./chatctl status
ok "status lists 2 chat-api" test "$(running chat-api)" = 2
ok "status lists 3 chat-push" test "$(running chat-push)" = 3
ok "status lists 2 chat-notify" test "$(running chat-notify)" = 2
ok "ready" ready
ok "register through either chat-api" quiet register "procs$$"
# Each chat-api's own count of requests (its metrics port: +7, chat-api-1 +17).
answered() { curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^chat_api_requests_total/ { n += $2 } END { exit !(n > 0) }'; }
for _ in 1 2 3 4 5 6; do quiet api GET /users/me; done
ok "chat-api answered requests" answered $((CHAT_PORT + 7))
ok "chat-api-1 answered requests" answered $((CHAT_PORT + 17))
ok "resumes reach their chat-push" /usr/bin/python3 tests/shell/procs_check.py resume
ok "a killed chat-push's cursor gets resync" /usr/bin/python3 tests/shell/procs_check.py kill 1
no "status: every process runs" quiet ./chatctl status
# A WebSocket open during the rolling restart is closed with 1012 (service restart).
/usr/bin/python3 tests/shell/procs_check.py wsclose "$CHAT_HOME/ws.open" >"$CHAT_HOME/ws.out" 2>&1 &
ws_pid=$!
for _ in $(seq 100); do [ -s "$CHAT_HOME/ws.open" ] && break; sleep 0.1; done
ok "a WebSocket is open" test -s "$CHAT_HOME/ws.open"
ok "restart-rolling push" ./chatctl restart-rolling push
wait "$ws_pid"
ok "  the WebSocket was closed with 1012" grep -qx 'close code 1012' "$CHAT_HOME/ws.out"
ok "status: every process runs again" quiet ./chatctl status
ok "resumes reach their chat-push after the restart" /usr/bin/python3 tests/shell/procs_check.py resume
# The fault checker (fault_check.py): members on all three transports lose
# nothing while a chat-push is killed (twice), a chat-api hangs and the
# chat-push processes restart one by one.
ok "fault checker: push:2 api rolling" env FAULT_LIMIT_S=30 /usr/bin/python3 tests/shell/fault_check.py push:2 api rolling
mapfile -t pids < <(daemon_pids)
extra=$(cat "$CHAT_HOME/run/chat-push-1.pid" "$CHAT_HOME/run/chat-push-2.pid")
# shellcheck disable=SC2086
ok "a start with CHAT_PUSH_PROCS=1 stops chat-push-1 and -2" \
    sh -c "CHAT_PUSH_PROCS=1 ./chatctl start >/dev/null 2>&1 && sleep 0.2 && exit 0" &&
    ok "  they are gone" none_alive $extra
ok "  nginx's upstreams name chat-push alone" test "$(grep -c '^upstream chat_push.*_n' "$CHAT_HOME/nginx/upstreams.conf")" = 3
ok "  and chat-push alone serves" test "$(CHAT_PUSH_PROCS=1 running chat-push)" = 1
ok "  resumes still continue" env CHAT_PUSH_PROCS=1 /usr/bin/python3 tests/shell/procs_check.py resume
ok "chatctl stop" quiet ./chatctl stop
ok "no chat-* process is left" none_alive "${pids[@]}"
finish
