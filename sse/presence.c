/* presence.c - online/offline with a debounce, keys in Redis, events. */
#include "presence.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "keys.h"
#include "log.h"
#include "pgq.h"
#include "rds_sub.h"

#define PRES_BUCKETS 4096

struct pres {
    int64_t user_id;
    int64_t gone_since_ms; /* 0 while it has a stream */
    int64_t refreshed_ms;
    uint64_t seen_pass;
    struct pres *next;
};

static struct {
    struct hub *hub;
    struct pres *b[PRES_BUCKETS];
    uint64_t pass;
    int64_t now_ms;
    int max_fanout; /* cfg max_ephemeral_fanout */
} PR;

static const char online_sql[] =
    "SELECT c.id, NULL FROM chat_members m JOIN chats c ON c.id = m.chat_id"
    " WHERE m.user_id = $1::bigint AND c.members_count <= $2::int";

static const char offline_sql[] =
    "WITH u AS (UPDATE users SET last_seen_at = now() WHERE id = $1::bigint"
    "  RETURNING api_ts(last_seen_at) AS ts)"
    " SELECT c.id, u.ts FROM u LEFT JOIN chat_members m ON m.user_id = $1::bigint"
    " LEFT JOIN chats c ON c.id = m.chat_id AND c.members_count <= $2::int";

struct pres_q {
    int64_t user_id;
    bool online;
};

static void on_chats(void *arg, const PGresult *res)
{
    struct pres_q *q = arg;
    int i;

    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (i = 0; i < PQntuples(res); i++) {
            char ev[256], channel[KEY_MAX];
            const char *ts = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
            int64_t chat_id;

            if (PQgetisnull(res, i, 0) ||
                json_parse_int(PQgetvalue(res, i, 0), 1, JSON_INT_MAX, &chat_id) != 0)
                continue;
            key_chat(channel, chat_id);
            snprintf(ev, sizeof(ev),
                     "{\"type\":\"presence\",\"chat_id\":%s,\"user_id\":%" PRId64
                     ",\"status\":\"%s\",\"last_seen_at\":%s%s%s}",
                     PQgetvalue(res, i, 0), q->user_id, q->online ? "online" : "offline",
                     ts ? "\"" : "", ts ? ts : "null", ts ? "\"" : "");
            rds_command("SPUBLISH %s %s", channel, ev);
        }
    } else {
        log_warn("presence of user %" PRId64 ": query failed", q->user_id);
    }
    free(q);
}

static void announce(int64_t user_id, bool online)
{
    char uid[24], lim[16];
    const char *params[2] = {uid, lim};
    struct pres_q *q = malloc(sizeof(*q));

    if (!q)
        return;
    q->user_id = user_id;
    q->online = online;
    snprintf(uid, sizeof(uid), "%" PRId64, user_id);
    snprintf(lim, sizeof(lim), "%d", PR.max_fanout);
    if (!pgq_exec(online ? online_sql : offline_sql, 2, params, on_chats, q))
        free(q);
}

static struct pres **slot(int64_t user_id)
{
    return &PR.b[((uint64_t)user_id * 0x9E3779B97F4A7C15ull >> 40) % PRES_BUCKETS];
}

static void on_user(void *arg, int64_t user_id, unsigned attached)
{
    struct pres **head = slot(user_id), *p;
    char key[KEY_MAX];

    if (!attached)
        return;
    for (p = *head; p && p->user_id != user_id; p = p->next)
        ;
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return;
        p->user_id = user_id;
        p->next = *head;
        *head = p;
        announce(user_id, true);
    }
    p->seen_pass = PR.pass;
    p->gone_since_ms = 0;
    if (!p->refreshed_ms || PR.now_ms - p->refreshed_ms >= PRESENCE_REFRESH_S * 1000) {
        key_presence(key, user_id);
        if (rds_command("SET %s 1 EX %d", key, PRESENCE_TTL_S) == 0)
            p->refreshed_ms = PR.now_ms;
    }
}

void presence_stream_ready(int64_t user_id)
{
    on_user(NULL, user_id, 1);
}

void presence_tick(int64_t now)
{
    size_t i;
    char key[KEY_MAX];

    PR.now_ms = now;
    PR.pass++;
    hub_each_user(PR.hub, on_user, NULL);
    for (i = 0; i < PRES_BUCKETS; i++) {
        struct pres **pp = &PR.b[i], *p;

        while ((p = *pp)) {
            if (p->seen_pass == PR.pass) {
                pp = &p->next;
                continue;
            }
            if (!p->gone_since_ms)
                p->gone_since_ms = now;
            if (now - p->gone_since_ms < PRESENCE_DEBOUNCE_S * 1000) {
                pp = &p->next;
                continue;
            }
            key_presence(key, p->user_id);
            rds_command("DEL %s", key);
            announce(p->user_id, false);
            *pp = p->next;
            free(p);
        }
    }
}

void presence_init(struct hub *h, int max_fanout)
{
    memset(&PR, 0, sizeof(PR));
    PR.hub = h;
    PR.max_fanout = max_fanout;
}

void presence_release(void)
{
    size_t i;

    for (i = 0; i < PRES_BUCKETS; i++)
        while (PR.b[i]) {
            struct pres *p = PR.b[i];

            PR.b[i] = p->next;
            free(p);
        }
}
