#!/usr/bin/python3
"""Typing and receipt events only in chats of at most max_ephemeral_fanout
members (API.md "Real-time events": larger chats refetch them; default 100).

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_ephemeral_fanout.py

In a group of 2 a member's stream gets the other's typing and receipt; in a
group of 102 (100 of its members are rows put in by psql: they only need to
exist) it gets neither, while the requests still succeed and messages still
arrive. Events of one chat travel in publish order on its channel, so the
message posted last bounds the wait: whatever typing or receipt was
published before it has arrived when it has.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, create_group, main, open_stream, post_message, psql,  # noqa: E402
                     rand_suffix, register)


class FakeMember:
    def __init__(self, uid):
        self.id = uid


def extra_members(n):
    """n users that exist only as rows (they never log in)."""
    tag = rand_suffix(8)
    out = psql("INSERT INTO users (username, display_name, password_hash) "
               "SELECT 'fan_%s_' || g, 'Fan ' || g, '!' FROM generate_series(1, %d) g "
               "RETURNING id" % (tag, n))
    return [FakeMember(int(x)) for x in out.split()]


class EphemeralFanoutTest(ApiTestCase):
    def run_chat(self, members_extra):
        a, b = register("efa"), register("efb")
        chat = create_group(a, [b] + members_extra, title="fanout")["id"]
        s = open_stream(b)
        self.addCleanup(s.close)
        _, ev = s.wait_for(lambda e: e.type == "resync", timeout=5)
        self.assertIsNotNone(ev, s.dump())
        post_message(b, chat, "first")
        r = a.req("POST", "/chats/%d/typing" % chat)
        self.assertEqual(r.status, 204, r.describe())
        r = a.req("POST", "/chats/%d/read" % chat, {"seq": 1})
        self.assertEqual(r.status, 200, r.describe())
        self.assertEqual(r.json["read_seq"], 1)
        post_message(a, chat, "last")
        i, ev = s.wait_for(lambda e: e.type == "message.created" and e.data["message"]["content"] == "last",
                           timeout=5)
        self.assertIsNotNone(ev, s.dump())
        seen = [e.type for e in s.snapshot()[:i] if isinstance(e.data, dict) and e.data.get("chat_id") == chat]
        return a, chat, seen

    def test_small_group_gets_typing_and_receipts(self):
        _, _, seen = self.run_chat([])
        self.assertIn("typing", seen)
        self.assertIn("receipt", seen)

    def test_group_over_the_limit_gets_neither(self):
        a, chat, seen = self.run_chat(extra_members(100))
        got = a.req("GET", "/chats/%d" % chat)
        self.assertEqual(got.status, 200, got.describe())
        self.assertEqual(got.json["members_count"], 102)
        self.assertNotIn("typing", seen)
        self.assertNotIn("receipt", seen)
        self.assertIn("message.created", seen)


if __name__ == "__main__":
    main()
