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
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "sub.h"

#define POLL_MAX_EVENTS 500         /* per answer; the rest waits for the next poll */
#define POLL_MAX_BYTES (256 * 1024) /* same, in bytes of event JSON */

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
        c->poll_due = true;
        conn_wake(c);
    } else {
        conn_fail(c, 503, "unavailable", "stream taken over");
    }
}

const struct sub_ops sub_poll_ops = {
    .name = "poll",
    .wake = poll_wake,
    .kick = poll_kick,
};

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
        memcpy(cur, c->cursor, sizeof(cur));
    }
    buf_adds(b, "],\"cursor\":");
    buf_add_json_str(b, cur, strlen(cur));
    buf_adds(b, "}");
}

enum MHD_Result sub_poll_continue(struct push_conn *c)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    struct buf b;
    char *body;
    size_t len;

    if (c->s && !c->poll_due && !hub_stream_next(c->s, NULL) &&
        loop_now_ms() < c->poll_deadline_ms) {
        MHD_suspend_connection(c->mc);
        c->suspended = true;
        return MHD_YES;
    }
    c->phase = CONN_RESPONDED;
    if (!c->s && !c->cursor[0])
        return http_reply_error(c->mc, 503, "unavailable", "stream closed");
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
    http_rate_headers(r, c->mc);
    ret = MHD_queue_response(c->mc, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

void sub_poll_tick(struct push_conn *c, int64_t now_ms)
{
    if (c->phase == CONN_STREAM && now_ms >= c->poll_deadline_ms)
        conn_wake(c);
}
