#!/usr/bin/env bash
# test_schema.sh - db/migrate.sh gives one schema however a database got
# there, on a PostgreSQL of its own (unix socket only, trust):
#   - from zero: this checkout's db/ on an empty database;
#   - step by step: db/ as it was at the first release (FIRST below: the
#     first commit after which no migration changed), then at every later
#     commit that changed db/ (first-parent history, so on a branch every
#     commit and on main every merge), then this checkout's db/ (with its
#     uncommitted changes), each with the migrator of its own time and as
#     chatctl of that time ran it (the superuser before db/roles.sql
#     existed; then db/roles.sql as the superuser and the migrator as
#     chat_owner);
#   - `pg_dump --schema-only` of the two is the same, and so are the names
#     in schema_migrations; running the migrator once more changes nothing;
#   - self-test: without one function file (notify_lock_live.sql), or
#     without one migration (0009_notify_claim.sql), the dump differs.
# Without the git history (a shallow clone, an export) only the from-zero
# parts run.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
FIRST=700f2de
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
work=$(mktemp -d /tmp/chat-schema.XXXXXX)
AS_PG=()
if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses root: the services' user, as chatctl does
    id chat >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin chat
    chown chat: "$work"
    AS_PG=(setpriv --reuid=chat --regid=chat --init-groups --)
fi
cleanup() {
    [ -s "$work/pg/postmaster.pid" ] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
    [ "$fails" -gt 0 ] && [ -s "$work/pg.log" ] && tail -n 20 "$work/pg.log"
    rm -rf "$work"
}
trap cleanup EXIT

PGCONN=(-h "$work" -p 5432)
"${AS_PG[@]}" "$PGBIN/initdb" -D "$work/pg" -U chat --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; exit 1; }
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 start \
    -o "-c listen_addresses='' -c unix_socket_directories=$work -c port=5432 -c fsync=off" \
    >/dev/null || { cat "$work/pg.log"; exit 1; }
sup() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "${PGCONN[@]}" -U chat "$@"; }

fresh_db() {
    sup -d postgres -c "DROP DATABASE IF EXISTS chat" -c "CREATE DATABASE chat"
}
# migrate_with DIR: DIR/migrate.sh (a db/ directory) as chatctl of its time ran it.
migrate_with() {
    if [ -f "$1/roles.sql" ]; then
        sup -d chat -f "$1/roles.sql" >/dev/null &&
            "$1/migrate.sh" "${PGCONN[@]}" -U chat_owner -d chat -w 2>>"$work/migrate.log"
    else
        "$1/migrate.sh" "${PGCONN[@]}" -U chat -d chat -w 2>>"$work/migrate.log"
    fi
}
# dump FILE: the schema (without pg_dump's random \restrict key), then the
# names of the migrations applied.
dump() {
    pg_dump "${PGCONN[@]}" -U chat -d chat --schema-only | grep -v '^\\\(un\)\?restrict ' >"$1" &&
        sup -d chat -tA -c "SELECT name FROM schema_migrations ORDER BY name" >>"$1"
}
same() { # A B
    if diff -u "$1" "$2" >"$work/diff"; then return 0; fi
    head -n 60 "$work/diff"
    return 1
}

from_zero() { # DB_DIR DUMP
    fresh_db && migrate_with "$1" && dump "$2"
}
ok "from zero" from_zero "$LIB_ROOT/db" "$work/zero.sql"
ok "the dump holds the functions and triggers" \
    grep -q 'CREATE TRIGGER chat_changes_notify' "$work/zero.sql"
again() { migrate_with "$LIB_ROOT/db" && dump "$work/again.sql" && same "$work/zero.sql" "$work/again.sql"; }
ok "migrating again changes nothing" again

# The self-test: the comparison sees a missing function or migration.
without() { # FILE (relative to db/)
    rm -rf "$work/db-without" && cp -r "$LIB_ROOT/db" "$work/db-without" &&
        rm "$work/db-without/$1" && from_zero "$work/db-without" "$work/without.sql" &&
        ! diff -q "$work/zero.sql" "$work/without.sql" >/dev/null
}
ok "without functions/notify_lock_live.sql the schema differs" without functions/notify_lock_live.sql
ok "without migrations/0009_notify_claim.sql the schema differs" without migrations/0009_notify_claim.sql

if ! git -C "$LIB_ROOT" cat-file -e "$FIRST^{commit}" 2>/dev/null; then
    echo "  skip step by step: no git history with $FIRST here"
    finish
    exit
fi
step_by_step() {
    local c n=0
    fresh_db || return 1
    for c in $FIRST $(git -C "$LIB_ROOT" rev-list --first-parent --reverse "$FIRST..HEAD" -- db/); do
        mkdir -p "$work/at/$c" && git -C "$LIB_ROOT" archive "$c" db | tar -x -C "$work/at/$c" ||
            return 1
        migrate_with "$work/at/$c/db" || { echo "migrating at $c failed" >&2; return 1; }
        n=$((n + 1))
    done
    echo "  ($n commits, then this checkout)"
    migrate_with "$LIB_ROOT/db" && dump "$work/steps.sql"
}
ok "step by step from $FIRST" step_by_step
ok "step by step and from zero: the same schema" same "$work/zero.sql" "$work/steps.sql"
[ "$fails" -gt 0 ] && [ -s "$work/migrate.log" ] && tail -n 20 "$work/migrate.log"
finish
