#!/usr/bin/python3
"""GET /chats/{id}/changes: the catch-up log of a chat's durable changes
(API.md "Chat versions and catch-up", "Real-time events").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_changes.py

Assumptions where API.md is silent:
- The answer's `version` is at least the last event's version on a page,
  and the chat's current version on the last page (has_more false); pages
  are walked with since_version = the last event's version.
- The payload of `chat.created` names the initial members in
  `chat.member_ids` (or a top-level `member_ids`).
- "/changes returns the same event objects the stream carries" is read
  literally: an event fetched later is the object published at its version
  (so a chat or message inside it shows that version), except that the
  content of a deleted message is purged (API.md "Messages").
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, register, create_direct, create_group, post_message,  # noqa: E402
                     open_stream)

DURABLE = ("chat.created", "chat.updated", "message.created", "message.updated",
           "message.deleted", "member.joined", "member.left")
PER_CALLER = ("unread_count", "read_seq", "delivered_seq", "role")


class ChangesTestBase(ApiTestCase):

    def changes(self, user, cid, since, limit=None, expect=200):
        q = "since_version=%d" % since + ("&limit=%d" % limit if limit is not None else "")
        r = user.req("GET", "/chats/%d/changes?%s" % (cid, q))
        if expect is None:
            return r
        self.assertStatus(r, expect)
        if expect == 200:
            self.assertJsonContentType(r)
            self.assertNoExponentIds(r)
            j = r.json
            self.assertIsInstance(j, dict, r.describe())
            self.assertIsInstance(j.get("events"), list, r.describe())
            self.assertIsInstance(j.get("has_more"), bool, r.describe())
            self.assertIsInstance(j.get("version"), int, r.describe())
        return r

    def chat_version(self, user, cid):
        r = user.req("GET", "/chats/%d" % cid)
        self.assertStatus(r, 200)
        return r.json["version"]

    def assertEventChat(self, c, cid):
        """A chat inside an event: the chat object without the per-caller
        fields. last_message is checked apart (test_event_chats_carry_last_message)."""
        self.assertIsInstance(c, dict)
        if "last_message" not in c:
            c = dict(c, last_message=None)
        self.assertChat(c, caller=False)
        self.assertEqual(c["id"], cid)

    def assertEventShape(self, ev, cid):
        self.assertIsInstance(ev, dict)
        t = ev.get("type")
        self.assertIn(t, DURABLE, "only durable events in /changes: %r" % ev)
        self.assertEqual(ev.get("chat_id"), cid, "durable events carry chat_id: %r" % ev)
        self.assertId(ev.get("version"), "event.version")
        if t in ("chat.created", "chat.updated"):
            self.assertEventChat(ev.get("chat"), cid)
        elif t.startswith("message."):
            self.assertMessage(ev.get("message"), cid)
        elif t == "member.joined":
            self.assertId(ev.get("user_id"), "member.joined user_id")
            self.assertIn(ev.get("role"), ("admin", "member"), ev)
            self.assertEventChat(ev.get("chat"), cid)
        elif t == "member.left":
            self.assertId(ev.get("user_id"), "member.left user_id")
        if isinstance(ev.get("chat"), dict):
            for k in PER_CALLER:
                self.assertNotIn(k, ev["chat"], "chat objects inside events omit per-caller fields: %r" % ev)


class ChangesTest(ChangesTestBase):
    """One group chat through a mix of every kind of durable change."""

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.c, cls.d = register("cga"), register("cgb"), register("cgc"), register("cgd")
        cls.x = register("cgx")
        cls.secret = "purge me " + chatlib.rand_suffix(12)
        a, b, c = cls.a, cls.b, cls.c
        g = create_group(a, [b], "changes")
        cid = cls.cid = g["id"]
        exp = [("chat.created", None)]                                  # v1

        def ok(r, status):
            if r.status != status:
                raise AssertionError("setup step failed: " + r.describe())
            return r

        m1 = post_message(a, cid, "first").json; exp.append(("message.created", m1["seq"]))
        m2 = post_message(b, cid, cls.secret).json; exp.append(("message.created", m2["seq"]))
        ok(a.req("PATCH", "/chats/%d/messages/%d" % (cid, m1["seq"]), {"content": "first, edited"}), 200)
        exp.append(("message.updated", m1["seq"]))
        ok(a.req("POST", "/chats/%d/members" % cid, {"user_ids": [c.id]}), 200)
        exp.append(("member.joined", c.id))
        m3 = post_message(c, cid, "hello from c").json; exp.append(("message.created", m3["seq"]))
        ok(a.req("PATCH", "/chats/%d" % cid, {"title": "changes renamed"}), 200)
        exp.append(("chat.updated", None))
        ok(b.req("DELETE", "/chats/%d/messages/%d" % (cid, m2["seq"])), 204)
        exp.append(("message.deleted", m2["seq"]))
        ok(a.req("DELETE", "/chats/%d/members/%d" % (cid, c.id)), 204)
        exp.append(("member.left", c.id))
        m4 = post_message(a, cid, "after c left").json; exp.append(("message.created", m4["seq"]))
        ok(a.req("DELETE", "/chats/%d/messages/%d" % (cid, m3["seq"])), 204)  # an admin deletes c's
        exp.append(("message.deleted", m3["seq"]))
        ok(a.req("POST", "/chats/%d/members" % cid, {"user_ids": [cls.d.id]}), 200)
        exp.append(("member.joined", cls.d.id))
        cls.expected = exp
        cls.n = len(exp)

    def all_events(self, user=None):
        r = self.changes(user or self.a, self.cid, 0, limit=200)
        return r

    def test_replay_from_zero(self):
        self.assertEqual(self.chat_version(self.a, self.cid), self.n, "the chat's version counts every change")
        r = self.all_events()
        j = r.json
        evs = j["events"]
        self.assertEqual([e.get("version") for e in evs], list(range(1, self.n + 1)),
                         "versions 1..N, in order, no gaps: " + r.describe())
        self.assertEqual([e.get("type") for e in evs], [t for t, _ in self.expected])
        self.assertFalse(j["has_more"])
        self.assertEqual(j["version"], self.n)
        for ev, (t, key) in zip(evs, self.expected):
            self.assertEventShape(ev, self.cid)
            if t.startswith("message."):
                self.assertEqual(ev["message"]["seq"], key, ev)
            elif t.startswith("member."):
                self.assertEqual(ev["user_id"], key, ev)
        # the default limit holds all of them too
        r2 = self.a.req("GET", "/chats/%d/changes?since_version=0" % self.cid)
        self.assertStatus(r2, 200)
        self.assertEqual([e["version"] for e in r2.json["events"]], list(range(1, self.n + 1)))

    def test_event_payloads(self):
        evs = self.all_events().json["events"]
        created = evs[0]
        ids = set((created["chat"].get("member_ids") or []) + (created.get("member_ids") or []))
        self.assertEqual(ids, {self.a.id, self.b.id}, "chat.created names all initial members: %r" % created)
        self.assertEqual(created["chat"]["type"], "group")
        renamed = [e for e in evs if e["type"] == "chat.updated"][0]
        self.assertEqual(renamed["chat"]["title"], "changes renamed")
        joined = [e for e in evs if e["type"] == "member.joined"]
        self.assertEqual([(e["user_id"], e["role"]) for e in joined],
                         [(self.c.id, "member"), (self.d.id, "member")])
        left = [e for e in evs if e["type"] == "member.left"]
        self.assertEqual([e["user_id"] for e in left], [self.c.id])
        upd = [e for e in evs if e["type"] == "message.updated"][0]
        self.assertEqual(upd["message"]["content"], "first, edited")
        self.assertIsNotNone(upd["message"]["edited_at"])
        for e in evs:
            if e["type"] == "message.deleted":
                self.assertTrue(e["message"]["deleted"], e)
                self.assertEqual(e["message"]["content"], "", e)

    def test_event_chats_carry_last_message(self):
        # API.md: "Chat objects inside events omit the per-caller fields" -- only those
        missing = ["%s v%d" % (e["type"], e["version"]) for e in self.all_events().json["events"]
                   if isinstance(e.get("chat"), dict) and "last_message" not in e["chat"]]
        self.assertEqual(missing, [], "chat objects in events lack last_message (API.md \"Chats\")")

    def test_deleted_content_purged_from_the_log(self):
        r = self.all_events()
        self.assertNotIn(self.secret, r.raw.decode("utf-8"),
                         "a deleted message's content is purged from the change log: " + r.describe())
        for e in r.json["events"]:
            if e["type"] == "message.created" and e["message"]["seq"] == self.expected[2][1]:
                self.assertEqual(e["message"]["content"], "", e)

    def test_from_every_version(self):
        for v in range(0, self.n + 1):
            r = self.changes(self.b, self.cid, v, limit=200)
            self.assertEqual([e["version"] for e in r.json["events"]], list(range(v + 1, self.n + 1)),
                             "since_version=%d: %s" % (v, r.describe()))
            self.assertFalse(r.json["has_more"])
            self.assertEqual(r.json["version"], self.n)

    def test_paging_with_limit(self):
        for limit in (1, 2, 3, 5):
            since, seen, pages = 0, [], 0
            while True:
                r = self.changes(self.a, self.cid, since, limit=limit)
                evs = r.json["events"]
                pages += 1
                self.assertLessEqual(len(evs), limit, r.describe())
                seen += [e["version"] for e in evs]
                if evs:
                    self.assertGreaterEqual(r.json["version"], evs[-1]["version"], r.describe())
                if not r.json["has_more"]:
                    self.assertEqual(r.json["version"], self.n, r.describe())
                    break
                self.assertEqual(len(evs), limit, "a page with has_more is full: " + r.describe())
                since = evs[-1]["version"]
                self.assertLess(pages, 100, "paging does not end")
            self.assertEqual(seen, list(range(1, self.n + 1)), "limit=%d" % limit)
            self.assertEqual(pages, -(-self.n // limit), "limit=%d" % limit)

    def test_later_member_sees_everything(self):
        # d joined last and still sees every version from 1
        r = self.changes(self.d, self.cid, 0, limit=200)
        self.assertEqual([e["version"] for e in r.json["events"]], list(range(1, self.n + 1)))
        self.assertEqual(r.json["events"], self.all_events().json["events"],
                         "every member gets the same events")

    def test_non_member_and_former_member_404(self):
        for u in (self.x, self.c):
            for since in (0, 3, self.n):
                r = self.changes(u, self.cid, since, expect=None)
                self.assertError(r, 404, "not_found", "user %r" % u)
        r = self.changes(self.a, self.cid + 10 ** 12, 0, expect=None)
        self.assertError(r, 404, "not_found")

    def test_bad_params(self):
        for q in ("since_version=-1", "since_version=abc", "since_version=1.5", "since_version=0&limit=0",
                  "since_version=0&limit=-3", "since_version=0&limit=x"):
            r = self.a.req("GET", "/chats/%d/changes?%s" % (self.cid, q))
            self.assertError(r, 400, "invalid_request", q)


class DirectChangesTest(ChangesTestBase):

    def test_direct_chat_log(self):
        a, b = register("cda"), register("cdb")
        cid = create_direct(a, b)["id"]
        post_message(a, cid, "one")
        post_message(b, cid, "two")
        r = self.changes(b, cid, 0)
        evs = r.json["events"]
        self.assertEqual([(e["type"], e["version"]) for e in evs],
                         [("chat.created", 1), ("message.created", 2), ("message.created", 3)])
        for e in evs:
            self.assertEventShape(e, cid)
        self.assertEqual(set(evs[0]["chat"]["member_ids"]), {a.id, b.id})
        self.assertIsNone(evs[0]["chat"]["title"])
        # the pair's second POST /chats changes nothing
        r = a.req("POST", "/chats", {"type": "direct", "member_ids": [b.id]})
        self.assertStatus(r, 200)
        self.assertEqual([e["version"] for e in self.changes(a, cid, 0).json["events"]], [1, 2, 3])

    def test_ephemeral_changes_take_no_version(self):
        a, b = register("cea"), register("ceb")
        cid = create_direct(a, b)["id"]
        post_message(a, cid, "one")
        self.assertStatus(b.req("POST", "/chats/%d/read" % cid, {"seq": 1}), 200)
        self.assertStatus(b.req("POST", "/chats/%d/delivered" % cid, {"seq": 1}), 200)
        self.assertStatus(b.req("POST", "/chats/%d/typing" % cid), 204)
        r = self.changes(a, cid, 0)
        self.assertEqual([e["type"] for e in r.json["events"]], ["chat.created", "message.created"])
        self.assertEqual(self.chat_version(a, cid), 2)


class ChangesMatchStreamTest(ChangesTestBase):
    """API.md: /changes answers "as the same event objects the stream
    carries". Events are recorded from a live SSE stream, then compared with
    what /changes answers afterwards, after later edits, renames, joins and
    deletes. Only the content of deleted messages may differ (purged)."""

    def test_changes_match_stream(self):
        a, b, c = register("csa"), register("csb"), register("csc")
        g = create_group(a, [b], "stream vs log")
        cid = g["id"]
        s = open_stream(b)   # opened after v1: b's stream is subscribed to the chat from its resync on
        try:
            self.assertEqual(s.status(), 200, s.dump())
            _, first = s.wait_for(lambda e: True, timeout=5)
            self.assertIsNotNone(first, "no resync: " + s.dump())
            self.assertEqual(first.type, "resync")
            m1 = post_message(a, cid, "original text").json
            m2 = post_message(b, cid, "will be deleted " + chatlib.rand_suffix()).json
            self.assertStatus(a.req("PATCH", "/chats/%d/messages/%d" % (cid, m1["seq"]),
                                    {"content": "edited text"}), 200)
            self.assertStatus(a.req("POST", "/chats/%d/members" % cid, {"user_ids": [c.id]}), 200)
            self.assertStatus(a.req("PATCH", "/chats/%d" % cid, {"title": "renamed later"}), 200)
            self.assertStatus(b.req("DELETE", "/chats/%d/messages/%d" % (cid, m2["seq"])), 204)
            post_message(c, cid, "c was here")
            n = self.chat_version(a, cid)
            _, last = s.wait_for(lambda e: isinstance(e.data, dict) and e.data.get("chat_id") == cid
                                 and e.data.get("version") == n, timeout=10)
            self.assertIsNotNone(last, "version %d never arrived on the stream:\n%s" % (n, s.dump()))
            live = {}
            for e in s.snapshot():
                d = e.data
                if isinstance(d, dict) and d.get("chat_id") == cid and d.get("type") in DURABLE:
                    live.setdefault(d["version"], d)
        finally:
            s.close()
        self.assertEqual(sorted(live), list(range(2, n + 1)), "the stream carried every later version")
        r = self.changes(b, cid, 0, limit=200)
        self.assertNotIn(m2["content"], r.raw.decode("utf-8"), "deleted content is purged from the log")
        logged = {e["version"]: e for e in r.json["events"]}
        self.assertEqual(sorted(logged), list(range(1, n + 1)))
        deleted_seqs = {m2["seq"]}

        def purge(msg):
            # the log may hold the tombstone where the stream carried the content
            if isinstance(msg, dict) and msg.get("seq") in deleted_seqs:
                for k in ("content", "deleted", "edited_at", "version"):
                    msg.pop(k, None)

        diffs = []
        for v in range(2, n + 1):
            want, got = json.loads(json.dumps(live[v])), json.loads(json.dumps(logged[v]))
            for ev in (want, got):
                purge(ev.get("message"))
                if isinstance(ev.get("chat"), dict):
                    purge(ev["chat"].get("last_message"))
            if want != got:
                diffs.append("version %d (%s):\n    stream:   %s\n    /changes: %s"
                             % (v, want.get("type"), json.dumps(live[v], sort_keys=True),
                                json.dumps(logged[v], sort_keys=True)))
        if diffs:
            self.fail("/changes must answer the same event objects the stream carried "
                      "(%d of %d differ):\n  %s" % (len(diffs), n - 1, "\n  ".join(diffs)))

    def test_embedded_versions_match_the_event(self):
        # a weaker form of the above, without a stream: an event at version V
        # that carries the chat (or a message it created or changed) carries
        # it as of V, so a client that takes the version from the object
        # does not skip V+1..N
        a, b = register("cva"), register("cvb")
        cid = create_group(a, [b], "versions")["id"]
        m = post_message(a, cid, "v2").json
        self.assertStatus(a.req("PATCH", "/chats/%d" % cid, {"title": "v3"}), 200)
        self.assertStatus(a.req("PATCH", "/chats/%d/messages/%d" % (cid, m["seq"]), {"content": "v4"}), 200)
        post_message(b, cid, "v5")
        evs = self.changes(a, cid, 0).json["events"]
        bad = []
        for e in evs:
            if isinstance(e.get("chat"), dict) and e["chat"].get("version") != e["version"]:
                bad.append("%s v%d carries chat.version %r" % (e["type"], e["version"], e["chat"].get("version")))
            if e["type"] == "message.created" and e["message"].get("version") != e["version"]:
                bad.append("%s v%d carries message.version %r (content %r)"
                           % (e["type"], e["version"], e["message"].get("version"), e["message"].get("content")))
        created = evs[0]
        if created["chat"].get("title") != "versions":
            bad.append("chat.created v1 carries title %r, the chat was created as 'versions'"
                       % created["chat"].get("title"))
        self.assertEqual(bad, [], "events in /changes must be the objects of their version")


if __name__ == "__main__":
    chatlib.main()
