/* ws_ops.h - the client ops of a WebSocket (API.md "Transports",
 * WebSocket): parse one text message, look its op up in one table, and run
 * it here (ping), through the transport (resume) or by forwarding it to
 * chat-api through nginx (send, typing, read; fwd.h) with the stream
 * user's token. Replies are {"op":"ack","id","result"} or
 * {"op":"error","id","error"}; an op not in the table gets `unknown_op`.
 * Single-threaded (the loop).
 */
#ifndef CHAT_WS_OPS_H
#define CHAT_WS_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "conn.h"

struct ws_op;

/* The connection's side, embedded in its state by the transport. */
struct ws_peer {
    struct push_conn *c; /* whose credentials and stream the ops act with */
    /* Send text (len bytes) as one text message to the client. */
    void (*reply)(struct ws_peer *p, const char *text, size_t len);
    /* A forwarded op's reply was queued: let the connection write. */
    void (*replied)(struct ws_peer *p);
    /* Take over the stream of cursor: true if resumed. */
    bool (*resume)(struct ws_peer *p, const char *cursor);
    struct ws_op *ops; /* forwarded, in flight */
    int nops;
};

/* cfg and the JWT key (JWT_KEY_LEN bytes), kept by pointer: tokens for
 * forwarded ops are minted with them. */
void ws_ops_init(const struct cfg *cfg, const unsigned char *key);
/* One text message (valid UTF-8, len bytes) of the client of p. */
void ws_ops_handle(struct ws_peer *p, const char *text, size_t len);
/* The connection ends: cancel its ops in flight (no reply follows). */
void ws_ops_cancel(struct ws_peer *p);

#endif
