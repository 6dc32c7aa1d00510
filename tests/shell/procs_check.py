#!/usr/bin/python3
"""Resume across chat-push processes (issue "Scale out", docs/SCALING.md).

Run by test_procs.sh against a stack of CHAT_PUSH_PROCS processes behind
nginx: CHAT_URL, CHAT_HOME and CHAT_PUSH_PROCS in the environment.

- SSE: a stream resumed by ?cursor= and by Last-Event-ID, again and again,
  always continues (the missed message first, never `resync`): nginx sends
  the resume to the process that issued the cursor.
- long-poll: a cursor alone continues its stream every time (never a 401).
- new streams are spread over every process.
- `kill` ARG (the number of a process): a cursor of that (now dead) process
  gets a new stream that starts with `resync`, from another process.
- `wsclose` FILE: opens a WebSocket, writes "open" to FILE, and prints the
  code of the Close frame chat-push sends (1012 on SIGTERM: a restart).
"""

import os
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from chatlib import (API_URL, SSEStream, register, create_direct, post_message,  # noqa: E402
                     stream_ticket, request, ws_raw_connect)

PROCS = int(os.environ.get("CHAT_PUSH_PROCS", "1"))
HOME = os.environ["CHAT_HOME"]
fails = 0


def check(what, cond, detail=""):
    global fails
    print("  %s %s%s" % ("ok  " if cond else "FAIL", what, "" if cond or not detail else ": " + detail))
    if not cond:
        fails += 1


def node_of(cursor):
    """The chat-push process number a cursor names (sse/main.c run_epoch)."""
    return int(cursor.split(".")[0][-2:], 16)


def first_durable(s, start, timeout=8):
    _, ev = s.wait_for(lambda e: e.type not in ("presence", "typing", "receipt"), timeout=timeout,
                       start=start)
    return ev


def open_sse(user, cursor=None, header=False):
    q = {"ticket": stream_ticket(user)}
    hdrs = []
    if cursor and header:
        hdrs.append("Last-Event-ID: " + cursor)
    elif cursor:
        q["cursor"] = cursor
    return SSEStream(API_URL + "/events?" + urllib.parse.urlencode(q), headers=hdrs)


def poll(cursor=None, token=None):
    q = {"timeout": "1"}
    if cursor:
        q["cursor"] = cursor
    r = request("GET", "/poll?" + urllib.parse.urlencode(q), token=token, timeout=20)
    return r.status, r.json if r.status == 200 else None


def sse_resumes(a, b, chat):
    s = open_sse(b)
    ev = first_durable(s, 0)
    check("a new SSE stream starts with resync", ev is not None and ev.type == "resync", repr(ev))
    cursor, nodes, ok = ev.id if ev else None, set(), True
    for i in range(3 * PROCS):
        s.close()
        post_message(a, chat, "missed %d" % i)
        s = open_sse(b, cursor, header=(i % 2 == 1))
        ev = first_durable(s, 0)
        good = ev is not None and ev.type == "message.created" and ev.data["message"]["content"] == "missed %d" % i
        if not good:
            ok = False
            print("    resume %d of a cursor of process %d got %r" % (i, node_of(cursor), ev))
            break
        nodes.add(node_of(cursor))
        cursor = ev.id
    s.close()
    check("%d SSE resumes (?cursor= and Last-Event-ID) continue, never resync" % (3 * PROCS), ok)
    return nodes


def poll_continues(a, b, chat):
    token = b.token
    st, body = poll(token=token)
    check("a long-poll with a token answers 200", st == 200, str(st))
    cursor, ok = body["cursor"] if body else None, True
    for i in range(3 * PROCS):
        post_message(a, chat, "poll %d" % i)
        st, body = poll(cursor)
        contents = [e["message"]["content"] for e in (body or {}).get("events", [])
                    if e.get("type") == "message.created"]
        if st != 200 or "poll %d" % i not in contents:
            ok = False
            print("    poll %d with a cursor of process %d alone: %s %r" % (i, node_of(cursor), st, body))
            break
        cursor = body["cursor"]
    check("%d long-polls with the cursor alone continue (no 401)" % (3 * PROCS), ok)


def spread(b):
    nodes = set()
    for _ in range(4 * PROCS):
        s = open_sse(b)
        ev = first_durable(s, 0)
        s.close()
        if ev and ev.id:
            nodes.add(node_of(ev.id))
    check("new streams reach every one of %d processes" % PROCS, nodes == set(range(PROCS)),
          "reached %s" % sorted(nodes))


def after_kill(victim, a, b, chat):
    """A cursor of process `victim`, which we then SIGKILL."""
    cursor = None
    for _ in range(8 * PROCS):
        s = open_sse(b)
        ev = first_durable(s, 0)
        s.close()
        if ev and ev.id and node_of(ev.id) == victim:
            cursor = ev.id
            break
    check("a stream of process %d" % victim, cursor is not None)
    if not cursor:
        return
    name = "chat-push" if victim == 0 else "chat-push-%d" % victim
    with open(os.path.join(HOME, "run", name + ".pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGKILL)  # the process our test stack started, by its PID file
    time.sleep(0.5)
    post_message(a, chat, "while %s is gone" % name)
    t0 = time.monotonic()
    s = open_sse(b, cursor)
    ev = first_durable(s, 0)
    took = time.monotonic() - t0
    check("its cursor's resume gets resync from another process (%.2f s)" % took,
          ev is not None and ev.type == "resync" and node_of(ev.id) != victim, repr(ev))
    _, msg = s.wait_for(lambda e: e.type == "message.created", timeout=2)
    s.close()
    # the missed message is in /changes (the resync's recovery path)
    r = request("GET", "/chats/%d/changes?since_version=0&limit=200" % chat, token=b.token)
    check("the message sent meanwhile is in /changes", r.status == 200 and
          ("while %s is gone" % name) in r.raw.decode("utf-8", "replace"), str(r.status))


def ws_close_code(path):
    """The status code of the first Close frame the server sends (RFC 6455
    section 5.5.1), or None if the connection ends without one."""
    import struct
    b = register("pw")
    sock, buf = ws_raw_connect(b)
    sock.settimeout(60)
    with open(path, "w") as f:
        f.write("open\n")
    while True:
        while len(buf) < 2 or len(buf) < 2 + {126: 2, 127: 8}.get(buf[1] & 0x7f, 0):
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
        op, n, at = buf[0] & 0x0f, buf[1] & 0x7f, 2
        if n == 126:
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            n, at = struct.unpack("!Q", buf[2:10])[0], 10
        while len(buf) < at + n:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
        payload, buf = buf[at:at + n], buf[at + n:]
        if op == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def main():
    a, b = register("pa"), register("pb")
    chat = create_direct(a, b)["id"]
    what = sys.argv[1] if len(sys.argv) > 1 else "resume"
    if what == "resume":
        spread(b)
        sse_resumes(a, b, chat)
        poll_continues(a, b, chat)
    elif what == "kill":
        after_kill(int(sys.argv[2]), a, b, chat)
    elif what == "wsclose":
        code = ws_close_code(sys.argv[2])
        print("close code %s" % code)
        return 0
    print("procs_check %s: %s" % (what, "all passed" if not fails else "%d failed" % fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
