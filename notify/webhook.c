/* webhook.c - webhook deliveries (API.md "Outgoing webhooks and push").
 *
 * A delivery is a POST of the event JSON, signed as
 * X-Chat-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t "." body)>, with
 * its stable id in X-Chat-Delivery. Timeouts, transport errors, 5xx, 408
 * and 429 are retried with exponential backoff and jitter until the retry
 * window (24 h by default) has passed; anything else ends it as failed. A
 * delivery is claimed only when no earlier version of its chat is pending
 * for its webhook, so each chat's events arrive in version order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "log.h"
#include "notify.h"

/* Candidates are the head of each (webhook, chat) queue, the pending
 * delivery with the lowest version, and redeliveries, which stand outside
 * that order; of those, the due ones nobody live holds are taken. */
static const struct db_stmt st_claim = {
    "notify_webhook_claim",
    "WITH heads AS (SELECT DISTINCT ON (webhook_id, chat_id) id FROM webhook_deliveries "
    "  WHERE state = 'pending' AND NOT redelivery ORDER BY webhook_id, chat_id, version), "
    "cand AS (SELECT id FROM heads UNION ALL "
    "  SELECT id FROM webhook_deliveries WHERE state = 'pending' AND redelivery), "
    "c AS (SELECT d.id FROM webhook_deliveries d JOIN cand ON cand.id = d.id "
    "  WHERE d.state = 'pending' AND d.next_at <= now() "
    "    AND NOT notify_lock_live(d.locked_by, d.locked_at, $2::int) "
    "  ORDER BY d.next_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED) "
    "UPDATE webhook_deliveries d SET locked_by = pg_backend_pid(), locked_at = now() "
    "FROM c, webhooks w WHERE d.id = c.id AND w.id = d.webhook_id "
    "RETURNING d.id, d.attempts, extract(epoch FROM d.retry_from)::float8, w.url, w.secret, "
    "  (SELECT change_event(ch)::text FROM chat_changes ch "
    "   WHERE ch.chat_id = d.chat_id AND ch.version = d.version)",
    2, false};

/* The row lock the UPDATE takes holds off a concurrent DELETE of the
 * webhook (cascading to its deliveries) until COMMIT, and a delivery already
 * deleted updates nothing and records nothing: no foreign-key error. */
static const struct db_stmt st_result = {
    "notify_webhook_result",
    "WITH u AS (UPDATE webhook_deliveries SET attempts = attempts + 1, locked_by = NULL, "
    "  locked_at = NULL, state = $5::text, "
    "  next_at = now() + make_interval(secs => $6::float8 / 1000), "
    "  done_at = CASE WHEN $5::text = 'pending' THEN NULL ELSE now() END, "
    "  redelivery = redelivery AND $5::text = 'pending', last_status = $2::int, "
    "  last_error = $4::text "
    "  WHERE id = $1 RETURNING id) "
    "INSERT INTO webhook_attempts (delivery_id, http_status, latency_ms, error) "
    "SELECT id, $2::int, $3::int, $4::text FROM u",
    6, false};

/* X-Chat-Signature for body at unix time t. */
static void webhook_sign(const char *secret, time_t t, const struct buf *body, char *out,
                         size_t outlen)
{
    struct buf msg = BUF_INIT;
    unsigned char mac[32];
    char hex[65];

    buf_addf(&msg, "%lld.", (long long)t);
    buf_add(&msg, body->s, body->len);
    crypto_hmac_sha256(secret, strlen(secret), msg.s, msg.len, mac);
    crypto_hex(mac, sizeof(mac), hex);
    snprintf(out, outlen, "X-Chat-Signature: t=%lld,v1=%s", (long long)t, hex);
    buf_release(&msg);
}

static void webhook_record(struct notify *n, int64_t id, long status, int latency_ms,
                           const char *error, const char *state, double delay_ms)
{
    char sid[24], sst[16], slat[16], sdelay[32];
    PGresult *r;

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(sst, sizeof(sst), "%ld", status);
    snprintf(slat, sizeof(slat), "%d", latency_ms);
    snprintf(sdelay, sizeof(sdelay), "%.0f", delay_ms);
    r = db_exec(&n->db, &st_result,
                (const char *[]){sid, status ? sst : NULL, slat, error, state, sdelay});
    if (!r) {
        /* The claim lapses with this connection or the lease: resent later. */
        log_warn("webhook: recording delivery %lld: %s", (long long)id, n->db.errstr);
        n->db_ok = false;
        return;
    }
    PQclear(r);
}

static void webhook_start(struct notify *n, PGresult *r, int i)
{
    struct job *job = calloc(1, sizeof(*job));
    struct curl_slist *h = NULL;
    char line[160];

    if (!job)
        abort();
    job->kind = JOB_WEBHOOK;
    job->n = n;
    buf_init(&job->body);
    buf_init(&job->resp);
    job->delivery_id = db_int(r, i, 0);
    job->attempts = (int)db_int(r, i, 1);
    job->retry_from = strtod(PQgetvalue(r, i, 2), NULL);
    if (db_is_null(r, i, 5)) { /* the change left the log's retention */
        webhook_record(n, job->delivery_id, 0, 0, "event expired", "failed", 0);
        ops_count(OPS_FAILED);
        http_job_free(job);
        return;
    }
    buf_add(&job->body, PQgetvalue(r, i, 5), (size_t)PQgetlength(r, i, 5));
    snprintf(line, sizeof(line), "X-Chat-Delivery: %lld", (long long)job->delivery_id);
    h = curl_slist_append(h, line);
    webhook_sign(PQgetvalue(r, i, 4), time(NULL), &job->body, line, sizeof(line));
    h = curl_slist_append(h, line);
    if (http_start(job, PQgetvalue(r, i, 3), h)) {
        curl_slist_free_all(h);
        log_warn("webhook: cannot start delivery %lld", (long long)job->delivery_id);
        http_job_free(job); /* the claim lapses and it is retried */
    }
}

int webhook_claim(struct notify *n, int max)
{
    return notify_claim(n, &st_claim, max, "webhook", webhook_start);
}

/* Exponential backoff from the configured base, at most 1 h, with jitter
 * in [0.75, 1] of it: attempts spread out yet each gap grows. */
static double webhook_backoff_ms(const struct cfg *c, int attempts)
{
    double d = c->notify_backoff_ms;

    for (int i = 1; i < attempts && d < 3600000.0; i++)
        d *= 2;
    if (d > 3600000.0)
        d = 3600000.0;
    return d * (0.75 + 0.25 * ((double)random() / RAND_MAX));
}

static bool webhook_retryable(CURLcode code, long status, bool refused)
{
    if (refused)
        return false;
    if (code != CURLE_OK)
        return code != CURLE_UNSUPPORTED_PROTOCOL && code != CURLE_URL_MALFORMAT;
    return status >= 500 || status == 408 || status == 429;
}

void webhook_done(struct job *job, CURLcode code, long status)
{
    struct notify *n = job->n;
    int latency_ms = (int)((http_now_us() - job->t0_us) / 1000);
    const char *error = NULL, *state;
    double delay = 0;
    int attempts = job->attempts + 1;

    ops_latency(latency_ms / 1000.0);
    if (job->refused)
        error = "address refused";
    else if (code != CURLE_OK)
        error = code == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(code);
    if (code == CURLE_OK && status >= 200 && status < 300) {
        state = "delivered";
        ops_count(OPS_DELIVERED);
    } else if (webhook_retryable(code, status, job->refused)) {
        delay = webhook_backoff_ms(n->cfg, attempts);
        /* API.md: retried "for at least 24 h": give up only once an attempt
         * itself happens past the window, never by predicting the next. */
        if ((double)time(NULL) - job->retry_from >= n->cfg->notify_retry_window) {
            state = "failed";
            ops_count(OPS_FAILED);
        } else {
            state = "pending";
            ops_count(OPS_RETRY);
        }
    } else {
        state = "failed";
        ops_count(OPS_FAILED);
    }
    log_debug("webhook: delivery %lld attempt %d: %s status=%ld latency_ms=%d",
              (long long)job->delivery_id, attempts, state, status, latency_ms);
    webhook_record(n, job->delivery_id, code == CURLE_OK ? status : 0, latency_ms, error, state,
                   delay);
}
