/* ops.c - chat-notify's /healthz, /readyz and /metrics (Prometheus text
 * format 0.0.4) on 127.0.0.1. libmicrohttpd serves them from its own
 * thread; the loop publishes figures here under a mutex. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

#include "buf.h"
#include "notify.h"

static const double ops_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define OPS_NBUCKETS (sizeof(ops_buckets) / sizeof(ops_buckets[0]))

static const char *const ops_result_names[OPS_NRESULTS][2] = {
    {"webhook", "delivered"}, {"webhook", "retry"}, {"webhook", "failed"}, {"push", "sent"},
    {"push", "online"},       {"push", "failed"},   {"push", "rejected"},
};

static struct {
    pthread_mutex_t lock;
    unsigned long long results[OPS_NRESULTS];
    unsigned long long bucket[OPS_NBUCKETS + 1];
    double latency_sum;
    bool db_ok;
    bool redis_refused; /* Redis refused our password: a configuration error */
    int64_t webhook_pending, push_pending;
    double oldest_age;
    int inflight;
} ops = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct MHD_Daemon *ops_daemon;

void ops_count(enum ops_result r)
{
    pthread_mutex_lock(&ops.lock);
    ops.results[r]++;
    pthread_mutex_unlock(&ops.lock);
}

void ops_latency(double s)
{
    size_t i = 0;

    while (i < OPS_NBUCKETS && s > ops_buckets[i])
        i++;
    pthread_mutex_lock(&ops.lock);
    ops.bucket[i]++;
    ops.latency_sum += s;
    pthread_mutex_unlock(&ops.lock);
}

void ops_gauges(bool db_ok, int64_t webhook_pending, double oldest_age_s, int64_t push_pending,
                int inflight)
{
    pthread_mutex_lock(&ops.lock);
    ops.db_ok = db_ok;
    ops.webhook_pending = webhook_pending;
    ops.oldest_age = oldest_age_s;
    ops.push_pending = push_pending;
    ops.inflight = inflight;
    pthread_mutex_unlock(&ops.lock);
}

void ops_redis_auth(bool ok)
{
    pthread_mutex_lock(&ops.lock);
    ops.redis_refused = !ok;
    pthread_mutex_unlock(&ops.lock);
}

static void ops_metrics(struct buf *b)
{
    unsigned long long cum = 0;

    pthread_mutex_lock(&ops.lock);
    buf_adds(b, "# HELP chat_notify_queue_depth Deliveries and pushes waiting.\n"
                "# TYPE chat_notify_queue_depth gauge\n");
    buf_addf(b, "chat_notify_queue_depth{kind=\"webhook\"} %lld\n", (long long)ops.webhook_pending);
    buf_addf(b, "chat_notify_queue_depth{kind=\"push\"} %lld\n", (long long)ops.push_pending);
    buf_adds(b, "# HELP chat_notify_oldest_pending_seconds Age of the oldest pending delivery.\n"
                "# TYPE chat_notify_oldest_pending_seconds gauge\n");
    buf_addf(b, "chat_notify_oldest_pending_seconds %.3f\n", ops.oldest_age);
    buf_adds(b, "# HELP chat_notify_inflight Requests in flight in this process.\n"
                "# TYPE chat_notify_inflight gauge\n");
    buf_addf(b, "chat_notify_inflight %d\n", ops.inflight);
    buf_adds(b, "# HELP chat_notify_deliveries_total Finished attempts by result.\n"
                "# TYPE chat_notify_deliveries_total counter\n");
    for (int i = 0; i < OPS_NRESULTS; i++)
        buf_addf(b, "chat_notify_deliveries_total{kind=\"%s\",result=\"%s\"} %llu\n",
                 ops_result_names[i][0], ops_result_names[i][1], ops.results[i]);
    buf_adds(b, "# HELP chat_notify_request_seconds Latency of outgoing requests.\n"
                "# TYPE chat_notify_request_seconds histogram\n");
    for (size_t i = 0; i < OPS_NBUCKETS; i++) {
        cum += ops.bucket[i];
        buf_addf(b, "chat_notify_request_seconds_bucket{le=\"%g\"} %llu\n", ops_buckets[i], cum);
    }
    cum += ops.bucket[OPS_NBUCKETS];
    buf_addf(b, "chat_notify_request_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    buf_addf(b, "chat_notify_request_seconds_sum %.6f\n", ops.latency_sum);
    buf_addf(b, "chat_notify_request_seconds_count %llu\n", cum);
    pthread_mutex_unlock(&ops.lock);
}

static enum MHD_Result ops_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    MHD_add_response_header(r, "Content-Type", type);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ops_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct buf b = BUF_INIT;
    enum MHD_Result ret;
    bool ready, refused;

    if (strcmp(method, "GET") != 0)
        return ops_reply(c, 405, "text/plain", "method not allowed\n", 19);
    if (strcmp(url, "/healthz") == 0)
        return ops_reply(c, 200, "text/plain", "ok\n", 3);
    if (strcmp(url, "/readyz") == 0) {
        pthread_mutex_lock(&ops.lock);
        ready = ops.db_ok;
        refused = ops.redis_refused;
        pthread_mutex_unlock(&ops.lock);
        if (refused)
            return ops_reply(c, 503, "text/plain", "redis refused the password\n", 27);
        return ready ? ops_reply(c, 200, "text/plain", "ready\n", 6)
                     : ops_reply(c, 503, "text/plain", "database unreachable\n", 21);
    }
    if (strcmp(url, "/metrics") == 0) {
        ops_metrics(&b);
        ret = ops_reply(c, 200, "text/plain; version=0.0.4", b.s, b.len);
        buf_release(&b);
        return ret;
    }
    return ops_reply(c, 404, "text/plain", "not found\n", 10);
}

int ops_start(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ops_daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, ops_handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)10, MHD_OPTION_END);
    return ops_daemon ? 0 : -1;
}

void ops_stop(void)
{
    if (ops_daemon)
        MHD_stop_daemon(ops_daemon);
    ops_daemon = NULL;
}
