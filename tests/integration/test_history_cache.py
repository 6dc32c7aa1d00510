#!/usr/bin/python3
"""chat-api's caches (docs/DESIGN.md "Caches in chat-api") never show what
PostgreSQL no longer holds: a history page read twice (so the second read
may come from the page cache) reflects every change on the very next read;
a removed member or an outsider never gets a cached page; an access token
read twice (so its check may come from the auth cache) is refused on the
very next request after any revocation; a change that was never published
shows up within the cache's max age; and after a Redis restart, or while
Redis is down, answers stay right.

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=... /usr/bin/python3 tests/integration/test_history_cache.py
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import (psql, ApiTestCase, PORT, api_token, chat_home_path, create_group,  # noqa: E402
                     history, login, main, post_message, register, request)

# pagecache.h PAGECACHE_MAX_AGE_MS is 1.5 s; DESIGN.md promises "within seconds".
STALE_MAX_S = 4.0


def redis(*args):
    return chatlib.redis_cli(*args, check=False)


def fault_helpers():
    """svc_pid and chatctl from test_faults.py, which restarts services the
    same way; importing it turns off response recording, so keep ours."""
    record = chatlib.CHAT_RECORD
    os.environ.setdefault("CHAT_PORT", str(PORT))  # chatctl's stack is this one
    import test_faults
    chatlib.CHAT_RECORD = record
    return test_faults


class HistoryCacheTest(ApiTestCase):
    def page(self, user, chat_id, **params):
        r = history(user, chat_id, **params)
        self.assertStatus(r, 200)
        return r.json

    def contents(self, user, chat_id, **params):
        return [(m["seq"], m["content"], m["deleted"])
                for m in self.page(user, chat_id, **params)["messages"]]

    def read_twice(self, user, chat_id, **params):
        """Read a page twice: the second read may be served from the cache."""
        first = self.contents(user, chat_id, **params)
        self.assertEqual(self.contents(user, chat_id, **params), first)
        return first

    def chat_version(self, user, chat_id):
        r = user.req("GET", "/chats/%d" % chat_id)
        self.assertStatus(r, 200)
        return r.json["version"]

    def assert_redis_knows_version(self, user, chat_id):
        self.assertEqual(redis("GET", "{chat:%d}:cv" % chat_id), str(self.chat_version(user, chat_id)),
                         "{chat:ID}:cv in Redis is not the chat's version")

    def test_every_change_shows_in_the_next_read(self):
        a, b = register("hca"), register("hcb")
        chat = create_group(a, [b], title="cache")["id"]
        for i in range(3):
            post_message(a, chat, "m%d" % i)
        self.read_twice(a, chat)
        self.read_twice(b, chat)
        self.read_twice(a, chat, before_seq=3, limit=2)

        post_message(b, chat, "sent")
        got = self.contents(a, chat)
        self.assertEqual(got[-1], (4, "sent", False))
        self.assertEqual(self.contents(a, chat, before_seq=3, limit=2),
                         [(1, "m0", False), (2, "m1", False)])
        self.assert_redis_knows_version(a, chat)

        self.read_twice(b, chat)
        r = a.req("PATCH", "/chats/%d/messages/2" % chat, {"content": "edited"})
        self.assertStatus(r, 200)
        self.assertEqual(self.contents(b, chat)[1], (2, "edited", False))
        self.assertEqual(self.contents(a, chat, before_seq=3, limit=2)[1], (2, "edited", False))

        self.read_twice(b, chat)
        r = a.req("DELETE", "/chats/%d/messages/1" % chat)
        self.assertStatus(r, 204)
        self.assertTrue(self.contents(b, chat)[0][2], "a deleted message still shows undeleted")
        self.assert_redis_knows_version(a, chat)

        # a new member reads at once, and reads what the others read
        c = register("hcc")
        self.assertError(history(c, chat), 404, "not_found")
        self.read_twice(a, chat)
        r = a.req("POST", "/chats/%d/members" % chat, {"user_ids": [c.id]})
        self.assertStatus(r, 200)
        self.assertEqual(self.contents(c, chat), self.contents(a, chat))
        self.assert_redis_knows_version(a, chat)

        # a title change moves the version on, and pages stay right
        before = self.read_twice(c, chat)
        r = a.req("PATCH", "/chats/%d" % chat, {"title": "renamed"})
        self.assertStatus(r, 200)
        self.assert_redis_knows_version(a, chat)
        self.assertEqual(self.contents(c, chat), before)
        post_message(c, chat, "after rename")
        self.assertEqual(self.contents(a, chat)[-1][1], "after rename")

    def test_removed_member_gets_404_though_the_page_is_cached(self):
        a, b = register("hra"), register("hrb")
        chat = create_group(a, [b], title="rm")["id"]
        post_message(a, chat, "hello")
        self.read_twice(b, chat)
        self.read_twice(a, chat)
        r = a.req("DELETE", "/chats/%d/members/%d" % (chat, b.id))
        self.assertStatus(r, 204)
        self.assertError(history(b, chat), 404, "not_found")
        self.assertError(history(b, chat), 404, "not_found")
        self.assertEqual(self.contents(a, chat), [(1, "hello", False)])
        # leaving on one's own, too
        c = register("hrc")
        a.req("POST", "/chats/%d/members" % chat, {"user_ids": [c.id]})
        self.read_twice(c, chat)
        self.assertStatus(c.req("DELETE", "/chats/%d/members/%d" % (chat, c.id)), 204)
        self.assertError(history(c, chat), 404, "not_found")

    def test_non_member_never_gets_a_cached_page(self):
        a, b, x = register("hna"), register("hnb"), register("hnx")
        chat = create_group(a, [b], title="private")["id"]
        post_message(a, chat, "secret")
        for params in ({}, {"limit": 10}, {"before_seq": 2}, {"after_seq": 0}, {"around_seq": 1}):
            self.read_twice(a, chat, **params)
            self.read_twice(b, chat, **params)
            for _ in range(3):
                self.assertError(history(x, chat, **params), 404, "not_found")
        # nor through an API token of the outsider
        tok = api_token(x, ["messages:read"])["token"]
        self.assertError(request("GET", "/chats/%d/messages" % chat, token=tok), 404, "not_found")

    def cached_token(self, token):
        """Use an access token twice: its check may now come from the cache."""
        for _ in range(2):
            self.assertStatus(request("GET", "/users/me", token=token), 200)

    def test_logout_refuses_the_cached_token_at_once(self):
        u = register("hlo")
        self.cached_token(u.token)
        self.assertStatus(request("POST", "/auth/logout", {"refresh_token": u.refresh}), 204)
        self.assertError(request("GET", "/users/me", token=u.token), 401, "unauthorized")

    def test_logout_all_refuses_every_cached_token_at_once(self):
        u = register("hla")
        other = login(u)
        self.cached_token(u.token)
        self.cached_token(other["access_token"])
        self.assertStatus(u.req("POST", "/auth/logout-all"), 204)
        self.assertError(request("GET", "/users/me", token=u.token), 401, "unauthorized")
        self.assertError(request("GET", "/users/me", token=other["access_token"]), 401,
                         "unauthorized")

    def test_password_change_refuses_cached_tokens_at_once(self):
        u = register("hpw")
        other = login(u)
        self.cached_token(u.token)
        self.cached_token(other["access_token"])
        r = u.req("POST", "/auth/password", {"current_password": u.password,
                                             "new_password": "another long password 42"})
        self.assertStatus(r, 200)
        self.assertError(request("GET", "/users/me", token=u.token), 401, "unauthorized")
        self.assertError(request("GET", "/users/me", token=other["access_token"]), 401,
                         "unauthorized")
        self.assertStatus(request("GET", "/users/me", token=r.json["access_token"]), 200)

    def test_session_delete_refuses_its_cached_token_at_once(self):
        u = register("hsd")
        other = login(u)
        self.cached_token(u.token)
        self.cached_token(other["access_token"])
        sessions = request("GET", "/auth/sessions", token=u.token).json["sessions"]
        mine = [s["id"] for s in sessions if s["current"]][0]
        r = request("DELETE", "/auth/sessions/%d" % mine, token=other["access_token"])
        self.assertStatus(r, 204)
        self.assertError(request("GET", "/users/me", token=u.token), 401, "unauthorized")
        self.assertStatus(request("GET", "/users/me", token=other["access_token"]), 200)

    def test_refresh_reuse_refuses_the_cached_token_at_once(self):
        u = register("hrr")
        r = request("POST", "/auth/refresh", {"refresh_token": u.refresh})
        self.assertStatus(r, 200)
        self.cached_token(r.json["access_token"])
        time.sleep(1.2)  # past the grace (CHAT_REFRESH_GRACE=1 in the suite)
        # the spent refresh token again: the whole session is revoked
        self.assertError(request("POST", "/auth/refresh", {"refresh_token": u.refresh}), 401)
        self.assertError(request("GET", "/users/me", token=r.json["access_token"]), 401,
                         "unauthorized")

    def test_unpublished_change_shows_within_the_max_age(self):
        a, b = register("hua"), register("hub")
        chat = create_group(a, [b], title="lost publish")["id"]
        post_message(a, chat, "published")
        self.read_twice(b, chat)
        # committed without PUBLISH, as when chat-api dies between the two
        self.assertEqual(psql("SELECT status FROM message_post(%d, %d, 'silent', NULL, NULL)"
                              % (chat, a.id)), "created")
        deadline = time.monotonic() + STALE_MAX_S
        while self.contents(b, chat)[-1][1] != "silent":
            self.assertLess(time.monotonic(), deadline,
                            "an unpublished message is not in the history after %.1f s"
                            % STALE_MAX_S)
            time.sleep(0.1)
        # and once read, Redis knows the version, so the cache serves again
        self.assert_redis_knows_version(a, chat)

    def test_redis_restart_and_outage(self):
        if not chat_home_path():
            self.skipTest("needs CHAT_HOME to restart Redis")
        tf = fault_helpers()
        a, b = register("hxa"), register("hxb")
        chat = create_group(a, [b], title="restart")["id"]
        post_message(a, chat, "before")
        self.read_twice(a, chat)
        self.read_twice(b, chat)
        self.cached_token(b.token)

        # Redis down: nothing is cached or trusted, every answer still right
        pid = tf.svc_pid("redis")
        self.assertIsNotNone(pid, "Redis has no live PID in $CHAT_HOME/run")
        os.kill(pid, signal.SIGKILL)  # the stack's own Redis, by its recorded PID
        deadline = time.monotonic() + 10
        while tf.svc_pid("redis") == pid:
            self.assertLess(time.monotonic(), deadline, "Redis did not die")
            time.sleep(0.05)
        try:
            post_message(a, chat, "while down")
            self.assertEqual(self.contents(b, chat)[-1][1], "while down")
            self.assertEqual(self.contents(a, chat)[-1][1], "while down")
            r = a.req("DELETE", "/chats/%d/members/%d" % (chat, b.id))
            self.assertStatus(r, 204)
            self.assertError(history(b, chat), 404, "not_found")
        finally:
            r = tf.chatctl("start")
            self.assertEqual(r.returncode, 0, "chatctl start: " + r.stderr[-800:])
        deadline = time.monotonic() + 10
        while redis("PING") != "PONG":
            self.assertLess(time.monotonic(), deadline, "Redis did not come back")
            time.sleep(0.05)

        # restarted empty: pages right, changes show, removals and revocations hold
        self.assertEqual(redis("GET", "{chat:%d}:cv" % chat), "")
        self.assertEqual(self.read_twice(a, chat)[-1][1], "while down")
        self.assertError(history(b, chat), 404, "not_found")
        self.assertStatus(a.req("POST", "/chats/%d/members" % chat, {"user_ids": [b.id]}), 200)
        self.assertEqual(self.read_twice(b, chat)[-1][1], "while down")
        post_message(a, chat, "after restart")
        self.assertEqual(self.contents(b, chat)[-1][1], "after restart")
        self.assertStatus(a.req("DELETE", "/chats/%d/members/%d" % (chat, b.id)), 204)
        self.assertError(history(b, chat), 404, "not_found")
        self.cached_token(a.token)
        self.assertStatus(request("POST", "/auth/logout", {"refresh_token": a.refresh}), 204)
        self.assertError(request("GET", "/users/me", token=a.token), 401, "unauthorized")


if __name__ == "__main__":
    main()
