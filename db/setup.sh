#!/bin/sh
# setup.sh - roles, passwords and migrations where chatctl does not run
# (docker-compose.yml): as the superuser (PGHOST, PGUSER, PGPASSWORD of the
# environment) db/roles.sql, then each role's password from the environment
# (CHAT_OWNER_DB_PASSWORD, CHAT_API_DB_PASSWORD, CHAT_PUSH_DB_PASSWORD,
# CHAT_NOTIFY_DB_PASSWORD; psql's \getenv, never on a command line), then
# db/migrate.sh as chat_owner.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
psql -X -q -v ON_ERROR_STOP=1 -d chat -f "$dir/roles.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d chat >/dev/null <<'SQL'
\getenv pw CHAT_OWNER_DB_PASSWORD
ALTER ROLE chat_owner PASSWORD :'pw';
\getenv pw CHAT_API_DB_PASSWORD
ALTER ROLE chat_api PASSWORD :'pw';
\getenv pw CHAT_PUSH_DB_PASSWORD
ALTER ROLE chat_push PASSWORD :'pw';
\getenv pw CHAT_NOTIFY_DB_PASSWORD
ALTER ROLE chat_notify PASSWORD :'pw';
SQL
PGUSER=chat_owner PGPASSWORD=$CHAT_OWNER_DB_PASSWORD "$dir/migrate.sh" -d chat
