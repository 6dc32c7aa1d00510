#!/usr/bin/python3
"""Sessions and personal API tokens (API.md "Auth": /auth/sessions,
/auth/logout-all, /tokens; "Conventions: Auth, Idempotency").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_sessions_tokens.py

Assumptions where API.md is silent:
- GET /auth/sessions answers {"sessions": [...]}, each with an integer `id`
  and a boolean `current` that is true exactly for the caller's session;
  revoked sessions are not listed.
- "every session and access token of the user is revoked" (logout-all) is
  read as the user's sessions and their JWTs; whether personal API tokens
  survive is not pinned here.
- A personal API token is refused with 403 forbidden on the session-only
  endpoints (API.md: 403 is for "a token that lacks the scope").
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (ApiTestCase, register, request, login, api_token, create_direct,  # noqa: E402
                     post_message, history, SSEStream, API_URL)
import time  # noqa: E402
import urllib.parse  # noqa: E402

ALL_SCOPES = ["chats:read", "chats:write", "messages:read", "messages:write", "events:read",
              "webhooks:write"]


class SessionsTest(ApiTestCase):

    def sessions(self, token):
        r = request("GET", "/auth/sessions", token=token)
        self.assertStatus(r, 200)
        self.assertJsonContentType(r)
        self.assertIsInstance(r.json, dict, r.describe())
        self.assertIsInstance(r.json.get("sessions"), list, r.describe())
        return r

    def current_id(self, token):
        r = self.sessions(token)
        cur = [s["id"] for s in r.json["sessions"] if s.get("current") is True]
        self.assertEqual(len(cur), 1, "exactly one session is current: " + r.describe())
        return cur[0]

    def test_list_shape_and_current(self):
        u = register("ses")
        second = login(u)
        r = self.sessions(u.token)
        self.assertNoExponentIds(r)
        ss = r.json["sessions"]
        self.assertEqual(len(ss), 2, "register and login make two sessions: " + r.describe())
        for s in ss:
            self.assertId(s.get("id"), "session.id")
            self.assertIsInstance(s.get("current"), bool, "session.current: " + r.describe())
            if "created_at" in s:
                self.assertTime(s["created_at"], "session.created_at")
        self.assertEqual(len({s["id"] for s in ss}), 2)
        # no secret of any session is listed
        for secret in (u.token, u.refresh, second["access_token"], second["refresh_token"]):
            self.assertNotIn(secret, r.raw.decode("utf-8", "replace"))
        self.assertNotIn("refresh_token", r.raw.decode("utf-8", "replace"))
        # `current` follows the caller's token
        cur1 = self.current_id(u.token)
        cur2 = self.current_id(second["access_token"])
        self.assertNotEqual(cur1, cur2)
        self.assertEqual({cur1, cur2}, {s["id"] for s in ss})
        # another user sees only their own
        v = register("ses")
        rv = self.sessions(v.token)
        self.assertEqual(len(rv.json["sessions"]), 1, rv.describe())
        self.assertFalse({s["id"] for s in rv.json["sessions"]} & {cur1, cur2})

    def test_refresh_keeps_the_session(self):
        u = register("sref")
        before = self.current_id(u.token)
        r = request("POST", "/auth/refresh", {"refresh_token": u.refresh})
        self.assertStatus(r, 200)
        ss = self.sessions(r.json["access_token"]).json["sessions"]
        self.assertEqual([(s["id"], s["current"]) for s in ss], [(before, True)],
                         "a refresh rotates the token, not the session")

    def test_sessions_need_auth(self):
        self.assertError(request("GET", "/auth/sessions"), 401, "unauthorized")
        self.assertError(request("DELETE", "/auth/sessions/1"), 401, "unauthorized")
        self.assertError(request("POST", "/auth/logout-all"), 401, "unauthorized")

    def test_revoke_own_other_session(self):
        u = register("sdel")
        b = login(u)
        a_id = self.current_id(u.token)
        b_id = self.current_id(b["access_token"])
        r = request("DELETE", "/auth/sessions/%d" % a_id, token=b["access_token"])
        self.assertStatus(r, 204)
        self.assertFalse(r.raw, "204 has no body: " + r.describe())
        # session A: its access token and its refresh token fail
        self.assertError(request("GET", "/users/me", token=u.token), 401, "unauthorized")
        self.assertError(request("POST", "/auth/refresh", {"refresh_token": u.refresh}),
                         401, "unauthorized")
        # session B is untouched and no longer lists A
        self.assertStatus(request("GET", "/users/me", token=b["access_token"]), 200)
        ids = [s["id"] for s in self.sessions(b["access_token"]).json["sessions"]]
        self.assertEqual(ids, [b_id])
        r = request("POST", "/auth/refresh", {"refresh_token": b["refresh_token"]})
        self.assertStatus(r, 200)
        # revoking A again: it no longer exists for the user
        r = request("DELETE", "/auth/sessions/%d" % a_id, token=r.json["access_token"])
        self.assertError(r, 404, "not_found")

    def test_revoke_current_session(self):
        u = register("scur")
        other = login(u)
        cur = self.current_id(u.token)
        r = request("DELETE", "/auth/sessions/%d" % cur, token=u.token)
        self.assertStatus(r, 204)
        self.assertError(request("GET", "/users/me", token=u.token), 401, "unauthorized")
        self.assertError(request("POST", "/auth/refresh", {"refresh_token": u.refresh}),
                         401, "unauthorized")
        self.assertStatus(request("GET", "/users/me", token=other["access_token"]), 200)

    def test_revoke_another_users_session_is_404(self):
        u, v = register("sown"), register("soth")
        v2 = login(v)
        v_ids = sorted(s["id"] for s in self.sessions(v.token).json["sessions"])
        u_before = self.sessions(u.token).json["sessions"]
        for sid in v_ids:
            r = request("DELETE", "/auth/sessions/%d" % sid, token=u.token)
            self.assertError(r, 404, "not_found")
        # the same answer as for a session that does not exist
        r_none = request("DELETE", "/auth/sessions/%d" % (max(v_ids) + 10 ** 12), token=u.token)
        self.assertError(r_none, 404, "not_found")
        self.assertEqual(r.json["error"]["code"], r_none.json["error"]["code"])
        # nothing changed for either user
        self.assertEqual(sorted(s["id"] for s in self.sessions(v.token).json["sessions"]), v_ids)
        self.assertStatus(request("GET", "/users/me", token=v.token), 200)
        self.assertStatus(request("GET", "/users/me", token=v2["access_token"]), 200)
        self.assertStatus(request("POST", "/auth/refresh", {"refresh_token": v2["refresh_token"]}),
                          200)
        self.assertEqual(self.sessions(u.token).json["sessions"], u_before)

    def test_bad_session_ids(self):
        u = register("sbad")
        for path in ("/auth/sessions/abc", "/auth/sessions/0", "/auth/sessions/-1",
                     "/auth/sessions/99999999999999999999999"):
            r = request("DELETE", path, token=u.token)
            self.assertError(r, (400, 404), msg=path)
        self.assertStatus(request("GET", "/users/me", token=u.token), 200)

    def test_logout_all(self):
        u = register("lall")
        others = [login(u), login(u)]
        access = [u.token] + [o["access_token"] for o in others]
        refresh = [u.refresh] + [o["refresh_token"] for o in others]
        # a rotated pair too: the new access token of a refreshed session
        r = request("POST", "/auth/refresh", {"refresh_token": refresh[2]})
        self.assertStatus(r, 200)
        access.append(r.json["access_token"])
        refresh[2] = r.json["refresh_token"]
        for t in access:
            self.assertStatus(request("GET", "/users/me", token=t), 200)
        r = request("POST", "/auth/logout-all", token=others[0]["access_token"])
        self.assertStatus(r, 204)
        for i, t in enumerate(access):
            self.assertError(request("GET", "/users/me", token=t), 401, "unauthorized",
                             "access token %d after logout-all" % i)
            self.assertError(request("GET", "/chats", token=t), 401, "unauthorized")
        for i, t in enumerate(refresh):
            self.assertError(request("POST", "/auth/refresh", {"refresh_token": t}), 401,
                             "unauthorized", "refresh token %d after logout-all" % i)
        # a new login works and is then the only session
        fresh = login(u)
        self.assertStatus(request("GET", "/users/me", token=fresh["access_token"]), 200)
        ss = self.sessions(fresh["access_token"]).json["sessions"]
        self.assertEqual(len(ss), 1, ss)
        self.assertTrue(ss[0]["current"])

    def test_logout_all_leaves_other_users_alone(self):
        u, v = register("lall"), register("lall")
        self.assertStatus(request("POST", "/auth/logout-all", token=u.token), 204)
        self.assertStatus(request("GET", "/users/me", token=v.token), 200)
        self.assertStatus(request("POST", "/auth/refresh", {"refresh_token": v.refresh}), 200)


class TokensTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = register("tka"), register("tkb")
        cls.chat = create_direct(cls.a, cls.b)
        cls.cid = cls.chat["id"]
        post_message(cls.a, cls.cid, "first from a")
        post_message(cls.b, cls.cid, "first from b")

    def tokens(self, user):
        r = user.req("GET", "/tokens")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json.get("tokens"), list, r.describe())
        return r

    def test_create_shape_and_list_without_secret(self):
        u = register("tkc")
        name = "ci bot " + chatlib.rand_suffix(4)
        r = u.req("POST", "/tokens", {"name": name, "scopes": ["messages:read", "chats:read"]})
        self.assertStatus(r, 201)
        self.assertJsonContentType(r)
        self.assertNoExponentIds(r)
        t = r.json
        for k in ("id", "name", "scopes", "token"):
            self.assertIn(k, t, r.describe())
        self.assertId(t["id"], "token.id")
        self.assertEqual(t["name"], name)
        self.assertEqual(sorted(t["scopes"]), ["chats:read", "messages:read"])
        self.assertIsInstance(t["token"], str)
        self.assertTrue(t["token"].startswith("chat_pat_"), r.describe())
        self.assertGreaterEqual(len(t["token"]), len("chat_pat_") + 32, "enough entropy: %r" % t)
        # listed without the secret
        lr = self.tokens(u)
        listed = [x for x in lr.json["tokens"] if x.get("id") == t["id"]]
        self.assertEqual(len(listed), 1, lr.describe())
        self.assertEqual(listed[0]["name"], name)
        self.assertEqual(sorted(listed[0]["scopes"]), ["chats:read", "messages:read"])
        self.assertNotIn("token", listed[0])
        self.assertNotIn(t["token"], lr.raw.decode("utf-8", "replace"))
        self.assertNotIn(t["token"][len("chat_pat_"):], lr.raw.decode("utf-8", "replace"))
        # and it works
        r = request("GET", "/chats", token=t["token"])
        self.assertStatus(r, 200)
        r = request("GET", "/users/me", token=t["token"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], u.id)
        # two tokens are two different secrets
        t2 = api_token(u, ["chats:read"])
        self.assertNotEqual(t2["token"], t["token"])
        self.assertNotEqual(t2["id"], t["id"])

    def test_create_shown_once_not_replayed(self):
        # an answer carrying a secret is never stored: the same Idempotency-Key gets 409
        u = register("tko")
        key = "idem-" + chatlib.rand_suffix(16)
        body = {"name": "once", "scopes": ["chats:read"]}
        r1 = u.req("POST", "/tokens", body, headers={"Idempotency-Key": key})
        self.assertStatus(r1, 201)
        r2 = u.req("POST", "/tokens", body, headers={"Idempotency-Key": key})
        self.assertError(r2, 409)
        self.assertNotIn("chat_pat_", r2.raw.decode("utf-8", "replace"))
        self.assertEqual(len(self.tokens(u).json["tokens"]), 1, "no second token was made")

    def test_read_only_token(self):
        t = api_token(self.a, ["messages:read"])["token"]
        before = [(m["seq"], m["content"]) for m in history(self.a, self.cid, limit=200).json["messages"]]
        r = request("POST", "/chats/%d/messages" % self.cid, {"content": "via read-only token"}, token=t)
        self.assertError(r, 403, "forbidden")
        r = request("POST", "/chats/%d/messages" % self.cid,
                    {"content": "via read-only token", "client_msg_id": "ro-" + chatlib.rand_suffix()},
                    token=t)
        self.assertError(r, 403, "forbidden")
        r = request("PATCH", "/chats/%d/messages/1" % self.cid, {"content": "edited via token"}, token=t)
        self.assertError(r, 403, "forbidden")
        r = request("DELETE", "/chats/%d/messages/1" % self.cid, token=t)
        self.assertError(r, 403, "forbidden")
        # events:read is what a stream ticket needs (API.md)
        r = request("POST", "/stream/tickets", token=t)
        self.assertError(r, 403, "forbidden")
        # chats:read is another scope
        r = request("GET", "/chats", token=t)
        self.assertError(r, 403, "forbidden")
        # reading history is what it may do
        r = request("GET", "/chats/%d/messages" % self.cid, token=t)
        self.assertStatus(r, 200)
        self.assertEqual([(m["seq"], m["content"]) for m in r.json["messages"]], before)
        after = [(m["seq"], m["content"]) for m in history(self.a, self.cid, limit=200).json["messages"]]
        self.assertEqual(after, before, "a refused write changed the history")

    def test_write_token_acts_as_its_user(self):
        t = api_token(self.a, ["messages:write", "messages:read"])["token"]
        r = request("POST", "/chats/%d/messages" % self.cid, {"content": "from a bot"}, token=t)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["sender_id"], self.a.id)
        # but never more than its user: a chat the user is not in is 404
        x, y = register("tkx"), register("tky")
        other = create_direct(x, y)
        r = request("GET", "/chats/%d/messages" % other["id"], token=t)
        self.assertError(r, 404, "not_found")
        r = request("POST", "/chats/%d/messages" % other["id"], {"content": "hi"}, token=t)
        self.assertError(r, 404, "not_found")

    def test_api_token_cannot_manage_tokens_or_sessions(self):
        u = register("tkm")
        tok = api_token(u, ALL_SCOPES)
        t = tok["token"]
        sid = [s["id"] for s in u.req("GET", "/auth/sessions").json["sessions"]][0]
        checks = [
            ("POST", "/tokens", {"name": "minted", "scopes": ["chats:read"]}),
            ("GET", "/tokens", None),
            ("DELETE", "/tokens/%d" % tok["id"], None),
            ("GET", "/auth/sessions", None),
            ("DELETE", "/auth/sessions/%d" % sid, None),
            ("POST", "/auth/logout-all", None),
        ]
        for method, path, body in checks:
            r = request(method, path, body, token=t)
            self.assertError(r, 403, "forbidden", "an API token on %s %s" % (method, path))
            self.assertNotIn("chat_pat_", r.raw.decode("utf-8", "replace"))
        # nothing happened: one token, the session alive, the token alive
        lst = self.tokens(u).json["tokens"]
        self.assertEqual([x["id"] for x in lst], [tok["id"]])
        self.assertStatus(u.req("GET", "/users/me"), 200)
        self.assertStatus(request("POST", "/auth/refresh", {"refresh_token": u.refresh}), 200)
        self.assertStatus(request("GET", "/chats", token=t), 200)

    def test_delete_revokes(self):
        u = register("tkd")
        tok = api_token(u, ["chats:read"])
        keep = api_token(u, ["chats:read"])
        self.assertStatus(request("GET", "/chats", token=tok["token"]), 200)
        r = u.req("DELETE", "/tokens/%d" % tok["id"])
        self.assertStatus(r, 204)
        self.assertFalse(r.raw, "204 has no body: " + r.describe())
        self.assertError(request("GET", "/chats", token=tok["token"]), 401, "unauthorized")
        self.assertError(request("GET", "/users/me", token=tok["token"]), 401, "unauthorized")
        self.assertEqual([x["id"] for x in self.tokens(u).json["tokens"]], [keep["id"]])
        self.assertStatus(request("GET", "/chats", token=keep["token"]), 200)
        # deleting it again: gone
        self.assertError(u.req("DELETE", "/tokens/%d" % tok["id"]), 404, "not_found")

    def test_bad_create_requests(self):
        u = register("tkb")
        bad = [
            {"name": "x", "scopes": ["messages:read", "admin"]},
            {"name": "x", "scopes": ["nope"]},
            {"name": "x", "scopes": ["messages:read", "messages:*"]},
            {"name": "x", "scopes": ["*"]},
            {"name": "x", "scopes": "messages:read"},
            {"name": "x", "scopes": [1]},
            {"name": "x", "scopes": [None]},
            {"name": "x"},
            {"scopes": ["chats:read"]},
            {"name": 5, "scopes": ["chats:read"]},
        ]
        for body in bad:
            r = u.req("POST", "/tokens", body)
            self.assertError(r, 400, "invalid_request", "body %r" % (body,))
            self.assertNotIn("chat_pat_", r.raw.decode("utf-8", "replace"))
        self.assertEqual(self.tokens(u).json["tokens"], [], "no token was made")

    def test_unknown_or_revoked_token_is_401(self):
        for t in ("chat_pat_", "chat_pat_" + "0" * 64, "chat_pat_nope", "chat_pat_" + "a" * 5000):
            r = request("GET", "/chats", token=t)
            self.assertError(r, 401, "unauthorized", t[:40])

    def test_another_users_token_id_is_404(self):
        u, v = register("tku"), register("tkv")
        tv = api_token(v, ["chats:read"])
        r = u.req("DELETE", "/tokens/%d" % tv["id"])
        self.assertError(r, 404, "not_found")
        r_none = u.req("DELETE", "/tokens/%d" % (tv["id"] + 10 ** 12))
        self.assertError(r_none, 404, "not_found")
        self.assertEqual(r.json["error"]["code"], r_none.json["error"]["code"])
        # v's token is untouched and u does not list it
        self.assertStatus(request("GET", "/chats", token=tv["token"]), 200)
        self.assertEqual([x["id"] for x in self.tokens(v).json["tokens"]], [tv["id"]])
        self.assertEqual(self.tokens(u).json["tokens"], [])

    def test_tokens_need_session_auth(self):
        self.assertError(request("GET", "/tokens"), 401, "unauthorized")
        self.assertError(request("POST", "/tokens", {"name": "x", "scopes": ["chats:read"]}),
                         401, "unauthorized")
        self.assertError(request("DELETE", "/tokens/1"), 401, "unauthorized")


class RevocationClosesStreamsTest(ApiTestCase):
    """API.md: a revoked session's open streams close within 5 s; DESIGN.md
    "Security decisions": revocation (of sessions and API tokens) also
    closes the affected streams."""

    CLOSE_WITHIN = 5.0

    def setUp(self):
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()

    def stream_with_ticket(self, access_token):
        r = request("POST", "/stream/tickets", token=access_token)
        self.assertStatus(r, 201)
        return self.opened(SSEStream(API_URL + "/events?" + urllib.parse.urlencode({"ticket": r.json["ticket"]})))

    def opened(self, s):
        self.streams.append(s)
        self.assertEqual(s.status(), 200, "stream status; output:\n" + s.dump())
        _, ev = s.wait_for(lambda e: True, timeout=5)
        self.assertIsNotNone(ev, "no first event:\n" + s.dump())
        self.assertEqual(ev.type, "resync")
        return s

    def wait_closed(self, s, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if s.eof:
                return True
            time.sleep(0.05)
        return s.eof

    def gets(self, s, cid, content, timeout=5):
        _, ev = s.wait_for(lambda e: e.type == "message.created" and isinstance(e.data, dict)
                           and e.data.get("chat_id") == cid
                           and (e.data.get("message") or {}).get("content") == content, timeout=timeout)
        return ev is not None

    def test_session_revoke_closes_that_sessions_stream_only(self):
        u, v = register("rvs"), register("rvt")
        cid = create_direct(u, v)["id"]
        other = login(u)
        s_a = self.stream_with_ticket(u.token)
        s_b = self.stream_with_ticket(other["access_token"])
        a_id = [x["id"] for x in request("GET", "/auth/sessions", token=u.token).json["sessions"]
                if x["current"]][0]
        self.assertStatus(request("DELETE", "/auth/sessions/%d" % a_id, token=other["access_token"]), 204)
        self.assertTrue(self.wait_closed(s_a, self.CLOSE_WITHIN),
                        "the revoked session's stream is still open after %.0f s:\n%s"
                        % (self.CLOSE_WITHIN, s_a.dump()))
        post_message(v, cid, "still here")
        self.assertTrue(self.gets(s_b, cid, "still here"), "the other session's stream lives on:\n" + s_b.dump())
        self.assertFalse(s_b.eof)

    def test_logout_all_closes_every_stream(self):
        u = register("rvl")
        other = login(u)
        s1 = self.stream_with_ticket(u.token)
        s2 = self.stream_with_ticket(other["access_token"])
        self.assertStatus(request("POST", "/auth/logout-all", token=u.token), 204)
        for s in (s1, s2):
            self.assertTrue(self.wait_closed(s, self.CLOSE_WITHIN),
                            "a stream is still open %.0f s after logout-all:\n%s" % (self.CLOSE_WITHIN, s.dump()))

    def test_token_revoke_closes_its_stream(self):
        u, v = register("rvp"), register("rvq")
        cid = create_direct(u, v)["id"]
        tok = api_token(u, ["events:read", "messages:read", "chats:read"])
        s = self.opened(SSEStream(API_URL + "/events", headers=["Authorization: Bearer " + tok["token"]]))
        post_message(v, cid, "before revoke")
        self.assertTrue(self.gets(s, cid, "before revoke"), "the API token's stream carries events:\n" + s.dump())
        self.assertStatus(u.req("DELETE", "/tokens/%d" % tok["id"]), 204)
        self.assertError(request("GET", "/chats", token=tok["token"]), 401, "unauthorized")
        closed = self.wait_closed(s, self.CLOSE_WITHIN)
        post_message(v, cid, "after revoke")
        leaked = self.gets(s, cid, "after revoke", timeout=1.5)
        self.assertFalse(leaked, "a revoked API token's stream still carries new messages:\n" + s.dump())
        self.assertTrue(closed, "the revoked API token's stream is still open %.0f s later:\n%s"
                        % (self.CLOSE_WITHIN, s.dump()))

    def test_token_revoke_leaves_other_streams_open(self):
        # Only the streams that API token opened close: not the user's
        # session streams, nor those of another API token.
        u, v = register("rvo"), register("rvr")
        cid = create_direct(u, v)["id"]
        tok = api_token(u, ["events:read"])
        keep = api_token(u, ["events:read"])
        s_tok = self.opened(SSEStream(API_URL + "/events", headers=["Authorization: Bearer " + tok["token"]]))
        s_sess = self.stream_with_ticket(u.token)
        s_keep = self.stream_with_ticket(keep["token"])
        self.assertStatus(u.req("DELETE", "/tokens/%d" % tok["id"]), 204)
        self.assertTrue(self.wait_closed(s_tok, self.CLOSE_WITHIN),
                        "the revoked API token's stream is still open:\n" + s_tok.dump())
        post_message(v, cid, "still open")
        for what, s in (("the session's", s_sess), ("the other API token's", s_keep)):
            self.assertTrue(self.gets(s, cid, "still open"), "%s stream lives on:\n%s" % (what, s.dump()))
            self.assertFalse(s.eof, what)

    def test_token_ticket_stream_closes_on_token_revoke(self):
        u, v = register("rvk"), register("rvm")
        cid = create_direct(u, v)["id"]
        tok = api_token(u, ["events:read"])
        s = self.stream_with_ticket(tok["token"])
        self.assertStatus(u.req("DELETE", "/tokens/%d" % tok["id"]), 204)
        closed = self.wait_closed(s, self.CLOSE_WITHIN)
        post_message(v, cid, "after revoke")
        self.assertFalse(self.gets(s, cid, "after revoke", timeout=1.5),
                         "a revoked API token's stream still carries new messages:\n" + s.dump())
        self.assertTrue(closed, "the stream opened with a revoked API token's ticket is still open:\n" + s.dump())


if __name__ == "__main__":
    chatlib.main()
