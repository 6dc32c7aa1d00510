#!/usr/bin/python3
"""WebSocket client ops: the op table's answers (API.md "Transports":
WebSocket). An op name not in the table gets `unknown_op`, whether or not
it carries a chat_id; a known op still checks its own fields.

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_ws_ops.py
"""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, HOST, PORT, API_PREFIX, register, create_direct,  # noqa: E402
                     stream_ticket, main)

import websockets  # noqa: E402

WS_URL = "ws://%s:%d%s/ws" % (HOST, PORT, API_PREFIX)


async def reply_to(ws, op_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no reply to %r" % op_id)
        f = json.loads(await asyncio.wait_for(ws.recv(), left))
        if f.get("op") in ("ack", "error") and f.get("id") == op_id:
            return f


class WsOpsTest(ApiTestCase):
    def setUp(self):
        self.a = register("wsopa")
        self.b = register("wsopb")
        self.cid = create_direct(self.a, self.b)["id"]

    def ops(self, *frames):
        """Send each op on one connection; return the replies in order."""
        async def go():
            url = WS_URL + "?ticket=" + stream_ticket(self.a)
            async with websockets.connect(url) as ws:
                out = []
                for f in frames:
                    await ws.send(json.dumps(f))
                    out.append(await reply_to(ws, f["id"]))
                return out
        return asyncio.run(asyncio.wait_for(go(), 30))

    def test_unknown_op_without_chat_id(self):
        r, = self.ops({"op": "dance", "id": "u1"})
        self.assertEqual(r["op"], "error")
        self.assertEqual(r["error"]["code"], "unknown_op")

    def test_unknown_op_with_chat_id(self):
        r, = self.ops({"op": "dance", "id": 2, "chat_id": self.cid})
        self.assertEqual(r["op"], "error")
        self.assertEqual(r["id"], 2)
        self.assertEqual(r["error"]["code"], "unknown_op")

    def test_known_ops_keep_their_checks(self):
        no_chat, bad_seq, ping = self.ops(
            {"op": "typing", "id": "t"},
            {"op": "read", "id": "r", "chat_id": self.cid, "seq": "x"},
            {"op": "ping", "id": "p"})
        self.assertEqual(no_chat["error"]["code"], "invalid_request")
        self.assertEqual(bad_seq["error"]["code"], "invalid_request")
        self.assertEqual(ping["op"], "ack")


if __name__ == "__main__":
    main()
