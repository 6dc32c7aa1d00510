#!/usr/bin/env bash
# test_pg_ha.sh - CHAT_PG=ha (scripts/pg-ha.sh, docs/SCALING.md): three etcd
# members and three PostgreSQL nodes under Patroni start and show their
# roles in status; while a client posts messages with Idempotency-Key in a
# loop (retrying 503s with the same key) and another follows /changes,
# round 1 SIGKILLs the primary's postmaster (Patroni restarts it or fails
# over) and round 2 SIGKILLs the whole primary node (its Patroni and its
# postgres: the synchronous standby takes over). After each, writes succeed
# again (the recovery time, kill -> first acknowledged write, is printed);
# at the end every acknowledged message is in GET /messages exactly once,
# in order, and the reader saw each. A start brings the killed node back
# as a replica; stop stops every process.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$LIB_ROOT" || exit 1
command -v patroni >/dev/null && command -v etcd >/dev/null ||
    { echo "test_pg_ha.sh: skipped (no patroni or etcd: CHAT_PG=ha make deps)"; exit 0; }
new_stack_env || exit 1
# node k takes CHAT_PORT + 10 k + 2, 8, 9, 10 (scripts/pg-ha.sh): 31 ports
CHAT_PORT=$(pick_ports 20000 31999 31) || { echo "no free ports" >&2; exit 1; }
export CHAT_URL=http://127.0.0.1:$CHAT_PORT CHAT_PG=ha CHAT_RATE_WRITE=100000 CHAT_RATE_READ=100000
W=$CHAT_HOME/t
mkdir -p "$W"
bg=()
cleanup() {
    local p
    touch "$W/stop.write" "$W/stop.read"
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    ./chatctl stop >/dev/null 2>&1
    logs_if_failed
    # KEEP=DIR: the logs and the client's records stay there.
    [ -z "${KEEP:-}" ] || cp -r "$CHAT_HOME/log" "$W" "$KEEP/"
    rm -rf "$CHAT_HOME"
}
trap cleanup EXIT

check() { /usr/bin/python3 tests/shell/pg_ha_check.py "$@"; }
rest() { echo $((CHAT_PORT + 8 + 10 * $1)); }
# The node whose Patroni says it is the primary (GET /primary answers 200).
leader() {
    local k
    for k in 0 1 2; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$(rest "$k")/primary")" = 200 ] &&
            { echo "$k"; return 0; }
    done
    return 1
}
acked() { local n; n=$(grep -c '^[0-9]' "$W/write.log" 2>/dev/null) || true; echo "${n:-0}"; }
now() { date +%s.%N; }
# Wait (up to $2 s) for a write acknowledged after time $1; print the delay.
recovered_after() {
    local t0=$1 n=$(($2 * 10)) t
    while [ "$n" -gt 0 ]; do
        t=$(awk -v t0="$t0" '$1 ~ /^[0-9]/ && $1 > t0 { print $1; exit }' "$W/write.log")
        [ -n "$t" ] && { awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.1f", b - a }'; return 0; }
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
more_acks() { # N: wait until N more writes are acknowledged (60 s)
    local want=$(($(acked) + $1)) n=600
    while [ "$(acked)" -lt "$want" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    [ "$(acked)" -ge "$want" ]
}

# Both standbys run (start waits for the synchronous one only).
standbys() {
    ./chatctl status >"$W/status" 2>&1 &&
        [ "$(grep -c '^patroni-[0-2] *\(sync_standby\|replica\) (running' "$W/status")" = 2 ] &&
        grep -q '^patroni-[0-2] *sync_standby (running' "$W/status"
}
wait_standbys() { # seconds
    local n=$1
    until standbys || [ "$n" = 0 ]; do sleep 1; n=$((n - 1)); done
    standbys
}

echo "=== CHAT_PG=ha stack in $CHAT_HOME on port $CHAT_PORT"
t=$(date +%s)
ok "chatctl start" quiet ./chatctl start
echo "  (start took $(($(date +%s) - t)) s)"
ok "both standbys run" wait_standbys 60
./chatctl status >"$W/status" 2>&1
ok "status: every process runs" test $? = 0
ok "status: 3 etcd members run" test "$(grep -c '^etcd-[0-2] .*running' "$W/status")" = 3
ok "status: a leader" grep -q '^patroni-[0-2] *leader (running' "$W/status"
ok "status: a synchronous standby" grep -q '^patroni-[0-2] *sync_standby (running' "$W/status"
ok "status: a replica" grep -q '^patroni-[0-2] *replica ' "$W/status"
ok "chat-api connects by a multi-host conninfo" \
    grep -qz "^CHAT_DB_CONNINFO=host=.*,.*,.* port=.*,.*,.* dbname=chat target_session_attrs=read-write" \
    "/proc/$(cat "$CHAT_HOME/run/chat-api.pid")/environ"
ok "ready" ready
ok "setup: two users and a chat" check setup "$W/state.json"
check write "$W/state.json" "$W/write.log" "$W/stop.write" &
bg+=($!)
check read "$W/state.json" "$W/read.log" "$W/stop.read" &
bg+=($!)
ok "messages are acknowledged" more_acks 20

# Round 1: the primary's postmaster.
k=$(leader)
pm=$(head -n 1 "$CHAT_HOME/pg-ha/pg$k/postmaster.pid")
echo "=== round 1: kill -9 the postmaster (pid $pm) of the primary pg$k"
t0=$(now)
kill -9 "$pm"
r1=$(recovered_after "$t0" 60)
ok "round 1: writes succeed again" test -n "$r1"
echo "  round 1 recovery (kill -> first acknowledged write): ${r1:-none} s; leader now pg$(leader)"
ok "round 1: more writes are acknowledged" more_acks 20
# Until the synchronous standby is back, Patroni lets no node promote (a
# commit may have been acknowledged by the primary alone meanwhile).
ok "round 1: a synchronous standby again" wait_standbys 30

# Round 2: the whole primary node, its Patroni and its postgres.
k=$(leader)
pm=$(head -n 1 "$CHAT_HOME/pg-ha/pg$k/postmaster.pid")
pp=$(cat "$CHAT_HOME/run/patroni-$k.pid")
echo "=== round 2: kill -9 Patroni (pid $pp) and postmaster (pid $pm) of the primary pg$k"
t0=$(now)
kill -9 "$pp" "$pm"
r2=$(recovered_after "$t0" 60)
ok "round 2: writes succeed again" test -n "$r2"
k2=$(leader)
echo "  round 2 recovery (kill -> first acknowledged write): ${r2:-none} s; leader now pg$k2"
ok "round 2: another node is the leader" test -n "$k2" -a "$k2" != "$k"
ok "round 2: more writes are acknowledged" more_acks 20

touch "$W/stop.write"
wait "${bg[0]}"
# The reader catches up (chat-push's anti-entropy plays no part: /changes reads PostgreSQL).
n=200
while [ "$(wc -l <"$W/read.log")" -lt "$(acked)" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
touch "$W/stop.read"
wait "${bg[1]}"
ok "every acknowledged message is in history once, in order, and was read" \
    check verify "$W/state.json" "$W/write.log" "$W/read.log"

echo "=== start again: the killed node rejoins"
ok "chatctl start" quiet ./chatctl start
ok "status: every process runs, two standbys" wait_standbys 60
grep '^patroni' "$W/status" | sed 's/^/  /'
ok "a message after the rejoin" quiet check setup "$W/state2.json"

mapfile -t pids < <(cat "$CHAT_HOME"/run/etcd-*.pid "$CHAT_HOME"/run/patroni-*.pid
    for k in 0 1 2; do head -n 1 "$CHAT_HOME/pg-ha/pg$k/postmaster.pid" 2>/dev/null; done)
t=$(date +%s)
ok "chatctl stop" quiet ./chatctl stop
echo "  (stop took $(($(date +%s) - t)) s)"
gone() { local p; for p in "${pids[@]}"; do [ -e "/proc/$p" ] && ! grep -q '^State:.Z' "/proc/$p/status" && return 1; done; return 0; }
ok "stop: no etcd, Patroni or postgres process is left (${#pids[@]} pids)" gone
no "status after stop" quiet ./chatctl status
finish
