/* ops.c - chat-push's metrics: registry, series and the scrape-time
 * figures read from the hub, Redis and PostgreSQL modules. */
#include "ops.h"

#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "pgq.h"
#include "rds_sub.h"

static const double ops_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10};

static struct {
    struct metrics m;
    struct hub *hub;
    /* the transports (label value: their sub_ops.name), as ops_init got them */
    const struct sub_ops *transports[OPS_MAX_TRANSPORTS];
    size_t ntransports;
    struct metrics_series *streams[OPS_MAX_TRANSPORTS], *fanned[OPS_MAX_TRANSPORTS];
    struct metrics_series *latency;
} O;

static int ops_transport(const struct sub_ops *t)
{
    for (size_t i = 0; i < O.ntransports; i++)
        if (O.transports[i] == t)
            return (int)i;
    return -1;
}

void ops_fanned_out(const struct sub_ops *t, unsigned n)
{
    int i = ops_transport(t);

    if (n && i >= 0)
        metrics_add(O.fanned[i], n);
}

void ops_delivered(const struct hub_event *ev)
{
    struct timespec ts;
    double s;

    if (!ev->created_us)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    s = ((double)ts.tv_sec - (double)(ev->created_us / 1000000)) +
        ((double)ts.tv_nsec / 1e9 - (double)(ev->created_us % 1000000) / 1e6);
    metrics_observe(O.latency, s > 0 ? s : 0);
}

static double ops_u64(void *arg)
{
    return (double)*(const uint64_t *)arg;
}

static double ops_rds_reconnects(void *arg)
{
    return (double)rds_reconnects();
}

static double ops_pgq_reconnects(void *arg)
{
    return (double)pgq_reconnects();
}

static void ops_register(struct metrics *m, struct hub *h)
{
    struct metrics_family *streams, *fanned;

    streams = metrics_gauge_new(m, "chat_push_streams",
                                "Streams attached to a connection now, by transport.", "transport");
    fanned = metrics_counter_new(m, "chat_push_events_fanned_out_total",
                                 "Events written to subscribers (one per event and subscriber), "
                                 "by transport.",
                                 "transport");
    for (size_t i = 0; i < O.ntransports; i++) {
        O.streams[i] = metrics_series_get(streams, &O.transports[i]->name);
        O.fanned[i] = metrics_series_get(fanned, &O.transports[i]->name);
    }
    O.latency = metrics_series_get(
        metrics_histogram_new(
            m, "chat_push_delivery_latency_seconds",
            "From a message's created_at (PostgreSQL now() of the transaction that inserted it, "
            "ms precision) to the write of its message.created event on a subscriber's socket "
            "(long-poll: the answer queued). Re-sends after a resume count again.",
            NULL, ops_buckets, sizeof(ops_buckets) / sizeof(ops_buckets[0])),
        NULL);
    const struct metrics_fn_def fns[] = {
        {METRICS_COUNTER, "chat_push_redis_reconnects_total",
         "Redis connections made ready again after one was lost.", ops_rds_reconnects, NULL},
        {METRICS_COUNTER, "chat_push_db_reconnects_total",
         "PostgreSQL connections opened again after one was lost.", ops_pgq_reconnects, NULL},
        {METRICS_COUNTER, "chat_push_backfills_total",
         "Fetches of missed changes of a chat from PostgreSQL.", ops_u64, &h->nfetches},
        {METRICS_COUNTER, "chat_push_resyncs_total",
         "Resync events queued to live streams because continuity was lost (Redis reconnect, "
         "unfilled gap).",
         ops_u64, &h->nresyncs},
    };

    metrics_fn_table(m, fns, sizeof(fns) / sizeof(fns[0]));
}

int ops_init(struct hub *h, const struct sub_ops *const *transports, size_t n)
{
    if (n > OPS_MAX_TRANSPORTS) {
        log_err("metrics: %zu transports, room for %d", n, OPS_MAX_TRANSPORTS);
        return -1;
    }
    O.hub = h;
    memcpy(O.transports, transports, n * sizeof(*transports));
    O.ntransports = n;
    metrics_init(&O.m);
    ops_register(&O.m, h);
    if (O.m.errstr[0]) {
        log_err("metrics: %s", O.m.errstr);
        return -1;
    }
    return 0;
}

void ops_release(void)
{
    metrics_release(&O.m);
}

void ops_render(struct buf *out)
{
    unsigned n[OPS_MAX_TRANSPORTS] = {0};
    int i;

    for (struct hub_stream *s = O.hub->streams; s; s = s->all_next)
        if (s->ops && (i = ops_transport(s->ops)) >= 0)
            n[i]++;
    for (size_t t = 0; t < O.ntransports; t++)
        metrics_set(O.streams[t], n[t]);
    metrics_render(&O.m, out);
}
