#!/usr/bin/python3
"""Hostile input (API.md "Conventions"; DESIGN.md "Security decisions"):
SQL-injection strings in every text field are stored and returned verbatim
and do nothing else; CR/LF can neither split a response header nor forge a
log line; invalid UTF-8 is 400; JSON deeper than 32 is 400; a body over
64 KiB is 413 with the JSON error shape.

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=/path/to/stack/home \
     /usr/bin/python3 tests/integration/test_hostile.py
(CHAT_HOME is where the logs are: $CHAT_HOME/log/*.log.)

Assumptions where API.md is silent:
- Single-line fields (display_name, title, token name, client_msg_id) may
  refuse CR/LF with 400 invalid_request or store them verbatim; message
  content keeps inner line breaks verbatim (it is multi-line text).
- A login with a username that breaks the username rules answers 400 or
  401 invalid_credentials, never anything else.
- A JSON string escape that decodes to no valid UTF-8 (a lone surrogate,
  "\\ud800") is "not valid UTF-8 JSON": 400.
"""

import json
import os
import re
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, register, request, create_direct, create_group,  # noqa: E402
                     post_message, history, api_token, uname, DEFAULT_PASSWORD, HOST, PORT,
                     API_PREFIX)

INJECTIONS = [
    "'; DROP TABLE messages; --",
    "\" OR 1=1 --",
    "' OR '1'='1",
    "\\x27",
    "\x27",
    "''",
    "\\'; SELECT pg_sleep(3); --",
    "1); DELETE FROM users; --",
    "' UNION SELECT password_hash FROM users --",
    "'||(SELECT version())||'",
    "\u2019 OR \u20181\u2019=\u20181",          # curly quotes
    "\u02bc; DROP TABLE chats; --",              # modifier letter apostrophe
    "\uff07 OR 1=1 --",                         # fullwidth apostrophe
    "\u201d; DROP TABLE users; --",             # right double quotation mark
    "$$; DROP TABLE users; $$",
    "$1 $2 :name ?",
    "%' OR '%'='",
    "\\",
    "\\\\'",
    "admin'--",
    "NULL",
    "null",
    "%s%s%s%n%x",
    "{{7*7}} ${7*7}",
    "<script>alert(1)</script>",
    "\U0001F600'\U0001F600",
]


def nested(depth, inner=1):
    v = inner
    for _ in range(depth):
        v = [v]
    return v


def raw_http(data, timeout=15):
    """Send raw bytes on one connection; return (status, headers dict, body)."""
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
        resp = b"".join(chunks)
    finally:
        s.close()
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    if "chunked" in ",".join(hdrs.get("transfer-encoding", [])).lower():
        out, rest = b"", body
        while rest:
            size_s, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_s.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, hdrs, body


class InjectionTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("inja"), register("injb")
        cls.cid = create_direct(cls.a, cls.b)["id"]

    def assertIntact(self):
        """The tables are there and hold what they should."""
        r = history(self.a, self.cid, limit=200)
        self.assertStatus(r, 200)
        r = self.a.req("GET", "/users?q=" + self.a.username)
        self.assertStatus(r, 200)
        self.assertIn(self.a.id, [u["id"] for u in r.json["users"]])
        r = request("POST", "/auth/login", {"username": self.b.username, "password": self.b.password})
        self.assertStatus(r, 200)
        self.assertStatus(self.a.req("GET", "/chats"), 200)

    def test_display_name(self):
        u = register("injd")
        for s in INJECTIONS:
            r = u.req("PATCH", "/users/me", {"display_name": s})
            self.assertStatus(r, 200, "display_name %r" % s)
            me = u.req("GET", "/users/me")
            self.assertEqual(me.json["display_name"], s, me.describe())
            other = self.a.req("GET", "/users/%d" % u.id)
            self.assertStatus(other, 200)
            self.assertEqual(other.json["display_name"], s)
        # at registration too
        for s in INJECTIONS[:6]:
            r = request("POST", "/auth/register", {"username": uname("injr"), "password": DEFAULT_PASSWORD,
                                                   "display_name": s})
            self.assertStatus(r, 201, "display_name %r" % s)
            self.assertEqual(r.json["user"]["display_name"], s)
        self.assertIntact()

    def test_title(self):
        for s in INJECTIONS:
            r = self.a.req("POST", "/chats", {"type": "group", "title": s, "member_ids": [self.b.id]})
            self.assertStatus(r, 201, "title %r" % s)
            self.assertEqual(r.json["title"], s)
            gid = r.json["id"]
            self.assertEqual(self.b.req("GET", "/chats/%d" % gid).json["title"], s)
            t2 = s + " 2"
            r = self.a.req("PATCH", "/chats/%d" % gid, {"title": t2})
            self.assertStatus(r, 200, "title %r" % t2)
            self.assertEqual(self.b.req("GET", "/chats/%d" % gid).json["title"], t2)
        self.assertIntact()

    def test_content_and_search(self):
        before = history(self.a, self.cid, limit=200).json["messages"]
        sent = []
        for s in INJECTIONS:
            t0 = time.monotonic()
            r = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": s})
            self.assertLess(time.monotonic() - t0, 2.5, "took long: pg_sleep ran? %r" % s)
            self.assertStatus(r, 201, "content %r" % s)
            self.assertEqual(r.json["content"], s)
            sent.append(r.json)
        after = history(self.b, self.cid, limit=200).json["messages"]
        self.assertEqual(len(after), len(before) + len(INJECTIONS), "exactly one message per send")
        self.assertEqual([m["content"] for m in after[len(before):]], INJECTIONS)
        self.assertEqual([m["seq"] for m in after], list(range(1, len(after) + 1)))
        # edit with injections too
        for m, s in zip(sent[:5], reversed(INJECTIONS)):
            r = self.a.req("PATCH", "/chats/%d/messages/%d" % (self.cid, m["seq"]), {"content": s})
            self.assertStatus(r, 200)
            self.assertEqual(r.json["content"], s)
        # every injection as a search query: an answer, never an error, and only a's chats
        for s in INJECTIONS:
            t0 = time.monotonic()
            r = self.a.req("GET", "/search?" + urllib.parse.urlencode({"q": s}))
            self.assertLess(time.monotonic() - t0, 2.5, "took long: pg_sleep ran? %r" % s)
            self.assertStatus(r, 200, "q %r" % s)
            for m in r.json["messages"]:
                self.assertEqual(m["chat_id"], self.cid)
        # the word search still works on the stored text
        i = INJECTIONS.index("\u02bc; DROP TABLE chats; --")   # not among the edited ones
        r = self.a.req("GET", "/search?" + urllib.parse.urlencode({"q": "DROP TABLE chats"}))
        self.assertStatus(r, 200)
        self.assertIn(sent[i]["id"], [m["id"] for m in r.json["messages"]])
        self.assertIntact()

    def test_client_msg_id_and_idempotency_key(self):
        for s in INJECTIONS:
            r1 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "cm", "client_msg_id": s})
            self.assertStatus(r1, 201, "client_msg_id %r" % s)
            self.assertEqual(r1.json["client_msg_id"], s)
            r2 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "cm", "client_msg_id": s})
            self.assertStatus(r2, 201)
            self.assertEqual(r2.header("Idempotent-Replayed"), "true", r2.describe())
            self.assertEqual(r2.json["id"], r1.json["id"])
        # header-borne keys (only printable ASCII fits in a header)
        for s in [x for x in INJECTIONS if all(32 <= ord(ch) < 127 for ch in x)][:8]:
            body = {"type": "group", "title": "idem", "member_ids": []}
            r1 = self.b.req("POST", "/chats", body, headers={"Idempotency-Key": s})
            self.assertStatus(r1, 201, "Idempotency-Key %r" % s)
            r2 = self.b.req("POST", "/chats", body, headers={"Idempotency-Key": s})
            self.assertStatus(r2, 201)
            self.assertEqual(r2.header("Idempotent-Replayed"), "true", r2.describe())
            self.assertEqual(r2.json["id"], r1.json["id"])
        self.assertIntact()

    def test_token_name(self):
        u = register("injt")
        made = []
        for s in INJECTIONS:
            t = u.req("POST", "/tokens", {"name": s, "scopes": ["chats:read"]})
            self.assertStatus(t, 201, "token name %r" % s)
            self.assertEqual(t.json["name"], s)
            made.append(t.json["id"])
        r = u.req("GET", "/tokens")
        self.assertEqual({x["id"]: x["name"] for x in r.json["tokens"]}, dict(zip(made, INJECTIONS)))
        self.assertIntact()

    def test_username_where_allowed(self):
        for s in INJECTIONS:
            if re.match(r"^[A-Za-z0-9_.-]{3,32}$", s):
                continue  # "NULL", "null": valid names, not injections there
            r = request("POST", "/auth/register", {"username": s, "password": DEFAULT_PASSWORD})
            self.assertError(r, 400, "invalid_request", "username %r" % s)
            r = request("POST", "/auth/login", {"username": s, "password": DEFAULT_PASSWORD})
            self.assertIn(r.status, (400, 401), r.describe())
            self.assertError(r, r.status, "invalid_request" if r.status == 400 else "invalid_credentials")
            # the user search takes any prefix and finds nobody through it
            r = self.a.req("GET", "/users?" + urllib.parse.urlencode({"q": s}))
            self.assertIn(r.status, (200, 400), r.describe())
            if r.status == 200:
                self.assertEqual(r.json["users"], [], "q %r" % s)
        # a real user's name with an injection tail finds nobody either
        r = self.a.req("GET", "/users?" + urllib.parse.urlencode({"q": self.b.username + "' OR '1'='1"}))
        self.assertIn(r.status, (200, 400), r.describe())
        if r.status == 200:
            self.assertEqual(r.json["users"], [])
        self.assertIntact()

    def test_ids_and_query_parameters(self):
        paths = ["/chats/%d%%27%%20OR%%201=1" % self.cid, "/chats/%d;DROP%%20TABLE%%20chats" % self.cid,
                 "/chats/%27", "/chats/1%20OR%201=1/messages", "/users/1%27--",
                 "/chats/%d/messages/1%%27" % self.cid]
        for p in paths:
            r = self.a.req("GET", p)
            self.assertError(r, (400, 404), msg=p)
        for q in ("limit=1%20OR%201=1", "before_seq=1;DROP%20TABLE%20messages", "after_seq=%27",
                  "around_seq=1e3", "limit=1%27"):
            r = self.a.req("GET", "/chats/%d/messages?%s" % (self.cid, q))
            self.assertError(r, 400, "invalid_request", q)
        for q in ("cursor=%27%20OR%201=1", "limit=%22", "order=id;DROP", "fields=id,version;DROP"):
            r = self.a.req("GET", "/chats?" + q)
            self.assertIn(r.status, (200, 400), r.describe())
            if r.status == 400:
                self.assertError(r, 400, "invalid_request")
        for body in ({"content": "x", "reply_to_seq": "1 OR 1=1"}, {"seq": "1; DROP TABLE chats"}):
            path = "/chats/%d/%s" % (self.cid, "messages" if "content" in body else "read")
            r = self.a.req("POST", path, body)
            self.assertError(r, 400, "invalid_request", repr(body))
        r = self.a.req("POST", "/chats", {"type": "group' OR '1'='1", "title": "t", "member_ids": []})
        self.assertError(r, 400, "invalid_request")
        r = self.a.req("POST", "/chats", {"type": "direct", "member_ids": ["1 OR 1=1"]})
        self.assertError(r, 400, "invalid_request")
        self.assertIntact()


class CrlfTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.marker = "FORGED" + chatlib.rand_suffix(8).upper()
        cls.inj = "x\r\n%s level=error forged line\r\nX-Injected-%s: yes\nSet-Cookie: s=1" % (
            cls.marker, cls.marker)
        cls.a, cls.b = register("crla"), register("crlb")
        cls.cid = create_direct(cls.a, cls.b)["id"]
        cls.results = []

    def assertCleanHeaders(self, r):
        if r.headers is None:
            self.fail("no answer: " + r.describe())
        for k, v in r.headers.items():
            self.assertNotIn(self.marker.lower(), k.lower(), "a header was forged: " + r.describe())
            self.assertNotIn("\r", v)
            self.assertNotIn("\n", v)
            self.assertNotIn(self.marker, v, "input reached a header: " + r.describe())
        self.assertIsNone(r.header("Set-Cookie"), "a header was forged: " + r.describe())
        self.assertIsNone(r.header("X-Injected-" + self.marker))

    def single_line(self, r, get_value, what):
        self.assertCleanHeaders(r)
        if r.status == 400:
            self.assertError(r, 400, "invalid_request", what)
        else:
            self.assertIn(r.status, (200, 201), r.describe())
            self.assertEqual(get_value(), self.inj, what)

    def test_fields(self):
        a, inj = self.a, self.inj
        r = a.req("PATCH", "/users/me", {"display_name": inj[:60]})
        self.assertCleanHeaders(r)
        if r.status != 400:
            self.assertStatus(r, 200)
            self.assertEqual(a.req("GET", "/users/me").json["display_name"], inj[:60])
        else:
            self.assertError(r, 400, "invalid_request")
        r = a.req("POST", "/chats", {"type": "group", "title": inj, "member_ids": []})
        self.single_line(r, lambda: a.req("GET", "/chats/%d" % r.json["id"]).json["title"], "title")
        r = a.req("POST", "/tokens", {"name": inj[:60], "scopes": ["chats:read"]})
        self.assertCleanHeaders(r)
        self.assertIn(r.status, (201, 400), r.describe())
        if r.status == 201:
            self.assertEqual(r.json["name"], inj[:60])
        r = a.req("POST", "/chats/%d/messages" % self.cid, {"content": "cm", "client_msg_id": inj})
        self.single_line(r, lambda: r.json["client_msg_id"], "client_msg_id")
        # message content is multi-line text: kept verbatim
        content = "start " + inj + " end"
        r = a.req("POST", "/chats/%d/messages" % self.cid, {"content": content})
        self.assertCleanHeaders(r)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["content"], content)
        h = history(self.b, self.cid, limit=200)
        self.assertCleanHeaders(h)
        self.assertIn(content, [m["content"] for m in h.json["messages"]])
        # queries, paths and login names
        for path in ("/search?" + urllib.parse.urlencode({"q": inj}),
                     "/users?" + urllib.parse.urlencode({"q": inj}),
                     "/chats/%d%%0d%%0aX-Injected-%s:%%20yes" % (self.cid, self.marker),
                     "/chats/%d/messages?before_seq=%%0d%%0a%s" % (self.cid, self.marker)):
            r = a.req("GET", path)
            self.assertCleanHeaders(r)
            self.assertIn(r.status, (200, 400, 404), r.describe())
        r = request("POST", "/auth/login", {"username": inj, "password": inj})
        self.assertCleanHeaders(r)
        self.assertIn(r.status, (400, 401), r.describe())
        r = request("POST", "/auth/register", {"username": inj, "password": DEFAULT_PASSWORD})
        self.assertCleanHeaders(r)
        self.assertError(r, 400, "invalid_request")
        r = request("POST", "/auth/refresh", {"refresh_token": inj})
        self.assertCleanHeaders(r)
        self.assertIn(r.status, (400, 401), r.describe())
        # raw bytes: a header value cannot carry a bare CR through to an answer
        st, hdrs, _ = raw_http(("GET %s/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                "User-Agent: ua\r%s: yes\r\nConnection: close\r\n\r\n"
                                % (API_PREFIX, a.token, self.marker)).encode())
        self.assertNotIn(self.marker.lower(), hdrs, "raw CR in a request header echoed as a header")

    def test_zz_no_forged_log_lines(self):
        # runs after test_fields (alphabetical): every injected request is in
        log_dir = chatlib.chat_home_path("log")
        if log_dir is None:
            self.fail("CHAT_HOME is not set (tests/run.sh sets it): the logs cannot be checked")
        # a username holding the marker (lower case, so valid): chat-api logs registrations,
        # which proves we read the log of the stack under test
        proof = register(self.marker.lower()[:14])
        time.sleep(1.5)  # nginx flushes its access log every second
        names = [n for n in ("chat-api.log", "nginx-access.log", "nginx-error.log", "chat-push.log")
                 if os.path.exists(os.path.join(log_dir, n))]
        self.assertIn("chat-api.log", names, "no chat-api.log in %s" % log_dir)
        seen_proof = False
        bad = []
        for n in names:
            with open(os.path.join(log_dir, n), "rb") as f:
                for ln in f.read().decode("utf-8", "replace").split("\n"):
                    if proof.username in ln:
                        seen_proof = True
                    s = ln.lstrip()
                    if s.startswith(self.marker) or s.startswith("X-Injected-" + self.marker) \
                            or s.startswith("Set-Cookie: s=1"):
                        bad.append("%s: %r" % (n, ln[:300]))
        self.assertTrue(seen_proof, "the registration of %s is not in %s: wrong CHAT_HOME?"
                        % (proof.username, log_dir))
        self.assertEqual(bad, [], "injected text starts a log line")


class Utf8Test(ApiTestCase):

    BAD = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
           b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"ab\xe2\x82", b"\xe2\x82\xe2\x82\xac"]

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("utfa"), register("utfb")
        cls.cid = create_direct(cls.a, cls.b)["id"]
        post_message(cls.a, cls.cid, "the first")

    def test_invalid_utf8_is_400(self):
        a = self.a
        before = history(a, self.cid, limit=200).json["messages"]
        me = a.req("GET", "/users/me").json
        chats = [c["id"] for c in a.req("GET", "/chats?order=id").json["chats"]]
        for bad in self.BAD:
            cases = [
                ("POST", "/chats/%d/messages" % self.cid, b'{"content": "hi ' + bad + b' there"}'),
                ("POST", "/chats/%d/messages" % self.cid, b'{"content": "ok", "client_msg_id": "' + bad + b'"}'),
                ("PATCH", "/users/me", b'{"display_name": "' + bad + b'"}'),
                ("POST", "/chats", b'{"type": "group", "title": "' + bad + b'", "member_ids": []}'),
                ("POST", "/tokens", b'{"name": "' + bad + b'", "scopes": ["chats:read"]}'),
                ("POST", "/chats/%d/messages" % self.cid, b'{"content": "x", "k' + bad + b'": 1}'),
            ]
            if before:
                cases.append(("PATCH", "/chats/%d/messages/1" % self.cid, b'{"content": "' + bad + b'"}'))
            for method, path, raw in cases:
                r = a.req(method, path, raw=raw)
                self.assertError(r, 400, "invalid_request", "%s %s %r" % (method, path, raw))
            r = request("POST", "/auth/register", raw=b'{"username": "' + uname("u8").encode() +
                        b'", "password": "' + bad + b'longpassword"}')
            self.assertError(r, 400, "invalid_request")
        # lone surrogates escaped in JSON decode to no valid UTF-8
        for esc in (b"\\ud800", b"x\\udc00y", b"\\ud83d", b"\\ude00\\ud83d"):
            r = a.req("POST", "/chats/%d/messages" % self.cid, raw=b'{"content": "' + esc + b'"}')
            self.assertError(r, 400, "invalid_request", repr(esc))
        # nothing was stored
        self.assertEqual(history(a, self.cid, limit=200).json["messages"], before)
        self.assertEqual(a.req("GET", "/users/me").json, me)
        self.assertEqual([c["id"] for c in a.req("GET", "/chats?order=id").json["chats"]], chats)
        self.assertEqual(a.req("GET", "/tokens").json["tokens"], [])

    def test_valid_multibyte_is_kept(self):
        s = "\u00e9 \u4e2d \U0001F600 \u200b \ufeff \U0010FFFD"
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "[" + s + "]"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["content"], "[" + s + "]")
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, raw=b'{"content": "\\ud83d\\ude00"}')
        self.assertStatus(r, 201)
        self.assertEqual(r.json["content"], "\U0001F600")


class DepthTest(ApiTestCase):

    def test_deeper_than_32_is_400(self):
        a, b = register("dpa"), register("dpb")
        cid = create_direct(a, b)["id"]
        post_message(a, cid, "one")
        cases = [
            ("POST", "/chats/%d/messages" % cid, {"content": "deep", "x": nested(32)}),
            ("POST", "/chats/%d/messages" % cid, {"content": "deep", "x": nested(200)}),
            ("POST", "/chats", {"type": "group", "title": "deep", "member_ids": [], "x": nested(32)}),
            ("POST", "/tokens", {"name": "deep", "scopes": ["chats:read"], "x": nested(32)}),
            ("PATCH", "/chats/%d/messages/1" % cid, {"content": "deep", "x": nested(32)}),
            ("POST", "/chats/%d/read" % cid, {"seq": 1, "x": nested(32)}),
        ]
        objs = {"content": "deep objects"}
        inner = objs
        for _ in range(33):
            inner["o"] = {}
            inner = inner["o"]
        cases.append(("POST", "/chats/%d/messages" % cid, objs))
        for method, path, body in cases:
            r = a.req(method, path, body)
            self.assertError(r, 400, "invalid_request", "%s %s" % (method, path))
        r = a.req("POST", "/chats/%d/messages" % cid, raw=b'{"content": "x", "x": ' + b"[" * 20000
                  + b"]" * 20000 + b"}")
        self.assertError(r, 400, "invalid_request")
        # nothing was stored
        h = history(a, cid).json["messages"]
        self.assertEqual([m["content"] for m in h], ["one"])
        self.assertEqual(a.req("GET", "/tokens").json["tokens"], [])
        self.assertEqual(len(a.req("GET", "/chats").json["chats"]), 1)

    def test_exactly_32_is_accepted(self):
        # the object is level 1: 31 arrays inside it nest 32 deep
        a, b = register("dpc"), register("dpd")
        cid = create_direct(a, b)["id"]
        r = a.req("POST", "/chats/%d/messages" % cid, {"content": "deep enough", "x": nested(31)})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["content"], "deep enough")


class BodyLimitTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("bla"), register("blb")
        cls.cid = create_direct(cls.a, cls.b)["id"]

    def count(self):
        return len(history(self.a, self.cid, limit=200).json["messages"])

    def body_of_size(self, n):
        """A JSON message body of exactly n bytes."""
        head, tail = b'{"content": "', b'"}'
        return head + b"x" * (n - len(head) - len(tail)) + tail

    def test_over_64k_is_413_json(self):
        n0 = self.count()
        for size in (64 * 1024 + 1, 70 * 1024, 1024 * 1024):
            r = self.a.req("POST", "/chats/%d/messages" % self.cid, raw=self.body_of_size(size))
            self.assertError(r, 413, "payload_too_large", "size %d" % size)
            self.assertJsonContentType(r)
        # unauthenticated, and on other endpoints
        r = request("POST", "/auth/login", raw=self.body_of_size(70 * 1024))
        self.assertError(r, 413, "payload_too_large")
        r = self.a.req("PATCH", "/users/me", raw=self.body_of_size(70 * 1024))
        self.assertError(r, 413, "payload_too_large")
        self.assertEqual(self.count(), n0)

    def test_64k_exactly_is_read(self):
        # 65536 bytes is at the limit, not over it: judged on its content (over 16 KiB: 400)
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, raw=self.body_of_size(64 * 1024))
        self.assertError(r, 400, "invalid_request")

    def test_chunked_over_64k_is_413(self):
        n0 = self.count()
        body = self.body_of_size(80 * 1024)
        chunks = b""
        for i in range(0, len(body), 8192):
            part = body[i:i + 8192]
            chunks += b"%x\r\n" % len(part) + part + b"\r\n"
        chunks += b"0\r\n\r\n"
        req = ("POST %s/chats/%d/messages HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               % (API_PREFIX, self.cid, HOST, self.a.token)).encode() + chunks
        st, hdrs, raw = raw_http(req)
        self.assertEqual(st, 413, "chunked body over 64 KiB: %r %r" % (st, raw[:300]))
        self.assertTrue(hdrs.get("content-type", [""])[0].startswith("application/json"), hdrs)
        j = json.loads(raw.decode("utf-8"))
        self.assertEqual(j["error"]["code"], "payload_too_large", j)
        self.assertTrue(j["error"]["message"])
        self.assertEqual(self.count(), n0)

    def test_chunked_small_is_fine(self):
        body = json.dumps({"content": "chunked hello"}).encode()
        req = ("POST %s/chats/%d/messages HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               % (API_PREFIX, self.cid, HOST, self.a.token)).encode() + \
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        st, hdrs, raw = raw_http(req)
        self.assertEqual(st, 201, raw[:300])
        self.assertEqual(json.loads(raw.decode())["content"], "chunked hello")


if __name__ == "__main__":
    chatlib.main()
