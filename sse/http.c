/* http.c - MHD daemon, routes, stream authentication and the resume batch.
 *
 * A stream request goes: authenticate (a JWT at once, or a ticket through
 * Redis GETDEL), open the hub stream (which subscribes user:{id}), read the
 * baseline from PostgreSQL (the user's chats and versions, token_version
 * and session state in one statement), then answer 200 and let the SSE
 * reader run. The connection is suspended while any of that is pending; the
 * access handler runs again after each resume and answers from c->phase.
 *
 * MHD 0.9.75 traps handled here (DESIGN.md): an explicit connection limit,
 * small pools (4 KiB, WebSocket 8 KiB), SIGPIPE ignored by main.c, resumes only of connections we
 * suspended (flag per connection) and once per loop pass, every suspended
 * connection resumed before MHD_stop_daemon.
 */
#include "http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "crypto.h"
#include "err.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ops.h"
#include "ratelog.h"
#include "rds_sub.h"
#include "sub.h"

/* MHD's per-connection pool: request and response headers. An idle SSE
 * stream keeps its pool for life, and 4 KiB instead of 8 KiB is a third of
 * its memory (bench/push); it still takes about 3 KB of request headers
 * (more gets 431). Long-polls (short-lived) and WebSocket upgrades keep
 * 8 KiB on their own daemons. */
#define HTTP_POOL_SIZE 4096
#define HTTP_BIG_POOL_SIZE 8192
#define HTTP_CONN_TIMEOUT_S 60       /* idle or stalled connections */
#define HTTP_SETUP_TIMEOUT_MS 10000  /* auth + baseline + subscriptions */
#define HTTP_STREAM_MAX_AGE_S 86400  /* API.md: a stream lives at most 24 h */
#define HTTP_MAX_STREAMS_PER_USER 32 /* behind nginx every peer is 127.0.0.1 */
#define HTTP_READY_GRACE_MS 5000     /* stay ready through a short outage */
#define HTTP_POLL_DEFAULT_S 25       /* API.md "Transports": long-poll timeout */
#define HTTP_POLL_MAX_S 60
#define HTTP_HEADER_DEADLINE_MS 10000 /* accept to the end of the request headers */
#define HTTP_LOG_EVERY_MS 10000       /* client-caused MHD messages: one per this */

static struct {
    struct MHD_Daemon *d;     /* SSE (and long-poll from direct clients) */
    struct MHD_Daemon *dpoll; /* long-poll, nginx's route: its resumes walk no SSE stream */
    struct MHD_Daemon *dws;   /* WebSocket: upgraded connections stay in its suspended list */
    const struct cfg *cfg;
    struct hub *hub;
    const unsigned char *key;
    struct push_conn *conns; /* every live stream request */
    struct push_conn *wakes; /* to resume in this pass */
    unsigned nwakes;
    int64_t last_resume_ms; /* when the wakes were last resumed */
    unsigned nconns;
    bool stopping;
    int64_t mhd_deadline_ms; /* MHD wants MHD_run by then; -1: no limit */
    int64_t ready_at_ms;     /* last time Redis and PostgreSQL were both up */
} H;

/* ---- open streams per client IP ----
 *
 * DESIGN.md "Limits everywhere": behind nginx every TCP peer is 127.0.0.1,
 * so the client is the address nginx writes into X-Forwarded-For; from any
 * other peer it is the peer. A stream request holds one count of its
 * address from its acceptance until its connection object goes (an
 * upgraded WebSocket keeps it for its whole life); past push_max_per_ip
 * the request gets 429. */

struct ip_count {
    struct ip_count *next;
    unsigned char addr[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    unsigned n;
};

static struct {
    struct ip_count **slots;
    size_t cap, n; /* cap: a power of two */
} IPS;

static size_t ip_slot(const unsigned char *a, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int i;

    for (i = 0; i < 16; i++)
        h = (h ^ a[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct ip_count **ip_find(const unsigned char *a)
{
    struct ip_count **p = &IPS.slots[ip_slot(a, IPS.cap)];

    while (*p && memcmp((*p)->addr, a, 16) != 0)
        p = &(*p)->next;
    return p;
}

static void ips_grow(void)
{
    size_t cap = IPS.cap ? IPS.cap * 2 : 64, i;
    struct ip_count **slots = calloc(cap, sizeof(*slots));

    if (!slots)
        abort();
    for (i = 0; i < IPS.cap; i++) {
        struct ip_count *x = IPS.slots[i], *next;

        for (; x; x = next) {
            size_t j = ip_slot(x->addr, cap);

            next = x->next;
            x->next = slots[j];
            slots[j] = x;
        }
    }
    free(IPS.slots);
    IPS.slots = slots;
    IPS.cap = cap;
}

/* One more open stream from a; NULL if a is at the cap already. */
static struct ip_count *ip_take(const unsigned char *a, unsigned cap)
{
    struct ip_count **p, *x;

    if (IPS.n >= IPS.cap)
        ips_grow();
    p = ip_find(a);
    x = *p;
    if (!x) {
        x = calloc(1, sizeof(*x));
        if (!x)
            abort();
        memcpy(x->addr, a, 16);
        *p = x;
        IPS.n++;
    }
    if (x->n >= cap)
        return NULL; /* x->n > 0: it stays */
    x->n++;
    return x;
}

static void ip_release(struct ip_count *x)
{
    struct ip_count **p;

    if (--x->n > 0)
        return;
    p = ip_find(x->addr);
    *p = x->next;
    IPS.n--;
    free(x);
}

static bool addr_is_loopback(const unsigned char *a)
{
    static const unsigned char v6_lo[16] = {[15] = 1};
    static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

    return memcmp(a, v6_lo, 16) == 0 || (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
}

/* Text of one address (v4 or v6, spaces around allowed) into a. */
static bool addr_parse(const char *s, size_t len, unsigned char *a)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    struct in_addr v4;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    if (inet_pton(AF_INET, tmp, &v4) == 1) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, tmp, a) == 1;
}

/* The client's address: the TCP peer, or when that is loopback (nginx) the
 * last entry of X-Forwarded-For (the one the nearest proxy wrote). false if
 * the peer is unknown. */
static bool client_addr(struct MHD_Connection *mc, unsigned char *a)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    const char *xff, *last;

    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return false;
    }
    if (!addr_is_loopback(a))
        return true;
    xff = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff)
        return true;
    last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    if (!addr_parse(last, strlen(last), a))
        log_debug("unparsable X-Forwarded-For, counting the peer");
    return true;
}

void http_rate_headers(struct MHD_Response *r, struct MHD_Connection *mc)
{
    unsigned char a[16];
    unsigned cap = (unsigned)H.cfg->push_max_per_ip, n = 0;
    struct ip_count *x;
    char v[16];

    if (IPS.cap && client_addr(mc, a) && (x = *ip_find(a)))
        n = x->n;
    snprintf(v, sizeof(v), "%u", cap);
    MHD_add_response_header(r, "X-RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%u", n < cap ? cap - n : 0);
    MHD_add_response_header(r, "X-RateLimit-Remaining", v);
    MHD_add_response_header(r, "X-RateLimit-Reset", "0");
}

/* ---- request header deadline ----
 *
 * MHD 0.9.75's connection timeout restarts on every byte, so a client that
 * sends one header line every few seconds holds a connection for ever
 * (slowloris). Every accepted connection is watched from
 * MHD_CONNECTION_NOTIFY_STARTED until its first request's headers are in
 * (the access handler's first call); http_tick shuts down the socket of one
 * still incomplete after HTTP_HEADER_DEADLINE_MS, and MHD then closes it.
 * Later requests on a kept-alive connection come from nginx, whose own
 * header deadline (client_header_timeout) covers the client. */

struct hdr_watch {
    struct hdr_watch *prev, *next;
    struct MHD_Connection *mc;
    int64_t started_ms;
};

static struct hdr_watch *hdr_watches; /* oldest last: new ones go first */

static void hdr_unwatch(struct hdr_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        hdr_watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->mc = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct hdr_watch *w = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return; /* unwatched: the idle timeout still applies */
        w->mc = mc;
        w->started_ms = loop_now_ms();
        w->next = hdr_watches;
        if (hdr_watches)
            hdr_watches->prev = w;
        hdr_watches = w;
        *socket_context = w;
        return;
    }
    if (w) {
        if (w->mc)
            hdr_unwatch(w);
        free(w);
        *socket_context = NULL;
    }
}

/* The headers of mc's request are in: stop watching it. */
static void hdr_done(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct hdr_watch *w = ci ? ci->socket_context : NULL;

    if (w && w->mc)
        hdr_unwatch(w);
}

/* Shut down every connection past the deadline without its headers. */
static void hdr_sweep(int64_t now)
{
    struct hdr_watch *w, *next;

    for (w = hdr_watches; w; w = next) {
        const union MHD_ConnectionInfo *ci;

        next = w->next;
        if (now - w->started_ms < HTTP_HEADER_DEADLINE_MS)
            continue;
        ci = MHD_get_connection_info(w->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        log_debug("request headers not complete within %d ms: closing", HTTP_HEADER_DEADLINE_MS);
        if (ci)
            shutdown(ci->connect_fd, SHUT_RDWR); /* MHD sees EOF and closes it */
        hdr_unwatch(w);
    }
}

/* ---- connections ---- */

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
    if (c->cur)
        hub_event_unref(c->cur);
    if (c->ipc)
        ip_release(c->ipc);
    free(c->pat);
    free(c);
}

void conn_wake(struct push_conn *c)
{
    if (c->direct) {
        sub_sse_flush_soon(c);
        return;
    }
    if (!c->suspended || c->wake_queued || c->completed)
        return;
    c->wake_queued = true;
    conn_ref(c);
    c->wake_next = H.wakes;
    H.wakes = c;
    H.nwakes++;
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
        if (c->ops == &sub_sse_ops)
            sub_sse_end(c, MHD_CONTENT_READER_END_WITH_ERROR);
        return;
    }
    c->phase = CONN_REPLY;
    c->status = status;
    c->code = code;
    c->message = message;
    conn_wake(c);
}

static struct push_conn *conn_new(struct MHD_Connection *mc, const struct sub_ops *ops,
                                  struct ip_count *ipc)
{
    struct push_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        if (ipc)
            ip_release(ipc);
        return NULL;
    }
    c->ipc = ipc;
    c->ops = ops;
    c->mc = mc;
    c->io.fd = -1;
    c->refs = 1; /* the request's, dropped at completion */
    c->started_ms = loop_now_ms();
    c->next = H.conns;
    if (H.conns)
        H.conns->prev = c;
    H.conns = c;
    H.nconns++;
    return c;
}

/* Resume everything woken since the last pass. Returns how many. */
static unsigned run_wakes(void)
{
    unsigned n = 0;

    while (H.wakes) {
        struct push_conn *c = H.wakes;

        H.wakes = c->wake_next;
        c->wake_queued = false;
        if (c->suspended && !c->completed) {
            c->suspended = false;
            MHD_resume_connection(c->mc);
            n++;
        }
        conn_unref(c);
    }
    H.nwakes = 0;
    return n;
}

/* ---- answers ---- */

/* rate: a stream route's answer, with X-RateLimit-* (http_rate_headers). */
static enum MHD_Result reply_text(struct MHD_Connection *mc, unsigned status, const char *ctype,
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
        http_rate_headers(r, mc);
    ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* API.md "Conventions": {"error": {"code", "message"}}. */
static enum MHD_Result reply_error(struct MHD_Connection *mc, unsigned status, const char *code,
                                   const char *message)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
    return reply_text(mc, status, "application/json; charset=utf-8", body, true);
}

/* reply_error for a request that took a count of its address first. */
static enum MHD_Result reply_error_ip(struct ip_count *ipc, struct MHD_Connection *mc,
                                      unsigned status, const char *code, const char *message)
{
    if (ipc)
        ip_release(ipc);
    return reply_error(mc, status, code, message);
}

enum MHD_Result http_reply_error(struct MHD_Connection *mc, unsigned status, const char *code,
                                 const char *message)
{
    return reply_error(mc, status, code, message);
}

/* ---- baseline ---- */

/* One statement: the user (token_version), whether the session still
 * stands, every chat with its version (DESIGN.md, continuity 1), and whether
 * the API token (of a PAT or of a ticket an API token minted) is unrevoked.
 * A user without chats gives one row with NULL chat columns; no row: no such
 * user. */
static const char baseline_sql[] =
    "SELECT u.token_version,"
    " $2::bigint = 0 OR EXISTS (SELECT 1 FROM sessions s WHERE s.id = $2::bigint"
    "  AND s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > now()),"
    " c.id, c.version,"
    " $3::bigint = 0 OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.id = $3::bigint"
    "  AND t.user_id = u.id AND t.revoked_at IS NULL)"
    " FROM users u"
    " LEFT JOIN chat_members m ON m.user_id = u.id"
    " LEFT JOIN chats c ON c.id = m.chat_id"
    " WHERE u.id = $1::bigint";

static bool col_int(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col))
        return false;
    return json_parse_int(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX, out) == 0;
}

/* Check the credentials part of a baseline result; on failure answer c and
 * return false. */
static bool auth_ok(struct push_conn *c, const PGresult *res)
{
    int64_t tv;

    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("baseline query failed for user %" PRId64 ": %s", c->user_id,
                 res ? PQresultErrorMessage(res) : "no connection");
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
        return false;
    }
    if (PQntuples(res) == 0 || !col_int(res, 0, 0, &tv)) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown user");
        return false;
    }
    if (!c->by_jwt || c->by_pat)
        c->token_version = tv;
    if (c->by_jwt && !c->by_pat && tv != c->token_version) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "token revoked");
        return false;
    }
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "session revoked");
        return false;
    }
    if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "API token revoked");
        return false;
    }
    return true;
}

static void on_baseline(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;
    int i;
    int64_t chat_id, version;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_OPEN || !c->s || c->s->state != HUB_S_BASELINE)
        goto out;
    if (!auth_ok(c, res))
        goto out;
    c->s->token_version = c->token_version;
    for (i = 0; i < PQntuples(res); i++)
        if (col_int(res, i, 2, &chat_id) && col_int(res, i, 3, &version))
            hub_stream_baseline_add(c->s, chat_id, version);
    c->phase = CONN_STREAM;
    conn_wake(c);
    log_debug("stream %" PRIu64 " of user %" PRId64 " open, %d chats", c->s->id, c->user_id,
              c->s->nmembers);
    hub_stream_baseline_done(c->s); /* may kick c: c->s is not used after */
out:
    conn_unref(c);
}

/* Run the baseline statement for c; cb gets the result. */
static int query_baseline(struct push_conn *c, pgq_cb *cb)
{
    char uid[24], sid[24], tid[24];
    const char *params[3] = {uid, sid, tid};

    snprintf(uid, sizeof(uid), "%" PRId64, c->user_id);
    snprintf(sid, sizeof(sid), "%" PRId64, c->session_id);
    snprintf(tid, sizeof(tid), "%" PRId64, c->token_id);
    c->pg = pgq_exec(baseline_sql, 3, params, cb, c);
    if (!c->pg)
        return CHAT_ERR_DB;
    conn_ref(c);
    return 0;
}

void http_baseline(void *ctx, struct hub_stream *s)
{
    struct push_conn *c = conn_of_stream(s);

    if (query_baseline(c, on_baseline)) {
        /* The hub is calling us: fail through the next pass, not here. */
        c->phase = CONN_REPLY;
        c->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        c->code = "unavailable";
        c->message = "database unavailable";
        conn_wake(c);
    }
}

/* ---- authentication ---- */

/* The client's cursor: ?cursor= (browsers opening a new EventSource), else
 * Last-Event-ID (EventSource's own reconnect, other clients). */
static const char *request_cursor(struct push_conn *c)
{
    const char *cur = MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "cursor");

    if (!cur || !*cur)
        cur = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Last-Event-ID");
    return cur && *cur ? cur : NULL;
}

/* Take over the stream named by the request's cursor; false if there is none
 * to take (then the client gets a new stream that starts with resync). */
static bool stream_resume(struct push_conn *c)
{
    struct hub_stream *s;

    s = hub_stream_resume(H.hub, request_cursor(c), c->by_cursor ? 0 : c->user_id, c->session_id,
                          c->ops, c, loop_unix());
    if (!s)
        return false;
    c->s = s;
    c->user_id = hub_stream_user_id(s);
    /* The stream answers to the credentials it was last taken with. */
    if (c->token_id || !c->by_cursor)
        s->token_id = c->token_id;
    if (!c->by_jwt || c->by_pat)
        c->token_version = s->token_version;
    c->phase = CONN_STREAM;
    conn_wake(c);
    log_debug("stream %" PRIu64 " of user %" PRId64 " resumed", s->id, c->user_id);
    return true;
}

static void stream_new(struct push_conn *c)
{
    c->phase = CONN_OPEN;
    c->s = hub_stream_open(H.hub, c->ops, c, c->user_id, c->session_id, loop_unix());
    c->s->token_id = c->token_id;
}

static void on_resume_auth(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_OPEN || c->s)
        goto out;
    if (auth_ok(c, res) && !stream_resume(c))
        stream_new(c);
out:
    conn_unref(c);
}

/* Whether the API token that opened a stream is still unrevoked. */
static const char token_live_sql[] =
    "SELECT 1 FROM api_tokens WHERE id = $1::bigint AND revoked_at IS NULL";

static void on_token_live(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_OPEN || !c->s)
        goto out;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
    else if (PQntuples(res) != 1)
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "API token revoked");
    else {
        c->phase = CONN_STREAM;
        conn_wake(c);
    }
out:
    conn_unref(c);
}

/* A cursor alone resumed c->s: if an API token opened that stream, hold the
 * answer until PostgreSQL says the token still stands (its revoke event may
 * have been lost with a Redis outage); a revoked token's stream is closed. */
static void cursor_token_check(struct push_conn *c)
{
    char tid[24];
    const char *params[1] = {tid};

    if (!c->s->token_id)
        return;
    snprintf(tid, sizeof(tid), "%" PRId64, c->s->token_id);
    c->phase = CONN_OPEN;
    c->pg = pgq_exec(token_live_sql, 1, params, on_token_live, c);
    if (!c->pg) {
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
        return;
    }
    conn_ref(c);
}

/* Credentials known: resume by cursor or open a new stream. A JWT or a
 * ticket is checked against the database (session, API token) before it
 * may take over a stream; a JWT's poll comes back every few seconds, and its
 * cursor's secret already proves the stream is the caller's (the JWT's user
 * must still match). A cursor alone is checked against the API token that
 * opened its stream, if one did. */
static void stream_start(struct push_conn *c)
{
    if (c->by_cursor) {
        if (!stream_resume(c))
            conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                      "unknown or expired cursor: authenticate to open a new stream");
        else
            cursor_token_check(c);
        return;
    }
    if (hub_user_nstreams(H.hub, c->user_id) >= HTTP_MAX_STREAMS_PER_USER) {
        conn_fail(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many open streams");
        return;
    }
    if (request_cursor(c)) {
        if ((c->by_jwt && !c->by_pat && c->ops != &sub_poll_ops) || !c->by_jwt) {
            c->phase = CONN_OPEN;
            if (query_baseline(c, on_resume_auth))
                conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
            return;
        }
        if (stream_resume(c))
            return;
    }
    stream_new(c);
}

/* "<user_id>:<session_id>", or "<user_id>:0:<API token id>", as chat-api
 * stores it (cgi/stream.c). */
static bool parse_ticket_value(const char *v, size_t len, int64_t *uid, int64_t *sid, int64_t *tid)
{
    char tmp[72];
    char *colon, *colon2;

    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, v, len);
    tmp[len] = 0;
    colon = strchr(tmp, ':');
    if (!colon)
        return false;
    *colon = 0;
    colon2 = strchr(colon + 1, ':');
    *tid = 0;
    if (colon2) {
        *colon2 = 0;
        if (json_parse_int(colon2 + 1, 1, INT64_MAX, tid))
            return false;
    }
    return json_parse_int(tmp, 1, INT64_MAX, uid) == 0 &&
           json_parse_int(colon + 1, 0, INT64_MAX, sid) == 0;
}

static void on_ticket(void *arg, int status, const char *val, size_t len)
{
    struct push_conn *c = arg;

    if (c->completed || c->phase != CONN_AUTH)
        goto out;
    if (status == CHAT_ERR_NOT_FOUND) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown, expired or spent ticket");
    } else if (status) {
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "ticket store unavailable");
    } else if (!parse_ticket_value(val, len, &c->user_id, &c->session_id, &c->token_id)) {
        log_warn("malformed ticket value");
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid ticket");
    } else {
        stream_start(c);
    }
out:
    conn_unref(c);
}

static bool ticket_ok(const char *t)
{
    size_t n = strlen(t), i;

    if (n < 16 || n > 128)
        return false;
    for (i = 0; i < n; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    return true;
}

/* A personal API token (API.md "Auth"): live, with the events:read scope. */
static const char pat_sql[] = "SELECT user_id, 'events:read' = ANY(scopes), id FROM api_tokens"
                              " WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL";

static void on_pat(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_AUTH)
        goto out;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
    else if (PQntuples(res) != 1 || !col_int(res, 0, 0, &c->user_id) ||
             !col_int(res, 0, 2, &c->token_id))
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid or revoked token");
    else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
        conn_fail(c, MHD_HTTP_FORBIDDEN, "forbidden", "token lacks the events:read scope");
    else
        stream_start(c);
out:
    conn_unref(c);
}

static int pat_lookup(struct push_conn *c, const char *token)
{
    unsigned char digest[32];
    char hex[65];
    const char *params[1] = {hex};

    crypto_sha256(token, strlen(token), digest);
    crypto_hex(digest, sizeof(digest), hex);
    c->pg = pgq_exec(pat_sql, 1, params, on_pat, c);
    if (!c->pg)
        return CHAT_ERR_DB;
    conn_ref(c);
    return 0;
}

static enum MHD_Result events_continue(struct push_conn *c, struct MHD_Connection *mc);

/* ?timeout= of a poll: seconds, default 25, at most 60 (API.md). */
static bool poll_timeout(struct MHD_Connection *mc, int64_t *ms)
{
    const char *t = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "timeout");
    int64_t v = HTTP_POLL_DEFAULT_S;

    if (t && *t && json_parse_int(t, 0, HTTP_POLL_MAX_S, &v))
        return false;
    *ms = v * 1000;
    return true;
}

/* GET /events or /poll: authenticate, then resume or open the stream. */
static enum MHD_Result stream_request(struct MHD_Connection *mc, void **con_cls,
                                      const struct sub_ops *ops)
{
    const char *auth = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    const char *ticket = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "ticket");
    const char *cursor = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "cursor");
    struct jwt_claims cl;
    struct push_conn *c;
    struct ip_count *ipc = NULL;
    unsigned char addr[16];
    int64_t wait_ms = 0;

    if (H.stopping)
        return reply_error(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "shutting down");
    if (ops == &sub_poll_ops && !poll_timeout(mc, &wait_ms))
        return reply_error(mc, MHD_HTTP_BAD_REQUEST, "invalid_request",
                           "timeout must be an integer from 0 to 60");
    if (ops == &sub_ws_ops) {
        unsigned st;
        const char *code, *msg;

        if (sub_ws_check(mc, &st, &code, &msg))
            return reply_error(mc, st, code, msg);
    }
    if (client_addr(mc, addr)) {
        ipc = ip_take(addr, (unsigned)H.cfg->push_max_per_ip);
        if (!ipc)
            return reply_error(mc, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                               "too many open streams from this address");
    }
    if (auth && strncasecmp(auth, "Bearer chat_pat_", 16) == 0) {
        c = conn_new(mc, ops, ipc);
        if (!c)
            return MHD_NO;
        c->by_jwt = c->by_pat = true;
        c->phase = CONN_AUTH;
        if (ops == &sub_ws_ops)
            c->pat = strdup(auth + 7); /* forwarded ops act with it */
        if (pat_lookup(c, auth + 7)) {
            c->phase = CONN_REPLY;
            c->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            c->code = "unavailable";
            c->message = "database unavailable";
        }
    } else if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        if (jwt_verify(H.key, H.cfg->jwt_issuer, H.cfg->jwt_audience, auth + 7, loop_unix(), &cl))
            return reply_error_ip(ipc, mc, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                                  "invalid or expired token");
        c = conn_new(mc, ops, ipc);
        if (!c)
            return MHD_NO;
        c->by_jwt = true;
        c->user_id = cl.sub;
        c->session_id = cl.sid;
        c->token_version = cl.tv;
        stream_start(c);
    } else if (ticket) {
        if (!ticket_ok(ticket))
            return reply_error_ip(ipc, mc, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid ticket");
        c = conn_new(mc, ops, ipc);
        if (!c)
            return MHD_NO;
        c->phase = CONN_AUTH;
        if (rds_ticket_take(ticket, on_ticket, c)) {
            c->phase = CONN_REPLY;
            c->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            c->code = "unavailable";
            c->message = "ticket store unavailable";
        } else {
            conn_ref(c);
        }
    } else if (ops == &sub_poll_ops && cursor && *cursor) {
        c = conn_new(mc, ops, ipc);
        if (!c)
            return MHD_NO;
        c->by_cursor = true;
        stream_start(c);
    } else {
        return reply_error_ip(ipc, mc, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                              "missing credentials");
    }
    c->poll_deadline_ms = loop_now_ms() + wait_ms;
    if (cursor && strlen(cursor) < sizeof(c->cursor))
        strcpy(c->cursor, cursor);
    *con_cls = c;
    if (c->phase == CONN_REPLY || c->phase == CONN_STREAM)
        return events_continue(c, mc);
    MHD_suspend_connection(mc);
    c->suspended = true;
    return MHD_YES;
}

/* The handler runs again after a resume: answer from the phase. */
static enum MHD_Result events_continue(struct push_conn *c, struct MHD_Connection *mc)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    switch (c->phase) {
    case CONN_REPLY:
        c->phase = CONN_RESPONDED;
        return reply_error(mc, c->status, c->code, c->message);
    case CONN_STREAM:
        if (c->ops == &sub_poll_ops)
            return sub_poll_continue(c);
        c->phase = CONN_RESPONDED;
        r = c->ops == &sub_ws_ops ? sub_ws_response(c) : sub_sse_response(c);
        if (!r)
            return MHD_NO;
        ret = MHD_queue_response(
            mc, c->ops == &sub_ws_ops ? MHD_HTTP_SWITCHING_PROTOCOLS : MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    case CONN_RESPONDED: return MHD_YES;
    default: /* still waiting */
        MHD_suspend_connection(mc);
        c->suspended = true;
        return MHD_YES;
    }
}

/* ---- MHD callbacks ---- */

static const char *route_path(const char *url)
{
    if (strncmp(url, "/api/v1/", 8) == 0)
        return url + 7;
    return url;
}

/* Redis subscribed and PostgreSQL connected, or both were within the last
 * HTTP_READY_GRACE_MS: API.md "Operations" keeps chat-push ready through a
 * short outage (it reconnects and resyncs), so a blip does not flap nginx. */
static bool is_ready(void)
{
    int64_t now = loop_now_ms();

    if (H.stopping)
        return false;
    if (rds_ready() && pgq_ready()) {
        H.ready_at_ms = now;
        return true;
    }
    return H.ready_at_ms && now - H.ready_at_ms < HTTP_READY_GRACE_MS;
}

/* /metrics only to a loopback peer that no proxy forwarded (nginx sets
 * X-Forwarded-For), so a push_addr other than 127.0.0.1 does not publish
 * it; nginx never proxies /metrics here anyway (sse/ops.h). */
static bool peer_is_local(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (!sa || MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-For"))
        return false;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static enum MHD_Result reply_metrics(struct MHD_Connection *mc)
{
    struct buf b = BUF_INIT;
    enum MHD_Result ret;

    ops_render(&b);
    ret = reply_text(mc, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.s, false);
    buf_release(&b);
    return ret;
}

/* *con_cls after the first call: the request's headers are in. */
static char first_call;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    const char *path = route_path(url);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool ws_daemon = cls != NULL;

    /* Answer only once the whole request is in: MHD 0.9.75 closes the
     * connection after a response queued from the first call. */
    if (!*con_cls) {
        *con_cls = &first_call;
        hdr_done(mc);
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* bodies are ignored */
        return MHD_YES;
    }
    if (*con_cls != &first_call)
        return events_continue(*con_cls, mc);
    *con_cls = NULL;
    if (strcmp(path, "/healthz") == 0)
        return get ? reply_text(mc, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", false)
                   : reply_error(mc, 405, "method_not_allowed", "use GET");
    if (strcmp(path, "/readyz") == 0) {
        bool ready = is_ready();

        return reply_text(mc, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                          "text/plain; charset=utf-8", ready ? "ready\n" : "not ready\n", false);
    }
    if (strcmp(url, "/metrics") == 0 && !ws_daemon && get && peer_is_local(mc))
        return reply_metrics(mc);
    if (ws_daemon) {
        if (strcmp(path, "/ws") != 0)
            return reply_error(mc, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
        if (strcmp(method, "GET") != 0)
            return reply_error(mc, 405, "method_not_allowed", "use GET");
        return stream_request(mc, con_cls, &sub_ws_ops);
    }
    if (strcmp(path, "/events") == 0 || strcmp(path, "/poll") == 0) {
        if (strcmp(method, "GET") != 0)
            return reply_error(mc, 405, "method_not_allowed", "use GET");
        return stream_request(mc, con_cls, path[1] == 'e' ? &sub_sse_ops : &sub_poll_ops);
    }
    return reply_error(mc, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct push_conn *c = *con_cls;

    *con_cls = NULL;
    if (!c || (void *)c == (void *)&first_call)
        return;
    c->completed = true;
    c->suspended = false;
    /* An upgraded WebSocket keeps its stream (sub_ws.c); so does one whose
     * upgrade is under way. */
    if (c->ops == &sub_ws_ops && c->phase == CONN_RESPONDED &&
        (c->ws || toe == MHD_REQUEST_TERMINATED_COMPLETED_OK))
        ;
    else if (c->s) {
        log_debug("stream %" PRIu64 " of user %" PRId64 " detached (%d)", c->s->id, c->user_id,
                  (int)toe);
        hub_stream_detach(c->s, loop_unix());
        c->s = NULL;
    }
    if (c->pg) {
        pgq_cancel(c->pg);
        c->pg = NULL;
        conn_unref(c);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        H.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    H.nconns--;
    conn_unref(c);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    /* Clients leaving mid-stream are routine, not warnings. */
    if (strstr(msg, "application error generating response") || strstr(msg, "Failed to send the")) {
        log_debug("mhd: %s", msg);
    } else if (strstr(msg, "incomplete request")) {
        /* Any client can cause one per connection: one line per 10 s. */
        static struct ratelog rl = {.interval_ms = HTTP_LOG_EVERY_MS};
        uint64_t held;

        if (ratelog_pass(&rl, loop_now_ms(), &held))
            log_warn("mhd: %s (%" PRIu64 " more like it not logged in the last %d s)", msg, held,
                     HTTP_LOG_EVERY_MS / 1000);
    } else {
        log_warn("mhd: %s", msg);
    }
}

int http_start(const struct cfg *cfg, struct hub *h, const unsigned char *key)
{
    struct sockaddr_in sin;
    /* The logger first, so MHD reports option errors through it. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &sin},
        {MHD_OPTION_CONNECTION_LIMIT, cfg->push_max_conns, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_POOL_SIZE, NULL}, /* opts[3] */
        {MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT_S, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
        {MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        {MHD_OPTION_END, 0, NULL},
    };

    H.cfg = cfg;
    H.hub = h;
    H.key = key;
    H.mhd_deadline_ms = -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)cfg->push_port);
    if (inet_pton(AF_INET, cfg->push_addr, &sin.sin_addr) != 1) {
        log_err("push_addr %s is not an IPv4 address", cfg->push_addr);
        return CHAT_ERR_IO;
    }
    H.d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
                           NULL, on_request, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!H.d) {
        log_err("cannot listen on %s:%d", cfg->push_addr, cfg->push_port);
        return CHAT_ERR_IO;
    }
    opts[3].value = HTTP_BIG_POOL_SIZE;
    if (cfg->push_poll_port) {
        sin.sin_port = htons((uint16_t)cfg->push_poll_port);
        H.dpoll =
            MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
                             NULL, on_request, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!H.dpoll) {
            log_err("cannot listen on %s:%d", cfg->push_addr, cfg->push_poll_port);
            return CHAT_ERR_IO;
        }
    }
    sin.sin_port = htons((uint16_t)cfg->push_ws_port);
    H.dws = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, (void *)1, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!H.dws) {
        log_err("cannot listen on %s:%d", cfg->push_addr, cfg->push_ws_port);
        return CHAT_ERR_IO;
    }
    sub_ws_init(cfg, key);
    log_info("listening on %s:%d (SSE, long-poll), %d (long-poll) and %d (WebSocket)",
             cfg->push_addr, cfg->push_port, cfg->push_poll_port, cfg->push_ws_port);
    return 0;
}

static struct MHD_Daemon *daemon_of(enum http_daemon which)
{
    return which == HTTP_D_WS ? H.dws : which == HTTP_D_POLL ? H.dpoll : H.d;
}

int http_epoll_fd(enum http_daemon which)
{
    struct MHD_Daemon *d = daemon_of(which);
    const union MHD_DaemonInfo *i = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;

    return i ? i->epoll_fd : -1;
}

static bool ws_kicked;

void http_kick_ws(void)
{
    ws_kicked = true;
}

/* Each MHD_run after a resume walks every suspended connection of the
 * daemon (MHD 0.9.75), so under fan-out load resumes are batched: at most
 * one batch every RESUME_WINDOW_MS, sooner when RESUME_BATCH are waiting.
 * An idle server resumes at once (bench/push profile: the walk was 47% of
 * chat-push's CPU at 10k deliveries/s with one walk per loop pass). */
#define RESUME_WINDOW_MS 2
#define RESUME_BATCH 512

int64_t http_run(bool fd_ready, int64_t now)
{
    MHD_UNSIGNED_LONG_LONG t;
    unsigned resumed = 0;

    sub_sse_run();
    if (H.wakes &&
        (H.nwakes >= RESUME_BATCH || now - H.last_resume_ms >= RESUME_WINDOW_MS || H.stopping)) {
        resumed = run_wakes();
        H.last_resume_ms = now;
    }

    if (fd_ready || resumed || (H.mhd_deadline_ms >= 0 && now >= H.mhd_deadline_ms)) {
        MHD_run(H.d);
        if (H.dpoll)
            MHD_run(H.dpoll);
        MHD_run(H.dws);
        ws_kicked = false;
    }
    if (ws_kicked) {
        ws_kicked = false;
        MHD_run(H.dws); /* let it clean up closed upgrades */
    }
    if (H.wakes)
        return H.last_resume_ms + RESUME_WINDOW_MS > now ? H.last_resume_ms + RESUME_WINDOW_MS - now
                                                         : 0;
    t = 3600000;
    for (enum http_daemon i = 0; i < HTTP_NDAEMONS; i++) {
        MHD_UNSIGNED_LONG_LONG ti;

        if (daemon_of(i) && MHD_get_timeout(daemon_of(i), &ti) == MHD_YES && ti < t)
            t = ti;
    }
    H.mhd_deadline_ms = now + (int64_t)t;
    return (int64_t)t;
}

void http_tick(int64_t now)
{
    struct push_conn *c, *next;
    int64_t hb_ms = (int64_t)H.cfg->heartbeat * 1000;
    int64_t unix_now = loop_unix();

    if (hb_ms <= 0 || hb_ms > 20000)
        hb_ms = 15000;
    sub_ws_tick(now);
    hdr_sweep(now);
    for (c = H.conns; c; c = next) {
        next = c->next;
        if (c->phase == CONN_AUTH || c->phase == CONN_OPEN) {
            if (now - c->started_ms > HTTP_SETUP_TIMEOUT_MS)
                conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "stream setup timed out");
            continue;
        }
        if (c->ops == &sub_ws_ops)
            continue;
        if (c->ops == &sub_poll_ops) {
            if (c->phase == CONN_STREAM && c->s &&
                unix_now - c->s->opened_at > HTTP_STREAM_MAX_AGE_S) {
                hub_stream_close(c->s); /* the next poll opens a new stream */
                c->s = NULL;
                c->poll_due = true;
                conn_wake(c);
            }
            sub_poll_tick(c, now);
            continue;
        }
        if (c->phase != CONN_RESPONDED || c->end)
            continue;
        if (c->s && unix_now - c->s->opened_at > HTTP_STREAM_MAX_AGE_S) {
            hub_stream_close(c->s); /* a resume would extend it: not resumable */
            c->s = NULL;
            sub_sse_end(c, MHD_CONTENT_READER_END_OF_STREAM);
            continue;
        }
        sub_sse_tick(c, now, hb_ms);
    }
}

void http_shutdown_begin(void)
{
    struct push_conn *c, *next;
    MHD_socket fd;

    H.stopping = true;
    for (enum http_daemon i = 0; i < HTTP_NDAEMONS; i++) {
        if (!daemon_of(i))
            continue;
        fd = MHD_quiesce_daemon(daemon_of(i));
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    sub_ws_shutdown();
    for (c = H.conns; c; c = next) {
        next = c->next;
        if (c->ops == &sub_poll_ops && c->phase == CONN_STREAM) {
            c->poll_due = true; /* answer at once with what is queued */
            conn_wake(c);
        } else if (c->ops != &sub_sse_ops && c->phase == CONN_RESPONDED) {
            continue;
        } else if (c->phase == CONN_RESPONDED) {
            if (c->s)
                hub_stream_close(c->s);
            c->s = NULL;
            sub_sse_end(c, MHD_CONTENT_READER_END_OF_STREAM);
        } else {
            conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "shutting down");
        }
    }
}

unsigned http_active(void)
{
    return H.nconns + sub_ws_active();
}

void http_stop(void)
{
    run_wakes();
    MHD_stop_daemon(H.dws);
    if (H.dpoll)
        MHD_stop_daemon(H.dpoll);
    MHD_stop_daemon(H.d);
    H.d = H.dpoll = H.dws = NULL;
}
