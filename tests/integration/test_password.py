#!/usr/bin/python3
"""Password change (POST /auth/password): every session and access token
issued before it is refused afterwards (DESIGN.md "Security"), and the
answer is a fresh working session."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, register, request  # noqa: E402

NEW_PASSWORD = "a whole new passphrase"


class PasswordTest(ApiTestCase):
    def test_change_revokes_old_tokens_and_sessions(self):
        u = register("pwc")
        other = chatlib.login(u)  # a second session of the same user
        tok = chatlib.api_token(u, ["chats:read"])["token"]
        r = u.req("POST", "/auth/password",
                  {"current_password": u.password, "new_password": NEW_PASSWORD})
        self.assertStatus(r, 200)
        for k in ("access_token", "refresh_token", "user"):
            self.assertIn(k, r.json)
        fresh = r.json["access_token"]
        # the old access tokens of both sessions, and their refresh tokens, are refused
        self.assertError(u.req("GET", "/users/me"), 401, "unauthorized")
        self.assertError(request("GET", "/users/me", token=other["access_token"]), 401)
        self.assertError(request("POST", "/auth/refresh", {"refresh_token": u.refresh}), 401)
        self.assertError(request("POST", "/auth/refresh",
                                 {"refresh_token": other["refresh_token"]}), 401)
        self.assertError(request("GET", "/chats", token=tok), 401, "unauthorized")
        # the new session works; the old password no longer logs in, the new one does
        self.assertStatus(request("GET", "/users/me", token=fresh), 200)
        self.assertError(request("POST", "/auth/login",
                                 {"username": u.username, "password": u.password}),
                         401, "invalid_credentials")
        self.assertStatus(request("POST", "/auth/login",
                                  {"username": u.username, "password": NEW_PASSWORD}), 200)

    def test_wrong_current_password_changes_nothing(self):
        u = register("pww")
        r = u.req("POST", "/auth/password",
                  {"current_password": "not the password", "new_password": NEW_PASSWORD})
        self.assertError(r, 400, "invalid_request")
        self.assertStatus(u.req("GET", "/users/me"), 200)
        self.assertStatus(request("POST", "/auth/login",
                                  {"username": u.username, "password": u.password}), 200)

    def test_short_new_password_is_400(self):
        u = register("pws")
        r = u.req("POST", "/auth/password", {"current_password": u.password, "new_password": "short"})
        self.assertError(r, 400, "invalid_request")
        self.assertStatus(u.req("GET", "/users/me"), 200)

    def test_api_token_cannot_change_password(self):
        u = register("pwt")
        tok = chatlib.api_token(u, ["chats:read"])["token"]
        r = request("POST", "/auth/password",
                    {"current_password": u.password, "new_password": NEW_PASSWORD}, token=tok)
        self.assertError(r, 403, "forbidden")


if __name__ == "__main__":
    chatlib.main()
