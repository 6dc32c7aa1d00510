#!/usr/bin/python3
"""HTTPS from nginx (README "TLS"): a stack of its own, started by chatctl on
fresh ports with CHAT_TLS_CERT and CHAT_TLS_KEY, a self-signed certificate
made by openssl (for 127.0.0.1 and localhost) in a mode-0700 directory that
the services' user may not reach (chatctl copies it into $CHAT_HOME/secrets).

Over HTTPS, checked against that certificate: register and log in,
Strict-Transport-Security on API answers, static files and nginx's own
errors, TLS 1.2 and 1.3 accepted and 1.1 refused; plain HTTP on the port is
redirected to https://; an SSE stream, a WebSocket (wss://, Origin
https://127.0.0.1:<port>, which chat-push allows only with TLS on; the http://
Origin is refused then) and a long-poll each deliver a message; the key
copy is 0600 and the service user's. The suite's own (plain) stack sends no
HSTS: tests/integration/test_nginx_front.py.

Run: tests/run.sh with ONLY='test_tls*' (needs CHAT_BIN, the binaries).
"""
import asyncio
import json
import os
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatlib  # noqa: E402
from chatlib import ApiTestCase, create_direct, post_message, register, stream_ticket  # noqa: E402

import websockets  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHATCTL = os.path.join(ROOT, "chatctl")
# chatctl derives these from CHAT_PORT; the suite's stack exported its own.
DERIVED = ("CHAT_PUSH_PORT", "CHAT_PG_PORT", "CHAT_REDIS_PORT", "CHAT_REDIS_SOCKET",
           "CHAT_NOTIFY_PORT", "CHAT_PUSH_WS_PORT", "CHAT_PUSH_POLL_PORT", "CHAT_DB_CONNINFO",
           "CHAT_URL", "CHAT_REDIS_PASSWORD_FILE", "CHAT_TLS", "CHAT_RECORD")


def pick_port():
    out = subprocess.run(["bash", "-c", '. "$1/scripts/ports.sh" && pick_ports 20000 31999 7',
                          "-", ROOT], stdout=subprocess.PIPE, check=True)
    return int(out.stdout)


class TlsStackTest(ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="chat-tls-pem.")  # mode 0700
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        cls.key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", cls.key, "-out", cls.cert],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        cls.home = tempfile.mkdtemp(prefix="chat-tls.")
        os.chmod(cls.home, 0o755)
        cls.port = pick_port()
        env = {k: v for k, v in os.environ.items() if k not in DERIVED}
        env.update(CHAT_HOME=cls.home, CHAT_PORT=str(cls.port), CHAT_TLS_CERT=cls.cert,
                   CHAT_TLS_KEY=cls.key)
        cls.env = env
        out = subprocess.run([CHATCTL, "start"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=180, check=False)
        cls.start_out = out.stdout.decode("utf-8", "replace")
        if out.returncode:
            cls.stop()
            raise AssertionError("chatctl start with TLS failed: " + cls.start_out[-3000:])
        cls.url = "https://127.0.0.1:%d" % cls.port
        cls.before = chatlib.point_at(cls.url, cls.cert)

    @classmethod
    def stop(cls):
        subprocess.run([CHATCTL, "stop"], env=cls.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120, check=False)
        shutil.rmtree(cls.home, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        chatlib.point_at(*cls.before)
        cls.stop()

    def test_start_prints_the_https_url(self):
        self.assertIn("running: https://127.0.0.1:%d/" % self.port, self.start_out)

    def test_key_copied_for_the_service_user_only(self):
        secrets = os.path.join(self.home, "secrets")
        key = os.stat(os.path.join(secrets, "tls.key"))
        self.assertEqual(stat.S_IMODE(key.st_mode), 0o600)
        self.assertEqual(key.st_uid, os.stat(secrets).st_uid, "the service user's")
        self.assertEqual(stat.S_IMODE(os.stat(secrets).st_mode), 0o700)
        with open(self.key, "rb") as a, open(os.path.join(secrets, "tls.key"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_api_over_https_with_hsts(self):
        u = register("tls")
        self.assertTrue(u.token)
        r = chatlib.request("POST", "/auth/login", {"username": u.username, "password": u.password})
        self.assertStatus(r, 200)
        self.assertIn("access_token", r.json)
        self.assertEqual(r.header("Strict-Transport-Security"), "max-age=31536000", r.describe())
        r = u.req("GET", "/users/me")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Strict-Transport-Security"), "max-age=31536000")
        for path in ("/", "/app.js", "/api/v1/chats/%00"):  # static files, nginx's own 400
            st, hdrs, body = self.unrecorded(path)
            self.assertEqual(st, 400 if "%00" in path else 200, path)
            self.assertEqual(hdrs.get("Strict-Transport-Security"), "max-age=31536000", path)
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_request")

    def unrecorded(self, path):
        """GET path over HTTPS, not recorded (CHAT_RECORD is for API answers
        with chat-api's headers): (status, headers, body)."""
        import http.client
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                        context=chatlib.SSL_CONTEXT)
        try:
            c.request("GET", path)
            resp = c.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            c.close()

    def handshake(self, version):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.minimum_version = ctx.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would refuse first
        import socket
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                return t.version()

    def test_protocols_tls12_and_up(self):
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_2), "TLSv1.2")
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_3), "TLSv1.3")
        with self.assertRaises((ssl.SSLError, OSError)):
            self.handshake(ssl.TLSVersion.TLSv1_1)

    def test_plain_http_redirected_to_https(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/api/v1/healthz")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 301)
            self.assertEqual(r.getheader("Location"),
                             "https://127.0.0.1:%d/api/v1/healthz" % self.port)
        finally:
            c.close()

    def test_sse_delivers_over_https(self):
        a, b = register("tlsa"), register("tlsb")
        cid = create_direct(a, b)["id"]
        s = chatlib.open_stream(a)
        try:
            self.assertEqual(s.status(), 200, s.dump())
            self.assertEqual(s.response_headers().get("strict-transport-security"),
                             "max-age=31536000")
            _, ev = s.wait_for(lambda e: e.type == "resync", timeout=10)
            self.assertIsNotNone(ev, s.dump())
            post_message(b, cid, "over sse and tls")
            _, ev = s.wait_for(lambda e: e.type == "message.created", timeout=10)
            self.assertIsNotNone(ev, s.dump())
            self.assertEqual(ev.data["message"]["content"], "over sse and tls")
        finally:
            s.close()

    def ws_url(self, user):
        return "wss://127.0.0.1:%d/api/v1/ws?ticket=%s" % (self.port, stream_ticket(user))

    def test_wss_delivers_with_the_https_origin(self):
        a, b = register("tlswa"), register("tlswb")
        cid = create_direct(a, b)["id"]

        async def recv(ws, pred):
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if "event" in f and pred(f["event"]):
                    return f["event"]

        async def go():
            async with websockets.connect(self.ws_url(a), ssl=chatlib.SSL_CONTEXT,
                                          origin="https://127.0.0.1:%d" % self.port) as ws:
                await recv(ws, lambda e: e["type"] == "resync")
                post_message(b, cid, "over wss")
                ev = await recv(ws, lambda e: e["type"] == "message.created")
                self.assertEqual(ev["message"]["content"], "over wss")
            async with websockets.connect(self.ws_url(a), ssl=chatlib.SSL_CONTEXT,
                                          origin="https://localhost:%d" % self.port) as ws:
                await recv(ws, lambda e: e["type"] == "resync")
            # with TLS on, the page is never http:// on this port
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with websockets.connect(self.ws_url(a), ssl=chatlib.SSL_CONTEXT,
                                              origin="http://127.0.0.1:%d" % self.port):
                    pass
            self.assertEqual(cm.exception.status_code, 403)
        asyncio.run(go())

    def poll(self, **q):
        r = chatlib.request("GET", "/poll?" + urllib.parse.urlencode(q), timeout=40)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Strict-Transport-Security"), "max-age=31536000")
        return r.json

    def test_long_poll_over_https(self):
        a, b = register("tlspa"), register("tlspb")
        cid = create_direct(a, b)["id"]
        first = self.poll(ticket=stream_ticket(a), timeout=20)
        self.assertEqual(first["events"][0]["type"], "resync", first)
        cursor = first["cursor"]
        post_message(b, cid, "over poll and tls")
        deadline = time.monotonic() + 15
        got = []
        while not got and time.monotonic() < deadline:
            data = self.poll(cursor=cursor, timeout=10)
            cursor = data["cursor"]
            got = [e for e in data["events"] if e["type"] == "message.created"]
        self.assertEqual([e["message"]["content"] for e in got], ["over poll and tls"])


if __name__ == "__main__":
    chatlib.main()
