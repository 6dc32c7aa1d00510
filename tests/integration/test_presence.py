#!/usr/bin/python3
"""Presence from chat-push (API.md "Users" presence, `presence` events;
docs/DESIGN.md "Presence").

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_presence.py

A user is online while one of their streams is open: presence:{id} exists
in Redis, GET /users/{id} says online, and their chats get a presence
event. After the last stream closes and the 10 s debounce, the key is
gone, last_seen_at is set and an offline event goes out.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import ApiTestCase, register, create_direct, open_stream, main, redis_cli  # noqa: E402


def key_exists(user_id):
    out = redis_cli("EXISTS", "{user:%d}:presence" % user_id, check=False)
    return out == "1"


def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def presence_pred(user_id, status):
    return lambda e: (e.type == "presence" and isinstance(e.data, dict)
                      and e.data.get("user_id") == user_id and e.data.get("status") == status)


class PresenceTest(ApiTestCase):
    def test_online_while_streaming_offline_after_debounce(self):
        a, b = register("pra"), register("prb")
        create_direct(a, b)
        sa = open_stream(a)
        try:
            sa.wait_for(lambda e: e.type == "resync", timeout=10)
            self.assertFalse(key_exists(b.id))
            sb = open_stream(b)
            sb.wait_for(lambda e: e.type == "resync", timeout=10)
            self.assertTrue(wait_until(lambda: key_exists(b.id), 3), "presence key not set")
            r = a.req("GET", "/users/%d" % b.id)
            self.assertEqual(r.json["presence"]["status"], "online", r.describe())
            _, ev = sa.wait_for(presence_pred(b.id, "online"), timeout=5)
            self.assertIsNotNone(ev, sa.dump())
            # a reconnect within the debounce is not a flap
            sb.close()
            time.sleep(2)
            sb = open_stream(b)
            sb.wait_for(lambda e: e.type == "resync", timeout=10)
            time.sleep(10)
            self.assertTrue(key_exists(b.id), "a quick reconnect flapped presence")
            self.assertIsNone(sa.wait_for(presence_pred(b.id, "offline"), timeout=0.1)[1])
            sb.close()
            t0 = time.monotonic()
            # an SSE client that leaves is seen at the next heartbeat (15 s), then
            # the 10 s debounce
            self.assertTrue(wait_until(lambda: not key_exists(b.id), 32), "presence key kept")
            self.assertGreaterEqual(time.monotonic() - t0, 8, "offline before the debounce")
            _, ev = sa.wait_for(presence_pred(b.id, "offline"), timeout=5)
            self.assertIsNotNone(ev, sa.dump())
            self.assertIsNotNone(ev.data["last_seen_at"])
            r = a.req("GET", "/users/%d" % b.id)
            self.assertEqual(r.json["presence"]["status"], "offline", r.describe())
            self.assertTime(r.json["presence"]["last_seen_at"], "last_seen_at")
        finally:
            sa.close()


if __name__ == "__main__":
    main()
