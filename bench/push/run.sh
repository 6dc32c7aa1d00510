#!/usr/bin/env bash
# bench/push/run.sh - chat-push side by side with nchan (DESIGN.md
# "Performance targets": idle streams and memory, fan-out, send-to-delivery
# latency), written as a markdown section to bench/out/push.md.
#
# It starts its own stack (chatctl, throwaway CHAT_HOME, free ports, rate
# limits raised), its own nginx with nchan (bench/push/nchan.conf.in) on
# another port, builds bench/push/loadgen.c apart from the main build, and
# stops everything it started, by PID. In one run, for each target:
#   direct  loadgen -> chat-push
#   nginx   loadgen -> the stack's nginx -> chat-push
#   nchan   loadgen -> nginx + nchan
# with the same streams (PUSH_CONNS in chats of 10, plus PUSH_PROBE_CHATS
# chats of 10 for probes), the same event JSON (PUSH_MSG_BYTES bytes):
#   (a) idle streams held, RSS delta per stream;
#   (b) fan-out: a ladder of publish rates, each PUSH_STEP_SECS long
#       (chat-push: SPUBLISH {chat:ID} straight on Redis, a well-formed
#       message.created with increasing versions; nchan: POST /pub?id=);
#   (c) latency at half of the peak: that background load plus probe
#       messages (chat: POST /api/v1/chats/{id}/messages through nginx;
#       nchan: POST /pub) timed to their delivery on the probe chats' streams.
#   (d) PUSH_MAX_CONNS idle streams (several chat-push processes on
#       several ports, several loadgen processes; nchan with more workers).
#
# Knobs: PUSH_CONNS (10000), PUSH_PROBE_CHATS (100), PUSH_MSG_BYTES (512),
# PUSH_RATES (publishes/s ladder), PUSH_STEP_SECS (5), PUSH_LAT_SECS (10),
# PUSH_PROBE_RATE (200/s), PUSH_MAX_CONNS (50000; 0 skips), PUSH_TRANSPORT
# (sse; poll and ws once chat-push has them), PUSH_OUT (bench/out/push.md),
# PUSH_TARGETS ("direct nginx nchan": a subset for quick looks),
# PUSH_PERF=1 records `perf record -g` of chat-push during one fan-out step,
# KEEP=1 keeps the data directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=${B:-build}
BENCH=$ROOT/bench/push
N=${PUSH_CONNS:-10000}
GROUP=10
PROBES=${PUSH_PROBE_CHATS:-100}
SIZE=${PUSH_MSG_BYTES:-512}
RATES=${PUSH_RATES:-"1000 2000 4000 6000 8000 9000 10000 11000 12000 14000 16000 24000"}
STEP=${PUSH_STEP_SECS:-5}
WARM=2
LAT_SECS=${PUSH_LAT_SECS:-10}
PROBE_RATE=${PUSH_PROBE_RATE:-200}
MAXC=${PUSH_MAX_CONNS:-50000}
TR=${PUSH_TRANSPORT:-sse}
OUT=${PUSH_OUT:-$ROOT/bench/out/push.md}
PY=/usr/bin/python3

say() { printf 'push-bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for t in nginx curl cc psql redis-cli; do command -v "$t" >/dev/null || die "$t is missing"; done
[ -x "$B/chat-push" ] || die "$B/chat-push is missing: run make first"
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || die "nchan is missing (apt-get install libnginx-mod-nchan)"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 12000 ] || die "ulimit -n is $(ulimit -n): need 12000 or more"

. "$ROOT/scripts/ports.sh"

export CHAT_HOME
CHAT_HOME=$(mktemp -d /tmp/chat-pushbench.XXXXXX)
chmod 755 "$CHAT_HOME"
export CHAT_PORT
# 16 ports: +0 to +6 the stack (chatctl), +8 nchan, +10 to +15 extra chat-push processes
CHAT_PORT=$(pick_ports 10000 19999 16) || die "no free ports"
PUSH_PORT=$((CHAT_PORT + 1))
PG_PORT=$((CHAT_PORT + 2))
REDIS_PORT=$((CHAT_PORT + 3))
NCHAN_PORT=$((CHAT_PORT + 8)) # chatctl takes +0 to +5
EXTRA_PORT0=$((CHAT_PORT + 10)) # extra chat-push processes (max test): +10.. and WS +13..
export CHAT_RATE_AUTH=1000000 CHAT_RATE_READ=10000000 CHAT_RATE_WRITE=10000000
export CHAT_PUSH_MAX_CONNS=19500
# The load client is the only client: no per-IP stream cap for it.
export CHAT_PUSH_MAX_PER_IP=1000000
W=$CHAT_HOME/bench
mkdir -p "$W" "$CHAT_HOME/bin"
# Private copies: a rebuild elsewhere must not swap binaries under the run.
cp "$B/chat-api" "$B/chat-push" "$CHAT_HOME/bin/"
[ -x "$B/chat-notify" ] && cp "$B/chat-notify" "$CHAT_HOME/bin/"
export CHAT_BIN=$CHAT_HOME/bin
RUN=$CHAT_HOME/run
if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid=chat --regid=chat --init-groups --); else AS=(); fi

PIDS=()    # loadgen and extra chat-push processes we started
NCHAN_PID=
cleanup() {
    local rc=$? p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [ -n "$NCHAN_PID" ] && kill -TERM "$NCHAN_PID" 2>/dev/null || true
    for p in "${PIDS[@]}" $NCHAN_PID; do wait "$p" 2>/dev/null || true; done
    "$ROOT/chatctl" stop || true
    if [ "$rc" -ne 0 ]; then
        for f in "$CHAT_HOME"/log/*.log "$W"/*.log; do
            [ -s "$f" ] && { printf '\n--- tail of %s\n' "$f"; tail -n 8 "$f"; } >&2
        done
    fi
    if [ -n "${KEEP:-}" ]; then say "kept $CHAT_HOME"; else rm -rf "$CHAT_HOME"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LG=$W/loadgen
cc -O2 -Wall -Wextra -Werror -o "$LG" "$BENCH/loadgen.c"

# ---- the chat stack ----
say "stack in $CHAT_HOME, nginx :$CHAT_PORT, chat-push :$PUSH_PORT, nchan :$NCHAN_PORT"
"$ROOT/chatctl" start
# PostgreSQL and Redis want passwords (docs/OPERATIONS.md "Roles and
# secrets"): seed.py's psql as the superuser, loadgen and redis-cli with
# REDISCLI_AUTH, from the files (never on a command line).
export PGPASSFILE=$CHAT_HOME/secrets/chat.pgpass
REDISCLI_AUTH=$(cat "$CHAT_HOME/secrets/redis.pass")
export REDISCLI_AUTH
# The stack's nginx gets what the nchan nginx gets: room for 2 x 19,500
# connections (a proxied stream holds two) and reuseport to spread streams.
NGX_CONF=$CHAT_HOME/nginx/nginx.conf
sed -i -e 's/worker_connections [0-9]*;/worker_connections 19500;/' \
    -e "s/listen 127.0.0.1:$CHAT_PORT;/listen 127.0.0.1:$CHAT_PORT reuseport backlog=4096;/" "$NGX_CONF"
"${AS[@]}" nginx -q -p "$CHAT_HOME/nginx" -c "$NGX_CONF" -t || die "patched nginx.conf is invalid"
kill -HUP "$(head -n 1 "$RUN/nginx.pid")"
sleep 1
[ "$(ss -Hltn "sport = :$CHAT_PORT" | wc -l)" -ge 2 ] || say "warning: nginx did not take reuseport"

# ---- nginx + nchan ----
NDIR=$CHAT_HOME/nchan
start_nchan() { # workers
    mkdir -p "$NDIR/tmp"
    sed -e "s|@DIR@|$NDIR|g" -e "s|@PORT@|$NCHAN_PORT|g" -e "s|@WORKERS@|$1|g" \
        "$BENCH/nchan.conf.in" >"$NDIR/nginx.conf"
    [ "$(id -u)" = 0 ] && chown -R chat: "$NDIR"
    "${AS[@]}" nginx -q -p "$NDIR" -c "$NDIR/nginx.conf" -t 2>/dev/null || die "nchan nginx.conf is invalid"
    "${AS[@]}" nginx -p "$NDIR" -c "$NDIR/nginx.conf" </dev/null >>"$NDIR/stderr.log" 2>&1 &
    NCHAN_PID=$!
    for _ in $(seq 100); do
        kill -0 "$NCHAN_PID" 2>/dev/null || break
        [ "$(curl -fsS "http://127.0.0.1:$NCHAN_PORT/healthz" 2>/dev/null)" = "nchan-bench" ] && return 0
        sleep 0.1
    done
    die "nchan nginx did not come up: $(tail -n 2 "$NDIR/error.log" 2>/dev/null)"
}
stop_nchan() {
    [ -n "$NCHAN_PID" ] || return 0
    kill -TERM "$NCHAN_PID" 2>/dev/null || true
    wait "$NCHAN_PID" 2>/dev/null || true
    NCHAN_PID=
}
start_nchan 2

# ---- seed ----
NLOAD=$((N / GROUP))
$PY "$BENCH/seed.py" "$RUN" "$PG_PORT" "$CHAT_HOME/secrets/jwt.key" "$W" "$NLOAD" "$PROBES" "$GROUP"
NPROBE=$((PROBES * GROUP))

# ---- helpers ----
pid_of() { head -n 1 "$RUN/$1.pid"; }
kids() { local p; for p in "$@"; do echo "$p"; pgrep -P "$p" || true; done; }
rss_kb() { # pids... -> sum of VmRSS
    local p s=0 v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        s=$((s + ${v:-0}))
    done
    echo "$s"
}
cpu_ticks() { # pids... -> utime + stime
    local p s=0 v
    for p in "$@"; do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        s=$((s + ${v:-0}))
    done
    echo "$s"
}
HZ=$(getconf CLK_TCK)

restart_push() {
    local p
    p=$(pid_of chat-push)
    kill -TERM "$p"
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    "$ROOT/chatctl" start >/dev/null 2>&1 || die "chat-push did not restart"
}

sub_start() { # name kind port(s) file n srcbase prefix -> pid in LAST_PID
    local name=$1 kind=$2 ports=$3 file=$4 n=$5 src=$6 prefix=$7
    "$LG" sub -k "$kind" -t "$TR" -p "$ports" -f "$file" -n "$n" -b "$src" -B 8 -c 5000 \
        -x "$prefix" -i 500 >"$W/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
sub_stop() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
stat_field() { # name field -> from the last STAT line
    { grep '^STAT' "$W/$1.log" 2>/dev/null || true; } | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
wait_ready() { # name n seconds
    local r
    for _ in $(seq $(($3 * 4))); do
        r=$(stat_field "$1" ready)
        [ "${r:-0}" -ge "$2" ] && return 0
        sleep 0.25
    done
    say "$1: only ${r:-0} of $2 streams ready; tail:"
    tail -n 3 "$W/$1.log" >&2
    return 1
}
summary() { # name key -> value from the last SUMMARY line
    { grep '^SUMMARY' "$W/$1.log" || true; } | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
window() { # secs subpid... : USR1, sleep, USR2
    local s=$1 p
    shift
    for p in "$@"; do kill -USR1 "$p"; done
    sleep "$s"
    for p in "$@"; do kill -USR2 "$p"; done
    sleep 0.3
}

# Event JSON of SIZE bytes for Redis and nchan. For API probes the content is
# padded so chat-api's event (its own fields, spaced JSON) comes out about
# as long: measured once below.
API_PAD=$((SIZE - 330))
[ "$API_PAD" -ge 0 ] || API_PAD=0

RES=$W/results.tsv
: >"$RES"
res() { printf '%s\n' "$*" | tr ' ' '\t' >>"$RES"; }

# One target: idle memory, fan-out ladder, latency at half of the peak.
bench_target() { # target
    local t=$1 port prefix kind srvpids pubkind pubport pubprefix rss0 rss1 c0 c1 r
    local pubpid peak=0 peak_rate=0 best=0 secs rate p50 p99 p999 offered half lpid ppid
    case $t in
    direct) kind=chat port=$PUSH_PORT prefix=/api/v1/ pubkind=redis pubport=$REDIS_PORT pubprefix= ;;
    nginx) kind=chat port=$CHAT_PORT prefix=/api/v1/ pubkind=redis pubport=$REDIS_PORT pubprefix= ;;
    nchan) kind=nchan port=$NCHAN_PORT prefix=/sub/ pubkind=nchan pubport=$NCHAN_PORT pubprefix=/pub ;;
    esac
    if [ "$t" != nchan ]; then restart_push; fi
    sleep 1
    case $t in
    direct) srvpids=$(pid_of chat-push) ;;
    nginx) srvpids="$(pid_of chat-push) $(kids "$(pid_of nginx)")" ;;
    nchan) srvpids=$(kids "$NCHAN_PID") ;;
    esac
    # shellcheck disable=SC2086
    rss0=$(rss_kb $srvpids)
    say "$t: opening $((N + NPROBE)) $TR streams"
    sub_start "$t-load" "$kind" "$port" "$W/subs.txt" "$N" 127.0.0.2 "$prefix"
    lpid=$LAST_PID
    sub_start "$t-probe" "$kind" "$port" "$W/probe_subs.txt" "$NPROBE" 127.0.1.2 "$prefix"
    ppid=$LAST_PID
    wait_ready "$t-load" "$N" 600 && wait_ready "$t-probe" "$NPROBE" 120 ||
        say "$t: not every stream is ready; measuring what is held"
    sleep 2
    # shellcheck disable=SC2086
    rss1=$(rss_kb $srvpids)
    local held=$(($(stat_field "$t-load" held) + $(stat_field "$t-probe" held)))
    res idle "$t" "$held" "$rss0" "$rss1"
    res load "$t" "$(cut -d' ' -f1 /proc/loadavg)"
    say "$t: $held streams held, RSS $rss0 -> $rss1 kB ($(((rss1 - rss0) * 1024 / (held > 0 ? held : 1))) B each)"

    # (b) fan-out ladder
    for r in $RATES; do
        offered=$((r * GROUP))
        # shellcheck disable=SC2086
        "$LG" pub -k "$pubkind" -p "$pubport" ${pubprefix:+-x $pubprefix} -f "$W/chats.txt" \
            -r "$r" -d $((WARM + STEP)) -s "$SIZE" -C 4 -w 256 -m L -V "$W/$t.versions" >"$W/$t-pub-$r.log" 2>&1 &
        pubpid=$!
        PIDS+=("$pubpid")
        sleep "$WARM"
        # shellcheck disable=SC2086
        c0=$(cpu_ticks $srvpids)
        if [ -n "${PUSH_PERF:-}" ] && [ "$t" = direct ] && [ "$r" = "${PUSH_PERF_RATE:-20000}" ]; then
            perf record -g -o "$W/perf.data" -p "$(pid_of chat-push)" -- sleep "$STEP" \
                >/dev/null 2>&1 &
        fi
        window "$STEP" "$lpid"
        # shellcheck disable=SC2086
        c1=$(cpu_ticks $srvpids)
        wait "$pubpid" || say "$t: publisher at $r/s reported errors"
        secs=$(summary "$t-load" secs)
        rate=$(summary "$t-load" rate)
        p50=$(summary "$t-load" L_p50)
        p99=$(summary "$t-load" L_p99)
        p999=$(summary "$t-load" L_p999)
        local pubrate
        pubrate=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' "$W/$t-pub-$r.log")
        local cpu
        cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v s="$secs" 'BEGIN {printf "%.0f", (b - a) / hz / s * 100}')
        res fanout "$t" "$r" "$offered" "$rate" "$p50" "$p99" "$p999" "$cpu" "${pubrate:-0}"
        say "$t: $r msg/s offered ($offered deliveries/s): got $rate/s, p50 $p50 p99 $p99 p999 $p999 ms, server CPU $cpu%"
        if awk -v a="$rate" -v b="$peak" 'BEGIN {exit !(a > b)}'; then peak=$rate; peak_rate=$r; fi
        if awk -v a="$rate" -v o="$offered" -v p="$p99" 'BEGIN {exit !(a >= 0.97 * o && p < 50)}'; then best=$offered; fi
        # Saturated (or falling behind): stop climbing.
        if awk -v a="$rate" -v o="$offered" -v p="$p99" 'BEGIN {exit !(a < 0.9 * o || p > 2000)}'; then break; fi
        sleep 2 # let queues drain
    done
    res peak "$t" "$peak" "$peak_rate" "$best"

    # (c) latency at half of the peak (the sustained peak if there is one)
    if [ "$t" != direct ]; then
        local base=$best
        [ "$base" -gt 0 ] || base=${peak%.*}
        half=$((base / 2 / GROUP))
        [ "$half" -ge 1 ] || half=1
        sleep 8 # the last ladder step was overloaded: let its backlog drain first
        # shellcheck disable=SC2086
        "$LG" pub -k "$pubkind" -p "$pubport" ${pubprefix:+-x $pubprefix} -f "$W/chats.txt" \
            -r "$half" -d $((WARM + LAT_SECS + 1)) -s "$SIZE" -C 4 -w 256 -m L -V "$W/$t.versions" >"$W/$t-lat-bg.log" 2>&1 &
        pubpid=$!
        PIDS+=("$pubpid")
        local probepid
        if [ "$t" = nchan ]; then
            "$LG" pub -k nchan -p "$NCHAN_PORT" -x /pub -f "$W/probe_senders.txt" -r "$PROBE_RATE" \
                -d $((WARM + LAT_SECS + 1)) -s "$SIZE" -C 2 -w 64 -m P >"$W/$t-lat-probe.log" 2>&1 &
        else
            # Through the API: nginx -> chat-api -> PostgreSQL -> Redis -> chat-push -> stream.
            "$LG" pub -k api -p "$CHAT_PORT" -f "$W/probe_senders.txt" -r "$PROBE_RATE" \
                -d $((WARM + LAT_SECS + 1)) -s "$API_PAD" -C 8 -w 1 -m P >"$W/$t-lat-probe.log" 2>&1 &
        fi
        probepid=$!
        PIDS+=("$probepid")
        sleep "$WARM"
        window "$LAT_SECS" "$lpid" "$ppid"
        wait "$pubpid" || true
        wait "$probepid" || say "$t: probe publisher reported errors: $(tail -n 2 "$W/$t-lat-probe.log")"
        res latency "$t" "$((half * GROUP))" "$(summary "$t-probe" P_n)" "$(summary "$t-probe" P_p50)" \
            "$(summary "$t-probe" P_p99)" "$(summary "$t-probe" P_p999)" "$(summary "$t-load" rate)" \
            "$(summary "$t-load" L_p50)" "$(summary "$t-load" L_p99)" "$(summary "$t-load" L_p999)"
        say "$t: latency at $((half * GROUP)) deliveries/s background: probes p50 $(summary "$t-probe" P_p50) p99 $(summary "$t-probe" P_p99) p999 $(summary "$t-probe" P_p999) ms ($(summary "$t-probe" P_n) deliveries)"
    fi
    sub_stop "$lpid" "$ppid"
}

for t in ${PUSH_TARGETS:-direct nginx nchan}; do bench_target "$t"; done

# ---- (d) as many idle streams as this machine allows ----
if [ "$MAXC" -gt 0 ]; then
    say "max: seeding $MAXC more streams"
    mkdir -p "$W/max"
    $PY "$BENCH/seed.py" "$RUN" "$PG_PORT" "$CHAT_HOME/secrets/jwt.key" "$W/max" $((MAXC / GROUP)) 0 "$GROUP"
    PER=18000 # streams per chat-push process and per loadgen process (files: 20,000)
    NPROC=$(((MAXC + PER - 1) / PER))
    restart_push
    ports=$PUSH_PORT
    pushpids=$(pid_of chat-push)
    for i in $(seq 2 "$NPROC"); do
        p=$((EXTRA_PORT0 + i - 2))
        PGUSER=chat_push PGPASSFILE=$CHAT_HOME/secrets/chat_push.pgpass \
            CHAT_PUSH_PORT=$p CHAT_PUSH_WS_PORT=$((p + 3)) CHAT_PUSH_POLL_PORT=0 "${AS[@]}" "$CHAT_BIN/chat-push" </dev/null >>"$CHAT_HOME/log/chat-push-$i.log" 2>&1 &
        PIDS+=("$!")
        pushpids="$pushpids $!"
        ports="$ports,$p"
        for _ in $(seq 100); do
            curl -fsS -o /dev/null "http://127.0.0.1:$p/readyz" 2>/dev/null && break
            sleep 0.1
        done
    done
    sleep 1
    for t in direct nchan; do
        if [ "$t" = nchan ]; then
            stop_nchan
            start_nchan 4
            srv=$(kids "$NCHAN_PID")
            kind=nchan port=$NCHAN_PORT prefix=/sub/
        else
            srv=$pushpids kind=chat port=$ports prefix=/api/v1/
        fi
        # shellcheck disable=SC2086
        rss0=$(rss_kb $srv)
        mpids=()
        for i in $(seq 1 "$NPROC"); do
            n=$PER
            [ $((i * PER)) -le "$MAXC" ] || n=$((MAXC - (i - 1) * PER))
            "$LG" sub -k "$kind" -t "$TR" -p "$port" -f "$W/max/subs.txt" -o $(((i - 1) * PER)) -n "$n" \
                -b "127.0.$((10 + i)).2" -B 8 -c 4000 -x "$prefix" -i 500 >"$W/max-$t-$i.log" 2>&1 &
            mpids+=("$!")
            PIDS+=("$!")
        done
        for _ in $(seq 1200); do
            tot=0
            for i in $(seq 1 "$NPROC"); do
                v=$(stat_field "max-$t-$i" ready)
                tot=$((tot + ${v:-0}))
            done
            [ "$tot" -ge "$MAXC" ] && break
            sleep 0.5
        done
        sleep 3
        held=0
        for i in $(seq 1 "$NPROC"); do
            v=$(stat_field "max-$t-$i" held)
            held=$((held + ${v:-0}))
        done
        # shellcheck disable=SC2086
        rss1=$(rss_kb $srv)
        res max "$t" "$held" "$rss0" "$rss1" "$tot" "$NPROC"
        say "max $t: $held held ($tot ready), RSS $rss0 -> $rss1 kB"
        sub_stop "${mpids[@]}"
        sleep 1
    done
fi

# ---- report ----
PERF_TXT=
if [ -s "$W/perf.data" ]; then
    perf report -i "$W/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -n 25 >"$W/perf.txt" || true
    PERF_TXT=$W/perf.txt
fi
mkdir -p "$(dirname "$OUT")"
$PY "$BENCH/report.py" "$RES" "$OUT" "$N" "$NPROBE" "$SIZE" "$TR" "$STEP" "$LAT_SECS" "$PROBE_RATE" \
    "$MAXC" "$(nproc)" "$(uname -r)" "$(nginx -v 2>&1 | sed 's/.*nginx\///')" \
    "$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')" "$PERF_TXT"
say "wrote $OUT"
cat "$OUT" >&2
