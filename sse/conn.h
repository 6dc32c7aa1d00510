/* conn.h - one stream request of chat-push, shared by http.c and the
 * transports (sub_sse.c, sub_poll.c; WebSocket lives in ws.c on its own
 * daemon).
 *
 * Lifetime: refcounted. The request holds a reference until MHD's
 * completion callback, a queued response holds one until MHD frees it, and
 * each pending asynchronous step (ticket lookup, baseline query, a place in
 * the wake list) holds one, so no callback ever finds freed memory.
 */
#ifndef CHAT_CONN_H
#define CHAT_CONN_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "hub.h"
#include "loop.h"
#include "pgq.h"

enum conn_phase {
    CONN_AUTH,     /* waiting for the ticket lookup */
    CONN_OPEN,     /* hub stream open, baseline pending */
    CONN_REPLY,    /* an error answer is due (status, code, message) */
    CONN_STREAM,   /* ready for its 200 and the stream */
    CONN_RESPONDED /* response queued */
};

struct push_conn {
    const struct sub_ops *ops; /* the transport: sub_sse_ops or sub_poll_ops */
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
    struct ip_count *ipc; /* its client IP's count of open streams (http.c) */

    /* answer for CONN_REPLY */
    unsigned status;
    const char *code, *message;

    /* credentials */
    bool by_jwt;
    bool by_pat;    /* a personal API token (chat_pat_...), checked in PostgreSQL */
    char *pat;      /* that token, owned, for the PostgreSQL lookup */
    bool by_cursor; /* long-poll with neither ticket nor token: the cursor is the credential */
    bool resuming;  /* a cursor came with a JWT: resume once the token checks out */
    int64_t user_id, session_id, token_version;
    int64_t token_id; /* the API token's id (by_pat, or a ticket an API token got), else 0 */
    struct pgq_req *pg;

    /* SSE output */
    int end;           /* 0, or MHD_CONTENT_READER_END_OF_STREAM / _END_WITH_ERROR */
    bool direct;       /* suspended for good: frames go straight to the socket (sub_sse.c) */
    bool flush_queued; /* on sub_sse.c's flush list */
    struct push_conn *flush_next;
    struct loop_io io; /* the socket in the loop while direct: hangups, and writable if pend */
    char *pend;        /* bytes a short write left, NULL if none */
    uint32_t pend_off, pend_len;
    bool retry_sent, hb_pending;
    struct hub_event *cur; /* frame being written: idline then cur->text */
    char idline[HUB_CURSOR_MAX + 8];
    size_t idlen, cur_off;
    const char *lit; /* or a literal (retry, heartbeat) being written */
    size_t lit_len;
    int64_t last_send_ms;

    /* WebSocket (sub_ws.c), once upgraded */
    struct ws_state *ws;
    bool ws_msg_done; /* the event message in wslay's queue went out */

    /* long-poll */
    int64_t poll_deadline_ms;    /* answer, empty if need be, by then */
    bool poll_due;               /* answer now with what is queued */
    char cursor[HUB_CURSOR_MAX]; /* the cursor the poll came with, "" if none */
};

static inline struct push_conn *conn_of_stream(struct hub_stream *s)
{
    return s->sub;
}

void conn_ref(struct push_conn *c);
void conn_unref(struct push_conn *c);
/* Resume c in the next batch if it is suspended (no-op otherwise). */
void conn_wake(struct push_conn *c);
/* Answer c with an error: now if its response is not queued yet, else end
 * the stream. Closes its hub stream. */
void conn_fail(struct push_conn *c, unsigned status, const char *code, const char *message);

/* X-RateLimit-Limit/-Remaining/-Reset on r, an answer of /events, /poll or
 * /ws (API.md "Conventions", as draft-ietf-httpapi-ratelimit-headers):
 * chat-push's limit is the cap on streams open at once from the client's
 * address (cfg push_max_per_ip; the address as http.c counts it): Limit is
 * the cap, Remaining what is left of it now, Reset 0 (there is no window: a
 * place frees when a stream ends). mc: the request being answered (http.c). */
void http_rate_headers(struct MHD_Response *r, struct MHD_Connection *mc);

/* Queue {"error": {code, message}} with status on mc (http.c), with
 * X-RateLimit-* and, for 429 and 503, Retry-After. */
enum MHD_Result http_reply_error(struct MHD_Connection *mc, unsigned status, const char *code,
                                 const char *message);

/* An upgraded connection was closed: run the WebSocket daemon soon (http.c). */
void http_kick_ws(void);

/* sub_poll.c */
extern const struct sub_ops sub_poll_ops;
/* The handler ran for c in CONN_STREAM: answer {events, cursor} if events
 * are queued, the deadline passed or the stream is gone; else suspend. */
enum MHD_Result sub_poll_continue(struct push_conn *c);
/* Wake c if its deadline has passed. */
void sub_poll_tick(struct push_conn *c, int64_t now_ms);

/* sub_ws.c */
extern const struct sub_ops sub_ws_ops;
void sub_ws_init(const struct cfg *cfg, const unsigned char *key);
/* Check the upgrade request (headers, Origin) before any auth: 0, or -1
 * with the error answer to give. */
int sub_ws_check(struct MHD_Connection *mc, unsigned *status, const char **code,
                 const char **message);
/* The 101 response; the stream moves to the upgraded socket. */
struct MHD_Response *sub_ws_response(struct push_conn *c);
/* Each loop pass: pump woken connections, free finished ones. */
void sub_ws_run(int64_t now_ms);
/* true if sub_ws_run has work now (the loop must not sleep). */
bool sub_ws_busy(void);
/* Once a second: pings, idle and age limits, close timeouts. */
void sub_ws_tick(int64_t now_ms);
/* SIGTERM: close every WebSocket with 1001. */
void sub_ws_shutdown(void);
unsigned sub_ws_active(void);

/* sub_sse.c */
extern const struct sub_ops sub_sse_ops;
/* Build the 200 text/event-stream response reading from c. */
struct MHD_Response *sub_sse_response(struct push_conn *c);
/* c is direct (c->direct): write what it has queued in this loop pass. */
void sub_sse_flush_soon(struct push_conn *c);
/* Each loop pass, before resumes: write to every connection flagged by
 * sub_sse_flush_soon. */
void sub_sse_run(void);
/* Ask for a heartbeat comment if c has been quiet for heartbeat_ms. */
void sub_sse_tick(struct push_conn *c, int64_t now_ms, int64_t heartbeat_ms);
/* End the stream (end: MHD_CONTENT_READER_END_*). */
void sub_sse_end(struct push_conn *c, int end);

#endif
