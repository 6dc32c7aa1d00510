/* sub_sse.c - the SSE transport: frames from a stream's queue to its socket.
 *
 * The response is MHD_create_response_from_callback with an unknown size,
 * close-delimited (MHD_RF_HTTP_1_0_COMPATIBLE_STRICT: no chunked framing),
 * so the body is nothing but SSE text. MHD's reader hands out `retry:` (and
 * whatever fits after it) with the headers; at its next call the connection
 * is suspended for good and the stream goes direct: MHD leaves a suspended
 * connection's socket alone, so from then on frames ("id: <cursor>\n" + the
 * event's shared text, heartbeat comments) are written to the socket from
 * the loop, once per loop pass for everything a stream has queued. MHD is
 * resumed only to end the request: the reader then returns the end code.
 *
 * Why (bench/push, docs/BENCHMARKS.md): through MHD each delivery cost a
 * resume, a walk of every suspended connection (MHD 0.9.75), two epoll_ctl
 * calls, the reader and a send; direct, it is one send per stream and pass.
 * The socket sits in the loop's epoll set meanwhile, so a client that goes
 * is seen at once (EPOLLRDHUP), not at the next heartbeat.
 * Server-sent events: WHATWG HTML, section 9.2.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "cfg.h"
#include "conn.h"
#include "iplimit.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "sub.h"

/* This transport (defined at the end; http.c's route table names it). */
extern const struct sub_ops sub_sse_ops;

/* MHD's buffer for the reader: `retry:` and the start of the first frame. */
#define SSE_BLOCK 256
/* Bytes per send() while direct: many frames of one stream in one call. */
#define SSE_WRITE_MAX 16384

static const char sse_retry[] = "retry: 3000\n\n";
static const char sse_hb[] = ": hb\n\n";

struct sse_conn {
    struct push_conn base;
    int end;           /* 0, or MHD_CONTENT_READER_END_OF_STREAM / _END_WITH_ERROR */
    bool direct;       /* suspended for good: frames go straight to the socket */
    bool flush_queued; /* on the flush list */
    struct sse_conn *flush_next;
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
};

static int64_t heartbeat_ms;

static struct sse_conn *sse_of(struct push_conn *c)
{
    return container_of(c, struct sse_conn, base);
}

static void sse_flush_soon(struct sse_conn *c);

/* Events are due on c: write them in this pass if it is direct, else
 * resume it (its reader then runs, or it answers from its phase). */
static void sse_wake_conn(struct sse_conn *c)
{
    if (c->direct)
        sse_flush_soon(c);
    else
        conn_wake(&c->base);
}

/* End the stream (end: MHD_CONTENT_READER_END_*). */
static void sse_end_with(struct sse_conn *c, int end)
{
    if (c->end)
        return;
    c->end = end;
    sse_wake_conn(c);
}

static void sse_wake(struct hub_stream *s)
{
    sse_wake_conn(sse_of(conn_of_stream(s)));
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
    sse_end_with(sse_of(c), why == HUB_KICK_OVERFLOW ? MHD_CONTENT_READER_END_WITH_ERROR
                                                     : MHD_CONTENT_READER_END_OF_STREAM);
}

/* Pick the next thing to write; false if there is none. */
static bool sse_next(struct sse_conn *c)
{
    uint64_t seq;
    struct hub_event *ev;

    if (!c->retry_sent) {
        c->retry_sent = true;
        c->lit = sse_retry;
        c->lit_len = sizeof(sse_retry) - 1;
        return true;
    }
    ev = c->base.s ? hub_stream_next(c->base.s, &seq) : NULL;
    if (ev) {
        hub_event_ref(ev);
        memcpy(c->idline, "id: ", 4);
        c->idlen = 4 + (size_t)hub_cursor_format(c->base.s, seq, c->idline + 4);
        hub_stream_sent(c->base.s, loop_unix());
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
static bool sse_copy(struct sse_conn *c, char *buf, size_t max, size_t *n)
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

/* Copy as much as is due into buf (at most max bytes). */
static size_t sse_fill(struct sse_conn *c, char *buf, size_t max)
{
    size_t n = 0;
    unsigned events = 0;

    while (n < max) {
        if (!c->lit && !c->cur) {
            if (!sse_next(c))
                break;
            if (c->cur) {
                events++;
                ops_delivered(c->cur);
            }
        }
        if (!sse_copy(c, buf, max, &n))
            break;
    }
    ops_fanned_out(&sub_sse_ops, events);
    if (n) {
        c->hb_pending = false; /* any bytes keep the stream alive */
        c->last_send_ms = loop_now_ms();
    }
    return n;
}

/* ---- direct ---- */

static struct sse_conn *flushes; /* to write to in this pass */

static void sse_io(struct loop_io *io, uint32_t revents);

static void sse_want_out(struct sse_conn *c, bool on)
{
    uint32_t ev = EPOLLRDHUP | (on ? EPOLLOUT : 0);

    if (c->io.events != ev && loop_io_set(&c->io, c->io.fd, ev))
        log_warn("epoll_ctl on an SSE socket failed");
}

/* Hand the connection back to MHD, which calls the reader: c->end. */
static void sse_leave(struct sse_conn *c)
{
    loop_io_del(&c->io);
    c->direct = false;
    if (c->pend) {
        if (c->end == MHD_CONTENT_READER_END_OF_STREAM)
            c->end = MHD_CONTENT_READER_END_WITH_ERROR; /* a frame is cut short */
        free(c->pend);
        c->pend = NULL;
    }
    conn_wake(&c->base);
}

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Write what is pending, then what is queued, until the socket is full or
 * nothing is left. */
static void sse_flush(struct sse_conn *c)
{
    char buf[SSE_WRITE_MAX];
    size_t n;
    ssize_t k;

    for (;;) {
        if (c->pend) {
            k = send(c->io.fd, c->pend + c->pend_off, c->pend_len - c->pend_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k < 0 && !would_block(errno))
                goto gone;
            c->pend_off += k > 0 ? (uint32_t)k : 0;
            if (c->pend_off < c->pend_len) {
                sse_want_out(c, true);
                return;
            }
            free(c->pend);
            c->pend = NULL;
        }
        if (c->end) {
            sse_leave(c);
            return;
        }
        n = sse_fill(c, buf, sizeof(buf));
        if (n == 0) {
            sse_want_out(c, false);
            return;
        }
        k = send(c->io.fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && !would_block(errno))
            goto gone;
        if (k < 0)
            k = 0;
        if ((size_t)k < n) {
            c->pend = malloc(n - (size_t)k);
            if (!c->pend)
                goto gone;
            memcpy(c->pend, buf + k, n - (size_t)k);
            c->pend_off = 0;
            c->pend_len = (uint32_t)(n - (size_t)k);
            sse_want_out(c, true);
            return;
        }
    }
gone:
    /* The client left (or memory ran out): the stream stays resumable. */
    if (!c->end)
        c->end = MHD_CONTENT_READER_END_WITH_ERROR;
    sse_leave(c);
}

static void sse_io(struct loop_io *io, uint32_t revents)
{
    struct sse_conn *c = container_of(io, struct sse_conn, io);

    if (!c->direct)
        return; /* a stale event of this pass */
    if (revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (!c->end)
            c->end = MHD_CONTENT_READER_END_WITH_ERROR;
        sse_leave(c);
    } else if (revents & EPOLLOUT) {
        sse_flush(c);
    }
}

static void sse_flush_soon(struct sse_conn *c)
{
    if (c->flush_queued)
        return;
    c->flush_queued = true;
    conn_ref(&c->base);
    c->flush_next = flushes;
    flushes = c;
}

/* Write to every connection flagged by sse_flush_soon. */
static void sse_run(int64_t now_ms)
{
    while (flushes) {
        struct sse_conn *c = flushes;

        flushes = c->flush_next;
        c->flush_queued = false;
        if (c->direct)
            sse_flush(c);
        conn_unref(&c->base);
    }
}

/* Take the socket of the suspended connection c: false if it cannot be. */
static bool sse_go_direct(struct sse_conn *c)
{
    const union MHD_ConnectionInfo *ci;
    int one = 1, zero = 0;

    ci = MHD_get_connection_info(c->base.mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    /* MHD may leave the socket corked or with Nagle on after its last send. */
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->io.cb = sse_io;
    if (loop_io_set(&c->io, ci->connect_fd, EPOLLRDHUP))
        return false;
    c->direct = true;
    sse_flush_soon(c); /* whatever came after the first block */
    return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse_conn *c = cls;
    size_t n;

    if (c->end)
        return c->end;
    if (pos == 0 && (n = sse_fill(c, buf, max)) > 0)
        return (ssize_t)n;
    /* Everything MHD had is sent (it calls the reader only then). */
    MHD_suspend_connection(c->base.mc);
    c->base.suspended = true;
    if (!sse_go_direct(c)) {
        log_warn("SSE stream of user %lld: cannot take its socket", (long long)c->base.user_id);
        c->end = MHD_CONTENT_READER_END_WITH_ERROR;
        conn_wake(&c->base);
    }
    return 0;
}

static void sse_free(void *cls)
{
    struct sse_conn *c = cls;

    conn_unref(&c->base);
}

/* The 200 text/event-stream response, reading from c. */
static enum MHD_Result sse_respond(struct push_conn *b)
{
    struct sse_conn *c = sse_of(b);
    struct MHD_Response *r;
    enum MHD_Result ret;

    b->phase = CONN_RESPONDED;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, c, sse_free);
    if (!r)
        return MHD_NO;
    conn_ref(b);
    MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    iplimit_headers(r, b->mc);
    c->last_send_ms = loop_now_ms();
    ret = MHD_queue_response(b->mc, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* End a stream past its age; ask for a heartbeat comment if c has been
 * quiet for heartbeat_ms. */
static void sse_tick(struct push_conn *b, int64_t now)
{
    struct sse_conn *c = sse_of(b);

    if (b->phase != CONN_RESPONDED || c->end)
        return;
    if (b->s && loop_unix() - b->s->opened_at > CONN_STREAM_MAX_AGE_S) {
        hub_stream_close(b->s); /* a resume would extend it: not resumable */
        b->s = NULL;
        sse_end_with(c, MHD_CONTENT_READER_END_OF_STREAM);
        return;
    }
    if (now - c->last_send_ms < heartbeat_ms)
        return;
    c->hb_pending = true;
    sse_wake_conn(c);
}

static void sse_end(struct push_conn *c, bool error)
{
    sse_end_with(sse_of(c),
                 error ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM);
}

static void sse_shutdown(struct push_conn *c)
{
    if (c->phase != CONN_RESPONDED) {
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "shutting down");
        return;
    }
    if (c->s)
        hub_stream_close(c->s);
    c->s = NULL;
    sse_end(c, false);
}

static struct push_conn *sse_alloc(void)
{
    struct sse_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->io.fd = -1;
    return &c->base;
}

static void sse_release(struct push_conn *b)
{
    struct sse_conn *c = sse_of(b);

    if (c->cur)
        hub_event_unref(c->cur);
    free(c);
}

static void sse_init(const struct cfg *cfg, const unsigned char *key)
{
    heartbeat_ms = (int64_t)cfg->heartbeat * 1000;
    if (heartbeat_ms <= 0 || heartbeat_ms > 20000)
        heartbeat_ms = 15000;
}

const struct sub_ops sub_sse_ops = {
    .name = "sse",
    .wake = sse_wake,
    .kick = sse_kick,
    .alloc = sse_alloc,
    .release = sse_release,
    .respond = sse_respond,
    .tick = sse_tick,
    .end = sse_end,
    .shutdown = sse_shutdown,
    .init = sse_init,
    .run = sse_run,
};
