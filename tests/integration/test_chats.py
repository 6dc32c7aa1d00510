#!/usr/bin/python3
"""Chats, members and visibility (API.md "Chats", "Conventions: Visibility").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_chats.py

Assumptions where API.md is silent (see the final report / openapi.yaml):
- POST /chats/{id}/members answers 200, 201 or 204 (any 2xx without error);
- DELETE /chats/{id}/members/{user_id} answers 204 or 200.
"""

import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, register, request, create_direct, create_group, post_message, history  # noqa: E402

ADD_OK = (200, 201, 204)
DEL_OK = (200, 204)


class DirectChatTest(ApiTestCase):

    def test_direct_create_and_reuse(self):
        a, b = register("dca"), register("dcb")
        r = a.req("POST", "/chats", {"type": "direct", "member_ids": [b.id]})
        self.assertStatus(r, 201)
        self.assertJsonContentType(r)
        c = r.json
        self.assertChat(c)
        self.assertNoExponentIds(r)
        self.assertEqual(c["type"], "direct")
        self.assertIsNone(c["title"])
        self.assertEqual(sorted(c["member_ids"]), sorted([a.id, b.id]))
        self.assertEqual(c["members_count"], 2)
        self.assertEqual(c["last_seq"], 0)
        self.assertIsNone(c["last_message"])
        self.assertEqual(c["version"], 1, "chat.created is version 1")
        self.assertEqual(c["unread_count"], 0)
        # again by the creator: 200 with the same chat
        r = a.req("POST", "/chats", {"type": "direct", "member_ids": [b.id]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], c["id"])
        # by the other side: 200 with the same chat
        r = b.req("POST", "/chats", {"type": "direct", "member_ids": [a.id]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], c["id"])
        self.assertEqual(r.json["type"], "direct")
        # both see it
        for u in (a, b):
            r = u.req("GET", "/chats/%d" % c["id"])
            self.assertStatus(r, 200)
            self.assertChat(r.json)
            self.assertEqual(r.json["id"], c["id"])

    def test_direct_concurrent_create_single_chat(self):
        # there is only one direct chat per pair, even when both sides race
        import threading
        a, b = register("dra"), register("drb")
        results = []

        def go(x, y):
            results.append(x.req("POST", "/chats", {"type": "direct", "member_ids": [y.id]}))
        ts = [threading.Thread(target=go, args=(a, b) if i % 2 == 0 else (b, a)) for i in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for r in results:
            self.assertStatus(r, (200, 201))
        ids = {r.json["id"] for r in results}
        self.assertEqual(len(ids), 1, "one direct chat per pair: %s" % [r.describe() for r in results])
        self.assertEqual(sum(1 for r in results if r.status == 201), 1, "exactly one 201")

    def test_direct_bad_requests(self):
        a = register("dbad")
        b = register("dbad")
        for body in ({"type": "direct", "member_ids": []},
                     {"type": "direct", "member_ids": [b.id, a.id, 999999999]},
                     {"type": "direct"},
                     {"type": "direct", "member_ids": ["x"]},
                     {"type": "nope", "member_ids": [b.id]},
                     {"member_ids": [b.id]}):
            r = a.req("POST", "/chats", body)
            self.assertError(r, 400, "invalid_request", "body %r" % body)
        r = request("POST", "/chats", {"type": "direct", "member_ids": [b.id]})
        self.assertError(r, 401, "unauthorized")


class GroupChatTest(ApiTestCase):

    def test_group_create(self):
        a, b, c = register("ga"), register("gb"), register("gc")
        r = a.req("POST", "/chats", {"type": "group", "title": "Team \u00e9", "member_ids": [b.id, c.id]})
        self.assertStatus(r, 201)
        g = r.json
        self.assertChat(g)
        self.assertEqual(g["type"], "group")
        self.assertEqual(g["title"], "Team \u00e9")
        self.assertEqual(g["members_count"], 3)
        self.assertEqual(g["role"], "admin", "the creator is admin")
        self.assertEqual(g["version"], 1)
        self.assertEqual(g["last_seq"], 0)
        r = b.req("GET", "/chats/%d" % g["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["role"], "member")
        self.assertEqual(r.json["members_count"], 3)
        r = a.req("GET", "/chats/%d/members" % g["id"])
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json.get("members"), list, r.describe())
        roles = {m["user"]["id"]: m["role"] for m in r.json["members"]}
        self.assertEqual(roles, {a.id: "admin", b.id: "member", c.id: "member"})
        for m in r.json["members"]:
            self.assertTime(m.get("joined_at"), "joined_at")
            self.assertIn("read_seq", m)
            self.assertIn("delivered_seq", m)
        self.assertNotIn("next_cursor", r.json)

    def test_group_with_only_creator(self):
        a = register("solo")
        r = a.req("POST", "/chats", {"type": "group", "title": "solo", "member_ids": []})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["members_count"], 1)
        self.assertEqual(r.json["role"], "admin")

    def test_group_unknown_member(self):
        a = register("gunk")
        r = a.req("POST", "/chats", {"type": "group", "title": "x", "member_ids": [999999999999]})
        self.assertError(r, (400, 404))

    def test_list_most_recent_first(self):
        a, b, c = register("la"), register("lb"), register("lc")
        d = create_direct(a, b)
        time.sleep(0.05)
        g = create_group(a, [b, c], "listed")
        r = a.req("GET", "/chats")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json.get("chats"), list, r.describe())
        ids = [x["id"] for x in r.json["chats"]]
        self.assertEqual(ids, [g["id"], d["id"]], "newest activity first: " + r.describe())
        self.assertNotIn("next_cursor", r.json)
        for x in r.json["chats"]:
            self.assertChat(x)
        roles = {x["id"]: x["role"] for x in r.json["chats"]}
        self.assertEqual(roles[g["id"]], "admin")
        # a message in the direct chat moves it to the front
        time.sleep(0.05)
        post_message(a, d["id"], "bump")
        r = a.req("GET", "/chats")
        ids = [x["id"] for x in r.json["chats"]]
        self.assertEqual(ids, [d["id"], g["id"]], "activity reorders the list: " + r.describe())
        first = r.json["chats"][0]
        self.assertEqual(first["last_seq"], 1)
        self.assertEqual(first["last_message"]["content"], "bump")
        # b sees both, c sees only the group
        r = b.req("GET", "/chats")
        self.assertEqual(sorted(x["id"] for x in r.json["chats"]), sorted([d["id"], g["id"]]))
        r = c.req("GET", "/chats")
        self.assertEqual([x["id"] for x in r.json["chats"]], [g["id"]])
        # ?fields=id,version
        r = a.req("GET", "/chats?fields=id,version")
        self.assertStatus(r, 200)
        for x in r.json["chats"]:
            self.assertIn("id", x)
            self.assertIn("version", x)

    def test_list_paging(self):
        a, b = register("lpa"), register("lpb")
        made = []
        for i in range(5):
            made.append(create_group(a, [b], "p%d" % i)["id"])
            time.sleep(0.01)
        seen, cursor, pages = [], None, 0
        while True:
            q = "/chats?limit=2" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            r = a.req("GET", q)
            self.assertStatus(r, 200)
            self.assertLessEqual(len(r.json["chats"]), 2)
            seen += [x["id"] for x in r.json["chats"]]
            pages += 1
            cursor = r.json.get("next_cursor")
            if not cursor:
                break
            self.assertLess(pages, 10, "paging does not end")
        self.assertEqual(sorted(seen), sorted(made))
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(seen, list(reversed(made)), "most recent first across pages")

    def test_get_chat(self):
        a, b = register("gg"), register("gg")
        g = create_group(a, [b], "get me")
        r = a.req("GET", "/chats/%d" % g["id"])
        self.assertStatus(r, 200)
        self.assertChat(r.json)
        self.assertEqual(r.json["id"], g["id"])
        self.assertEqual(r.json["title"], "get me")
        r = request("GET", "/chats/%d" % g["id"])
        self.assertError(r, 401, "unauthorized")

    def test_rename_admin_only(self):
        a, b = register("rna"), register("rnb")
        g = create_group(a, [b], "old")
        r = b.req("PATCH", "/chats/%d" % g["id"], {"title": "by member"})
        self.assertError(r, 403, "forbidden")
        r = a.req("PATCH", "/chats/%d" % g["id"], {"title": "new"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["title"], "new")
        self.assertEqual(r.json["version"], 2)
        r = b.req("GET", "/chats/%d" % g["id"])
        self.assertEqual(r.json["title"], "new")


class MembersTest(ApiTestCase):

    def members(self, user, chat_id):
        r = user.req("GET", "/chats/%d/members" % chat_id)
        self.assertStatus(r, 200)
        return {m["user"]["id"]: m["role"] for m in r.json["members"]}

    def test_add_and_remove(self):
        a, b, c, d = register("ma"), register("mb"), register("mc"), register("md")
        g = create_group(a, [b], "members")
        gid = g["id"]
        self.assertError(c.req("GET", "/chats/%d" % gid), 404, "not_found")
        r = a.req("POST", "/chats/%d/members" % gid, {"user_ids": [c.id, d.id]})
        self.assertStatus(r, ADD_OK)
        self.assertEqual(self.members(a, gid), {a.id: "admin", b.id: "member", c.id: "member",
                                                d.id: "member"})
        r = c.req("GET", "/chats/%d" % gid)
        self.assertStatus(r, 200, "(an added member sees the chat)")
        self.assertEqual(r.json["members_count"], 4)
        self.assertEqual(r.json["role"], "member")
        self.assertEqual(r.json["version"], 3, "chat.created + two member.joined")
        # the added member sees the history from before they joined
        post_message(a, gid, "after join")
        r = history(c, gid)
        self.assertStatus(r, 200)
        self.assertEqual([m["content"] for m in r.json["messages"]], ["after join"])
        # adding an existing member changes nothing
        r = a.req("POST", "/chats/%d/members" % gid, {"user_ids": [c.id]})
        self.assertTrue(r.status in ADD_OK or r.status == 409, r.describe())
        self.assertEqual(a.req("GET", "/chats/%d" % gid).json["members_count"], 4)
        # remove c
        r = a.req("DELETE", "/chats/%d/members/%d" % (gid, c.id))
        self.assertStatus(r, DEL_OK)
        self.assertError(c.req("GET", "/chats/%d" % gid), 404, "not_found")
        self.assertError(history(c, gid), 404, "not_found")
        self.assertNotIn(gid, [x["id"] for x in c.req("GET", "/chats").json["chats"]])
        self.assertEqual(set(self.members(a, gid)), {a.id, b.id, d.id})
        self.assertEqual(a.req("GET", "/chats/%d" % gid).json["members_count"], 3)
        # d leaves on their own
        r = d.req("DELETE", "/chats/%d/members/%d" % (gid, d.id))
        self.assertStatus(r, DEL_OK)
        self.assertError(d.req("GET", "/chats/%d" % gid), 404, "not_found")
        self.assertEqual(set(self.members(a, gid)), {a.id, b.id})

    def test_non_admin_cannot_add_or_remove(self):
        a, b, c, d = register("na"), register("nb"), register("nc"), register("nd")
        g = create_group(a, [b, c], "admins only")
        gid = g["id"]
        before = a.req("GET", "/chats/%d" % gid).json
        r = b.req("POST", "/chats/%d/members" % gid, {"user_ids": [d.id]})
        self.assertError(r, 403, "forbidden")
        self.assertError(d.req("GET", "/chats/%d" % gid), 404, "not_found")
        r = b.req("DELETE", "/chats/%d/members/%d" % (gid, c.id))
        self.assertError(r, 403, "forbidden")
        self.assertEqual(set(self.members(a, gid)), {a.id, b.id, c.id})
        after = a.req("GET", "/chats/%d" % gid).json
        self.assertEqual(after["version"], before["version"], "a refused change takes no version")
        self.assertEqual(after["members_count"], 3)

    def test_bad_member_requests(self):
        a, b = register("bm"), register("bm")
        g = create_group(a, [b], "bad")
        for body in ({}, {"user_ids": "x"}, {"user_ids": ["x"]}):
            r = a.req("POST", "/chats/%d/members" % g["id"], body)
            self.assertError(r, 400, "invalid_request", "body %r" % body)
        # members cannot be added to a direct chat
        d = create_direct(a, b)
        c = register("bm")
        r = a.req("POST", "/chats/%d/members" % d["id"], {"user_ids": [c.id]})
        self.assertError(r, (400, 403, 409))
        self.assertError(c.req("GET", "/chats/%d" % d["id"]), 404, "not_found")


class VisibilityTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.x = register("va"), register("vb"), register("vx")
        cls.g = create_group(cls.a, [cls.b], "private")
        cls.d = create_direct(cls.a, cls.b)
        for cid in (cls.g["id"], cls.d["id"]):
            post_message(cls.a, cid, "secret one")
            post_message(cls.b, cid, "secret two")

    def state(self, cid):
        c = self.a.req("GET", "/chats/%d" % cid).json
        h = history(self.a, cid).json
        return c["version"], c["last_seq"], [(m["seq"], m["content"]) for m in h["messages"]]

    def non_member_checks(self, checks_for):
        x = self.x
        problems = []
        for chat in (self.g, self.d):
            cid = chat["id"]
            before = self.state(cid)
            for method, path, body in checks_for(cid):
                r = x.req(method, path, body)
                ok = (r.status == 404 and isinstance(r.json, dict)
                      and (r.json.get("error") or {}).get("code") == "not_found")
                if not ok:
                    problems.append(r.describe())
            self.assertEqual(self.state(cid), before, "a non-member changed something")
        if problems:
            self.fail("non-members must get 404 not_found (never 403):\n  " + "\n  ".join(problems))

    def test_non_member_gets_404_chat_messages_members(self):
        x = self.x
        self.non_member_checks(lambda cid: [
            ("GET", "/chats/%d" % cid, None),
            ("GET", "/chats/%d/messages" % cid, None),
            ("GET", "/chats/%d/messages?after_seq=0" % cid, None),
            ("POST", "/chats/%d/messages" % cid, {"content": "intruder"}),
            ("POST", "/chats/%d/messages" % cid, {"content": "intruder", "client_msg_id": "x1"}),
            ("GET", "/chats/%d/members" % cid, None),
            ("POST", "/chats/%d/members" % cid, {"user_ids": [x.id]}),
            ("DELETE", "/chats/%d/members/%d" % (cid, self.b.id), None),
        ])
        for chat in (self.g, self.d):
            cid = chat["id"]
            self.assertNotIn(cid, [c["id"] for c in x.req("GET", "/chats").json["chats"]])
            # same answer as for a chat that does not exist
            r1 = x.req("GET", "/chats/%d" % cid)
            r2 = x.req("GET", "/chats/%d" % (cid + 10 ** 12))
            self.assertEqual((r1.status, r1.json["error"]["code"]), (r2.status, r2.json["error"]["code"]))

    def test_non_member_gets_404_other_chat_endpoints(self):
        self.non_member_checks(lambda cid: [
            ("PATCH", "/chats/%d" % cid, {"title": "pwned"}),
            ("GET", "/chats/%d/changes?since_version=0" % cid, None),
            ("POST", "/chats/%d/read" % cid, {"seq": 1}),
            ("POST", "/chats/%d/delivered" % cid, {"seq": 1}),
            ("POST", "/chats/%d/typing" % cid, None),
            ("PATCH", "/chats/%d/messages/1" % cid, {"content": "edited"}),
            ("DELETE", "/chats/%d/messages/1" % cid, None),
        ])

    def test_history_unchanged_for_members(self):
        for cid in (self.g["id"], self.d["id"]):
            for u in (self.a, self.b):
                r = history(u, cid)
                self.assertStatus(r, 200)
                self.assertEqual([(m["seq"], m["content"]) for m in r.json["messages"]],
                                 [(1, "secret one"), (2, "secret two")])

    def test_bad_chat_ids(self):
        for path in ("/chats/abc", "/chats/-1", "/chats/0", "/chats/1e3", "/chats/99999999999999999999999"):
            r = self.a.req("GET", path)
            self.assertError(r, (400, 404), msg=path)


if __name__ == "__main__":
    chatlib.main()
