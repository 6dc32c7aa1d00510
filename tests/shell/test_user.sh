#!/usr/bin/env bash
# test_user.sh - an ordinary user (no root, a normal PATH without /usr/sbin)
# with the packages installed: from a clone in their home, with the default
# CHAT_HOME (./var), `chatctl start` must find nginx and PostgreSQL by
# absolute path and come up; readyz, a register, stop. Creates the user
# (useradd) and removes it afterwards; skipped unless run as root.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "test_user.sh: not root, skipped"; exit 0; }
u=chatu$$
home=/home/$u
new_stack_env || exit 1
rmdir "$CHAT_HOME" # the user's stack lives in ~/chat/var
CHAT_HOME=$home/chat/var
as_u() {
    setpriv --reuid="$u" --regid="$u" --init-groups -- env -i HOME="$home" USER="$u" LANG=C.UTF-8 \
        PATH=/usr/local/bin:/usr/bin:/bin CHAT_PORT="$CHAT_PORT" "$@"
}
cleanup() {
    as_u "$home/chat/chatctl" stop >/dev/null 2>&1
    logs_if_failed
    userdel -r "$u" 2>/dev/null
}
trap cleanup EXIT

added=
for _ in 1 2 3 4 5; do
    useradd --create-home --shell /bin/bash "$u" 2>/dev/null && { added=1; break; }
    sleep 1 # /etc/passwd may be locked by another useradd
done
ok "useradd $u" test -n "$added"
ok "clone into $home/chat" clone_to "$home/chat"
chown -R "$u:" "$home/chat"
no "nginx is on the user's PATH" as_u sh -c 'command -v nginx'
echo "=== stack of $u in $CHAT_HOME on port $CHAT_PORT"
ok "chatctl start as $u" as_u "$home/chat/chatctl" start
ok "ready" ready
ok "register alice" quiet register alice
ok "every service runs as $u" test "$(stat -c %U "/proc/$(head -n 1 "$CHAT_HOME/run/chat-api.pid")")" = "$u" \
    -a "$(stat -c %U "/proc/$(head -n 1 "$CHAT_HOME/pg/postmaster.pid")")" = "$u"
ok "chatctl status as $u" as_u "$home/chat/chatctl" status
ok "chatctl stop as $u" as_u "$home/chat/chatctl" stop
finish
