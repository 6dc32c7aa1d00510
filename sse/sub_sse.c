/* sub_sse.c - the SSE transport: frames from a stream's queue into MHD.
 *
 * The response is MHD_create_response_from_callback with an unknown size
 * (chunked on HTTP/1.1). The reader copies what is queued: `retry:` first,
 * then one frame per event ("id: <cursor>\n" + the event's shared text),
 * then a heartbeat comment if one is due. With nothing to copy it suspends
 * the connection and returns 0 (returning 0 without suspending would spin);
 * hub wakes are turned into resumes once per loop pass (http.c).
 * Server-sent events: WHATWG HTML, section 9.2.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "log.h"
#include "loop.h"
#include "sub.h"

#define SSE_BLOCK 4096 /* bytes per reader call: several frames per send() */

static const char sse_retry[] = "retry: 3000\n\n";
static const char sse_hb[] = ": hb\n\n";

static void sse_wake(struct hub_stream *s)
{
    conn_wake(conn_of_stream(s));
}

static void sse_kick(struct hub_stream *s, enum hub_kick why)
{
    struct push_conn *c = conn_of_stream(s);

    c->s = NULL; /* the hub's now */
    /* Before its response is queued (revoked during setup) it gets an error. */
    if (c->phase != CONN_RESPONDED) {
        if (why == HUB_KICK_REVOKED)
            conn_fail(c, 401, "unauthorized", "session revoked");
        else
            conn_fail(c, 503, "unavailable", "stream taken over");
        return;
    }
    sub_sse_end(c, why == HUB_KICK_OVERFLOW ? MHD_CONTENT_READER_END_WITH_ERROR
                                            : MHD_CONTENT_READER_END_OF_STREAM);
}

const struct sub_ops sub_sse_ops = {
    .name = "sse",
    .wake = sse_wake,
    .kick = sse_kick,
};

void sub_sse_end(struct push_conn *c, int end)
{
    if (c->end)
        return;
    c->end = end;
    conn_wake(c);
}

/* Pick the next thing to write; false if there is none. */
static bool sse_next(struct push_conn *c)
{
    uint64_t seq;
    struct hub_event *ev;

    if (!c->retry_sent) {
        c->retry_sent = true;
        c->lit = sse_retry;
        c->lit_len = sizeof(sse_retry) - 1;
        return true;
    }
    ev = c->s ? hub_stream_next(c->s, &seq) : NULL;
    if (ev) {
        hub_event_ref(ev);
        memcpy(c->idline, "id: ", 4);
        c->idlen = 4 + (size_t)hub_cursor_format(c->s, seq, c->idline + 4);
        hub_stream_sent(c->s, loop_unix());
        c->cur = ev;
        c->idline[c->idlen++] = '\n';
        c->cur_off = 0;
        return true;
    }
    if (c->hb_pending) {
        c->hb_pending = false;
        c->lit = sse_hb;
        c->lit_len = sizeof(sse_hb) - 1;
        return true;
    }
    return false;
}

/* Copy from the current piece; true when it is done. */
static bool sse_copy(struct push_conn *c, char *buf, size_t max, size_t *n)
{
    size_t k;

    if (c->lit) {
        k = c->lit_len < max - *n ? c->lit_len : max - *n;
        memcpy(buf + *n, c->lit, k);
        *n += k;
        c->lit += k;
        c->lit_len -= k;
        if (c->lit_len)
            return false;
        c->lit = NULL;
        return true;
    }
    while (*n < max && c->cur_off < c->idlen + c->cur->len) {
        const char *src;
        size_t avail;

        if (c->cur_off < c->idlen) {
            src = c->idline + c->cur_off;
            avail = c->idlen - c->cur_off;
        } else {
            src = c->cur->text + (c->cur_off - c->idlen);
            avail = c->cur->len - (c->cur_off - c->idlen);
        }
        k = avail < max - *n ? avail : max - *n;
        memcpy(buf + *n, src, k);
        *n += k;
        c->cur_off += k;
    }
    if (c->cur_off < c->idlen + c->cur->len)
        return false;
    hub_event_unref(c->cur);
    c->cur = NULL;
    return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct push_conn *c = cls;
    size_t n = 0;

    if (c->end)
        return c->end;
    while (n < max) {
        if (!c->lit && !c->cur && !sse_next(c))
            break;
        if (!sse_copy(c, buf, max, &n))
            break;
    }
    if (n == 0) {
        MHD_suspend_connection(c->mc);
        c->suspended = true;
        return 0;
    }
    c->hb_pending = false; /* any bytes keep the stream alive */
    c->last_send_ms = loop_now_ms();
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    conn_unref(cls);
}

struct MHD_Response *sub_sse_response(struct push_conn *c)
{
    struct MHD_Response *r;

    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, c, sse_free);
    if (!r)
        return NULL;
    conn_ref(c);
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    c->last_send_ms = loop_now_ms();
    return r;
}

/* A suspended connection's disconnect goes unseen by MHD; an SSE client
 * sends nothing after its request, so a peeked EOF or error means it left. */
static bool sse_peer_gone(struct push_conn *c)
{
    const union MHD_ConnectionInfo *ci;
    char b;
    ssize_t n;

    ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void sub_sse_tick(struct push_conn *c, int64_t now, int64_t heartbeat_ms)
{
    if (c->end || now - c->last_send_ms < heartbeat_ms)
        return;
    if (c->suspended && sse_peer_gone(c)) {
        /* Gone without a word: keep the stream resumable (hub_stream_detach
         * runs when MHD completes the request). */
        sub_sse_end(c, MHD_CONTENT_READER_END_WITH_ERROR);
        return;
    }
    c->hb_pending = true;
    conn_wake(c);
}
