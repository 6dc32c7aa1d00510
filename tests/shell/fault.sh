#!/usr/bin/env bash
# fault.sh - the faults of fault_check.py, on the stack of $CHAT_HOME (run
# from the repository, with the environment the stack was started with).
#
#   fault.sh inject KIND   make the fault, print what was done
#   fault.sh heal KIND     undo it (start what was killed again)
#
# KIND:
#   push     kill -9 one chat-push process (the next one at each call)
#   api      SIGSTOP one chat-api process (healed by SIGCONT)
#   rolling  chatctl restart-rolling push (nothing to heal)
#   redis, pg  not built yet: the cluster suite that runs this checker on
#            CHAT_REDIS=cluster and CHAT_PG=ha is still to come; those faults
#            are made today by test_redis_cluster.sh and test_pg_ha.sh on
#            stacks of their own
# Processes are found by the PID files chatctl wrote, never by name.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
: "${CHAT_HOME:?}"
RUN=$CHAT_HOME/run
STATE=$CHAT_HOME/fault.state

die() { echo "fault.sh: $*" >&2; exit 1; }
pid_of() { head -n 1 "$RUN/$1.pid" 2>/dev/null; }
# The process name of service $1's process number $2 (chatctl's names).
proc_name() { if [ "$2" = 0 ]; then echo "$1"; else echo "$1-$2"; fi; }
# The next process number of service $1 of $2 processes, kept in $STATE.
next_of() {
    local n
    n=$(grep -s "^$1 " "$STATE" | tail -n 1 | cut -d' ' -f2)
    n=$(((${n:--1} + 1) % $2))
    echo "$1 $n" >>"$STATE"
    echo "$n"
}
last_of() { grep -s "^$1 " "$STATE" | tail -n 1 | cut -d' ' -f2; }
restart() { ./chatctl start >>"$CHAT_HOME/fault.log" 2>&1 || die "chatctl start failed (see $CHAT_HOME/fault.log)"; }

action=${1:-} kind=${2:-}
case "$action:$kind" in
inject:push)
    p=$(proc_name chat-push "$(next_of push "${CHAT_PUSH_PROCS:-1}")")
    pid=$(pid_of "$p") && [ -n "$pid" ] || die "no PID of $p"
    kill -9 "$pid" && echo "kill -9 $p (pid $pid)"
    ;;
heal:push) restart ;;
inject:api)
    p=$(proc_name chat-api "$(next_of api "${CHAT_API_PROCS:-1}")")
    pid=$(pid_of "$p") && [ -n "$pid" ] || die "no PID of $p"
    kill -STOP "$pid" && echo "SIGSTOP $p (pid $pid)"
    ;;
heal:api)
    p=$(proc_name chat-api "$(last_of api)")
    kill -CONT "$(pid_of "$p")"
    ;;
inject:rolling)
    ./chatctl restart-rolling push >>"$CHAT_HOME/fault.log" 2>&1 || die "restart-rolling failed"
    echo "chatctl restart-rolling push"
    ;;
heal:rolling) ;;
inject:redis | heal:redis | inject:pg | heal:pg)
    die "$kind: not built yet (see the head of this file)"
    ;;
*) die "usage: fault.sh inject|heal push|api|rolling|redis|pg" ;;
esac
