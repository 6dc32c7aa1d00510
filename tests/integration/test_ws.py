#!/usr/bin/python3
"""WebSocket transport through nginx (API.md "Real-time events", Transports:
WebSocket; close codes).

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_ws.py

Uses Debian's python3-websockets (10, asyncio API) for well-formed clients,
and raw frames written by hand over a socket (after a manual handshake) for
the protocol errors a library would never send.
"""

import asyncio
import json
import os
import socket
import struct
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, HOST, PORT, API_PREFIX, register, create_direct,  # noqa: E402
                     post_message, history, stream_ticket, main,
                     ws_frame as frame, ws_raw_connect as raw_connect)

import websockets  # noqa: E402

WS_URL = "ws://%s:%d%s/ws" % (HOST, PORT, API_PREFIX)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def recv_json(ws, timeout=5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout=5.0):
    """Frames until pred(frame); returns (the frame, every frame seen)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching frame; got %s" % seen)
        f = await recv_json(ws, left)
        seen.append(f)
        if pred(f):
            return f, seen


def is_event(t, chat_id=None):
    return lambda f: ("event" in f and f["event"].get("type") == t and
                      (chat_id is None or f["event"].get("chat_id") == chat_id))


def is_reply(op_id):
    return lambda f: f.get("op") in ("ack", "error") and f.get("id") == op_id


# ---- raw frames ----

def read_close_code(s, pending=b"", timeout=10):
    """Read server frames until a close frame: its status code (None if the
    connection ended without one)."""
    s.settimeout(timeout)
    buf = pending
    while True:
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n = b1 & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack("!H", buf[2:4])[0]
                off = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = struct.unpack("!Q", buf[2:10])[0]
                off = 10
            if len(buf) < off + n:
                break
            payload = buf[off:off + n]
            buf = buf[off + n:]
            if b0 & 0x0F == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None
        if not chunk:
            return None
        buf += chunk


class WsTest(ApiTestCase):
    def setUp(self):
        self.a = register("wsa")
        self.b = register("wsb")
        self.chat = create_direct(self.a, self.b)
        self.cid = self.chat["id"]

    def connect(self, user, cursor=None, **kw):
        url = WS_URL + "?ticket=" + stream_ticket(user)
        if cursor:
            url += "&cursor=" + cursor
        return websockets.connect(url, **kw)

    def test_resync_then_events_and_ops(self):
        async def go():
            async with self.connect(self.a) as wa, self.connect(self.b) as wb:
                first = await recv_json(wa)
                self.assertEqual(first["event"]["type"], "resync")
                self.assertIsInstance(first["cursor"], str)
                await recv_json(wb)
                # ping
                await wa.send(json.dumps({"op": "ping", "id": "p1"}))
                r, _ = await recv_until(wa, is_reply("p1"))
                self.assertEqual(r["op"], "ack")
                # send: ack with the message, the event on both streams
                cmid = str(uuid.uuid4())
                await wa.send(json.dumps({"op": "send", "id": 7, "chat_id": self.cid,
                                          "content": "over ws", "client_msg_id": cmid}))
                r, _ = await recv_until(wa, is_reply(7))
                self.assertEqual(r["op"], "ack", r)
                self.assertEqual(r["result"]["content"], "over ws")
                self.assertEqual(r["result"]["client_msg_id"], cmid)
                seq = r["result"]["seq"]
                ev, _ = await recv_until(wb, is_event("message.created", self.cid))
                self.assertEqual(ev["event"]["message"]["content"], "over ws")
                # the same client_msg_id again: the same message, no second one
                await wa.send(json.dumps({"op": "send", "id": 8, "chat_id": self.cid,
                                          "content": "over ws", "client_msg_id": cmid}))
                r, _ = await recv_until(wa, is_reply(8))
                self.assertEqual(r["result"]["seq"], seq)
                # typing reaches the other member
                await wa.send(json.dumps({"op": "typing", "id": "t", "chat_id": self.cid}))
                r, _ = await recv_until(wa, is_reply("t"))
                self.assertEqual(r["op"], "ack", r)
                ev, _ = await recv_until(wb, is_event("typing", self.cid))
                self.assertEqual(ev["event"]["user_id"], self.a.id)
                # read
                await wb.send(json.dumps({"op": "read", "id": "r", "chat_id": self.cid,
                                          "seq": seq}))
                r, _ = await recv_until(wb, is_reply("r"))
                self.assertEqual(r["op"], "ack", r)
                self.assertEqual(r["result"]["read_seq"], seq)
                # errors: missing client_msg_id, unknown op, not a member's chat
                await wa.send(json.dumps({"op": "send", "id": "e1", "chat_id": self.cid,
                                          "content": "x"}))
                r, _ = await recv_until(wa, is_reply("e1"))
                self.assertEqual(r["op"], "error")
                self.assertEqual(r["error"]["code"], "invalid_request")
                await wa.send(json.dumps({"op": "dance", "id": "e2"}))
                r, _ = await recv_until(wa, is_reply("e2"))
                self.assertEqual(r["op"], "error")
                other = create_direct(self.b, register("wsc"))
                await wa.send(json.dumps({"op": "send", "id": "e3", "chat_id": other["id"],
                                          "content": "x", "client_msg_id": "y"}))
                r, _ = await recv_until(wa, is_reply("e3"))
                self.assertEqual(r["op"], "error")
                self.assertEqual(r["error"]["code"], "not_found")
                await wa.send("not json")
                r, _ = await recv_until(wa, lambda f: f.get("op") == "error")
                self.assertEqual(r["error"]["code"], "invalid_request")
        run(go())
        msgs = history(self.a, self.cid).json["messages"]
        self.assertEqual([m["content"] for m in msgs], ["over ws"])

    def test_resume_after_dropped_connection(self):
        async def go():
            ws = await self.connect(self.a)
            first = await recv_json(ws)
            post_message(self.b, self.cid, "one")
            ev, _ = await recv_until(ws, is_event("message.created", self.cid))
            cursor = ev["cursor"]
            ws.transport.abort()  # dropped, no close handshake
            for c in ("two", "three"):
                post_message(self.b, self.cid, c)
            await asyncio.sleep(0.3)
            async with self.connect(self.a, cursor=cursor) as ws2:
                got = []
                while len(got) < 2:
                    f = await recv_json(ws2)
                    self.assertNotEqual(f["event"]["type"], "resync", "resume must not resync")
                    if f["event"]["type"] == "message.created":
                        got.append(f["event"])
                self.assertEqual([e["message"]["content"] for e in got], ["two", "three"])
                self.assertEqual([e["version"] for e in got], [3, 4])
            # the resume op on a fresh connection does the same
            async with self.connect(self.a) as ws3:
                await recv_json(ws3)  # resync of the new stream
                await ws3.send(json.dumps({"op": "resume", "id": "r", "cursor": cursor}))
                got = []
                while len(got) < 2:
                    f = await recv_json(ws3)
                    if f.get("op"):
                        self.assertEqual(f["result"], {"resumed": True}, f)
                    elif f["event"]["type"] == "message.created":
                        got.append(f["event"]["message"]["content"])
                self.assertEqual(got, ["two", "three"])
            self.assertEqual(first["event"]["type"], "resync")
        run(go())

    def test_bearer_token_and_bad_origin(self):
        async def go():
            async with websockets.connect(WS_URL, extra_headers={
                    "Authorization": "Bearer " + self.a.token}) as ws:
                self.assertEqual((await recv_json(ws))["event"]["type"], "resync")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with self.connect(self.a, origin="https://evil.example"):
                    pass
            self.assertEqual(cm.exception.status_code, 403)
            async with self.connect(self.a, origin="http://127.0.0.1:%d" % PORT) as ws:
                self.assertEqual((await recv_json(ws))["event"]["type"], "resync")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with websockets.connect(WS_URL + "?ticket=" + "ab" * 16):
                    pass
            self.assertEqual(cm.exception.status_code, 401)
        run(go())

    def raw_case(self, data):
        s, rest = raw_connect(self.a)
        try:
            s.sendall(data)
            return read_close_code(s, rest)
        finally:
            s.close()

    def test_unmasked_frame_closes_1002(self):
        self.assertEqual(self.raw_case(frame(0x1, b'{"op":"ping","id":1}', mask=False)), 1002)

    def test_oversized_control_frame_closes_1002(self):
        self.assertEqual(self.raw_case(frame(0x9, b"x" * 126)), 1002)

    def test_invalid_utf8_closes_1007(self):
        self.assertEqual(self.raw_case(frame(0x1, b'{"op":"ping","id":"\xff\xfe"}')), 1007)

    def test_oversized_message_closes_1009(self):
        self.assertEqual(self.raw_case(frame(0x1, b"x" * (64 * 1024 + 1))), 1009)

    def test_fragmented_message_is_one_op(self):
        s, rest = raw_connect(self.a)
        try:
            s.sendall(frame(0x1, b'{"op":"pi', fin=False) + frame(0x9, b"hi") +
                      frame(0x0, b'ng","id":"frag"}'))
            s.settimeout(5)
            buf = rest
            deadline = time.monotonic() + 5
            while b'"frag"' not in buf and time.monotonic() < deadline:
                buf += s.recv(65536)
            self.assertIn(b'{"op":"ack","id":"frag","result":{}}', buf)
        finally:
            s.close()


if __name__ == "__main__":
    main()
