#!/usr/bin/env bash
# makefile_deps.sh - a machine where a library's pkg-config file appears
# only while make runs (deps installs the package): `make build` (what run,
# test and bench do first) must still link on the first try, and a plain
# `make all` without the library must stop with "run make deps first"
# instead of a compiler error. The library is hidden from pkg-config with
# PKG_CONFIG_LIBDIR (a copy of the .pc files without hiredis.pc), and DEPS
# stands in for scripts/deps.sh by putting hiredis.pc back. Builds into
# temporary directories (about ten seconds of compiling).
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/chat-make.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pc" "$tmp/hidden"

# Every .pc file on pkg-config's path, the earlier directories winning.
IFS=: read -r -a dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
    [ -d "${dirs[i]}" ] && cp -f "${dirs[i]}"/*.pc "$tmp/pc/" 2>/dev/null
done
ok "hiredis.pc is there to hide" mv "$tmp/pc/hiredis.pc" "$tmp/hidden/"
export PKG_CONFIG_LIBDIR=$tmp/pc
# A make of its own, whatever make runs this test.
unset MAKEFLAGS MFLAGS MAKELEVEL
no "pkg-config finds hiredis once hidden" pkg-config --exists hiredis

out=$(make -s -C "$LIB_ROOT" B="$tmp/b1" all 2>&1)
rc=$?
no "make all succeeds without the library" test "$rc" = 0
ok "make all says to run make deps" grep -q "run make deps first" <<<"$out"

out=$(make -s -j2 -C "$LIB_ROOT" B="$tmp/b2" DEPS="cp $tmp/hidden/hiredis.pc $tmp/pc/" build 2>&1)
rc=$?
ok "make build links on the first run (the library appears during deps)" test "$rc" = 0
[ "$rc" = 0 ] || tail -n 20 <<<"$out"
ok "chat-api was linked against hiredis" grep -q libhiredis <(ldd "$tmp/b2/chat-api" 2>&1)
finish
