# ports.sh - free loopback ports for a throwaway stack; sourced by
# tests/run.sh, bench/run.sh and bench/push/run.sh.
#
# pick_ports FIRST LAST SPAN prints a multiple of 10, P, with P .. P+SPAN-1
# inside [FIRST, LAST] and none of them listening on 127.0.0.1; it returns 1
# after 50 tries. Callers keep to ranges of their own (tests and the REST
# bench 20000-31999, the push bench 10000-19999, so they may run at the same
# time) and below the kernel's ephemeral ports (32768-60999 here), which an
# outgoing connection of a busy machine may hold at any moment.

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_ports() {
    local first=$1 last=$2 span=$3 slots p i k ok
    slots=$(((last - first + 1 - span) / 10 + 1))
    for i in $(seq 50); do
        p=$((first + (RANDOM % slots) * 10))
        ok=1
        for ((k = 0; k < span; k++)); do port_free $((p + k)) || { ok=; break; }; done
        [ -n "$ok" ] && { echo "$p"; return 0; }
    done
    return 1
}
