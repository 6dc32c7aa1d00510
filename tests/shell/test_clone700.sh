#!/usr/bin/env bash
# clone700.sh - a clone in a mode-700 directory (like root's home), started
# by root: the services run as "chat", which cannot read the checkout, so
# chatctl must serve a copy of what they read ($CHAT_HOME/app) and default
# CHAT_HOME to /var/lib/chat; the stack must come up, answer readyz and
# register a user, and stop. Only meaningful as root (skipped otherwise).
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "clone700.sh: not root, skipped"; exit 0; }
dir=$(mktemp -d /tmp/chat-clone.XXXXXX) # mode 700
new_stack_env || exit 1
cleanup() {
    "$dir/chat/chatctl" stop >/dev/null 2>&1
    if [ "$fails" -gt 0 ]; then
        for f in "$CHAT_HOME"/log/*.log; do
            [ -s "$f" ] && { printf -- '--- tail of %s\n' "$f"; tail -n 15 "$f"; }
        done
    fi
    rm -rf "$dir" "$CHAT_HOME"
}
trap cleanup EXIT

ok "clone into $dir" clone_to "$dir/chat"
ok "the clone's directory is mode 700" test "$(stat -c %a "$dir")" = 700
had_varlib=; [ -e /var/lib/chat ] && had_varlib=1
ok "default CHAT_HOME is /var/lib/chat" test "$(env -u CHAT_HOME "$dir/chat/chatctl" home)" = /var/lib/chat
[ -z "$had_varlib" ] && rmdir /var/lib/chat 2>/dev/null

echo "=== stack in $CHAT_HOME on port $CHAT_PORT"
ok "chatctl start from the clone" "$dir/chat/chatctl" start
ok "ready" ready
ok "register alice" quiet register alice
api_pid=$(head -n 1 "$CHAT_HOME/run/chat-api.pid")
ok "chat-api runs the copy in \$CHAT_HOME/app" \
    test "$(readlink "/proc/$api_pid/exe")" = "$CHAT_HOME/app/bin/chat-api"
ok "nginx serves the web client" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CHAT_PORT/")" = 200
ok "chatctl stop" "$dir/chat/chatctl" stop
ok "a second start (copy refreshed) keeps the data" "$dir/chat/chatctl" start
ok "alice can log in" quiet login alice
ok "chatctl stop" "$dir/chat/chatctl" stop
finish
