/* http.c - chat-push's MHD daemons and their routes (http.h).
 *
 * Three daemons (SSE, long-poll, WebSocket) run in our loop; the access
 * handler answers /healthz, /readyz and /metrics itself and hands a stream
 * route to its transport (routes[] below: one line per transport) through
 * auth_request. From then on a request lives in conn.c and its sub_ops.
 *
 * MHD 0.9.75 traps handled here (DESIGN.md): an explicit connection limit,
 * small pools (4 KiB, WebSocket 8 KiB), SIGPIPE ignored by main.c, resumes
 * batched (http_run), a header deadline against slowloris.
 */
#include "http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "conn.h"
#include "err.h"
#include "iplimit.h"
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
#define HTTP_CONN_TIMEOUT_S 60        /* idle or stalled connections */
#define HTTP_READY_GRACE_MS 5000      /* stay ready through a short outage */
#define HTTP_HEADER_DEADLINE_MS 10000 /* accept to the end of the request headers */
#define HTTP_LOG_EVERY_MS 10000       /* client-caused MHD messages: one per this */

static struct {
    struct MHD_Daemon *d;     /* SSE (and long-poll from direct clients) */
    struct MHD_Daemon *dpoll; /* long-poll, nginx's route: its resumes walk no SSE stream */
    struct MHD_Daemon *dws;   /* WebSocket: upgraded connections stay in its suspended list */
    const struct cfg *cfg;
    int64_t last_resume_ms; /* when the wakes were last resumed */
    bool stopping;
    int64_t mhd_deadline_ms; /* MHD wants MHD_run by then; -1: no limit */
    int64_t ready_at_ms;     /* last time Redis and PostgreSQL were both up */
} H;

/* The transports, each defined in its own file (sub.h says what one fills). */
extern const struct sub_ops sub_sse_ops, sub_poll_ops, sub_ws_ops;

/* The stream routes (with or without the /api/v1 prefix), one per
 * transport: adding a transport is its file and a line here. ws: served on
 * the WebSocket daemon only, the others on the SSE and long-poll ones. */
static const struct route {
    const char *path;
    bool ws;
    const struct sub_ops *ops;
} routes[] = {
    {"/events", false, &sub_sse_ops},
    {"/poll", false, &sub_poll_ops},
    {"/ws", true, &sub_ws_ops},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

size_t http_transports(const struct sub_ops **out, size_t cap)
{
    for (size_t i = 0; i < NROUTES && i < cap; i++)
        out[i] = routes[i].ops;
    return NROUTES;
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
    ret = conn_reply_text(mc, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.s, false);
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
        return conn_continue(*con_cls);
    *con_cls = NULL;
    if (strcmp(path, "/healthz") == 0)
        return get ? conn_reply_text(mc, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", false)
                   : conn_reply_error(mc, 405, "method_not_allowed", "use GET");
    if (strcmp(path, "/readyz") == 0) {
        bool ready = is_ready();

        return conn_reply_text(mc, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                               "text/plain; charset=utf-8", ready ? "ready\n" : "not ready\n",
                               false);
    }
    if (strcmp(url, "/metrics") == 0 && !ws_daemon && get && peer_is_local(mc))
        return reply_metrics(mc);
    for (size_t i = 0; i < NROUTES; i++) {
        if (routes[i].ws != ws_daemon || strcmp(path, routes[i].path) != 0)
            continue;
        if (strcmp(method, "GET") != 0)
            return conn_reply_error(mc, 405, "method_not_allowed", "use GET");
        if (H.stopping)
            return conn_reply_error(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                                    "shutting down");
        return auth_request(mc, con_cls, routes[i].ops);
    }
    return conn_reply_error(mc, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct push_conn *c = *con_cls;

    *con_cls = NULL;
    if (!c || (void *)c == (void *)&first_call)
        return;
    conn_completed(c, (int)toe);
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
    auth_init(cfg, h, key);
    iplimit_init((unsigned)cfg->push_max_per_ip);
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
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ops->init)
            routes[i].ops->init(cfg, key);
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

/* Each MHD_run after a resume walks every suspended connection of the
 * daemon (MHD 0.9.75), so under fan-out load resumes are batched: at most
 * one batch every RESUME_WINDOW_MS, sooner when RESUME_BATCH are waiting.
 * An idle server resumes at once (bench/push profile: the walk was 47% of
 * chat-push's CPU at 10k deliveries/s with one walk per loop pass). */
#define RESUME_WINDOW_MS 2
#define RESUME_BATCH 512

/* Whether any transport's hook says so (sub_ops.daemon_due consumes it). */
static bool ws_daemon_due(void)
{
    bool due = false;

    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ws && routes[i].ops->daemon_due && routes[i].ops->daemon_due())
            due = true;
    return due;
}

static void run_transports(int64_t now)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ops->run)
            routes[i].ops->run(now);
}

int64_t http_run(bool fd_ready, int64_t now)
{
    MHD_UNSIGNED_LONG_LONG t;
    unsigned resumed = 0;

    run_transports(now);
    if (conn_nwoken() && (conn_nwoken() >= RESUME_BATCH ||
                          now - H.last_resume_ms >= RESUME_WINDOW_MS || H.stopping)) {
        resumed = conn_resume_woken();
        H.last_resume_ms = now;
    }

    if (fd_ready || resumed || (H.mhd_deadline_ms >= 0 && now >= H.mhd_deadline_ms)) {
        MHD_run(H.d);
        if (H.dpoll)
            MHD_run(H.dpoll);
        MHD_run(H.dws);
        ws_daemon_due(); /* it just ran */
    }
    if (ws_daemon_due())
        MHD_run(H.dws); /* let it clean up closed upgrades */
    if (conn_nwoken())
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

bool http_busy(void)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ops->busy && routes[i].ops->busy())
            return true;
    return false;
}

void http_tick(int64_t now)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ops->tick_all)
            routes[i].ops->tick_all(now);
    hdr_sweep(now);
    conn_tick_all(now);
}

void http_shutdown_begin(void)
{
    MHD_socket fd;

    H.stopping = true;
    for (enum http_daemon i = 0; i < HTTP_NDAEMONS; i++) {
        if (!daemon_of(i))
            continue;
        fd = MHD_quiesce_daemon(daemon_of(i));
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ops->shutdown_all)
            routes[i].ops->shutdown_all();
    conn_shutdown_all();
}

unsigned http_active(void)
{
    unsigned n = conn_count();

    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].ops->active)
            n += routes[i].ops->active();
    return n;
}

void http_stop(void)
{
    run_transports(loop_now_ms());
    conn_resume_woken();
    MHD_stop_daemon(H.dws);
    if (H.dpoll)
        MHD_stop_daemon(H.dpoll);
    MHD_stop_daemon(H.d);
    H.d = H.dpoll = H.dws = NULL;
}
