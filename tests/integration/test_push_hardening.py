#!/usr/bin/python3
"""chat-push hardening (issue 11): a stream ticket of an API token does not
outlive the token, on every transport and on every way back in by cursor;
every answer of /events, /poll and /ws carries X-RateLimit-* (API.md
"Conventions"), and /ws without an upgrade is 426 with `Upgrade: websocket`.

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_push_hardening.py

Everything goes through nginx, like a client: SSE on /events (curl), long-poll
on /poll and WebSocket on /ws (raw sockets: a handshake answered 401 is what
is checked, which a WebSocket library hides).
"""

import base64
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, API_PREFIX, API_URL, HOST, PORT, SSEStream, api_token,  # noqa: E402
                     chat_home_path, create_direct, main, post_message, psql, register, request,
                     stream_ticket)


def ticket_of(token):
    r = request("POST", "/stream/tickets", token=token)
    if r.status != 201:
        raise AssertionError("stream ticket failed: " + r.describe())
    return r.json["ticket"]


def get(path, query=None, headers=None, timeout=15):
    """GET API_PREFIX + path through nginx: (status, headers dict, json or None)."""
    url = API_PREFIX + path + ("?" + urllib.parse.urlencode(query) if query else "")
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        c.request("GET", url, headers=headers or {})
        r = c.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        # an open stream: its headers are the answer, the body never ends
        raw = b"" if hdrs.get("content-type", "").startswith("text/event-stream") else r.read()
    finally:
        c.close()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return r.status, hdrs, body


def poll(query, timeout=15):
    return get("/poll", query, timeout=timeout)


def ws_handshake(query, headers=()):
    """A WebSocket upgrade on /ws through nginx: (status, head bytes, socket).
    The caller closes the socket."""
    s = socket.create_connection((HOST, PORT), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s/ws?%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
           % (API_PREFIX, urllib.parse.urlencode(query), HOST, PORT, key,
              "".join(h + "\r\n" for h in headers)))
    s.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    line = head.split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else None), head, s


def ws_read_json(s, buf, timeout=5.0):
    """The next text frame from the server as JSON, skipping pings: (obj, rest)."""
    deadline = time.monotonic() + timeout
    while True:
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                break
            op, payload, buf = buf[0] & 0x0F, buf[off:off + n], buf[off + n:]
            if op == 0x1:
                return json.loads(payload), buf
            if op == 0x8:
                return {"close": int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005}, buf
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no WebSocket frame within %.0f s" % timeout)
        s.settimeout(left)
        chunk = s.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk


def ws_frame(opcode, payload):
    key = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | opcode, 0x80 | n]) if n < 126 else \
        bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


class TicketOfRevokedTokenTest(ApiTestCase):
    """A ticket taken with an API token before DELETE /tokens/{id} opens
    nothing after it (API.md "Auth": a ticket carries the credential that
    minted it)."""

    def setUp(self):
        self.u = register("phu")
        self.v = register("phv")
        self.cid = create_direct(self.u, self.v)["id"]
        self.tok = api_token(self.u, ["events:read", "chats:read"])
        self.socks = []
        self.streams = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        for s in self.streams:
            s.close()

    def revoke(self):
        self.assertStatus(self.u.req("DELETE", "/tokens/%d" % self.tok["id"]), 204)

    def sse(self, query, headers=()):
        s = SSEStream(API_URL + "/events?" + urllib.parse.urlencode(query), headers=headers)
        self.streams.append(s)
        return s

    def assert_401(self, st, body, what):
        self.assertEqual(st, 401, "%s: %r" % (what, body))
        self.assertEqual((body or {}).get("error", {}).get("code"), "unauthorized", what)

    # -- redeeming a ticket minted before the revoke --

    def test_sse_ticket_of_revoked_token_is_refused(self):
        t = ticket_of(self.tok["token"])
        self.revoke()
        st, _, body = get("/events", {"ticket": t})
        self.assert_401(st, body, "SSE with a revoked API token's ticket")

    def test_poll_ticket_of_revoked_token_is_refused(self):
        t = ticket_of(self.tok["token"])
        self.revoke()
        st, _, body = poll({"ticket": t, "timeout": "1"})
        self.assert_401(st, body, "long-poll with a revoked API token's ticket")

    def test_ws_ticket_of_revoked_token_is_refused(self):
        t = ticket_of(self.tok["token"])
        self.revoke()
        st, head, s = ws_handshake({"ticket": t})
        self.socks.append(s)
        self.assertEqual(st, 401, head)

    def test_ticket_of_live_token_still_works(self):
        # the check must not refuse what is allowed
        st, _, body = poll({"ticket": ticket_of(self.tok["token"]), "timeout": "20"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["events"][0]["type"], "resync")

    # -- resuming by cursor a stream the token opened --

    def poll_stream(self):
        st, _, body = poll({"ticket": ticket_of(self.tok["token"]), "timeout": "20"})
        self.assertEqual(st, 200, body)
        return body["cursor"]

    def test_poll_cursor_after_revoke_is_refused(self):
        cur = self.poll_stream()
        self.revoke()
        st, _, body = poll({"cursor": cur, "timeout": "1"})
        self.assert_401(st, body, "long-poll cursor of a revoked API token's stream")

    def test_poll_cursor_after_revoke_without_the_event_is_refused(self):
        # The doorbell can be lost (Redis down while chat-api revoked): the
        # revocation in PostgreSQL alone must stop the cursor.
        cur = self.poll_stream()
        st, _, body = poll({"cursor": cur, "timeout": "1"})
        self.assertEqual(st, 200, body)
        cur = body["cursor"]
        psql("UPDATE api_tokens SET revoked_at = now() WHERE id = %d" % self.tok["id"])
        st, _, body = poll({"cursor": cur, "timeout": "1"})
        self.assert_401(st, body, "long-poll cursor once the token row is revoked")

    def test_poll_cursor_of_live_token_resumes(self):
        cur = self.poll_stream()
        post_message(self.v, self.cid, "by cursor")
        st, _, body = poll({"cursor": cur, "timeout": "5"})
        self.assertEqual(st, 200, body)
        self.assertIn("by cursor", json.dumps(body))

    def sse_cursor(self):
        s = self.sse({"ticket": ticket_of(self.tok["token"])})
        self.assertEqual(s.status(), 200, s.dump())
        _, ev = s.wait_for(lambda e: e.type == "resync", timeout=5)
        self.assertIsNotNone(ev, s.dump())
        self.assertTrue(ev.id, s.dump())
        return s, ev.id

    def test_sse_cursor_with_ticket_of_revoked_token_is_refused(self):
        s, cur = self.sse_cursor()
        spares = [ticket_of(self.tok["token"]) for _ in range(2)]
        s.close()
        self.revoke()
        st, _, body = get("/events", {"ticket": spares[0], "cursor": cur})
        self.assert_401(st, body, "SSE resume (?cursor=) with a revoked API token's ticket")
        st, _, body = get("/events", {"ticket": spares[1]}, {"Last-Event-ID": cur})
        self.assert_401(st, body, "SSE resume (Last-Event-ID) with a revoked API token's ticket")

    def test_sse_resume_with_revoked_token_ticket_cannot_take_a_live_stream(self):
        # A session's stream is live; a ticket of the user's revoked API
        # token, with that stream's cursor, must not take it over.
        s = self.sse({"ticket": stream_ticket(self.u)})
        self.assertEqual(s.status(), 200, s.dump())
        _, ev = s.wait_for(lambda e: e.type == "resync", timeout=5)
        spare = ticket_of(self.tok["token"])
        self.revoke()
        st, _, body = get("/events", {"ticket": spare}, {"Last-Event-ID": ev.id})
        self.assert_401(st, body, "SSE resume of a session's stream with a revoked token's ticket")
        post_message(self.v, self.cid, "session stream lives")
        _, got = s.wait_for(lambda e: e.type == "message.created", timeout=5)
        self.assertIsNotNone(got, "the session's stream was taken over:\n" + s.dump())

    def test_ws_cursor_with_ticket_of_revoked_token_is_refused(self):
        st, head, s = ws_handshake({"ticket": ticket_of(self.tok["token"])})
        self.socks.append(s)
        self.assertEqual(st, 101, head)
        first, _ = ws_read_json(s, head.split(b"\r\n\r\n", 1)[1])
        cur = first["cursor"]
        spare = ticket_of(self.tok["token"])
        s.close()
        self.revoke()
        st, head, s2 = ws_handshake({"ticket": spare, "cursor": cur})
        self.socks.append(s2)
        self.assertEqual(st, 401, head)

    def test_ws_resume_op_stream_answers_to_the_connections_token(self):
        # A WebSocket of the API token resumes (op resume) a stream that a
        # session opened: revoking the token must then close that WebSocket.
        st, _, body = poll({"ticket": stream_ticket(self.u), "timeout": "20"})
        self.assertEqual(st, 200, body)
        st, head, s = ws_handshake({"ticket": ticket_of(self.tok["token"])})
        self.socks.append(s)
        self.assertEqual(st, 101, head)
        buf = head.split(b"\r\n\r\n", 1)[1]
        _, buf = ws_read_json(s, buf)
        s.sendall(ws_frame(0x1, json.dumps({"op": "resume", "id": 1, "cursor": body["cursor"]}).encode()))
        while True:
            f, buf = ws_read_json(s, buf)
            if f and f.get("op") == "ack":
                break
        self.assertEqual(f["result"], {"resumed": True}, f)
        self.revoke()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            f, buf = ws_read_json(s, buf, timeout=deadline - time.monotonic())
            if f is None or "close" in f:
                break
        self.assertEqual(f, {"close": 4001}, "the WebSocket of a revoked token stays open")


RATE = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def head_headers(head):
    """Lower-case header dict of a raw HTTP response head."""
    out = {}
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, sep, v = line.decode("latin-1").partition(":")
        if sep:
            out[k.strip().lower()] = v.strip()
    return out


class StreamContractTest(ApiTestCase):
    """What Prism found: chat-push's answers lacked X-RateLimit-* (openapi.yaml
    marks them required on every answer), and /ws without Upgrade was a 426
    without `Upgrade` (RFC 9110 §15.5.22) and with the code invalid_request."""

    def setUp(self):
        self.u = register("phr")
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()

    def assertRate(self, hdrs, what):
        """The three headers, as non-negative integers, Remaining <= Limit."""
        vals = {}
        for h in RATE:
            v = hdrs.get(h)  # a dict of lower-case names, or http.client's headers
            self.assertIsNotNone(v, "%s lacks %s: %r" % (what, h, dict(hdrs)))
            self.assertRegex(v, r"^[0-9]+$", "%s: %s" % (what, h))
            vals[h] = int(v)
        self.assertLessEqual(vals["x-ratelimit-remaining"], vals["x-ratelimit-limit"], what)
        self.assertGreater(vals["x-ratelimit-limit"], 0, what)
        return vals

    def test_poll_answers_carry_rate_headers(self):
        r = request("GET", "/poll?timeout=20&ticket=" + stream_ticket(self.u))
        self.assertStatus(r, 200)
        self.assertRate(r.headers, "poll 200")
        r = request("GET", "/poll?timeout=abc&ticket=" + stream_ticket(self.u))
        self.assertError(r, 400, "invalid_request")
        self.assertRate(r.headers, "poll 400")
        r = request("GET", "/poll?timeout=1")
        self.assertError(r, 401, "unauthorized")
        self.assertRate(r.headers, "poll 401")
        r = request("GET", "/poll?cursor=1.2.3.4")
        self.assertError(r, 401, "unauthorized")
        self.assertRate(r.headers, "poll 401 (cursor)")

    def test_events_answers_carry_rate_headers(self):
        r = request("GET", "/events", headers={"Accept": "text/event-stream"})
        self.assertError(r, 401, "unauthorized")
        self.assertRate(r.headers, "events 401")
        r = request("GET", "/events?ticket=" + "ab" * 32, headers={"Accept": "text/event-stream"})
        self.assertError(r, 401, "unauthorized")
        self.assertRate(r.headers, "events 401 (spent ticket)")
        st, hdrs, _ = get("/events", {"ticket": stream_ticket(self.u)},
                          {"Accept": "text/event-stream"})
        self.assertEqual(st, 200)
        self.assertRate(hdrs, "events 200")

    def test_remaining_counts_open_streams(self):
        # the limit is the cap on streams open at once from one address
        before = self.assertRate(request("GET", "/poll").headers, "poll 401")
        st, head, s = ws_handshake({"ticket": stream_ticket(self.u)})
        self.socks.append(s)
        self.assertEqual(st, 101, head)
        self.assertRate(head_headers(head), "ws 101")
        during = self.assertRate(request("GET", "/poll").headers, "poll 401")
        self.assertEqual(during["x-ratelimit-limit"], before["x-ratelimit-limit"])
        self.assertEqual(during["x-ratelimit-remaining"], before["x-ratelimit-remaining"] - 1,
                         "an open WebSocket takes one place: %r then %r" % (before, during))

    def test_ws_without_upgrade_is_426_with_upgrade_header(self):
        r = request("GET", "/ws?ticket=" + stream_ticket(self.u))
        self.assertError(r, 426, "upgrade_required")
        self.assertEqual((r.header("Upgrade") or "").lower(), "websocket", r.describe())
        self.assertRate(r.headers, "ws 426")

    def test_ws_errors_carry_rate_headers(self):
        st, head, s = ws_handshake({"ticket": "ab" * 32})
        self.socks.append(s)
        self.assertEqual(st, 401, head)
        self.assertRate(head_headers(head), "ws 401")
        st, head, s = ws_handshake({"ticket": stream_ticket(self.u)}, headers=("Origin: https://evil.example",))
        self.socks.append(s)
        self.assertEqual(st, 403, head)
        self.assertRate(head_headers(head), "ws 403")


PUSH_PORTS = {  # chat-push's own ports, as chatctl derives them
    "SSE": int(os.environ.get("CHAT_PUSH_PORT") or PORT + 1),
    "WebSocket": int(os.environ.get("CHAT_PUSH_WS_PORT") or PORT + 5),
    "long-poll": int(os.environ.get("CHAT_PUSH_POLL_PORT") or PORT + 6),
}


class SlowHeadersTest(ApiTestCase):
    """chat-push's own ports close a connection whose request headers are not
    complete 10 s after it was accepted, however slowly it trickles in
    (libmicrohttpd's idle timeout restarts on every byte)."""

    INTERVAL = 3.0   # one header line this often: never idle long enough for MHD's timeout
    LIMIT = 12.0     # the 10 s deadline, plus chat-push's once-a-second check and slack

    def slowloris(self, port, path, out):
        s = socket.create_connection(("127.0.0.1", port), timeout=self.LIMIT + 10)
        t0 = time.monotonic()
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path).encode())
            i = 0
            while time.monotonic() - t0 < self.LIMIT + 8:
                s.settimeout(self.INTERVAL)
                try:
                    if s.recv(4096) == b"":
                        break
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    break
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                except (BrokenPipeError, ConnectionResetError):
                    break
                i += 1
            out[port] = time.monotonic() - t0
        finally:
            s.close()

    def test_slow_headers_are_cut_on_every_push_port(self):
        import threading
        out = {}
        paths = {"SSE": "/api/v1/events", "WebSocket": "/api/v1/ws", "long-poll": "/api/v1/poll"}
        threads = [threading.Thread(target=self.slowloris, args=(port, paths[name], out))
                   for name, port in PUSH_PORTS.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, port in PUSH_PORTS.items():
            self.assertIn(port, out, name)
            self.assertLess(out[port], self.LIMIT,
                            "%s port %d held a slow request %.1f s" % (name, port, out[port]))
            self.assertGreater(out[port], 9.0, "%s port closed before the deadline" % name)

    def test_complete_request_is_not_cut(self):
        # a stream whose headers came in time lives past the deadline
        s = socket.create_connection(("127.0.0.1", PUSH_PORTS["SSE"]), timeout=20)
        try:
            s.sendall(("GET /api/v1/events?ticket=%s HTTP/1.1\r\nHost: x\r\n"
                       "Accept: text/event-stream\r\n\r\n" % stream_ticket(register("phs"))).encode())
            s.settimeout(5)
            self.assertIn(b" 200 ", s.recv(4096))
            t0 = time.monotonic()
            s.settimeout(1)
            while time.monotonic() - t0 < 11:
                try:
                    self.assertNotEqual(s.recv(4096), b"", "the stream was closed")
                except socket.timeout:
                    pass
        finally:
            s.close()

    def test_abandoned_requests_do_not_flood_the_log(self):
        log = chat_home_path("log", "chat-push.log")
        if not log or not os.path.exists(log):
            self.skipTest("no CHAT_HOME log")
        with open(log, "rb") as f:
            f.seek(0, 2)
            start = f.tell()
        # Abandoned requests for a little longer than one 10 s window, so a
        # line passes even if an earlier test's abandoned request used the
        # window in which this test starts.
        sent = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10.5:
            for name, port in PUSH_PORTS.items():
                for _ in range(7):
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n")
                    s.close()
                    sent += 1
            time.sleep(0.5)
        time.sleep(1)
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        lines = [l for l in text.splitlines() if "incomplete request" in l]
        self.assertGreaterEqual(len(lines), 1, "the first one is logged:\n" + text[-2000:])
        self.assertLessEqual(len(lines), 2, "%d abandoned requests in 11 s gave %d log lines:\n%s"
                             % (sent, len(lines), "\n".join(lines[:10])))


if __name__ == "__main__":
    main()
