# shellcheck shell=bash
# redis-cluster.sh - CHAT_REDIS=cluster for chatctl (sourced by it): a Redis
# Cluster of 3 masters and 3 replicas on loopback (docs/SCALING.md "Redis
# Cluster", docs/OPERATIONS.md).
#
# Node k (0..5) listens on CHAT_PORT + 10 k + 8 and its cluster bus on
# CHAT_PORT + 10 k + 9: offsets 8 and 9 of each ten, which chatctl's
# per-process ports (inst_port: + 10 i + 0..7) never use, so a cluster
# stack stays inside CHAT_PORT .. CHAT_PORT + 59 (pick_ports SPAN 60).
# CHAT_REDIS_CLUSTER_PORT moves the first node (the others follow by 10).
# Data: $CHAT_HOME/redis-cluster/node-k/ (redis.conf, 0600, with
# requirepass and masterauth from $SECRETS/redis.pass; nodes.conf, the
# cluster's own state, kept across restarts); PID files run/redis-k.pid;
# logs log/redis-k.log. Nodes run as the service user (AS_SVC), are stopped
# by PID, and are told from others by their working directory.
#
# Uses from chatctl: CHAT_HOME CHAT_PORT RUN LOG SECRETS AS_SVC SVC_USER
# make_secrets say die alive.

CHAT_REDIS=${CHAT_REDIS:-single}
case $CHAT_REDIS in single | cluster) ;; *)
    printf 'chatctl: CHAT_REDIS=%s: give single or cluster\n' "$CHAT_REDIS" >&2
    exit 2
    ;;
esac
CHAT_REDIS_CLUSTER_PORT=${CHAT_REDIS_CLUSTER_PORT:-$((CHAT_PORT + 8))}
# cluster-node-timeout: a master unreachable this long is failed over.
CHAT_REDIS_NODE_TIMEOUT=${CHAT_REDIS_NODE_TIMEOUT:-2000}
RC_NODES=6
RC_DIR=$CHAT_HOME/redis-cluster

rc_enabled() { [ "$CHAT_REDIS" = cluster ]; }
rc_port() { echo $((CHAT_REDIS_CLUSTER_PORT + 10 * $1)); }
rc_bus_port() { echo $((CHAT_REDIS_CLUSTER_PORT + 10 * $1 + 1)); }
# The seed list the services read (cfg redis_cluster): every node.
rc_seeds() {
    local k s=
    for ((k = 0; k < RC_NODES; k++)); do s+=${s:+,}127.0.0.1:$(rc_port "$k"); done
    echo "$s"
}
rc_cli() { # node args...: redis-cli with the password (never on argv)
    local k=$1
    shift
    REDISCLI_AUTH=$(cat "$SECRETS/redis.pass") redis-cli -h 127.0.0.1 -p "$(rc_port "$k")" "$@"
}

# The PID of node $1 if it runs and is ours (its working directory).
rc_pid() {
    local f=$RUN/redis-$1.pid pid
    [ -s "$f" ] || return 0
    pid=$(head -n 1 "$f")
    alive "$pid" || return 0
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$RC_DIR/node-$1" ] && echo "$pid"
    return 0
}

rc_ping() { [ "$(rc_cli "$1" ping 2>/dev/null)" = PONG ]; }
rc_state_ok() { rc_cli "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
rc_all_ok() {
    local k
    for ((k = 0; k < RC_NODES; k++)); do rc_state_ok "$k" || return 1; done
}
rc_wait() { # seconds what command...
    local n=$(($1 * 10)) what=$2
    shift 2
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || die "$what did not come up; see $LOG/redis-*.log"
        sleep 0.1
    done
}

rc_start_node() {
    local k=$1 dir=$RC_DIR/node-$1 pass
    [ -n "$(rc_pid "$k")" ] && return 0
    mkdir -p "$dir"
    pass=$(cat "$SECRETS/redis.pass")
    (
        umask 077
        printf '# written by chatctl at every start from %s\n' "$SECRETS/redis.pass"
        printf 'requirepass %s\nmasterauth %s\n' "$pass" "$pass"
        printf 'bind 127.0.0.1\nport %s\ncluster-port %s\n' "$(rc_port "$k")" "$(rc_bus_port "$k")"
        printf 'cluster-enabled yes\ncluster-config-file nodes.conf\n'
        printf 'cluster-node-timeout %s\n' "$CHAT_REDIS_NODE_TIMEOUT"
        # The other shards keep serving while one fails over; a replica
        # takes over however long its master was gone.
        printf 'cluster-require-full-coverage no\ncluster-replica-validity-factor 0\n'
        printf 'save ""\nappendonly no\ndaemonize no\n'
    ) >"$dir/redis.conf"
    if [ "$(id -u)" = 0 ]; then chown -R "$SVC_USER:" "$RC_DIR"; fi
    (cd "$dir" && exec "${AS_SVC[@]}" redis-server "$dir/redis.conf" --dir "$dir" \
        </dev/null >>"$LOG/redis-$k.log" 2>&1) &
    echo $! >"$RUN/redis-$k.pid"
}

# Start the six nodes; on first start join them with redis-cli --cluster
# create (3 masters, a replica each); wait for cluster_state:ok everywhere.
rc_start() {
    local k addrs=()
    make_secrets
    mkdir -p "$RC_DIR"
    for ((k = 0; k < RC_NODES; k++)); do rc_start_node "$k"; done
    for ((k = 0; k < RC_NODES; k++)); do
        rc_wait 10 "Redis Cluster node $k" rc_ping "$k"
        addrs+=("127.0.0.1:$(rc_port "$k")")
    done
    if ! rc_cli 0 cluster info | grep -q '^cluster_slots_assigned:16384'; then
        say "creating the Redis Cluster (3 masters, 3 replicas) on ${addrs[*]}"
        REDISCLI_AUTH=$(cat "$SECRETS/redis.pass") redis-cli --cluster create "${addrs[@]}" \
            --cluster-replicas 1 --cluster-yes >>"$LOG/redis-cluster-create.log" 2>&1 ||
            die "redis-cli --cluster create failed; see $LOG/redis-cluster-create.log"
    fi
    rc_wait 30 "the Redis Cluster (cluster_state:ok)" rc_all_ok
}

rc_stop() {
    local k pid n
    for ((k = 0; k < RC_NODES; k++)); do
        pid=$(rc_pid "$k")
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    for ((k = 0; k < RC_NODES; k++)); do
        pid=$(rc_pid "$k")
        for n in $(seq 100); do
            [ -n "$pid" ] && alive "$pid" || break
            sleep 0.1
        done
        [ -n "$pid" ] && alive "$pid" && kill -KILL "$pid" 2>/dev/null
        rm -f "$RUN/redis-$k.pid"
    done
    return 0
}

# One line a node: running (pid, port, master or replica) or stopped.
# Returns 3 when one is stopped.
rc_status() {
    local k pid role rc=0
    for ((k = 0; k < RC_NODES; k++)); do
        pid=$(rc_pid "$k")
        if [ -n "$pid" ]; then
            role=$(rc_cli "$k" role 2>/dev/null | head -n 1)
            printf '%-10s running (pid %s) 127.0.0.1:%s %s\n' "redis-$k" "$pid" "$(rc_port "$k")" \
                "${role:-unreachable}"
        else
            printf '%-10s stopped (127.0.0.1:%s)\n' "redis-$k" "$(rc_port "$k")"
            rc=3
        fi
    done
    return $rc
}

# Empty every master (restore).
rc_flushall() {
    local k
    for ((k = 0; k < RC_NODES; k++)); do
        [ "$(rc_cli "$k" role 2>/dev/null | head -n 1)" = master ] || continue
        rc_cli "$k" flushall >/dev/null || return 1
    done
}

if rc_enabled; then
    CHAT_REDIS_CLUSTER=$(rc_seeds)
    export CHAT_REDIS_CLUSTER
fi
