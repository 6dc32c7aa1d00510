#!/usr/bin/env bash
# test_backup.sh - `chatctl backup` and `chatctl restore` (docs/OPERATIONS.md
# "Backup and restore"), on two stacks of their own:
#   - stack A: two users, a direct chat, three messages, an API token; a
#     backup (mode 0600); a fourth message after it; restore refused while
#     A's services run;
#   - stack B (fresh CHAT_HOME, other ports): restore initialises
#     PostgreSQL and restores; after start the users log in with their
#     passwords, the chat has messages 1-3 (not the later 4th) with their
#     text, a new message gets seq 4, /changes and a new long-poll stream
#     work, A's API token works (it lives in the database), A's access and
#     refresh tokens do not (B has its own jwt.key); PostgreSQL is set to
#     log no bind parameters;
#   - B again: restore refused while its database holds tables, then
#     --replace goes back to the dump's point in time (with A's jwt.key
#     copied along, A's access and refresh tokens work); a dump whose last
#     migration is not recorded (an older version) is brought up to date.
# Needs the binaries (CHAT_BIN, default ./build) and the packages.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
CHATCTL=$LIB_ROOT/chatctl
dumps=$(mktemp -d /tmp/chat-dumps.XXXXXX)
homes=''

cleanup() {
    local h
    for h in $homes; do
        CHAT_HOME=$h "$CHATCTL" stop >/dev/null 2>&1
        if [ "$fails" -gt 0 ]; then
            for f in "$h"/log/*.log; do
                [ -s "$f" ] && { printf -- '--- tail of %s\n' "$f"; tail -n 15 "$f"; }
            done
        fi
        rm -rf "$h"
    done
    rm -rf "$dumps"
}
trap cleanup EXIT

status_of() { echo "${1%% *}"; }
body_of() { echo "${1#* }"; }
# The "seq:content" of the chat's messages, one line each, ascending.
messages() { # TOKEN
    local r
    r=$(api GET "/chats/$chat/messages?limit=50" '' "$1")
    [ "$(status_of "$r")" = 200 ] || { echo "messages: $r" >&2; return 1; }
    /usr/bin/python3 -c 'import json, sys
for m in json.load(sys.stdin)["messages"]:
    print("%d:%s" % (m["seq"], m["content"]))' <<<"$(body_of "$r")"
}
post() { # TOKEN TEXT: prints the new message's seq
    local r
    r=$(api POST "/chats/$chat/messages" "{\"content\":\"$2\"}" "$1")
    [ "$(status_of "$r")" = 201 ] || { echo "post: $r" >&2; return 1; }
    json seq <<<"$(body_of "$r")"
}
answers() { # STATUS METHOD PATH [JSON] [TOKEN]
    local want=$1 r
    shift
    r=$(api "$@")
    [ "$(status_of "$r")" = "$want" ] || { echo "    $*: $r" >&2; return 1; }
}
same() { [ "$1" = "$2" ] || { printf '    got:  %s\n    want: %s\n' "$1" "$2" >&2; return 1; }; }

# --- stack A ---------------------------------------------------------------
new_stack_env || exit 1
homes=$CHAT_HOME
echo "=== stack A in $CHAT_HOME on port $CHAT_PORT"
ok "chatctl start" "$CHATCTL" start
r=$(api POST /auth/register '{"username":"alice","password":"password-alice"}')
ok "register alice" test "$(status_of "$r")" = 201
alice=$(json access_token <<<"$(body_of "$r")")
r=$(api POST /auth/register '{"username":"bob","password":"password-bob"}')
ok "register bob" test "$(status_of "$r")" = 201
bob=$(json access_token <<<"$(body_of "$r")")
bob_refresh=$(json refresh_token <<<"$(body_of "$r")")
bob_id=$(json user.id <<<"$(body_of "$r")")
r=$(api POST /chats "{\"type\":\"direct\",\"member_ids\":[$bob_id]}" "$alice")
ok "alice opens a chat with bob" test "$(status_of "$r")" = 201
chat=$(json id <<<"$(body_of "$r")")
r=$(api POST /tokens '{"name":"bot","scopes":["messages:read","messages:write"]}' "$alice")
ok "alice makes an API token" test "$(status_of "$r")" = 201
pat=$(json token <<<"$(body_of "$r")")
ok "message 1" same "$(post "$alice" "hello bob")" 1
ok "message 2" same "$(post "$bob" "hi alice")" 2
ok "message 3" same "$(post "$pat" "from the bot")" 3
want=$'1:hello bob\n2:hi alice\n3:from the bot'

dump=$dumps/chat.dump
ok "chatctl backup" "$CHATCTL" backup "$dump"
ok "the dump is mode 0600" same "$(stat -c %a "$dump")" 600
ok "the dump is a custom-format archive" quiet pg_restore -l "$dump"
ok "message 4 after the backup" same "$(post "$alice" "after the dump")" 4
no "chatctl restore while A's services run" "$CHATCTL" restore --replace "$dump"
ok "A still has its 4 messages" same "$(messages "$alice" | wc -l)" 4

# --- stack B: a fresh CHAT_HOME --------------------------------------------
new_stack_env || exit 1
homes="$homes $CHAT_HOME"
echo "=== stack B in $CHAT_HOME on port $CHAT_PORT"
ok "chatctl restore into a fresh CHAT_HOME" "$CHATCTL" restore "$dump"
ok "PostgreSQL runs, nothing else" same "$("$CHATCTL" status | grep -c running)" 1
ok "chatctl start" "$CHATCTL" start
ok "ready" ready
ok "alice logs in with her password" quiet login alice
b_bob=$(login bob)
ok "bob logs in with his password" test -n "$b_bob"
# docs/OPERATIONS.md "Logs": slow statements are logged without their values.
ok "PostgreSQL logs no bind parameters" same "$("$CHATCTL" psql -tAc "SHOW log_parameter_max_length")" 0
ok "a wrong password is still refused" answers 401 POST /auth/login '{"username":"bob","password":"password-alice"}'
ok "the chat has messages 1-3 of the dump (not the later 4th)" same "$(messages "$b_bob")" "$want"
ok "a new message gets seq 4" same "$(post "$b_bob" "on stack B")" 4
ok "alice's API token of A works (it lives in the database)" answers 200 GET "/chats/$chat/messages" '' "$pat"
ok "A's access token does not (B has its own jwt.key)" answers 401 GET /users/me '' "$alice"
ok "nor does A's refresh token (an HMAC of jwt.key)" \
    answers 401 POST /auth/refresh "{\"refresh_token\":\"$bob_refresh\"}"
r=$(api GET "/chats/$chat/changes?since_version=0" '' "$b_bob")
ok "/changes answers" test "$(status_of "$r")" = 200
ok "/changes has chat.created and 4 message.created in version order" same "$(/usr/bin/python3 -c '
import json, sys
ev = json.load(sys.stdin)["events"]
assert [e["version"] for e in ev] == list(range(1, len(ev) + 1)), ev
print(" ".join(e["type"] for e in ev))' <<<"$(body_of "$r")")" \
    "chat.created message.created message.created message.created message.created"
r=$(api GET "/poll?timeout=1" '' "$b_bob")
ok "a new long-poll stream opens" test "$(status_of "$r")" = 200
cursor=$(json cursor <<<"$(body_of "$r")")
ok "its first event is resync" same "$(json events.0.type <<<"$(body_of "$r")")" resync
b_alice=$(login alice)
ok "message 5 on B" same "$(post "$b_alice" "live")" 5
r=$(api GET "/poll?timeout=5&cursor=$cursor" '' "$b_bob")
ok "the stream delivers it" same "$(/usr/bin/python3 -c '
import json, sys
print(" ".join("%s:%s" % (e["type"], e.get("message", {}).get("seq", "")) for e in json.load(sys.stdin)["events"]
               if e["type"] == "message.created"))' <<<"$(body_of "$r")")" "message.created:5"

# --- B again: --replace, point in time, an older dump --------------------
ok "chatctl stop" "$CHATCTL" stop
no "chatctl restore without --replace into a database with tables" "$CHATCTL" restore "$dump"
ok "chatctl restore --replace" "$CHATCTL" restore --replace "$dump"
# With A's jwt.key copied along, A's sessions go on without a new login.
ok "copy A's jwt.key to B" cp -p "${homes%% *}/secrets/jwt.key" "$CHAT_HOME/secrets/jwt.key"
ok "chatctl start" "$CHATCTL" start
ok "with A's jwt.key, A's access token works" answers 200 GET /users/me '' "$alice"
ok "and A's refresh token" answers 200 POST /auth/refresh "{\"refresh_token\":\"$bob_refresh\"}"
b_bob=$(login bob)
ok "back at the dump's point in time: messages 1-3" same "$(messages "$b_bob")" "$want"
r=$(api GET "/poll?timeout=1&cursor=$cursor" '' "$b_bob")
ok "a client resuming with its old cursor gets resync" same "$(json events.0.type <<<"$(body_of "$r")")" resync

# An older version's dump: its last migration not yet applied (here:
# 0014's grant to chat_push taken back and its record removed).
last=$(basename "$(ls "$LIB_ROOT"/db/migrations/[0-9]*.sql | tail -n 1)")
ok "make an older database" quiet "$CHATCTL" psql -q -c "DELETE FROM schema_migrations WHERE name = '$last'"
[ "$last" = 0014_roles.sql ] && "$CHATCTL" psql -q -c "REVOKE SELECT ON messages FROM chat_push" >/dev/null
old=$dumps/old.dump
ok "chatctl backup of it" "$CHATCTL" backup "$old"
ok "chatctl stop" "$CHATCTL" stop
out=$("$CHATCTL" restore --replace "$old" 2>&1)
ok "chatctl restore --replace of the older dump" test $? = 0
ok "the restore applied $last" grep -qF "migrate: applying $last" <<<"$out"
ok "schema_migrations lists $last again" same "$("$CHATCTL" psql -tAc "SELECT count(*) FROM schema_migrations WHERE name = '$last'")" 1
[ "$last" = 0014_roles.sql ] &&
    ok "chat_push may read messages again" same "$("$CHATCTL" psql -tAc "SELECT has_table_privilege('chat_push', 'messages', 'SELECT')")" t
no "a restore of a file that is not a dump" "$CHATCTL" restore --replace /etc/hostname
ok "chatctl start" "$CHATCTL" start
ok "bob reads messages 1-3" same "$(messages "$(login bob)")" "$want"
finish
