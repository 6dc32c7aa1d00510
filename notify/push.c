/* push.c - push for offline users through Matrix-style push gateways.
 *
 * The trigger on chat_changes writes each message.created to push_outbox;
 * push_expand moves it to push_queue, one row per (user, chat) for members
 * (the sender aside) who have a device: a burst coalesces into that row,
 * due push_coalesce_ms after its first message. When due, a user with no
 * open stream (no Redis key presence:{user_id}, kept by chat-push) gets one
 * notification per device naming the latest message; a gateway answering
 * {"rejected": [pushkey]} has that device deleted. A message arriving while
 * its push is in flight makes another push one window later. When every
 * device's gateway failed (timeout, 5xx), the push is tried again after
 * notify_backoff_ms, doubled each time, up to PUSH_ATTEMPTS times.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "err.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "netaddr.h"
#include "notify.h"
#include "rcl.h"

#define PUSH_ATTEMPTS 4

struct push_item {
    int64_t user_id, chat_id, version;
    int attempts; /* before this one */
    int pending;  /* gateway requests still in flight */
    int sent;     /* gateways that took it */
    int retry;    /* gateways that failed in a way worth retrying */
};

static const struct db_stmt st_expand = {
    "notify_push_expand",
    "WITH o AS (DELETE FROM push_outbox WHERE id IN (SELECT id FROM push_outbox ORDER BY id "
    "  LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING chat_id, version, seq), "
    "t AS (SELECT DISTINCT ON (cm.user_id, o.chat_id) cm.user_id, o.chat_id, o.version, o.seq "
    "  FROM o JOIN messages m ON m.chat_id = o.chat_id AND m.seq = o.seq "
    "  JOIN chat_members cm ON cm.chat_id = o.chat_id AND cm.user_id <> m.sender_id "
    "  WHERE EXISTS (SELECT 1 FROM push_subscriptions ps WHERE ps.user_id = cm.user_id) "
    "  ORDER BY cm.user_id, o.chat_id, o.version DESC) "
    "INSERT INTO push_queue (user_id, chat_id, version, seq, due_at) "
    "SELECT user_id, chat_id, version, seq, now() + make_interval(secs => $1::float8 / 1000) "
    "FROM t ON CONFLICT (user_id, chat_id) DO UPDATE SET "
    "  version = greatest(push_queue.version, EXCLUDED.version), "
    "  seq = greatest(push_queue.seq, EXCLUDED.seq)",
    1, false};

static const struct db_stmt st_claim = {
    "notify_push_claim",
    "WITH c AS (SELECT user_id, chat_id FROM push_queue q WHERE due_at <= now() "
    "  AND NOT notify_lock_live(q.locked_by, q.locked_at, $2::int) "
    "  ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
    "UPDATE push_queue q SET locked_by = pg_backend_pid(), locked_at = now() FROM c "
    "WHERE q.user_id = c.user_id AND q.chat_id = c.chat_id "
    "RETURNING q.user_id, q.chat_id, q.version, "
    "  push_notifications(q.user_id, q.chat_id, q.version, q.seq)::text, q.attempts",
    2, false};

static const struct db_stmt st_finish = {
    "notify_push_finish",
    "WITH d AS (DELETE FROM push_queue WHERE user_id = $1 AND chat_id = $2 AND version <= $3 "
    "  RETURNING 1) "
    "UPDATE push_queue SET locked_by = NULL, locked_at = NULL, "
    "  due_at = now() + make_interval(secs => $4::float8 / 1000) "
    "WHERE user_id = $1 AND chat_id = $2 AND NOT EXISTS (SELECT 1 FROM d)",
    4, false};

static const struct db_stmt st_retry = {
    "notify_push_retry",
    "UPDATE push_queue SET locked_by = NULL, locked_at = NULL, attempts = attempts + 1, "
    "  due_at = now() + make_interval(secs => $3::float8 / 1000) "
    "WHERE user_id = $1 AND chat_id = $2",
    3, false};

static const struct db_stmt st_reject = {
    "notify_push_reject", "DELETE FROM push_subscriptions WHERE id = $1 AND pushkey = $2", 2,
    false};

int push_expand(struct notify *n)
{
    char ms[16];
    PGresult *r;

    snprintf(ms, sizeof(ms), "%d", n->cfg->push_coalesce_ms);
    r = db_exec(&n->db, &st_expand, (const char *[]){ms});
    if (!r) {
        log_warn("push: expand: %s", n->db.errstr);
        return -1;
    }
    PQclear(r);
    return 0;
}

int push_redis_connect(struct notify *n)
{
    const struct cfg *c = n->cfg;

    if (n->rcl)
        return 0;
    n->rcl = malloc(sizeof(*n->rcl));
    if (!n->rcl)
        return CHAT_ERR_NOMEM;
    if (rcl_init(n->rcl, c->redis_cluster, c->redis_host, c->redis_port, NULL, c->redis_password,
                 100)) {
        log_err("push: redis: %s", n->rcl->errstr);
        rcl_free(n->rcl);
        free(n->rcl);
        n->rcl = NULL;
        return CHAT_ERR_INVALID;
    }
    return 0;
}

/* Is the user online? No presence key means offline; when Redis cannot
 * tell, push anyway: a needless notification beats a missed one. */
static bool push_user_online(struct notify *n, int64_t user_id)
{
    redisReply *rep;
    bool online = false;
    char key[KEY_MAX];

    if (push_redis_connect(n))
        return false;
    key_presence(key, user_id);
    rep = rcl_command(n->rcl, true, "EXISTS %s", key);
    ops_redis_auth(n->rcl->last_rc != CHAT_ERR_AUTH);
    if (!rep) {
        if (n->rcl->last_rc == CHAT_ERR_AUTH)
            log_err("push: redis: %s; not ready", n->rcl->errstr);
        else
            log_warn("push: redis: %s", n->rcl->errstr);
        return false;
    }
    online = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return online;
}

static void push_finish(struct notify *n, struct push_item *it)
{
    char su[24], sc[24], sv[24], ms[16];
    PGresult *r;
    bool again = it->sent == 0 && it->retry > 0 && it->attempts + 1 < PUSH_ATTEMPTS;

    snprintf(su, sizeof(su), "%lld", (long long)it->user_id);
    snprintf(sc, sizeof(sc), "%lld", (long long)it->chat_id);
    snprintf(sv, sizeof(sv), "%lld", (long long)it->version);
    if (again) {
        double d = n->cfg->notify_backoff_ms;
        for (int i = 0; i < it->attempts; i++)
            d *= 2;
        snprintf(ms, sizeof(ms), "%.0f", d);
        r = db_exec(&n->db, &st_retry, (const char *[]){su, sc, ms});
    } else {
        snprintf(ms, sizeof(ms), "%d", n->cfg->push_coalesce_ms);
        r = db_exec(&n->db, &st_finish, (const char *[]){su, sc, sv, ms});
    }
    if (r)
        PQclear(r);
    else
        log_warn("push: finish: %s", n->db.errstr);
    free(it);
}

static void push_start_device(struct notify *n, struct push_item *it, const cJSON *dev)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(dev, "id");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(dev, "pushkey");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(dev, "gateway_url");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(dev, "body");
    struct job *job;
    char *text;

    if (!cJSON_IsString(key) || !cJSON_IsString(url) || !body)
        return;
    job = calloc(1, sizeof(*job));
    text = cJSON_PrintUnformatted(body);
    if (!job || !text)
        abort();
    job->kind = JOB_PUSH;
    job->n = n;
    job->item = it;
    buf_init(&job->body);
    buf_init(&job->resp);
    buf_adds(&job->body, text);
    free(text);
    json_get_id(id, &job->sub_id);
    job->pushkey = strdup(key->valuestring);
    /* The gateway must still be allowed: the list may have shrunk. */
    if (!job->pushkey || http_start(job, url->valuestring, NULL)) {
        ops_count(OPS_PUSH_FAILED);
        http_job_free(job);
        return;
    }
    it->pending++;
}

static void push_start(struct notify *n, PGresult *r, int i)
{
    struct push_item *it = calloc(1, sizeof(*it));
    const char *why;
    cJSON *devs, *dev;

    if (!it)
        abort();
    it->user_id = db_int(r, i, 0);
    it->chat_id = db_int(r, i, 1);
    it->version = db_int(r, i, 2);
    it->attempts = (int)db_int(r, i, 4);
    devs = json_parse(PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3), &why);
    if (cJSON_GetArraySize(devs) > 0 && push_user_online(n, it->user_id)) {
        ops_count(OPS_PUSH_ONLINE);
    } else {
        cJSON_ArrayForEach(dev, devs)
        {
            const cJSON *url = cJSON_GetObjectItemCaseSensitive(dev, "gateway_url");
            if (cJSON_IsString(url) && netaddr_url_allowed(n->cfg->push_gateways, url->valuestring))
                push_start_device(n, it, dev);
        }
    }
    cJSON_Delete(devs);
    if (it->pending == 0)
        push_finish(n, it);
}

int push_claim(struct notify *n, int max)
{
    return notify_claim(n, &st_claim, max, "push", push_start);
}

/* Delete the device if the gateway's answer lists its pushkey in "rejected". */
static void push_check_rejected(struct job *job)
{
    const char *why;
    cJSON *ans = json_parse(job->resp.s, job->resp.len, &why), *it;
    const cJSON *rej = cJSON_GetObjectItemCaseSensitive(ans, "rejected");
    char sid[24];

    cJSON_ArrayForEach(it, rej)
    {
        PGresult *r;
        if (!cJSON_IsString(it) || strcmp(it->valuestring, job->pushkey) != 0)
            continue;
        snprintf(sid, sizeof(sid), "%lld", (long long)job->sub_id);
        r = db_exec(&job->n->db, &st_reject, (const char *[]){sid, job->pushkey});
        if (r)
            PQclear(r);
        ops_count(OPS_PUSH_REJECTED);
        log_info("push: gateway rejected subscription %lld; deleted", (long long)job->sub_id);
        break;
    }
    cJSON_Delete(ans);
}

void push_done(struct job *job, CURLcode code, long status)
{
    struct push_item *it = job->item;

    ops_latency((double)(http_now_us() - job->t0_us) / 1e6);
    if (code == CURLE_OK && status >= 200 && status < 300) {
        ops_count(OPS_PUSH_SENT);
        it->sent++;
        push_check_rejected(job);
    } else {
        ops_count(OPS_PUSH_FAILED);
        if (!job->refused && (code != CURLE_OK || status >= 500 || status == 429))
            it->retry++;
        log_warn("push: gateway for subscription %lld: %s status=%ld", (long long)job->sub_id,
                 job->refused ? "address refused" : curl_easy_strerror(code), status);
    }
    if (--it->pending == 0)
        push_finish(job->n, it);
}

void push_abandon(struct job *job)
{
    if (--job->item->pending == 0)
        free(job->item);
}
