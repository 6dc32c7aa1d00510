#!/usr/bin/env bash
# run.sh - side-by-side benchmarks (docs/DESIGN.md "Performance targets")
# into docs/BENCHMARKS.md. `make bench` builds first, then runs this.
#
# A throwaway stack (own CHAT_HOME, free ports, rate limits raised) is
# seeded through the API, then, with the same client concurrency, in one run:
#   - a hello-world libfcgi app behind the same nginx (tiny and page-sized body)
#   - GET a history page of 50 messages through nginx (wrk)
#   - POST a message through nginx: spread over many chats, and one chat (wrk)
#   - pgbench doing the same insert: SELECT message_post(...) and raw SQL
# Everything it started is stopped by PID at the end.
#
# Knobs (environment): BENCH_CONNECTIONS (32), BENCH_DURATION (10 s),
# BENCH_WARMUP (3 s), BENCH_USERS (16), BENCH_WRK_THREADS (2), BENCH_REPEAT
# (3: alternating runs of the hello page and the history page, medians),
# CHAT_API_THREADS (8), BENCH_OUT (docs/BENCHMARKS.md), KEEP=1 keeps the
# data directory, BENCH_ONLY="history send_spread ..." runs some rows only
# (then the report goes to $CHAT_HOME/BENCHMARKS.md unless BENCH_OUT says).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B=${B:-build}
export CHAT_BIN=$ROOT/$B
CONC=${BENCH_CONNECTIONS:-32}
DUR=${BENCH_DURATION:-10}
WARM=${BENCH_WARMUP:-3}
NUSERS=${BENCH_USERS:-16}
WT=${BENCH_WRK_THREADS:-2}
SEED_MSGS=60
export CHAT_API_THREADS=${CHAT_API_THREADS:-8}
PY=/usr/bin/python3
BENCH=$ROOT/bench

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for t in wrk pgbench nginx curl cc; do command -v "$t" >/dev/null || die "$t is missing"; done
[ -x "$CHAT_BIN/chat-api" ] || die "$CHAT_BIN/chat-api is missing: run make first"

. "$ROOT/scripts/ports.sh"

export CHAT_HOME
CHAT_HOME=$(mktemp -d /tmp/chat-bench.XXXXXX)
chmod 755 "$CHAT_HOME"
export CHAT_PORT
CHAT_PORT=$(pick_ports 20000 31999 8) || die "no free ports"
# One client IP and a handful of users send tens of thousands of requests.
export CHAT_RATE_AUTH=1000000 CHAT_RATE_READ=10000000 CHAT_RATE_WRITE=10000000
export CHAT_ACCESS_TTL=86400
URL=http://127.0.0.1:$CHAT_PORT
RUN=$CHAT_HOME/run
PG_PORT=$((CHAT_PORT + 2))
W=$CHAT_HOME/bench
mkdir -p "$W"
OUT=${BENCH_OUT:-$([ -n "${BENCH_ONLY:-}" ] && echo "$CHAT_HOME/BENCHMARKS.md" || echo "$ROOT/docs/BENCHMARKS.md")}
HELLO_PID=

cleanup() {
    local rc=$?
    if [ -n "$HELLO_PID" ] && kill -0 "$HELLO_PID" 2>/dev/null; then
        kill -TERM "$HELLO_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$HELLO_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$HELLO_PID" 2>/dev/null || true
    fi
    "$ROOT/chatctl" stop || true
    if [ "$rc" -ne 0 ]; then
        for f in "$CHAT_HOME"/log/*.log; do
            [ -s "$f" ] && { printf '\n--- tail of %s\n' "$f"; tail -n 15 "$f"; } >&2
        done
    fi
    if [ -n "${KEEP:-}" ]; then say "kept $CHAT_HOME"; else rm -rf "$CHAT_HOME"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The hello app: built here only, never part of the main build.
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -o "$W/hello_fcgi" "$BENCH/hello_fcgi.c" \
    $(pkg-config --cflags --libs fcgi 2>/dev/null || echo -lfcgi) -lpthread

say "stack in $CHAT_HOME on port $CHAT_PORT, chat-api with $CHAT_API_THREADS threads"
"$ROOT/chatctl" start
# pgbench as the superuser, its password from its passfile (not on argv).
export PGPASSFILE=$CHAT_HOME/secrets/chat.pgpass

say "seeding $NUSERS users, $((NUSERS + 1)) chats, $SEED_MSGS messages each"
$PY "$BENCH/bench.py" seed "$URL" "$W" "$NUSERS" "$SEED_MSGS"
read -r TOK0 CHAT0 _ <"$W/spread.txt"
PAGE_BYTES=$(curl -fsS -H "Authorization: Bearer $TOK0" "$URL/api/v1/chats/$CHAT0/messages?limit=50" | wc -c)

# The hello app on its own socket, as the service user (so nginx may
# connect), and a location for it in this stack's generated nginx.conf.
HELLO_SOCK=$RUN/hello.sock
if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid=chat --regid=chat --init-groups --); else AS=(); fi
"${AS[@]}" "$W/hello_fcgi" "$HELLO_SOCK" "$CHAT_API_THREADS" "$PAGE_BYTES" \
    </dev/null >>"$CHAT_HOME/log/hello.log" 2>&1 &
HELLO_PID=$!
NGX_CONF=$CHAT_HOME/nginx/nginx.conf
$PY - "$NGX_CONF" "$HELLO_SOCK" <<'EOF'
import sys
path, sock = sys.argv[1], sys.argv[2]
conf = open(path).read()
anchor = "        location /api/ {"
assert anchor in conf, "no /api/ location in the generated nginx.conf"
hello = ("        # Added by bench/run.sh: the hello-world FastCGI ceiling.\n"
         "        location /hello/ {\n"
         "            fastcgi_pass unix:%s;\n"
         "            include /etc/nginx/fastcgi_params;\n"
         "            fastcgi_request_buffering on;\n"
         "            fastcgi_buffering on;\n"
         "        }\n\n" % sock)
open(path, "w").write(conf.replace(anchor, hello + anchor, 1))
EOF
"${AS[@]}" nginx -q -p "$CHAT_HOME/nginx" -c "$NGX_CONF" -t || die "nginx config with /hello/ is invalid"
kill -HUP "$(cat "$RUN/nginx.pid")"
# The reload is asynchronous, and before it /hello/ falls to index.html:
# wait for the app's own answer, from every worker (several tries).
hello_ok() { [ "$(curl -fsS "$URL/hello/tiny" 2>/dev/null)" = '{"ok":true}' ]; }
ok=0
for _ in $(seq 200); do
    if hello_ok; then ok=$((ok + 1)); else ok=0; fi
    [ "$ok" -ge 20 ] && break
    sleep 0.05
done
[ "$ok" -ge 20 ] || die "the hello app does not answer through nginx"
HELLO_PAGE_BYTES=$(curl -fsS "$URL/hello/page" | wc -c)
curl -fsS "$URL/hello/page" | $PY -c 'import json,sys; assert len(json.load(sys.stdin)["messages"]) == 50' ||
    die "the hello app's page is not a page of 50 messages"

# pgbench scripts: a random (chat, member) pair per transaction, the same
# pairs as the wrk scripts, through CASE chains (pgbench has no arrays).
pg_script() { # pairs-file kind
    local k=0 cc="" cu="" tok chat user
    while read -r tok chat user; do
        cc+=" WHEN :k = $k THEN $chat"
        cu+=" WHEN :k = $k THEN $user"
        k=$((k + 1))
    done <"$1"
    printf '\\set k random(0, %d)\n\\set c CASE%s END\n\\set u CASE%s END\n' $((k - 1)) "$cc" "$cu"
    printf '\\set r random(1, 1000000000000)\n'
    if [ "$2" = func ]; then
        cat <<'EOF'
SELECT status, message, event FROM message_post(:c, :u, 'bench message from pgbench', 'pg-' || :client_id || '-' || :r, NULL);
EOF
    else
        cat <<'EOF'
BEGIN;
UPDATE chats SET last_seq = last_seq + 1, version = version + 1, last_activity_at = now() WHERE id = :c RETURNING last_seq AS seq, version AS ver \gset
INSERT INTO messages (chat_id, seq, version, sender_id, content, client_msg_id) VALUES (:c, :seq, :ver, :u, 'bench message from pgbench', 'pg-' || :client_id || '-' || :r);
INSERT INTO chat_changes (chat_id, version, type, seq) VALUES (:c, :ver, 'message.created', :seq);
END;
EOF
    fi
}
for s in spread single; do
    for v in func raw; do pg_script "$W/$s.txt" "$v" >"$W/pg_${v}_$s.sql"; done
done

RESULTS=$W/results.tsv
: >"$RESULTS"
: >"$W/cpu.tsv"
wants() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }
record() { # key what "rps p50 p99 errors" command
    local rps p50 p99 err
    read -r rps p50 p99 err <<<"$3"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rps" "$p50" "$p99" "$err" "$4" >>"$RESULTS"
    printf 'bench: %-55s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %s\n' "$2" "$rps" "$p50" "$p99" "$err" >&2
}

# CPU ticks per process name over the measured window, as "name=ticks ...".
# The bench expects a quiet machine: other processes of these names count too.
cpu_names="nginx chat-api hello_fcgi postgres redis-server"
cpu_snap() {
    awk -v names=" $cpu_names " '{ n = $2; gsub(/[()]/, "", n)
        if (index(names, " " n " ")) t[n] += $14 + $15 }
        END { for (k in t) printf "%s=%d ", k, t[k] }' /proc/[0-9]*/stat 2>/dev/null || true
}
HZ=$(getconf CLK_TCK)

RUN_N=0
bench_wrk() { # key what path [script args...]
    local key=$1 what=$2 path=$3
    shift 3
    wants "$key" || return 0
    local script=() sargs=()
    if [ $# -gt 0 ]; then
        script=(-s "$1")
        shift
        sargs=(-- "$@")
    fi
    RUN_N=$((RUN_N + 1))
    # A warm-up run, then the measured one (a fresh tag: no client_msg_id repeats).
    wrk -t"$WT" -c"$CONC" -d"${WARM}s" "${script[@]}" "$URL$path" "${sargs[@]/TAG/w$RUN_N$$}" >/dev/null
    local c0 c1
    c0=$(cpu_snap)
    wrk -t"$WT" -c"$CONC" -d"${DUR}s" --latency "${script[@]}" "$URL$path" "${sargs[@]/TAG/m$RUN_N$$}" \
        >"$W/$key.wrk"
    c1=$(cpu_snap)
    printf '%s\t%s\t%s\n' "$key" "$c0" "$c1" >>"$W/cpu.tsv"
    local cmd="wrk -t$WT -c$CONC -d${DUR}s --latency ${script[*]} \$URL$path ${sargs[*]}"
    cmd=${cmd//$W/\$H/bench}
    cmd=${cmd//$BENCH/bench}
    record "$key" "$what" "$($PY "$BENCH/bench.py" wrk "$W/$key.wrk")" "${cmd% }"
}

bench_pg() { # key what script [clients]
    local key=$1 what=$2 script=$3 conc=${4:-$CONC}
    wants "$key" || return 0
    local args=(-h "$RUN" -p "$PG_PORT" -U chat -n -M prepared -c "$conc" -j "$WT" -f "$script")
    pgbench "${args[@]}" -T "$WARM" chat >/dev/null 2>&1
    rm -rf "$W/pglog" && mkdir -p "$W/pglog"
    pgbench "${args[@]}" -T "$DUR" -l --log-prefix="$W/pglog/pgb" chat >"$W/$key.pgb" 2>&1 ||
        { cat "$W/$key.pgb" >&2; die "pgbench failed"; }
    local cmd="pgbench -h \$H/run -p \$PGPORT -U chat -n -M prepared -c $conc -j $WT -f $script -T $DUR -l chat"
    cmd=${cmd//$W/\$H/bench}
    record "$key" "$what" "$($PY "$BENCH/bench.py" pgbench "$W/$key.pgb" "$W/pglog")" "$cmd"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "each row: ${WARM} s warm-up, ${DUR} s measured, $CONC connections"
bench_wrk hello_tiny "hello_fcgi, tiny JSON body (12 B)" /hello/tiny
# The history page against its peer: alternating runs, the median of each
# (this machine's speed drifts between runs; the ratio is the target).
for _ in $(seq "${BENCH_REPEAT:-3}"); do
    bench_wrk hello_page "hello_fcgi, page-sized JSON body" /hello/page
    bench_wrk history "GET history page, limit=50 (spread)" "/api/v1/chats/$CHAT0/messages?limit=50" \
        "$BENCH/history.lua" "$W/spread.txt"
done
bench_wrk send_spread "POST message, $NUSERS chats (fresh client_msg_id)" "/api/v1/chats/$CHAT0/messages" \
    "$BENCH/send.lua" "$W/spread.txt" TAG
bench_wrk send_spread_nocmid "POST message, $NUSERS chats (no client_msg_id)" "/api/v1/chats/$CHAT0/messages" \
    "$BENCH/send.lua" "$W/spread.txt" TAG nocmid
bench_pg pg_func_spread "pgbench SELECT message_post(), $NUSERS chats" "$W/pg_func_spread.sql"
bench_pg pg_raw_spread "pgbench raw SQL transaction, $NUSERS chats" "$W/pg_raw_spread.sql"
# For reference: pgbench with as many connections as chat-api has.
bench_pg pg_func_spread_pool "pgbench SELECT message_post(), $NUSERS chats, $CHAT_API_THREADS clients" \
    "$W/pg_func_spread.sql" "$CHAT_API_THREADS"
bench_wrk send_single "POST message, 1 chat, $NUSERS senders" "/api/v1/chats/$CHAT0/messages" \
    "$BENCH/send.lua" "$W/single.txt" TAG
bench_pg pg_func_single "pgbench SELECT message_post(), 1 chat" "$W/pg_func_single.sql"
bench_pg pg_raw_single "pgbench raw SQL transaction, 1 chat" "$W/pg_raw_single.sql"

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Facts about this machine and run, for the report.
$PY - "$W/meta.json" <<EOF
import json, subprocess, sys, datetime, platform
def out(*c):
    try: return subprocess.run(c, capture_output=True, text=True).stdout.strip() + \
                subprocess.run(c, capture_output=True, text=True).stderr.strip()
    except Exception: return "?"
cpu = "?"
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"): cpu = l.split(":", 1)[1].strip(); break
m = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
     "nproc": out("nproc"), "cpu": cpu, "kernel": "Linux " + platform.release(),
     "nginx": out("nginx", "-v").replace("nginx version: ", ""),
     "postgres": out("pgbench", "--version"), "redis": out("redis-server", "--version").split(" sha=")[0],
     "wrk": out("wrk", "-v").split(" Copyright")[0].split("\n")[0],
     "threads": "$CHAT_API_THREADS", "conc": "$CONC", "wrk_threads": "$WT",
     "warmup": "$WARM", "duration": "$DUR", "users": "$NUSERS", "seed_msgs": "$SEED_MSGS",
     "page_bytes": "$PAGE_BYTES", "commit": "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo ?)", "load": "$LOAD_BEFORE before, $LOAD_AFTER after", "hello_page_bytes": "$HELLO_PAGE_BYTES",
     "scripts": {n: open("$W/" + n.replace(".sql", "_spread.sql")).read()
                 for n in ("pg_func.sql", "pg_raw.sql")}}
json.dump(m, open(sys.argv[1], "w"))
EOF
$PY "$BENCH/bench.py" render "$RESULTS" "$W/meta.json" "$OUT" "$W/cpu.tsv" "$HZ" "$DUR"
say "wrote $OUT"
grep -E '^\| ' "$OUT" >&2

# chat-push beside nchan (bench/push/run.sh): its own stack, nginx with nchan
# and load client; its section goes to bench/out/push.md and is appended here.
if wants push; then
    if "$BENCH/push/run.sh"; then
        { printf '\n'; cat "$ROOT/bench/out/push.md"; } >>"$OUT"
    else
        say "the push benchmark failed; $OUT has no push section"
    fi
fi
