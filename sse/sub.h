/* sub.h - the function table behind which every subscriber transport sits.
 *
 * After nchan's subscriber types: the hub (hub.h) knows streams only through
 * these calls, and each transport (sub_sse.c now; long-poll and WebSocket
 * later) passes its ops and its connection to hub_stream_open or
 * hub_stream_resume, and holds the struct hub_stream it gets back.
 * Neither call may call back into the hub: both only mark the connection
 * and let the event loop act on it (resumes are batched once per loop pass).
 * s->sub is the transport's connection.
 */
#ifndef CHAT_SUB_H
#define CHAT_SUB_H

#include "hub.h"

struct sub_ops {
    const char *name; /* "sse", "poll", "ws": for logs */
    /* Events were queued on s: send them when the connection can take them. */
    void (*wake)(struct hub_stream *s);
    /* The hub takes s away from this connection (why: enum hub_kick): forget
     * s (it is closed right after, or lives on under a newer connection) and
     * end the connection. */
    void (*kick)(struct hub_stream *s, enum hub_kick why);
};

#endif
