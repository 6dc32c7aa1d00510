# shellcheck shell=bash
# pg-ha.sh - CHAT_PG=ha for chatctl (sourced by it, after its functions):
# PostgreSQL 15 as three nodes under Patroni 3.0, their leader elected in a
# cluster of three etcd 3.4 members, all on loopback (docs/SCALING.md
# "PostgreSQL high availability").
#
# Node k (0, 1, 2) takes the ports CHAT_PORT + 10 k + an offset, in the
# decades chatctl's CHAT_*_PROCS leave free (see inst_port):
#   +2   PostgreSQL (node 0 is CHAT_PG_PORT: +2, +12, +22)
#   +8   Patroni's REST API (+8, +18, +28)
#   +9   etcd client URL (+9, +19, +29)
#   +10  etcd peer URL (+10, +20, +30)
# so a stack spans CHAT_PORT .. CHAT_PORT + 30.
#
# Everything runs as the service user (as_svc): etcd-k and patroni-k are
# processes of chatctl (PID files $RUN/etcd-k.pid, $RUN/patroni-k.pid,
# logs $LOG/etcd-k.log, $LOG/patroni-k.log); each Patroni starts and stops
# its node's postgres (data $CHAT_HOME/pg-ha/pgk; postgres logs into
# Patroni's log).
# Authentication as in single mode: scram-sha-256 on every line of
# pg_hba.conf, the Unix sockets in $RUN (0750) with mode 0770, passwords in
# $SECRETS: the superuser chat (chat.pgpass), the replication user
# chat_repl (chat_repl.pgpass), and the REST API's user patroni
# (patroni-api.pass; Patroni asks it for every request that changes
# something, reads are open). etcd listens on 127.0.0.1 without
# authentication: any local user can reach it (docs/SCALING.md).
#
# Hooks in chatctl: start_postgres calls pg_ha_start, stop_one postgres
# pg_ha_stop, is_ours and svc_ports ask pg_ha_is_ours and pg_ha_ports for
# etcd-k and patroni-k, cmd_status prints pg_ha_status.

PG_HA=$CHAT_HOME/pg-ha
PG_HA_NODES="0 1 2"
# Patroni's timings (seconds; Patroni 3.0 takes integers): the leader key
# lives ttl s, renewed every loop_wait s; a DCS or PostgreSQL call gives up
# after retry_timeout s. Patroni wants loop_wait + 2 * retry_timeout <= ttl.
PG_HA_TTL=${CHAT_PG_HA_TTL:-6}
PG_HA_LOOP_WAIT=${CHAT_PG_HA_LOOP_WAIT:-1}
PG_HA_RETRY_TIMEOUT=${CHAT_PG_HA_RETRY_TIMEOUT:-2}

pg_ha_port() { echo $((CHAT_PG_PORT + 10 * $1)); }    # PostgreSQL of node $1
pg_ha_rest() { echo $((CHAT_PORT + 8 + 10 * $1)); }   # Patroni's REST API
pg_ha_client() { echo $((CHAT_PORT + 9 + 10 * $1)); } # etcd's clients
pg_ha_peer() { echo $((CHAT_PORT + 10 + 10 * $1)); }  # etcd's peers

# The libpq multi-host conninfo of the services: every node's socket, the
# first that accepts writes (libpq "Multiple hosts", target_session_attrs).
pg_ha_conninfo() {
    local k h= p=
    for k in $PG_HA_NODES; do
        h=$h${h:+,}$RUN
        p=$p${p:+,}$(pg_ha_port "$k")
    done
    echo "host=$h port=$p dbname=chat target_session_attrs=read-write connect_timeout=2"
}
# chatctl's default (single mode) gives way to the multi-host one; a
# CHAT_DB_CONNINFO of the caller's stays.
[ "$CHAT_DB_CONNINFO" = "host=$CHAT_HOME/run port=$CHAT_PG_PORT dbname=chat" ] &&
    export CHAT_DB_CONNINFO=$(pg_ha_conninfo)

PG_HA_PROCS="$(for k in $PG_HA_NODES; do echo "etcd-$k"; done) $(for k in $PG_HA_NODES; do echo "patroni-$k"; done)"
SERVICES=${SERVICES/postgres/$(echo $PG_HA_PROCS)}

# Is process $2 our etcd-k or patroni-k ($1)? By its command line, which
# names its data directory or configuration file.
pg_ha_is_ours() {
    local k=${1##*-} want
    case $1 in
    etcd-*) want=" --data-dir $PG_HA/etcd$k " ;;
    *) want=" $PG_HA/patroni$k.yml " ;;
    esac
    { tr '\0' ' ' <"/proc/$2/cmdline"; echo; } 2>/dev/null | grep -qF -- "$want"
}

pg_ha_ports() {
    case $1 in
    etcd-*) echo "$(pg_ha_client "${1##*-}") $(pg_ha_peer "${1##*-}")" ;;
    *) echo "$(pg_ha_rest "${1##*-}") $(pg_ha_port "${1##*-}")" ;;
    esac
}

# GET $2 of node $1's REST API: its body, and its status code on the last line.
pg_ha_get() {
    curl -sS --max-time 2 -w '\n%{http_code}' "http://127.0.0.1:$(pg_ha_rest "$1")$2" 2>/dev/null
}
# 0 when GET $2 on node $1 answers 200 (/primary, /sync, /health: Patroni's
# REST API "Health check endpoints").
pg_ha_is() { [ "$(pg_ha_get "$1" "$2" | tail -n 1)" = 200 ]; }

# The node that is the leader now, or nothing.
pg_ha_leader() {
    local k
    for k in $PG_HA_NODES; do
        [ -n "$(svc_pid "patroni-$k")" ] && pg_ha_is "$k" /primary && { echo "$k"; return 0; }
    done
    return 0
}

# chatctl's single-node commands (psql_svc, migrate_db, setup_pg_roles,
# backup, restore) talk to CHAT_PG_PORT and PGDATA: point them at the leader.
pg_ha_use_leader() {
    local k
    k=$(pg_ha_leader)
    [ -n "$k" ] || return 1
    CHAT_PG_PORT=$(pg_ha_port "$k")
    PGDATA=$PG_HA/pg$k
}

pg_ha_secrets() {
    make_secrets
    make_secret chat_repl.pgpass "*:*:*:chat_repl:"
    make_secret patroni-api.pass
    chmod 600 "$SECRETS/chat_repl.pgpass" "$SECRETS/patroni-api.pass"
    [ "$(id -u)" != 0 ] || chown "$SVC_USER:" "$SECRETS/chat_repl.pgpass" "$SECRETS/patroni-api.pass"
}

# Patroni's configuration of node $1 (YAML; mode 0600: it holds passwords).
pg_ha_write_config() {
    local k=$1 hosts= j f=$PG_HA/patroni$1.yml
    for j in $PG_HA_NODES; do hosts=$hosts${hosts:+,}127.0.0.1:$(pg_ha_client "$j"); done
    (
        umask 077
        cat >"$f.tmp" <<EOF
# written by chatctl (scripts/pg-ha.sh) at every start; edits are lost
scope: chat
namespace: /chat/
name: pg$k
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(pg_ha_rest "$k")
  connect_address: 127.0.0.1:$(pg_ha_rest "$k")
  authentication:
    username: patroni
    password: '$(cat "$SECRETS/patroni-api.pass")'
etcd3:
  hosts: $hosts
  protocol: http
bootstrap:
  dcs:
    ttl: $PG_HA_TTL
    loop_wait: $PG_HA_LOOP_WAIT
    retry_timeout: $PG_HA_RETRY_TIMEOUT
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        shared_buffers: 128MB
        synchronous_commit: 'on'
        wal_log_hints: 'on'
        password_encryption: scram-sha-256
        log_min_duration_statement: 1000
        log_parameter_max_length: 0
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: scram-sha-256
postgresql:
  listen: 127.0.0.1:$(pg_ha_port "$k")
  connect_address: 127.0.0.1:$(pg_ha_port "$k")
  data_dir: $PG_HA/pg$k
  bin_dir: $PGBIN
  pgpass: $PG_HA/pg$k.pgpass
  use_unix_socket: true
  # A new replica's copy starts at once, not after a spread checkpoint
  # (minutes once the migrations have dirtied the buffers).
  basebackup:
    - checkpoint: fast
  authentication:
    superuser:
      username: chat
      password: '$(pg_password chat)'
    replication:
      username: chat_repl
      password: '$(pg_password chat_repl)'
  parameters:
    unix_socket_directories: '$RUN'
    unix_socket_permissions: '0770'
  pg_hba:
    - local all         chat scram-sha-256
    - host  all         chat 127.0.0.1/32 scram-sha-256
    - local replication chat_repl scram-sha-256
    - host  replication chat_repl 127.0.0.1/32 scram-sha-256
    - local chat        chat_owner,chat_api,chat_push,chat_notify scram-sha-256
    - host  chat        chat_owner,chat_api,chat_push,chat_notify 127.0.0.1/32 scram-sha-256
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
    )
    [ "$(id -u)" != 0 ] || chown "$SVC_USER:" "$f.tmp"
    mv "$f.tmp" "$f"
}

pg_ha_start_etcd() {
    local k=$1 cluster= j
    [ -n "$(svc_pid "etcd-$k")" ] && return 0
    rm -f "$(pidfile "etcd-$k")"
    for j in $PG_HA_NODES; do cluster=$cluster${cluster:+,}e$j=http://127.0.0.1:$(pg_ha_peer "$j"); done
    prepare_log "etcd-$k.log"
    # --enable-v2=false: Patroni speaks v3 (its etcd3 section). A member's
    # data directory holds the cluster once made: "new" is read only then.
    "${AS_SVC[@]}" etcd --name "e$k" --data-dir "$PG_HA/etcd$k" \
        --listen-client-urls "http://127.0.0.1:$(pg_ha_client "$k")" \
        --advertise-client-urls "http://127.0.0.1:$(pg_ha_client "$k")" \
        --listen-peer-urls "http://127.0.0.1:$(pg_ha_peer "$k")" \
        --initial-advertise-peer-urls "http://127.0.0.1:$(pg_ha_peer "$k")" \
        --initial-cluster "$cluster" --initial-cluster-state new \
        --initial-cluster-token "chat-$CHAT_PORT" \
        --heartbeat-interval 100 --election-timeout 1000 --enable-v2=false \
        </dev/null >>"$LOG/etcd-$k.log" 2>&1 &
    echo $! >"$(pidfile "etcd-$k")"
}

pg_ha_start_patroni() {
    local k=$1
    [ -n "$(svc_pid "patroni-$k")" ] && return 0
    rm -f "$(pidfile "patroni-$k")"
    pg_ha_write_config "$k"
    prepare_log "patroni-$k.log"
    "${AS_SVC[@]}" patroni "$PG_HA/patroni$k.yml" </dev/null >>"$LOG/patroni-$k.log" 2>&1 &
    echo $! >"$(pidfile "patroni-$k")"
}

# etcd is healthy: a member answers GET /health with "true".
pg_ha_etcd_healthy() {
    curl -fsS --max-time 2 "http://127.0.0.1:$(pg_ha_client 0)/health" | grep -q '"health":"true"'
}
pg_ha_has_leader() { [ -n "$(pg_ha_leader)" ]; }
pg_ha_has_sync() {
    local k
    for k in $PG_HA_NODES; do pg_ha_is "$k" /sync && return 0; done
    return 1
}
# The leader accepts our superuser's connections (Patroni made the role).
pg_ha_leader_ready() { pg_ha_use_leader && psql_svc -d postgres -tAc 'SELECT 1' | grep -qx 1; }

# Start etcd, then Patroni, wait for a leader and a synchronous standby,
# then database chat and the roles on the leader (chatctl then runs the
# migrations there: CHAT_PG_PORT is the leader's).
pg_ha_start() {
    local k
    command -v patroni >/dev/null && command -v etcd >/dev/null ||
        die "CHAT_PG=ha needs patroni and etcd: CHAT_PG=ha make deps"
    pg_ha_secrets
    mkdir -p "$PG_HA"
    chmod 700 "$PG_HA"
    [ "$(id -u)" != 0 ] || chown -R "$SVC_USER:" "$PG_HA"
    chmod 750 "$RUN"
    for k in $PG_HA_NODES; do pg_ha_start_etcd "$k"; done
    wait_for 30 "etcd" pg_ha_etcd_healthy
    for k in $PG_HA_NODES; do pg_ha_start_patroni "$k"; done
    wait_for 90 "a Patroni leader" pg_ha_has_leader
    wait_for 60 "the leader's PostgreSQL" pg_ha_leader_ready
    psql_svc -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'chat'" | grep -q 1 ||
        psql_svc -d postgres -qc "CREATE DATABASE chat" >/dev/null
    setup_pg_roles
    # Without a synchronous standby a commit is acknowledged by the leader alone.
    wait_for 90 "a synchronous standby" pg_ha_has_sync
    say "PostgreSQL HA: leader pg$(pg_ha_leader) on port $CHAT_PG_PORT"
}

# Stop the Patroni nodes (each stops its postgres), the replicas first so
# none takes over from a stopping leader, then etcd.
pg_ha_stop() {
    local k pids=() leader
    leader=$(pg_ha_leader)
    for k in $PG_HA_NODES; do
        [ "$k" = "$leader" ] || pids+=($(svc_pid "patroni-$k"))
    done
    # shellcheck disable=SC2086
    stop_pids "${pids[@]}"
    [ -z "$leader" ] || stop_pids $(svc_pid "patroni-$leader")
    # One member at a time: members stopped together each wait for the
    # others (a leader hands over leadership as it stops) for seconds.
    for k in $PG_HA_NODES; do stop_pids $(svc_pid "etcd-$k"); done
    for k in $PG_HA_NODES; do rm -f "$(pidfile "patroni-$k")" "$(pidfile "etcd-$k")"; done
}

# One line per Patroni node: its role (leader, sync_standby, replica), its
# state and replication lag, from GET /cluster of any node that answers.
pg_ha_status() {
    local k out
    for k in $PG_HA_NODES; do
        out=$(pg_ha_get "$k" /cluster) || continue
        [ "$(tail -n 1 <<<"$out")" = 200 ] || continue
        sed '$d' <<<"$out" | /usr/bin/python3 -c 'import json, sys
for m in json.load(sys.stdin).get("members", []):
    print("%-10s %s (%s, port %s, timeline %s, lag %s)" % ("patroni-" + m["name"][2:], m["role"],
          m.get("state", "?"), m.get("port", "?"), m.get("timeline", "?"), m.get("lag", 0)))'
        return 0
    done
    printf '%-10s no Patroni node answers\n' patroni
    return 1
}

# backup, restore and psql work on the leader.
case ${1:-} in backup | restore | psql) pg_ha_use_leader || true ;; esac
