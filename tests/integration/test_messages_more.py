#!/usr/bin/python3
"""Messages beyond sending: edit, delete (tombstones), replies, read and
delivered markers with unread_count, typing, and full-text search
(API.md "Messages", "Chats").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_messages_more.py

Assumptions where API.md is silent:
- "the content is purged everywhere it was kept" includes the stream's
  replay (a long-poll cursor read again after the delete).
- PATCH answers 200 with the whole message; DELETE answers 204 with no body.
- An edit of a deleted message is 409 (`conflict` or a more precise code).
- A search restricted by chat_id to a chat the caller is not in answers
  200 with no messages, or 404; it never shows that chat's messages.
- Search results are message objects; deleted messages are not found
  (their content is purged).
"""

import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, register, request, create_direct, create_group,  # noqa: E402
                     post_message, history)


def word(prefix="w"):
    """A word no other message of any run holds (letters only, so every
    text-search parser keeps it whole)."""
    return prefix + "".join(chatlib._rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(12))


class EditDeleteTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.admin, cls.b, cls.c = register("eda"), register("edb"), register("edc")
        cls.g = create_group(cls.admin, [cls.b, cls.c], "edits")
        cls.gid = cls.g["id"]

    def msg(self, seq, user=None):
        r = history(user or self.admin, self.gid, around_seq=seq, limit=1)
        self.assertStatus(r, 200)
        ms = [m for m in r.json["messages"] if m["seq"] == seq]
        self.assertEqual(len(ms), 1, r.describe())
        return ms[0]

    def chat(self, user=None):
        r = (user or self.admin).req("GET", "/chats/%d" % self.gid)
        self.assertStatus(r, 200)
        return r.json

    def test_edit_by_sender(self):
        m = post_message(self.b, self.gid, "before edit").json
        v0 = self.chat()["version"]
        r = self.b.req("PATCH", "/chats/%d/messages/%d" % (self.gid, m["seq"]), {"content": "after edit"})
        self.assertStatus(r, 200)
        self.assertJsonContentType(r)
        e = r.json
        self.assertMessage(e, self.gid)
        self.assertEqual(e["content"], "after edit")
        self.assertEqual((e["id"], e["seq"], e["sender_id"], e["created_at"]),
                         (m["id"], m["seq"], m["sender_id"], m["created_at"]))
        self.assertIsNotNone(e["edited_at"], "edited_at is set: " + r.describe())
        self.assertTime(e["edited_at"], "edited_at")
        self.assertGreaterEqual(e["edited_at"], e["created_at"])
        self.assertFalse(e["deleted"])
        # an edit is a durable change with its own version
        self.assertGreater(e["version"], m["version"])
        c = self.chat()
        self.assertEqual(c["version"], v0 + 1)
        self.assertEqual(e["version"], c["version"])
        # history shows the new content, to every member
        for u in (self.admin, self.b, self.c):
            h = self.msg(m["seq"], u)
            self.assertEqual(h["content"], "after edit")
            self.assertEqual(h["edited_at"], e["edited_at"])
        # content is validated as on send
        for bad in ({"content": ""}, {"content": "   "}, {}, {"content": 5},
                    {"content": "x" * 16385}):
            r = self.b.req("PATCH", "/chats/%d/messages/%d" % (self.gid, m["seq"]), bad)
            self.assertError(r, 400, "invalid_request", "body %r" % (list(bad.items())[:1],))
        self.assertEqual(self.msg(m["seq"])["content"], "after edit")

    def test_edit_by_another_member_is_403(self):
        m = post_message(self.b, self.gid, "b wrote this").json
        for u in (self.c, self.admin):  # sender only: not even an admin edits
            r = u.req("PATCH", "/chats/%d/messages/%d" % (self.gid, m["seq"]), {"content": "hijacked"})
            self.assertError(r, 403, "forbidden", "editor %r" % u)
        h = self.msg(m["seq"])
        self.assertEqual(h["content"], "b wrote this")
        self.assertIsNone(h["edited_at"])
        self.assertEqual(h["version"], m["version"])

    def test_edit_or_delete_missing_message_is_404(self):
        last = self.chat()["last_seq"]
        for seq in (last + 1, last + 1000):
            r = self.b.req("PATCH", "/chats/%d/messages/%d" % (self.gid, seq), {"content": "x"})
            self.assertError(r, 404, "not_found")
            r = self.b.req("DELETE", "/chats/%d/messages/%d" % (self.gid, seq))
            self.assertError(r, 404, "not_found")
        for seq in ("0", "-1", "abc"):
            r = self.b.req("PATCH", "/chats/%d/messages/%s" % (self.gid, seq), {"content": "x"})
            self.assertError(r, (400, 404), msg=seq)
        self.assertEqual(self.chat()["last_seq"], last)

    def test_delete_by_sender_leaves_tombstone(self):
        secret = "delete me " + word()
        m = post_message(self.c, self.gid, secret).json
        v0 = self.chat()["version"]
        r = self.c.req("DELETE", "/chats/%d/messages/%d" % (self.gid, m["seq"]))
        self.assertStatus(r, 204)
        self.assertFalse(r.raw, "204 has no body: " + r.describe())
        self.assertEqual(self.chat()["version"], v0 + 1, "a delete is a durable change")
        for u in (self.admin, self.b, self.c):
            h = self.msg(m["seq"], u)
            self.assertMessage(h, self.gid)
            self.assertTrue(h["deleted"], h)
            self.assertEqual(h["content"], "", h)
            self.assertEqual((h["id"], h["seq"], h["sender_id"]), (m["id"], m["seq"], m["sender_id"]))
            r = history(u, self.gid, limit=200)
            self.assertNotIn(secret, r.raw.decode("utf-8"), "deleted content is purged")
        # the seq stays taken: the next message gets the next one
        n = post_message(self.b, self.gid, "after the tombstone").json
        self.assertEqual(n["seq"], self.chat()["last_seq"])
        self.assertGreater(n["seq"], m["seq"])

    def test_deleted_content_purged_from_every_read_path(self):
        secret = "purge " + word()
        m = post_message(self.b, self.gid, secret).json
        self.assertStatus(self.b.req("DELETE", "/chats/%d/messages/%d" % (self.gid, m["seq"])), 204)
        paths = ["/chats/%d" % self.gid, "/chats", "/chats?order=id",
                 "/chats/%d/messages?limit=200" % self.gid,
                 "/chats/%d/messages?around_seq=%d" % (self.gid, m["seq"]),
                 "/chats/%d/changes?since_version=0&limit=200" % self.gid,
                 "/search?" + urllib.parse.urlencode({"q": secret.split()[1]})]
        for u in (self.admin, self.b, self.c):
            for p in paths:
                r = u.req("GET", p)
                self.assertStatus(r, 200)
                self.assertNotIn(secret.split()[1], r.raw.decode("utf-8"), "deleted content in " + r.describe())
        last = self.chat()["last_message"]
        if last and last["seq"] == m["seq"]:
            self.assertTrue(last["deleted"])
            self.assertEqual(last["content"], "")

    def test_deleted_content_not_replayed_by_the_stream(self):
        # API.md: on delete "the content is purged everywhere it was kept". A
        # stream's replay (a long-poll cursor read again, or a resume within
        # 120 s) is such a place: a cursor from before the send must not
        # hand out the content after the delete.
        secret = "replayed " + word()
        r = request("GET", "/poll", token=self.c.token)
        self.assertStatus(r, 200)
        cur = r.json["cursor"]
        m = post_message(self.b, self.gid, secret).json
        r = request("GET", "/poll?" + urllib.parse.urlencode({"cursor": cur, "timeout": 5}), token=self.c.token)
        self.assertStatus(r, 200)
        self.assertIn(secret, r.raw.decode("utf-8"), "the live event carries the content")
        self.assertStatus(self.b.req("DELETE", "/chats/%d/messages/%d" % (self.gid, m["seq"])), 204)
        r = request("GET", "/poll?" + urllib.parse.urlencode({"cursor": cur, "timeout": 5}), token=self.c.token)
        self.assertStatus(r, 200)
        self.assertNotIn(secret.split()[1], r.raw.decode("utf-8"),
                         "a replay after the delete hands out the deleted content: " + r.describe())

    def test_delete_by_admin_of_others_message(self):
        m = post_message(self.b, self.gid, "admin will remove this").json
        r = self.admin.req("DELETE", "/chats/%d/messages/%d" % (self.gid, m["seq"]))
        self.assertStatus(r, 204)
        h = self.msg(m["seq"], self.b)
        self.assertTrue(h["deleted"])
        self.assertEqual(h["content"], "")
        self.assertEqual(h["sender_id"], self.b.id)

    def test_delete_by_plain_member_of_others_message_is_403(self):
        m = post_message(self.b, self.gid, "c may not remove this").json
        v0 = self.chat()["version"]
        r = self.c.req("DELETE", "/chats/%d/messages/%d" % (self.gid, m["seq"]))
        self.assertError(r, 403, "forbidden")
        h = self.msg(m["seq"])
        self.assertFalse(h["deleted"])
        self.assertEqual(h["content"], "c may not remove this")
        self.assertEqual(self.chat()["version"], v0)
        # nor the admin's message
        a = post_message(self.admin, self.gid, "admin's own").json
        r = self.c.req("DELETE", "/chats/%d/messages/%d" % (self.gid, a["seq"]))
        self.assertError(r, 403, "forbidden")
        self.assertFalse(self.msg(a["seq"])["deleted"])

    def test_edit_of_deleted_message_is_409(self):
        m = post_message(self.b, self.gid, "soon gone").json
        self.assertStatus(self.b.req("DELETE", "/chats/%d/messages/%d" % (self.gid, m["seq"])), 204)
        v0 = self.chat()["version"]
        r = self.b.req("PATCH", "/chats/%d/messages/%d" % (self.gid, m["seq"]), {"content": "revived"})
        self.assertError(r, 409)
        h = self.msg(m["seq"])
        self.assertTrue(h["deleted"])
        self.assertEqual(h["content"], "")
        self.assertEqual(self.chat()["version"], v0, "a refused edit takes no version")

    def test_direct_chat_edit_and_delete(self):
        a, b = register("eddx"), register("eddy")
        cid = create_direct(a, b)["id"]
        m = post_message(a, cid, "direct one").json
        self.assertError(b.req("PATCH", "/chats/%d/messages/%d" % (cid, m["seq"]), {"content": "no"}),
                         403, "forbidden")
        self.assertError(b.req("DELETE", "/chats/%d/messages/%d" % (cid, m["seq"])), 403, "forbidden")
        self.assertStatus(a.req("PATCH", "/chats/%d/messages/%d" % (cid, m["seq"]), {"content": "yes"}), 200)
        self.assertStatus(a.req("DELETE", "/chats/%d/messages/%d" % (cid, m["seq"])), 204)


class ReplyTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("rpa"), register("rpb")
        cls.cid = create_direct(cls.a, cls.b)["id"]
        for i in range(3):
            post_message(cls.a, cls.cid, "base %d" % i)

    def last_seq(self):
        return self.a.req("GET", "/chats/%d" % self.cid).json["last_seq"]

    def test_reply_stored_and_returned(self):
        r = self.b.req("POST", "/chats/%d/messages" % self.cid, {"content": "re: 2", "reply_to_seq": 2})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["reply_to_seq"], 2)
        seq = r.json["seq"]
        h = history(self.a, self.cid, around_seq=seq, limit=1).json["messages"]
        self.assertEqual([m["reply_to_seq"] for m in h if m["seq"] == seq], [2])
        # a reply to the newest message
        last = self.last_seq()
        r = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "re: last", "reply_to_seq": last})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["reply_to_seq"], last)
        # an edit keeps it
        e = self.a.req("PATCH", "/chats/%d/messages/%d" % (self.cid, r.json["seq"]), {"content": "re: last!"})
        self.assertStatus(e, 200)
        self.assertEqual(e.json["reply_to_seq"], last)

    def test_invalid_reply_to_seq(self):
        last = self.last_seq()
        for v in (0, -1, last + 1, last + 1000, 2 ** 53, "1", 1.5, True, [1], {"seq": 1}):
            r = self.a.req("POST", "/chats/%d/messages" % self.cid, {"content": "bad reply", "reply_to_seq": v})
            self.assertError(r, 400, "invalid_request", "reply_to_seq %r" % (v,))
        self.assertEqual(self.last_seq(), last, "nothing was posted")
        # a seq of another chat is not a seq of this one
        other = create_group(self.a, [], "other")
        r = self.a.req("POST", "/chats/%d/messages" % other["id"], {"content": "x", "reply_to_seq": last})
        self.assertError(r, 400, "invalid_request")


class MarkersTest(ApiTestCase):

    def setUp(self):
        self.a, self.b = register("mka"), register("mkb")
        self.cid = create_direct(self.a, self.b)["id"]

    def chat(self, u):
        r = u.req("GET", "/chats/%d" % self.cid)
        self.assertStatus(r, 200)
        return r.json

    def mark(self, u, what, seq):
        r = u.req("POST", "/chats/%d/%s" % (self.cid, what), {"seq": seq})
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"read_seq", "delivered_seq"}, r.describe())
        return r.json["read_seq"], r.json["delivered_seq"]

    def state(self, u):
        c = self.chat(u)
        return c["read_seq"], c["delivered_seq"], c["unread_count"]

    def test_markers_forward_clamped_read_implies_delivered(self):
        for i in range(5):
            post_message(self.a, self.cid, "m%d" % (i + 1))
        self.assertEqual(self.state(self.b), (0, 0, 5))
        self.assertEqual(self.mark(self.b, "read", 2), (2, 2), "read implies delivered")
        self.assertEqual(self.state(self.b), (2, 2, 3))
        self.assertEqual(self.mark(self.b, "delivered", 4), (2, 4))
        self.assertEqual(self.state(self.b), (2, 4, 3), "delivered does not change unread")
        # never backwards
        self.assertEqual(self.mark(self.b, "read", 1), (2, 4))
        self.assertEqual(self.mark(self.b, "delivered", 3), (2, 4))
        self.assertEqual(self.mark(self.b, "read", 0), (2, 4))
        self.assertEqual(self.state(self.b), (2, 4, 3))
        # read past delivered pulls delivered along
        self.assertEqual(self.mark(self.b, "read", 3), (3, 4))
        self.assertEqual(self.mark(self.b, "read", 5), (5, 5))
        # clamped to last_seq
        self.assertEqual(self.mark(self.b, "read", 1000), (5, 5))
        self.assertEqual(self.mark(self.b, "delivered", 2 ** 40), (5, 5))
        self.assertEqual(self.state(self.b), (5, 5, 0))
        post_message(self.a, self.cid, "m6")
        self.assertEqual(self.state(self.b), (5, 5, 1))
        self.assertEqual(self.mark(self.b, "delivered", 99), (5, 6), "clamped to the new last_seq")
        self.assertEqual(self.mark(self.b, "read", 99), (6, 6))
        # the members list shows the same receipts
        r = self.a.req("GET", "/chats/%d/members" % self.cid)
        self.assertStatus(r, 200)
        mb = {m["user"]["id"]: (m["read_seq"], m["delivered_seq"]) for m in r.json["members"]}
        self.assertEqual(mb[self.b.id], (6, 6))
        self.assertEqual(mb[self.a.id], (6, 6), "posting moves the sender's own markers")

    def test_clamp_on_empty_chat(self):
        self.assertEqual(self.mark(self.b, "read", 10), (0, 0))
        self.assertEqual(self.mark(self.b, "delivered", 10), (0, 0))
        self.assertEqual(self.state(self.b), (0, 0, 0))

    def test_unread_counts_only_others_non_deleted(self):
        for i in range(4):
            post_message(self.a, self.cid, "from a %d" % i)       # seq 1-4
        self.assertEqual(self.state(self.b)[2], 4)
        self.assertEqual(self.state(self.a)[2], 0, "own messages are never unread")
        # a deleted message no longer counts
        self.assertStatus(self.a.req("DELETE", "/chats/%d/messages/2" % self.cid), 204)
        self.assertEqual(self.state(self.b)[2], 3)
        # an edit does not change the count
        self.assertStatus(self.a.req("PATCH", "/chats/%d/messages/3" % self.cid, {"content": "edited"}), 200)
        self.assertEqual(self.state(self.b)[2], 3)
        # b reads up to 3: only seq 4 is left
        self.mark(self.b, "read", 3)
        self.assertEqual(self.state(self.b)[2], 1)
        # b posts: b's markers move to its message, so nothing is unread for b
        m = post_message(self.b, self.cid, "from b").json                  # seq 5
        self.assertEqual(self.state(self.b), (m["seq"], m["seq"], 0))
        # for a, only b's message is unread (a's own are never counted)
        self.assertEqual(self.state(self.a)[2], 1)
        # deleting b's message clears a's count without a moving its markers
        self.assertStatus(self.b.req("DELETE", "/chats/%d/messages/%d" % (self.cid, m["seq"])), 204)
        self.assertEqual(self.state(self.a)[2], 0)

    def test_bad_marker_bodies(self):
        post_message(self.a, self.cid, "x")
        for what in ("read", "delivered"):
            for body in ({}, {"seq": -1}, {"seq": "1"}, {"seq": 1.5}, {"seq": None}, {"seq": True}):
                r = self.b.req("POST", "/chats/%d/%s" % (self.cid, what), body)
                self.assertError(r, 400, "invalid_request", "%s %r" % (what, body))
            r = self.b.req("POST", "/chats/%d/%s" % (self.cid, what), raw=b"[1]")
            self.assertError(r, 400, "invalid_request")
        self.assertEqual(self.state(self.b), (0, 0, 1))

    def test_non_member_markers_404(self):
        x = register("mkx")
        post_message(self.a, self.cid, "x")
        for what in ("read", "delivered"):
            r = x.req("POST", "/chats/%d/%s" % (self.cid, what), {"seq": 1})
            self.assertError(r, 404, "not_found")
        self.assertEqual(self.state(self.b), (0, 0, 1))


class TypingTest(ApiTestCase):

    def test_typing(self):
        a, b, x = register("tya"), register("tyb"), register("tyx")
        cid = create_direct(a, b)["id"]
        g = create_group(a, [b], "typing")["id"]
        for c in (cid, g):
            r = a.req("POST", "/chats/%d/typing" % c)
            self.assertStatus(r, 204)
            self.assertFalse(r.raw, "204 has no body: " + r.describe())
            self.assertStatus(b.req("POST", "/chats/%d/typing" % c), 204)
            # a body is allowed too
            self.assertStatus(b.req("POST", "/chats/%d/typing" % c, {}), 204)
            self.assertError(x.req("POST", "/chats/%d/typing" % c), 404, "not_found")
        self.assertError(a.req("POST", "/chats/%d/typing" % (g + 10 ** 12)), 404, "not_found")
        self.assertError(request("POST", "/chats/%d/typing" % cid), 401, "unauthorized")
        # typing is ephemeral: no version taken
        v = a.req("GET", "/chats/%d" % g).json["version"]
        self.assertStatus(a.req("POST", "/chats/%d/typing" % g), 204)
        self.assertEqual(a.req("GET", "/chats/%d" % g).json["version"], v)


class SearchTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.x = register("sra"), register("srb"), register("srx")
        cls.w1, cls.w2, cls.w3, cls.secret, cls.both = word(), word(), word(), word("s"), word("b")
        cls.c1 = create_direct(cls.a, cls.b)["id"]
        cls.c3 = create_group(cls.a, [], "search solo")["id"]
        cls.hidden = create_group(cls.x, [cls.b], "hidden from a")["id"]
        cls.m_all = post_message(cls.a, cls.c1, "%s %s %s" % (cls.w1, cls.w2, cls.w3)).json
        cls.m_rev = post_message(cls.b, cls.c1, "%s %s" % (cls.w2, cls.w1)).json
        cls.m_one = post_message(cls.a, cls.c1, "only %s here." % cls.w1).json
        cls.m_up = post_message(cls.b, cls.c1, "Shouting %s!" % cls.w3.upper()).json
        cls.m_sec = post_message(cls.x, cls.hidden, "the %s code, with %s" % (cls.secret, cls.w1)).json
        cls.m_b1 = post_message(cls.a, cls.c1, "in c1: %s" % cls.both).json
        cls.m_b3 = post_message(cls.a, cls.c3, "in c3: %s" % cls.both).json

    def search(self, user, q, expect=200, **params):
        params["q"] = q
        r = user.req("GET", "/search?" + urllib.parse.urlencode(params))
        if expect is None:
            return r
        self.assertStatus(r, expect, "q=%r" % q)
        if expect == 200:
            self.assertJsonContentType(r)
            self.assertIsInstance(r.json.get("messages"), list, r.describe())
            for m in r.json["messages"]:
                self.assertMessage(m)
        return r

    def ids(self, r):
        return {m["id"] for m in r.json["messages"]}

    def test_words(self):
        r = self.search(self.a, self.w1)
        self.assertEqual(self.ids(r), {self.m_all["id"], self.m_rev["id"], self.m_one["id"]})
        for m in r.json["messages"]:
            self.assertIn(self.w1, m["content"])
        # two words: both must occur
        r = self.search(self.a, "%s %s" % (self.w1, self.w3))
        self.assertEqual(self.ids(r), {self.m_all["id"]})
        # case does not matter
        r = self.search(self.a, self.w3.upper())
        self.assertEqual(self.ids(r), {self.m_all["id"], self.m_up["id"]})
        # the other member finds the same
        self.assertEqual(self.ids(self.search(self.b, self.w2)), {self.m_all["id"], self.m_rev["id"]})

    def test_only_callers_chats(self):
        # a's search never shows x's chat, even for a word a also has
        r = self.search(self.a, self.secret)
        self.assertEqual(r.json["messages"], [], r.describe())
        r = self.search(self.a, self.w1)
        self.assertNotIn(self.m_sec["id"], self.ids(r))
        self.assertNotIn(self.secret, r.raw.decode("utf-8"))
        # b is in both chats and finds both
        self.assertEqual(self.ids(self.search(self.b, self.secret)), {self.m_sec["id"]})
        # and an outsider of everything finds nothing
        z = register("srz")
        for q in (self.w1, self.secret, self.both):
            self.assertEqual(self.search(z, q).json["messages"], [])
        # a chat_id filter naming a chat a is not in reveals nothing either
        r = self.search(self.a, self.secret, expect=None, chat_id=self.hidden)
        self.assertIn(r.status, (200, 404), r.describe())
        if r.status == 200:
            self.assertEqual(r.json["messages"], [], r.describe())
        else:
            self.assertError(r, 404, "not_found")
        self.assertNotIn(self.secret, r.raw.decode("utf-8"))

    def test_left_chat_is_no_longer_searched(self):
        u, v = register("srl"), register("srm")
        w = word()
        g = create_group(u, [v], "leave me")["id"]
        post_message(u, g, "before leaving " + w)
        self.assertEqual(len(self.search(v, w).json["messages"]), 1)
        self.assertStatus(v.req("DELETE", "/chats/%d/members/%d" % (g, v.id)), 204)
        self.assertEqual(self.search(v, w).json["messages"], [], "a former member searches no more")

    def test_phrases(self):
        r = self.search(self.a, '"%s %s"' % (self.w1, self.w2))
        self.assertEqual(self.ids(r), {self.m_all["id"]}, "a phrase keeps word order")
        r = self.search(self.a, '"%s %s"' % (self.w2, self.w1))
        self.assertEqual(self.ids(r), {self.m_rev["id"]})
        r = self.search(self.a, '"%s %s"' % (self.w1, self.w3))
        self.assertEqual(self.ids(r), set(), "a phrase's words must be adjacent")

    def test_exclusions(self):
        r = self.search(self.a, "%s -%s" % (self.w1, self.w3))
        self.assertEqual(self.ids(r), {self.m_rev["id"], self.m_one["id"]})
        r = self.search(self.a, "%s -%s -%s" % (self.w1, self.w3, self.w2))
        self.assertEqual(self.ids(r), {self.m_one["id"]})
        r = self.search(self.a, "%s or %s" % (self.w2, self.w3))
        self.assertEqual(self.ids(r), {self.m_all["id"], self.m_rev["id"], self.m_up["id"]})

    def test_chat_id_filter(self):
        self.assertEqual(self.ids(self.search(self.a, self.both)), {self.m_b1["id"], self.m_b3["id"]})
        r = self.search(self.a, self.both, chat_id=self.c1)
        self.assertEqual(self.ids(r), {self.m_b1["id"]})
        self.assertTrue(all(m["chat_id"] == self.c1 for m in r.json["messages"]))
        r = self.search(self.a, self.both, chat_id=self.c3)
        self.assertEqual(self.ids(r), {self.m_b3["id"]})
        for bad in ("abc", "-1", "1.5"):
            r = self.search(self.a, self.both, expect=None, chat_id=bad)
            self.assertError(r, 400, "invalid_request", "chat_id=%s" % bad)

    def test_limit(self):
        r = self.search(self.a, self.w1, limit=1)
        self.assertEqual(len(r.json["messages"]), 1)
        self.assertIn(r.json["messages"][0]["id"], {self.m_all["id"], self.m_rev["id"], self.m_one["id"]})

    def test_edits_and_deletes_are_searched_as_they_are(self):
        old, new, gone = word("o"), word("n"), word("g")
        m = post_message(self.a, self.c1, "edit from " + old).json
        d = post_message(self.a, self.c1, "delete " + gone).json
        self.assertEqual(self.ids(self.search(self.a, old)), {m["id"]})
        self.assertEqual(self.ids(self.search(self.a, gone)), {d["id"]})
        self.assertStatus(self.a.req("PATCH", "/chats/%d/messages/%d" % (self.c1, m["seq"]),
                                     {"content": "edit to " + new}), 200)
        self.assertStatus(self.a.req("DELETE", "/chats/%d/messages/%d" % (self.c1, d["seq"])), 204)
        self.assertEqual(self.search(self.a, old).json["messages"], [], "the old text is gone")
        r = self.search(self.a, new)
        self.assertEqual(self.ids(r), {m["id"]})
        self.assertEqual(r.json["messages"][0]["content"], "edit to " + new)
        self.assertEqual(self.search(self.a, gone).json["messages"], [], "deleted content is purged")
        self.assertEqual(self.search(self.b, gone).json["messages"], [])

    def test_odd_input_never_errors(self):
        odd = ['"(-', '"', '-', '--', '""', '" "', '(', ')', '(((', '))) OR (((', 'or', 'OR', 'and',
               '-"', '"-', '!', '&', '|', '&&||!!', ':*', 'a:*', "'", "''", "\\", "\\\"", "*", "%", "_",
               "' OR 1=1 --", "'; DROP TABLE messages; --", "<->", "a <-> b", "a & | b", "!!!a",
               "-" + self.w1, "--" + self.w1, '"' + self.w1, self.w1 + '"', '"%s' % self.w1,
               "\u00e9\u00e8 \u4e2d\u6587 \U0001F600", "\u201c%s\u201d" % self.w1, "x" * 250,
               " ".join(["-x"] * 40), "a" * 256]
        for q in odd:
            r = self.search(self.a, q)
            self.assertNotIn(self.secret, r.raw.decode("utf-8"))
        # a lone exclusion finds nothing of x's chat either
        r = self.search(self.a, "-" + word())
        self.assertNotIn(self.m_sec["id"], self.ids(r))

    def test_needs_auth(self):
        r = request("GET", "/search?q=" + self.w1)
        self.assertError(r, 401, "unauthorized")


if __name__ == "__main__":
    chatlib.main()
