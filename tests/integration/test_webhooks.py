"""Outgoing webhooks (API.md "Outgoing webhooks and push"), against a real
receiver: a small http.server on loopback that records every request and
can be told to fail. The stack must allow loopback targets
(CHAT_NOTIFY_ALLOW_PRIVATE=1, as tests/run.sh sets) and a short first
retry delay (CHAT_NOTIFY_BACKOFF_MS, 400 in tests/run.sh).

The Receiver class is shared with test_push.py and test_notify_crash.py.
"""

import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, api_token, create_direct, create_group, main,  # noqa: E402
                     post_message, register, request)

BACKOFF_MS = int(os.environ.get("CHAT_NOTIFY_BACKOFF_MS", "400"))


class Hit:
    def __init__(self, t, path, headers, body):
        self.t = t
        self.path = path
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8"))
        except ValueError:
            self.json = None

    @property
    def delivery(self):
        return self.headers.get("X-Chat-Delivery")

    def __repr__(self):
        return "<%s %s %s>" % (self.path, self.delivery, self.body[:200])


class Receiver:
    """An HTTP server on 127.0.0.1 that records requests. answer(hit) picks
    (status, body) for each; by default 200 and {}."""

    def __init__(self):
        self.hits = []
        self.cond = threading.Condition()
        self.answer = lambda hit: (200, b"{}")
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # headers and body go out in two writes: without this, Nagle
                # and delayed ACKs add 40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                hit = Hit(time.monotonic(), self.path, dict(self.headers.items()), body)
                with recv.cond:
                    status, out = recv.answer(hit)
                    hit.status = status
                    recv.hits.append(hit)
                    recv.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # a sender killed mid-request (test_notify_crash) is expected
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, pred, count=1, timeout=20.0):
        """The hits matching pred once at least count of them arrived (or
        what there is after timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [h for h in self.hits if pred(h)]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self.cond.wait(left)

    def snapshot(self):
        with self.cond:
            return list(self.hits)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret, hit, tolerance=300):
    """Check X-Chat-Signature as an integrator would; returns the timestamp."""
    sig = hit.headers.get("X-Chat-Signature", "")
    parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
    t = parts.get("t", "")
    want = hmac.new(secret.encode(), t.encode() + b"." + hit.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, parts.get("v1", "")):
        raise AssertionError("bad signature %r on %r" % (sig, hit))
    if abs(time.time() - int(t)) > tolerance:
        raise AssertionError("signature timestamp %s too far from now" % t)
    return int(t)


_created = []


def create_webhook(user, url, events, chat_ids=None, token=None):
    body = {"url": url, "events": events}
    if chat_ids is not None:
        body["chat_ids"] = chat_ids
    r = request("POST", "/webhooks", body, token=token or user.token)
    if r.status == 201:
        _created.append((user, r.json["id"]))
    return r


def delete_created_webhooks():
    """Delete the webhooks a test made: their receivers are gone, and the
    stack would retry them for a day. CHAT_TEST_KEEP_WEBHOOKS=1 keeps them
    (and their delivery logs) for a look afterwards."""
    if os.environ.get("CHAT_TEST_KEEP_WEBHOOKS"):
        return
    while _created:
        user, wid = _created.pop()
        user.req("DELETE", "/webhooks/%d" % wid)


class WebhookTest(ApiTestCase):
    def setUp(self):
        self.recv = Receiver()

    def tearDown(self):
        delete_created_webhooks()
        self.recv.close()

    def test_signed_delivery_only_from_visible_chats(self):
        a, b, c = register("wa"), register("wb"), register("wc")
        ab = create_direct(a, b)
        bc = create_group(b, [c], title="not for a")
        r = create_webhook(a, self.recv.url + "/hook", ["message.created"])
        self.assertStatus(r, 201)
        w = r.json
        for k in ("id", "url", "events", "chat_ids", "secret", "created_at"):
            self.assertIn(k, w, r.describe())
        self.assertId(w["id"])
        self.assertTime(w["created_at"])
        self.assertEqual(w["events"], ["message.created"])
        self.assertIsNone(w["chat_ids"])
        self.assertTrue(w["secret"].startswith("whsec_"))

        post_message(b, bc["id"], "a must never see this")
        m = post_message(b, ab["id"], "hello a").json
        hits = self.recv.wait(lambda h: h.json and h.json.get("chat_id") == ab["id"])
        self.assertEqual(len(hits), 1, self.recv.snapshot())
        h = hits[0]
        self.assertEqual(h.path, "/hook")
        verify_signature(w["secret"], h)
        self.assertTrue(h.delivery and h.delivery.isdigit(), h.headers)
        self.assertEqual(h.json["type"], "message.created")
        self.assertEqual(h.json["version"], m["version"])
        self.assertEqual(h.json["message"]["content"], "hello a")
        self.assertTrue(h.headers.get("Content-Type", "").startswith("application/json"))
        # a later event from the hidden chat is not sent either
        post_message(c, bc["id"], "nor this")
        time.sleep(1.5)
        for hit in self.recv.snapshot():
            self.assertNotEqual(hit.json.get("chat_id"), bc["id"], "leaked: %r" % hit)

        # the delivery log shows the attempt with its status and latency
        r = a.req("GET", "/webhooks/%d/deliveries" % w["id"])
        self.assertStatus(r, 200)
        d = r.json["deliveries"][0]
        self.assertEqual(str(d["id"]), h.delivery)
        self.assertEqual(d["status"], "delivered")
        self.assertEqual(d["attempts"][0]["http_status"], 200)
        self.assertIsInstance(d["attempts"][0]["latency_ms"], int)
        # someone else cannot read it
        self.assertError(b.req("GET", "/webhooks/%d/deliveries" % w["id"]), 404, "not_found")

        # redeliver: the same delivery id again
        r = a.req("POST", "/webhooks/%d/deliveries/%d/redeliver" % (w["id"], d["id"]))
        self.assertStatus(r, 202)
        again = self.recv.wait(lambda x: x.delivery == h.delivery, count=2)
        self.assertEqual(len(again), 2)
        self.assertEqual(again[1].body, h.body)

    def test_types_filter_chat_ids_and_rotation(self):
        a, b = register("wa"), register("wb")
        g1 = create_group(a, [b], title="one")
        g2 = create_group(a, [b], title="two")
        r = create_webhook(a, self.recv.url + "/h2", ["message.updated", "chat.updated"],
                           chat_ids=[g1["id"]])
        self.assertStatus(r, 201)
        w = r.json
        self.assertEqual(sorted(w["events"]), ["chat.updated", "message.updated"])
        self.assertEqual(w["chat_ids"], [g1["id"]])
        m1 = post_message(b, g1["id"], "first").json
        post_message(b, g2["id"], "other chat")
        self.assertStatus(b.req("PATCH", "/chats/%d/messages/%d" % (g2["id"], 1),
                                {"content": "edited elsewhere"}), 200)
        self.assertStatus(b.req("PATCH", "/chats/%d/messages/%d" % (g1["id"], m1["seq"]),
                                {"content": "edited"}), 200)
        hits = self.recv.wait(lambda h: True)
        time.sleep(1.0)
        hits = self.recv.snapshot()
        self.assertEqual([h.json["type"] for h in hits], ["message.updated"], hits)
        self.assertEqual(hits[0].json["chat_id"], g1["id"])
        verify_signature(w["secret"], hits[0])

        # the list never shows the secret; rotation signs from then on
        r = a.req("GET", "/webhooks")
        self.assertStatus(r, 200)
        self.assertEqual([x["id"] for x in r.json["webhooks"]], [w["id"]])
        self.assertNotIn("secret", r.json["webhooks"][0])
        r = a.req("POST", "/webhooks/%d/rotate-secret" % w["id"])
        self.assertStatus(r, 200)
        new = r.json["secret"]
        self.assertNotEqual(new, w["secret"])
        self.assertStatus(a.req("PATCH", "/chats/%d" % g1["id"], {"title": "renamed"}), 200)
        hits = self.recv.wait(lambda h: h.json["type"] == "chat.updated")
        self.assertEqual(len(hits), 1)
        verify_signature(new, hits[0])
        self.assertRaises(AssertionError, verify_signature, w["secret"], hits[0])

        # delete: nothing more arrives
        self.assertStatus(a.req("DELETE", "/webhooks/%d" % w["id"]), 204)
        self.assertError(a.req("DELETE", "/webhooks/%d" % w["id"]), 404, "not_found")
        self.assertStatus(a.req("PATCH", "/chats/%d" % g1["id"], {"title": "again"}), 200)
        time.sleep(1.0)
        self.assertEqual(len(self.recv.snapshot()), 2)

    def test_validation_and_scope(self):
        a, b = register("wa"), register("wb")
        hidden = create_group(b, [], title="b alone")
        url = self.recv.url + "/v"
        self.assertError(create_webhook(a, url, []), 400, "invalid_request")
        self.assertError(create_webhook(a, url, ["message.exploded"]), 400, "invalid_request")
        self.assertError(create_webhook(a, url, ["typing"]), 400, "invalid_request")
        self.assertError(create_webhook(a, "ftp://example.com/x", ["message.created"]), 400,
                         "invalid_request")
        self.assertError(create_webhook(a, "http://user:pw@127.0.0.1:1/x", ["message.created"]),
                         400, "invalid_request")
        self.assertError(create_webhook(a, url, ["message.created"], chat_ids=[hidden["id"]]),
                         404, "not_found")
        self.assertError(create_webhook(a, url, ["message.created"], chat_ids=[1.5]), 400,
                         "invalid_request")
        # scopes: webhooks:write is needed
        weak = api_token(a, ["chats:read"])["token"]
        self.assertError(create_webhook(a, url, ["message.created"], token=weak), 403)
        strong = api_token(a, ["webhooks:write"])["token"]
        r = create_webhook(a, url, ["message.created"], token=strong)
        self.assertStatus(r, 201)
        # a secret answer is never replayed for an Idempotency-Key
        key = {"Idempotency-Key": "wh-" + str(time.time())}
        r1 = request("POST", "/webhooks", {"url": url, "events": ["member.joined"]},
                     token=a.token, headers=key)
        self.assertStatus(r1, 201)
        _created.append((a, r1.json["id"]))
        r2 = request("POST", "/webhooks", {"url": url, "events": ["member.joined"]},
                     token=a.token, headers=key)
        self.assertNotEqual(r2.status, 201, r2.describe())
        self.assertError(b.req("DELETE", "/webhooks/%d" % r.json["id"]), 404, "not_found")
        self.assertError(a.req("POST", "/webhooks/%d/deliveries/1/redeliver" % r.json["id"]), 404,
                         "not_found")

    def test_retries_with_growing_gaps_then_once(self):
        """500 three times, then 200: one delivery id throughout, gaps that
        grow, and the chat's next event only after the first is delivered."""
        a, b = register("wa"), register("wb")
        g = create_group(a, [b], title="retry")
        fails = [0]

        def answer(hit):
            if fails[0] < 3:
                fails[0] += 1
                return 500, b'{"error":"down"}'
            return 200, b"{}"

        self.recv.answer = answer
        w = create_webhook(a, self.recv.url + "/r", ["message.created"]).json
        m1 = post_message(b, g["id"], "one").json
        m2 = post_message(b, g["id"], "two").json
        hits = self.recv.wait(lambda h: True, count=5, timeout=30)
        self.assertEqual(len(hits), 5, hits)
        first = hits[:4]
        self.assertEqual({h.delivery for h in first}, {first[0].delivery}, first)
        self.assertEqual([h.status for h in first], [500, 500, 500, 200])
        self.assertTrue(all(h.json["version"] == m1["version"] for h in first), first)
        self.assertEqual(hits[4].json["version"], m2["version"])
        self.assertNotEqual(hits[4].delivery, first[0].delivery)
        for h in hits:
            verify_signature(w["secret"], h)
        gaps = [first[i + 1].t - first[i].t for i in range(3)]
        self.assertTrue(gaps[0] < gaps[1] < gaps[2], "gaps should grow: %r" % gaps)
        self.assertGreaterEqual(gaps[0], 0.7 * BACKOFF_MS / 1000, gaps)
        time.sleep(0.5)
        self.assertEqual(len(self.recv.snapshot()), 5, "delivered more than once")
        r = a.req("GET", "/webhooks/%d/deliveries" % w["id"])
        self.assertStatus(r, 200)
        ds = {d["version"]: d for d in r.json["deliveries"]}
        d1 = ds[m1["version"]]
        self.assertEqual(d1["status"], "delivered")
        self.assertEqual(d1["attempt_count"], 4)
        self.assertEqual([x["http_status"] for x in d1["attempts"]], [500, 500, 500, 200])
        print("\n  retry gaps (s): %s" % ", ".join("%.3f" % g_ for g_ in gaps))

    def test_client_error_is_not_retried(self):
        a, b = register("wa"), register("wb")
        g = create_group(a, [b], title="gone")
        self.recv.answer = lambda hit: (410, b"{}")
        w = create_webhook(a, self.recv.url + "/gone", ["message.created"]).json
        post_message(b, g["id"], "x")
        self.recv.wait(lambda h: True)
        time.sleep(2 * BACKOFF_MS / 1000 + 0.5)
        self.assertEqual(len(self.recv.snapshot()), 1)
        r = a.req("GET", "/webhooks/%d/deliveries" % w["id"])
        self.assertEqual(r.json["deliveries"][0]["status"], "failed")


if __name__ == "__main__":
    main()
