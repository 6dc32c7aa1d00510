#!/usr/bin/python3
"""Open streams per client IP in chat-push (DESIGN.md "Limits everywhere":
per-IP connection caps; conf/chat.conf push_max_per_ip).

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_PUSH_MAX_PER_IP=20 \
         /usr/bin/python3 tests/integration/test_push_limits.py

Behind nginx every TCP peer of chat-push is 127.0.0.1 and nginx writes the
client into X-Forwarded-For, so chat-push counts that address. The stack is
shared by the whole suite, so these tests talk to chat-push's own port
(CHAT_PORT + 1) directly with made-up X-Forwarded-For addresses, and read
the cap the stack was started with from CHAT_PUSH_MAX_PER_IP (tests/run.sh
sets it low); without it they are skipped.
"""

import http.client
import json
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import ApiTestCase, HOST, PORT, register, main  # noqa: E402

CAP = int(os.environ.get("CHAT_PUSH_MAX_PER_IP", "0") or 0)
PUSH_PORT = PORT + 1
PER_USER = 20


def fake_ip():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255), random.randint(1, 254))


class PerIpStreamCapTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        if CAP <= 0 or CAP > 200:
            raise unittest.SkipTest("CHAT_PUSH_MAX_PER_IP is not set to the stack's low cap")
        cls.a, cls.b = register("ipa"), register("ipb")
        # chat-push also caps open streams per user (32): spread the per-IP
        # streams over users, PER_USER each, so only the per-IP cap is met
        cls.users = [register("ipu") for _ in range(CAP // PER_USER + 1)]

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c, r in self.conns:
            r.close()
            c.close()

    def get(self, user, path, xff, keep):
        """GET path on chat-push with X-Forwarded-For xff: (status, headers,
        body). A 200 stream is left open (kept for tearDown) when keep."""
        c = http.client.HTTPConnection(HOST, PUSH_PORT, timeout=15)
        c.request("GET", "/api/v1" + path, headers={
            "Authorization": "Bearer " + user.token,
            "Accept": "text/event-stream",
            "X-Forwarded-For": xff,
        })
        r = c.getresponse()
        if r.status == 200 and keep:
            # Keep the response too: an SSE answer is close-delimited, so
            # http.client hands its socket to the response object alone.
            self.conns.append((c, r))
            return r.status, r.headers, None
        body = r.read()
        c.close()
        return r.status, r.headers, body

    def assertCapped(self, status, headers, body, what):
        self.assertEqual(status, 429, what)
        self.assertTrue((headers.get("Retry-After") or "").isdigit(), "Retry-After on " + what)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"), what)
        self.assertEqual(json.loads(body)["error"]["code"], "rate_limited", what)

    def test_cap_plus_one_stream_from_one_address_is_429(self):
        ip, other = fake_ip(), fake_ip()
        while other == ip:
            other = fake_ip()
        for i in range(CAP):
            st, _, body = self.get(self.users[i // PER_USER], "/events", ip, keep=True)
            self.assertEqual(st, 200, "stream %d of %d from %s: %r" % (i + 1, CAP, ip, body))
        st, h, body = self.get(self.a, "/events", ip, keep=True)
        self.assertCapped(st, h, body, "SSE stream %d from %s" % (CAP + 1, ip))
        # every transport counts against the same address; the last entry of
        # a list is the one the nearest proxy wrote
        st, h, body = self.get(self.b, "/poll?timeout=0", ip, keep=False)
        self.assertCapped(st, h, body, "long-poll from a capped address")
        st, h, body = self.get(self.b, "/events", "203.0.113.9, " + ip, keep=True)
        self.assertCapped(st, h, body, "X-Forwarded-For list ending in a capped address")
        # another address, and another user, still open streams
        st, _, body = self.get(self.b, "/events", other, keep=True)
        self.assertEqual(st, 200, body)
        st, _, body = self.get(self.a, "/events", "fd00::%x" % random.randint(1, 0xffff), keep=True)
        self.assertEqual(st, 200, body)

    def test_closed_streams_give_their_count_back_at_once(self):
        # A client that hangs up is seen when it does (not at the next
        # heartbeat, 15 s later): its address can open as many again at once.
        ip = fake_ip()
        for rnd in range(2):
            for i in range(CAP):
                st, _, body = self.get(self.users[i // PER_USER], "/events", ip, keep=True)
                self.assertEqual(st, 200, "round %d, stream %d from %s: %r" % (rnd, i + 1, ip, body))
            self.tearDown()
            self.conns = []
            deadline = time.time() + 3
            while True:  # the server sees the hangups within a loop pass or two
                st, _, body = self.get(self.a, "/poll?timeout=0", ip, keep=False)
                if st == 200 or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(st, 200, "a poll right after %d streams of %s closed: %r" % (CAP, ip, body))

    def test_request_headers_up_to_3_kb_and_431_past_the_pool(self):
        # chat-push keeps a 4 KiB pool per stream connection (sse/http.c).
        for pad, want in ((2800, 200), (6000, 431)):
            c = http.client.HTTPConnection(HOST, PUSH_PORT, timeout=15)
            c.request("GET", "/api/v1/events", headers={
                "Authorization": "Bearer " + self.b.token, "X-Pad": "p" * pad,
                "X-Forwarded-For": fake_ip()})
            r = c.getresponse()
            self.assertEqual(r.status, want, "%d bytes of X-Pad" % pad)
            if want == 200:
                self.assertEqual(r.headers.get("Content-Type"), "text/event-stream; charset=utf-8")
                self.assertTrue(r.fp.readline().startswith(b"retry:"))
            r.close()
            c.close()

    def test_finished_requests_give_their_count_back(self):
        ip = fake_ip()
        user = register("ipp")
        cursor = None
        for i in range(CAP + 5):
            path = "/poll?timeout=0" + ("&cursor=" + cursor if cursor else "")
            st, _, body = self.get(user, path, ip, keep=False)
            self.assertEqual(st, 200, "poll %d from %s: %r" % (i + 1, ip, body))
            cursor = json.loads(body)["cursor"]


if __name__ == "__main__":
    main()
