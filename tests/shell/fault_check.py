#!/usr/bin/python3
"""Fault checker (issue "Scale out", docs/SCALING.md "Faults").

Clients on all three transports follow API.md's client rules while senders
post with client_msg_id (retrying every failure with the same id, as a
real client does) and faults are injected one after another. At the end
every acknowledged message is compared with what every member applied.

    fault_check.py FAULT[:N] ...     e.g. push:2 api redis pg rolling

Each FAULT is run by `tests/shell/fault.sh inject FAULT` and undone by
`tests/shell/fault.sh heal FAULT` once the clients have recovered (see
that file for the kinds); FAULT_HEAL=at-once undoes each at once (a
single node, where no other process takes over). Environment: CHAT_URL, CHAT_HOME and the
settings the stack was started with (fault.sh calls ./chatctl).

Checks (exit 1 when any fails):
- lost: an acknowledged message some member never applied;
- duplicates: a client_msg_id stored more than once (GET /messages), or an
  acknowledged id missing there;
- out of order: one stream connection carrying a chat's versions
  backwards (a repeat is a harmless duplicate, counted apart);
- every fault recovers within FAULT_LIMIT_S (default 60) seconds.
Recovery of a fault: from its injection until every sender has had a
message whose sending began after it acknowledged, and until every member
has applied one; a fault lasts at least FAULT_HOLD_S (5) seconds. Each
fault's table row also gives the longest any sender waited for an
acknowledgement from the fault until FAULT_SETTLE_S after its end.
"""

import base64
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from chatlib import API_PREFIX, HOST, PORT, create_group, register, request  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHATS = int(os.environ.get("FAULT_CHATS", "3"))
SEND_GAP_S = float(os.environ.get("FAULT_SEND_GAP_S", "0.1"))
SETTLE_S = float(os.environ.get("FAULT_SETTLE_S", "3"))
LIMIT_S = float(os.environ.get("FAULT_LIMIT_S", "60"))
DRAIN_S = float(os.environ.get("FAULT_DRAIN_S", "30"))
# "after": a fault is undone once the clients recovered (a cluster, where
# another process takes over); "at-once": right after it is made (a single
# node, where nothing else can).
HEAL = os.environ.get("FAULT_HEAL", "after")
# A fault lasts at least this long before it is undone.
HOLD_S = float(os.environ.get("FAULT_HOLD_S", "5"))

stop_all = threading.Event()


def now():
    return time.monotonic()


def log(msg):
    print("  [%7.2f] %s" % (now() - T0, msg), flush=True)


T0 = now()


def fmt(v):
    return "-" if v is None else "%.2f" % v


def backoff(attempt):
    """Jittered exponential backoff, 0.1 s to 1 s (API.md client rule 5)."""
    d = min(1.0, 0.1 * (2 ** min(attempt, 4)))
    return d * (0.5 + 0.5 * (os.urandom(1)[0] / 255))


def rest(method, path, token, body=None, timeout=8):
    """request() that turns transport errors into status 0."""
    try:
        return request(method, path, body, token=token, timeout=timeout, retry_429=True)
    except Exception:  # noqa: BLE001 - any transport failure is a retry for the caller
        class R:
            status, json = 0, None
        return R()


class Member:
    """One user's stream on one transport, applying durable events by the
    client rules: version held + 1 applies; lower is a duplicate; a jump or
    a `resync` is filled from /changes."""

    def __init__(self, user, transport, chats):
        self.user, self.transport = user, transport
        self.held = {c: 0 for c in chats}
        self.applied = {}  # message id -> monotonic time applied
        self.lock = threading.Lock()
        self.cursor = None
        self.out_of_order = 0
        self.raw_dups = 0
        self.resyncs = 0
        self.filled = 0
        self.connects = 0
        self.reauths = 0
        self.last_error = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    # -- the client rules
    def fill(self, chat):
        while not stop_all.is_set():
            r = rest("GET", "/chats/%d/changes?since_version=%d&limit=200" % (chat, self.held[chat]),
                     self.user.token)
            if r.status != 200:
                time.sleep(backoff(2))
                continue
            for ev in r.json["events"]:
                if ev["version"] == self.held[chat] + 1:
                    self.apply(ev, filled=True)
            if not r.json.get("has_more"):
                return

    def resync(self):
        self.resyncs += 1
        while not stop_all.is_set():
            r = rest("GET", "/chats?fields=id,version&limit=100", self.user.token)
            if r.status == 200:
                break
            time.sleep(backoff(2))
        else:
            return
        chats = r.json["chats"] if isinstance(r.json, dict) else r.json
        for c in chats:
            if c["id"] in self.held and c["version"] > self.held[c["id"]]:
                self.fill(c["id"])

    def apply(self, ev, filled=False):
        chat = ev["chat_id"]
        self.held[chat] = ev["version"]
        if filled:
            self.filled += 1
        if ev["type"] == "message.created":
            with self.lock:
                self.applied.setdefault(ev["message"]["id"], now())

    def on_event(self, ev, conn_seen):
        t = ev.get("type")
        if t == "resync":
            self.resync()
            self.ready.set()
            return
        chat, version = ev.get("chat_id"), ev.get("version")
        if chat not in self.held or version is None:
            return  # ephemeral, or a chat of another test
        last = conn_seen.get(chat, 0)
        if version < last:
            self.out_of_order += 1
            log("%s %s: chat %d version %d after %d on one connection"
                % (self.user.username, self.transport, chat, version, last))
        elif version == last:
            self.raw_dups += 1
        conn_seen[chat] = max(last, version)
        if version <= self.held[chat]:
            return
        if version > self.held[chat] + 1:
            self.fill(chat)
        if version == self.held[chat] + 1:
            self.apply(ev)

    # -- transports
    def stream_query(self):
        """?ticket= (a new one) and ?cursor= for an SSE or WebSocket (re)connect."""
        r = rest("POST", "/stream/tickets", self.user.token)
        if r.status != 201:
            raise IOError("no ticket: %d" % r.status)
        q = {"ticket": r.json["ticket"]}
        if self.cursor:
            q["cursor"] = self.cursor
        return q

    def run(self):
        attempt = 0
        while not stop_all.is_set():
            try:
                self.connects += 1
                getattr(self, "run_" + self.transport)()
                attempt = 0
            except Exception as e:  # noqa: BLE001 - a broken stream is reconnected
                self.last_error = repr(e)[:200]
                attempt += 1
            if not stop_all.is_set():
                time.sleep(backoff(attempt))

    def run_sse(self):
        q = self.stream_query()
        c = http.client.HTTPConnection(HOST, PORT, timeout=30)
        try:
            c.request("GET", API_PREFIX + "/events?" + urllib.parse.urlencode(q),
                      headers={"Accept": "text/event-stream"})
            r = c.getresponse()
            if r.status != 200:
                raise IOError("SSE status %d" % r.status)
            seen, eid, data = {}, None, []
            while not stop_all.is_set():
                line = r.readline()
                if not line:
                    return
                text = line.decode().rstrip("\r\n")
                if text == "":
                    if data:
                        if eid:
                            self.cursor = eid
                        self.on_event(json.loads("\n".join(data)), seen)
                    eid, data = None, []
                elif text.startswith("id:"):
                    eid = text[3:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].lstrip(" "))
        finally:
            c.close()

    def run_poll(self):
        seen, reauth = {}, False
        while not stop_all.is_set():
            q = {"timeout": "5"}
            if self.cursor:
                q["cursor"] = self.cursor
            r = rest("GET", "/poll?" + urllib.parse.urlencode(q), None if self.cursor and not reauth
                     else self.user.token, timeout=15)
            reauth = False
            if r.status == 401 and self.cursor:
                # A cursor alone holds only while its stream exists (its
                # process died): authenticate, which resumes or resyncs.
                self.reauths += 1
                reauth = True
                continue
            if r.status != 200:
                raise IOError("poll status %d" % r.status)
            for ev in r.json["events"]:
                self.on_event(ev, seen)
            self.cursor = r.json["cursor"]

    def run_ws(self):
        q = self.stream_query()
        s = socket.create_connection((HOST, PORT), timeout=30)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(("GET %s/ws?%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                       % (API_PREFIX, urllib.parse.urlencode(q), HOST, PORT, key)).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise IOError("ws handshake: closed")
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                raise IOError("ws handshake refused")
            seen = {}
            while not stop_all.is_set():
                while True:  # RFC 6455 5.2: server frames are not masked
                    if len(buf) >= 2:
                        op, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
                        if n == 126:
                            n, off = (struct.unpack("!H", buf[2:4])[0], 4) if len(buf) >= 4 else (None, 0)
                        elif n == 127:
                            n, off = (struct.unpack("!Q", buf[2:10])[0], 10) if len(buf) >= 10 else (None, 0)
                        if n is not None and len(buf) >= off + n:
                            payload, buf = buf[off:off + n], buf[off + n:]
                            break
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                if op == 8:
                    return
                if op == 9:
                    s.sendall(bytes([0x8A, 0x80]) + os.urandom(4))
                    continue
                if op != 1:
                    continue
                frame = json.loads(payload)
                if "event" in frame:
                    if frame.get("cursor"):
                        self.cursor = frame["cursor"]
                    self.on_event(frame["event"], seen)
        finally:
            s.close()


class Sender:
    """Posts to one chat, one message at a time, each retried with its
    client_msg_id until acknowledged."""

    def __init__(self, user, chat):
        self.user, self.chat = user, chat
        self.acked = []  # (id, client_msg_id, t_start, t_ack)
        self.n = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.running = threading.Event()

    def run(self):
        self.running.set()
        while not stop_all.is_set() and not senders_stop.is_set():
            self.n += 1
            cmid = "fc-%d-%d" % (self.chat, self.n)
            t0, attempt = now(), 0
            while not stop_all.is_set():
                r = rest("POST", "/chats/%d/messages" % self.chat, self.user.token,
                         {"content": cmid, "client_msg_id": cmid}, timeout=8)
                if r.status == 201:
                    self.acked.append((r.json["id"], cmid, t0, now()))
                    break
                attempt += 1
                time.sleep(backoff(attempt))
            time.sleep(SEND_GAP_S)


senders_stop = threading.Event()


def fault_sh(action, kind):
    out = subprocess.run(["bash", os.path.join(HERE, "fault.sh"), action, kind], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise SystemExit("fault.sh %s %s failed:\n%s%s" % (action, kind, out.stdout, out.stderr))
    return out.stdout.strip()


def recovery(t_fault, senders, members):
    """(send recovery, delivery recovery) in seconds, None while not yet:
    when every sender has had a send begun after t_fault acknowledged, and
    when every member has applied such a message."""
    after, worst_ack = set(), 0.0
    for s in senders:
        acks = [a for a in s.acked if a[2] > t_fault]
        if not acks:
            return None, None
        worst_ack = max(worst_ack, acks[0][3])
        after.update(a[0] for a in acks)
    worst = 0.0
    for m in members:
        with m.lock:
            ts = [t for mid, t in m.applied.items() if mid in after]
        if not ts:
            return worst_ack - t_fault, None
        worst = max(worst, min(ts))
    return worst_ack - t_fault, worst - t_fault


def longest_stall(senders, t0, t1):
    """The longest time, in seconds, any sender waited for an
    acknowledgement between monotonic times t0 and t1."""
    worst = 0.0
    for s in senders:
        last = t0
        for a in s.acked:
            if a[3] < t0:
                continue
            if a[3] > t1:
                break
            worst, last = max(worst, a[3] - last), a[3]
    return worst


def main(argv):
    faults = []
    for a in argv:
        kind, _, times = a.partition(":")
        faults += [kind] * (int(times) if times else 1)
    users = [register("fc%d" % i) for i in range(6)]
    posters = [register("fcs%d" % i) for i in range(CHATS)]  # one each: per-user rate limits
    chats = [create_group(p, users, title="faults %d" % i)["id"] for i, p in enumerate(posters)]
    transports = ["sse", "ws", "poll"]
    members = [Member(u, transports[i % 3], chats) for i, u in enumerate(users)]
    for m in members:
        m.thread.start()
    for m in members:
        if not m.ready.wait(30):
            raise SystemExit("%s %s got no resync in 30 s" % (m.user.username, m.transport))
    senders = [Sender(p, c) for p, c in zip(posters, chats)]
    for s in senders:
        s.thread.start()
    time.sleep(SETTLE_S)
    rows, failed = [], []
    for kind in faults:
        t_fault = now()
        what = fault_sh("inject", kind)
        log("fault %s: %s" % (kind, what))
        if HEAL == "at-once":
            fault_sh("heal", kind)
        rs = rd = None
        while now() - t_fault < LIMIT_S:
            rs, rd = recovery(t_fault, senders, members)
            if rd is not None and now() - t_fault >= HOLD_S:
                break
            time.sleep(0.1)
        if HEAL != "at-once":
            fault_sh("heal", kind)
        time.sleep(SETTLE_S)
        stall = longest_stall(senders, t_fault, now())
        log("fault %s: sends recovered in %s s, deliveries in %s s, longest wait for an ack %.2f s"
            % (kind, fmt(rs), fmt(rd), stall))
        rows.append((kind, rs, rd, stall))
        if rd is None:
            failed.append("%s did not recover within %.0f s" % (kind, LIMIT_S))
            for m in members:
                with m.lock:
                    last = max(m.applied.values(), default=T0)
                log("  %s %s: %d connects, last applied at %.2f, holds %s, last error %s"
                    % (m.user.username, m.transport, m.connects, last - T0, m.held, m.last_error))
    senders_stop.set()
    for s in senders:
        s.thread.join(timeout=30)
    acked = {a[0]: (s.chat, a[1]) for s in senders for a in s.acked}
    deadline = now() + DRAIN_S
    lost = {}
    while True:
        lost = {}
        for m in members:
            with m.lock:
                missing = [i for i in acked if i not in m.applied]
            if missing:
                lost[m] = missing
        if not lost or now() > deadline:
            break
        time.sleep(0.2)
    stop_all.set()
    # What was stored: every client_msg_id once, every acknowledged id there.
    dups = missing_db = 0
    for s in senders:
        stored, after = {}, 0
        while True:
            r = request("GET", "/chats/%d/messages?after_seq=%d&limit=100" % (s.chat, after),
                        token=s.user.token, timeout=20)
            if r.status != 200:
                raise SystemExit("GET messages: %s" % r.describe())
            for msg in r.json["messages"]:
                if msg.get("client_msg_id"):
                    stored.setdefault(msg["client_msg_id"], []).append(msg["id"])
                after = msg["seq"]
            if not r.json["has_more_after"]:
                break
        dups += sum(len(v) - 1 for v in stored.values())
        missing_db += sum(1 for a in s.acked if a[0] not in stored.get(a[1], []))
    n_lost = sum(len(v) for v in lost.values())
    ooo = sum(m.out_of_order for m in members)
    print("\n  | fault | sends recovered (s) | deliveries recovered (s) | longest wait for an ack (s) |")
    print("  |---|---|---|---|")
    for kind, rs, rd, stall in rows:
        print("  | %s | %s | %s | %.2f |" % (kind, fmt(rs), fmt(rd), stall))
    print("\n  acknowledged %d messages in %d chats; members %d (%s)"
          % (len(acked), len(chats), len(members), ", ".join(m.transport for m in members)))
    print("  lost %d, stored twice %d, acknowledged but not stored %d, out of order %d"
          % (n_lost, dups, missing_db, ooo))
    print("  (harmless: repeated events %d, resyncs %d, events filled from /changes %d, connects %d, "
          "polls authenticated again after their stream's process died %d)"
          % (sum(m.raw_dups for m in members), sum(m.resyncs for m in members),
             sum(m.filled for m in members), sum(m.connects for m in members),
             sum(m.reauths for m in members)))
    for m, missing in lost.items():
        failed.append("%s (%s) never applied %d acknowledged messages, e.g. %s"
                      % (m.user.username, m.transport, len(missing), [acked[i] for i in missing[:3]]))
    if dups or missing_db:
        failed.append("stored twice %d, acknowledged but not stored %d" % (dups, missing_db))
    if ooo:
        failed.append("%d events out of order" % ooo)
    if not acked:
        failed.append("nothing was acknowledged")
    for f in failed:
        print("  FAIL " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
