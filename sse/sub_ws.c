/* sub_ws.c - the WebSocket transport (RFC 6455) with libwslay's event API.
 *
 * The request goes through http.c like SSE and long-poll (auth, baseline,
 * resume), on its own MHD daemon; once the stream is ready it is answered
 * 101 with MHD_create_response_for_upgrade, and the socket is ours: it joins
 * the epoll set and wslay frames it. Server frames are
 * {"cursor": "...", "event": {...}} (one event in wslay's queue at a time,
 * built by a fragmented-message read callback from the shared event text, so
 * the hub's queue is the only queue and nothing is copied per connection
 * besides the bytes written), and replies to client ops. Ops go to chat-api
 * through nginx (fwd.h) with the stream user's token.
 *
 * Close codes (API.md): 1002 protocol errors (unmasked frames, reserved
 * bits or opcodes, oversized or fragmented control frames, a Close with a
 * bad code: wslay; a Close with a 1-byte payload: here), 1009 messages over 64 KiB (wslay,
 * max_recv_msg_length), 1007 text that is not UTF-8 (checked here: wslay
 * does not), 1003 binary data, 4001 session revoked, 4008 slow consumer,
 * 1001 server going away, 1000 at the 24 h stream age. After sending its
 * Close the server reads the peer's and ends TCP as soon as it comes
 * (RFC 6455 §7.1.1), waiting at most WS_CLOSE_WAIT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "conn.h"
#include "fwd.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "sub.h"
#include "ws_op.h"

#define WS_MAX_MSG (64 * 1024) /* API.md: 1009 past this */
#define WS_PING_MS 15000       /* server pings keep nginx and NATs awake */
#define WS_IDLE_MS 45000       /* nothing from the client this long: gone */
#define WS_CLOSE_WAIT_MS 2000  /* after our close frame, wait this for theirs */
#define WS_MAX_OPS 16          /* ops in flight per connection */
#define WS_TOKEN_TTL_S 300     /* minted access tokens for forwarded ops */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws_op;

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
     * left to skip, on the way to the peer's Close (ws_drain_scan). */
    unsigned char dhdr[14];
    unsigned dhdr_len;
    uint64_t dskip;
    int64_t close_at_ms, last_in_ms, last_ping_ms;
    uint16_t close_code;
    struct ws_op *ops;
    int nops;
    struct ws_state *prev, *next;  /* every upgraded connection */
    struct ws_state *pending_next; /* woken, to run in sub_ws_run */
    struct ws_state *grave_next;   /* finished, freed in sub_ws_run */
};

struct ws_op {
    struct ws_state *w;
    struct fwd_req *req;
    char *id; /* the op's id as JSON text */
    struct ws_op *next;
};

static struct {
    const struct cfg *cfg;
    const unsigned char *key;
    struct ws_state *all, *pending, *graveyard;
    unsigned n;
    bool stopping;
} WS;

/* ---- handshake ---- */

static bool header_has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);

    for (const char *p = v; p && *p; p++) {
        if (strncasecmp(p, tok, n) == 0 && (p == v || p[-1] == ' ' || p[-1] == ',') &&
            (p[n] == 0 || p[n] == ',' || p[n] == ' '))
            return true;
    }
    return false;
}

/* Origins allowed: the nginx URL (as 127.0.0.1 and localhost, https:// when
 * cfg tls says nginx serves TLS) and cfg ws_origins. No Origin header: not a
 * browser, nothing to check. */
static bool origin_ok(const char *origin)
{
    char own[64];
    const char *list = WS.cfg->ws_origins;
    const char *scheme = WS.cfg->tls ? "https" : "http";
    size_t n;

    if (!origin)
        return true;
    snprintf(own, sizeof(own), "%s://127.0.0.1:%d", scheme, WS.cfg->port);
    if (strcmp(origin, own) == 0)
        return true;
    snprintf(own, sizeof(own), "%s://localhost:%d", scheme, WS.cfg->port);
    if (strcmp(origin, own) == 0)
        return true;
    n = strlen(origin);
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);

        while (len && *list == ' ')
            list++, len--;
        while (len && list[len - 1] == ' ')
            len--;
        if (len == n && memcmp(list, origin, n) == 0)
            return true;
        list = end ? end + 1 : NULL;
    }
    return false;
}

int sub_ws_check(struct MHD_Connection *mc, unsigned *status, const char **code,
                 const char **message)
{
    const char *up = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Upgrade");
    const char *key = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *ver = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    const char *origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");

    *status = 400;
    *code = "invalid_request";
    if (!up || !header_has_token(up, "websocket")) {
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
    if (!origin_ok(origin)) {
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
static void ws_op(struct ws_state *w, const char *text, size_t len);

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
    ws_op(w, (const char *)arg->msg, arg->msg_length);
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
 * the shared event text in place (the pieces are the conn's SSE fields). */
static ssize_t ws_event_read(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                             const union wslay_event_msg_source *source, int *eof, void *user)
{
    struct push_conn *c = source->data;
    size_t n = 0, total, k;
    const char *src;

    total = c->idlen + c->cur->json_len + 1;
    if (c->cur_off == 0 && len > 0) { /* wslay is writing the frame out now */
        ops_delivered(c->cur);
        ops_fanned_out(&sub_ws_ops, 1);
    }
    while (n < len && c->cur_off < total) {
        if (c->cur_off < c->idlen) {
            src = c->idline + c->cur_off;
            k = c->idlen - c->cur_off;
        } else if (c->cur_off < c->idlen + c->cur->json_len) {
            src = c->cur->text + c->cur->json_off + (c->cur_off - c->idlen);
            k = c->cur->json_len - (c->cur_off - c->idlen);
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
        c->ws_msg_done = true;
    }
    return (ssize_t)n;
}

/* Queue the next event if wslay has none of ours. */
static void ws_queue_event(struct ws_state *w)
{
    struct push_conn *c = w->c;
    struct wslay_event_fragmented_msg m;
    struct hub_event *ev;
    uint64_t seq;
    int n;

    if (c->ws_msg_done) {
        c->ws_msg_done = false;
        w->msg_queued = false;
    }
    if (w->msg_queued || w->closing || !c->s)
        return;
    ev = hub_stream_next(c->s, &seq);
    if (!ev)
        return;
    hub_event_ref(ev);
    memcpy(c->idline, "{\"cursor\":\"", 11);
    n = hub_cursor_format(c->s, seq, c->idline + 11);
    memcpy(c->idline + 11 + n, "\",\"event\":", 10);
    c->idlen = 11 + (size_t)n + 10;
    c->cur = ev;
    c->cur_off = 0;
    hub_stream_sent(c->s, loop_unix());
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
    struct ws_op *op;

    if (w->finished)
        return;
    w->finished = true;
    loop_io_del(&w->io);
    while ((op = w->ops)) {
        w->ops = op->next;
        fwd_cancel(op->req);
        free(op->id);
        free(op);
    }
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
    http_kick_ws();
    if (w->prev)
        w->prev->next = w->next;
    else
        WS.all = w->next;
    if (w->next)
        w->next->prev = w->prev;
    WS.n--;
    c->ws = NULL;
    /* Freed in sub_ws_run, after this pass's epoll reports. */
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

/* Walk the frames the peer sends after wslay stopped reading (RFC 6455
 * §5.2 header: 2 bytes, 2 or 8 of extended length, 4 of mask key), skipping
 * payloads; true once a Close frame starts. After a protocol error the
 * bytes may not start at a frame boundary: a wrong guess only ends the
 * wait early or leaves it to WS_CLOSE_WAIT_MS. */
static bool ws_drain_scan(struct ws_state *w, const unsigned char *p, size_t n)
{
    while (n) {
        unsigned need, len7;
        uint64_t len = 0;

        if (w->dskip) {
            size_t k = n < w->dskip ? n : (size_t)w->dskip;

            p += k;
            n -= k;
            w->dskip -= k;
            continue;
        }
        w->dhdr[w->dhdr_len++] = *p++;
        n--;
        if (w->dhdr_len < 2)
            continue;
        /* A client's Close: FIN, masked, at most 125 bytes (§5.5). */
        if (w->dhdr[0] == (0x80 | WSLAY_CONNECTION_CLOSE) && (w->dhdr[1] & 0x80) &&
            (w->dhdr[1] & 0x7f) <= 125)
            return true;
        len7 = w->dhdr[1] & 0x7f;
        need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (w->dhdr[1] & 0x80 ? 4 : 0);
        if (w->dhdr_len < need)
            continue;
        if (len7 < 126)
            len = len7;
        for (unsigned i = 0; len7 >= 126 && i < (len7 == 126 ? 2u : 8u); i++)
            len = len << 8 | w->dhdr[2 + i];
        w->dskip = len;
        w->dhdr_len = 0;
    }
    return false;
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
        if (n > 0 && ws_drain_scan(w, junk, (size_t)n)) {
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
        if (!w->c->ws_msg_done && wslay_event_want_write(w->wc))
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
    struct ws_state *w = (struct ws_state *)((char *)io - offsetof(struct ws_state, io));

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

    if (c->ws)
        ws_schedule(c->ws);
}

static void ws_kick(struct hub_stream *s, enum hub_kick why)
{
    struct push_conn *c = conn_of_stream(s);

    c->s = NULL;
    if (!c->ws) {
        if (why == HUB_KICK_REVOKED)
            conn_fail(c, 401, "unauthorized", "session revoked");
        else
            conn_fail(c, 503, "unavailable", "stream taken over");
        return;
    }
    if (why == HUB_KICK_REVOKED)
        ws_close(c->ws, 4001, "session revoked");
    else if (why == HUB_KICK_OVERFLOW)
        ws_close(c->ws, 4008, "slow consumer");
    else
        ws_close(c->ws, 4000, "stream taken over by a newer connection");
}

const struct sub_ops sub_ws_ops = {
    .name = "ws",
    .wake = ws_wake,
    .kick = ws_kick,
};

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
    w->urh = urh;
    w->fd = sock;
    w->io = (struct loop_io)LOOP_IO_INIT(ws_io);
    w->last_in_ms = w->last_ping_ms = loop_now_ms();
    conn_ref(c); /* the WebSocket's */
    c->ws = w;
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

struct MHD_Response *sub_ws_response(struct push_conn *c)
{
    const char *key = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    unsigned char sha[SHA_DIGEST_LENGTH];
    char in[96], accept[64];
    struct MHD_Response *r;

    if (!key)
        return NULL;
    snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)in, strlen(in), sha);
    EVP_EncodeBlock((unsigned char *)accept, sha, sizeof(sha));
    r = MHD_create_response_for_upgrade(ws_upgraded, c);
    if (!r)
        return NULL;
    MHD_add_response_header(r, "Upgrade", "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    http_rate_headers(r, c->mc);
    return r;
}

/* ---- client ops ---- */

static void ws_reply_error(struct ws_state *w, const char *id, const char *code, const char *msg)
{
    struct buf b;

    buf_init(&b);
    buf_addf(&b, "{\"op\":\"error\",\"id\":%s,\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
             id ? id : "null", code, msg);
    ws_reply(w, b.s, b.len);
    buf_release(&b);
}

static void ws_reply_ack(struct ws_state *w, const char *id, const char *result, size_t len)
{
    struct buf b;

    buf_init(&b);
    buf_addf(&b, "{\"op\":\"ack\",\"id\":%s,\"result\":", id);
    buf_add(&b, result, len);
    buf_addch(&b, '}');
    ws_reply(w, b.s, b.len);
    buf_release(&b);
}

static void on_forwarded(void *arg, long status, const char *body, size_t len)
{
    struct ws_op *op = arg, **p;
    struct ws_state *w = op->w;
    const char *why = NULL;
    cJSON *root;

    for (p = &w->ops; *p && *p != op; p = &(*p)->next)
        ;
    if (*p)
        *p = op->next;
    w->nops--;
    while (len && (body[len - 1] == '\n' || body[len - 1] == ' ' || body[len - 1] == '\r'))
        len--;
    if (status >= 200 && status < 300) {
        ws_reply_ack(w, op->id, len ? body : "{}", len ? len : 2);
    } else if (status && (root = json_parse(body, len, &why)) &&
               cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "error"))) {
        char *err = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "error"));
        struct buf b;

        buf_init(&b);
        buf_addf(&b, "{\"op\":\"error\",\"id\":%s,\"status\":%ld,\"error\":%s}", op->id, status,
                 err ? err : "null");
        ws_reply(w, b.s, b.len);
        buf_release(&b);
        free(err);
        cJSON_Delete(root);
    } else {
        if (status)
            cJSON_Delete(root);
        ws_reply_error(w, op->id, "unavailable", "chat-api did not answer");
    }
    free(op->id);
    free(op);
    ws_schedule(w);
}

/* The user's token for chat-api: their personal API token, or an access
 * token minted for the stream's session (same key, iss, aud; the
 * token_version read with the baseline, so logout-all still revokes it). */
static void ws_token(struct ws_state *w, struct buf *out)
{
    struct push_conn *c = w->c;
    struct jwt_claims cl;

    if (c->pat) {
        buf_adds(out, c->pat);
        return;
    }
    memset(&cl, 0, sizeof(cl));
    cl.sub = c->user_id;
    cl.sid = c->session_id;
    cl.tv = c->token_version;
    cl.iat = cl.nbf = loop_unix();
    cl.exp = cl.iat + WS_TOKEN_TTL_S;
    jwt_sign(WS.key, WS.cfg->jwt_issuer, WS.cfg->jwt_audience, &cl, out);
}

static void ws_forward(struct ws_state *w, const char *id, const char *path, const char *body,
                       size_t len)
{
    struct ws_op *op;
    struct buf tok;

    if (w->nops >= WS_MAX_OPS) {
        ws_reply_error(w, id, "rate_limited", "too many ops in flight");
        return;
    }
    op = calloc(1, sizeof(*op));
    if (!op) {
        ws_reply_error(w, id, "internal", "out of memory");
        return;
    }
    buf_init(&tok);
    ws_token(w, &tok);
    op->w = w;
    op->id = strdup(id);
    op->req = fwd_post(path, tok.s, body, len, on_forwarded, op);
    buf_release(&tok);
    if (!op->req || !op->id) {
        free(op->id);
        free(op);
        ws_reply_error(w, id, "internal", "cannot forward");
        return;
    }
    op->next = w->ops;
    w->ops = op;
    w->nops++;
}

static void ws_resume_op(struct ws_state *w, const char *id, const char *cursor)
{
    struct push_conn *c = w->c;
    struct hub_stream *s;

    s = c->s ? hub_stream_resume(c->s->hub, cursor, c->user_id, c->session_id, &sub_ws_ops, c,
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
    ws_reply_ack(w, id, s ? "{\"resumed\":true}" : "{\"resumed\":false}", s ? 16 : 17);
    w->msg_queued = w->msg_queued && c->cur;
}

static void ws_op(struct ws_state *w, const char *text, size_t len)
{
    const char *code, *why;
    char path[96];
    struct ws_client_op op;
    struct buf body;

    if (ws_client_op_parse(text, len, &op, &code, &why)) {
        ws_reply_error(w, op.id, code, why);
        goto out;
    }
    buf_init(&body);
    switch (op.kind) {
    case WS_OP_PING: ws_reply_ack(w, op.id, "{}", 2); goto out_body;
    case WS_OP_RESUME: ws_resume_op(w, op.id, op.cursor); goto out_body;
    case WS_OP_SEND:
        buf_adds(&body, "{\"content\":");
        buf_add_json_str(&body, op.content, strlen(op.content));
        buf_adds(&body, ",\"client_msg_id\":");
        buf_add_json_str(&body, op.client_msg_id, strlen(op.client_msg_id));
        buf_addch(&body, '}');
        snprintf(path, sizeof(path), "/api/v1/chats/%" PRId64 "/messages", op.chat_id);
        break;
    case WS_OP_TYPING:
        buf_adds(&body, "{}");
        snprintf(path, sizeof(path), "/api/v1/chats/%" PRId64 "/typing", op.chat_id);
        break;
    case WS_OP_READ:
        buf_addf(&body, "{\"seq\":%" PRId64 "}", op.seq);
        snprintf(path, sizeof(path), "/api/v1/chats/%" PRId64 "/read", op.chat_id);
        break;
    }
    ws_forward(w, op.id, path, body.s, body.len);
out_body:
    buf_release(&body);
out:
    ws_client_op_release(&op);
}

/* ---- the loop's side ---- */

void sub_ws_init(const struct cfg *cfg, const unsigned char *key)
{
    WS.cfg = cfg;
    WS.key = key;
}

void sub_ws_run(int64_t now)
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

bool sub_ws_busy(void)
{
    return WS.pending || WS.graveyard;
}

void sub_ws_tick(int64_t now)
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
            ws_close(w, 1001, "server going away");
            continue;
        }
        if (w->c->s && unix_now - w->c->s->opened_at > 86400) {
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

void sub_ws_shutdown(void)
{
    WS.stopping = true;
    sub_ws_tick(loop_now_ms());
}

unsigned sub_ws_active(void)
{
    return WS.n;
}
