#!/usr/bin/python3
"""Authorization sweep (API.md "Conventions: Visibility, Auth"): every route
that takes a chat, message, member, token or session id, tried by a user
who may not see it (404, the same answer as for an id that does not exist),
by a member who lacks the admin role (403), and with an API token that lacks
the scope (403). After every refusal the owner's view is read again and
must not have changed.

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_authz_sweep.py

Assumptions where API.md is silent (docs/openapi.yaml names each route's
scope): chat routes need chats:read / chats:write (members too), message
routes (history, send, edit, delete, read, delivered, typing, changes,
search) need messages:read / messages:write; so a token holding only
chats:read may do no message route and no write, and a token holding only
messages:* may do no chat route.
"""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, register, request, create_direct, create_group,  # noqa: E402
                     post_message, api_token)

GHOST = 10 ** 12  # added to an id: one that does not exist


class SweepBase(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b, cls.x = register("aza"), register("azb"), register("azx")
        cls.f = register("azf")  # a former member of the group
        cls.word = "azw" + chatlib.rand_suffix(10).replace("_", "")
        cls.g = create_group(cls.a, [cls.b, cls.f], "sweep group")["id"]
        cls.d = create_direct(cls.a, cls.b)["id"]
        for cid in (cls.g, cls.d):
            post_message(cls.a, cid, "a says %s" % cls.word)   # seq 1
            post_message(cls.b, cid, "b says %s" % cls.word)   # seq 2
        post_message(cls.f, cls.g, "f says %s" % cls.word)     # seq 3 of the group
        r = cls.a.req("DELETE", "/chats/%d/members/%d" % (cls.g, cls.f.id))
        if r.status != 204:
            raise AssertionError("removing f failed: " + r.describe())
        # x's own chat, so x is a real user with chats of their own
        cls.xg = create_group(cls.x, [], "x alone")["id"]
        post_message(cls.x, cls.xg, "x says hi")
        cls.a_tok = api_token(cls.a, ["chats:read"], "a's token")
        r = cls.a.req("GET", "/auth/sessions")
        cls.a_sid = [s["id"] for s in r.json["sessions"] if s.get("current")][0]

    def snapshot(self):
        """Everything the owner (and the plain member) can read that a
        refused request might have changed."""
        snap = {}
        for cid in (self.g, self.d):
            for who, u in (("a", self.a), ("b", self.b)):
                r = u.req("GET", "/chats/%d" % cid)
                self.assertStatus(r, 200)
                snap["chat %d as %s" % (cid, who)] = r.json
            for path in ("/chats/%d/members" % cid, "/chats/%d/messages?limit=200" % cid,
                         "/chats/%d/changes?since_version=0&limit=200" % cid):
                r = self.a.req("GET", path)
                self.assertStatus(r, 200)
                snap[path] = r.json
        r = self.a.req("GET", "/tokens")
        self.assertStatus(r, 200)
        snap["tokens"] = r.json
        r = self.a.req("GET", "/auth/sessions")
        self.assertStatus(r, 200)
        snap["sessions"] = sorted((s["id"], s.get("current")) for s in r.json["sessions"])
        r = self.x.req("GET", "/chats?order=id")
        self.assertStatus(r, 200)
        snap["x chats"] = [c["id"] for c in r.json["chats"]]
        return snap

    def assertUnchanged(self, before, what):
        after = self.snapshot()
        changed = [k for k in before if before[k] != after.get(k)]
        if changed:
            self.fail("%s changed state: %s\n" % (what, ", ".join(changed)) + "\n".join(
                "  %s\n    before: %s\n    after:  %s" % (k, json.dumps(before[k])[:800],
                                                          json.dumps(after.get(k))[:800])
                for k in changed))
        # the tokens and sessions still work
        self.assertStatus(self.a.req("GET", "/users/me"), 200)
        self.assertStatus(request("GET", "/chats", token=self.a_tok["token"]), 200)


def chat_routes(cid, a_id, b_id, x_id, word):
    """(method, path, body) of every route that takes a chat id, for chat cid."""
    return [
        ("GET", "/chats/%d" % cid, None),
        ("PATCH", "/chats/%d" % cid, {"title": "taken over"}),
        ("GET", "/chats/%d/members" % cid, None),
        ("GET", "/chats/%d/members?limit=1" % cid, None),
        ("POST", "/chats/%d/members" % cid, {"user_ids": [x_id]}),
        ("DELETE", "/chats/%d/members/%d" % (cid, a_id), None),
        ("DELETE", "/chats/%d/members/%d" % (cid, b_id), None),
        ("DELETE", "/chats/%d/members/%d" % (cid, x_id), None),
        ("GET", "/chats/%d/messages" % cid, None),
        ("GET", "/chats/%d/messages?after_seq=0" % cid, None),
        ("GET", "/chats/%d/messages?around_seq=1" % cid, None),
        ("GET", "/chats/%d/messages?before_seq=3" % cid, None),
        ("POST", "/chats/%d/messages" % cid, {"content": "intruder"}),
        ("POST", "/chats/%d/messages" % cid, {"content": "intruder", "client_msg_id": "az-1"}),
        ("POST", "/chats/%d/messages" % cid, {"content": "intruder", "reply_to_seq": 1}),
        ("PATCH", "/chats/%d/messages/1" % cid, {"content": "rewritten"}),
        ("PATCH", "/chats/%d/messages/2" % cid, {"content": "rewritten"}),
        ("DELETE", "/chats/%d/messages/1" % cid, None),
        ("DELETE", "/chats/%d/messages/2" % cid, None),
        ("PATCH", "/chats/%d/messages/3" % cid, {"content": "rewritten"}),
        ("DELETE", "/chats/%d/messages/3" % cid, None),
        ("POST", "/chats/%d/read" % cid, {"seq": 2}),
        ("POST", "/chats/%d/delivered" % cid, {"seq": 2}),
        ("POST", "/chats/%d/typing" % cid, None),
        ("GET", "/chats/%d/changes?since_version=0" % cid, None),
        ("GET", "/chats/%d/changes?since_version=2&limit=1" % cid, None),
    ]


class OutsiderTest(SweepBase):
    """A user who is in none of the chats."""

    def sweep(self, token, label):
        before = self.snapshot()
        problems = []
        for cid in (self.g, self.d):
            for (method, path, body), (_, ghost_path, _) in zip(
                    chat_routes(cid, self.a.id, self.b.id, self.x.id, self.word),
                    chat_routes(cid + GHOST, self.a.id, self.b.id, self.x.id, self.word)):
                r = request(method, path, body, token=token)
                if not (r.status == 404 and isinstance(r.json, dict)
                        and (r.json.get("error") or {}).get("code") == "not_found"):
                    problems.append("want 404 not_found: " + r.describe())
                    continue
                self.assertError(r, 404, "not_found")
                if self.word in r.raw.decode("utf-8", "replace"):
                    problems.append("leaks content: " + r.describe())
                # existence never leaks: the same answer as for a chat that does not exist
                g = request(method, ghost_path, body, token=token)
                if (g.status, g.json) != (r.status, r.json):
                    problems.append("differs from a missing chat:\n      %s\n      %s"
                                    % (r.describe(), g.describe()))
        if problems:
            self.fail("%s:\n  %s" % (label, "\n  ".join(problems)))
        self.assertUnchanged(before, label)

    def test_outsider_session_token(self):
        self.sweep(self.x.token, "an outsider's session token")

    def test_former_member(self):
        # f was removed from the group: the group, and f's own message in it, are gone for f
        self.sweep(self.f.token, "a former member's session token")

    def test_outsider_api_token_with_every_scope(self):
        t = api_token(self.x, ["chats:read", "chats:write", "messages:read", "messages:write",
                               "events:read", "webhooks:write"])
        self.sweep(t["token"], "an outsider's API token")

    def test_outsider_search_filtered_to_a_chat(self):
        before = self.snapshot()
        for cid in (self.g, self.d):
            r = self.x.req("GET", "/search?" + urllib.parse.urlencode({"q": self.word, "chat_id": cid}))
            self.assertIn(r.status, (200, 404), r.describe())
            self.assertNotIn(self.word, r.raw.decode("utf-8", "replace"))
            if r.status == 200:
                self.assertEqual(r.json["messages"], [], r.describe())
        r = self.x.req("GET", "/search?" + urllib.parse.urlencode({"q": self.word}))
        self.assertStatus(r, 200)
        self.assertEqual(r.json["messages"], [])
        self.assertUnchanged(before, "an outsider's search")

    def test_outsider_on_tokens_and_sessions(self):
        before = self.snapshot()
        for path, ghost in (("/tokens/%d" % self.a_tok["id"], "/tokens/%d" % (self.a_tok["id"] + GHOST)),
                            ("/auth/sessions/%d" % self.a_sid, "/auth/sessions/%d" % (self.a_sid + GHOST))):
            r = self.x.req("DELETE", path)
            self.assertError(r, 404, "not_found", path)
            g = self.x.req("DELETE", ghost)
            self.assertEqual((g.status, g.json), (r.status, r.json),
                             "the same answer as for an id that does not exist:\n%s\n%s"
                             % (r.describe(), g.describe()))
        self.assertUnchanged(before, "an outsider deleting a's token and session")

    def test_outsider_cannot_use_own_chat_to_reach_others(self):
        # x is admin of xg; a, b are not members: member routes on xg naming them find nothing
        before = self.snapshot()
        for uid in (self.a.id, self.b.id):
            r = self.x.req("DELETE", "/chats/%d/members/%d" % (self.xg, uid))
            self.assertError(r, 404, "not_found")
        # a's message seq on x's chat is x's own message, never a's
        r = self.x.req("GET", "/chats/%d/messages" % self.xg)
        self.assertStatus(r, 200)
        self.assertEqual([m["sender_id"] for m in r.json["messages"]], [self.x.id])
        self.assertUnchanged(before, "x acting on x's own chat")


class PlainMemberTest(SweepBase):
    """b is a member of the group without the admin role: 403 for admin
    actions, and for acting on a's messages."""

    def test_admin_actions_are_403(self):
        before = self.snapshot()
        checks = [
            ("PATCH", "/chats/%d" % self.g, {"title": "b renames"}),
            ("POST", "/chats/%d/members" % self.g, {"user_ids": [self.x.id]}),
            ("DELETE", "/chats/%d/members/%d" % (self.g, self.a.id), None),
            ("PATCH", "/chats/%d/messages/1" % self.g, {"content": "b rewrites a"}),
            ("DELETE", "/chats/%d/messages/1" % self.g, None),
            ("PATCH", "/chats/%d/messages/1" % self.d, {"content": "b rewrites a"}),
            ("DELETE", "/chats/%d/messages/1" % self.d, None),
        ]
        problems = []
        for method, path, body in checks:
            r = self.b.req(method, path, body)
            if not (r.status == 403 and (r.json or {}).get("error", {}).get("code") == "forbidden"):
                problems.append(r.describe())
            else:
                self.assertError(r, 403, "forbidden")
        if problems:
            self.fail("a plain member must get 403 forbidden:\n  " + "\n  ".join(problems))
        self.assertUnchanged(before, "a plain member's admin actions")

    def test_admin_may_not_edit_others_messages(self):
        before = self.snapshot()
        r = self.a.req("PATCH", "/chats/%d/messages/2" % self.g, {"content": "a rewrites b"})
        self.assertError(r, 403, "forbidden")
        self.assertUnchanged(before, "an admin editing another's message")


class ScopeTest(SweepBase):
    """API tokens of a (a member of both chats) that lack the scope: 403."""

    def check_forbidden(self, token, routes, label):
        before = self.snapshot()
        problems = []
        for method, path, body in routes:
            r = request(method, path, body, token=token)
            if not (r.status == 403 and (r.json or {}).get("error", {}).get("code") == "forbidden"):
                problems.append(r.describe())
            elif self.word in r.raw.decode("utf-8", "replace"):
                problems.append("leaks content: " + r.describe())
        if problems:
            self.fail("%s must get 403 forbidden:\n  %s" % (label, "\n  ".join(problems)))
        self.assertUnchanged(before, label)

    def test_chats_read_only_token(self):
        t = self.a_tok["token"]
        for cid in (self.g, self.d):
            self.assertStatus(request("GET", "/chats/%d" % cid, token=t), 200)
            self.assertStatus(request("GET", "/chats/%d/members" % cid, token=t), 200)
        routes = []
        for cid in (self.g, self.d):
            routes += [(m, p, b) for m, p, b in chat_routes(cid, self.a.id, self.b.id, self.x.id, self.word)
                       if not (m == "GET" and (p == "/chats/%d" % cid or "/members" in p))]
        routes += [
            ("GET", "/search?q=" + self.word, None),
            ("POST", "/chats", {"type": "group", "title": "by token", "member_ids": []}),
            ("POST", "/stream/tickets", None),
            ("GET", "/poll", None),           # streams need events:read
        ]
        self.check_forbidden(t, routes, "a chats:read token on message routes and writes")
        r = request("GET", "/events", token=t, headers={"Accept": "text/event-stream"}, timeout=5)
        self.assertError(r, 403, "forbidden", "an SSE stream without events:read")

    def test_messages_only_token(self):
        t = api_token(self.a, ["messages:read", "messages:write"])["token"]
        for cid in (self.g, self.d):
            r = request("GET", "/chats/%d/messages" % cid, token=t)
            self.assertStatus(r, 200)
        routes = [("GET", "/chats", None),
                  ("POST", "/chats", {"type": "direct", "member_ids": [self.x.id]})]
        for cid in (self.g, self.d):
            routes += [
                ("GET", "/chats/%d" % cid, None),
                ("PATCH", "/chats/%d" % cid, {"title": "by token"}),
                ("GET", "/chats/%d/members" % cid, None),
                ("POST", "/chats/%d/members" % cid, {"user_ids": [self.x.id]}),
                ("DELETE", "/chats/%d/members/%d" % (cid, self.b.id), None),
                ("DELETE", "/chats/%d/members/%d" % (cid, self.a.id), None),
            ]
        self.check_forbidden(t, routes, "a messages-only token on chat routes")

    def test_scope_never_widens_to_other_chats(self):
        # a's full-scope token is still a's: x's chat is 404 with it
        t = api_token(self.a, ["chats:read", "chats:write", "messages:read", "messages:write"])["token"]
        for method, path, body in chat_routes(self.xg, self.x.id, self.x.id, self.b.id, self.word):
            r = request(method, path, body, token=t)
            self.assertError(r, 404, "not_found", "%s %s" % (method, path))
        r = self.x.req("GET", "/chats/%d/messages" % self.xg)
        self.assertEqual([m["content"] for m in r.json["messages"]], ["x says hi"])
        self.assertEqual(self.x.req("GET", "/chats/%d" % self.xg).json["title"], "x alone")


if __name__ == "__main__":
    chatlib.main()
