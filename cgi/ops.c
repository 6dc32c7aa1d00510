/* ops.c - chat-api's metrics and their loopback listener. */
#include "ops.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "opshttp.h"
#include "pwhash.h"
#include "req_redis.h"

#define OPS_MAX_ROUTES 96

static const double ops_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10};

static struct {
    struct metrics m;
    struct metrics_family *requests;
    struct metrics_series *duration[OPS_MAX_ROUTES + 1]; /* by route index; the last: unmatched */
    char templates[OPS_MAX_ROUTES][128];
    int nroutes;
} ops;

/* Method label values for a request that matched no route. */
static const char *const ops_methods[] = {"GET",    "HEAD",    "POST", "PUT",
                                          "DELETE", "OPTIONS", "PATCH"};

static const char *ops_method(const char *method)
{
    for (size_t i = 0; i < sizeof(ops_methods) / sizeof(ops_methods[0]); i++)
        if (strcmp(method, ops_methods[i]) == 0)
            return ops_methods[i];
    return "other";
}

void ops_request(const struct route *route, const char *method, int status, double seconds)
{
    int i = route ? (int)(route - router_routes) : ops.nroutes;
    char code[12];
    const char *values[3];

    if (i < 0 || i > ops.nroutes)
        i = ops.nroutes;
    snprintf(code, sizeof(code), "%d", status);
    values[0] = i < ops.nroutes ? ops.templates[i] : "unmatched";
    values[1] = i < ops.nroutes ? route->method : ops_method(method ? method : "");
    values[2] = code;
    metrics_inc(metrics_series_get(ops.requests, values));
    metrics_observe(ops.duration[i], seconds);
}

static double ops_db_reconnects(void *arg)
{
    return (double)db_reconnects();
}

static double ops_redis_reconnects(void *arg)
{
    return (double)req_redis_reconnects();
}

static double ops_argon2(void *arg)
{
    struct pwhash_stats st;

    pwhash_limit_stats(&st);
    switch ((int)(intptr_t)arg) {
    case 0: return st.in_flight;
    case 1: return st.waiting;
    default: return (double)st.rejected;
    }
}

/* The figures other modules keep, read at each scrape. */
static const struct metrics_fn_def ops_fns[] = {
    {METRICS_COUNTER, "chat_api_db_reconnects_total",
     "PostgreSQL connections opened again after one was lost.", ops_db_reconnects, NULL},
    {METRICS_COUNTER, "chat_api_redis_reconnects_total",
     "Redis connections opened again after one was lost.", ops_redis_reconnects, NULL},
    {METRICS_GAUGE, "chat_api_argon2_in_flight",
     "Password hashes running now (argon2_max_concurrent caps it).", ops_argon2,
     (void *)(intptr_t)0},
    {METRICS_GAUGE, "chat_api_argon2_waiting", "Requests waiting for a password hashing slot now.",
     ops_argon2, (void *)(intptr_t)1},
    {METRICS_COUNTER, "chat_api_argon2_rejected_total",
     "Requests answered 503 because no hashing slot freed up within argon2_wait_ms.", ops_argon2,
     (void *)(intptr_t)2},
};

static void ops_register(struct metrics *m)
{
    struct metrics_family *d;

    ops.requests = metrics_counter_new(m, "chat_api_requests_total",
                                       "Requests answered, by route template, method and status.",
                                       "route,method,status");
    d = metrics_histogram_new(m, "chat_api_request_duration_seconds",
                              "Time from reading a request to its reply, by route template.",
                              "route", ops_buckets, sizeof(ops_buckets) / sizeof(ops_buckets[0]));
    for (ops.nroutes = 0; router_routes[ops.nroutes].method; ops.nroutes++) {
        if (ops.nroutes == OPS_MAX_ROUTES) {
            snprintf(m->errstr, sizeof(m->errstr), "more than %d routes", OPS_MAX_ROUTES);
            return;
        }
    }
    for (int i = 0; i < ops.nroutes; i++) {
        router_template(&router_routes[i], ops.templates[i], sizeof(ops.templates[i]));
        /* Routes sharing a template (GET and POST .../messages) share the series. */
        ops.duration[i] = metrics_series_get(d, (const char *[]){ops.templates[i]});
    }
    ops.duration[ops.nroutes] = metrics_series_get(d, (const char *[]){"unmatched"});
    metrics_fn_table(m, ops_fns, sizeof(ops_fns) / sizeof(ops_fns[0]));
}

int ops_start(const struct cfg *cfg)
{
    metrics_init(&ops.m);
    ops_register(&ops.m);
    if (ops.m.errstr[0]) {
        log_err("metrics: %s", ops.m.errstr);
        return -1;
    }
    return cfg->metrics_port ? opshttp_start(cfg->metrics_port, &ops.m, NULL, NULL) : 0;
}

void ops_stop(void)
{
    opshttp_stop();
}
