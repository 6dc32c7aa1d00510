#!/usr/bin/python3
"""Long-poll through nginx (API.md "Real-time events", Transports: long-poll).

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_poll.py

Polls go out with curl, as a plain HTTP client would:
    curl -s '<CHAT_URL>/api/v1/poll?ticket=<t>&timeout=<s>'
A poll answers {events, cursor}: at once when events are pending, else after
the timeout with events empty; the same cursor returns the same events; the
cursor alone continues its stream (docs/DESIGN.md, "Long-poll cursors").
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, API_URL, register, create_direct, post_message,  # noqa: E402
                     stream_ticket, api_token, main, record_exchange)


def poll(cursor=None, timeout=None, ticket=None, token=None, max_time=75):
    """GET /poll with curl: (status, json or None, seconds)."""
    q = {}
    if cursor is not None:
        q["cursor"] = cursor
    if timeout is not None:
        q["timeout"] = str(timeout)
    if ticket is not None:
        q["ticket"] = ticket
    hdr = tempfile.NamedTemporaryFile(prefix="poll-hdr-")
    cmd = ["curl", "-s", "--max-time", str(max_time), "-D", hdr.name, "-o", "-", "-w", "\n%{http_code}"]
    if token:
        cmd += ["-H", "Authorization: Bearer " + token]
    url = API_URL + "/poll" + ("?" + urllib.parse.urlencode(q) if q else "")
    cmd.append(url)
    t0 = time.monotonic()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=False).stdout.decode("utf-8", "replace")
    elapsed = time.monotonic() - t0
    body, _, code = out.rpartition("\n")
    with hdr:
        head = hdr.read().decode("latin-1").split("\r\n")[1:]
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in head) if k)
    if code and code != "000":
        record_exchange("GET", urllib.parse.urlsplit(url).path, int(code), headers, body.encode())
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    return int(code or 0), data, elapsed


def durable(events):
    """Ephemeral events (presence, typing, receipt) may come at any time."""
    return [e for e in events if e.get("type") not in ("presence", "typing", "receipt")]


def versions(events, chat_id):
    return [e["version"] for e in events if e.get("chat_id") == chat_id and "version" in e]


class PollTest(ApiTestCase):
    def open_poll(self, user):
        """A new stream: the first answer comes at once and starts with resync."""
        st, data, el = poll(ticket=stream_ticket(user), timeout=20)
        self.assertEqual(st, 200, data)
        self.assertLess(el, 5.0, "a new stream must answer at once")
        self.assertEqual(data["events"][0]["type"], "resync", data)
        self.assertIsInstance(data["cursor"], str)
        return data["cursor"]

    def setUp(self):
        self.a = register("pola")
        self.b = register("polb")
        self.chat = create_direct(self.a, self.b)
        self.cid = self.chat["id"]

    def test_new_stream_answers_at_once_with_resync(self):
        cur = self.open_poll(self.a)
        self.assertGreaterEqual(len(cur), 24, "the cursor carries a 64-bit secret")

    def test_pending_events_answer_at_once(self):
        cur = self.open_poll(self.a)
        post_message(self.b, self.cid, "pending one")
        time.sleep(0.3)
        st, data, el = poll(cursor=cur, timeout=30)
        self.assertEqual(st, 200, data)
        self.assertLess(el, 3.0, "pending events answer at once")
        msgs = [e for e in data["events"] if e["type"] == "message.created"]
        self.assertEqual([m["message"]["content"] for m in msgs], ["pending one"])
        self.assertNotEqual(data["cursor"], cur)

    def test_waiting_poll_is_woken_by_an_event(self):
        cur = self.open_poll(self.a)
        res = {}

        def run():
            c = cur
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # a presence event may wake it first
                st, data, el = poll(cursor=c, timeout=20)
                res["r"] = (st, data, time.monotonic() - t0)
                if st != 200 or durable(data["events"]):
                    return
                c = data["cursor"]
        t0 = time.monotonic()
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.7)
        post_message(self.b, self.cid, "wake up")
        t.join(30)
        st, data, el = res["r"]
        self.assertEqual(st, 200, data)
        self.assertLess(el, 6.0)
        self.assertIn("wake up", [e["message"]["content"] for e in data["events"]
                                  if e["type"] == "message.created"])

    def test_timeout_answers_empty(self):
        cur = self.open_poll(self.a)
        # drain what is there (a presence event of this user may be)
        st, data, _ = poll(cursor=cur, timeout=0)
        cur = data["cursor"]
        st, data, el = poll(cursor=cur, timeout=2)
        self.assertEqual(st, 200, data)
        self.assertEqual(durable(data["events"]), [])
        if not data["events"]:
            self.assertGreaterEqual(el, 1.5)
        self.assertLess(el, 5.0)
        self.assertIsInstance(data["cursor"], str)
        # the empty answer's cursor continues the same stream
        post_message(self.b, self.cid, "after the empty answer")
        st, data, _ = poll(cursor=data["cursor"], timeout=10)
        self.assertEqual([e["message"]["content"] for e in data["events"]
                          if e["type"] == "message.created"], ["after the empty answer"])

    def test_same_cursor_same_events(self):
        cur = self.open_poll(self.a)
        for i in range(3):
            post_message(self.b, self.cid, "m%d" % i)
        time.sleep(0.3)
        st1, d1, _ = poll(cursor=cur, timeout=5)
        st2, d2, _ = poll(cursor=cur, timeout=5)
        self.assertEqual((st1, st2), (200, 200))
        self.assertEqual(d1["events"], d2["events"])
        self.assertEqual(d1["cursor"], d2["cursor"])
        self.assertEqual(versions(d1["events"], self.cid), [2, 3, 4])

    def test_resume_after_a_lost_answer_misses_nothing(self):
        cur = self.open_poll(self.a)
        seen = []
        post_message(self.b, self.cid, "one")
        st, lost, _ = poll(cursor=cur, timeout=5)  # this answer never reached the client
        self.assertEqual(st, 200)
        for c in ("two", "three"):
            post_message(self.b, self.cid, c)
        time.sleep(0.3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(seen) < 3:
            st, data, _ = poll(cursor=cur, timeout=2)
            self.assertEqual(st, 200, data)
            seen += [e for e in data["events"] if e.get("chat_id") == self.cid]
            cur = data["cursor"]
        self.assertEqual(versions(seen, self.cid), [2, 3, 4], seen)
        self.assertEqual([e["message"]["content"] for e in seen], ["one", "two", "three"])

    def test_cursor_alone_is_the_credential_and_cannot_be_forged(self):
        cur = self.open_poll(self.a)
        # flip one hex digit of the secret (third dot-separated part)
        parts = cur.split(".")
        self.assertEqual(len(parts), 4, cur)
        parts[2] = ("1" if parts[2][0] != "1" else "2") + parts[2][1:]
        st, data, _ = poll(cursor=".".join(parts), timeout=1)
        self.assertEqual(st, 401, data)
        self.assertEqual(data["error"]["code"], "unauthorized")
        # the real cursor works without credentials
        st, data, _ = poll(cursor=cur, timeout=1)
        self.assertEqual(st, 200, data)

    def test_foreign_cursor_with_a_token_opens_a_new_stream(self):
        cur = self.open_poll(self.a)
        post_message(self.a, self.cid, "for a and b only")
        st, data, _ = poll(cursor=cur, timeout=5, token=register("polc").token)
        self.assertEqual(st, 200, data)
        self.assertEqual(data["events"][0]["type"], "resync")
        self.assertNotIn("message.created", [e["type"] for e in data["events"]])

    def test_bearer_and_personal_tokens(self):
        st, data, _ = poll(token=self.a.token, timeout=5)
        self.assertEqual(st, 200, data)
        self.assertEqual(data["events"][0]["type"], "resync")
        pat = api_token(self.a, ["events:read"])["token"]
        st, data, _ = poll(token=pat, timeout=5)
        self.assertEqual(st, 200, data)
        self.assertEqual(data["events"][0]["type"], "resync")
        pat2 = api_token(self.a, ["messages:read"])["token"]
        st, data, _ = poll(token=pat2, timeout=5)
        self.assertEqual(st, 403, data)
        st, data, _ = poll(token="chat_pat_" + "0" * 43, timeout=5)
        self.assertEqual(st, 401, data)

    def test_bad_requests(self):
        st, data, _ = poll(timeout=5)
        self.assertEqual(st, 401, data)
        st, data, _ = poll(token=self.a.token, timeout=61)
        self.assertEqual(st, 400, data)
        st, data, _ = poll(token=self.a.token, timeout="x")
        self.assertEqual(st, 400, data)


if __name__ == "__main__":
    main()
