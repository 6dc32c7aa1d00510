/* ratelimit.c - fixed-window rate limits in Redis. */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "req.h"

#define WINDOW_S 60
#define LOGIN_WINDOW_S 900

/* INCR KEYS[1], set its expiry on creation; returns {count, ttl}. */
static const char incr_script[] = "local n = redis.call('INCR', KEYS[1]) "
                                  "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
                                  "return {n, redis.call('TTL', KEYS[1])}";

static void add_int_header(struct req *req, const char *name, long long v)
{
    char s[24];

    snprintf(s, sizeof(s), "%lld", v);
    req_header(req, name, s);
}

static int limit_of(const struct cfg *c, enum ratelimit_class cls)
{
    switch (cls) {
    case RATELIMIT_AUTH: return c->rate_auth;
    case RATELIMIT_READ: return c->rate_read;
    default: return c->rate_write;
    }
}

int ratelimit_or_reply(struct req *req, enum ratelimit_class cls)
{
    static const char *names[] = {"auth", "read", "write"};
    int limit = limit_of(req->w->cfg, cls);
    time_t now = time(NULL);
    long long window = now / WINDOW_S, reset = WINDOW_S - now % WINDOW_S, count = 0;
    char key[128];
    redisReply *r;

    if (req->user_id && cls != RATELIMIT_AUTH)
        snprintf(key, sizeof(key), "rl:%s:u%lld:%lld", names[cls], (long long)req->user_id, window);
    else
        snprintf(key, sizeof(key), "rl:%s:ip%s:%lld", names[cls], req->remote_addr, window);
    r = req_redis(req, "EVAL %s 1 %s %d", incr_script, key, WINDOW_S + 1);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        count = r->element[0]->integer;
    add_int_header(req, "X-RateLimit-Limit", limit);
    add_int_header(req, "X-RateLimit-Remaining", count < limit ? limit - count : 0);
    add_int_header(req, "X-RateLimit-Reset", reset);
    if (count <= limit)
        return 0;
    add_int_header(req, "Retry-After", reset);
    req_error(req, 429, "rate_limited", "too many requests; retry in %lld s", reset);
    return -1;
}

int ratelimit_login_or_reply(struct req *req, const char *username)
{
    redisReply *r = req_redis(req, "GET lf:%s:%s", username, req->remote_addr);
    redisReply *ttl;
    long long n;

    if (!r || r->type != REDIS_REPLY_STRING)
        return 0;
    n = atoll(r->str);
    if (n < req->w->cfg->login_failures)
        return 0;
    ttl = req_redis(req, "TTL lf:%s:%s", username, req->remote_addr);
    add_int_header(req, "Retry-After",
                   ttl && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 0 ? ttl->integer
                                                                               : LOGIN_WINDOW_S);
    req_error(req, 429, "rate_limited", "too many failed logins; retry later");
    return -1;
}

void ratelimit_login_result(struct req *req, const char *username, bool ok)
{
    char key[128];

    snprintf(key, sizeof(key), "lf:%s:%s", username, req->remote_addr);
    if (ok)
        req_redis(req, "DEL %s", key);
    else
        req_redis(req, "EVAL %s 1 %s %d", incr_script, key, LOGIN_WINDOW_S);
}
