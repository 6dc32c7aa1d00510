#!/usr/bin/python3
"""nginx in front (conf/nginx.conf.in), against the suite's stack (plain HTTP):

- Security headers on every answer: static files, the index fallback,
  chat-api's answers, chat-push's streams (/events, /poll, /ws), nginx's
  own errors (400, 404, 405, 413, 414, 431) and the 503 of @unavailable:
  X-Content-Type-Options nosniff, Referrer-Policy no-referrer, and a
  Content-Security-Policy that is www/index.html's meta policy plus
  frame-ancestors 'none'. No Strict-Transport-Security without TLS
  (test_tls.py checks it with TLS).
- nginx's own errors carry API.md's JSON envelope: 400 invalid_request
  (NUL in the path, a malformed request line), 414 uri_too_long, 431
  header_too_large (nginx's 494), 405 method_not_allowed, 404 not_found.
- Logs: no query string in the access log (a ticket, a cursor, a search
  term sent on every transport never appears in any file of $CHAT_HOME/log);
  the log directory 0750 and every log file 0640 or stricter, the service
  user's.
- www/: gzip with Accept-Encoding for html, css and js (with Vary), never on
  /events; Cache-Control no-cache with ETag and Last-Modified, 304 on
  If-None-Match and If-Modified-Since.
"""
import http.client
import json
import os
import re
import socket
import stat
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, create_direct, post_message, register, request, stream_ticket  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def meta_csp():
    with open(os.path.join(ROOT, "www", "index.html"), encoding="utf-8") as f:
        m = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', f.read())
    return m.group(1)


CSP = meta_csp() + "; frame-ancestors 'none'"


def raw(data, timeout=10):
    """Bytes sent as they are on a fresh connection: (status, headers dict, body)."""
    s = socket.create_connection((chatlib.HOST, chatlib.PORT), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def get(path, headers=None, method="GET"):
    c = http.client.HTTPConnection(chatlib.HOST, chatlib.PORT, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def nginx_errors():
    """(what, raw answer) of requests that nginx itself refuses."""
    api = chatlib.API_PREFIX
    yield "400 NUL", raw(b"GET " + api.encode() + b"/chats/%00 HTTP/1.1\r\nHost: x\r\n\r\n")
    yield "400 request line", raw(b"GET /api/v1/x y z\r\nHost: x\r\n\r\n")
    yield "400 no Host", raw(b"GET /api/v1/healthz HTTP/1.1\r\n\r\n")
    yield "414", raw(b"GET " + api.encode() + b"/" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    yield "431", raw(b"GET " + api.encode() + b"/healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                     + b"b" * 20000 + b"\r\n\r\n")
    yield "405", raw(b"POST /style.css HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    yield "404", raw(b"GET /.chat-error/404 HTTP/1.1\r\nHost: x\r\n\r\n")


class HeadersTest(ApiTestCase):
    def assertSecurityHeaders(self, hdrs, what):
        h = {k.lower(): v for k, v in hdrs.items()}
        self.assertEqual(h.get("x-content-type-options"), "nosniff", what)
        self.assertEqual(h.get("referrer-policy"), "no-referrer", what)
        self.assertEqual(h.get("content-security-policy"), CSP, what)
        self.assertNotIn("strict-transport-security", h, what + ": HSTS without TLS")

    def test_static_and_api_answers(self):
        for path in ("/", "/index.html", "/app.js", "/style.css", "/no/such/page"):
            st, hdrs, _ = get(path)
            self.assertEqual(st, 200, path)
            self.assertSecurityHeaders(hdrs, path)
        u = register("hdr")
        for r in (request("GET", "/healthz"), u.req("GET", "/users/me"),
                  request("GET", "/users/me"), u.req("GET", "/chats/999999999")):
            self.assertIn(r.status, (200, 401, 404), r.describe())
            self.assertSecurityHeaders(r.headers, r.describe())

    def test_stream_answers(self):
        u = register("hdrs")
        s = chatlib.open_stream(u)
        try:
            self.assertEqual(s.status(), 200, s.dump())
            self.assertSecurityHeaders(s.response_headers(), "/events")
        finally:
            s.close()
        r = request("GET", "/poll?timeout=1&ticket=" + stream_ticket(u))
        self.assertStatus(r, 200)
        self.assertSecurityHeaders(r.headers, "/poll")
        r = request("GET", "/poll?cursor=nonsense")
        self.assertSecurityHeaders(r.headers, "/poll 4xx " + r.describe())
        st, hdrs, _ = raw(("GET %s/ws?ticket=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n"
                           % (chatlib.API_PREFIX, stream_ticket(u))).encode(), timeout=2)
        self.assertEqual(st, 101)
        self.assertSecurityHeaders(hdrs, "/ws 101")

    def test_error_answers(self):
        for what, (st, hdrs, _) in nginx_errors():
            self.assertSecurityHeaders(hdrs, what)
        r = request("POST", "/auth/login", raw=b"x" * (70 * 1024))
        self.assertError(r, 413, "payload_too_large")
        self.assertSecurityHeaders(r.headers, "413")

class JsonErrorsTest(ApiTestCase):
    WANT = {"400 NUL": (400, "invalid_request"), "400 request line": (400, "invalid_request"),
            "400 no Host": (400, "invalid_request"), "414": (414, "uri_too_long"),
            "431": (431, "header_too_large"), "405": (405, "method_not_allowed"),
            "404": (404, "not_found")}

    def test_nginx_errors_are_json(self):
        for what, (st, hdrs, body) in nginx_errors():
            status, code = self.WANT[what]
            self.assertEqual(st, status, "%s: %s %r" % (what, st, body[:200]))
            self.assertTrue(hdrs.get("content-type", "").startswith("application/json"),
                            "%s: %s %r" % (what, hdrs.get("content-type"), body[:200]))
            err = json.loads(body)["error"]
            self.assertEqual(err["code"], code, what)
            self.assertTrue(err["message"], what)

    def test_chat_api_errors_pass_through(self):
        # nginx's error pages never replace chat-api's own answers
        r = request("GET", "/no/such/endpoint")
        self.assertError(r, 404, "not_found")
        self.assertEqual(r.json["error"]["message"], "no such endpoint")


class LogsTest(ApiTestCase):
    def test_no_query_in_any_log(self):
        a, b = register("logq"), register("logq")
        cid = create_direct(a, b)["id"]
        secrets = []
        t = stream_ticket(a)
        secrets.append(t)
        s = chatlib.SSEStream(chatlib.API_URL + "/events?ticket=" + t)
        try:
            self.assertEqual(s.status(), 200, s.dump())
        finally:
            s.close()
        t = stream_ticket(a)
        secrets.append(t)
        r = request("GET", "/poll?timeout=1&ticket=" + t)
        self.assertStatus(r, 200)
        secrets.append(r.json["cursor"])
        post_message(b, cid, "for the cursor")
        r = request("GET", "/poll?timeout=1&cursor=" + urllib.parse.quote(r.json["cursor"]))
        self.assertStatus(r, 200)
        secrets.append(r.json["cursor"])
        t = stream_ticket(a)
        secrets.append(t)
        st, _, _ = raw(("GET %s/ws?ticket=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (chatlib.API_PREFIX, t)).encode(),
                       timeout=2)
        self.assertEqual(st, 101)
        # spent and unknown credentials too (refused: chat-push logs refusals)
        for q in ("ticket=" + secrets[0], "cursor=" + urllib.parse.quote(secrets[2]) + "x",
                  "ticket=deadbeefdeadbeefdeadbeef0123456789"):
            request("GET", "/poll?timeout=1&" + q)
            request("GET", "/events?" + q)
        secrets.append("deadbeefdeadbeefdeadbeef0123456789")
        search = "secretsearchterm" + chatlib.rand_suffix()
        self.assertStatus(a.req("GET", "/search?q=" + search), 200)
        secrets.append(search)
        # a malformed request carrying one (nginx's own 400, its error log)
        raw(("GET %s/poll?cursor=%s%%00 HTTP/1.1\r\nHost: x\r\n\r\n"
             % (chatlib.API_PREFIX, secrets[2])).encode())
        time.sleep(1.5)  # the access log's buffer flushes within 1 s
        logdir = chatlib.chat_home_path("log")
        hits = []
        n = 0
        for name in sorted(os.listdir(logdir)):
            with open(os.path.join(logdir, name), "rb") as f:
                text = f.read()
            n += text.count(b"/api/v1/poll")
            for sec in secrets:
                if sec.encode() in text:
                    hits.append("%s holds %s" % (name, sec))
        self.assertEqual(hits, [])
        self.assertGreater(n, 0, "the access log records the polls (without their query)")
        with open(os.path.join(logdir, "nginx-access.log"), encoding="utf-8",
                  errors="replace") as f:
            lines = f.read().splitlines()
        self.assertTrue(any('"GET %s/poll? HTTP/1.1" 200' % chatlib.API_PREFIX in ln
                            for ln in lines), lines[-10:])

    def test_log_modes(self):
        logdir = chatlib.chat_home_path("log")
        st = os.stat(logdir)
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o027, 0, "log dir %o" % st.st_mode)
        names = os.listdir(logdir)
        for want in ("nginx-access.log", "nginx-error.log", "chat-api.log", "chat-push.log",
                     "chat-notify.log", "postgres.log", "redis.log"):
            self.assertIn(want, names)
        for name in names:
            f = os.stat(os.path.join(logdir, name))
            self.assertEqual(stat.S_IMODE(f.st_mode) & 0o137, 0,
                             "%s is %o" % (name, stat.S_IMODE(f.st_mode)))
            self.assertEqual(f.st_uid, st.st_uid, "%s: the service user's" % name)


class StaticTest(ApiTestCase):
    def test_gzip_for_text_files(self):
        for path, ctype in (("/", "text/html"), ("/app.js", "javascript"),
                            ("/style.css", "text/css"), ("/api.js", "javascript")):
            st, hdrs, body = get(path, {"Accept-Encoding": "gzip"})
            self.assertEqual(st, 200, path)
            self.assertIn(ctype, hdrs["Content-Type"], path)
            self.assertEqual(hdrs.get("Content-Encoding"), "gzip", path)
            self.assertIn("Accept-Encoding", hdrs.get("Vary", ""), path)
            import gzip
            self.assertTrue(gzip.decompress(body), path)
            st, hdrs, _ = get(path)
            self.assertIsNone(hdrs.get("Content-Encoding"), path + " without Accept-Encoding")

    def test_no_gzip_on_streams_or_api(self):
        u = register("gz")
        s = chatlib.SSEStream(chatlib.API_URL + "/events?ticket=" + stream_ticket(u),
                              headers=("Accept-Encoding: gzip",))
        try:
            self.assertEqual(s.status(), 200, s.dump())
            h = s.response_headers()
            self.assertIn("text/event-stream", h.get("content-type", ""))
            self.assertNotIn("content-encoding", h)
            self.assertIsNotNone(s.wait_for(lambda e: e.type == "resync", timeout=5)[1], s.dump())
        finally:
            s.close()
        r = request("GET", "/poll?timeout=1&ticket=" + stream_ticket(u),
                    headers={"Accept-Encoding": "gzip"})
        self.assertStatus(r, 200)
        self.assertIsNone(r.header("Content-Encoding"))
        r = u.req("GET", "/chats", headers={"Accept-Encoding": "gzip"})
        self.assertStatus(r, 200)
        self.assertIsNone(r.header("Content-Encoding"), "API answers are not compressed")

    def test_cache_control_and_revalidation(self):
        for path in ("/", "/index.html", "/app.js", "/style.css", "/stream.js"):
            for enc in ({}, {"Accept-Encoding": "gzip"}):
                st, hdrs, _ = get(path, enc)
                self.assertEqual(st, 200)
                self.assertEqual(hdrs.get("Cache-Control"), "no-cache", path)
                etag, lm = hdrs.get("ETag"), hdrs.get("Last-Modified")
                self.assertTrue(etag and lm, path)
                st, hdrs2, body = get(path, dict(enc, **{"If-None-Match": etag}))
                self.assertEqual(st, 304, "%s %s If-None-Match %s" % (path, enc, etag))
                self.assertEqual(body, b"")
                self.assertEqual(hdrs2.get("Cache-Control"), "no-cache")
                st, _, _ = get(path, dict(enc, **{"If-Modified-Since": lm}))
                self.assertEqual(st, 304, path)
                st, _, _ = get(path, dict(enc, **{"If-None-Match": '"other"'}))
                self.assertEqual(st, 200, path)
        # API answers keep chat-api's own Cache-Control
        r = request("GET", "/healthz")
        self.assertEqual(r.header("Cache-Control"), "no-store")


if __name__ == "__main__":
    chatlib.main()
