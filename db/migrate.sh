#!/usr/bin/env bash
# migrate.sh - bring the database to this checkout's schema, as its owner:
#   1. db/migrations/NNNN_name.sql in order, each once, in one transaction
#      with its record in schema_migrations (tables, indexes, types, data
#      moves; a migration never changes after it was released: refuse to
#      go on when a file already applied has changed since, unless its
#      former SHA-256 is listed in db/migrations/superseded.sha256);
#   2. then, on every run, every db/functions/*.sql (each function and
#      trigger, CREATE OR REPLACE) in one transaction, in file-name order
#      (C locale). Bodies are checked only once all are in
#      (check_function_bodies off while loading, as pg_dump does; then each
#      function of the schema goes through its language's validator), so
#      the order need not follow the calls. A function no file defines any
#      more, or whose arguments or result type change, is dropped by a
#      migration (as 0015_write_outcomes.sql does).
# Arguments are psql connection options (-h, -p, -U, -d).
set -euo pipefail
db=$(cd "$(dirname "$0")" && pwd)
dir=$db/migrations
psql_() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_ "$@" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"

applied=$(psql_ "$@" -tA -F ' ' -c "SELECT name, sha256 FROM schema_migrations ORDER BY name")
for f in "$dir"/[0-9][0-9][0-9][0-9]_*.sql; do
    name=$(basename "$f")
    [[ $name =~ ^[0-9]{4}_[a-z0-9_]+\.sql$ ]] || { echo "migrate: bad file name $name" >&2; exit 1; }
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    old=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$applied")
    if [ -n "$old" ]; then
        if [ "$old" != "$sum" ] &&
            ! awk -v n="$name" -v s="$old" '$1 == s && $2 == n { f = 1 } END { exit !f }' \
                "$dir/superseded.sha256"; then
            echo "migrate: $name was changed after it was applied (sha256 $old, now $sum);" \
                "add a new migration instead" >&2
            exit 1
        fi
        continue
    fi
    echo "migrate: applying $name" >&2
    psql_ "$@" --single-transaction -f "$f" \
        -c "INSERT INTO schema_migrations (name, sha256) VALUES ('$name', '$sum')"
done

# Replacing a trigger takes a SHARE ROW EXCLUSIVE lock on its table. A start
# while chat-api writes (chatctl start after PostgreSQL restarted) must wait
# for the writers, not deadlock with them: take the locks first, in the
# order the write functions take theirs (messages, then chat_changes).
load=(-c "SET check_function_bodies = off"
    -c "LOCK TABLE messages, chat_changes IN SHARE ROW EXCLUSIVE MODE")
while IFS= read -r f; do load+=(-f "$f"); done < <(
    find "$db/functions" -maxdepth 1 -name '*.sql' | LC_ALL=C sort)
psql_ "$@" --single-transaction "${load[@]}" -c "SET check_function_bodies = on" -c "
DO \$\$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid, l.lanvalidator FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
             WHERE p.pronamespace = 'public'::regnamespace AND l.lanvalidator <> 0
             ORDER BY p.oid LOOP
        EXECUTE format('SELECT %s(%s)', f.lanvalidator::regproc, f.oid);
    END LOOP;
END \$\$"
