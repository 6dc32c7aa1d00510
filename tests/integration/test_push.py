"""Push for offline users (API.md "Outgoing webhooks and push"), against a
real gateway: the loopback receiver of test_webhooks.py standing in for a
Matrix push gateway (/_matrix/push/v1/notify). The stack must allow
loopback gateways (CHAT_PUSH_GATEWAYS=http://127.0.0.1, as tests/run.sh
sets). A user is online while Redis holds presence:{user_id} (chat-push
keeps it while a stream is open); the test sets that key itself.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, create_group, main, post_message, rand_suffix, redis_cli,  # noqa: E402
                     register)
from test_webhooks import Receiver  # noqa: E402

PORT = int(os.environ.get("CHAT_PORT") or os.environ.get("CHAT_URL", ":8080").rsplit(":", 1)[1])
COALESCE_S = int(os.environ.get("CHAT_PUSH_COALESCE_MS", "1000")) / 1000


def redis(*args):
    return redis_cli(*args)


def subscribe(user, gateway, pushkey=None, **extra):
    body = {"app_id": "chat.test.ios", "pushkey": pushkey or "pk-" + rand_suffix(),
            "gateway_url": gateway}
    body.update(extra)
    return user.req("POST", "/push/subscriptions", body)


class PushTest(ApiTestCase):
    def setUp(self):
        self.gw = Receiver()
        self.gw_url = self.gw.url + "/_matrix/push/v1/notify"

    def tearDown(self):
        self.gw.close()

    def test_offline_member_gets_one_coalesced_push_online_member_none(self):
        a, off, on = register("pa"), register("pb"), register("pc")
        g = create_group(a, [off, on], title="push me")
        r = subscribe(off, self.gw_url)
        self.assertStatus(r, 201)
        off_key = r.json["pushkey"]
        for k in ("id", "app_id", "pushkey", "gateway_url", "format", "created_at"):
            self.assertIn(k, r.json)
        on_key = subscribe(on, self.gw_url).json["pushkey"]
        # the sender's own device gets nothing for its own messages
        a_key = subscribe(a, self.gw_url).json["pushkey"]
        redis("SET", "{user:%d}:presence" % on.id, "1", "EX", "60")
        try:
            last = None
            for i in range(8):
                last = post_message(a, g["id"], "burst %d" % i).json
            hits = self.gw.wait(lambda h: True, timeout=10)
            time.sleep(COALESCE_S + 1.5)
            hits = self.gw.snapshot()
        finally:
            redis("DEL", "{user:%d}:presence" % on.id)
        keys = [h.json["notification"]["devices"][0]["pushkey"] for h in hits]
        self.assertEqual(keys, [off_key], "one push for the offline member only: %r" % hits)
        self.assertNotIn(on_key, keys)
        self.assertNotIn(a_key, keys)
        h = hits[0]
        self.assertEqual(h.path, "/_matrix/push/v1/notify")
        n = h.json["notification"]
        self.assertEqual(n["room_id"], str(g["id"]))
        self.assertEqual(n["event_id"], "%d:%d" % (g["id"], last["version"]))
        self.assertEqual(n["sender"], str(a.id))
        self.assertEqual(n["type"], "message.created")
        self.assertEqual(n["counts"]["unread"], 8)
        self.assertEqual(n["devices"][0]["app_id"], "chat.test.ios")

        # once online is gone, the next message pushes to that member too
        post_message(a, g["id"], "later")
        hits = self.gw.wait(lambda h: True, count=3, timeout=10)
        keys = sorted(x.json["notification"]["devices"][0]["pushkey"] for x in hits)
        self.assertEqual(keys, sorted([off_key, off_key, on_key]), hits)

    def test_rejected_pushkey_is_deleted_and_read_chat_not_pushed(self):
        a, b = register("pa"), register("pb")
        g = create_group(a, [b], title="reject")
        key = "pk-" + rand_suffix()
        self.gw.answer = lambda hit: (200, json.dumps({"rejected": [key]}).encode())
        r = subscribe(b, self.gw_url, pushkey=key, format="event_id_only")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["format"], "event_id_only")
        post_message(a, g["id"], "secret content")
        hits = self.gw.wait(lambda h: True, timeout=10)
        self.assertEqual(len(hits), 1)
        n = hits[0].json["notification"]
        self.assertNotIn("sender", n, "event_id_only carries ids and counts only")
        self.assertNotIn("secret content", hits[0].body.decode())
        deadline = time.time() + 5
        while time.time() < deadline:
            subs = b.req("GET", "/push/subscriptions").json["subscriptions"]
            if not subs:
                break
            time.sleep(0.2)
        self.assertEqual(subs, [], "a rejected pushkey is deleted")

        # a message the user read before the push was due is not pushed
        self.gw.answer = lambda hit: (200, b"{}")
        self.assertStatus(subscribe(b, self.gw_url, pushkey=key), 201)
        m = post_message(a, g["id"], "read at once").json
        self.assertStatus(b.req("POST", "/chats/%d/read" % g["id"], {"seq": m["seq"]}), 200)
        time.sleep(COALESCE_S + 1.5)
        self.assertEqual(len(self.gw.snapshot()), 1)

    def test_failing_gateway_is_retried(self):
        a, b = register("pa"), register("pb")
        g = create_group(a, [b], title="retry push")
        fails = [0]

        def answer(hit):
            if fails[0] < 1:
                fails[0] += 1
                return 503, b"{}"
            return 200, b'{"rejected": []}'

        self.gw.answer = answer
        self.assertStatus(subscribe(b, self.gw_url), 201)
        m = post_message(a, g["id"], "once more").json
        hits = self.gw.wait(lambda h: True, count=2, timeout=15)
        self.assertEqual([h.status for h in hits], [503, 200], hits)
        ids = {h.json["notification"]["event_id"] for h in hits}
        self.assertEqual(ids, {"%d:%d" % (g["id"], m["version"])})
        time.sleep(COALESCE_S + 1.0)
        self.assertEqual(len(self.gw.snapshot()), 2, "pushed again after it was taken")

    def test_subscriptions_crud_and_allow_list(self):
        a, b = register("pa"), register("pb")
        self.assertError(subscribe(a, "https://push.evil.example/_matrix/push/v1/notify"), 400,
                         "gateway_not_allowed")
        self.assertError(a.req("POST", "/push/subscriptions", {"app_id": "x"}), 400,
                         "invalid_request")
        r = subscribe(a, self.gw_url)
        self.assertStatus(r, 201)
        sid = r.json["id"]
        r = a.req("GET", "/push/subscriptions")
        self.assertStatus(r, 200)
        self.assertEqual([s["id"] for s in r.json["subscriptions"]], [sid])
        self.assertEqual(b.req("GET", "/push/subscriptions").json["subscriptions"], [])
        self.assertError(b.req("DELETE", "/push/subscriptions/%d" % sid), 404, "not_found")
        self.assertStatus(a.req("DELETE", "/push/subscriptions/%d" % sid), 204)
        self.assertEqual(a.req("GET", "/push/subscriptions").json["subscriptions"], [])


if __name__ == "__main__":
    main()
