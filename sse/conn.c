/* conn.c - the path of one stream request through its phases (conn.h):
 * references, the list of live requests, the wake batch, failing, and
 * answering from the phase through the transport's ops (sub.h).
 *
 * MHD 0.9.75 traps handled here (DESIGN.md): resumes only of connections
 * we suspended (flag per connection) and once per batch (http.c decides
 * when), every suspended connection resumed before MHD_stop_daemon.
 */
#include "conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_error.h"
#include "buf.h"
#include "iplimit.h"
#include "log.h"
#include "loop.h"

#define CONN_SETUP_TIMEOUT_MS 10000 /* auth + baseline + subscriptions */

static struct {
    struct push_conn *conns; /* every live stream request */
    struct push_conn *wakes; /* to resume in the next batch */
    unsigned nwakes, nconns;
} C;

struct push_conn *conn_new(struct MHD_Connection *mc, const struct sub_ops *ops)
{
    struct push_conn *c = ops->alloc();

    if (!c)
        return NULL;
    c->ops = ops;
    c->mc = mc;
    c->refs = 1; /* the request's, dropped at completion */
    c->started_ms = loop_now_ms();
    c->next = C.conns;
    if (C.conns)
        C.conns->prev = c;
    C.conns = c;
    C.nconns++;
    return c;
}

static void conn_unlink(struct push_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        C.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    C.nconns--;
}

enum MHD_Result conn_reject(struct push_conn *c)
{
    struct MHD_Connection *mc = c->mc;
    unsigned status = c->status;
    const char *code = c->code, *message = c->message;

    /* Its count of the address goes first: the answer's X-RateLimit-*
     * counts without it. */
    conn_unlink(c);
    conn_unref(c);
    return conn_reply_error(mc, status, code, message);
}

void conn_ref(struct push_conn *c)
{
    c->refs++;
}

/* Not inlined: GCC 12 then sees two unrefs in a row as a possible use after
 * free, not knowing the first one never drops the last reference. */
__attribute__((noinline)) void conn_unref(struct push_conn *c)
{
    if (--c->refs > 0)
        return;
    if (c->ipc)
        iplimit_release(c->ipc);
    free(c->pat);
    c->ops->release(c);
}

void conn_wake(struct push_conn *c)
{
    if (!c->suspended || c->wake_queued || c->completed)
        return;
    c->wake_queued = true;
    conn_ref(c);
    c->wake_next = C.wakes;
    C.wakes = c;
    C.nwakes++;
}

void conn_fail(struct push_conn *c, unsigned status, const char *code, const char *message)
{
    if (c->pg) {
        pgq_cancel(c->pg);
        c->pg = NULL;
        conn_unref(c);
    }
    if (c->s) {
        hub_stream_close(c->s);
        c->s = NULL;
    }
    if (c->phase == CONN_RESPONDED) {
        if (c->ops->end)
            c->ops->end(c, true);
        return;
    }
    c->phase = CONN_REPLY;
    c->status = status;
    c->code = code;
    c->message = message;
    conn_wake(c);
}

enum MHD_Result conn_continue(struct push_conn *c)
{
    switch (c->phase) {
    case CONN_REPLY:
        c->phase = CONN_RESPONDED;
        return conn_reply_error(c->mc, c->status, c->code, c->message);
    case CONN_STREAM: return c->ops->respond(c);
    case CONN_RESPONDED: return MHD_YES;
    default: /* still waiting */
        MHD_suspend_connection(c->mc);
        c->suspended = true;
        return MHD_YES;
    }
}

void conn_completed(struct push_conn *c, int toe)
{
    c->completed = true;
    c->suspended = false;
    if (c->ops->keeps_stream && c->ops->keeps_stream(c, toe))
        ;
    else if (c->s) {
        log_debug("stream %" PRIu64 " of user %" PRId64 " detached (%d)", c->s->id, c->user_id,
                  toe);
        hub_stream_detach(c->s, loop_unix());
        c->s = NULL;
    }
    if (c->pg) {
        pgq_cancel(c->pg);
        c->pg = NULL;
        conn_unref(c);
    }
    conn_unlink(c);
    conn_unref(c);
}

unsigned conn_resume_woken(void)
{
    unsigned n = 0;

    while (C.wakes) {
        struct push_conn *c = C.wakes;

        C.wakes = c->wake_next;
        c->wake_queued = false;
        if (c->suspended && !c->completed) {
            c->suspended = false;
            MHD_resume_connection(c->mc);
            n++;
        }
        conn_unref(c);
    }
    C.nwakes = 0;
    return n;
}

unsigned conn_nwoken(void)
{
    return C.nwakes;
}

unsigned conn_count(void)
{
    return C.nconns;
}

void conn_tick_all(int64_t now)
{
    struct push_conn *c, *next;

    for (c = C.conns; c; c = next) {
        next = c->next;
        if (c->phase == CONN_AUTH || c->phase == CONN_OPEN) {
            if (now - c->started_ms > CONN_SETUP_TIMEOUT_MS)
                conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "stream setup timed out");
            continue;
        }
        if (c->ops->tick)
            c->ops->tick(c, now);
    }
}

void conn_shutdown_all(void)
{
    struct push_conn *c, *next;

    for (c = C.conns; c; c = next) {
        next = c->next;
        c->ops->shutdown(c);
    }
}

enum MHD_Result conn_reply_text(struct MHD_Connection *mc, unsigned status, const char *ctype,
                                const char *body, bool rate)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET");
    if (status == MHD_HTTP_TOO_MANY_REQUESTS)
        MHD_add_response_header(r, "Retry-After", "5");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, "Retry-After", "1");
    if (status == MHD_HTTP_UPGRADE_REQUIRED) {
        /* RFC 9110 §15.5.22: name the protocol; RFC 6455 §4.4: its version. */
        MHD_add_response_header(r, "Upgrade", "websocket");
        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
    }
    if (rate)
        iplimit_headers(r, mc);
    ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result conn_reply_error(struct MHD_Connection *mc, unsigned status, const char *code,
                                 const char *message)
{
    struct buf body = BUF_INIT;
    enum MHD_Result ret;

    api_error_body(&body, code, message);
    ret = conn_reply_text(mc, status, "application/json; charset=utf-8", body.s, true);
    buf_release(&body);
    return ret;
}
