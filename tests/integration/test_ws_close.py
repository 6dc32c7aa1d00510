#!/usr/bin/python3
"""WebSocket close handshake, Autobahn style (RFC 6455 §5.5.1, §7.1.1, §7.4;
API.md "Real-time events", WebSocket close codes).

Run: CHAT_URL=http://127.0.0.1:18080 /usr/bin/python3 tests/integration/test_ws_close.py

Raw sockets through nginx, as Autobahn's fuzzing client does: each case sends
a malformed frame, expects the server's Close with the right code, answers it
with the client's Close, and expects the TCP connection to end within
CLOSE_WITHIN seconds of that exchange (the server closes TCP first, §7.1.1;
it must not hold the connection until a timer fires).
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import ApiTestCase, main, register, ws_frame as frame, ws_raw_connect as handshake  # noqa: E402

CLOSE_WITHIN = 0.5  # seconds from the close exchange to the end of TCP


def close_frame(code=None, reason=b""):
    return frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)


class Conn:
    """A raw WebSocket client reading the server's frames."""

    def __init__(self, user):
        self.s, self.buf = handshake(user)

    def next_frame(self, timeout=5.0):
        """(opcode, payload) of the next server frame; None at EOF or reset."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, off = self.buf[1] & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, off = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
                if n < 126 and len(self.buf) >= off + n:
                    op, payload = self.buf[0] & 0x0F, self.buf[off:off + n]
                    self.buf = self.buf[off + n:]
                    return op, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no frame from the server within %.1f s" % timeout)
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def server_close(self, timeout=5.0):
        """The status code of the server's Close (1005 without one; None if
        the connection ended without a Close)."""
        while True:
            f = self.next_frame(timeout)
            if f is None:
                return None
            if f[0] == 0x8:
                return struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else 1005

    def seconds_to_eof(self, limit=5.0):
        """How long until the server ends TCP (EOF or reset); None past limit."""
        t0 = time.monotonic()
        self.s.settimeout(limit)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
        except ConnectionResetError:
            pass
        except socket.timeout:
            return None
        return time.monotonic() - t0

    def close(self):
        self.s.close()


class WsCloseTest(ApiTestCase):
    def setUp(self):
        self.u = register("wsc")

    def case(self, data, code, client_closes=True):
        """Send data; the server must close with code; after our Close (if
        the case did not already send one) TCP must end within CLOSE_WITHIN."""
        c = Conn(self.u)
        try:
            f = c.next_frame()  # the stream's first event: the socket is live
            self.assertEqual(f[0], 0x1, f)
            c.s.sendall(data)
            got = c.server_close()
            self.assertEqual(got, code, "close code for %r" % data[:16])
            if client_closes:
                try:
                    c.s.sendall(close_frame(code if code not in (1005, 1006) else 1000))
                except (BrokenPipeError, ConnectionResetError):
                    self.fail("the server ended TCP before our answering Close")
            el = c.seconds_to_eof()
            self.assertIsNotNone(el, "the server held the connection > 5 s after the close exchange")
            self.assertLess(el, CLOSE_WITHIN, "TCP ended %.2f s after the close exchange" % el)
        finally:
            c.close()

    # protocol errors: 1002
    def test_reserved_opcode(self):
        self.case(frame(0x3, b"x"), 1002)

    def test_reserved_control_opcode(self):
        self.case(frame(0xB, b""), 1002)

    def test_unmasked_frame(self):
        self.case(frame(0x1, b'{"op":"ping","id":1}', mask=False), 1002)

    def test_reserved_bits(self):
        for rsv in (1, 2, 4):
            with self.subTest(rsv=rsv):
                self.case(frame(0x1, b'{"op":"ping","id":1}', rsv=rsv), 1002)

    def test_fragmented_control_frame(self):
        self.case(frame(0x9, b"hi", fin=False), 1002)

    def test_control_frame_over_125_bytes(self):
        self.case(frame(0x9, b"x" * 126), 1002)

    def test_continuation_without_a_message(self):
        self.case(frame(0x0, b"x"), 1002)

    def test_close_with_one_byte_payload(self):
        self.case(frame(0x8, b"\x03"), 1002, client_closes=False)

    def test_close_with_invalid_codes(self):
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000):
            with self.subTest(code=code):
                self.case(close_frame(code), 1002, client_closes=False)

    # data errors
    def test_invalid_utf8_text(self):
        self.case(frame(0x1, b'{"op":"ping","id":"\xff\xfe"}'), 1007)

    def test_invalid_utf8_fragmented(self):
        self.case(frame(0x1, b'{"op":"\xce', fin=False) + frame(0x0, b'\x28"}'), 1007)

    def test_binary_frame(self):
        self.case(frame(0x2, b"\x00\x01\x02"), 1003)

    # the well-behaved closes stay quick too
    def test_client_close_is_echoed(self):
        self.case(close_frame(1000, b"bye"), 1000, client_closes=False)

    def test_client_close_without_code(self):
        self.case(close_frame(), 1005, client_closes=False)


if __name__ == "__main__":
    main()
