#!/usr/bin/python3
"""No loss when Redis drops a PUBLISH (DESIGN.md "Continuity in chat-push",
2-4; docs/DESIGN.md "Anti-entropy replaces an outbox relay").

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=... /usr/bin/python3 tests/integration/test_backfill.py

A change written straight into PostgreSQL with `SELECT message_post(...)`
(through `chatctl psql`, so nothing is PUBLISHed: chat-api killed between
COMMIT and PUBLISH looks the same) must reach an online member's stream
within a few seconds, in version order, by chat-push's anti-entropy; and a
later PUBLISH that jumps over it must not be delivered out of order.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (psql, ApiTestCase, register, create_direct, create_group, post_message,  # noqa: E402
                     open_stream, main)

CATCH_UP = float(os.environ.get("CHAT_BACKFILL_MAX_S", "4"))


def post_silently(chat_id, sender_id, content):
    """message_post without PUBLISH: the lost-doorbell case."""
    return psql("SELECT status FROM message_post(%d, %d, '%s', NULL, NULL)"
                % (chat_id, sender_id, content.replace("'", "''")))


def msg_pred(chat_id, content):
    def pred(ev):
        return (ev.type == "message.created" and isinstance(ev.data, dict)
                and ev.data.get("chat_id") == chat_id
                and (ev.data.get("message") or {}).get("content") == content)
    return pred


class BackfillTest(ApiTestCase):
    def test_change_without_publish_reaches_online_member(self):
        a, b = register("bfa"), register("bfb")
        chat = create_direct(a, b)
        s = open_stream(b)
        try:
            s.wait_for(lambda e: e.type == "resync", timeout=10)
            post_message(a, chat["id"], "published")
            s.wait_for(msg_pred(chat["id"], "published"), timeout=5)
            t0 = time.monotonic()
            post_silently(chat["id"], a.id, "never published")
            _, ev = s.wait_for(msg_pred(chat["id"], "never published"), timeout=CATCH_UP + 5)
            self.assertIsNotNone(ev, "the unpublished change never arrived: %s" % s.dump())
            self.assertLess(ev.t - t0, CATCH_UP, "caught up too slowly")
            # and the next published message follows it in order
            post_message(a, chat["id"], "after")
            s.wait_for(msg_pred(chat["id"], "after"), timeout=5)
            vs = [e.data["version"] for e in s.snapshot()
                  if isinstance(e.data, dict) and e.data.get("chat_id") == chat["id"]
                  and "version" in e.data]
            self.assertEqual(vs, sorted(set(vs)), "versions out of order or repeated: %s" % vs)
            self.assertEqual(vs[-3:], [vs[-3], vs[-3] + 1, vs[-3] + 2], vs)
        finally:
            s.close()

    def test_gap_before_a_publish_is_filled_in_order(self):
        """A silent change followed at once by a published one: the published
        event is held until the gap is fetched, then both go out in order."""
        a, b, c = register("bga"), register("bgb"), register("bgc")
        chat = create_group(a, [b, c])
        s = open_stream(b)
        try:
            s.wait_for(lambda e: e.type == "resync", timeout=10)
            post_silently(chat["id"], a.id, "silent one")
            post_message(a, chat["id"], "loud two")
            s.wait_for(msg_pred(chat["id"], "loud two"), timeout=CATCH_UP + 5)
            got = [e.data["message"]["content"] for e in s.snapshot()
                   if e.type == "message.created"]
            self.assertEqual(got, ["silent one", "loud two"], s.dump())
        finally:
            s.close()

    def test_removed_member_stops_at_member_left_even_without_publish(self):
        a, b = register("bra"), register("brb")
        chat = create_group(a, [b])
        s = open_stream(b)
        try:
            s.wait_for(lambda e: e.type == "resync", timeout=10)
            r = a.req("DELETE", "/chats/%d/members/%d" % (chat["id"], b.id))
            self.assertIn(r.status, (200, 204), r.describe())
            s.wait_for(lambda e: e.type == "member.left", timeout=5)
            post_silently(chat["id"], a.id, "after b left")
            time.sleep(CATCH_UP)
            self.assertFalse([e for e in s.snapshot() if msg_pred(chat["id"], "after b left")(e)],
                             "a removed member got a later change: %s" % s.dump())
        finally:
            s.close()


if __name__ == "__main__":
    main()
