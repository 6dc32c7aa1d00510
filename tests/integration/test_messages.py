#!/usr/bin/python3
"""Messages: sending, idempotency, seq, validation and history paging
(API.md "Messages", "Conventions: Idempotency, Lists").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_messages.py

limit above 200: API.md says "default 50, max 200" without saying whether a
larger limit is refused or clamped. chat-api refuses it (400 invalid_request,
observed 2026-11-21), and that is what this test pins by default, for every
value above 200 and with every anchor. CHAT_EXPECT_LIMIT_MODE=clamp pins the
other behaviour (exactly 200 messages), =any accepts either as long as the
server is consistent. The mode seen is printed.
"""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, register, create_direct, create_group, post_message, history  # noqa: E402

LIMIT_MODE = os.environ.get("CHAT_EXPECT_LIMIT_MODE", "reject")


def cmid():
    return "cm-" + chatlib.rand_suffix(16)


def seqs_of(r):
    return [m["seq"] for m in r.json["messages"]]


class SendTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("sa"), register("sb")
        cls.chat = create_direct(cls.a, cls.b)
        cls.cid = cls.chat["id"]

    def all_messages(self, user=None, cid=None):
        r = history(user or self.a, cid or self.cid, limit=200)
        self.assertStatus(r, 200)
        return r.json["messages"]

    def test_send_shape(self):
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "hello \u00e9 \U0001F600"})
        self.assertStatus(r, 201)
        self.assertJsonContentType(r)
        self.assertNoExponentIds(r)
        m = r.json
        self.assertMessage(m, self.cid)
        self.assertEqual(m["content"], "hello \u00e9 \U0001F600")
        self.assertEqual(m["sender_id"], self.a.id)
        self.assertFalse(m["deleted"])
        self.assertIsNone(m["edited_at"])
        self.assertIsNone(m["reply_to_seq"])
        self.assertIsNone(m["client_msg_id"])
        self.assertNotEqual((r.header("Idempotent-Replayed") or "").lower(), "true")
        # the chat follows
        c = self.a.req("GET", "/chats/%d" % self.cid).json
        self.assertGreaterEqual(c["last_seq"], m["seq"])
        self.assertGreaterEqual(c["version"], m["version"])

    def test_client_msg_id_replay(self):
        k = cmid()
        r1 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "once", "client_msg_id": k})
        self.assertStatus(r1, 201)
        self.assertEqual(r1.json["client_msg_id"], k)
        self.assertNotEqual((r1.header("Idempotent-Replayed") or "").lower(), "true",
                            "a first send is not a replay: " + r1.describe())
        r2 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "once", "client_msg_id": k})
        self.assertStatus(r2, 201)
        self.assertEqual(r2.header("Idempotent-Replayed"), "true",
                         "replay must carry Idempotent-Replayed: true: " + r2.describe())
        self.assertEqual(r2.json["id"], r1.json["id"])
        self.assertEqual(r2.json["seq"], r1.json["seq"])
        self.assertEqual(r2.json, r1.json, "a replay answers the same message")
        msgs = [m for m in self.all_messages() if m["client_msg_id"] == k]
        self.assertEqual(len(msgs), 1, "the history holds it once")
        self.assertEqual(msgs[0]["id"], r1.json["id"])

    def test_client_msg_id_is_per_sender(self):
        # unique per (chat, sender): the other member may use the same id
        k = cmid()
        r1 = post_message(self.a, self.cid, "from a", k)
        r2 = post_message(self.b, self.cid, "from b", k)
        self.assertNotEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(r2.json["sender_id"], self.b.id)
        self.assertNotEqual((r2.header("Idempotent-Replayed") or "").lower(), "true")
        # and the same sender may use it in another chat
        other = create_group(self.a, [self.b], "cm other")
        r3 = post_message(self.a, other["id"], "elsewhere", k)
        self.assertEqual(r3.json["chat_id"], other["id"])
        self.assertEqual(r3.json["seq"], 1)

    def test_client_msg_id_concurrent(self):
        # ten simultaneous sends of one client_msg_id make one message
        k = cmid()
        out = []

        def go():
            out.append(self.a.req("POST", "/chats/%d/messages" % self.cid,
                                  {"content": "race", "client_msg_id": k}))
        ts = [threading.Thread(target=go) for _ in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = [r for r in out if r.status == 201]
        for r in out:
            if r.status != 201:
                self.assertError(r, 409, "idempotency_in_progress")
        self.assertTrue(ok)
        self.assertEqual(len({r.json["id"] for r in ok}), 1, [r.describe() for r in out])
        self.assertEqual(sum(1 for r in ok if r.header("Idempotent-Replayed") != "true"), 1,
                         "exactly one answer is the original")
        self.assertEqual(len([m for m in self.all_messages() if m["client_msg_id"] == k]), 1)

    def test_idempotency_key_header(self):
        key = "ik-" + chatlib.rand_suffix(16)
        before = len(self.all_messages())
        h = {"Idempotency-Key": key}
        r1 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "keyed"}, headers=h)
        self.assertStatus(r1, 201)
        r2 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "keyed"}, headers=h)
        self.assertStatus(r2, 201)
        self.assertEqual(r2.header("Idempotent-Replayed"), "true", r2.describe())
        self.assertEqual(r2.json["id"], r1.json["id"])
        self.assertEqual(r2.json["seq"], r1.json["seq"])
        after = self.all_messages()
        self.assertEqual(len(after), before + 1, "a retry makes no duplicate")
        self.assertEqual(len([m for m in after if m["content"] == "keyed" and m["id"] == r1.json["id"]]), 1)
        # the same key with another body: 409 idempotency_key_reused, nothing sent
        r3 = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "different"}, headers=h)
        self.assertError(r3, 409, "idempotency_key_reused")
        self.assertEqual(len(self.all_messages()), before + 1)

    def test_idempotency_key_scoped_to_user_and_path(self):
        key = "ik-" + chatlib.rand_suffix(16)
        h = {"Idempotency-Key": key}
        r1 = post_message(self.a, self.cid, "scoped", headers=h)
        # another user with the same key: its own request
        r2 = post_message(self.b, self.cid, "scoped", headers=h)
        self.assertNotEqual(r2.json["id"], r1.json["id"])
        self.assertNotEqual(r2.header("Idempotent-Replayed"), "true")
        # another path (chat) with the same key: its own request
        other = create_group(self.a, [self.b], "scope other")
        r3 = post_message(self.a, other["id"], "scoped", headers=h)
        self.assertEqual(r3.json["chat_id"], other["id"])
        self.assertNotEqual(r3.header("Idempotent-Replayed"), "true")

    def test_no_key_twice_makes_two(self):
        r1 = post_message(self.a, self.cid, "twice")
        r2 = post_message(self.a, self.cid, "twice")
        self.assertNotEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(r2.json["seq"], r1.json["seq"] + 1)
        ids = [m["id"] for m in self.all_messages()]
        self.assertIn(r1.json["id"], ids)
        self.assertIn(r2.json["id"], ids)

    def test_reply_to_seq(self):
        r1 = post_message(self.a, self.cid, "question")
        r = self.b.req("POST", "/chats/%d/messages" % self.cid,
                       {"content": "answer", "reply_to_seq": r1.json["seq"]})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["reply_to_seq"], r1.json["seq"])
        r = self.b.req("POST", "/chats/%d/messages" % self.cid, {"content": "x", "reply_to_seq": "one"})
        self.assertError(r, 400, "invalid_request")

    def test_unauthenticated(self):
        r = chatlib.request("POST", "/chats/%d/messages" % self.cid, {"content": "anon"})
        self.assertError(r, 401, "unauthorized")
        r = chatlib.request("GET", "/chats/%d/messages" % self.cid)
        self.assertError(r, 401, "unauthorized")


class SeqTest(ApiTestCase):

    def test_seq_gapless_from_one(self):
        a, b = register("qa"), register("qb")
        g = create_group(a, [b], "seq")
        got = []
        for i in range(6):
            sender = a if i % 2 == 0 else b
            got.append(post_message(sender, g["id"], "m%d" % i).json["seq"])
        self.assertEqual(got, [1, 2, 3, 4, 5, 6])
        r = history(a, g["id"])
        self.assertEqual(seqs_of(r), [1, 2, 3, 4, 5, 6])
        self.assertEqual([m["content"] for m in r.json["messages"]], ["m%d" % i for i in range(6)])
        c = a.req("GET", "/chats/%d" % g["id"]).json
        self.assertEqual(c["last_seq"], 6)
        self.assertEqual(c["last_message"]["seq"], 6)
        self.assertEqual(c["version"], 7, "chat.created (1) + six message.created")
        # versions of messages follow the chat's versions
        self.assertEqual([m["version"] for m in r.json["messages"]], [2, 3, 4, 5, 6, 7])

    def test_seq_concurrent_senders(self):
        a, b = register("qca"), register("qcb")
        g = create_group(a, [b], "seq race")
        out = []
        lock = threading.Lock()

        def go(u, n):
            for i in range(n):
                r = post_message(u, g["id"], "c%d" % i, expect=None)
                with lock:
                    out.append(r)
        ts = [threading.Thread(target=go, args=(a if i % 2 else b, 5)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for r in out:
            self.assertStatus(r, 201)
        seqs = sorted(r.json["seq"] for r in out)
        self.assertEqual(seqs, list(range(1, 41)), "no gaps and no reuse under concurrency")
        self.assertEqual(seqs_of(history(a, g["id"], limit=100)), list(range(1, 41)))

    def test_markers_and_unread(self):
        a, b = register("ua"), register("ub")
        d = create_direct(a, b)
        for i in range(3):
            post_message(a, d["id"], "u%d" % i)
        ca = a.req("GET", "/chats/%d" % d["id"]).json
        cb = b.req("GET", "/chats/%d" % d["id"]).json
        self.assertEqual(ca["read_seq"], 3, "posting moves the sender's own markers")
        self.assertEqual(ca["unread_count"], 0)
        self.assertEqual(cb["read_seq"], 0)
        self.assertEqual(cb["unread_count"], 3)
        r = b.req("POST", "/chats/%d/read" % d["id"], {"seq": 2})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["read_seq"], 2)
        self.assertEqual(r.json["delivered_seq"], 2, "read implies delivered")
        self.assertEqual(b.req("GET", "/chats/%d" % d["id"]).json["unread_count"], 1)
        # only forward, clamped to last_seq
        r = b.req("POST", "/chats/%d/read" % d["id"], {"seq": 1})
        self.assertEqual(r.json["read_seq"], 2)
        r = b.req("POST", "/chats/%d/read" % d["id"], {"seq": 999})
        self.assertEqual(r.json["read_seq"], 3)
        self.assertEqual(b.req("GET", "/chats/%d" % d["id"]).json["unread_count"], 0)


class ContentTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("ca"), register("cb")
        cls.cid = create_direct(cls.a, cls.b)["id"]

    def send(self, body):
        return self.a.req("POST", "/chats/%d/messages" % self.cid, body)

    def count(self):
        return self.a.req("GET", "/chats/%d" % self.cid).json["last_seq"]

    def test_empty_and_blank_refused(self):
        n = self.count()
        for content in ("", " ", "   \n\t  ", "\r\n"):
            r = self.send({"content": content})
            self.assertError(r, 400, "invalid_request", "content %r" % content)
        for body in ({}, {"content": None}, {"content": 5}, {"content": ["x"]}, {"content": "a\u0000b"}):
            r = self.send(body)
            self.assertError(r, 400, "invalid_request", "body %r" % body)
        self.assertEqual(self.count(), n, "nothing was sent")

    def test_size_limits(self):
        r = self.send({"content": "a" * 16384})
        self.assertStatus(r, 201, "(16384 bytes is allowed)")
        self.assertEqual(len(r.json["content"].encode()), 16384)
        r = self.send({"content": "\u00e9" * 8192})  # 16384 bytes in 8192 characters
        self.assertStatus(r, 201, "(16384 bytes of two-byte characters)")
        r = self.send({"content": " " + "b" * 16384 + "\n"})  # 16384 after trimming
        self.assertStatus(r, 201, "(the limit applies after trimming)")
        n = self.count()
        r = self.send({"content": "a" * 16385})
        self.assertError(r, 400, "invalid_request", "(16385 bytes)")
        r = self.send({"content": "\u00e9" * 8193})  # 16386 bytes, 8193 characters
        self.assertError(r, 400, "invalid_request", "(16386 bytes in 8193 characters)")
        r = self.send({"content": "\U0001F600" * 4097})  # 16388 bytes, 4097 characters
        self.assertError(r, 400, "invalid_request", "(16388 bytes of emoji)")
        r = self.send({"content": "a" * 70000})
        self.assertError(r, 413, "payload_too_large")
        self.assertEqual(self.count(), n, "nothing was sent")

    def test_invalid_utf8(self):
        n = self.count()
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, raw=b'{"content": "bad \xed\xa0\x80 surrogate"}')
        self.assertError(r, 400, "invalid_request")
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, raw=b'{"content": "bad \xff"}')
        self.assertError(r, 400, "invalid_request")
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, raw=b'{"content": "lone \\ud800 surrogate"}')
        self.assertError(r, 400, "invalid_request")
        self.assertEqual(self.count(), n)


class HistoryPagingTest(ApiTestCase):
    N = 25

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("ha"), register("hb")
        cls.cid = create_group(cls.a, [cls.b], "history")["id"]
        for i in range(1, cls.N + 1):
            post_message(cls.a if i % 3 else cls.b, cls.cid, "h%d" % i)

    def page(self, **params):
        r = history(self.a, self.cid, **params)
        self.assertStatus(r, 200)
        self.assertJsonContentType(r)
        j = r.json
        for k in ("messages", "has_more_before", "has_more_after"):
            self.assertIn(k, j, r.describe())
        self.assertIsInstance(j["has_more_before"], bool)
        self.assertIsInstance(j["has_more_after"], bool)
        s = [m["seq"] for m in j["messages"]]
        self.assertEqual(s, sorted(s), "ascending seq: " + r.describe())
        for m in j["messages"]:
            self.assertMessage(m, self.cid)
            self.assertEqual(m["content"], "h%d" % m["seq"])
        return s, j["has_more_before"], j["has_more_after"], r

    def expect(self, params, seqs, before, after):
        s, hb, ha, r = self.page(**params)
        self.assertEqual((s, hb, ha), (seqs, before, after),
                         "params %r: (seqs, has_more_before, has_more_after): %s" % (params, r.describe()))

    def test_newest_page(self):
        self.expect({"limit": 10}, list(range(16, 26)), True, False)
        self.expect({}, list(range(1, 26)), False, False)
        self.expect({"limit": 25}, list(range(1, 26)), False, False)
        self.expect({"limit": 24}, list(range(2, 26)), True, False)
        self.expect({"limit": 1}, [25], True, False)

    def test_before_seq(self):
        self.expect({"before_seq": 16, "limit": 10}, list(range(6, 16)), True, True)
        self.expect({"before_seq": 6, "limit": 10}, [1, 2, 3, 4, 5], False, True)
        self.expect({"before_seq": 11, "limit": 10}, list(range(1, 11)), False, True)
        self.expect({"before_seq": 1, "limit": 10}, [], False, True)
        self.expect({"before_seq": 26, "limit": 10}, list(range(16, 26)), True, False)

    def test_after_seq(self):
        self.expect({"after_seq": 0, "limit": 10}, list(range(1, 11)), False, True)
        self.expect({"after_seq": 10, "limit": 10}, list(range(11, 21)), True, True)
        self.expect({"after_seq": 15, "limit": 10}, list(range(16, 26)), True, False)
        self.expect({"after_seq": 20, "limit": 10}, list(range(21, 26)), True, False)
        self.expect({"after_seq": 25, "limit": 10}, [], True, False)

    def test_around_seq(self):
        # odd limit: the anchor in the middle, as many on each side
        self.expect({"around_seq": 13, "limit": 11}, list(range(8, 19)), True, True)
        self.expect({"around_seq": 13, "limit": 1}, [13], True, True)
        # even limit: ten contiguous seqs holding 13, balanced within one
        s, hb, ha, r = self.page(around_seq=13, limit=10)
        self.assertEqual(len(s), 10, r.describe())
        self.assertIn(13, s)
        self.assertEqual(s, list(range(s[0], s[0] + 10)))
        self.assertLessEqual(abs((13 - s[0]) - (s[-1] - 13)), 1, "around is centred: %r" % s)
        self.assertEqual((hb, ha), (True, True))
        # near the ends: the page holds the anchor and the flags say what is left
        for anchor in (1, 2, 24, 25):
            s, hb, ha, r = self.page(around_seq=anchor, limit=11)
            self.assertIn(anchor, s, r.describe())
            self.assertEqual(s, list(range(s[0], s[-1] + 1)), "contiguous: " + r.describe())
            self.assertLessEqual(len(s), 11)
            self.assertEqual(hb, s[0] > 1, "has_more_before: " + r.describe())
            self.assertEqual(ha, s[-1] < self.N, "has_more_after: " + r.describe())
        s, hb, ha, r = self.page(around_seq=1, limit=11)
        self.assertEqual(s[0], 1)
        s, hb, ha, r = self.page(around_seq=25, limit=11)
        self.assertEqual(s[-1], 25)

    def test_walk_back_covers_every_seq_once(self):
        for limit in (7, 10, 1):
            s, hb, ha, r = self.page(limit=limit)
            self.assertFalse(ha)
            seen = list(s)
            pages = 1
            while hb:
                s, hb, ha, r = self.page(before_seq=s[0], limit=limit)
                self.assertTrue(s, "a page with has_more_before before it is not empty: " + r.describe())
                self.assertTrue(ha)
                seen = s + seen
                pages += 1
                self.assertLess(pages, 100)
            self.assertEqual(seen, list(range(1, self.N + 1)), "limit %d" % limit)
            self.assertEqual(len(seen), len(set(seen)))

    def test_walk_forward_covers_every_seq_once(self):
        s, hb, ha, r = self.page(after_seq=0, limit=7)
        self.assertFalse(hb)
        seen = list(s)
        while ha:
            s, hb, ha, r = self.page(after_seq=s[-1], limit=7)
            self.assertTrue(s)
            self.assertTrue(hb)
            seen += s
        self.assertEqual(seen, list(range(1, self.N + 1)))

    def test_bad_params(self):
        for q in ({"limit": "abc"}, {"before_seq": "x"}, {"after_seq": "1.5"}, {"around_seq": "-"}):
            r = history(self.a, self.cid, **q)
            self.assertError(r, 400, "invalid_request", "params %r" % q)

    def test_member_sees_same_history(self):
        ra = history(self.a, self.cid, limit=50)
        rb = history(self.b, self.cid, limit=50)
        self.assertStatus(rb, 200)
        self.assertEqual(ra.json["messages"], rb.json["messages"])


class LimitTest(ApiTestCase):
    N = 205

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("lima"), register("limb")
        cls.cid = create_direct(cls.a, cls.b)["id"]
        for i in range(1, cls.N + 1):
            post_message(cls.a, cls.cid, "L%d" % i)

    def test_default_limit_is_50(self):
        r = history(self.a, self.cid)
        self.assertStatus(r, 200)
        self.assertEqual(seqs_of(r), list(range(self.N - 49, self.N + 1)), "default page is 50")
        self.assertTrue(r.json["has_more_before"])
        self.assertFalse(r.json["has_more_after"])

    def test_limit_200_allowed(self):
        r = history(self.a, self.cid, limit=200)
        self.assertStatus(r, 200)
        self.assertEqual(seqs_of(r), list(range(self.N - 199, self.N + 1)))
        self.assertTrue(r.json["has_more_before"])

    def test_limit_over_200_consistent(self):
        answers = [(lim, history(self.a, self.cid, limit=lim)) for lim in (201, 500, 100000)]
        answers.append((300, history(self.a, self.cid, limit=300, before_seq=self.N + 1)))
        answers.append((250, history(self.a, self.cid, limit=250, after_seq=0)))
        first = answers[0][1]
        mode = "reject" if first.status == 400 else "clamp"
        print("\n  [limit>200 mode: %s] %s" % (mode, first.describe()[:200]), file=sys.stderr)
        if LIMIT_MODE != "any":
            self.assertEqual(mode, LIMIT_MODE, "limit=201 should be handled as %r (CHAT_EXPECT_LIMIT_MODE): %s"
                             % (LIMIT_MODE, first.describe()))
        for lim, r in answers:
            if mode == "reject":
                self.assertError(r, 400, "invalid_request", "(limit=%d; limit=201 was refused)" % lim)
            else:
                self.assertStatus(r, 200, "(limit=%d; limit=201 was clamped)" % lim)
                self.assertEqual(len(r.json["messages"]), 200, "clamped to 200: limit=%d" % lim)
        if mode == "clamp":
            self.assertEqual(seqs_of(answers[0][1]), list(range(6, 206)))
            self.assertEqual(seqs_of(answers[4][1]), list(range(1, 201)))
            self.assertTrue(answers[4][1].json["has_more_after"])


if __name__ == "__main__":
    chatlib.main()
