/* sub_poll.c - the long-poll transport: GET /poll answers {events, cursor}.
 *
 * A poll attaches to its stream (new, or resumed by cursor: hub.h) for one
 * request. Events already queued after the cursor are answered at once;
 * otherwise the connection is suspended in the access handler until the hub
 * wakes it or its deadline passes (then `events` is empty). Answered events
 * are marked sent but stay in the stream's replay buffer, so the same cursor
 * sent again returns the same events (API.md "Transports", long-poll): the
 * cursor returned acknowledges nothing until it comes back. Between polls
 * the stream is detached and lingers (HUB_LINGER_S), queueing.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "iplimit.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "sub.h"

/* This transport (defined at the end; http.c's route table names it). */
extern const struct sub_ops sub_poll_ops;

#define POLL_MAX_EVENTS 500         /* per answer; the rest waits for the next poll */
#define POLL_MAX_BYTES (256 * 1024) /* same, in bytes of event JSON */
#define POLL_DEFAULT_S 25           /* API.md "Transports": long-poll timeout */
#define POLL_MAX_S 60

struct poll_conn {
    struct push_conn base;
    int64_t deadline_ms;         /* answer, empty if need be, by then */
    bool due;                    /* answer now with what is queued */
    char cursor[HUB_CURSOR_MAX]; /* the cursor the poll came with, "" if none */
};

static struct poll_conn *poll_of(struct push_conn *c)
{
    return container_of(c, struct poll_conn, base);
}

static void poll_wake(struct hub_stream *s)
{
    conn_wake(conn_of_stream(s));
}

static void poll_kick(struct hub_stream *s, enum hub_kick why)
{
    struct push_conn *c = conn_of_stream(s);

    c->s = NULL; /* the hub's now */
    if (c->phase == CONN_RESPONDED)
        return;
    if (why == HUB_KICK_REVOKED) {
        conn_fail(c, 401, "unauthorized", "session revoked");
    } else if (c->phase == CONN_STREAM) {
        /* Replaced by a newer poll, or overflowed: answer what we have (nothing). */
        poll_of(c)->due = true;
        conn_wake(c);
    } else {
        conn_fail(c, 503, "unavailable", "stream taken over");
    }
}

/* {"events":[...],"cursor":"..."} from what s has queued; marks it sent. */
static void poll_body(struct push_conn *c, struct buf *b)
{
    char cur[HUB_CURSOR_MAX];
    struct hub_event *ev;
    uint64_t seq;
    size_t bytes = 0;
    int n = 0;

    buf_adds(b, "{\"events\":[");
    if (c->s) {
        hub_cursor_format(c->s, c->s->next_seq - 1, cur);
        while (n < POLL_MAX_EVENTS && (ev = hub_stream_next(c->s, &seq)) &&
               (n == 0 || bytes + ev->json_len <= POLL_MAX_BYTES)) {
            if (n++)
                buf_addch(b, ',');
            buf_add(b, ev->text + ev->json_off, ev->json_len);
            bytes += ev->json_len;
            hub_cursor_format(c->s, seq, cur);
            hub_stream_sent(c->s, loop_unix());
            ops_delivered(ev);
        }
        ops_fanned_out(&sub_poll_ops, (unsigned)n);
    } else {
        memcpy(cur, poll_of(c)->cursor, sizeof(cur));
    }
    buf_adds(b, "],\"cursor\":");
    buf_add_json_str(b, cur, strlen(cur));
    buf_adds(b, "}");
}

/* Answer {events, cursor} if events are queued, the deadline passed or the
 * stream is gone; else suspend until the hub or the tick wakes it. */
static enum MHD_Result poll_respond(struct push_conn *c)
{
    struct poll_conn *p = poll_of(c);
    struct MHD_Response *r;
    enum MHD_Result ret;
    struct buf b;
    char *body;
    size_t len;

    if (c->s && !p->due && !hub_stream_next(c->s, NULL) && loop_now_ms() < p->deadline_ms) {
        MHD_suspend_connection(c->mc);
        c->suspended = true;
        return MHD_YES;
    }
    c->phase = CONN_RESPONDED;
    if (!c->s && !p->cursor[0])
        return conn_reply_error(c->mc, 503, "unavailable", "stream closed");
    buf_init(&b);
    poll_body(c, &b);
    body = buf_detach(&b, &len);
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    iplimit_headers(r, c->mc);
    ret = MHD_queue_response(c->mc, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* Wake c if its deadline has passed; close a stream past its age. */
static void poll_tick(struct push_conn *c, int64_t now_ms)
{
    struct poll_conn *p = poll_of(c);

    if (c->phase != CONN_STREAM)
        return;
    if (c->s && loop_unix() - c->s->opened_at > CONN_STREAM_MAX_AGE_S) {
        hub_stream_close(c->s); /* the next poll opens a new stream */
        c->s = NULL;
        p->due = true;
        conn_wake(c);
    }
    if (now_ms >= p->deadline_ms)
        conn_wake(c);
}

/* ?timeout= of a poll: seconds, default 25, at most 60 (API.md); and the
 * cursor it came with, answered back if its stream is gone. */
static int poll_check(struct push_conn *c)
{
    struct poll_conn *p = poll_of(c);
    const char *t = MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "timeout");
    const char *cursor = MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "cursor");
    int64_t v = POLL_DEFAULT_S;

    if (t && *t && json_parse_int(t, 0, POLL_MAX_S, &v)) {
        c->status = MHD_HTTP_BAD_REQUEST;
        c->code = "invalid_request";
        c->message = "timeout must be an integer from 0 to 60";
        return -1;
    }
    p->deadline_ms = loop_now_ms() + v * 1000;
    if (cursor && strlen(cursor) < sizeof(p->cursor))
        strcpy(p->cursor, cursor);
    return 0;
}

static void poll_shutdown(struct push_conn *c)
{
    if (c->phase == CONN_STREAM) {
        poll_of(c)->due = true; /* answer at once with what is queued */
        conn_wake(c);
    } else if (c->phase != CONN_RESPONDED) {
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "shutting down");
    }
}

static struct push_conn *poll_alloc(void)
{
    struct poll_conn *p = calloc(1, sizeof(*p));

    return p ? &p->base : NULL;
}

static void poll_release(struct push_conn *c)
{
    free(poll_of(c));
}

const struct sub_ops sub_poll_ops = {
    .name = "poll",
    .cursor_auth = true,
    .wake = poll_wake,
    .kick = poll_kick,
    .alloc = poll_alloc,
    .release = poll_release,
    .check = poll_check,
    .respond = poll_respond,
    .tick = poll_tick,
    .shutdown = poll_shutdown,
};
