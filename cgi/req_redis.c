/* req_redis.c - chat-api's side of Redis: the worker's connection,
 * commands and scripts (EVALSHA), and publishing events with the chat
 * version (cv:) and auth epoch (ae:) they raise (req_redis.h). */
#include "req_redis.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "rcl.h"
#include "req.h"

static atomic_uint_fast64_t redis_reconnects;

uint64_t req_redis_reconnects(void)
{
    return atomic_load(&redis_reconnects);
}

/* The worker's client (lib/rcl.h: single or cluster mode, as cfg says),
 * made on first use; connections open lazily inside it. */
static struct rcl *rds_client(struct worker *w)
{
    const struct cfg *c = w->cfg;

    if (w->rcl)
        return w->rcl;
    w->rcl = malloc(sizeof(*w->rcl));
    if (!w->rcl)
        return NULL;
    if (rcl_init(w->rcl, c->redis_cluster, c->redis_host, c->redis_port, c->redis_socket,
                 c->redis_password, 100)) {
        log_err("redis: %s", w->rcl->errstr);
        rcl_free(w->rcl);
        free(w->rcl);
        w->rcl = NULL;
    }
    return w->rcl;
}

static void reply_free_cb(void *p)
{
    freeReplyObject(p);
}

/* Hold reply r until the request ends; NULL (logged) when there is none
 * or for an error reply. */
static redisReply *rds_keep(struct req *req, redisReply *r)
{
    struct worker *w = req->w;

    if (w->rcl->reconnects != w->rcl_reconnects) {
        atomic_fetch_add(&redis_reconnects, w->rcl->reconnects - w->rcl_reconnects);
        w->rcl_reconnects = w->rcl->reconnects;
    }
    if (!r) {
        if (w->rcl->last_rc == CHAT_ERR_AUTH)
            log_err("redis: %s", w->rcl->errstr);
        else
            log_warn("redis: %s", w->rcl->errstr);
        return NULL;
    }
    req_defer(req, reply_free_cb, r);
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("redis: %s", r->str);
        return NULL;
    }
    return r;
}

/* Commands a lost connection may send again (rcl_command): reads, and
 * writes whose second run changes nothing. */
static bool repeatable(const char *fmt)
{
    static const char *words[] = {"GET ", "EXISTS ", "TTL ", "PING", "DEL ", "SCRIPT "};

    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        if (strncmp(fmt, words[i], strlen(words[i])) == 0)
            return true;
    return false;
}

redisReply *req_redis(struct req *req, const char *fmt, ...)
{
    struct rcl *c = rds_client(req->w);
    redisReply *r;
    va_list ap;

    if (!c)
        return NULL;
    va_start(ap, fmt);
    r = rcl_commandv(c, repeatable(fmt), fmt, ap);
    va_end(ap);
    return rds_keep(req, r);
}

bool req_redis_colocated(struct req *req, const char *a, const char *b)
{
    struct rcl *c = rds_client(req->w);

    return c && rcl_colocated(c, a, b);
}

/* SCRIPT LOAD s (on any master; EVALSHA elsewhere falls back to EVAL, which
 * caches it there); its SHA1 goes to script_sha. */
static void script_load(struct req *req, const struct req_script *s)
{
    redisReply *r = rds_keep(req, rcl_command(req->w->rcl, true, "SCRIPT LOAD %s", s->text));

    if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
        memcpy(req->w->script_sha[s->id], r->str, 41);
}

#define EVAL_ARGS_MAX 16

/* req_eval; again: a lost connection may run it once more (rcl.h). */
static redisReply *eval_with(struct req *req, const struct req_script *s, bool again, int argc,
                             const char **argv)
{
    struct worker *w = req->w;
    const char *args[EVAL_ARGS_MAX + 2];
    redisReply *r;

    if (argc > EVAL_ARGS_MAX || !rds_client(w))
        return NULL;
    if (!w->script_sha[s->id][0])
        script_load(req, s);
    memcpy(args + 2, argv, (size_t)argc * sizeof(*argv));
    if (w->script_sha[s->id][0]) {
        args[0] = "EVALSHA";
        args[1] = w->script_sha[s->id];
        r = rcl_command_argv(w->rcl, again, argc + 2, args, NULL);
        if (!r || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
            return rds_keep(req, r);
        /* This node lost its scripts (SCRIPT FLUSH, a restart, a master
         * that never saw SCRIPT LOAD): run it in full, which caches it. */
        freeReplyObject(r);
    }
    args[0] = "EVAL";
    args[1] = s->text;
    return rds_keep(req, rcl_command_argv(w->rcl, again, argc + 2, args, NULL));
}

redisReply *req_eval(struct req *req, const struct req_script *s, int argc, const char **argv)
{
    return eval_with(req, s, false, argc, argv);
}

/* KEYS[1] a chat version (cv:) or auth epoch (ae:) key. ARGV[1] "max":
 * raise it to ARGV[2] if that is greater; "bump": set it to the greater of
 * its value + 1 and ARGV[2] (the time in microseconds, so an epoch lost in
 * a Redis restart never comes back to a value seen before). Then expire it
 * in ARGV[3] s, and SPUBLISH ARGV[5] on channel ARGV[4] unless it is "": a
 * channel of KEYS[1]'s hash tag (lib/keys.h), so in Redis Cluster the script
 * touches one slot and the message goes to that slot's shard only. */
static const struct req_script publish_script = {
    REQ_SCRIPT_PUBLISH, "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') "
                        "local v = tonumber(ARGV[2]) "
                        "if ARGV[1] == 'bump' then v = math.max(cur + 1, v) end "
                        "if v > cur or ARGV[1] == 'bump' then "
                        "  redis.call('SET', KEYS[1], string.format('%.0f', v), 'EX', ARGV[3]) end "
                        "if ARGV[4] ~= '' then return redis.call('SPUBLISH', ARGV[4], ARGV[5]) end "
                        "return 0"};

#define CHAT_VERSION_TTL_S 86400

static void publish_with(struct req *req, const char *key, const char *op, int64_t value, int ttl_s,
                         const char *channel, const char *json)
{
    char v[24], ttl[16];

    snprintf(v, sizeof(v), "%lld", (long long)value);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    /* "max" twice is "max" once, and the hub drops a duplicate version. */
    eval_with(req, &publish_script, strcmp(op, "max") == 0, 7,
              (const char *[]){"1", key, op, v, ttl, channel, json});
}

void req_publish_ephemeral(struct req *req, int64_t chat_id, int64_t members, const char *json)
{
    char channel[KEY_MAX];

    if (members > req->w->cfg->max_ephemeral_fanout)
        return;
    key_chat(channel, chat_id);
    req_redis(req, "SPUBLISH %s %s", channel, json);
}

void req_publish_user(struct req *req, int64_t user_id, const char *json)
{
    char channel[KEY_MAX];

    key_user(channel, user_id);
    req_redis(req, "SPUBLISH %s %s", channel, json);
}

void req_publish_change(struct req *req, int64_t chat_id, int64_t version, const char *json)
{
    char channel[KEY_MAX], key[KEY_MAX];

    key_chat(channel, chat_id);
    key_chat_version(key, chat_id);
    publish_with(req, key, "max", version, CHAT_VERSION_TTL_S, channel, json);
}

void req_chat_version_raise(struct req *req, int64_t chat_id, int64_t version)
{
    char key[KEY_MAX];

    key_chat_version(key, chat_id);
    publish_with(req, key, "max", version, CHAT_VERSION_TTL_S, "", "");
}

void req_publish_revoked(struct req *req, int64_t user_id, const char *json)
{
    char key[KEY_MAX], channel[KEY_MAX];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    key_auth_epoch(key, user_id);
    key_user(channel, user_id);
    /* Outlives any access token, so no cached check is older than it. */
    publish_with(req, key, "bump", (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                 req->w->cfg->access_ttl + 3600, channel, json);
}
