/* conn.h - one stream request of chat-push: the base every transport's
 * connection embeds (struct sse_conn, poll_conn, ws_conn in sub_*.c), and
 * the request's path through phases (conn.c).
 *
 * Lifetime: refcounted. The request holds a reference until MHD's
 * completion callback, a queued response holds one until MHD frees it, and
 * each pending asynchronous step (ticket lookup, baseline query, a place in
 * the wake list) holds one, so no callback ever finds freed memory. The
 * last unref releases the transport's part (sub_ops.release).
 */
#ifndef CHAT_CONN_H
#define CHAT_CONN_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "container.h"
#include "hub.h"
#include "pgq.h"
#include "sub.h"

#define CONN_STREAM_MAX_AGE_S 86400 /* API.md: a stream lives at most 24 h */

enum conn_phase {
    CONN_AUTH,     /* waiting for the ticket lookup */
    CONN_OPEN,     /* hub stream open, baseline pending */
    CONN_REPLY,    /* an error answer is due (status, code, message) */
    CONN_STREAM,   /* ready for its response and the stream */
    CONN_RESPONDED /* response queued */
};

struct ip_count;

struct push_conn {
    const struct sub_ops *ops; /* the transport */
    struct hub_stream *s;      /* the hub's stream; NULL before open and once given up */
    struct MHD_Connection *mc;
    int refs;
    enum conn_phase phase;
    bool suspended; /* we suspended it and have not resumed it yet */
    bool wake_queued;
    bool completed; /* MHD said the request is over: mc is gone */
    struct push_conn *wake_next;
    struct push_conn *prev, *next; /* every live request */
    int64_t started_ms;
    struct ip_count *ipc; /* its client IP's count of open streams (iplimit.h) */

    /* answer for CONN_REPLY (and a failed sub_ops.check) */
    unsigned status;
    const char *code, *message;

    /* credentials (auth.c) */
    bool by_jwt;
    bool by_pat;    /* a personal API token (chat_pat_...), checked in PostgreSQL */
    char *pat;      /* that token, owned: WebSocket ops are forwarded with it */
    bool by_cursor; /* long-poll with neither ticket nor token: the cursor is the credential */
    int64_t user_id, session_id, token_version;
    int64_t token_id; /* the API token's id (by_pat, or a ticket an API token got), else 0 */
    struct pgq_req *pg;
};

static inline struct push_conn *conn_of_stream(struct hub_stream *s)
{
    return s->sub;
}

/* A new request of transport ops on mc (refs 1: the request's), in the
 * list of live requests. NULL when out of memory. */
struct push_conn *conn_new(struct MHD_Connection *mc, const struct sub_ops *ops);
/* Drop c, a request not handed to MHD (*con_cls unset), and answer mc with
 * the error of c->status, c->code, c->message. */
enum MHD_Result conn_reject(struct push_conn *c);
void conn_ref(struct push_conn *c);
void conn_unref(struct push_conn *c);
/* Resume c in the next batch if it is suspended (no-op otherwise). A
 * transport that writes to the socket itself while MHD has it suspended
 * (SSE) does not come here for that. */
void conn_wake(struct push_conn *c);
/* Answer c with an error: now if its response is not queued yet, else end
 * the stream (sub_ops.end). Closes its hub stream. */
void conn_fail(struct push_conn *c, unsigned status, const char *code, const char *message);
/* The access handler runs (again) for c: answer from its phase, or
 * suspend while it waits. */
enum MHD_Result conn_continue(struct push_conn *c);
/* MHD's completion callback for c (toe: enum MHD_RequestTerminationCode). */
void conn_completed(struct push_conn *c, int toe);

/* Resume everything woken since the last call. Returns how many. */
unsigned conn_resume_woken(void);
/* Connections woken and not resumed yet. */
unsigned conn_nwoken(void);
/* Requests still live (between conn_new and their completion). */
unsigned conn_count(void);
/* Once a second: fail setups older than their deadline, tick the rest. */
void conn_tick_all(int64_t now_ms);
/* SIGTERM: let every live request end (sub_ops.shutdown). */
void conn_shutdown_all(void);

/* Queue body with status on mc: Content-Type ctype, no-store, and the
 * headers some statuses need (WWW-Authenticate, Allow, Retry-After,
 * Upgrade). rate: a stream route's answer, with X-RateLimit-*. */
enum MHD_Result conn_reply_text(struct MHD_Connection *mc, unsigned status, const char *ctype,
                                const char *body, bool rate);
/* Queue {"error": {code, message}} (API.md "Conventions") with status on
 * mc, with X-RateLimit-* and, for 429 and 503, Retry-After. */
enum MHD_Result conn_reply_error(struct MHD_Connection *mc, unsigned status, const char *code,
                                 const char *message);

#endif
