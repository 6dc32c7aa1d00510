#!/usr/bin/python3
"""Access-token (JWT) negatives (API.md "Conventions: Auth"; DESIGN.md
"Security decisions": HS256 pinned, exp/nbf/iss/aud/sub checked, 60 s skew,
per-user token_version).

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=/path/to/stack/home \
     /usr/bin/python3 tests/integration/test_tokens_negative.py

Tokens are forged with the stack's own key ($CHAT_HOME/secrets/jwt.key, 32
raw bytes), so every negative differs from a token the server accepts in
exactly one respect; ForgedAcceptedTest proves the forging is right, so
the negatives fail for the reason they name. Every token is tried on
chat-api (/users/me, /chats) and on chat-push (/poll), which verifies
access tokens on its own. Claims as chat-api writes
them (lib/jwt.c): iss "chat", aud "chat-api", sub, sid, tv, iat, nbf, exp,
all integers but iss and aud. CHAT_JWT_ISS / CHAT_JWT_AUD override.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, register, request, login  # noqa: E402

ISS = os.environ.get("CHAT_JWT_ISS", "chat")
AUD = os.environ.get("CHAT_JWT_AUD", "chat-api")
SKEW = 60


def b64u(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jpart(obj):
    return b64u(json.dumps(obj, separators=(",", ":")))


def sign(header, claims, key, digest=hashlib.sha256):
    """A compact JWS: header and claims as dicts (or already-encoded str)."""
    h = header if isinstance(header, str) else jpart(header)
    p = claims if isinstance(claims, str) else jpart(claims)
    signing_input = (h + "." + p).encode("ascii")
    sig = hmac.new(key, signing_input, digest).digest()
    return h + "." + p + "." + b64u(sig)


HS256 = {"alg": "HS256", "typ": "JWT"}


def read_key():
    path = chatlib.chat_home_path("secrets", "jwt.key")
    if path is None:
        return None, "CHAT_HOME is not set (tests/run.sh sets it): the JWT key is needed"
    with open(path, "rb") as f:
        key = f.read()
    if len(key) != 32:
        raise AssertionError("%s should hold 32 raw bytes, holds %d" % (path, len(key)))
    return key, None


def claims_of(token):
    return json.loads(b64u_decode(token.split(".")[1]))


class JwtTestBase(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.key, why = read_key()
        if cls.key is None:
            raise AssertionError(why)
        cls.u = register("jwt")
        cls.other = register("jwo")

    def base_claims(self, user=None, **over):
        """Claims of a token the server must accept: the user's live session
        and token version, issued now."""
        user = user or self.u
        real = claims_of(user.token)
        now = int(time.time())
        c = {"iss": ISS, "aud": AUD, "sub": user.id, "sid": real["sid"], "tv": real["tv"],
             "iat": now, "nbf": now, "exp": now + 600}
        c.update(over)
        return c

    def assertAccepted(self, token, what):
        r = request("GET", "/users/me", token=token)
        self.assertStatus(r, 200, "(%s should be accepted)" % what)
        # chat-push checks access tokens on its own: a long-poll without a
        # cursor answers at once
        p = request("GET", "/poll", token=token)
        self.assertStatus(p, 200, "(%s should be accepted by chat-push)" % what)
        return r

    def assertRefused(self, token, what):
        for path in ("/users/me", "/chats", "/poll"):
            r = request("GET", path, token=token)
            self.assertError(r, 401, "unauthorized", "(%s on %s)" % (what, path))
            self.assertNotIn("\"id\":%d" % self.u.id, r.raw.decode("utf-8", "replace"))
            self.assertNotIn("resync", r.raw.decode("utf-8", "replace"))


class ForgedAcceptedTest(JwtTestBase):
    """The control: a token forged with the right key and claims works."""

    def test_real_token_claims_are_as_assumed(self):
        c = claims_of(self.u.token)
        h = json.loads(b64u_decode(self.u.token.split(".")[0]))
        self.assertEqual(h.get("alg"), "HS256", h)
        for k in ("iss", "aud", "sub", "sid", "tv", "iat", "nbf", "exp"):
            self.assertIn(k, c, "the server's token has no %r claim: %r" % (k, c))
        self.assertEqual(c["iss"], ISS)
        self.assertEqual(c["aud"], AUD)
        self.assertEqual(c["sub"], self.u.id)
        # the server's own token verifies with the key we read: it is the stack's key
        signing_input, _, sig = self.u.token.rpartition(".")
        mac = hmac.new(self.key, signing_input.encode("ascii"), hashlib.sha256).digest()
        self.assertEqual(b64u(mac), sig, "CHAT_HOME's jwt.key is not the key of the stack at CHAT_URL")

    def test_forged_token_is_accepted(self):
        t = sign(HS256, self.base_claims(), self.key)
        r = self.assertAccepted(t, "a correctly forged token")
        self.assertEqual(r.json["id"], self.u.id)
        self.assertStatus(request("GET", "/chats", token=t), 200)

    def test_forged_without_typ_is_accepted(self):
        t = sign({"alg": "HS256"}, self.base_claims(), self.key)
        self.assertAccepted(t, "a forged token without typ")

    def test_within_skew_is_accepted(self):
        now = int(time.time())
        # expired 20 s ago and valid from 20 s in the future: both inside the 60 s skew
        self.assertAccepted(sign(HS256, self.base_claims(exp=now - 20), self.key), "exp 20 s ago")
        self.assertAccepted(sign(HS256, self.base_claims(nbf=now + 20), self.key), "nbf in 20 s")


class AlgorithmTest(JwtTestBase):

    def test_alg_none(self):
        c = self.base_claims()
        for hdr in ({"alg": "none", "typ": "JWT"}, {"alg": "None", "typ": "JWT"},
                    {"alg": "NONE"}, {"typ": "JWT"}):
            h, p = jpart(hdr), jpart(c)
            self.assertRefused(h + "." + p + ".", "alg %r, empty signature" % hdr.get("alg"))
            # an unsigned header glued to a valid HS256 signature of the same payload
            good_sig = sign(HS256, c, self.key).rsplit(".", 1)[1]
            self.assertRefused(h + "." + p + "." + good_sig, "alg %r with a signature" % hdr.get("alg"))
            # a signature over the alg-none header itself
            self.assertRefused(sign(hdr, c, self.key), "alg %r signed with the key" % hdr.get("alg"))

    def test_alg_hs512_and_hs384_with_the_key(self):
        c = self.base_claims()
        self.assertRefused(sign({"alg": "HS512", "typ": "JWT"}, c, self.key, hashlib.sha512),
                           "HS512 signed with the key")
        self.assertRefused(sign({"alg": "HS384", "typ": "JWT"}, c, self.key, hashlib.sha384),
                           "HS384 signed with the key")
        # an HS256 signature under a header claiming HS512 (the alg is pinned, and the header is signed)
        self.assertRefused(sign({"alg": "HS512", "typ": "JWT"}, c, self.key), "alg HS512, HS256 signature")

    def test_alg_rs256_and_crit(self):
        c = self.base_claims()
        self.assertRefused(sign({"alg": "RS256", "typ": "JWT"}, c, self.key), "alg RS256")
        self.assertRefused(sign({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}, c, self.key), "crit")

    def test_other_key(self):
        other = os.urandom(32)
        self.assertRefused(sign(HS256, self.base_claims(), other), "signed with another key")
        # the key with one bit flipped
        flipped = bytes([self.key[0] ^ 1]) + self.key[1:]
        self.assertRefused(sign(HS256, self.base_claims(), flipped), "signed with a near key")
        # an empty key
        self.assertRefused(sign(HS256, self.base_claims(), b""), "signed with an empty key")


class TamperTest(JwtTestBase):

    def test_tampered_payload(self):
        real = self.u.token
        h, p, s = real.split(".")
        c = json.loads(b64u_decode(p))
        # become another user, keep the signature
        c2 = dict(c, sub=self.other.id)
        self.assertRefused(h + "." + jpart(c2) + "." + s, "sub changed, old signature")
        # extend the expiry, keep the signature
        c3 = dict(c, exp=c["exp"] + 86400)
        self.assertRefused(h + "." + jpart(c3) + "." + s, "exp extended, old signature")
        # one signature character changed
        s2 = ("A" if s[0] != "A" else "B") + s[1:]
        self.assertRefused(h + "." + p + "." + s2, "signature changed")
        # signature dropped or truncated
        self.assertRefused(h + "." + p + ".", "no signature")
        self.assertRefused(h + "." + p + "." + s[:-2], "truncated signature")
        self.assertRefused(h + "." + p, "two parts")
        self.assertRefused(real + "." + s, "four parts")
        # the untouched token still works (the negatives above are about tampering)
        self.assertAccepted(real, "the real token")

    def test_garbage(self):
        for t in ("", "a.b.c", "...", "x" * 5000, "eyJhbGciOiJIUzI1NiJ9.e30.", "Bearer",
                  self.u.token.lower()):
            self.assertRefused(t, "garbage %r" % t[:30])


class ClaimsTest(JwtTestBase):

    def forge(self, **over):
        return sign(HS256, self.base_claims(**over), self.key)

    def test_expired(self):
        now = int(time.time())
        self.assertRefused(self.forge(iat=now - 1000, nbf=now - 1000, exp=now - 120), "exp 120 s ago")
        self.assertRefused(self.forge(iat=now - 1000, nbf=now - 1000, exp=now - SKEW - 10),
                           "exp just beyond the skew")
        self.assertRefused(self.forge(iat=0, nbf=0, exp=1), "exp 1970")

    def test_not_yet_valid(self):
        now = int(time.time())
        self.assertRefused(self.forge(nbf=now + 3600, iat=now + 3600, exp=now + 7200), "nbf in an hour")
        self.assertRefused(self.forge(nbf=now + SKEW + 10), "nbf just beyond the skew")

    def test_wrong_issuer(self):
        for iss in ("evil", ISS.upper(), ISS + " ", "", None, 1, [ISS]):
            c = self.base_claims(iss=iss)
            if iss is None:
                del c["iss"]
            self.assertRefused(sign(HS256, c, self.key), "iss %r" % (iss,))

    def test_wrong_audience(self):
        for aud in ("chat-push", "evil", AUD.upper(), "", None, 1):
            c = self.base_claims(aud=aud)
            if aud is None:
                del c["aud"]
            self.assertRefused(sign(HS256, c, self.key), "aud %r" % (aud,))

    def test_missing_or_malformed_claims(self):
        for k in ("sub", "exp"):
            c = self.base_claims()
            del c[k]
            self.assertRefused(sign(HS256, c, self.key), "no %s" % k)
        now = int(time.time())
        self.assertRefused(self.forge(exp=str(now + 600)), "exp as a string")
        self.assertRefused(self.forge(exp=float(now) + 600.5), "exp not an integer")
        self.assertRefused(self.forge(sub=str(self.u.id)), "sub as a string")
        self.assertRefused(self.forge(sub=0), "sub 0")
        self.assertRefused(self.forge(sub=-self.u.id), "sub negative")

    def test_payload_not_an_object(self):
        for payload in ([1, 2], "x", 1, None):
            self.assertRefused(sign(HS256, b64u(json.dumps(payload)), self.key), "payload %r" % (payload,))
        self.assertRefused(sign(HS256, b64u(b"{not json"), self.key), "payload not JSON")
        self.assertRefused(sign(HS256, b64u(b"\xff\xfe"), self.key), "payload not UTF-8")

    def test_other_users_sub_with_my_session(self):
        # sub of another user, sid of mine: the session does not belong to sub
        self.assertRefused(self.forge(sub=self.other.id, tv=claims_of(self.other.token)["tv"]),
                           "sub of another user with my sid")
        # a session id that does not exist
        self.assertRefused(self.forge(sid=claims_of(self.u.token)["sid"] + 10 ** 9), "unknown sid")

    def test_revoked_session(self):
        u = register("jwr")
        second = login(u)
        c = claims_of(u.token)
        t = sign(HS256, self.base_claims(user=u), self.key)
        self.assertAccepted(t, "forged token of a live session")
        self.assertStatus(request("POST", "/auth/logout", {"refresh_token": u.refresh}), 204)
        self.assertRefused(t, "sid of a logged-out session")
        now = int(time.time())
        self.assertRefused(sign(HS256, {"iss": ISS, "aud": AUD, "sub": u.id, "sid": c["sid"],
                                        "tv": c["tv"], "iat": now, "nbf": now, "exp": now + 600},
                                self.key), "freshly issued for a logged-out session")
        self.assertAccepted(second["access_token"], "the other session")

    def test_old_token_version_after_logout_all(self):
        u = register("jwv")
        old = claims_of(u.token)
        self.assertStatus(request("POST", "/auth/logout-all", token=u.token), 204)
        fresh = login(u)
        new = claims_of(fresh["access_token"])
        self.assertNotEqual(new["tv"], old["tv"], "logout-all should bump the token version: %r %r"
                            % (old, new))
        now = int(time.time())
        base = {"iss": ISS, "aud": AUD, "sub": u.id, "sid": new["sid"],
                "iat": now, "nbf": now, "exp": now + 600}
        # the control: the live session with the current tv
        self.assertAccepted(sign(HS256, dict(base, tv=new["tv"]), self.key), "current tv")
        # the live session with the old tv: refused for the tv alone
        self.assertRefused(sign(HS256, dict(base, tv=old["tv"]), self.key),
                           "tv older than the user's token_version")
        # and the old token itself
        self.assertRefused(u.token, "access token issued before logout-all")


class RefreshAsAccessTest(JwtTestBase):

    def test_refresh_token_is_not_an_access_token(self):
        u = register("jrf")
        self.assertRefused(u.refresh, "a refresh token as a bearer token")
        r = request("POST", "/auth/refresh", {"refresh_token": u.refresh})
        self.assertStatus(r, 200)
        self.assertRefused(r.json["refresh_token"], "a rotated refresh token as a bearer token")
        self.assertStatus(request("GET", "/users/me", token=r.json["access_token"]), 200)

    def test_bearer_scheme(self):
        # the token outside the Bearer scheme
        for h in ("Basic " + self.u.token, self.u.token, "Bearer  " + self.u.token + "x",
                  "Token " + self.u.token):
            r = request("GET", "/users/me", headers={"Authorization": h})
            self.assertError(r, 401, "unauthorized", h[:20])


if __name__ == "__main__":
    chatlib.main()
