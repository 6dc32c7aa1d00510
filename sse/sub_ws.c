/* sub_ws.c - the WebSocket transport (RFC 6455) with libwslay's event API.
 *
 * The request goes through auth.c like SSE and long-poll (auth, baseline,
 * resume), on its own MHD daemon; once the stream is ready it is answered
 * 101 with MHD_create_response_for_upgrade, and the socket is ours: it joins
 * the epoll set and wslay frames it. Server frames are
 * {"cursor": "...", "event": {...}} (one event in wslay's queue at a time,
 * built by a fragmented-message read callback from the shared event text, so
 * the hub's queue is the only queue and nothing is copied per connection
 * besides the bytes written), and replies to client ops (ws_ops.c: one op
 * table; forwarded ops go to chat-api through nginx with the user's token).
 *
 * Close codes (API.md): 1002 protocol errors (unmasked frames, reserved
 * bits or opcodes, oversized or fragmented control frames, a Close with a
 * bad code: wslay; a Close with a 1-byte payload: here), 1009 messages over 64 KiB (wslay,
 * max_recv_msg_length), 1007 text that is not UTF-8 (checked here: wslay
 * does not), 1003 binary data, 4001 session revoked, 4008 slow consumer,
 * 1012 service restart (SIGTERM: reconnect, to another process when there
 * are several; RFC 6455 §7.4, IANA registry), 1000 at the 24 h stream age. After sending its
 * Close the server reads the peer's and ends TCP as soon as it comes
 * (RFC 6455 §7.1.1), waiting at most WS_CLOSE_WAIT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "cfg.h"
#include "conn.h"
#include "iplimit.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "sub.h"
#include "ws_ops.h"
#include "ws_proto.h"

/* This transport (defined at the end; http.c's route table names it). */
extern const struct sub_ops sub_ws_ops;

#define WS_MAX_MSG (64 * 1024) /* API.md: 1009 past this */
#define WS_PING_MS 15000       /* server pings keep nginx and NATs awake */
#define WS_IDLE_MS 45000       /* nothing from the client this long: gone */
#define WS_CLOSE_WAIT_MS 2000  /* after our close frame, wait this for theirs */

struct ws_state {
    struct push_conn *c;
    struct MHD_UpgradeResponseHandle *urh;
    int fd;
    struct loop_io io;
    wslay_event_context_ptr wc;
    char *extra; /* bytes MHD read past the request headers */
    size_t extra_len, extra_off;
    bool msg_queued; /* an event message sits in wslay's queue */
    bool closing, finished, pending;
    bool peer_gone;    /* recv saw EOF or an error */
    bool peer_closing; /* a Close frame of the peer has started (valid or not) */
    bool draining;     /* our close is sent, wslay reads no more: discard input */
    /* While draining: the frame header being read, or the payload bytes
     * left to skip, on the way to the peer's Close (ws_drain_scan, ws_proto.h). */
    struct ws_drain drain;
    int64_t close_at_ms, last_in_ms, last_ping_ms;
    uint16_t close_code;
    struct ws_peer peer;           /* its client ops (ws_ops.h) */
    struct ws_state *prev, *next;  /* every upgraded connection */
    struct ws_state *pending_next; /* woken, to run in ws_run */
    struct ws_state *grave_next;   /* finished, freed in ws_run */
};

/* A WebSocket request; once upgraded, ws is its socket's state. */
struct ws_conn {
    struct push_conn base;
    struct ws_state *ws;
    bool msg_done;         /* the event message in wslay's queue went out */
    struct hub_event *cur; /* the event message being read by wslay: head then cur's JSON */
    char head[HUB_CURSOR_MAX + 24];
    size_t head_len, cur_off;
};

static struct ws_conn *ws_of(struct push_conn *c)
{
    return container_of(c, struct ws_conn, base);
}

static struct {
    const struct cfg *cfg;
    struct ws_state *all, *pending, *graveyard;
    unsigned n;
    bool stopping;
    bool daemon_due; /* an upgraded socket was closed: MHD must clean up */
} WS;

/* ---- handshake ---- */

/* The upgrade request's headers and Origin, before any auth. */
static int ws_check(struct push_conn *c)
{
    struct MHD_Connection *mc = c->mc;
    unsigned *status = &c->status;
    const char **code = &c->code, **message = &c->message;

    const char *up = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Upgrade");
    const char *key = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *ver = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    const char *origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");

    *status = 400;
    *code = "invalid_request";
    if (!up || !ws_header_has_token(up, "websocket")) {
        *status = 426;
        *code = "upgrade_required";
        *message = "a WebSocket upgrade is required";
        return -1;
    }
    if (!key || strlen(key) != 24) {
        *message = "missing or malformed Sec-WebSocket-Key";
        return -1;
    }
    if (!ver || strcmp(ver, "13") != 0) {
        *status = 426;
        *code = "upgrade_required";
        *message = "Sec-WebSocket-Version 13 is required";
        return -1;
    }
    if (!ws_origin_ok(WS.cfg, origin)) {
        *status = 403;
        *code = "forbidden";
        *message = "origin not allowed";
        return -1;
    }
    return 0;
}

/* ---- wslay callbacks ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    struct ws_state *w = user;
    ssize_t n;

    if (w->extra_off < w->extra_len) {
        n = (ssize_t)(w->extra_len - w->extra_off < len ? w->extra_len - w->extra_off : len);
        memcpy(buf, w->extra + w->extra_off, (size_t)n);
        w->extra_off += (size_t)n;
        return n;
    }
    n = recv(w->fd, buf, len, 0);
    if (n > 0) {
        w->last_in_ms = loop_now_ms();
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        w->peer_gone = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    struct ws_state *w = user;
    ssize_t n = send(w->fd, data, len, MSG_NOSIGNAL | (flags & WSLAY_MSG_MORE ? MSG_MORE : 0));

    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    memset(buf, 0, len); /* servers do not mask */
    return 0;
}

static void ws_reply(struct ws_state *w, const char *text, size_t len)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};

    if (!w->closing)
        wslay_event_queue_msg(w->wc, &m);
}

static void ws_close(struct ws_state *w, uint16_t code, const char *reason);
static void ws_schedule(struct ws_state *w);

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    struct ws_state *w = user;

    if (wslay_is_ctrl_frame(arg->opcode))
        return; /* ping, pong, close: wslay answers them */
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        ws_close(w, 1003, "binary frames are not supported");
        return;
    }
    if (!json_utf8_valid((const char *)arg->msg, arg->msg_length)) {
        ws_close(w, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "invalid UTF-8");
        return;
    }
    ws_ops_handle(&w->peer, (const char *)arg->msg, arg->msg_length);
}

/* A frame starts. A Close of the peer ends the exchange as soon as ours is
 * out, even one wslay rejects (a bad code: wslay then stops reading);
 * a Close with a 1-byte payload is a protocol error (RFC 6455 §5.5.1: the
 * body, if any, starts with a 2-byte code), which wslay would echo as a
 * Close without code: queue our 1002 first. */
static void ws_on_frame_start(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    struct ws_state *w = user;

    if (arg->opcode != WSLAY_CONNECTION_CLOSE)
        return;
    w->peer_closing = true;
    if (arg->payload_length == 1)
        ws_close(w, WSLAY_CODE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, ws_genmask_cb, ws_on_frame_start, NULL, NULL, ws_on_msg,
};

/* ---- events out ---- */

/* Fill one event message: "{"cursor":"<c>","event":" + JSON + "}", reading
 * the shared event text in place (the pieces are struct ws_conn's). */
static ssize_t ws_event_read(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                             const union wslay_event_msg_source *source, int *eof, void *user)
{
    struct ws_conn *c = source->data;
    size_t n = 0, total, k;
    const char *src;

    total = c->head_len + c->cur->json_len + 1;
    if (c->cur_off == 0 && len > 0) { /* wslay is writing the frame out now */
        ops_delivered(c->cur);
        ops_fanned_out(&sub_ws_ops, 1);
    }
    while (n < len && c->cur_off < total) {
        if (c->cur_off < c->head_len) {
            src = c->head + c->cur_off;
            k = c->head_len - c->cur_off;
        } else if (c->cur_off < c->head_len + c->cur->json_len) {
            src = c->cur->text + c->cur->json_off + (c->cur_off - c->head_len);
            k = c->cur->json_len - (c->cur_off - c->head_len);
        } else {
            src = "}";
            k = 1;
        }
        if (k > len - n)
            k = len - n;
        memcpy(buf + n, src, k);
        n += k;
        c->cur_off += k;
    }
    if (c->cur_off == total) {
        *eof = 1;
        hub_event_unref(c->cur);
        c->cur = NULL;
        c->msg_done = true;
    }
    return (ssize_t)n;
}

/* Queue the next event if wslay has none of ours. */
static void ws_queue_event(struct ws_state *w)
{
    struct ws_conn *c = ws_of(w->c);
    struct wslay_event_fragmented_msg m;
    struct hub_event *ev;
    uint64_t seq;
    int n;

    if (c->msg_done) {
        c->msg_done = false;
        w->msg_queued = false;
    }
    if (w->msg_queued || w->closing || !c->base.s)
        return;
    ev = hub_stream_next(c->base.s, &seq);
    if (!ev)
        return;
    hub_event_ref(ev);
    memcpy(c->head, "{\"cursor\":\"", 11);
    n = hub_cursor_format(c->base.s, seq, c->head + 11);
    memcpy(c->head + 11 + n, "\",\"event\":", 10);
    c->head_len = 11 + (size_t)n + 10;
    c->cur = ev;
    c->cur_off = 0;
    hub_stream_sent(c->base.s, loop_unix());
    memset(&m, 0, sizeof(m));
    m.opcode = WSLAY_TEXT_FRAME;
    m.source.data = c;
    m.read_callback = ws_event_read;
    if (wslay_event_queue_fragmented_msg(w->wc, &m) == 0)
        w->msg_queued = true;
}

/* ---- lifecycle ---- */

static void ws_finish(struct ws_state *w)
{
    struct push_conn *c = w->c;
    if (w->finished)
        return;
    w->finished = true;
    loop_io_del(&w->io);
    ws_ops_cancel(&w->peer);
    if (c->s) {
        /* Gone without a kick: the stream stays resumable by cursor. */
        if (WS.stopping)
            hub_stream_close(c->s);
        else
            hub_stream_detach(c->s, loop_unix());
        c->s = NULL;
    }
    /* The peer sees the end now; MHD closes the descriptor on its next run. */
    shutdown(w->fd, SHUT_RDWR);
    MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
    WS.daemon_due = true;
    if (w->prev)
        w->prev->next = w->next;
    else
        WS.all = w->next;
    if (w->next)
        w->next->prev = w->prev;
    WS.n--;
    ws_of(c)->ws = NULL;
    /* Freed in ws_run, after this pass's epoll reports. */
    w->grave_next = WS.graveyard;
    WS.graveyard = w;
}

static void ws_close(struct ws_state *w, uint16_t code, const char *reason)
{
    if (w->closing)
        return;
    w->closing = true;
    w->close_code = code;
    w->close_at_ms = loop_now_ms() + WS_CLOSE_WAIT_MS;
    wslay_event_queue_close(w->wc, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
    ws_schedule(w);
}

/* Our close is out and wslay reads no more: read what the peer still
 * sends, and end TCP at once when its Close comes (RFC 6455 §7.1.1: the
 * server closes first) or at its EOF. */
static void ws_drain(struct ws_state *w, bool readable)
{
    unsigned char junk[4096];
    ssize_t n = 1;

    for (int i = 0; readable && i < 16 && n > 0; i++) {
        n = recv(w->fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (n > 0 && ws_drain_scan(&w->drain, junk, (size_t)n)) {
            ws_finish(w);
            return;
        }
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        ws_finish(w);
}

/* Wait for the peer's Close (ws_drain), at most WS_CLOSE_WAIT_MS. */
static void ws_start_drain(struct ws_state *w)
{
    w->draining = true;
    w->closing = true;
    w->close_at_ms = loop_now_ms() + WS_CLOSE_WAIT_MS;
    if (loop_io_set(&w->io, w->fd, EPOLLIN | EPOLLRDHUP))
        ws_finish(w);
}

/* Read, write, and decide what to wait for. */
static void ws_pump(struct ws_state *w, bool readable)
{
    uint32_t want;

    if (w->finished)
        return;
    if (w->draining) {
        ws_drain(w, readable);
        return;
    }
    if (readable && wslay_event_want_read(w->wc)) {
        int rc = wslay_event_recv(w->wc);

        if (rc != 0) {
            /* wslay answers most protocol errors with its own 1002 close, but
             * an error of its frame parser (an oversized or fragmented
             * control frame) only queues a close without a code: say 1002
             * ourselves, best effort, then wait for the peer's Close. */
            static const unsigned char close_1002[] = {0x88, 0x02, 0x03, 0xea};

            if (w->peer_gone) {
                ws_finish(w);
                return;
            }
            if (!wslay_event_get_close_sent(w->wc))
                (void)!send(w->fd, close_1002, sizeof(close_1002), MSG_NOSIGNAL);
            ws_start_drain(w);
            return;
        }
    }
    for (;;) {
        ws_queue_event(w);
        if (!wslay_event_want_write(w->wc))
            break;
        if (wslay_event_send(w->wc) != 0) {
            ws_finish(w);
            return;
        }
        if (!ws_of(w->c)->msg_done && wslay_event_want_write(w->wc))
            break; /* the socket is full */
    }
    if (wslay_event_get_close_sent(w->wc) && !wslay_event_get_close_received(w->wc) &&
        !wslay_event_want_read(w->wc) && !w->peer_gone && !wslay_event_want_write(w->wc)) {
        /* wslay stopped reading (a protocol error, a 1009) while the peer
         * may still be sending: closing now with unread input would answer
         * RST, which can cost the peer our close frame. Read on until the
         * peer's Close (then close at once), its EOF or WS_CLOSE_WAIT_MS;
         * if its Close already came (one wslay rejected), close now. */
        if (w->peer_closing)
            ws_finish(w);
        else
            ws_start_drain(w);
        return;
    }
    if (wslay_event_get_close_sent(w->wc) &&
        (wslay_event_get_close_received(w->wc) || !wslay_event_want_read(w->wc))) {
        ws_finish(w);
        return;
    }
    if (!wslay_event_want_read(w->wc) && !wslay_event_want_write(w->wc)) {
        ws_finish(w);
        return;
    }
    want = (wslay_event_want_read(w->wc) ? EPOLLIN : 0) |
           (wslay_event_want_write(w->wc) ? EPOLLOUT : 0);
    if (loop_io_set(&w->io, w->fd, want | EPOLLRDHUP))
        ws_finish(w);
}

static void ws_io(struct loop_io *io, uint32_t revents)
{
    struct ws_state *w = container_of(io, struct ws_state, io);

    ws_pump(w, (revents & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0);
}

static void ws_schedule(struct ws_state *w)
{
    if (w->pending || w->finished)
        return;
    w->pending = true;
    w->pending_next = WS.pending;
    WS.pending = w;
}

static void ws_wake(struct hub_stream *s)
{
    struct push_conn *c = conn_of_stream(s);

    if (ws_of(c)->ws)
        ws_schedule(ws_of(c)->ws);
}

static void ws_kick(struct hub_stream *s, enum hub_kick why)
{
    struct push_conn *c = conn_of_stream(s);
    struct ws_state *w = ws_of(c)->ws;

    c->s = NULL;
    if (!w) {
        if (why == HUB_KICK_REVOKED)
            conn_fail(c, 401, "unauthorized", "session revoked");
        else
            conn_fail(c, 503, "unavailable", "stream taken over");
        return;
    }
    if (why == HUB_KICK_REVOKED)
        ws_close(w, 4001, "session revoked");
    else if (why == HUB_KICK_OVERFLOW)
        ws_close(w, 4008, "slow consumer");
    else
        ws_close(w, 4000, "stream taken over by a newer connection");
}

/* ---- client ops: the transport's side (ws_ops.h) ---- */

static void peer_reply(struct ws_peer *p, const char *text, size_t len)
{
    ws_reply(container_of(p, struct ws_state, peer), text, len);
}

static void peer_replied(struct ws_peer *p)
{
    ws_schedule(container_of(p, struct ws_state, peer));
}

/* Take over the stream of cursor in place of this connection's own. */
static bool peer_resume(struct ws_peer *p, const char *cursor)
{
    struct ws_state *w = container_of(p, struct ws_state, peer);
    struct push_conn *c = w->c;
    struct hub_stream *s;

    s = c->s ? hub_stream_resume(c->s->hub, cursor, c->user_id, c->session_id, c->ops, c,
                                 loop_unix())
             : NULL;
    if (s && s != c->s) {
        struct hub_stream *old = c->s;

        c->s = s;
        if (s->session_id == 0)
            s->session_id = c->session_id;
        /* It answers to this connection's credentials now: their revoke closes it. */
        s->token_id = c->token_id;
        hub_stream_close(old);
    } else if (s) {
        c->s = s;
    }
    w->msg_queued = w->msg_queued && ws_of(c)->cur;
    return s != NULL;
}

static void ws_upgraded(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    struct push_conn *c = cls;
    struct ws_state *w = calloc(1, sizeof(*w));
    int fl;

    if (!w || wslay_event_context_server_init(&w->wc, &ws_callbacks, w)) {
        free(w);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    if (extra_in_size) {
        w->extra = malloc(extra_in_size);
        if (w->extra) {
            memcpy(w->extra, extra_in, extra_in_size);
            w->extra_len = extra_in_size;
        }
    }
    wslay_event_config_set_max_recv_msg_length(w->wc, WS_MAX_MSG);
    fl = fcntl(sock, F_GETFL);
    fcntl(sock, F_SETFL, fl | O_NONBLOCK);
    w->c = c;
    w->peer = (struct ws_peer){c, peer_reply, peer_replied, peer_resume, NULL, 0};
    w->urh = urh;
    w->fd = sock;
    w->io = (struct loop_io)LOOP_IO_INIT(ws_io);
    w->last_in_ms = w->last_ping_ms = loop_now_ms();
    conn_ref(c); /* the WebSocket's */
    ws_of(c)->ws = w;
    w->next = WS.all;
    if (WS.all)
        WS.all->prev = w;
    WS.all = w;
    WS.n++;
    if (!c->s)
        ws_close(w, 1011, "stream closed");
    ws_schedule(w);
    ws_pump(w, extra_in_size > 0);
}

/* The 101 response; the stream moves to the upgraded socket. */
static enum MHD_Result ws_respond(struct push_conn *c)
{
    const char *key = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    char accept[WS_ACCEPT_LEN];
    struct MHD_Response *r;
    enum MHD_Result ret;

    c->phase = CONN_RESPONDED;
    if (!key)
        return MHD_NO;
    ws_accept_key(key, accept);
    r = MHD_create_response_for_upgrade(ws_upgraded, c);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Upgrade", "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    iplimit_headers(r, c->mc);
    ret = MHD_queue_response(c->mc, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    return ret;
}

/* An upgraded WebSocket keeps its stream; so does one whose upgrade is
 * under way. */
static bool ws_keeps_stream(struct push_conn *c, int toe)
{
    return c->phase == CONN_RESPONDED &&
           (ws_of(c)->ws || toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
}

/* ---- the loop's side ---- */

static void ws_init(const struct cfg *cfg, const unsigned char *key)
{
    WS.cfg = cfg;
    ws_ops_init(cfg, key);
}

static void ws_run(int64_t now)
{
    while (WS.pending) {
        struct ws_state *w = WS.pending;

        WS.pending = w->pending_next;
        w->pending = false;
        ws_pump(w, false);
    }
    while (WS.graveyard) {
        struct ws_state *w = WS.graveyard;

        WS.graveyard = w->grave_next;
        free(w->extra);
        wslay_event_context_free(w->wc);
        conn_unref(w->c);
        free(w);
    }
}

static bool ws_busy(void)
{
    return WS.pending || WS.graveyard;
}

/* Pings, idle and age limits, close timeouts. */
static void ws_tick_all(int64_t now)
{
    struct ws_state *w, *next;
    int64_t unix_now = loop_unix();

    for (w = WS.all; w; w = next) {
        next = w->next;
        if (w->closing) {
            if (now >= w->close_at_ms)
                ws_finish(w);
            continue;
        }
        if (WS.stopping) {
            ws_close(w, 1012, "service restart");
            continue;
        }
        if (w->c->s && unix_now - w->c->s->opened_at > CONN_STREAM_MAX_AGE_S) {
            hub_stream_close(w->c->s); /* a resume would extend it */
            w->c->s = NULL;
            ws_close(w, 1000, "stream too old, reconnect");
            continue;
        }
        if (now - w->last_in_ms > WS_IDLE_MS) {
            ws_finish(w); /* no pong for a long time: gone */
            continue;
        }
        if (now - w->last_ping_ms >= WS_PING_MS) {
            struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};

            w->last_ping_ms = now;
            wslay_event_queue_msg(w->wc, &m);
            ws_schedule(w);
        }
    }
}

/* SIGTERM: close every WebSocket with 1012 (service restart). */
static void ws_shutdown_all(void)
{
    WS.stopping = true;
    ws_tick_all(loop_now_ms());
}

static void ws_shutdown(struct push_conn *c)
{
    if (c->phase != CONN_RESPONDED)
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "shutting down");
}

static unsigned ws_active(void)
{
    return WS.n;
}

static bool ws_daemon_due(void)
{
    bool due = WS.daemon_due;

    WS.daemon_due = false;
    return due;
}

static struct push_conn *ws_alloc(void)
{
    struct ws_conn *c = calloc(1, sizeof(*c));

    return c ? &c->base : NULL;
}

static void ws_release(struct push_conn *b)
{
    struct ws_conn *c = ws_of(b);

    if (c->cur)
        hub_event_unref(c->cur);
    free(c);
}

const struct sub_ops sub_ws_ops = {
    .name = "ws",
    .wake = ws_wake,
    .kick = ws_kick,
    .alloc = ws_alloc,
    .release = ws_release,
    .check = ws_check,
    .respond = ws_respond,
    .shutdown = ws_shutdown,
    .keeps_stream = ws_keeps_stream,
    .init = ws_init,
    .run = ws_run,
    .busy = ws_busy,
    .daemon_due = ws_daemon_due,
    .tick_all = ws_tick_all,
    .shutdown_all = ws_shutdown_all,
    .active = ws_active,
};
