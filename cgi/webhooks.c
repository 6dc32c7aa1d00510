/* webhooks.c - outgoing webhooks (API.md "Outgoing webhooks and push").
 *
 * chat-api only keeps the registrations and shows the delivery log; the
 * outbox rows are written by a trigger on chat_changes in the writing
 * transaction, and chat-notify sends them (db/migrations/0007_notify.sql).
 * A webhook sees only chats its owner is a member of at each event's
 * version. The secret ("whsec_" and 32 random bytes in hex) signs every
 * delivery; it is shown on creation and rotation only (ROUTE_SECRET).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "handlers.h"
#include "json.h"
#include "netaddr.h"
#include "page.h"
#include "req.h"
#include "req_input.h"

#define WEBHOOK_URL_MAX 2048
#define WEBHOOKS_PER_USER 20
#define WEBHOOK_CHATS_MAX 100

static const struct str_field f_url = {"url", .required = true, .min = 1, .max = WEBHOOK_URL_MAX};

static const char *const webhook_events[] = {
    "chat.created",    "chat.updated",  "message.created", "message.updated",
    "message.deleted", "member.joined", "member.left",
};

static bool event_known(const char *t)
{
    for (size_t i = 0; i < sizeof(webhook_events) / sizeof(webhook_events[0]); i++)
        if (strcmp(t, webhook_events[i]) == 0)
            return true;
    return false;
}

/* events: a non-empty array of durable event types, as a PostgreSQL array
 * literal into out (duplicates dropped). */
static int events_or_reply(struct req *req, const cJSON *body, struct buf *out)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "events"), *it;
    unsigned seen = 0;

    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        req_error(req, 400, "invalid_request", "events must be a non-empty array of event types");
        return -1;
    }
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !event_known(it->valuestring)) {
            req_error(req, 400, "invalid_request", "unknown event type");
            return -1;
        }
        for (size_t i = 0; i < sizeof(webhook_events) / sizeof(webhook_events[0]); i++)
            if (strcmp(it->valuestring, webhook_events[i]) == 0)
                seen |= 1u << i;
    }
    buf_addch(out, '{');
    for (size_t i = 0; i < sizeof(webhook_events) / sizeof(webhook_events[0]); i++)
        if (seen & (1u << i))
            buf_addf(out, "%s%s", out->len > 1 ? "," : "", webhook_events[i]);
    buf_addch(out, '}');
    return 0;
}

/* chat_ids: absent or null (every chat of the owner), or an array of ids;
 * *out is a PostgreSQL array literal or NULL. */
static int chat_ids_or_reply(struct req *req, const cJSON *body, struct buf *lit, const char **out)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "chat_ids"), *it;

    *out = NULL;
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0 ||
        cJSON_GetArraySize(arr) > WEBHOOK_CHATS_MAX) {
        req_error(req, 400, "invalid_request", "chat_ids must be an array of 1 to %d chat ids",
                  WEBHOOK_CHATS_MAX);
        return -1;
    }
    buf_addch(lit, '{');
    cJSON_ArrayForEach(it, arr)
    {
        int64_t id;
        if (json_get_id(it, &id)) {
            req_error(req, 400, "invalid_request", "chat_ids must hold chat ids");
            return -1;
        }
        buf_addf(lit, "%s%lld", lit->len > 1 ? "," : "", (long long)id);
    }
    buf_addch(lit, '}');
    *out = lit->s;
    return 0;
}

static const struct db_stmt st_create = {
    "webhook_create",
    "WITH ok AS (SELECT $4::bigint[] IS NULL OR (SELECT count(*) FROM chat_members "
    "    WHERE user_id = $1 AND chat_id = ANY ($4::bigint[])) = "
    "    (SELECT count(DISTINCT x) FROM unnest($4::bigint[]) x) AS member, "
    "  (SELECT count(*) FROM webhooks WHERE user_id = $1) < $6 AS room), "
    "ins AS (INSERT INTO webhooks (user_id, url, events, chat_ids, secret) "
    "  SELECT $1, $2, $3::text[], (SELECT array_agg(DISTINCT x ORDER BY x) "
    "    FROM unnest($4::bigint[]) x), $5 FROM ok WHERE member AND room "
    "  RETURNING webhook_json(webhooks)) "
    "SELECT member, room, (SELECT * FROM ins) FROM ok",
    6, false};

void webhooks_create(struct req *req)
{
    cJSON *body;
    const char *url, *chat_ids, *why;
    struct buf events = BUF_INIT, ids = BUF_INIT, out = BUF_INIT;
    char secret[6 + 65];
    PGresult *r;

    if (req_json_body_or_reply(req, &body) || req_json_str_or_reply(req, body, &f_url, &url) ||
        events_or_reply(req, body, &events) || chat_ids_or_reply(req, body, &ids, &chat_ids))
        goto out_release_bufs;
    if (netaddr_url_check(url, req->w->cfg->notify_allow_private, &why)) {
        req_error(req, 400, "invalid_request", "%s", why);
        goto out_release_bufs;
    }
    memcpy(secret, "whsec_", 6);
    if (crypto_random_hex(secret + 6, 32)) {
        req_internal(req, "no randomness");
        goto out_release_bufs;
    }
    r = req_db_or_reply(req, &st_create,
                        (const char *[]){req_id_str(req, req->user_id), url, events.s, chat_ids,
                                         secret, req_id_str(req, WEBHOOKS_PER_USER)});
    if (!r)
        goto out_release_bufs;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        req_error(req, 404, "not_found", "no such chat");
        goto out_release_bufs;
    }
    if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
        req_error(req, 409, "too_many_webhooks", "at most %d webhooks per user", WEBHOOKS_PER_USER);
        goto out_release_bufs;
    }
    /* webhook_json ends with '}': reopen it to add the secret, shown once. */
    buf_add(&out, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2) - 1);
    buf_addf(&out, ",\"secret\":\"%s\"}", secret);
    req_reply(req, 201, out.s, (long)out.len);
out_release_bufs:
    buf_release(&events);
    buf_release(&ids);
    buf_release(&out);
}

static const struct db_stmt st_list = {
    "webhook_list",
    "SELECT coalesce(json_agg(webhook_json(w) ORDER BY w.id), '[]') FROM webhooks w "
    "WHERE user_id = $1",
    1, true};

void webhooks_list(struct req *req)
{
    req_reply_list(req, "webhooks", &st_list, (const char *[]){req_id_str(req, req->user_id)});
}

static const struct db_stmt st_delete = {
    "webhook_delete", "DELETE FROM webhooks WHERE id = $1 AND user_id = $2", 2, false};

void webhooks_delete(struct req *req)
{
    req_delete_owned(req, &st_delete, "webhook");
}

static const struct db_stmt st_rotate = {"webhook_rotate",
                                         "UPDATE webhooks SET secret = $3 WHERE id = $1 AND "
                                         "user_id = $2 RETURNING webhook_json(webhooks)",
                                         3, false};

/* The new secret signs every delivery sent from now on; there is no
 * overlap, so the receiver should accept both while it switches. */
void webhooks_rotate_secret(struct req *req)
{
    char secret[6 + 65];
    struct buf out = BUF_INIT;
    PGresult *r;

    memcpy(secret, "whsec_", 6);
    if (crypto_random_hex(secret + 6, 32)) {
        req_internal(req, "no randomness");
        return;
    }
    r = req_db_or_reply(
        req, &st_rotate,
        (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id), secret});
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such webhook");
        return;
    }
    buf_add(&out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0) - 1);
    buf_addf(&out, ",\"secret\":\"%s\"}", secret);
    req_reply(req, 200, out.s, (long)out.len);
    buf_release(&out);
}

static const struct db_stmt st_deliveries = {
    "webhook_deliveries",
    "SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND user_id = $2), x.j, x.id "
    "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT webhook_delivery_json(d) j, d.id "
    "  FROM webhook_deliveries d WHERE d.webhook_id = $1 "
    "  AND EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND user_id = $2) "
    "  AND ($3::bigint IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4) x ON true",
    4, true};

/* Newest first; the cursor is the id of the last delivery of a page. */
void webhooks_deliveries(struct req *req)
{
    const char *cursor = req_query(req, "cursor");
    struct page_cursor cur = {0, 0};
    int64_t limit = PAGE_LIMIT_DEFAULT;
    PGresult *r;

    if (req_limit_or_reply(req, &limit))
        return;
    if (cursor && page_cursor_parse(cursor, false, &cur)) {
        req_error(req, 400, "invalid_request", "bad cursor");
        return;
    }
    r = req_db_or_reply(
        req, &st_deliveries,
        (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id),
                         cursor ? req_id_str(req, cur.id) : NULL, req_id_str(req, limit + 1)});
    if (!r)
        return;
    if (PQntuples(r) < 1 || strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        req_error(req, 404, "not_found", "no such webhook");
        return;
    }
    /* an empty page is one row of NULLs (the webhook's own row, joined) */
    req_reply_page(req, "deliveries", r, 1, limit, (const int[]){2}, 1);
}

static const struct db_stmt st_redeliver = {
    "webhook_redeliver",
    "WITH d AS (SELECT d.* FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "  WHERE d.id = $2 AND d.webhook_id = $1 AND w.user_id = $3 FOR UPDATE OF d), "
    "u AS (UPDATE webhook_deliveries x SET state = 'pending', redelivery = true, "
    "  next_at = now(), retry_from = now(), done_at = NULL "
    "  FROM d WHERE x.id = d.id AND d.state <> 'pending' RETURNING x.*) "
    "SELECT d.state, (SELECT webhook_delivery_json(u) FROM u) FROM d",
    3, false};

/* The same delivery (same id, so a receiver that kept it can dedupe) is
 * sent again soon, outside the per-chat order: 202 with the delivery.
 * One still pending is already on its way: 409. */
void webhooks_redeliver(struct req *req)
{
    PGresult *r = req_db_or_reply(req, &st_redeliver,
                                  (const char *[]){req_id_str(req, req->params[0]),
                                                   req_id_str(req, req->params[1]),
                                                   req_id_str(req, req->user_id)});

    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such delivery");
        return;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "pending") == 0) {
        req_error(req, 409, "delivery_pending", "the delivery is still being attempted");
        return;
    }
    req_reply(req, 202, PQgetvalue(r, 0, 1), PQgetlength(r, 0, 1));
}
