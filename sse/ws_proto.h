/* ws_proto.h - RFC 6455 pieces of the WebSocket transport (sub_ws.c) that
 * need no socket: pure functions of their arguments. */
#ifndef CHAT_WS_PROTO_H
#define CHAT_WS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#define WS_ACCEPT_LEN 32 /* base64 of a SHA-1 (28) and its NUL, rounded up */

/* Whether the comma-separated header value v holds the token tok (ASCII
 * case-insensitive, as Upgrade and Connection values compare). */
bool ws_header_has_token(const char *v, const char *tok);
/* Whether a browser's Origin may open a WebSocket: the nginx URL (as
 * 127.0.0.1 and localhost, https:// when cfg tls says nginx serves TLS) and
 * cfg ws_origins. NULL (no Origin header: not a browser): true. */
bool ws_origin_ok(const struct cfg *cfg, const char *origin);
/* Sec-WebSocket-Accept for the request's Sec-WebSocket-Key (RFC 6455
 * §4.2.2) into out (WS_ACCEPT_LEN bytes, NUL-terminated). */
void ws_accept_key(const char *key, char *out);

/* Where the scan of a peer's frames stands between calls. Zeroed to start. */
struct ws_drain {
    unsigned char hdr[14]; /* the frame header being read */
    unsigned hdr_len;
    uint64_t skip; /* payload bytes left to skip */
};
/* Walk the frames the peer sends after wslay stopped reading (RFC 6455
 * §5.2 header: 2 bytes, 2 or 8 of extended length, 4 of mask key), n bytes
 * at p, skipping payloads; true once a client's Close frame starts. After a
 * protocol error the bytes may not start at a frame boundary: a wrong guess
 * only ends the wait early or late. */
bool ws_drain_scan(struct ws_drain *d, const unsigned char *p, size_t n);

#endif
