#!/usr/bin/env bash
# fresh-check.sh - check a fresh install as a new user meets it: a minimal
# Debian 12 root made with debootstrap (nothing else installed but make),
# the current commit cloned into its /root (mode 700), and in a chroot with
# /proc, /sys, /dev, /dev/pts and /dev/shm mounted:
#   1. make run as root: waits for the URL, runs scripts/smoke.py (readyz,
#      two users, one message between them), Ctrl-C (SIGINT to its process
#      group), checks everything stopped; then make run again, and the
#      users and the message are still there (scripts/smoke.py --again);
#   2. make test as root;
#   3. make run as an ordinary user from a clone in their home (the
#      packages are installed by then), smoke test, Ctrl-C.
# Exits non-zero at the first failure, with the tail of its log and of the
# services' logs. Not part of make test: the first run takes a while
# (packages are downloaded and installed in the new root).
#
#   scripts/fresh-check.sh [DIR]      as root; DIR (or $CHAT_FRESH_DIR,
#                                     default /var/tmp/chat-fresh) keeps
#   DIR/base.tgz        the debootstrap download (--make-tarball), reused
#   DIR/apt-archives/   the .deb files apt downloaded, reused
#   DIR/root/           the root itself, made anew on every run
#   DIR/logs/           one log per step
#
# The chroot shares the host's network: the stacks use free ports picked
# like the tests' (scripts/ports.sh), and the packages' own services
# (PostgreSQL on 5432, Redis on 6379, nginx on 80) are kept from starting
# by a policy-rc.d in the root, as in any chroot. Mounts are undone and the
# root's processes (found by their root directory) stopped by a trap.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
DIR=${1:-${CHAT_FRESH_DIR:-/var/tmp/chat-fresh}}
MIRROR=${CHAT_FRESH_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
T0=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "fresh-check: run as root (debootstrap, chroot, mount)" >&2; exit 1; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
R=$DIR/root
LOGS=$DIR/logs
# shellcheck source=ports.sh
. "$SRC/scripts/ports.sh"

say() { printf 'fresh-check: %s\n' "$*" >&2; }
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# --- cleanup: the root's processes, then the mounts -----------------------

root_pids() { # processes whose root directory is $R (started in the chroot)
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && echo "${p#/proc/}"
    done
    return 0
}
stop_root_pids() {
    local pids
    pids=$(root_pids)
    [ -n "$pids" ] || return 0
    say "stopping what still runs in the root: $(echo "$pids" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 100); do
        [ -z "$(root_pids)" ] && return 0
        sleep 0.1
    done
    # shellcheck disable=SC2046
    kill -KILL $(root_pids) 2>/dev/null || true
    sleep 0.5
}
mounts_under() { findmnt -rn -o TARGET | awk -v r="$1/" 'index($0, r) == 1' | sort -r; }
unmount_all() {
    local m
    for m in $(mounts_under "$R"); do umount "$m" 2>/dev/null || umount -l "$m"; done
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_root_pids
    unmount_all
    if [ -n "$(mounts_under "$R")" ]; then
        say "still mounted under $R:"
        mounts_under "$R" >&2
        rc=1
    fi
    say "$([ "$rc" = 0 ] && echo PASSED || echo "FAILED (exit $rc)") in $(elapsed "$T0"); logs in $LOGS"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- logs -------------------------------------------------------------------

CURRENT=
fail() {
    say "FAILED: $*"
    if [ -n "$CURRENT" ] && [ -s "$CURRENT" ]; then
        printf '\n--- tail of %s\n' "$CURRENT" >&2
        tail -n 60 "$CURRENT" >&2
    fi
    local f
    for f in "$R"/var/lib/chat/log/*.log "$R"/home/*/chat/var/log/*.log; do
        [ -s "$f" ] && { printf '\n--- tail of %s\n' "$f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}
# Is process $1 alive (a zombie's cmdline is empty)?
alive() { [ -n "$(head -c 1 "/proc/$1/cmdline" 2>/dev/null | tr -d '\0')" ]; }
step() { # name command...: runs it with its output in $LOGS/name.log
    local name=$1 t rc=0
    t=$(date +%s)
    shift
    CURRENT=$LOGS/$name.log
    say "$name ..."
    # In the background, so that set -e holds inside shell functions too.
    "$@" >"$CURRENT" 2>&1 </dev/null &
    wait $! || rc=$?
    [ "$rc" = 0 ] || fail "$name (exit $rc)"
    say "$name: ok ($(elapsed "$t"))"
}

# --- the root -----------------------------------------------------------------

make_root() {
    command -v debootstrap >/dev/null || {
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
    }
    if [ ! -s "$DIR/base.tgz" ]; then
        rm -rf "$DIR/tarball-work"
        debootstrap --variant=minbase --make-tarball="$DIR/base.tgz.part" "$SUITE" \
            "$DIR/tarball-work" "$MIRROR"
        mv "$DIR/base.tgz.part" "$DIR/base.tgz"
    fi
    debootstrap --variant=minbase --unpack-tarball="$DIR/base.tgz" "$SUITE" "$R" "$MIRROR"
    # As in any chroot: packages must not start their services on the host.
    printf '#!/bin/sh\n# fresh-check.sh: no service starts from a package in this root\nexit 101\n' \
        >"$R/usr/sbin/policy-rc.d"
    chmod 755 "$R/usr/sbin/policy-rc.d"
    # The host's network setup, which the root shares: its resolver, and
    # the certificate authorities it added locally (a network that reaches
    # the npm registry through an intercepting proxy needs them; the
    # ca-certificates package takes them in when deps.sh installs it).
    cp -L /etc/resolv.conf "$R/etc/resolv.conf"
    mkdir -p "$R/usr/local/share/ca-certificates"
    cp -RL /usr/local/share/ca-certificates/. "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
    echo "deb $MIRROR $SUITE main" >"$R/etc/apt/sources.list"
}

mount_all() {
    mkdir -p "$DIR/apt-archives/partial"
    mount --bind "$DIR/apt-archives" "$R/var/cache/apt/archives"
    mount -t proc proc "$R/proc"
    mount -t sysfs sysfs "$R/sys"
    mount --bind /dev "$R/dev"
    mount --bind /dev/pts "$R/dev/pts"
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$R/dev/shm"
}

# A login-like environment: root's, or an ordinary user's (no /usr/sbin).
in_root() {
    chroot "$R" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
as_user() { # user command...
    local u=$1
    shift
    chroot "$R" /usr/bin/setpriv --reuid="$u" --regid="$u" --init-groups -- \
        /usr/bin/env -i HOME="/home/$u" USER="$u" LOGNAME="$u" TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

clone_into() { # path inside the root
    git clone -q "$SRC" "$R$1"
    git -C "$R$1" -c advice.detachedHead=false checkout -q "$COMMIT"
}

# --- make run, as a user would: wait for the URL, smoke, Ctrl-C --------------

RUN_PID=
# run_stack log how... : starts `make run` in its own process group, like
# a terminal's foreground job, waits for "Chat is running: URL" (up to 60
# min: the first one installs and builds), sets URL. Started with job
# control on (set -m): without it, bash starts background commands with
# SIGINT ignored, and make and chatctl would inherit that (no Ctrl-C).
run_stack() {
    local log=$1
    shift
    CURRENT=$log
    set -m
    "$@" >"$log" 2>&1 </dev/null &
    RUN_PID=$!
    set +m
    for _ in $(seq 3600); do
        URL=$(grep -o 'Chat is running: http://127\.0\.0\.1:[0-9]*/' "$log" | head -n 1 | cut -d' ' -f4) || true
        [ -n "$URL" ] && return 0
        alive "$RUN_PID" || fail "make run exited before printing the URL"
        sleep 1
    done
    fail "make run printed no URL in 60 minutes"
}
# ctrl_c: SIGINT to make run's process group, as Ctrl-C in a terminal; it
# must exit within 60 s.
ctrl_c() {

    kill -INT -- "-$RUN_PID" 2>/dev/null || true
    for _ in $(seq 600); do
        alive "$RUN_PID" || break
        sleep 0.1
    done
    alive "$RUN_PID" && fail "make run still runs 60 s after Ctrl-C"
    wait "$RUN_PID" 2>/dev/null || true
    RUN_PID=
}
# stopped_check chatctl-status-command...: after Ctrl-C nothing of the
# stack runs (chatctl status says so, no process is left in the root) and
# its nginx port is free again.
stopped_check() {
    local port=${URL##*:} left
    port=${port%/}
    # A process may still be exiting as make returns: 10 s of grace.
    for _ in $(seq 100); do
        [ -z "$(root_pids)" ] && break
        sleep 0.1
    done
    CURRENT=$LOGS/stopped.log
    {
        echo "\$ chatctl status (after Ctrl-C)"
        "$@" || true
        echo "processes left in the root: $(root_pids | tr '\n' ' ')"
    } >"$CURRENT" 2>&1
    grep -q running "$CURRENT" && fail "chatctl status after Ctrl-C still shows a service running"
    left=$(for p in $(root_pids); do printf '%s (%s) ' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done)
    [ -z "$left" ] || fail "processes still run in the root 10 s after Ctrl-C: $left"
    port_free "$port" || fail "port $port still answers after Ctrl-C"
    say "stopped: chatctl status shows nothing running, nothing left in the root"
}

# --- the check ------------------------------------------------------------------

COMMIT=$(git -C "$SRC" rev-parse HEAD)
[ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
    say "note: uncommitted changes in $SRC are not checked, only commit ${COMMIT:0:12}"
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log
if [ -e "$R" ]; then
    unmount_all
    [ -z "$(mounts_under "$R")" ] || { say "cannot unmount what is mounted under $R"; exit 1; }
    rm -rf --one-file-system "$R"
fi

say "commit ${COMMIT:0:12} in $R (debootstrap $SUITE, minbase)"
step debootstrap make_root
mount_all
step clone-root clone_into /root/chat
chmod 700 "$R/root"
# What a new user types before `make run` on a bare system: the clone came
# with git; make is the one other command needed.
step install-make in_root sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends make'

# 1. make run as root (installs the packages, builds, starts)
port=$(pick_ports 20000 31999 8) || fail "no free ports"
t=$(date +%s)
say "make run as root on port $port (installs the packages, builds) ..."
run_stack "$LOGS/run-root.log" chroot "$R" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb \
    LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "cd /root/chat && CHAT_PORT=$port exec make run"
say "make run as root: running at $URL after $(elapsed "$t")"
step smoke-root in_root /usr/bin/python3 /root/chat/scripts/smoke.py "$URL"
ctrl_c
stopped_check in_root /root/chat/chatctl status

port=$(pick_ports 20000 31999 8) || fail "no free ports"
run_stack "$LOGS/run-root-again.log" chroot "$R" /usr/bin/env -i HOME=/root USER=root LOGNAME=root \
    TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "cd /root/chat && CHAT_PORT=$port exec make run"
step smoke-root-again in_root /usr/bin/python3 /root/chat/scripts/smoke.py "$URL" --again
ctrl_c
stopped_check in_root /root/chat/chatctl status

# 2. make test as root
step make-test timeout 3600 chroot "$R" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb \
    LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c 'cd /root/chat && exec make test'
grep -E '^=== summary' "$LOGS/make-test.log" >&2 || true

# 3. make run as an ordinary user, from a clone in their home
step add-user in_root useradd --create-home --shell /bin/bash alice
step clone-user clone_into /home/alice/chat
in_root chown -R alice: /home/alice/chat
port=$(pick_ports 20000 31999 8) || fail "no free ports"
t=$(date +%s)
run_stack "$LOGS/run-user.log" chroot "$R" /usr/bin/setpriv --reuid=alice --regid=alice --init-groups -- \
    /usr/bin/env -i HOME=/home/alice USER=alice LOGNAME=alice TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/bin:/bin sh -c "cd ~/chat && CHAT_PORT=$port exec make run"
say "make run as alice: running at $URL after $(elapsed "$t")"
step smoke-user as_user alice /usr/bin/python3 /home/alice/chat/scripts/smoke.py "$URL"
ctrl_c
stopped_check as_user alice /home/alice/chat/chatctl status
CURRENT=
