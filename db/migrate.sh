#!/usr/bin/env bash
# migrate.sh - apply db/migrations/NNNN_name.sql in order, each in one
# transaction with its record in schema_migrations; refuse to go on when a
# file already applied has changed since (its SHA-256 differs).
# Arguments are psql connection options (-h, -p, -U, -d).
set -euo pipefail
dir=$(cd "$(dirname "$0")/migrations" && pwd)
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
        if [ "$old" != "$sum" ]; then
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
