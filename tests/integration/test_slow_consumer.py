#!/usr/bin/python3
"""A slow SSE reader (API.md "Delivery guarantee"; DESIGN.md "A slow consumer
gets a bounded queue"): chat-push writes what the socket takes, keeps the
rest queued up to its cap (1,000 events or 1 MiB), then closes the stream;
the client resumes by Last-Event-ID and misses nothing. chat-push's memory
stays bounded meanwhile.

Run: CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=... \
         /usr/bin/python3 tests/integration/test_slow_consumer.py

The reader is a raw socket straight to chat-push (CHAT_PORT + 1) with a
4 KiB receive buffer, so the kernel holds little on its side; it reads the
headers and the first event, then nothing while 16 KiB messages are sent.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, SSEStream, HOST, PORT, API_URL, register, create_direct,  # noqa: E402
                     post_message, history, sse_field, chat_home_path, main)

PUSH_PORT = PORT + 1
BIG = 16000  # bytes of content per message (the API's cap is 16,384)
SENDS = 500  # 8 MB: past the queue cap and what the kernel buffers hold


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def under_asan(pid):
    """ASan's quarantine keeps freed memory, so RSS says nothing of ours."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def parse_events(raw):
    """(events as (id, type, data text), rest) from SSE bytes."""
    text = raw.decode("utf-8", "replace")
    blocks = text.split("\n\n")
    rest = blocks.pop()
    out = []
    for b in blocks:
        eid = etype = None
        data = []
        for line in b.split("\n"):
            if not line or line.startswith(":"):
                continue
            f, v = sse_field(line)
            if f == "id":
                eid = v
            elif f == "event":
                etype = v
            elif f == "data":
                data.append(v)
        if etype:
            out.append((eid, etype, "\n".join(data)))
    return out, rest.encode()


class SlowConsumerTest(ApiTestCase):

    def test_slow_reader_is_cut_off_and_resumes_without_loss(self):
        a, b = register("slowa"), register("slowb")
        chat = create_direct(a, b)["id"]
        pidfile = chat_home_path("run", "chat-push.pid")
        pid = None
        if pidfile and os.path.exists(pidfile):
            with open(pidfile) as f:
                pid = int(f.read().split()[0])

        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect((HOST, PUSH_PORT))
        s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (HOST, b.token)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "chat-push closed the stream before its headers")
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0], head)
        events = []
        while not any(t == "resync" for _, t, _ in events):  # the stream's start
            chunk = s.recv(4096)
            self.assertTrue(chunk, "closed before the first event")
            got, buf = parse_events(buf + chunk)
            events += got

        rss0 = rss_kb(pid) if pid else 0
        sent = []
        for i in range(SENDS):
            m = post_message(a, chat, ("%05d" % i) + "x" * (BIG - 5))
            sent.append(m.json["seq"])
        rss1 = rss_kb(pid) if pid else 0

        # Now read: what was written before the cut, then the end of the stream.
        closed = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            got, buf = parse_events(buf + chunk)
            events += got
        s.close()
        self.assertTrue(closed, "chat-push kept a reader %d events behind" % SENDS)
        msgs = [(eid, seq) for eid, t, d, seq in
                ((eid, t, d, _seq(d)) for eid, t, d in events) if t == "message.created"]
        got_seqs = [seq for _, seq in msgs]
        self.assertLess(len(got_seqs), SENDS, "the whole burst fit: the cap was never reached")
        self.assertEqual(got_seqs, sent[:len(got_seqs)], "what came before the cut is in order")
        if pid and not under_asan(pid):
            # Bounded: the queue cap (1 MiB) and a pending write, not 8 MB.
            self.assertLess(rss1 - rss0, 6 * 1024, "chat-push grew by %d kB" % (rss1 - rss0))

        # Resume from the last id read: the rest, in order, or resync and history.
        last_id = [eid for eid, t, _ in events if eid][-1]
        st = SSEStream(API_URL + "/events", headers=["Authorization: Bearer " + b.token,
                                                     "Last-Event-ID: " + last_id])
        try:
            want = sent[len(got_seqs):]

            def done(ev):
                return ev.type == "resync" or (
                    ev.type == "message.created" and (ev.data or {}).get("message", {}).get("seq") == sent[-1])
            _, ev = st.wait_for(done, timeout=20)
            self.assertIsNotNone(ev, "nothing came after the resume: %s" % st.dump())
            if ev.type == "resync":
                # The contract after resync: catch up from history.
                seen, after = [], sent[0] - 1 + len(got_seqs)
                while True:
                    page = history(b, chat, after_seq=after, limit=100).json
                    seen += [m["seq"] for m in page["messages"]]
                    if not page["has_more_after"]:
                        break
                    after = seen[-1]
                self.assertEqual(seen, want, "history after the resync holds the rest")
            else:
                replay = [e.data["message"]["seq"] for e in st.snapshot()
                          if e.type == "message.created"]
                self.assertEqual(replay, want, "the resume replays exactly the rest")
        finally:
            st.close()


def _seq(data):
    import json
    try:
        return json.loads(data)["message"]["seq"]
    except (ValueError, KeyError, TypeError):
        return None


if __name__ == "__main__":
    main()
