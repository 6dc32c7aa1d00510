/* notify.h - chat-notify: drains the outbox to webhooks and push gateways.
 *
 * One process is one loop (main.c): claim due rows from PostgreSQL
 * (blocking libpq, short statements), start their HTTP requests on one
 * libcurl multi handle, wait in curl_multi_poll, record each finished
 * request. Several processes may run: rows are claimed with FOR UPDATE
 * SKIP LOCKED and a lock naming the claiming backend, void once that
 * backend is gone (db/migrations/0007_notify.sql), so a crash only causes
 * a resend with the same delivery id (at-least-once).
 */
#ifndef CHAT_NOTIFY_H
#define CHAT_NOTIFY_H

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "rcl.h"

#define NOTIFY_MAX_INFLIGHT 256
#define NOTIFY_RESP_MAX 8192 /* response bytes kept (push gateways answer JSON) */

struct notify {
    const struct cfg *cfg;
    struct db db;
    CURLM *multi;
    struct rcl *rcl; /* Redis (lib/rcl.h, either mode); NULL until needed */
    int inflight;    /* requests on multi */
    int lease_s;     /* a claim is void after this even if its backend lives */
    bool db_ok;
    bool kick;        /* something finished: claim again at once */
    struct job *jobs; /* requests in flight, linked through job->next */
};

enum job_kind { JOB_WEBHOOK, JOB_PUSH };

struct push_item;

/* One HTTP request in flight. */
struct job {
    enum job_kind kind;
    struct notify *n;
    struct job *next, *prev;
    CURL *easy;
    struct curl_slist *headers;
    struct buf body;
    struct buf resp; /* the first NOTIFY_RESP_MAX bytes of the answer; never logged */
    bool refused;    /* the target address was refused (netaddr.h) */
    int64_t t0_us;
    /* JOB_WEBHOOK */
    int64_t delivery_id;
    int attempts;      /* before this one */
    double retry_from; /* unix seconds the retry window started */
    /* JOB_PUSH */
    struct push_item *item;
    int64_t sub_id;
    char *pushkey;
};

/* http.c */
/* Make a POST of job->body to url with the outgoing-HTTP rules (DESIGN.md
 * "Security decisions"): http(s) only, no redirects, no proxy, connect and
 * total timeouts, resolved address checked in CURLOPT_OPENSOCKETFUNCTION.
 * extra: header lines (may be NULL; ownership passes to the job). Adds the
 * handle to n->multi. Returns 0 or -1 (the job is then untouched). */
int http_start(struct job *job, const char *url, struct curl_slist *extra);
/* Free what a finished or abandoned job holds, the job included. */
void http_job_free(struct job *job);
/* The monotonic clock (CLOCK_MONOTONIC) in microseconds, for latencies. */
int64_t http_now_us(void);

/* claim.c */
/* Run a claim statement st ($1: at most max rows, $2: the lease in seconds)
 * and call start for each row claimed. what names the kind in logs.
 * Returns the number of rows claimed, or -1 on a database error. */
int notify_claim(struct notify *n, const struct db_stmt *st, int max, const char *what,
                 void (*start)(struct notify *n, PGresult *r, int row));

/* webhook.c */
/* Claim up to max due deliveries and start them; returns the number started or -1 (db). */
int webhook_claim(struct notify *n, int max);
/* A webhook request ended with code (and HTTP status when code is CURLE_OK). */
void webhook_done(struct job *job, CURLcode code, long status);

/* push.c */
/* Fan new message.created events out to push_queue (coalescing per user and chat). */
int push_expand(struct notify *n);
/* Claim due pushes, check presence, start the gateway requests. */
int push_claim(struct notify *n, int max);
/* Make n->rcl (Redis client, connecting lazily with AUTH) unless made; 0
 * or CHAT_ERR_NOMEM / CHAT_ERR_INVALID (a bad redis_cluster), logged. */
int push_redis_connect(struct notify *n);
void push_done(struct job *job, CURLcode code, long status);
/* A push request given up at shutdown: forget it without recording. */
void push_abandon(struct job *job);

/* ops.c: /healthz, /readyz, /metrics on 127.0.0.1 (libmicrohttpd's own thread). */
enum ops_result {
    OPS_DELIVERED,
    OPS_RETRY,
    OPS_FAILED,
    OPS_PUSH_SENT,
    OPS_PUSH_ONLINE,
    OPS_PUSH_FAILED,
    OPS_PUSH_REJECTED,
    OPS_NRESULTS
};
int ops_start(int port);
void ops_stop(void);
void ops_count(enum ops_result r);
void ops_latency(double seconds);
/* Whether Redis accepted chat-notify's password (redis_password_file) the
 * last time it connected; while it refuses, /readyz answers 503. */
void ops_redis_auth(bool ok);
void ops_gauges(bool db_ok, int64_t webhook_pending, double oldest_age_s, int64_t push_pending,
                int inflight);

#endif
