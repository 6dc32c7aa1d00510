#!/usr/bin/python3
"""Real-time events over SSE through nginx (API.md "Real-time events",
"Auth: stream tickets").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_sse.py

Streams are opened with curl in a subprocess:
    curl -sN -H 'Accept: text/event-stream' '<CHAT_URL>/api/v1/events?ticket=<t>'
Delivery must happen within CHAT_SSE_MAX_LATENCY seconds (default 1) of the
POST returning.
"""

import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, SSEStream, register, request, create_direct, create_group,  # noqa: E402
                     post_message, stream_ticket, open_stream, API_URL, API_PREFIX, HOST, PORT)

MAX_LATENCY = float(os.environ.get("CHAT_SSE_MAX_LATENCY", "1.0"))
HEARTBEAT = 20.0


def is_type(t, chat_id=None):
    def pred(ev):
        if ev.type != t:
            return False
        if chat_id is not None and (ev.data or {}).get("chat_id") != chat_id:
            return False
        return True
    return pred


def msg_pred(chat_id, content=None, seq=None):
    def pred(ev):
        if ev.type != "message.created" or not isinstance(ev.data, dict):
            return False
        m = ev.data.get("message") or {}
        if ev.data.get("chat_id") != chat_id:
            return False
        if content is not None and m.get("content") != content:
            return False
        if seq is not None and m.get("seq") != seq:
            return False
        return True
    return pred


def raw_events_get(query, headers=None, timeout=5.0):
    """GET /events with http.client: (status, headers, body or None). A 200
    stream is closed at once without reading it."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        h = {"Accept": "text/event-stream"}
        if headers:
            h.update(headers)
        conn.request("GET", API_PREFIX + "/events" + (("?" + query) if query else ""), headers=h)
        resp = conn.getresponse()
        if resp.status == 200:
            return resp.status, resp.headers, None
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


class SSETestBase(ApiTestCase):

    def setUp(self):
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()

    def open(self, user, cursor=None, url=None, headers=()):
        s = SSEStream(url, headers) if url else open_stream(user, cursor=cursor)
        self.streams.append(s)
        return s

    def open_ready(self, user, cursor=None):
        """Open a stream and wait for its first event, which must be resync."""
        s = self.open(user, cursor=cursor)
        self.assertEqual(s.status(), 200, "stream status; output:\n" + s.dump())
        i, ev = s.wait_for(lambda e: True, timeout=5)
        self.assertIsNotNone(ev, "no first event within 5 s; output:\n" + s.dump())
        self.assertEqual(ev.type, "resync", "the first event of a new stream is resync: %r" % ev)
        self.assertIsInstance(ev.data, dict, "resync data is a JSON object: %r" % ev)
        self.assertEqual(ev.data.get("type"), "resync")
        return s

    def assertEventShape(self, ev):
        self.assertIsInstance(ev.data, dict, "data is one JSON object: %r" % ev)
        self.assertEqual(ev.data.get("type"), ev.type, "event: line and data.type agree: %r" % ev)
        self.assertTrue(ev.id, "every event carries id: <cursor>: %r" % ev)
        if ev.type in ("chat.created", "chat.updated", "message.created", "message.updated",
                       "message.deleted", "member.joined", "member.left"):
            self.assertId(ev.data.get("chat_id"), "chat_id")
            self.assertId(ev.data.get("version"), "version")


class TicketTest(SSETestBase):

    def test_ticket_shape(self):
        b = register("tk")
        r = b.req("POST", "/stream/tickets")
        self.assertStatus(r, 201)
        self.assertJsonContentType(r)
        self.assertIsInstance(r.json.get("ticket"), str)
        self.assertTrue(len(r.json["ticket"]) >= 16, "a ticket is unguessable: %r" % r.json)
        self.assertEqual(r.json.get("expires_in"), 30)
        self.assertNotEqual(r.json["ticket"], b.token)
        self.assertNotEqual(r.json["ticket"], b.refresh)
        r2 = b.req("POST", "/stream/tickets")
        self.assertNotEqual(r2.json["ticket"], r.json["ticket"], "every ticket is new")

    def test_ticket_needs_auth(self):
        r = request("POST", "/stream/tickets")
        self.assertError(r, 401, "unauthorized")
        r = request("POST", "/stream/tickets", token="garbage")
        self.assertError(r, 401, "unauthorized")

    def test_ticket_idempotency_key_not_replayed(self):
        # an answer carrying a ticket is never stored: the same key again gets 409
        b = register("tki")
        h = {"Idempotency-Key": "tk-" + chatlib.rand_suffix(12)}
        r1 = b.req("POST", "/stream/tickets", headers=h)
        self.assertStatus(r1, 201)
        r2 = b.req("POST", "/stream/tickets", headers=h)
        self.assertError(r2, 409)
        self.assertNotIn(r1.json["ticket"], r2.raw.decode("utf-8", "replace"))

    def test_no_or_bad_ticket_401(self):
        b = register("bt")
        for q in ("", "ticket=", "ticket=bad", "ticket=" + "ab" * 32,
                  "ticket=" + urllib.parse.quote(b.token),        # a long-lived token is no ticket
                  "access_token=" + urllib.parse.quote(b.token)):
            status, hdrs, body = raw_events_get(q)
            self.assertEqual(status, 401, "GET /events?%s -> %s %r" % (q[:40], status, body))
            try:
                j = json.loads(body)
            except (ValueError, TypeError):
                j = None
            self.assertTrue(isinstance(j, dict) and isinstance(j.get("error"), dict)
                            and j["error"].get("code") == "unauthorized",
                            "401 with the error shape: GET /events?%s -> %r" % (q[:40], body))

    def test_ticket_single_use(self):
        b = register("su")
        t = stream_ticket(b)
        url = API_URL + "/events?ticket=" + urllib.parse.quote(t)
        s = self.open(b, url=url)
        self.assertEqual(s.status(), 200)
        i, ev = s.wait_for(lambda e: True, timeout=5)
        self.assertIsNotNone(ev, "first stream got no event:\n" + s.dump())
        self.assertEqual(ev.type, "resync")
        # second use, while the first stream is still open
        status, _, body = raw_events_get("ticket=" + urllib.parse.quote(t))
        self.assertEqual(status, 401, "a ticket used twice: second stream got %s %r" % (status, body))
        s.close()
        # and after it closed
        status, _, body = raw_events_get("ticket=" + urllib.parse.quote(t))
        self.assertEqual(status, 401, "a spent ticket after its stream closed: %s %r" % (status, body))

    def test_bearer_header_on_events(self):
        # stream endpoints "also" take ?ticket=: the Authorization header works too
        b = register("hdr")
        s = self.open(b, url=API_URL + "/events", headers=["Authorization: Bearer " + b.token])
        self.assertEqual(s.status(), 200, s.dump())
        i, ev = s.wait_for(lambda e: True, timeout=5)
        self.assertIsNotNone(ev)
        self.assertEqual(ev.type, "resync")


class DeliveryTest(SSETestBase):

    @classmethod
    def setUpClass(cls):
        # a stream held open across the class, for the heartbeat test at the end
        cls.hb_user = register("hb")
        cls.hb_stream = open_stream(cls.hb_user)
        cls.hb_opened = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        cls.hb_stream.close()

    def test_stream_headers_and_resync(self):
        b = register("hd")
        s = self.open_ready(b)
        h = s.response_headers()
        self.assertTrue(h.get("content-type", "").startswith("text/event-stream"),
                        "Content-Type: %r" % h.get("content-type"))
        ev = s.snapshot()[0]
        self.assertTrue(ev.id, "resync carries id: <cursor>: %r" % ev)
        self.assertIsNotNone(s.retry, "the stream sets retry:\n" + s.dump())
        self.assertTrue(s.retry.strip().isdigit(), "retry: is milliseconds: %r" % s.retry)

    def test_message_created_within_1s(self):
        a, b = register("da"), register("db")
        d = create_direct(a, b)
        s = self.open_ready(b)
        for i in range(3):
            content = "live %d %s" % (i, chatlib.rand_suffix(6))
            r = post_message(a, d["id"], content)
            t_ret = time.monotonic()
            seq = r.json["seq"]
            _, ev = s.wait_for(msg_pred(d["id"], content, seq), timeout=5)
            self.assertIsNotNone(ev, "message.created (seq %d) never arrived; stream:\n%s" % (seq, s.dump()))
            latency = ev.t - t_ret
            self.assertLessEqual(latency, MAX_LATENCY,
                                 "message.created arrived %.3f s after the POST returned" % latency)
            self.assertEventShape(ev)
            self.assertEqual(ev.data["version"], r.json["version"])
            self.assertMessage(ev.data["message"], d["id"])
            self.assertEqual(ev.data["message"]["id"], r.json["id"])
            self.assertEqual(ev.data["message"]["sender_id"], a.id)
        # the sender's own stream sees it too
        sa = self.open_ready(a)
        r = post_message(b, d["id"], "reply")
        _, ev = sa.wait_for(msg_pred(d["id"], "reply"), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(ev, sa.dump())

    def test_burst_in_version_order(self):
        a, b = register("oa"), register("ob")
        g = create_group(a, [b], "burst")
        s = self.open_ready(b)
        sent = [post_message(a, g["id"], "b%d" % i).json for i in range(20)]
        _, last = s.wait_for(msg_pred(g["id"], seq=sent[-1]["seq"]), timeout=5)
        self.assertIsNotNone(last, s.dump())
        got = [e.data["version"] for e in s.snapshot()
               if e.type == "message.created" and e.data.get("chat_id") == g["id"]]
        got_unique = sorted(set(got))
        self.assertEqual(got_unique, [m["version"] for m in sent], "every event delivered")
        first_seen = []
        for v in got:
            if v not in first_seen:
                first_seen.append(v)
        self.assertEqual(first_seen, got_unique, "in version order per chat: %r" % got)

    def test_outsider_sees_nothing(self):
        a, b, x = register("xa"), register("xb"), register("xx")
        d = create_direct(a, b)
        sx = self.open_ready(x)
        sb = self.open_ready(b)
        post_message(a, d["id"], "not for x")
        _, ev = sb.wait_for(msg_pred(d["id"], "not for x"), timeout=5)
        self.assertIsNotNone(ev)
        time.sleep(0.5)
        leaked = [e for e in sx.snapshot() if isinstance(e.data, dict) and e.data.get("chat_id") == d["id"]]
        self.assertEqual(leaked, [], "a non-member's stream carried the chat's events")

    def test_new_chat_on_open_stream(self):
        a, b = register("na"), register("nb")
        s = self.open_ready(b)
        r = a.req("POST", "/chats", {"type": "group", "title": "fresh", "member_ids": [b.id]})
        self.assertStatus(r, 201)
        gid = r.json["id"]
        _, ev = s.wait_for(is_type("chat.created", gid), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(ev, "chat.created never arrived on the open stream:\n" + s.dump())
        self.assertEventShape(ev)
        self.assertEqual(ev.data["version"], 1)
        self.assertEqual(ev.data["chat"]["id"], gid)
        self.assertEqual(ev.data["chat"]["title"], "fresh")
        self.assertChat(ev.data["chat"], caller=False)
        # membership follows at once: the next message arrives too
        content = "first in fresh"
        r = post_message(a, gid, content)
        t_ret = time.monotonic()
        _, mev = s.wait_for(msg_pred(gid, content), timeout=5)
        self.assertIsNotNone(mev, "message in a chat created after the stream opened never arrived:\n"
                             + s.dump())
        self.assertLessEqual(mev.t - t_ret, MAX_LATENCY)
        self.assertEqual(mev.data["version"], 2)
        evs = [e for e in s.snapshot() if isinstance(e.data, dict) and e.data.get("chat_id") == gid]
        self.assertEqual([e.type for e in evs][:2], ["chat.created", "message.created"])

    def test_new_direct_chat_on_open_stream(self):
        a, b = register("nda"), register("ndb")
        s = self.open_ready(b)
        d = create_direct(a, b)
        _, ev = s.wait_for(is_type("chat.created", d["id"]), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(ev, s.dump())
        post_message(a, d["id"], "direct hello")
        _, mev = s.wait_for(msg_pred(d["id"], "direct hello"), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(mev, s.dump())

    def test_member_joined_on_open_stream(self):
        a, b, c = register("ja"), register("jb"), register("jc")
        g = create_group(a, [c], "join later")
        post_message(a, g["id"], "before b")
        s = self.open_ready(b)
        r = a.req("POST", "/chats/%d/members" % g["id"], {"user_ids": [b.id]})
        self.assertStatus(r, (200, 201, 204))
        _, ev = s.wait_for(is_type("member.joined", g["id"]), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(ev, "member.joined never arrived:\n" + s.dump())
        self.assertEventShape(ev)
        self.assertEqual(ev.data.get("user_id"), b.id)
        self.assertEqual(ev.data.get("role"), "member")
        self.assertIsInstance(ev.data.get("chat"), dict)
        self.assertEqual(ev.data["chat"]["id"], g["id"])
        self.assertEqual(ev.data["version"], 3)
        r = post_message(a, g["id"], "after b")
        t_ret = time.monotonic()
        _, mev = s.wait_for(msg_pred(g["id"], "after b"), timeout=5)
        self.assertIsNotNone(mev, s.dump())
        self.assertLessEqual(mev.t - t_ret, MAX_LATENCY)
        self.assertEqual(mev.data["version"], 4)

    def test_removed_member_gets_member_left_then_nothing(self):
        a, b, c = register("ra"), register("rb"), register("rc")
        g = create_group(a, [b, c], "removal")
        d = create_direct(a, b)  # a control chat that keeps flowing
        s = self.open_ready(b)
        post_message(a, g["id"], "while member")
        _, ev = s.wait_for(msg_pred(g["id"], "while member"), timeout=5)
        self.assertIsNotNone(ev, s.dump())
        r = a.req("DELETE", "/chats/%d/members/%d" % (g["id"], b.id))
        self.assertStatus(r, (200, 204))
        i_left, left = s.wait_for(is_type("member.left", g["id"]), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(left, "member.left never arrived:\n" + s.dump())
        self.assertEventShape(left)
        self.assertEqual(left.data.get("user_id"), b.id)
        self.assertEqual(left.data["version"], ev.data["version"] + 1)
        # more in the group, then a message in the control chat
        for i in range(3):
            post_message(a, g["id"], "after removal %d" % i)
        a.req("PATCH", "/chats/%d" % g["id"], {"title": "renamed after removal"})
        a.req("POST", "/chats/%d/members" % g["id"], {"user_ids": [register("rd").id]})
        post_message(a, d["id"], "control")
        _, ctl = s.wait_for(msg_pred(d["id"], "control"), timeout=5)
        self.assertIsNotNone(ctl, "the stream died after member.left:\n" + s.dump())
        time.sleep(1.0)
        # duplicates of versions already delivered are harmless; anything newer is a leak
        after = [e for e in s.snapshot()[i_left + 1:]
                 if isinstance(e.data, dict) and e.data.get("chat_id") == g["id"]
                 and not (isinstance(e.data.get("version"), int)
                          and e.data["version"] <= left.data["version"])]
        self.assertEqual(after, [], "events of the chat after member.left: %r" % after)
        # and c, still a member, got them
        sc_hist = chatlib.history(c, g["id"])
        self.assertEqual(sc_hist.json["messages"][-1]["content"], "after removal 2")

    def test_self_leave_gets_member_left(self):
        a, b = register("la"), register("lb")
        g = create_group(a, [b], "leave")
        s = self.open_ready(b)
        r = b.req("DELETE", "/chats/%d/members/%d" % (g["id"], b.id))
        self.assertStatus(r, (200, 204))
        _, left = s.wait_for(is_type("member.left", g["id"]), timeout=MAX_LATENCY + 1)
        self.assertIsNotNone(left, s.dump())
        self.assertEqual(left.data["user_id"], b.id)
        post_message(a, g["id"], "gone")
        time.sleep(1.0)
        self.assertIsNone(s.wait_for(msg_pred(g["id"], "gone"), timeout=0.01)[1])

    def test_resume_with_cursor(self):
        a, b = register("cua"), register("cub")
        d = create_direct(a, b)
        s = self.open_ready(b)
        post_message(a, d["id"], "seen")
        _, ev = s.wait_for(msg_pred(d["id"], "seen"), timeout=5)
        self.assertIsNotNone(ev, s.dump())
        cursor = ev.id
        s.close()
        post_message(a, d["id"], "missed")
        s2 = self.open(b, cursor=cursor)  # fresh ticket, ?cursor=<last id>
        self.assertEqual(s2.status(), 200)
        _, ev2 = s2.wait_for(msg_pred(d["id"], "missed"), timeout=5)
        self.assertIsNotNone(ev2, "the event missed while disconnected was not replayed:\n" + s2.dump())
        first = s2.snapshot()[0]
        self.assertNotEqual(first.type, "resync", "a successful resume does not start with resync:\n"
                            + s2.dump())
        # Last-Event-ID works the same way
        cursor2 = ev2.id
        s2.close()
        post_message(a, d["id"], "missed again")
        t = stream_ticket(b)
        s3 = self.open(b, url=API_URL + "/events?ticket=" + urllib.parse.quote(t),
                       headers=["Last-Event-ID: " + cursor2])
        _, ev3 = s3.wait_for(msg_pred(d["id"], "missed again"), timeout=5)
        self.assertIsNotNone(ev3, "Last-Event-ID resume did not replay:\n" + s3.dump())

    def test_foreign_cursor_opens_with_resync(self):
        b = register("fc")
        for cur in ("garbage", "0", "x" * 100):
            s = self.open_ready(b, cursor=cur)  # asserts 200 and resync first
            s.close()

    def test_logout_closes_stream(self):
        b = register("lo")
        r = request("POST", "/auth/login", {"username": b.username, "password": b.password})
        self.assertStatus(r, 200)
        tok, ref = r.json["access_token"], r.json["refresh_token"]
        t = request("POST", "/stream/tickets", token=tok)
        self.assertStatus(t, 201)
        s = self.open(b, url=API_URL + "/events?ticket=" + urllib.parse.quote(t.json["ticket"]))
        self.assertIsNotNone(s.wait_for(is_type("resync"), timeout=5)[1], s.dump())
        r = request("POST", "/auth/logout", {"refresh_token": ref}, token=tok)
        self.assertStatus(r, 204)
        t0 = time.monotonic()
        deadline = t0 + 8
        while s.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        waited = time.monotonic() - t0
        self.assertIsNotNone(s.proc.poll(), "stream still open 8 s after logout:\n" + s.dump())
        self.assertLessEqual(waited, 5.5, "stream closed %.1f s after logout (limit 5 s)" % waited)

    def test_zz_heartbeat(self):
        # a comment line at least every 20 s (the stream opened in setUpClass)
        # (a comment sent in the first second, as padding, does not count)
        c = self.hb_stream.wait_comment(after=self.hb_opened + 1.0,
                                        until=self.hb_opened + HEARTBEAT + 2.0)
        self.assertIsNotNone(c, "no heartbeat comment within %.0f s:\n%s" % (HEARTBEAT + 2,
                                                                                self.hb_stream.dump()))


if __name__ == "__main__":
    chatlib.main()
