#!/usr/bin/python3
"""Faults in the style of Jepsen: nothing acknowledged is lost, and every
client that follows the contract sees every message of its chats exactly
once, in order, whatever fails in between (API.md "Real-time events",
"Delivery guarantee"; "Chat versions and catch-up"; docs/DESIGN.md
"Continuity in chat-push", "Anti-entropy", "SIGTERM").

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=... CHAT_PORT=... \
     /usr/bin/python3 tests/integration/test_faults.py

The scenario (about 60-90 s):

- 6 users in 3 groups of 4; SENDERS threads post messages through the API
  with a client_msg_id and retry with the same client_msg_id on errors and
  timeouts until a 201 (each 201 is recorded: chat_id, seq, client_msg_id);
- 6 clients, two per transport (SSE with a reader of our own, long-poll,
  WebSocket with python3-websockets), each following the client's rules to
  the letter: durable events applied by (chat_id, version); on `resync`
  GET /chats?fields=id,version and /changes for what they are behind; on a
  version jump, the gap filled from /changes; reconnects with jittered
  exponential backoff resuming from the last cursor (a fresh ticket for SSE
  and WebSocket; the poll keeps its cursor, and takes a ticket when the
  cursor names no live stream any more: 401);
- meanwhile the faults, each more than once: chat-push SIGKILLed, Redis
  stopped (TERM) and killed (KILL), chat-api SIGKILLed while a sender's
  request is in flight, and chat-api with chat-push at once; after each,
  `./chatctl start` (with the environment the stack was started with) must
  bring the service back under a new PID, else the test fails: no fault is
  ever skipped silently.

Then the faults stop, senders finish, clients get CHAT_FAULTS_SETTLE_S
(15 s) to catch up on their own (the test never forces a resync), and:

- every acknowledged message is in history (GET /chats/{id}/messages) at its
  seq with its client_msg_id: `lost` must be 0; history has seqs 1..last_seq
  without a gap, and no client_msg_id twice (a retry never posts twice);
- every client holds, for each of its chats, every message of history once
  after dedupe by (chat_id, seq), in seq order, with the content history
  has: `undelivered`, `reordered` and `mismatched` must be 0.

It needs CHAT_HOME (the stack's run/<service>.pid files): without it the
test fails rather than skip its faults. It leaves the stack running and
healthy (checked with ./chatctl status and /api/v1/healthz) for the tests
that follow. CHAT_FAULTS_SECONDS sets the length of the fault phase.
"""

import asyncio
import collections
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, API_PREFIX, HOST, PORT, chat_home_path, create_group,  # noqa: E402
                     main, register, request)

import websockets  # noqa: E402

# Answers given while a service is being killed are not samples of the
# contract for tests/openapi/validate_responses.mjs: do not record them.
chatlib.CHAT_RECORD = None

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHATCTL = os.path.join(ROOT, "chatctl")
WS_URL = "ws://%s:%d%s/ws" % (HOST, PORT, API_PREFIX)
FAULT_SECONDS = float(os.environ.get("CHAT_FAULTS_SECONDS", "60"))
SETTLE_S = float(os.environ.get("CHAT_FAULTS_SETTLE_S", "15"))
SENDERS = int(os.environ.get("CHAT_FAULTS_SENDERS", "4"))
SEND_PAUSE = float(os.environ.get("CHAT_FAULTS_SEND_PAUSE", "0.06"))
ACK_DEADLINE = 90.0      # a sender retries one message at most this long
REQ_TIMEOUT = 5.0        # one API request
BINARIES = {"chat-push": "chat-push", "chat-api": "chat-api", "redis": "redis-server"}
TRANSIENT = (None, 429, 500, 502, 503, 504)

T0 = time.monotonic()


def now_rel():
    return time.monotonic() - T0


class FaultError(Exception):
    pass


class Backoff:
    """Jittered exponential backoff (API.md rule 5)."""

    def __init__(self, base=0.1, cap=3.0):
        self.base, self.cap, self.n = base, cap, 0
        self.rng = random.Random()

    def wait(self, stop, hint=None):
        d = min(self.cap, self.base * (2 ** self.n))
        self.n += 1
        d = self.rng.uniform(d / 2, d)
        if hint:
            d = max(d, min(hint, 5.0))
        stop.wait(d)

    def reset(self):
        self.n = 0


def retry_after(r):
    try:
        return float(r.header("Retry-After") or 0)
    except ValueError:
        return 0


# --------------------------------------------------------------------------
# the stack's services, by the PIDs chatctl recorded


def svc_pid(name):
    """The PID of a service if it runs and is what chatctl started, else None
    (a zombie has an empty cmdline, so it counts as gone)."""
    path = chat_home_path("run", name + ".pid")
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if BINARIES[name] in cmd else None


def chatctl(*args, timeout=120):
    return subprocess.run([CHATCTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, check=False)


def healthz_ok():
    r = request("GET", "/healthz", timeout=3, retry_429=False)
    return r.status == 200


def ensure_stack_healthy():
    """Start whatever is not running; then every service must run and
    /api/v1/healthz answer 200. Returns a list of problems (empty when fine)."""
    problems = []
    st = chatctl("status", timeout=30)
    if st.returncode != 0:
        r = chatctl("start")
        if r.returncode != 0:
            problems.append("chatctl start failed (%d): %s" % (r.returncode, r.stderr.strip()[-800:]))
        st = chatctl("status", timeout=30)
    if st.returncode != 0:
        problems.append("chatctl status: " + st.stdout.strip().replace("\n", "; "))
    deadline = time.monotonic() + 30
    while not healthz_ok():
        if time.monotonic() > deadline:
            problems.append("/api/v1/healthz does not answer 200")
            break
        time.sleep(0.2)
    return problems


# --------------------------------------------------------------------------
# API calls that retry what is transient


class Stopped(Exception):
    pass


def api_call(user, method, path, body=None, stop=None, deadline_s=60.0, what=""):
    """The answer's JSON after a 2xx; transient failures (connection errors,
    5xx, 429) are retried with backoff until deadline_s; any other answer
    raises AssertionError. Raises Stopped when stop is set."""
    bo = Backoff(0.05, 2.0)
    deadline = time.monotonic() + deadline_s
    ev = stop or threading.Event()
    while True:
        if stop is not None and stop.is_set():
            raise Stopped()
        r = request(method, path, body=body, token=user.token, timeout=REQ_TIMEOUT, retry_429=False)
        if r.status is not None and 200 <= r.status < 300:
            return r.json
        if r.status not in TRANSIENT:
            raise AssertionError("%s: unexpected answer: %s" % (what or path, r.describe()))
        if time.monotonic() > deadline:
            raise AssertionError("%s: still failing after %.0f s: %s" % (what or path, deadline_s,
                                                                        r.describe()))
        bo.wait(ev, retry_after(r) if r.status == 429 else None)


# --------------------------------------------------------------------------
# a client that follows the rules


class Follower:
    """State and rules shared by the three transports. Only its own thread
    (or, for WebSocket, the executor call its coroutine awaits) touches the
    state while it runs; the test reads it under the lock."""

    def __init__(self, name, transport, user, stop):
        self.name, self.transport, self.user = name, transport, user
        self.stop = stop
        self.lock = threading.RLock()
        self.held = {}          # chat_id -> version applied
        self.pending = {}       # chat_id -> {version: event} held after a jump
        self.order = {}         # chat_id -> [seq, ...] in the order applied
        self.applied_msgs = {}  # (chat_id, seq) -> message as applied
        self.raw_seen = set()   # (chat_id, seq) of every message.created received
        self.raw_msgs = 0       # message.created received, stream and /changes
        self.dup_applied = 0    # a (chat_id, seq) applied twice (never, by the rules)
        self.stats = collections.Counter()
        self.log = collections.deque(maxlen=4000)  # (wall time, rel time, text)
        self.errors = []
        self.thread = None
        self.conn_chat_last = {}  # per connection: chat -> last version the stream sent

    # -- diagnostics
    def note(self, text):
        self.log.append((time.time(), now_rel(), text))

    def error(self, text):
        self.note("ERROR " + text)
        self.errors.append(text)

    # -- the rules
    def new_connection(self):
        self.conn_chat_last = {}

    def on_event(self, ev):
        """Handle one stream event. Returns what to catch up: None, "all"
        or a chat id (after a resync for one chat, or a version jump)."""
        if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
            self.error("not an event object: %r" % (ev,))
            return None
        t = ev["type"]
        self.stats["events"] += 1
        if t == "resync":
            c = ev.get("chat_id")
            self.stats["resync_chat" if c is not None else "resync_all"] += 1
            self.note("resync %s" % ("chat %s" % c if c is not None else "all"))
            return c if c is not None else "all"
        if t in ("presence", "typing", "receipt"):
            self.stats["ephemeral"] += 1
            return None
        if "chat_id" not in ev or "version" not in ev:
            if t in ("chat.created", "chat.updated", "message.created", "message.updated",
                     "message.deleted", "member.joined", "member.left"):
                self.error("durable event without chat_id or version: %r" % ev)
            return None  # an unknown type: ignored (API grows by adding them)
        c, v = ev["chat_id"], ev["version"]
        last = self.conn_chat_last.get(c)
        if last is not None and v < last:
            self.stats["stream_backwards"] += 1  # informational: rule 3 absorbs it
        self.conn_chat_last[c] = v if last is None else max(v, last)
        return self.offer(ev, "stream")

    def offer(self, ev, via):
        c, v = ev["chat_id"], ev["version"]
        if ev.get("type") == "message.created":
            m = ev.get("message") or {}
            key = (c, m.get("seq"))
            self.raw_msgs += 1
            if key in self.raw_seen:
                self.stats["raw_dup_" + via] += 1
            self.raw_seen.add(key)
        with self.lock:
            h = self.held.get(c, 0)
            if v <= h:
                self.stats["ignored_" + via] += 1
                return None
            if v > h + 1:
                self.pending.setdefault(c, {})[v] = ev
                if via == "stream":
                    self.stats["jumps"] += 1
                    self.note("jump in chat %d: hold %d, got %d" % (c, h, v))
                return c
            self.apply(ev)
            p = self.pending.get(c)
            while p and (self.held.get(c, 0) + 1) in p:
                self.apply(p.pop(self.held[c] + 1))
            if p is not None:
                for old in [k for k in p if k <= self.held.get(c, 0)]:
                    del p[old]
            return c if p else None

    def apply(self, ev):
        c, v = ev["chat_id"], ev["version"]
        self.held[c] = v
        t = ev["type"]
        if t == "message.created":
            m = ev.get("message") or {}
            seq = m.get("seq")
            if (c, seq) in self.applied_msgs:
                self.dup_applied += 1
                return
            self.applied_msgs[(c, seq)] = m
            self.order.setdefault(c, []).append(seq)
        elif t == "member.left" and ev.get("user_id") == self.user.id:
            self.note("left chat %d: forgotten" % c)  # rule 4
            self.held.pop(c, None)
            self.pending.pop(c, None)

    def catch_up(self, what):
        """Rule 2 (what == "all") or a gap/resync of one chat."""
        if what == "all":
            versions = {}
            cursor = None
            while True:
                q = {"fields": "id,version", "order": "id", "limit": "200"}
                if cursor:
                    q["cursor"] = cursor
                j = api_call(self.user, "GET", "/chats?" + urllib.parse.urlencode(q), stop=self.stop,
                             what="%s GET /chats" % self.name)
                for ch in j["chats"]:
                    versions[ch["id"]] = ch["version"]
                cursor = j.get("next_cursor")
                if not cursor:
                    break
            self.stats["chats_lists"] += 1
            for c, v in sorted(versions.items()):
                if v > self.held.get(c, 0):
                    self.fill(c)
        else:
            self.fill(what)

    def fill(self, c):
        since = self.held.get(c, 0)
        n = 0
        while True:
            path = "/chats/%d/changes?since_version=%d&limit=200" % (c, since)
            r = None
            bo = Backoff(0.05, 2.0)
            while True:
                if self.stop.is_set():
                    raise Stopped()
                r = request("GET", path, token=self.user.token, timeout=REQ_TIMEOUT, retry_429=False)
                if r.status == 410:
                    self.error("chat %d: /changes since %d answered 410 version_expired" % (c, since))
                    return
                if r.status == 200:
                    break
                if r.status not in TRANSIENT:
                    raise AssertionError("%s: %s" % (self.name, r.describe()))
                bo.wait(self.stop, retry_after(r) if r.status == 429 else None)
            evs = r.json["events"]
            self.stats["changes_calls"] += 1
            for ev in evs:
                self.offer(ev, "changes")
                n += 1
            if not r.json.get("has_more") or not evs:
                break
            since = evs[-1]["version"]
        self.note("filled chat %d from %d: %d events, now %d" % (c, since, n, self.held.get(c, 0)))

    def handle(self, ev):
        """on_event plus the catch-up it asks for (synchronously)."""
        what = self.on_event(ev)
        if what is not None:
            self.catch_up(what)

    def ticket(self):
        j = api_call(self.user, "POST", "/stream/tickets", stop=self.stop, deadline_s=120,
                     what="%s ticket" % self.name)
        return j["ticket"]

    # -- running
    def start(self):
        self.thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self.thread.start()

    def _main(self):
        try:
            self.run()
        except Stopped:
            pass
        except Exception as e:  # noqa: BLE001 - a client that dies fails the test
            self.error("client died: %r\n%s" % (e, traceback.format_exc()))

    def interrupt(self):
        pass

    def drop(self):
        """A network fault on the client's side: its connection (or a poll's
        answer) is lost; it must resume from its last cursor."""

    def snapshot(self):
        with self.lock:
            return dict(self.held), {c: list(s) for c, s in self.order.items()}, dict(self.applied_msgs)


class SSEFollower(Follower):
    """GET /events with Accept: text/event-stream, parsed by hand; resumes
    with a fresh ticket and ?cursor=<last id>, as a browser must."""

    def __init__(self, *a):
        super().__init__(*a)
        self.conn = None

    def interrupt(self):
        c = self.conn
        if c is not None and c.sock is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        self.stats["drops"] += 1
        self.note("dropping the connection")
        self.interrupt()

    def run(self):
        cursor = None
        bo = Backoff()
        while not self.stop.is_set():
            q = {"ticket": self.ticket()}
            if cursor:
                q["cursor"] = cursor
            conn = http.client.HTTPConnection(HOST, PORT, timeout=45)  # heartbeat <= 20 s
            self.conn = conn
            reason = "eof"
            try:
                conn.request("GET", API_PREFIX + "/events?" + urllib.parse.urlencode(q),
                             headers={"Accept": "text/event-stream"})
                resp = conn.getresponse()
                if resp.status != 200:
                    body = resp.read()[:300]
                    self.stats["connect_failed"] += 1
                    self.note("connect %s -> %d %r" % ("resume" if cursor else "new", resp.status, body))
                    bo.wait(self.stop, retry_after_raw(resp))
                    continue
                self.stats["connects"] += 1
                self.new_connection()
                self.note("connected (%s)" % ("resume " + cursor if cursor else "new"))
                first = True
                etype, eid, data = None, None, []
                while not self.stop.is_set():
                    line = resp.readline()
                    if not line:
                        break
                    text = line.decode("utf-8").rstrip("\r\n")
                    if text == "":
                        if data:
                            try:
                                ev = json.loads("\n".join(data))
                            except ValueError:
                                self.error("SSE data is not JSON: %r" % data)
                                ev = None
                            if ev is not None:
                                if ev.get("type") != etype:
                                    self.error("SSE event: %r but data type %r" % (etype, ev.get("type")))
                                if first:
                                    first = False
                                    if cursor:
                                        self.stats["resumed" if ev.get("type") != "resync"
                                                   else "resume_refused"] += 1
                                    bo.reset()
                                self.handle(ev)
                                if eid:
                                    cursor = eid
                        etype, eid, data = None, None, []
                    elif text.startswith(":"):
                        continue
                    else:
                        field, value = chatlib.sse_field(text)
                        if field == "event":
                            etype = value
                        elif field == "data":
                            data.append(value)
                        elif field == "id":
                            eid = value
            except (OSError, http.client.HTTPException, ValueError) as e:
                reason = repr(e)
            finally:
                self.conn = None
                conn.close()
            if self.stop.is_set():
                break
            self.stats["disconnects"] += 1
            self.note("disconnected: %s" % reason)
            bo.wait(self.stop)


def retry_after_raw(resp):
    try:
        return float(resp.getheader("Retry-After") or 0)
    except ValueError:
        return 0


class PollFollower(Follower):
    """GET /poll?cursor=&timeout=; the cursor alone continues the stream; a
    401 (no live stream has it: chat-push restarted) takes a ticket."""

    lose_next = False

    def drop(self):
        self.stats["drops"] += 1
        self.lose_next = True

    def run(self):
        cursor = None
        need_ticket = True
        bo = Backoff()
        while not self.stop.is_set():
            q = {"timeout": "5"}
            if cursor:
                q["cursor"] = cursor
            if need_ticket or not cursor:
                q["ticket"] = self.ticket()
            r = request("GET", "/poll?" + urllib.parse.urlencode(q), timeout=20, retry_429=False)
            if r.status == 200 and self.lose_next and not need_ticket:
                self.lose_next = False  # this answer never reached the client
                self.note("poll answer lost (%d events); polling the same cursor again"
                          % len(r.json["events"]))
                continue
            if r.status == 200:
                evs = r.json["events"]
                if need_ticket:
                    self.stats["connects"] += 1
                    self.new_connection()
                    self.note("poll stream (%s) -> %s" % (
                        "resume " + cursor if cursor else "new",
                        evs[0]["type"] if evs else "empty"))
                    if cursor:
                        self.stats["resumed" if not evs or evs[0].get("type") != "resync"
                                   else "resume_refused"] += 1
                need_ticket = False
                bo.reset()
                for ev in evs:
                    self.handle(ev)
                cursor = r.json["cursor"]
                self.stats["polls"] += 1
            elif r.status == 401 and cursor:
                self.stats["poll_401"] += 1
                self.note("poll 401: cursor names no live stream; taking a ticket")
                need_ticket = True
            elif r.status in TRANSIENT:
                self.stats["poll_failed"] += 1
                self.note("poll failed: %s" % (r.status or r.error))
                bo.wait(self.stop, retry_after(r))
            else:
                raise AssertionError("%s: %s" % (self.name, r.describe()))


class WSFollower(Follower):
    """GET /ws with python3-websockets (asyncio); resumes with a fresh ticket
    and ?cursor=. /changes calls run in an executor the coroutine awaits."""

    ws = None
    loop = None

    def run(self):
        asyncio.run(self.amain())

    def drop(self):
        ws, loop = self.ws, self.loop
        if ws is not None and loop is not None:
            self.stats["drops"] += 1
            self.note("dropping the connection")
            try:
                loop.call_soon_threadsafe(ws.transport.abort)  # no close handshake
            except RuntimeError:
                pass

    async def amain(self):
        loop = asyncio.get_running_loop()
        self.loop = loop
        cursor = None
        bo = Backoff()
        while not self.stop.is_set():
            ticket = await loop.run_in_executor(None, self.ticket)
            url = WS_URL + "?ticket=" + ticket
            if cursor:
                url += "&cursor=" + urllib.parse.quote(cursor)
            reason = "closed"
            try:
                async with websockets.connect(url, open_timeout=10, close_timeout=2,
                                              max_size=2 ** 22) as ws:
                    self.ws = ws
                    self.stats["connects"] += 1
                    self.new_connection()
                    self.note("connected (%s)" % ("resume " + cursor if cursor else "new"))
                    first = True
                    while not self.stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 1.0)
                        except asyncio.TimeoutError:
                            continue
                        try:
                            f = json.loads(raw)
                        except ValueError:
                            self.error("WebSocket frame is not JSON: %r" % raw[:200])
                            continue
                        if "event" not in f:
                            continue  # replies to ops (none sent)
                        ev = f["event"]
                        if first:
                            first = False
                            if cursor:
                                self.stats["resumed" if ev.get("type") != "resync"
                                           else "resume_refused"] += 1
                            bo.reset()
                        what = self.on_event(ev)
                        if what is not None:
                            await loop.run_in_executor(None, self.catch_up, what)
                        if f.get("cursor"):
                            cursor = f["cursor"]
                    reason = "stopping"
            except websockets.exceptions.ConnectionClosed as e:
                reason = "closed %s %s" % (e.code, e.reason)
            except websockets.exceptions.InvalidStatusCode as e:
                reason = "handshake %s" % e.status_code
                self.stats["connect_failed"] += 1
            except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake) as e:
                reason = repr(e)
                self.stats["connect_failed"] += 1
            finally:
                self.ws = None
            if self.stop.is_set():
                break
            self.stats["disconnects"] += 1
            self.note("disconnected: %s" % reason)
            await loop.run_in_executor(None, bo.wait, self.stop)


# --------------------------------------------------------------------------
# senders


class Senders:
    def __init__(self, chats, members, n):
        self.chats, self.members = chats, members
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acks = []          # (chat_id, seq, client_msg_id, content, sender_id, version)
        self.unacked = []       # (chat_id, client_msg_id, last answer)
        self.errors = []
        self.inflight = 0
        self.attempts = 0
        self.retries = 0
        self.replayed = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]

    def start(self):
        for t in self.threads:
            t.start()

    def _run(self, i):
        rng = random.Random()
        k = 0
        try:
            while not self.stop.is_set():
                c = rng.choice(self.chats)
                u = rng.choice(self.members[c])
                cmid = "ft-%d-%d-%s" % (i, k, uuid.uuid4().hex[:12])
                k += 1
                self.post(u, c, "fault test %s" % cmid, cmid)
                time.sleep(rng.uniform(0, 2 * SEND_PAUSE))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append("sender %d died: %r\n%s" % (i, e, traceback.format_exc()))

    def post(self, user, chat_id, content, cmid):
        body = {"content": content, "client_msg_id": cmid}
        bo = Backoff(0.05, 1.0)
        deadline = time.monotonic() + ACK_DEADLINE
        never = threading.Event()
        first = True
        while True:
            with self.lock:
                self.inflight += 1
                self.attempts += 1
                if not first:
                    self.retries += 1
            first = False
            try:
                r = request("POST", "/chats/%d/messages" % chat_id, body=body, token=user.token,
                            timeout=REQ_TIMEOUT, retry_429=False)
            finally:
                with self.lock:
                    self.inflight -= 1
            if r.status == 201:
                m = r.json
                ok = (isinstance(m, dict) and m.get("chat_id") == chat_id and
                      m.get("client_msg_id") == cmid and m.get("content") == content and
                      m.get("sender_id") == user.id)
                if not ok:
                    self.errors.append("201 with another message: " + r.describe())
                with self.lock:
                    self.acks.append((chat_id, m.get("seq"), cmid, content, user.id, m.get("version")))
                    if r.header("Idempotent-Replayed") == "true":
                        self.replayed += 1
                return
            retriable = r.status in TRANSIENT or (
                r.status == 409 and isinstance(r.json, dict) and
                (r.json.get("error") or {}).get("code") == "idempotency_in_progress")
            if not retriable:
                self.errors.append("post failed for good: " + r.describe())
                with self.lock:
                    self.unacked.append((chat_id, cmid, r.describe()))
                return
            if time.monotonic() > deadline:
                with self.lock:
                    self.unacked.append((chat_id, cmid, r.describe()))
                return
            bo.wait(never, retry_after(r) if r.status == 429 else None)


# --------------------------------------------------------------------------
# faults


class Faults:
    PLAN = [
        (("chat-push",), signal.SIGKILL),
        (("redis",), signal.SIGTERM),
        (("chat-api",), signal.SIGKILL),
        (("chat-push",), signal.SIGKILL),
        (("redis",), signal.SIGKILL),
        (("chat-api",), signal.SIGKILL),
        (("chat-api", "chat-push"), signal.SIGKILL),
    ]

    def __init__(self, senders, seconds, pids):
        self.senders = senders
        self.seconds = seconds
        self.done = threading.Event()
        self.timeline = []   # text lines
        self.errors = []
        self.crashes = []
        self.pids = dict(pids)
        self.abort = threading.Event()
        self.count = collections.Counter()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def watch(self):
        """A service that died (or changed PID) without being killed here is a
        crash: recorded (the test fails) and restarted, so the scenario goes
        on and still counts what was lost."""
        for n in BINARIES:
            cur, was = svc_pid(n), self.pids.get(n)
            if was is not None and cur != was:
                msg = "%s (pid %s) died on its own by t=%.1fs, not killed by the test" % (n, was, now_rel())
                self.crashes.append(msg + "; its log ends:\n" + tail(chat_home_path("log", n + ".log"), 8))
                self.timeline.append("  t=%5.1fs CRASH %s" % (now_rel(), msg))
                if cur is None:
                    r = chatctl("start")
                    if r.returncode != 0:
                        raise FaultError("chatctl start after a crash of %s failed (%d): %s" % (
                            n, r.returncode, r.stderr.strip()[-1500:]))
                    cur = svc_pid(n)
            self.pids[n] = cur

    def _run(self):
        try:
            self.watch()
            gap = self.seconds / (len(self.PLAN) + 1)
            t_start = time.monotonic()
            for i, (names, sig) in enumerate(self.PLAN):
                at = t_start + gap * (i + 1) + random.uniform(-gap / 4, gap / 4)
                while time.monotonic() < at and not self.abort.is_set():
                    time.sleep(0.05)
                    self.watch()
                if self.abort.is_set():
                    return
                self.watch()
                self.inject(names, sig)
                self.watch()
            while time.monotonic() < t_start + self.seconds and not self.abort.is_set():
                time.sleep(0.05)
                self.watch()
        except FaultError as e:
            self.errors.append(str(e))
        except Exception as e:  # noqa: BLE001
            self.errors.append("fault thread died: %r\n%s" % (e, traceback.format_exc()))
        finally:
            self.done.set()

    def inject(self, names, sig):
        old = {}
        for n in names:
            pid = svc_pid(n)
            if pid is None:  # watch() has just seen it running
                raise FaultError("%s is not running before its fault (%s)" % (n, chatctl("status").stdout))
            old[n] = pid
        mid_request = None
        if "chat-api" in names:
            # SIGKILL it in the middle of a sender's request
            wait_until = time.monotonic() + 3
            while self.senders.inflight == 0 and time.monotonic() < wait_until:
                time.sleep(0.001)
            mid_request = self.senders.inflight
        t_kill = now_rel()
        for n in names:
            os.kill(old[n], sig)  # the service this stack runs, by its recorded PID
        for n in names:
            deadline = time.monotonic() + 15
            while svc_pid(n) == old[n]:
                if time.monotonic() > deadline:
                    raise FaultError("%s (pid %d) did not die from %s" % (n, old[n], sig.name))
                time.sleep(0.02)
        time.sleep(random.uniform(0.5, 2.0))  # down for a while
        t_start = now_rel()
        r = chatctl("start")
        if r.returncode != 0:
            raise FaultError("chatctl start after %s %s failed (%d): %s" % (
                sig.name, "+".join(names), r.returncode, r.stderr.strip()[-1500:]))
        for n in names:
            pid = svc_pid(n)
            if pid is None or pid == old[n]:
                raise FaultError("chatctl start did not restart %s (pid %s, was %d)" % (n, pid, old[n]))
            self.pids[n] = pid
            self.count[n] += 1
        self.timeline.append("  t=%5.1fs %s %s (pid %s)%s; chatctl start at %.1fs, up at %.1fs" % (
            t_kill, sig.name, "+".join(names), ",".join(str(old[n]) for n in names),
            " with %d requests in flight" % mid_request if mid_request is not None else "",
            t_start, now_rel()))


class ClientDrops:
    """Network faults on the clients' side during the fault phase: in turn,
    each client loses its connection (SSE, WebSocket) or a poll's answer."""

    def __init__(self, followers, until):
        self.followers, self.until = followers, until
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.count = 0

    def start(self):
        self.thread.start()

    def _run(self):
        rng = random.Random()
        while True:
            order = list(self.followers)
            rng.shuffle(order)
            for f in order:
                if time.monotonic() + 1 > self.until:
                    return
                time.sleep(rng.uniform(1.0, 3.0))
                f.drop()
                self.count += 1


# --------------------------------------------------------------------------


def all_history(user, chat_id):
    msgs = []
    after = 0
    while True:
        j = api_call(user, "GET", "/chats/%d/messages?after_seq=%d&limit=200" % (chat_id, after))
        msgs += j["messages"]
        if not j.get("has_more_after") or not j["messages"]:
            return msgs
        after = j["messages"][-1]["seq"]


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("    " + ln for ln in lines[-n:])
    except OSError as e:
        return "    (%s)" % e


class FaultTest(ApiTestCase):
    def test_faults_lose_nothing(self):
        if not chat_home_path():
            self.fail("CHAT_HOME is not set: this test kills the stack's services by the PIDs in "
                      "$CHAT_HOME/run and restarts them with ./chatctl start (same environment)")
        problems = ensure_stack_healthy()
        self.assertEqual(problems, [], "the stack is not healthy before the faults")
        for n in BINARIES:
            self.assertIsNotNone(svc_pid(n), "%s has no live PID in $CHAT_HOME/run" % n)
        self.pids0 = {n: svc_pid(n) for n in BINARIES}
        self.stoppers = []
        try:
            self.scenario()
        finally:
            for stop in reversed(self.stoppers):  # on failure too: no thread goes on
                stop()
            problems = ensure_stack_healthy()
            st = chatctl("status", timeout=30)
            print("  after the test: chatctl status rc=%d; %s" % (
                st.returncode, st.stdout.strip().replace("\n", "; ")))
        self.assertEqual(problems, [], "the stack must be left running and healthy")

    def scenario(self):
        users = [register("ft%d" % i) for i in range(6)]
        groups = [(0, 1, 2, 3), (2, 3, 4, 5), (4, 5, 0, 1)]
        chats, members = [], {}
        for gi, g in enumerate(groups):
            ch = create_group(users[g[0]], [users[k] for k in g[1:]], title="faults %d" % gi)
            chats.append(ch["id"])
            members[ch["id"]] = [users[k] for k in g]
        user_chats = {u.id: [c for c in chats if u in members[c]] for u in users}

        stop_clients = threading.Event()
        kinds = [SSEFollower, PollFollower, WSFollower]
        followers = [kinds[i % 3]("client%d-%s" % (i, kinds[i % 3].__name__[:-8].lower()),
                                  kinds[i % 3].__name__[:-8].lower(), users[i], stop_clients)
                     for i in range(6)]
        def stop_followers():
            stop_clients.set()
            for f in followers:
                f.interrupt()
            for f in followers:
                if f.thread is not None:
                    f.thread.join(30)
        self.stoppers.append(stop_followers)
        for f in followers:
            f.start()
        # every client has had its first resync and caught up
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(all(f.held.get(c, 0) >= 1 for c in user_chats[f.user.id]) for f in followers):
                break
            time.sleep(0.05)
        for f in followers:
            self.assertEqual(f.errors, [], f.name)
            self.assertTrue(all(f.held.get(c, 0) >= 1 for c in user_chats[f.user.id]),
                            "%s did not get going: %r %s" % (f.name, f.held, list(f.log)[-10:]))

        senders = Senders(chats, members, SENDERS)
        faults = Faults(senders, FAULT_SECONDS, self.pids0)
        drops = ClientDrops(followers, time.monotonic() + FAULT_SECONDS)

        def stop_faults():
            faults.abort.set()
            drops.until = 0
            senders.stop.set()
            faults.thread.join(150)
            for t in senders.threads:
                t.join(ACK_DEADLINE + 30)
        self.stoppers.append(stop_faults)
        t_begin = now_rel()
        senders.start()
        faults.start()
        drops.start()
        faults.done.wait(FAULT_SECONDS + 600)
        t_faults_end = now_rel()
        senders.stop.set()
        for t in senders.threads:
            t.join(ACK_DEADLINE + 30)
        t_senders_end = now_rel()
        self.assertEqual(faults.errors, [], "a fault could not be injected or recovered from:\n%s"
                         % "\n".join(faults.timeline))
        problems = ensure_stack_healthy()
        self.assertEqual(problems, [], "the stack did not come back after the faults")

        truth = {}
        for c in chats:
            ch = api_call(members[c][0], "GET", "/chats/%d" % c)
            truth[c] = (ch["version"], ch["last_seq"])

        # clients catch up on their own
        settle_deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < settle_deadline:
            if all(f.held.get(c, 0) >= truth[c][0] for f in followers for c in user_chats[f.user.id]):
                break
            time.sleep(0.1)
        t_settled = now_rel()
        stop_followers()
        faults.watch()  # crashes while clients settled

        # ---- the checks
        history = {c: all_history(members[c][0], c) for c in chats}
        by_seq = {c: {m["seq"]: m for m in history[c]} for c in chats}
        report = []
        lost = []
        for (c, seq, cmid, content, sender, version) in senders.acks:
            m = by_seq[c].get(seq)
            if m is None or m.get("client_msg_id") != cmid or m.get("content") != content or \
                    m.get("sender_id") != sender:
                lost.append("chat %d seq %s client_msg_id %s: history has %r" % (c, seq, cmid, m))
        history_gaps = []
        double_posted = []
        for c in chats:
            seqs = [m["seq"] for m in history[c]]
            if seqs != list(range(1, len(seqs) + 1)) or (seqs and seqs[-1] != truth[c][1]):
                history_gaps.append("chat %d: history seqs %s..%s (%d of them), last_seq %d" % (
                    c, seqs[:1], seqs[-1:], len(seqs), truth[c][1]))
            cm = collections.Counter(m.get("client_msg_id") for m in history[c]
                                     if m.get("client_msg_id"))
            double_posted += ["chat %d client_msg_id %s x%d" % (c, k, n) for k, n in cm.items() if n > 1]

        undelivered, reordered, mismatched, behind = [], [], [], []
        dup_raw = 0
        for f in followers:
            held, order, applied = f.snapshot()
            dup_raw += f.raw_msgs - len(f.raw_seen)
            for c in user_chats[f.user.id]:
                if held.get(c, 0) != truth[c][0]:
                    behind.append("%s (%s, user %d) chat %d: holds version %d, server %d; pending %s" % (
                        f.name, f.transport, f.user.id, c, held.get(c, 0), truth[c][0],
                        sorted(f.pending.get(c, {}))[:10]))
                seqs = order.get(c, [])
                for i in range(1, len(seqs)):
                    if seqs[i] <= seqs[i - 1]:
                        reordered.append("%s (%s) chat %d: seq %d after %d" % (
                            f.name, f.transport, c, seqs[i], seqs[i - 1]))
                got = set(seqs)
                for m in history[c]:
                    if m["seq"] not in got:
                        undelivered.append((f, c, m))
                        continue
                    a = applied[(c, m["seq"])]
                    for k in ("id", "version", "client_msg_id", "content", "sender_id"):
                        if a.get(k) != m.get(k):
                            mismatched.append("%s (%s) chat %d seq %d: %s %r, history %r" % (
                                f.name, f.transport, c, m["seq"], k, a.get(k), m.get(k)))
                            break
                extra = got - set(by_seq[c])
                if extra:
                    mismatched.append("%s (%s) chat %d holds seqs history lacks: %s" % (
                        f.name, f.transport, c, sorted(extra)[:10]))

        errors = senders.errors + [e for f in followers for e in f.errors]
        crashes = faults.crashes
        print("\n  faults (%.0f s from t=%.1fs):" % (FAULT_SECONDS, t_begin))
        print("\n".join(faults.timeline))
        print("  client-side drops: %d" % drops.count)
        print("  senders stopped at t=%.1fs (faults ended %.1fs); clients settled at t=%.1fs" % (
            t_senders_end, t_faults_end, t_settled))
        print("  messages: acknowledged %d (attempts %d, retries %d, replayed 201s %d), unacked %d; "
              "chats at %s" % (len(senders.acks), senders.attempts, senders.retries, senders.replayed,
                               len(senders.unacked),
                               ", ".join("%d: v%d/seq%d" % (c, v, s) for c, (v, s) in truth.items())))
        for f in followers:
            s = f.stats
            print("  %-14s connects %d (resumed %d, resume refused %d), failed connects/polls %d, "
                  "poll 401 %d, drops %d, resync all %d / chat %d, jumps %d, /changes %d, events %d, "
                  "raw dups stream %d changes %d, backwards %d" % (
                      f.name, s["connects"], s["resumed"], s["resume_refused"],
                      s["connect_failed"] + s["poll_failed"], s["poll_401"], s["drops"],
                      s["resync_all"], s["resync_chat"], s["jumps"], s["changes_calls"], s["events"],
                      s["raw_dup_stream"], s["raw_dup_changes"], s["stream_backwards"]))
        print("  RESULT: acknowledged %d, lost %d, undelivered %d, reordered %d, mismatched %d, "
              "clients behind %d, duplicates before dedupe %d, history gaps %d, double-posted %d, "
              "unacked %d, crashes %d, errors %d" % (
                  len(senders.acks), len(lost), len(undelivered), len(reordered), len(mismatched),
                  len(behind), dup_raw, len(history_gaps), len(double_posted), len(senders.unacked),
                  len(crashes), len(errors)))

        if undelivered:
            for f, c, m in undelivered[:15]:
                report.append("UNDELIVERED: %s (%s, user %d) chat %d seq %d version %d created %s "
                              "client_msg_id %s" % (f.name, f.transport, f.user.id, c, m["seq"],
                                                    m["version"], m["created_at"], m.get("client_msg_id")))
            shown = set()
            for f, c, m in undelivered:
                if f.name in shown:
                    continue
                shown.add(f.name)
                report.append("  log of %s (last 40):\n%s" % (f.name, "\n".join(
                    "    %8.2fs %s" % (rel, text) for _, rel, text in list(f.log)[-40:])))
        for label, items in (("LOST", lost), ("REORDERED", reordered), ("MISMATCHED", mismatched),
                             ("BEHIND", behind), ("HISTORY GAP", history_gaps),
                             ("DOUBLE-POSTED", double_posted),
                             ("UNACKED", ["chat %d %s: %s" % u for u in senders.unacked]),
                             ("CRASH", crashes),
                             ("ERROR", errors)):
            report += ["%s: %s" % (label, x) for x in items[:15]]
        if report:
            report.append("chat-push log tail:\n" + tail(chat_home_path("log", "chat-push.log")))
            report.append("chat-api log tail:\n" + tail(chat_home_path("log", "chat-api.log")))
            print("\n".join(report))

        self.assertGreater(len(senders.acks), 100, "too few messages acknowledged to mean anything")
        self.assertEqual(sum(faults.count.values()), sum(len(n) for n, _ in Faults.PLAN),
                         "every planned fault must have happened")
        self.assertEqual(errors, [])
        for kind in ("sse", "ws"):
            self.assertGreater(sum(f.stats["resumed"] for f in followers if f.transport == kind), 0,
                               "no %s client ever resumed from its cursor (API.md: a stream's "
                               "events stay replayable 120 s after a disconnect)" % kind)
        self.assertEqual(senders.unacked, [], "messages never acknowledged within %.0f s" % ACK_DEADLINE)
        self.assertEqual(len(lost), 0, "acknowledged messages lost")
        self.assertEqual(history_gaps, [])
        self.assertEqual(double_posted, [], "a retry with the same client_msg_id posted twice")
        self.assertEqual(len(undelivered), 0, "messages a client never got")
        self.assertEqual(len(reordered), 0, "messages a client got out of order")
        self.assertEqual(mismatched, [])
        self.assertEqual(behind, [], "clients that did not catch up within %.0f s" % SETTLE_S)
        self.assertEqual(crashes, [], "services that crashed without being killed")


if __name__ == "__main__":
    main()
