#!/usr/bin/python3
"""Auth and users (API.md "Conventions", "Auth", "Users").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_auth.py
The stack should run with a short refresh grace (CHAT_REFRESH_GRACE, seconds,
default 1 here) so that the reuse-after-grace tests stay quick.
"""

import json
import random
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, register, request, uname, DEFAULT_PASSWORD  # noqa: E402

GRACE = float(os.environ.get("CHAT_REFRESH_GRACE", "1"))


def nested(depth, inner=1):
    """A JSON value nesting `depth` arrays deep."""
    v = inner
    for _ in range(depth):
        v = [v]
    return v


class RegisterTest(ApiTestCase):

    def assertTokenAnswer(self, r, status, username):
        self.assertStatus(r, status)
        self.assertJsonContentType(r)
        j = r.json
        self.assertIsInstance(j, dict, r.describe())
        for k in ("user", "access_token", "refresh_token", "token_type", "expires_in"):
            self.assertIn(k, j, "answer lacks %r: %s" % (k, r.describe()))
        self.assertEqual(j["token_type"], "Bearer")
        self.assertIsInstance(j["access_token"], str)
        self.assertIsInstance(j["refresh_token"], str)
        self.assertTrue(j["access_token"] and j["refresh_token"])
        self.assertNotEqual(j["access_token"], j["refresh_token"])
        self.assertEqual(j["access_token"].count("."), 2, "access token should be a JWT")
        self.assertTrue(isinstance(j["expires_in"], int) and not isinstance(j["expires_in"], bool)
                        and 0 < j["expires_in"] <= 24 * 3600,
                        "expires_in should be a positive number of seconds: %r" % j["expires_in"])
        u = j["user"]
        self.assertIsInstance(u, dict)
        self.assertId(u.get("id"), "user.id")
        self.assertEqual(u.get("username"), username)
        self.assertIn("display_name", u)
        self.assertNoExponentIds(r)
        return j

    def test_register_shape_and_token_works(self):
        name = uname("reg")
        r = request("POST", "/auth/register",
                    {"username": name, "password": DEFAULT_PASSWORD, "display_name": "Reg Ister"})
        j = self.assertTokenAnswer(r, 201, name)
        self.assertEqual(j["user"]["display_name"], "Reg Ister")
        me = request("GET", "/users/me", token=j["access_token"])
        self.assertStatus(me, 200)
        self.assertEqual(me.json["id"], j["user"]["id"])
        self.assertEqual(me.json["username"], name)

    def test_register_username_boundaries(self):
        # 3 and 32 characters, every allowed character class
        for name in ("a" + rand3(), ("b." + rand3() + "-_" + "x" * 32)[:32]):
            r = request("POST", "/auth/register", {"username": name, "password": DEFAULT_PASSWORD})
            if r.status == 409:  # a 3-character name may already exist in a shared DB
                self.assertError(r, 409, "username_taken")
                continue
            self.assertTokenAnswer(r, 201, name)

    def test_register_password_bytes_boundary(self):
        # 8 bytes is the minimum; 8 bytes made of 4 two-byte characters also counts
        for pw in ("12345678", "\u00e9\u00e9\u00e9\u00e9", "p" * 1024):
            name = uname("pw")
            r = request("POST", "/auth/register", {"username": name, "password": pw})
            self.assertTokenAnswer(r, 201, name)
            r = request("POST", "/auth/login", {"username": name, "password": pw})
            self.assertTokenAnswer(r, 200, name)

    def test_duplicate_username(self):
        name = uname("dup")
        r = request("POST", "/auth/register", {"username": name, "password": DEFAULT_PASSWORD})
        self.assertStatus(r, 201)
        r = request("POST", "/auth/register", {"username": name, "password": "another password"})
        self.assertError(r, 409, "username_taken")
        # unique regardless of case
        r = request("POST", "/auth/register", {"username": name.upper(), "password": "another password"})
        self.assertError(r, 409, "username_taken")
        mixed = name[0].upper() + name[1:]
        r = request("POST", "/auth/register", {"username": mixed, "password": "another password"})
        self.assertError(r, 409, "username_taken")

    def test_bad_username(self):
        bad = ["ab", "x" * 33, "bad name", "bad!name", "caf\u00e9" + rand3(), "", "a/b" + rand3(),
               "tab\tname"]
        for name in bad:
            r = request("POST", "/auth/register", {"username": name, "password": DEFAULT_PASSWORD})
            self.assertError(r, 400, "invalid_request", "username %r" % name)
        for name in (None, 123, ["abc"], {"a": 1}):
            r = request("POST", "/auth/register", {"username": name, "password": DEFAULT_PASSWORD})
            self.assertError(r, 400, "invalid_request", "username %r" % (name,))

    def test_bad_password(self):
        for pw in ("", "1234567", "\u00e9\u00e9\u00e9", "p" * 1025, None, 12345678):
            name = uname("bpw")
            r = request("POST", "/auth/register", {"username": name, "password": pw})
            self.assertError(r, 400, "invalid_request", "password %r" % (pw if not isinstance(pw, str)
                                                                         else pw[:20]))
            # and nothing was created
            r = request("POST", "/auth/login", {"username": name, "password": "12345678"})
            self.assertError(r, 401, "invalid_credentials")

    def test_missing_fields(self):
        for body in ({}, {"username": uname("mf")}, {"password": DEFAULT_PASSWORD}, [], "x", 1, None):
            r = request("POST", "/auth/register", raw=json.dumps(body).encode())
            self.assertError(r, 400, "invalid_request", "body %r" % (body,))

    def test_register_with_idempotency_key_is_never_replayed(self):
        # an answer carrying tokens is never stored: the same key again gets 409
        key = "idem-" + chatlib.rand_suffix(16)
        name = uname("idk")
        body = {"username": name, "password": DEFAULT_PASSWORD}
        r1 = request("POST", "/auth/register", body, headers={"Idempotency-Key": key})
        self.assertStatus(r1, 201)
        r2 = request("POST", "/auth/register", body, headers={"Idempotency-Key": key})
        self.assertError(r2, 409)
        self.assertNotIn("access_token", r2.raw.decode("utf-8", "replace"))


def rand3():
    return chatlib.rand_suffix(2)


class LoginTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.u = register("login")

    def test_login_ok(self):
        r = request("POST", "/auth/login", {"username": self.u.username, "password": self.u.password})
        self.assertStatus(r, 200)
        j = r.json
        for k in ("user", "access_token", "refresh_token", "token_type", "expires_in"):
            self.assertIn(k, j)
        self.assertEqual(j["token_type"], "Bearer")
        self.assertEqual(j["user"]["id"], self.u.id)
        self.assertEqual(j["user"]["username"], self.u.username)
        self.assertIsInstance(j["expires_in"], int)
        self.assertNotEqual(j["refresh_token"], self.u.refresh, "a login starts a new session")
        me = request("GET", "/users/me", token=j["access_token"])
        self.assertStatus(me, 200)
        self.assertEqual(me.json["id"], self.u.id)
        # the new session's refresh token works
        r = request("POST", "/auth/refresh", {"refresh_token": j["refresh_token"]})
        self.assertStatus(r, 200)

    def test_login_with_other_case(self):
        # unique regardless of case: the upper-case spelling names the same account
        r = request("POST", "/auth/login", {"username": self.u.username.upper(),
                                            "password": self.u.password})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["user"]["id"], self.u.id)

    def test_wrong_password_and_unknown_user_same_answer(self):
        r1 = request("POST", "/auth/login", {"username": self.u.username, "password": "wrong password!"})
        self.assertError(r1, 401, "invalid_credentials")
        r2 = request("POST", "/auth/login", {"username": uname("nobody"), "password": "wrong password!"})
        self.assertError(r2, 401, "invalid_credentials")
        self.assertEqual(r1.json, r2.json, "unknown user and wrong password must answer the same")

    def test_login_timing_does_not_reveal_unknown_users(self):
        # Same timing for unknown user and wrong password: an unknown user must
        # cost a password hash too. Three wrong passwords on three accounts (so
        # no per-account throttle kicks in) against three unknown names.
        users = [register("tim") for _ in range(3)]
        wrong, unknown = [], []
        for u in users:
            r = request("POST", "/auth/login", {"username": u.username, "password": "wrong password!"})
            self.assertError(r, 401, "invalid_credentials")
            wrong.append(r.elapsed)
            r = request("POST", "/auth/login", {"username": uname("ghost"), "password": "wrong password!"})
            self.assertError(r, 401, "invalid_credentials")
            unknown.append(r.elapsed)
        mw, mu = statistics.median(wrong), statistics.median(unknown)
        self.assertGreater(mu, 0.3 * mw,
                           "unknown-user logins answer much faster (median %.1f ms) than wrong-password "
                           "logins (median %.1f ms): usernames can be enumerated" % (mu * 1e3, mw * 1e3))

    def test_login_bad_body(self):
        r = request("POST", "/auth/login", {"username": self.u.username})
        self.assertError(r, 400, "invalid_request")
        r = request("POST", "/auth/login", raw=b"{nope")
        self.assertError(r, 400, "invalid_request")

class RefreshTest(ApiTestCase):

    def refresh(self, tok):
        return request("POST", "/auth/refresh", {"refresh_token": tok})

    def assertPair(self, r):
        self.assertStatus(r, 200)
        for k in ("access_token", "refresh_token"):
            self.assertIsInstance(r.json.get(k), str, r.describe())
        return r.json

    def test_rotation_new_pair_works(self):
        u = register("rot")
        r = self.refresh(u.refresh)
        p1 = self.assertPair(r)
        self.assertNotEqual(p1["refresh_token"], u.refresh, "refresh must rotate the token")
        me = request("GET", "/users/me", token=p1["access_token"])
        self.assertStatus(me, 200)
        self.assertEqual(me.json["id"], u.id)
        p2 = self.assertPair(self.refresh(p1["refresh_token"]))
        self.assertNotEqual(p2["refresh_token"], p1["refresh_token"])
        me = request("GET", "/users/me", token=p2["access_token"])
        self.assertStatus(me, 200)

    def test_old_token_within_grace_returns_same_pair(self):
        u = register("grace")
        p1 = self.assertPair(self.refresh(u.refresh))
        r = self.refresh(u.refresh)  # at once: well within the grace
        p1b = self.assertPair(r)
        self.assertEqual(p1b["refresh_token"], p1["refresh_token"],
                         "within the grace the old token must return the same new refresh token")
        me = request("GET", "/users/me", token=p1b["access_token"])
        self.assertStatus(me, 200)
        # and the family is intact: the new token still rotates
        self.assertPair(self.refresh(p1["refresh_token"]))

    def test_reuse_after_grace_revokes_family(self):
        u = register("reuse")
        p1 = self.assertPair(self.refresh(u.refresh))
        time.sleep(GRACE + 1.0)
        r = self.refresh(u.refresh)
        self.assertError(r, 401, msg="(spent refresh token presented after the grace)")
        # the whole family is revoked: the newest refresh token fails too
        r = self.refresh(p1["refresh_token"])
        self.assertError(r, 401, msg="(newest token of a family revoked by reuse)")
        # other sessions of the user are not affected
        r = request("POST", "/auth/login", {"username": u.username, "password": u.password})
        self.assertStatus(r, 200)
        self.assertPair(self.refresh(r.json["refresh_token"]))

    def test_unknown_refresh_token(self):
        for tok in ("", "nonsense", "x" * 200):
            r = self.refresh(tok)
            self.assertError(r, (400, 401), msg="refresh_token %r" % tok[:20])
        r = self.refresh(chatlib.rand_suffix(43))
        self.assertError(r, 401)
        r = request("POST", "/auth/refresh", {})
        self.assertError(r, 400, "invalid_request")

    def test_access_token_is_not_a_refresh_token(self):
        u = register("confuse")
        r = self.refresh(u.token)
        self.assertError(r, (400, 401))

    def test_logout_then_refresh_fails(self):
        u = register("logout")
        r = request("POST", "/auth/logout", {"refresh_token": u.refresh}, token=u.token)
        self.assertStatus(r, 204)
        self.assertEqual(r.raw, b"", "204 carries no body")
        r = self.refresh(u.refresh)
        self.assertError(r, 401)

    def test_logout_after_rotation_revokes_session(self):
        u = register("logout2")
        p1 = self.assertPair(self.refresh(u.refresh))
        r = request("POST", "/auth/logout", {"refresh_token": p1["refresh_token"]}, token=p1["access_token"])
        self.assertStatus(r, 204)
        self.assertError(self.refresh(p1["refresh_token"]), 401)
        # the old (spent) token of the revoked session does not resurrect it
        self.assertError(self.refresh(u.refresh), 401)


class UsersTest(ApiTestCase):

    def test_me_requires_token(self):
        r = request("GET", "/users/me")
        self.assertError(r, 401, "unauthorized")
        r = request("GET", "/users/me", token="not-a-token")
        self.assertError(r, 401, "unauthorized")
        r = request("GET", "/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        self.assertError(r, 401, "unauthorized")

    def test_me_rejects_tampered_and_unsigned_tokens(self):
        import base64
        _json = json
        u = register("tamper")
        head, payload, sig = u.token.split(".")
        # flip the signature
        bad_sig = sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")
        r = request("GET", "/users/me", token="%s.%s.%s" % (head, payload, bad_sig))
        self.assertError(r, 401, "unauthorized")

        def b64(d):
            return base64.urlsafe_b64encode(_json.dumps(d).encode()).rstrip(b"=").decode()
        claims = _json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        # alg none
        r = request("GET", "/users/me", token="%s.%s." % (b64({"alg": "none", "typ": "JWT"}), b64(claims)))
        self.assertError(r, 401, "unauthorized")
        # another user's id in the claims with the old signature
        claims2 = dict(claims)
        sub = claims.get("sub")
        if isinstance(sub, int):
            claims2["sub"] = sub + 1
        else:
            claims2["sub"] = str(int(sub) + 1) if str(sub).isdigit() else "1"
        r = request("GET", "/users/me", token="%s.%s.%s" % (head, b64(claims2), sig))
        self.assertError(r, 401, "unauthorized")

    def test_me_and_patch_display_name(self):
        u = register("me", display_name="Before")
        r = u.req("GET", "/users/me")
        self.assertStatus(r, 200)
        self.assertJsonContentType(r)
        self.assertEqual(r.json["id"], u.id)
        self.assertEqual(r.json["username"], u.username)
        self.assertEqual(r.json["display_name"], "Before")
        self.assertNotIn("password_hash", r.json)
        self.assertNotIn("password", r.json)
        r = u.req("PATCH", "/users/me", {"display_name": "After \u00e9\u6f22"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["display_name"], "After \u00e9\u6f22")
        self.assertEqual(r.json["id"], u.id)
        r = u.req("GET", "/users/me")
        self.assertEqual(r.json["display_name"], "After \u00e9\u6f22")
        r = u.req("GET", "/users/%d" % u.id)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["display_name"], "After \u00e9\u6f22")
        # bad bodies
        r = u.req("PATCH", "/users/me", {"display_name": 5})
        self.assertError(r, 400, "invalid_request")
        r = u.req("PATCH", "/users/me", {"display_name": "a\u0000b"})
        self.assertError(r, 400, "invalid_request")
        r = request("PATCH", "/users/me", {"display_name": "x"})
        self.assertError(r, 401, "unauthorized")

    def test_user_by_id(self):
        a = register("byid")
        b = register("byid")
        r = a.req("GET", "/users/%d" % b.id)
        self.assertStatus(r, 200)
        for k in ("id", "username", "display_name", "presence"):
            self.assertIn(k, r.json)
        self.assertEqual(r.json["id"], b.id)
        self.assertEqual(r.json["username"], b.username)
        # no shared chat: presence is null
        self.assertIsNone(r.json["presence"], "presence is shown only to users who share a chat")
        r = a.req("GET", "/users/999999999999")
        self.assertError(r, 404, "not_found")

    def test_search_by_prefix(self):
        prefix = "srch" + chatlib.rand_suffix(8)
        a = register(prefix)
        b = register(prefix)
        other = register("zz" + chatlib.rand_suffix(6))
        r = a.req("GET", "/users?q=" + prefix)
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json.get("users"), list, r.describe())
        ids = [x["id"] for x in r.json["users"]]
        self.assertIn(a.id, ids)
        self.assertIn(b.id, ids)
        self.assertNotIn(other.id, ids)
        self.assertEqual(len(ids), 2, r.describe())
        for x in r.json["users"]:
            self.assertTrue(x["username"].startswith(prefix))
            self.assertNotIn("password_hash", x)
        self.assertNotIn("next_cursor", r.json, "next_cursor is absent on the last page")
        # upper-case query: usernames are case-insensitive
        r = a.req("GET", "/users?q=" + prefix.upper())
        self.assertStatus(r, 200)
        self.assertEqual(sorted(x["id"] for x in r.json["users"]), sorted([a.id, b.id]))
        # without a token
        r = request("GET", "/users?q=" + prefix)
        self.assertError(r, 401, "unauthorized")

    def test_search_pages_with_limit_and_cursor(self):
        prefix = "pg" + chatlib.rand_suffix(8)
        users = [register(prefix) for _ in range(3)]
        r = users[0].req("GET", "/users?q=%s&limit=2" % prefix)
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json["users"]), 2, r.describe())
        cur = r.json.get("next_cursor")
        self.assertIsInstance(cur, str, "a page that is not the last carries next_cursor: " + r.describe())
        r2 = users[0].req("GET", "/users?" + urllib.parse.urlencode(
            {"q": prefix, "limit": 2, "cursor": cur}))
        self.assertStatus(r2, 200)
        self.assertEqual(len(r2.json["users"]), 1, r2.describe())
        self.assertNotIn("next_cursor", r2.json)
        seen = [x["id"] for x in r.json["users"]] + [x["id"] for x in r2.json["users"]]
        self.assertEqual(sorted(seen), sorted(u.id for u in users))


class BodyLimitsTest(ApiTestCase):

    def test_malformed_json(self):
        for raw in (b"{", b"{\"username\": }", b"not json", b"{\"a\":1,}", b"\xff\xfe{}", b"'x'"):
            r = request("POST", "/auth/register", raw=raw)
            self.assertError(r, 400, "invalid_request", "body %r" % raw)

    def test_invalid_utf8(self):
        name = uname("utf")
        raw = ('{"username": "%s", "password": "' % name).encode() + b"pass\xc3\x28word" + b'"}'
        r = request("POST", "/auth/register", raw=raw)
        self.assertError(r, 400, "invalid_request")
        r = request("POST", "/auth/login", {"username": name, "password": "pass(word"})
        self.assertError(r, 401, "invalid_credentials")

    def test_nul_in_string(self):
        name = uname("nul")
        r = request("POST", "/auth/register", {"username": name, "password": DEFAULT_PASSWORD,
                                               "display_name": "ab\u0000cd"})
        self.assertError(r, 400, "invalid_request")
        # cJSON strings stop at \u0000: "pass\u0000..." must not register "pass"
        name2 = uname("nul")
        r = request("POST", "/auth/register", {"username": name2, "password": "12345678\u0000tail"})
        self.assertError(r, 400, "invalid_request")
        r = request("POST", "/auth/login", {"username": name2, "password": "12345678"})
        self.assertError(r, 401, "invalid_credentials")

    def test_nesting_33_deep(self):
        # the object is level 1, so 32 arrays inside it nest 33 deep
        name = uname("deep")
        body = {"username": name, "password": DEFAULT_PASSWORD, "extra": nested(32)}
        r = request("POST", "/auth/register", body)
        self.assertError(r, 400, "invalid_request")
        # and nothing was created
        r = request("POST", "/auth/login", {"username": name, "password": DEFAULT_PASSWORD})
        self.assertError(r, 401, "invalid_credentials")
        # a deep body on an authenticated endpoint too
        u = register("deep")
        r = u.req("PATCH", "/users/me", {"display_name": "x", "extra": nested(40)})
        self.assertError(r, 400, "invalid_request")
        # and a very deep one (30,000 levels, still under the body limit) must not crash anything
        r = request("POST", "/auth/login", raw=b"[" * 30000 + b"]" * 30000)
        self.assertError(r, 400, "invalid_request")
        self.assertStatus(request("GET", "/users/me", token=u.token), 200)

    def test_body_over_64k_is_413(self):
        name = uname("big")
        body = {"username": name, "password": "p" * (65 * 1024)}
        r = request("POST", "/auth/register", body)
        self.assertError(r, 413, "payload_too_large")
        u = register("big")
        r = u.req("PATCH", "/users/me", {"display_name": "d" * (70 * 1024)})
        self.assertError(r, 413, "payload_too_large")

    def test_body_just_under_64k_is_not_413(self):
        # 60 KiB is under the limit: the request is read and judged (password too long -> 400)
        name = uname("under")
        r = request("POST", "/auth/register", {"username": name, "password": "p" * (60 * 1024)})
        self.assertError(r, 400, "invalid_request")

    def test_rate_limit_headers(self):
        u = register("rl")
        r = u.req("GET", "/users/me")
        self.assertStatus(r, 200)
        for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            v = r.header(h)
            self.assertIsNotNone(v, "every answer carries %s: %s" % (h, r.describe()))
            self.assertTrue(v.strip().isdigit(), "%s should be an integer: %r" % (h, v))


class ZzThrottleTest(ApiTestCase):
    # runs last (unittest orders classes by name): it provokes a login throttle

    def test_zz_repeated_failures_throttled_per_account(self):
        # 429 after repeated failures from one (account, IP) pair, with Retry-After;
        # another account is not locked out by it. (In class ZzThrottleTest so it runs last.)
        victim = register("thr")
        other = register("thr2")
        got = None
        for i in range(40):
            r = request("POST", "/auth/login", {"username": victim.username, "password": "bad guess %d" % i},
                        retry_429=False)
            if r.status == 429:
                got = r
                break
            self.assertError(r, 401, "invalid_credentials")
        self.assertIsNotNone(got, "40 wrong passwords for one account never got 429")
        self.assertError(got, 429, "rate_limited")
        ra = got.header("Retry-After")
        self.assertIsNotNone(ra, "429 without Retry-After: " + got.describe())
        self.assertEqual(len(got.headers.get_all("Retry-After")), 1,
                         "exactly one Retry-After header: %r" % got.headers.get_all("Retry-After"))
        self.assertTrue(ra.strip().isdigit(), "Retry-After should be seconds: %r" % ra)
        r = request("POST", "/auth/login", {"username": other.username, "password": other.password})
        self.assertStatus(r, 200, "(another account from the same IP must still log in)")

    def test_zzz_per_ip_limit_answer(self):
        # From a source address of its own (127.0.0.x, so the other tests'
        # limit is untouched), read the configured limit from the headers and
        # send exactly one request more than it allows: that one must be a
        # 429 with the error shape, one Retry-After and the X-RateLimit headers.
        src = "127.0.0.%d" % random.randint(2, 250)
        first = request("POST", "/auth/refresh", {"refresh_token": "nonsense"}, retry_429=False,
                        source=src)
        self.assertStatus(first, 401)
        limit = int(first.header("X-RateLimit-Limit"))
        remaining = int(first.header("X-RateLimit-Remaining"))
        self.assertEqual(remaining, limit - 1, first.describe())
        self.assertLessEqual(limit, 20000, "limit too high to test in a run")
        got = None
        # remaining + 1 requests reach the limit; if the one-minute window
        # rolls over meanwhile, the count restarts once: 2 * limit + 1 at most.
        for i in range(2 * limit + 1):
            r = request("POST", "/auth/refresh", {"refresh_token": "nonsense"}, retry_429=False,
                        source=src)
            if r.status == 429:
                got = r
                break
        self.assertIsNotNone(got, "no 429 after %d requests with limit %d" % (2 * limit + 1, limit))
        self.assertError(got, 429, "rate_limited")
        ras = got.headers.get_all("Retry-After") or []
        self.assertEqual(len(ras), 1, "exactly one Retry-After header: %r (%s)" % (ras, got.describe()))
        self.assertTrue(ras[0].isdigit() and int(ras[0]) >= 1, ras)
        for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            self.assertIsNotNone(got.header(h), "%s missing on 429" % h)
        self.assertEqual(got.header("X-RateLimit-Remaining"), "0")
        # another address is not limited by this one's exhaustion
        other = request("POST", "/auth/refresh", {"refresh_token": "nonsense"}, retry_429=False)
        self.assertNotEqual(other.status, 429, other.describe())

if __name__ == "__main__":
    chatlib.main()
