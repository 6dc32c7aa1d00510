/* ratelimit.c - fixed-window rate limits in Redis. */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "req.h"
#include "req_redis.h"

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

/* KEYS[1] the bucket, then the keys ARGV[2] names in order ('a': an auth
 * epoch, 'c': a chat version). INCR the bucket (EXPIRE in ARGV[1] s on
 * creation); returns {count, epoch or false, version or false}. */
static const struct req_script count_script = {
    REQ_SCRIPT_RATELIMIT,
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "local r, k = {n, false, false}, 2 "
    "if string.find(ARGV[2], 'a', 1, true) then r[2] = redis.call('GET', KEYS[k]) or '0' "
    "  k = k + 1 end "
    "if string.find(ARGV[2], 'c', 1, true) then r[3] = redis.call('GET', KEYS[k]) end "
    "return r"};

bool ratelimit_same_bucket(enum ratelimit_class cls, int64_t user_id, int64_t other)
{
    return cls == RATELIMIT_AUTH || user_id == other;
}

static int64_t reply_int(const redisReply *r, int64_t missing)
{
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return missing;
}

/* GET key on its own (a key no script with the bucket may touch); false
 * when Redis did not answer. */
static bool get_apart(struct req *req, const char *key, int64_t missing, int64_t *out)
{
    redisReply *r = req_redis(req, "GET %s", key);

    if (!r)
        return false;
    *out = reply_int(r, missing);
    return true;
}

long long ratelimit_count(struct req *req, enum ratelimit_class cls, int64_t user_id,
                          struct ratelimit_probe *probe)
{
    static const char *names[] = {"auth", "read", "write"};
    time_t now = time(NULL);
    long long window = now / WINDOW_S;
    char key[KEY_MAX], ae[KEY_MAX], cv[KEY_MAX], ttl[16], what[3] = "";
    const char *argv[6] = {"1", key};
    int argc = 2, nkeys = 1;
    bool ae_apart = false, cv_apart = false, ok = true;
    redisReply *r;

    key_rate(key, names[cls], cls != RATELIMIT_AUTH ? user_id : 0, req->remote_addr, window);
    /* One script touches one slot in Redis Cluster: a key of another hash
     * tag (a chat's version, another user's epoch) is read apart. */
    if (probe && probe->epoch_user) {
        key_auth_epoch(ae, probe->epoch_user);
        if (req_redis_colocated(req, key, ae)) {
            argv[argc++] = ae;
            strcat(what, "a");
        } else {
            ae_apart = true;
        }
    }
    if (probe && probe->chat_id) {
        key_chat_version(cv, probe->chat_id);
        if (req_redis_colocated(req, key, cv)) {
            argv[argc++] = cv;
            strcat(what, "c");
        } else {
            cv_apart = true;
        }
    }
    nkeys = argc - 1;
    argv[0] = nkeys == 1 ? "1" : nkeys == 2 ? "2" : "3";
    snprintf(ttl, sizeof(ttl), "%d", WINDOW_S + 1);
    argv[argc++] = ttl;
    argv[argc++] = what;
    r = req_eval(req, &count_script, argc, argv);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        return 0;
    if (probe) {
        probe->epoch = reply_int(r->element[1], 0);
        probe->chat_version = reply_int(r->element[2], -1);
        if (ae_apart)
            ok = get_apart(req, ae, 0, &probe->epoch);
        if (ok && cv_apart)
            ok = get_apart(req, cv, -1, &probe->chat_version);
        probe->answered = ok;
    }
    return r->element[0]->integer;
}

int ratelimit_or_reply(struct req *req, enum ratelimit_class cls, long long count)
{
    int limit = limit_of(req->w->cfg, cls);
    time_t now = time(NULL);
    long long reset = WINDOW_S - now % WINDOW_S;

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
