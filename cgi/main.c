/* main.c - chat-api: the FastCGI accept loop.
 *
 * N worker threads each accept on the shared unix socket with
 * FCGX_Accept_r and own one PGconn and one Redis context, so nothing is
 * shared on the request path. nginx does not multiplex FastCGI, so the
 * thread count is the concurrency (DESIGN.md "chat-api").
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "idem.h"
#include "jwt.h"
#include "log.h"
#include "ops.h"
#include "pwhash.h"
#include "ratelimit.h"
#include "req.h"
#include "req_auth.h"
#include "req_input.h"
#include "router.h"

static struct cfg cfg;
static struct authcache auth_cache;
static struct pagecache page_cache;
static unsigned char jwt_key[JWT_KEY_LEN];
static int listen_fd = -1;
static atomic_bool stopping; /* set by main after SIGTERM or SIGINT; read by the workers */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The auth endpoints count in their own class (ROUTE_AUTH_LIMIT), the rest
 * as reads or writes; a path that matches no route by its method. */
static enum ratelimit_class rate_class(const struct route *route, const char *method)
{
    if (route && (route->flags & ROUTE_AUTH_LIMIT))
        return RATELIMIT_AUTH;
    return strcmp(method, "GET") == 0 ? RATELIMIT_READ : RATELIMIT_WRITE;
}

/* Authenticate (when the route needs it) and count the request against
 * its rate limit, with one Redis round trip that also reads the caller's
 * auth epoch and, for a history page, the chat's version (ratelimit.h).
 * Sends 429 and returns -1 when over the limit; else returns 0 with *auth
 * the status req_auth_finish would give. The request counts in the caller's
 * bucket when authenticated, else the client IP's, as before the caches:
 * a guess that authentication then proves wrong is counted again. */
static int admit(struct req *req, const struct route *route, enum ratelimit_class cls, int *auth)
{
    struct req_auth_pending p = {.status = 0};
    struct ratelimit_probe probe = {0};
    int64_t likely = 0;
    long long count;

    *auth = 0;
    if (route && (route->flags & ROUTE_AUTH)) {
        req_auth_begin(req, &p);
        likely = req_auth_likely_user(req, &p);
        probe.epoch_user = p.jwt ? p.cl.sub : 0;
        if (route->flags & ROUTE_CHAT_VERSION)
            probe.chat_id = req->params[0];
    }
    count = ratelimit_count(req, cls, likely, &probe);
    if (route && (route->flags & ROUTE_AUTH))
        *auth = req_auth_finish(req, &p, probe.answered, probe.epoch);
    if (probe.chat_id && probe.answered) {
        req->cv_state = probe.chat_version < 0 ? REQ_CV_MISSING : REQ_CV_KNOWN;
        req->chat_version = probe.chat_version;
    }
    if (!ratelimit_same_bucket(cls, likely, req->user_id))
        count = ratelimit_count(req, cls, req->user_id, NULL);
    return ratelimit_or_reply(req, cls, count);
}

/* *matched: the route found (NULL if none), for the metrics. */
static void dispatch(struct req *req, const struct route **matched)
{
    const struct route *route;
    enum router_result res = router_match(req->method, req->path, &route, req->params);
    int auth;

    *matched = res == ROUTER_FOUND ? route : NULL;
    if (admit(req, res == ROUTER_FOUND ? route : NULL,
              rate_class(res == ROUTER_FOUND ? route : NULL, req->method), &auth))
        return;
    if (res == ROUTER_NOT_FOUND) {
        req_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    if (res == ROUTER_BAD_METHOD) {
        req_error(req, 405, "method_not_allowed", "method not allowed on this endpoint");
        return;
    }
    req->scope = route->scope;
    if (auth) {
        req_auth_error(req, auth);
        return;
    }
    if (req->api_token && (route->flags & ROUTE_SESSION_ONLY)) {
        req_error(req, 403, "forbidden", "this needs a session's access token, not an API token");
        return;
    }
    if (req->api_token && (route->scope & ~req->token_scopes)) {
        req_error(req, 403, "forbidden", "the API token lacks the scope %s",
                  scope_name(route->scope & ~req->token_scopes));
        return;
    }
    if (req_query_check_or_reply(req))
        return;
    if (!(route->flags & ROUTE_OWN_IDEMPOTENCY) && idem_begin(req))
        return;
    route->handler(req);
    if (!req->replied)
        req_internal(req, "handler sent no reply");
    idem_end(req, route->flags & ROUTE_SECRET);
}

static void serve_one(FCGX_Request *fcgi, struct worker *w)
{
    struct req req;
    const struct route *route = NULL;
    double t0 = now_ms(), t1;

    if (req_init(&req, fcgi, w) == 0)
        dispatch(&req, &route);
    t1 = now_ms();
    ops_request(route, req.method, req.status, (t1 - t0) / 1e3);
    if (req.status >= 500 || t0 + 1000 < t1)
        log_warn("%s %s %d %.1fms user=%lld", req.method, req.path, req.status, t1 - t0,
                 (long long)req.user_id);
    req_release(&req);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    FCGX_Request fcgi;

    db_init(&w->db, cfg.db_conninfo);
    FCGX_InitRequest(&fcgi, listen_fd, 0);
    while (!atomic_load(&stopping)) {
        if (FCGX_Accept_r(&fcgi) < 0)
            break;
        serve_one(&fcgi, w);
        FCGX_Finish_r(&fcgi);
    }
    FCGX_Free(&fcgi, 1);
    db_release(&w->db);
    if (w->rcl) {
        rcl_free(w->rcl);
        free(w->rcl);
    }
    w->rcl = NULL;
    return NULL;
}

static int open_socket(const char *path)
{
    int fd;

    unlink(path);
    fd = FCGX_OpenSocket(path, 1024);
    if (fd < 0)
        die("chat-api: cannot listen on %s: %s", path, strerror(errno));
    chmod(path, 0660);
    return fd;
}

static void print_route(const struct route *r)
{
    char path[256];

    router_template(r, path, sizeof(path));
    printf("%s %s %s\n", r->method, path, r->flags & ROUTE_AUTH ? "auth" : "public");
}

int main(int argc, char **argv)
{
    char err[256];
    sigset_t set;
    int sig;
    pthread_t *threads;
    struct worker *workers;

    if (argc > 1 && strcmp(argv[1], "--routes") == 0) {
        /* The route table, one "METHOD /path/{id} auth|public" a line, for
         * the test that holds docs/openapi.yaml to it. */
        for (const struct route *r = router_routes; r->method; r++)
            print_route(r);
        return 0;
    }
    if (cfg_load(&cfg, argc > 1 ? argv[1] : NULL, err, sizeof(err)))
        die("chat-api: %s", err);
    if (cfg_load_secrets(&cfg, err, sizeof(err)))
        die("chat-api: %s", err);
    log_init("chat-api", log_level_parse(cfg.log_level));
    if (jwt_key_load(cfg.jwt_key_file, jwt_key))
        die("chat-api: cannot load or create the JWT key %s", cfg.jwt_key_file);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    FCGX_Init();
    listen_fd = open_socket(cfg.api_socket);
    if (authcache_init(&auth_cache, AUTHCACHE_MAX_ENTRIES) ||
        pagecache_init(&page_cache, PAGECACHE_MAX_ENTRIES, PAGECACHE_MAX_BYTES))
        die("chat-api: out of memory");

    /* Workers inherit a mask without SIGTERM/SIGINT; main waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    pwhash_limit_init(cfg.argon2_max_concurrent, cfg.argon2_wait_ms);
    if (ops_start(&cfg))
        die("chat-api: cannot listen on 127.0.0.1:%d (metrics_port)", cfg.metrics_port);
    threads = calloc(cfg.api_threads, sizeof(*threads));
    workers = calloc(cfg.api_threads, sizeof(*workers));
    if (!threads || !workers)
        die("chat-api: out of memory");
    for (int i = 0; i < cfg.api_threads; i++) {
        workers[i] = (struct worker){.cfg = &cfg,
                                     .jwt_key = jwt_key,
                                     .auth_cache = &auth_cache,
                                     .page_cache = &page_cache,
                                     .id = i};
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]))
            die("chat-api: cannot start worker %d", i);
    }
    log_info("listening on %s with %d workers, metrics on 127.0.0.1:%d", cfg.api_socket,
             cfg.api_threads, cfg.metrics_port);

    sigwait(&set, &sig);
    log_info("signal %d: finishing requests in flight", sig);
    atomic_store(&stopping, true);
    /* Wake the workers blocked in accept(); requests in flight finish. */
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    for (int i = 0; i < cfg.api_threads; i++)
        pthread_join(threads[i], NULL);
    unlink(cfg.api_socket);
    ops_stop();
    free(threads);
    free(workers);
    authcache_release(&auth_cache);
    pagecache_release(&page_cache);
    cfg_release(&cfg);
    curl_global_cleanup();
    log_info("stopped");
    return 0;
}
