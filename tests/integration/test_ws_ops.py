#!/usr/bin/python3
"""WebSocket client ops: what each malformed or unknown op answers (API.md
"Real-time events", Transports: WebSocket; sse/ws_op.c).

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_ws_ops.py
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, HOST, PORT, API_PREFIX, register, create_direct,  # noqa: E402
                     stream_ticket, main)

import websockets  # noqa: E402

WS_URL = "ws://%s:%d%s/ws" % (HOST, PORT, API_PREFIX)


async def reply(ws, op_id, timeout=5.0):
    """The ack or error frame answering op_id (events in between skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        f = json.loads(await asyncio.wait_for(ws.recv(), deadline - loop.time()))
        if f.get("op") in ("ack", "error") and f.get("id") == op_id:
            return f


class WsOpsTest(ApiTestCase):
    def setUp(self):
        self.a = register("wsop")
        self.cid = create_direct(self.a, register("wsoq"))["id"]

    def answers(self, ops):
        """Send each op in turn; the reply frame of each."""
        async def go():
            out = []
            async with websockets.connect(WS_URL + "?ticket=" + stream_ticket(self.a)) as ws:
                for op in ops:
                    await ws.send(json.dumps(op))
                    out.append(await reply(ws, op["id"]))
            return out
        return asyncio.run(asyncio.wait_for(go(), 60))

    def test_unknown_op_is_unknown_op(self):
        # With or without a chat_id: the op's name is what is wrong.
        got = self.answers([{"op": "dance", "id": "u1"},
                            {"op": "dance", "id": 2, "chat_id": self.cid},
                            {"op": "Send", "id": "u3", "chat_id": self.cid, "content": "x",
                             "client_msg_id": "c"}])
        for r in got:
            self.assertEqual(r["op"], "error", r)
            self.assertEqual(r["error"]["code"], "unknown_op", r)
        self.assertEqual(got[1]["id"], 2)

    def test_known_ops_with_bad_fields_are_invalid_request(self):
        got = self.answers([{"op": "typing", "id": "b1"},
                            {"op": "read", "id": "b2", "chat_id": self.cid, "seq": "x"},
                            {"op": "send", "id": "b3", "chat_id": self.cid, "content": "x",
                             "client_msg_id": ""},
                            {"op": "resume", "id": "b4", "cursor": 5}])
        self.assertEqual([r["error"]["code"] for r in got], ["invalid_request"] * 4, got)
        self.assertEqual([r["error"]["message"] for r in got],
                         ["chat_id must be an id", "seq must be an integer",
                          "send needs content and client_msg_id", "cursor must be a string"])

    def test_ping_and_typing_still_ack(self):
        got = self.answers([{"op": "ping", "id": "p"},
                            {"op": "typing", "id": "t", "chat_id": self.cid}])
        self.assertEqual([r["op"] for r in got], ["ack", "ack"], got)


if __name__ == "__main__":
    main()
