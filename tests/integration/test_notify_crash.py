"""chat-notify killed with SIGKILL in the middle of a burst of 1,000 events
and started again with ./chatctl start: every event reaches the webhook at
least once, in version order per chat, and any duplicate is a resend of
the same delivery id (API.md "Outgoing webhooks and push"; the outbox is
written in the change's transaction and claims die with their process).

Needs CHAT_HOME (the stack's data directory, for run/chat-notify.pid) and
the same environment the stack was started with, since the restart goes
through ./chatctl start.
"""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import ApiTestCase, chat_home_path, create_group, main, post_message, register  # noqa: E402
from test_webhooks import Receiver, create_webhook, delete_created_webhooks, verify_signature  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EVENTS = int(os.environ.get("CHAT_NOTIFY_CRASH_EVENTS", "1000"))
CHATS = 4
KILL_AFTER = EVENTS // 3


def notify_pid():
    with open(chat_home_path("run", "chat-notify.pid")) as f:
        return int(f.read().split()[0])


class NotifyCrashTest(ApiTestCase):
    def setUp(self):
        if not chat_home_path():
            self.skipTest("CHAT_HOME is not set")
        self.recv = Receiver()

    def tearDown(self):
        delete_created_webhooks()
        self.recv.close()

    def test_sigkill_during_burst_loses_nothing(self):
        a, b = register("ka"), register("kb")
        chats = [create_group(a, [b], title="crash %d" % i)["id"] for i in range(CHATS)]
        w = create_webhook(a, self.recv.url + "/crash", ["message.created"]).json
        posted = {c: [] for c in chats}  # chat -> versions in posting order
        count = [0]
        lock = threading.Lock()
        killed = threading.Event()
        errors = []

        def writer(chat, n):
            try:
                for i in range(n):
                    m = post_message(b, chat, "m %d" % i).json
                    with lock:
                        posted[chat].append(m["version"])
                        count[0] += 1
                        if count[0] == KILL_AFTER:
                            killed.set()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        per = EVENTS // CHATS
        threads = [threading.Thread(target=writer, args=(c, per)) for c in chats]
        for t in threads:
            t.start()
        self.assertTrue(killed.wait(60), "the burst did not get going")
        pid = notify_pid()
        os.kill(pid, 9)  # the chat-notify this stack runs, by its recorded PID
        seen_at_kill = len(self.recv.snapshot())
        time.sleep(0.3)
        r = subprocess.run([os.path.join(ROOT, "chatctl"), "start"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(notify_pid(), pid, "chatctl start did not start chat-notify again")
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        total = sum(len(v) for v in posted.values())
        self.assertEqual(total, per * CHATS)

        want = {(c, v) for c, vs in posted.items() for v in vs}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = {(h.json["chat_id"], h.json["version"]) for h in self.recv.snapshot()}
            if want <= got:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # let stragglers (resends) land before counting
        hits = self.recv.snapshot()

        by_event = {}
        for h in hits:
            by_event.setdefault((h.json["chat_id"], h.json["version"]), []).append(h)
        lost = want - set(by_event)
        self.assertEqual(lost, set(), "%d events never arrived" % len(lost))
        self.assertEqual(set(by_event) - want, set(), "events nobody posted")
        dups = 0
        for ev, hs in by_event.items():
            ids = {h.delivery for h in hs}
            self.assertEqual(len(ids), 1, "a resend must keep its delivery id: %r" % hs)
            dups += len(hs) - 1
        delivery_ids = {hs[0].delivery for hs in by_event.values()}
        self.assertEqual(len(delivery_ids), len(by_event), "one delivery id per event")
        for c in chats:
            versions = [h.json["version"] for h in hits if h.json["chat_id"] == c]
            self.assertEqual(versions, sorted(versions),
                             "chat %d out of order: %r" % (c, versions[:50]))
        for h in hits[:20] + hits[-20:]:
            verify_signature(w["secret"], h)
        print("\n  events %d, deliveries (requests) %d, duplicates %d, lost %d; "
              "%d had arrived when chat-notify was killed" % (
                  len(want), len(hits), dups, len(lost), seen_at_kill))


if __name__ == "__main__":
    main()
