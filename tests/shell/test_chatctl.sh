#!/usr/bin/env bash
# chatctl.sh - chatctl's supervision, on a stack of its own (own CHAT_HOME,
# own free ports; the suite's stack is not touched):
#   - a SIGKILLed nginx master leaves workers that keep serving: status
#     reports them and exits non-zero, start ends them and starts nginx
#     anew, stop ends them;
#   - a port of any service held by another process: start fails before
#     starting anything, naming the port and the holder's PID;
#   - everything the stack started SIGKILLed by the PIDs chatctl recorded,
#     PID files pointing at a live unrelated process, chat-api's socket and
#     PostgreSQL's postmaster.pid and lock left behind: start comes up, the
#     data is still there, and the unrelated process is left alone.
# Needs the binaries (CHAT_BIN, default ./build) and the packages.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
CHATCTL=$LIB_ROOT/chatctl
new_stack_env || exit 1
RUN=$CHAT_HOME/run
holder='' decoy=''

cleanup() {
    "$CHATCTL" stop >/dev/null 2>&1
    for p in $holder $decoy; do kill "$p" 2>/dev/null; done
    logs_if_failed
    rm -rf "$CHAT_HOME"
}
trap cleanup EXIT

alive() { [ -n "$(head -c 1 "/proc/$1/cmdline" 2>/dev/null | tr -d '\0')" ]; }
gone() { # PID...: all exit within 10 s
    local p='' n
    for n in $(seq 100); do
        for p in "$@"; do alive "$p" && break; p=; done
        [ -z "$p" ] && return 0
        sleep 0.1
    done
    return 1
}
children() { cat "/proc/$1/task/"*/children 2>/dev/null; }
listening() { [ -n "$(awk -v p="$(printf '%04X' "$1")" 'FNR > 1 && $4 == "0A" &&
    substr($2, length($2) - 3) == p' /proc/net/tcp /proc/net/tcp6)" ]; }
# (grep reads all: with -q, status could die of SIGPIPE and pass as "none")
none_running() { ! "$CHATCTL" status | grep running >/dev/null; }

echo "=== stack in $CHAT_HOME on port $CHAT_PORT"
ok "chatctl start" "$CHATCTL" start
ok "ready" ready
ok "register alice" quiet register alice

echo "--- nginx master SIGKILLed"
master=$(head -n 1 "$RUN/nginx.pid")
workers=$(children "$master")
ok "nginx has workers ($workers)" test -n "$workers"
kill -KILL "$master"
ok "the master is gone" gone "$master"
ok "its orphaned workers still serve" ready
status=$("$CHATCTL" status)
rc=$?
no "chatctl status exits 0 with orphans" test "$rc" = 0
for w in $workers; do
    ok "status names orphan $w" grep -qE "^nginx +orphaned workers \(pid ([0-9]+ )*${w}[ )].*port $CHAT_PORT" <<<"$status"
done
ok "chatctl start after the kill" "$CHATCTL" start
# shellcheck disable=SC2086
ok "start ended the orphans" gone $workers
new=$(head -n 1 "$RUN/nginx.pid")
ok "a new nginx master runs ($new, was $master)" test "$new" != "$master" -a -n "$(children "$new")"
ok "ready again" ready
workers=$(children "$new")
kill -KILL "$new"
ok "the new master is gone" gone "$new"
ok "chatctl stop" "$CHATCTL" stop
# shellcheck disable=SC2086
ok "stop ended the orphans" gone $workers
no "nothing listens on port $CHAT_PORT after stop" listening "$CHAT_PORT"
ok "status: all stopped" none_running

echo "--- a port held by another process"
for p in $(seq "$CHAT_PORT" $((CHAT_PORT + 7))); do
    /usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$p" &
    holder=$!
    for _ in $(seq 50); do listening "$p" && break; sleep 0.1; done
    out=$("$CHATCTL" start 2>&1)
    rc=$?
    no "start succeeds while port $p is held" test "$rc" = 0
    [ "$rc" = 0 ] && echo "$out"
    ok "the message names port $p and holder pid $holder" \
        grep -qE "port 127\.0\.0\.1:$p .*pid $holder " <<<"$out"
    ok "nothing was started" none_running
    kill "$holder"
    gone "$holder"
    holder=
done

echo "--- everything SIGKILLed, stale PID files, leftover sockets"
ok "chatctl start" "$CHATCTL" start
ok "alice can log in" quiet login alice
pids=$(head -n 1 "$CHAT_HOME/pg/postmaster.pid")
for s in redis chat-api chat-push chat-notify nginx; do pids="$pids $(head -n 1 "$RUN/$s.pid")"; done
# shellcheck disable=SC2086
kill -KILL $pids
# shellcheck disable=SC2086
ok "all recorded PIDs are gone ($pids)" gone $pids
# A PID file naming a live process that is not ours (PID reuse): PostgreSQL
# refuses to start while the PID in postmaster.pid or its lock is alive.
sleep 300 &
decoy=$!
for f in "$RUN/chat-push.pid" "$CHAT_HOME/pg/postmaster.pid" "$RUN/.s.PGSQL.$((CHAT_PORT + 2)).lock"; do
    { echo "$decoy"; tail -n +2 "$f"; } >"$f.new" && cat "$f.new" >"$f" && rm -f "$f.new"
done
ok "chat-api's socket was left behind" test -S "$RUN/chat-api.sock"
ok "chatctl start after kill -9 of everything" "$CHATCTL" start
ok "ready" ready
ok "alice's account survived" quiet login alice
ok "status: all running" "$CHATCTL" status
ok "the unrelated process ($decoy) is untouched" alive "$decoy"
ok "chatctl stop" "$CHATCTL" stop
ok "the unrelated process still runs after stop" alive "$decoy"
kill "$decoy"
decoy=
finish
