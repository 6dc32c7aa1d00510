/* sub.h - the function table behind which every subscriber transport sits.
 *
 * After nchan's subscriber types: one file per transport (sub_sse.c,
 * sub_poll.c, sub_ws.c) fills one struct sub_ops, and the rest of chat-push
 * reaches the transport only through it. http.c's route table names the
 * ops of each route; conn.c and auth.c run a request through them; the hub
 * (hub.h) knows streams only by wake and kick. A transport's connection is
 * its own struct that embeds struct push_conn (conn.h) as `base`, reached
 * back with container_of.
 *
 * wake and kick must not call back into the hub: both only mark the
 * connection and let the event loop act on it (resumes are batched once per
 * loop pass). s->sub is the transport's struct push_conn.
 */
#ifndef CHAT_SUB_H
#define CHAT_SUB_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "hub.h"

struct cfg;
struct push_conn;

struct sub_ops {
    const char *name; /* "sse", "poll", "ws": for logs and metrics labels */
    /* A cursor alone is a credential, and a JWT's cursor resumes its stream
     * without a database check (long-poll: it comes back every few s). */
    bool cursor_auth;

    /* ---- the hub's side ---- */
    /* Events were queued on s: send them when the connection can take them. */
    void (*wake)(struct hub_stream *s);
    /* The hub takes s away from this connection (why: enum hub_kick): forget
     * s (it is closed right after, or lives on under a newer connection) and
     * end the connection. */
    void (*kick)(struct hub_stream *s, enum hub_kick why);

    /* ---- one request (conn.h) ---- */
    /* A zeroed connection of this transport; NULL when out of memory. */
    struct push_conn *(*alloc)(void);
    /* The last reference is gone: free what the transport holds and the
     * connection itself. */
    void (*release)(struct push_conn *c);
    /* Validate the request before any authentication (headers, query):
     * 0, or -1 with c->status, c->code and c->message set. NULL: none. */
    int (*check)(struct push_conn *c);
    /* The stream is ready (CONN_STREAM): start the response (or, long-poll,
     * suspend until there is one to give). */
    enum MHD_Result (*respond)(struct push_conn *c);
    /* Once a second for a connection past its setup. NULL: none. */
    void (*tick)(struct push_conn *c, int64_t now_ms);
    /* End a stream whose response is queued (error: it ends abnormally).
     * NULL: nothing to end. */
    void (*end)(struct push_conn *c, bool error);
    /* SIGTERM: end c, cleanly where its protocol allows. */
    void (*shutdown)(struct push_conn *c);
    /* MHD finished the request (toe: enum MHD_RequestTerminationCode): true
     * if the connection keeps its stream past it (an upgraded WebSocket).
     * NULL: never. */
    bool (*keeps_stream)(struct push_conn *c, int toe);

    /* ---- the whole transport; each NULL if it has none ---- */
    /* At startup: cfg and the JWT key (JWT_KEY_LEN bytes), kept by pointer. */
    void (*init)(const struct cfg *cfg, const unsigned char *key);
    /* Each loop pass, before resumes: write what is due. */
    void (*run)(int64_t now_ms);
    /* true if run has work now (the loop must not sleep). */
    bool (*busy)(void);
    /* true, once, if the transport's daemon must run (a socket it took back
     * from MHD was closed). */
    bool (*daemon_due)(void);
    /* Once a second, before the connections' ticks. */
    void (*tick_all)(int64_t now_ms);
    /* SIGTERM, before the connections' shutdown. */
    void (*shutdown_all)(void);
    /* Connections the transport keeps beyond their request (upgraded). */
    unsigned (*active)(void);
};

#endif
