/* ops.c - chat-notify's /healthz, /readyz and /metrics on 127.0.0.1
 * (lib/opshttp.h: libmicrohttpd in its own thread; lib/metrics.h: the
 * Prometheus text format 0.0.4). The loop updates the series here; the
 * figures /readyz needs are atomics. */
#include <stdatomic.h>

#include "db.h"
#include "metrics.h"
#include "notify.h"
#include "opshttp.h"

static const double ops_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static const char *const ops_result_names[OPS_NRESULTS][2] = {
    {"webhook", "delivered"}, {"webhook", "retry"}, {"webhook", "failed"}, {"push", "sent"},
    {"push", "online"},       {"push", "failed"},   {"push", "rejected"},
};

static struct {
    struct metrics m;
    struct metrics_series *results[OPS_NRESULTS];
    struct metrics_series *latency, *webhook_pending, *push_pending, *oldest_age, *inflight;
    atomic_bool db_ok;
    atomic_bool redis_refused; /* Redis refused our password: a configuration error */
} ops;

void ops_count(enum ops_result r)
{
    metrics_inc(ops.results[r]);
}

void ops_latency(double s)
{
    metrics_observe(ops.latency, s);
}

void ops_gauges(bool db_ok, int64_t webhook_pending, double oldest_age_s, int64_t push_pending,
                int inflight)
{
    atomic_store(&ops.db_ok, db_ok);
    metrics_set(ops.webhook_pending, (double)webhook_pending);
    metrics_set(ops.oldest_age, oldest_age_s);
    metrics_set(ops.push_pending, (double)push_pending);
    metrics_set(ops.inflight, inflight);
}

void ops_redis_auth(bool ok)
{
    atomic_store(&ops.redis_refused, !ok);
}

static unsigned ops_ready(void *arg, const char **body)
{
    if (atomic_load(&ops.redis_refused)) {
        *body = "redis refused the password\n";
        return 503;
    }
    if (!atomic_load(&ops.db_ok)) {
        *body = "database unreachable\n";
        return 503;
    }
    *body = "ready\n";
    return 200;
}

static double ops_db_reconnects(void *arg)
{
    return (double)db_reconnects();
}

/* The figures other modules keep, read at each scrape. */
static const struct metrics_fn_def ops_fns[] = {
    {METRICS_COUNTER, "chat_notify_db_reconnects_total",
     "PostgreSQL connections opened again after one was lost.", ops_db_reconnects, NULL},
};

static void ops_register(struct metrics *m)
{
    struct metrics_family *depth, *results;

    depth = metrics_gauge_new(m, "chat_notify_queue_depth",
                              "Outbox backlog: webhook deliveries pending, pushes queued.", "kind");
    ops.webhook_pending = metrics_series_get(depth, (const char *[]){"webhook"});
    ops.push_pending = metrics_series_get(depth, (const char *[]){"push"});
    ops.oldest_age = metrics_gauge(m, "chat_notify_oldest_pending_seconds",
                                   "Age of the oldest pending webhook delivery.");
    ops.inflight = metrics_gauge(m, "chat_notify_inflight", "Requests in flight in this process.");
    results = metrics_counter_new(m, "chat_notify_deliveries_total",
                                  "Finished webhook and push attempts by result.", "kind,result");
    for (int i = 0; i < OPS_NRESULTS; i++)
        ops.results[i] = metrics_series_get(results, ops_result_names[i]);
    ops.latency = metrics_series_get(
        metrics_histogram_new(m, "chat_notify_request_duration_seconds",
                              "Duration of outgoing webhook and push gateway requests.", NULL,
                              ops_buckets, sizeof(ops_buckets) / sizeof(ops_buckets[0])),
        NULL);
    metrics_fn_table(m, ops_fns, sizeof(ops_fns) / sizeof(ops_fns[0]));
}

int ops_start(int port)
{
    metrics_init(&ops.m);
    ops_register(&ops.m);
    if (ops.m.errstr[0])
        return -1;
    return port ? opshttp_start(port, &ops.m, ops_ready, NULL) : 0;
}

void ops_stop(void)
{
    opshttp_stop();
}
