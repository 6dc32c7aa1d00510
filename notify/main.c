/* main.c - chat-notify: startup, signals and the delivery loop.
 *
 * One loop: every pass claims what is due (at once after a request ended,
 * so a chat's next event follows its predecessor without waiting, else
 * every 100 ms), then waits in curl_multi_poll on the transfers and a
 * signalfd, then records finished requests. On SIGTERM or SIGINT it claims
 * nothing more, lets requests in flight finish for up to 5 s, releases the
 * claims of the rest (they are resent, same delivery id) and exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

#define NOTIFY_SCAN_MS 100
#define NOTIFY_GAUGES_MS 2000
#define NOTIFY_CLEANUP_MS 60000
#define NOTIFY_DRAIN_MS 5000

static const struct db_stmt st_gauges = {
    "notify_gauges",
    "SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'), "
    "  coalesce(extract(epoch FROM now() - (SELECT min(created_at) FROM webhook_deliveries "
    "    WHERE state = 'pending')), 0)::float8, "
    "  (SELECT count(*) FROM push_queue) + (SELECT count(*) FROM push_outbox)",
    0, true};

/* Delivery logs are kept 30 days after they end. */
static const struct db_stmt st_cleanup = {
    "notify_cleanup",
    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
    "  WHERE state <> 'pending' AND done_at < now() - interval '30 days' LIMIT 1000)",
    0, false};

static const struct db_stmt st_release = {
    "notify_release",
    "WITH w AS (UPDATE webhook_deliveries SET locked_by = NULL, locked_at = NULL "
    "  WHERE locked_by = pg_backend_pid()) "
    "UPDATE push_queue SET locked_by = NULL, locked_at = NULL WHERE locked_by = pg_backend_pid()",
    0, false};

static int64_t now_ms(void)
{
    return http_now_us() / 1000;
}

static void gauges(struct notify *n)
{
    PGresult *r = n->db_ok ? db_exec(&n->db, &st_gauges, NULL) : NULL;

    if (!r) {
        ops_gauges(n->db_ok, 0, 0, 0, n->inflight);
        return;
    }
    ops_gauges(true, db_int(r, 0, 0), strtod(PQgetvalue(r, 0, 1), NULL), db_int(r, 0, 2),
               n->inflight);
    PQclear(r);
}

static void scan(struct notify *n)
{
    int room = NOTIFY_MAX_INFLIGHT - n->inflight;

    n->db_ok = push_expand(n) == 0;
    if (!n->db_ok)
        return;
    if (webhook_claim(n, room / 2 + room % 2) < 0 ||
        push_claim(n, (NOTIFY_MAX_INFLIGHT - n->inflight) / 2) < 0)
        n->db_ok = false;
}

static void finish_transfers(struct notify *n)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(n->multi, &left))) {
        struct job *job = NULL;
        long status = 0;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&job);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (job->kind == JOB_WEBHOOK)
            webhook_done(job, m->data.result, status);
        else
            push_done(job, m->data.result, status);
        http_job_free(job);
        n->kick = true;
    }
}

static int signal_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL))
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void run(struct notify *n, int sigfd)
{
    int64_t next_scan = 0, next_gauges = 0, next_cleanup = now_ms() + NOTIFY_CLEANUP_MS;
    int64_t stop_at = 0;
    int running;

    for (;;) {
        struct curl_waitfd wfd = {.fd = sigfd, .events = CURL_WAIT_POLLIN};
        struct signalfd_siginfo si;
        int64_t t = now_ms(), wait;

        if (!stop_at && (n->kick || t >= next_scan)) {
            n->kick = false;
            scan(n);
            /* After a database error, retry in a second rather than spin. */
            next_scan = t + (n->db_ok ? NOTIFY_SCAN_MS : 1000);
        }
        if (t >= next_gauges) {
            gauges(n);
            next_gauges = t + NOTIFY_GAUGES_MS;
        }
        if (t >= next_cleanup && n->db_ok) {
            PGresult *r = db_exec(&n->db, &st_cleanup, NULL);
            if (r)
                PQclear(r);
            next_cleanup = t + NOTIFY_CLEANUP_MS;
        }
        if (stop_at && (n->inflight == 0 || t >= stop_at))
            break;
        wait = n->kick ? 0 : next_scan - now_ms();
        if (wait > NOTIFY_SCAN_MS)
            wait = NOTIFY_SCAN_MS;
        curl_multi_poll(n->multi, &wfd, 1, wait < 0 ? 0 : (int)wait, NULL);
        if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && !stop_at) {
            log_info("signal %d: stopping, %d requests in flight", (int)si.ssi_signo, n->inflight);
            stop_at = now_ms() + NOTIFY_DRAIN_MS;
        }
        curl_multi_perform(n->multi, &running);
        finish_transfers(n);
    }
}

/* Give up what is still in flight: its claims are released so another
 * process (or the next start) sends it again with the same delivery id. */
static void abandon(struct notify *n)
{
    PGresult *r;

    while (n->jobs) {
        struct job *job = n->jobs;
        if (job->kind == JOB_PUSH)
            push_abandon(job);
        http_job_free(job);
    }
    r = db_exec(&n->db, &st_release, NULL);
    if (r)
        PQclear(r);
}

int main(void)
{
    static struct cfg cfg;
    struct notify n = {0};
    char err[256];
    int sigfd;

    signal(SIGPIPE, SIG_IGN);
    if (cfg_load(&cfg, NULL, err, sizeof(err)))
        die("chat-notify: %s", err);
    if (cfg_load_secrets(&cfg, err, sizeof(err)))
        die("chat-notify: %s", err);
    log_init("chat-notify", log_level_parse(cfg.log_level));
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        die("chat-notify: curl_global_init failed");
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    n.cfg = &cfg;
    n.lease_s = cfg.notify_timeout_ms / 1000 + 30;
    n.multi = curl_multi_init();
    if (!n.multi)
        die("chat-notify: curl_multi_init failed");
    curl_multi_setopt(n.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    /* Losing a commit of chat-notify's own in a PostgreSQL crash only
     * resends a delivery (same id) or a push, which at-least-once allows;
     * not waiting for each flush multiplies the per-chat delivery rate. */
    setenv("PGOPTIONS", "-c synchronous_commit=off", 0);
    setenv("PGAPPNAME", "chat-notify", 0);
    db_init(&n.db, cfg.db_conninfo);
    if ((sigfd = signal_fd()) < 0)
        die("chat-notify: signalfd: %s", strerror(errno));
    if (ops_start(cfg.notify_port))
        die("chat-notify: cannot listen on 127.0.0.1:%d", cfg.notify_port);
    push_redis_connect(&n); /* a refused password shows at once, in the log and /readyz */
    log_info("started: ops on 127.0.0.1:%d, backoff %d ms, retry window %d s%s", cfg.notify_port,
             cfg.notify_backoff_ms, cfg.notify_retry_window,
             cfg.notify_allow_private ? ", internal addresses allowed" : "");
    run(&n, sigfd);
    abandon(&n);
    ops_stop();
    curl_multi_cleanup(n.multi);
    if (n.rcl) {
        rcl_free(n.rcl);
        free(n.rcl);
    }
    db_release(&n.db);
    curl_global_cleanup();
    cfg_release(&cfg);
    close(sigfd);
    log_info("stopped");
    return 0;
}
