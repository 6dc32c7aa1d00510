#!/usr/bin/env bash
# test_redis_cluster.sh - CHAT_REDIS=cluster (docs/SCALING.md "Redis
# Cluster"): chatctl starts 3 masters + 3 replicas and status lists them;
# messages in chats of every shard reach SSE and long-poll clients through
# sharded pub/sub; a SIGKILLed master's replica takes over and no
# acknowledged message is lost (cluster_check.py, which prints the
# figures); a subset of the integration tests passes on the cluster; stop
# stops every node.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$LIB_ROOT" || exit 1
new_stack_env || exit 1
# Cluster node k: CHAT_PORT + 10 k + 8 (+9 its bus): 60 ports.
CHAT_PORT=$(pick_ports 20000 31999 60) || { echo "no free ports" >&2; exit 1; }
export CHAT_URL=http://127.0.0.1:$CHAT_PORT CHAT_REDIS=cluster CHAT_PUSH_PROCS=2
cleanup() {
    ./chatctl stop >/dev/null 2>&1
    logs_if_failed
    rm -rf "$CHAT_HOME"
}
trap cleanup EXIT

node_pids() { cat "$CHAT_HOME"/run/redis-[0-9].pid 2>/dev/null; }
none_alive() { # PIDs... (a zombie is not alive: the SIGKILLed master may be one)
    local p st
    for p in "$@"; do
        st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        st=${st##*) }
        case ${st%% *} in Z | X) ;; *) return 1 ;; esac
    done
    return 0
}

echo "=== stack in $CHAT_HOME on port $CHAT_PORT: Redis Cluster, 2 chat-push"
ok "chatctl start" quiet ./chatctl start
ok "status: every process runs" quiet ./chatctl status
ok "status lists 3 Redis masters" test "$(./chatctl status | grep -c '^redis-[0-9].* running.* master$')" = 3
ok "status lists 3 Redis replicas" test "$(./chatctl status | grep -c '^redis-[0-9].* running.* slave$')" = 3
ok "ready" ready
# Existing integration tests that need no single Redis of their own.
for t in test_messages test_poll; do
    ok "integration $t.py on the cluster" quiet env CHAT_HOME="$CHAT_HOME" /usr/bin/python3 \
        "tests/integration/$t.py"
done
ok "sharded pub/sub and a master's failover" /usr/bin/python3 tests/shell/cluster_check.py
mapfile -t pids < <(node_pids)
ok "chatctl stop" quiet ./chatctl stop
ok "no Redis node is left" none_alive "${pids[@]}"
finish
