/* sync.c - backfill (the change log) and anti-entropy (chat versions). */
#include "sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "pgq.h"

/* The events exactly as chat-api publishes them (change_event()). */
static const char fetch_sql[] = "SELECT change_event(ch)::text FROM chat_changes ch"
                                " WHERE ch.chat_id = $1::bigint AND ch.version > $2::bigint"
                                " ORDER BY ch.version LIMIT 200";

static const char versions_sql[] = "SELECT id, version FROM chats WHERE id = ANY($1::bigint[])";

static struct {
    struct hub *hub;
    int64_t last_pass_ms, pass_started_ms;
    uint64_t seen_redis_gen;
    unsigned inflight; /* version queries of the current pass */
    unsigned pass_chats, pass_queries;
    struct sync_stats stats;
} S;

struct fetch_req {
    int64_t chat_id;
};

static void on_fetch(void *arg, const PGresult *res)
{
    struct fetch_req *f = arg;
    int i, n;

    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("backfill of chat %" PRId64 " failed: %s", f->chat_id,
                 res ? PQresultErrorMessage(res) : "no connection");
        hub_backfill_done(S.hub, f->chat_id, false, false);
        free(f);
        return;
    }
    n = PQntuples(res);
    for (i = 0; i < n; i++)
        hub_backfill_event(S.hub, f->chat_id, PQgetvalue(res, i, 0),
                           (size_t)PQgetlength(res, i, 0));
    log_debug("backfill of chat %" PRId64 ": %d changes", f->chat_id, n);
    hub_backfill_done(S.hub, f->chat_id, true, n == SYNC_PAGE);
    free(f);
}

int sync_fetch(void *ctx, int64_t chat_id, int64_t since)
{
    char cid[24], sv[24];
    const char *params[2] = {cid, sv};
    struct fetch_req *f = malloc(sizeof(*f));

    if (!f)
        return -1;
    f->chat_id = chat_id;
    snprintf(cid, sizeof(cid), "%" PRId64, chat_id);
    snprintf(sv, sizeof(sv), "%" PRId64, since);
    if (!pgq_exec(fetch_sql, 2, params, on_fetch, f)) {
        free(f);
        return -1;
    }
    return 0;
}

static void pass_done(void)
{
    S.stats.passes++;
    S.stats.last_chats = S.pass_chats;
    S.stats.last_queries = S.pass_queries;
    S.stats.last_ms = loop_now_ms() - S.pass_started_ms;
    log_debug("anti-entropy: %u chats, %u queries, %" PRId64 " ms", S.pass_chats, S.pass_queries,
              S.stats.last_ms);
}

static void on_versions(void *arg, const PGresult *res)
{
    int i;
    int64_t id, version;

    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (i = 0; i < PQntuples(res); i++) {
            id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
            version = strtoll(PQgetvalue(res, i, 1), NULL, 10);
            hub_chat_db_version(S.hub, id, version);
        }
    } else if (res) {
        log_warn("anti-entropy query failed: %s", PQresultErrorMessage(res));
    }
    if (--S.inflight == 0)
        pass_done();
}

/* One version query for ids[0..n). */
static int query_batch(const int64_t *ids, size_t n)
{
    struct buf b;
    size_t i;
    const char *params[1];
    int rc = 0;

    buf_init(&b);
    buf_addch(&b, '{');
    for (i = 0; i < n; i++)
        buf_addf(&b, "%s%" PRId64, i ? "," : "", ids[i]);
    buf_addch(&b, '}');
    params[0] = b.s;
    if (pgq_exec(versions_sql, 1, params, on_versions, NULL))
        S.inflight++;
    else
        rc = -1;
    buf_release(&b);
    return rc;
}

static void pass_start(int64_t now)
{
    size_t n = hub_count_chats(S.hub), i;
    int64_t *ids;

    S.last_pass_ms = now;
    if (n == 0 || !pgq_ready())
        return;
    ids = malloc(n * sizeof(*ids));
    if (!ids)
        return;
    n = hub_chat_ids(S.hub, ids, n);
    S.pass_started_ms = now;
    S.pass_chats = (unsigned)n;
    S.pass_queries = 0;
    for (i = 0; i < n; i += SYNC_BATCH) {
        if (query_batch(ids + i, n - i < SYNC_BATCH ? n - i : SYNC_BATCH))
            break;
        S.pass_queries++;
    }
    free(ids);
}

void sync_init(struct hub *h)
{
    memset(&S, 0, sizeof(S));
    S.hub = h;
}

void sync_tick(int64_t now)
{
    bool reconnected = S.hub->redis_up && S.hub->redis_gen != S.seen_redis_gen;

    if (S.inflight)
        return; /* a pass is still running: never stack them */
    if (!reconnected && now - S.last_pass_ms < SYNC_EVERY_MS)
        return;
    if (reconnected)
        S.seen_redis_gen = S.hub->redis_gen;
    pass_start(now);
}

void sync_release(void)
{
    S.hub = NULL;
}

const struct sync_stats *sync_stats(void)
{
    return &S.stats;
}
