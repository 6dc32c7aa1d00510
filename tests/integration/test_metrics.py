#!/usr/bin/python3
"""GET /metrics of chat-api, chat-push and chat-notify (docs/OPERATIONS.md).

Each service is its own Prometheus target on a loopback port: chat-api on
metrics_port (P+7), chat-push on push_port (P+1), chat-notify on notify_port
(P+4). Checked here: the Content-Type of text format 0.0.4; every exposition
passes `promtool check metrics` (Debian's prometheus package); counters move
when the test acts (a request, a message to an open SSE stream); /metrics is
not reachable through nginx; and a real Prometheus on a free loopback port
scrapes all three (up == 1) and answers a query for a counter this test
moved.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import json

from chatlib import (ApiTestCase, CHAT_URL, PORT, create_direct, main, open_stream,
                     post_message, register, request)

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TARGETS = {  # service -> its metrics port, as chatctl derives them
    "chat-api": int(os.environ.get("CHAT_METRICS_PORT") or PORT + 7),
    "chat-push": int(os.environ.get("CHAT_PUSH_PORT") or PORT + 1),
    "chat-notify": int(os.environ.get("CHAT_NOTIFY_PORT") or PORT + 4),
}
ME = "/api/v1/users/me"

LINE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def fetch(port, path="/metrics", headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode(errors="replace")


def scrape(service):
    status, ctype, text = fetch(TARGETS[service])
    if status != 200:
        raise AssertionError("%s /metrics: %s %s" % (service, status, text[:200]))
    return text


def parse(text):
    """{(name, ((label, value), ...)): float} of the sample lines."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE_RE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = tuple(sorted((k, v.encode().decode("unicode_escape"))
                              for k, v in LABEL_RE.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, every=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(every)


class Exposition(ApiTestCase):
    def test_every_service_passes_promtool(self):
        for service in TARGETS:
            status, ctype, text = fetch(TARGETS[service])
            self.assertEqual(status, 200, service)
            self.assertEqual(ctype, CONTENT_TYPE, service)
            out = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, "%s: promtool says:\n%s%s\n--- exposition:\n%s"
                             % (service, out.stdout, out.stderr, text[:3000]))
            self.assertIn("# TYPE", text, service)

    def test_contract_names_are_there(self):
        want = {
            "chat-api": ["chat_api_requests_total", "chat_api_request_duration_seconds",
                         "chat_api_db_reconnects_total", "chat_api_redis_reconnects_total",
                         "chat_api_argon2_in_flight", "chat_api_argon2_waiting",
                         "chat_api_argon2_rejected_total"],
            "chat-push": ["chat_push_streams", "chat_push_events_fanned_out_total",
                          "chat_push_delivery_latency_seconds", "chat_push_redis_reconnects_total",
                          "chat_push_db_reconnects_total", "chat_push_backfills_total",
                          "chat_push_resyncs_total"],
            "chat-notify": ["chat_notify_queue_depth", "chat_notify_oldest_pending_seconds",
                            "chat_notify_inflight", "chat_notify_deliveries_total",
                            "chat_notify_request_duration_seconds",
                            "chat_notify_db_reconnects_total"],
        }
        for service, names in want.items():
            text = scrape(service)
            for name in names:
                self.assertIn("# TYPE %s " % name, text, "%s lacks %s" % (service, name))
        self.assertNotIn("chat_notify_request_seconds", scrape("chat-notify"))
        push = parse(scrape("chat-push"))
        for t in ("sse", "poll", "ws"):
            self.assertIn(("chat_push_streams", (("transport", t),)), push)
            self.assertIn(("chat_push_events_fanned_out_total", (("transport", t),)), push)
        notify = parse(scrape("chat-notify"))
        for k in ("webhook", "push"):
            self.assertIn(("chat_notify_queue_depth", (("kind", k),)), notify)

    def test_healthz_on_the_api_metrics_port(self):
        status, _, body = fetch(TARGETS["chat-api"], "/healthz")
        self.assertEqual((status, body), (200, "ok\n"))


class Counters(ApiTestCase):
    def test_requests_move_by_route_method_and_status(self):
        u = register("met")
        before = parse(scrape("chat-api"))
        for _ in range(3):
            self.assertStatus(u.req("GET", "/users/me"), 200)
        self.assertStatus(request("GET", "/no/such/endpoint"), 404)
        self.assertStatus(u.req("GET", "/chats/999999999"), 404)
        after = parse(scrape("chat-api"))
        key = dict(route=ME, method="GET", status="200")
        self.assertEqual(value(after, "chat_api_requests_total", **key)
                         - value(before, "chat_api_requests_total", **key), 3)
        self.assertEqual(value(after, "chat_api_request_duration_seconds_count", route=ME)
                         - value(before, "chat_api_request_duration_seconds_count", route=ME), 3)
        self.assertGreater(value(after, "chat_api_request_duration_seconds_sum", route=ME),
                           value(before, "chat_api_request_duration_seconds_sum", route=ME))
        key = dict(route="unmatched", method="GET", status="404")
        self.assertEqual(value(after, "chat_api_requests_total", **key)
                         - value(before, "chat_api_requests_total", **key), 1)
        key = dict(route="/api/v1/chats/{chat_id}", method="GET", status="404")
        self.assertEqual(value(after, "chat_api_requests_total", **key)
                         - value(before, "chat_api_requests_total", **key), 1)
        self.assertEqual(value(after, "chat_api_argon2_in_flight"), 0)

    def test_a_message_to_an_open_sse_stream(self):
        a, b = register("mpa"), register("mpb")
        chat = create_direct(a, b)
        s0 = parse(scrape("chat-push"))
        stream = open_stream(b)
        try:
            _, ev = stream.wait_for(lambda e: e.type == "resync", timeout=10)
            self.assertIsNotNone(ev, "no resync on the new stream")
            mid = parse(scrape("chat-push"))
            self.assertEqual(value(mid, "chat_push_streams", transport="sse")
                             - value(s0, "chat_push_streams", transport="sse"), 1)
            post_message(a, chat["id"], "counted")
            _, ev = stream.wait_for(lambda e: e.type == "message.created", timeout=10)
            self.assertIsNotNone(ev, "the message did not arrive")
            after = parse(scrape("chat-push"))
            self.assertGreaterEqual(value(after, "chat_push_events_fanned_out_total",
                                          transport="sse")
                                    - value(mid, "chat_push_events_fanned_out_total",
                                            transport="sse"), 1)
            n = "chat_push_delivery_latency_seconds_count"
            self.assertGreaterEqual(value(after, n) - value(mid, n), 1)
            self.assertEqual(value(after, "chat_push_delivery_latency_seconds_bucket", le="+Inf"),
                             value(after, n))
            # well under 10 s: the bucket below +Inf counts it
            self.assertGreaterEqual(value(after, "chat_push_delivery_latency_seconds_bucket",
                                          le="10") - value(mid, "chat_push_delivery_latency_"
                                                           "seconds_bucket", le="10"), 1)
        finally:
            stream.close()
        self.assertTrue(wait_until(lambda: value(parse(scrape("chat-push")), "chat_push_streams",
                                                 transport="sse")
                                   == value(s0, "chat_push_streams", transport="sse")),
                        "chat_push_streams{transport=sse} did not go down after the close")


class NotPublic(ApiTestCase):
    def test_not_through_nginx(self):
        for path in ("/api/v1/metrics", "/api/metrics"):
            r = request("GET", path, api=False)
            self.assertError(r, 404, "not_found", path)
            self.assertNotIn(b"# TYPE", r.raw or b"", path)
        # Not an API path (its answer is nginx's own page): not recorded for
        # the OpenAPI check, so plain urllib.
        status, _, text = fetch(PORT, "/metrics")
        self.assertEqual(status, 404)
        self.assertNotIn("# TYPE", text)

    def test_push_refuses_a_forwarded_request(self):
        # What nginx would send if a location ever proxied /metrics there.
        status, _, text = fetch(TARGETS["chat-push"], headers={"X-Forwarded-For": "203.0.113.9"})
        self.assertEqual(status, 404)
        self.assertNotIn("# TYPE", text)
        self.assertEqual(fetch(TARGETS["chat-push"], "/api/v1/metrics")[0], 404)


class RealPrometheus(ApiTestCase):
    """/usr/bin/prometheus on a free loopback port scrapes all three."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="chat-prom.")
        self.port = free_port()
        jobs = "".join(
            "  - job_name: %s\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
            % (service, port) for service, port in TARGETS.items())
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n" + jobs)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + conf, "--storage.tsdb.path=" + self.dir + "/data",
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)

    def tearDown(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                j = json.load(r)
        except (OSError, ValueError):
            return None
        if j.get("status") != "success":
            return None
        return j["data"]["result"]

    def log_tail(self):
        self.log.seek(0)
        return self.log.read()[-3000:]

    def test_scrapes_all_three_and_answers_for_a_moved_counter(self):
        def all_up():
            r = self.query("up")
            return r and {x["metric"]["job"]: x["value"][1] for x in r} == \
                {s: "1" for s in TARGETS}
        self.assertTrue(wait_until(all_up, timeout=30, every=0.5),
                        "not every target is up: %r\n%s" % (self.query("up"), self.log_tail()))
        u = register("prom")
        series = 'chat_api_requests_total{route="%s",method="GET",status="200"}' % ME

        def current():
            r = self.query(series)
            return float(r[0]["value"][1]) if r else None
        self.assertStatus(u.req("GET", "/users/me"), 200)  # the series exists from here on
        v0 = wait_until(current, timeout=15)
        self.assertIsNotNone(v0, "Prometheus has no %s:\n%s" % (series, self.log_tail()))
        time.sleep(1.5)  # one more scrape at v0, so increase() sees the step
        n = 5
        for _ in range(n):
            self.assertStatus(u.req("GET", "/users/me"), 200)
        self.assertTrue(wait_until(lambda: (current() or 0) >= v0 + n, timeout=15),
                        "Prometheus never saw +%d on %s (now %r)" % (n, series, current()))

        def increase():
            r = self.query("increase(%s[1m])" % series)
            return r and float(r[0]["value"][1]) >= n - 0.5
        self.assertTrue(wait_until(increase, timeout=10),
                        "increase() of %s: %r" % (series, self.query("increase(%s[1m])" % series)))


if __name__ == "__main__":
    main()
