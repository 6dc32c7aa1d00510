/* chats.c - API.md "Chats": create (direct chats unique per pair), list,
 * read, and membership. Writes run as one SQL function each
 * (chat_create_direct, chat_create_group, chat_update_title,
 * chat_add_members, chat_remove_member: first in
 * db/migrations/0002_write_paths.sql, changed by later migrations), whose
 * status words an outcome table per function maps to the answer, and
 * publish their events after COMMIT: chat:{id} for the chat's streams,
 * user:{id} for the users whose streams must start (or stop) following
 * the chat. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "handlers.h"
#include "json.h"
#include "page.h"
#include "req.h"
#include "req_input.h"
#include "req_redis.h"

#define TITLE_MAX 128

static const struct str_field f_title = {"title", .required = true, .min = 1, .max = TITLE_MAX};
static const struct str_field f_type = {"type", .required = true, .min = 1, .max = 16};

static const struct db_stmt st_chat_for = {
    "chat_for", "SELECT chat_json_for(c, $2) FROM chats c WHERE c.id = $1", 2, true};

/* Reply with the chat as the caller sees it; 404 when not a member. */
static void reply_chat(struct req *req, int status, int64_t chat_id)
{
    PGresult *r =
        req_db_or_reply(req, &st_chat_for,
                        (const char *[]){req_id_str(req, chat_id), req_id_str(req, req->user_id)});

    if (!r)
        return;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
        req_error(req, 404, "not_found", "no such chat");
        return;
    }
    req_reply(req, status, PQgetvalue(r, 0, 0), -1);
}

/* Read member_ids as a PostgreSQL array literal "{1,2,3}" into out. */
static int member_ids_or_reply(struct req *req, const cJSON *body, int max, struct buf *out,
                               int *count)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "member_ids");
    const cJSON *it;
    int64_t id;

    if (!ids)
        ids = cJSON_GetObjectItemCaseSensitive(body, "user_ids");
    if (!cJSON_IsArray(ids)) {
        req_error(req, 400, "invalid_request", "member_ids must be an array of user ids");
        return -1;
    }
    *count = cJSON_GetArraySize(ids);
    if (*count > max) {
        req_error(req, 409, "too_many_members", "a group holds at most %d members", max);
        return -1;
    }
    buf_addch(out, '{');
    cJSON_ArrayForEach(it, ids)
    {
        if (json_get_id(it, &id)) {
            req_error(req, 400, "invalid_request", "member_ids must hold user ids");
            return -1;
        }
        buf_addf(out, "%s%" PRId64, out->len > 1 ? "," : "", id);
    }
    buf_addch(out, '}');
    return 0;
}

/* Publish a chat.created event (of version) on the chat and on the user
 * channel of each of its n members. */
static void publish_to_members(struct req *req, int64_t chat_id, int64_t version, const char *event,
                               const int64_t *ids, int n)
{
    req_publish_change(req, chat_id, version, event);
    for (int i = 0; i < n; i++)
        req_publish_user(req, ids[i], event);
}

static const struct db_stmt st_create_direct = {
    "chat_create_direct", "SELECT status, chat_id, event, version FROM chat_create_direct($1, $2)",
    2, false};

static const struct outcome direct_outcomes[] = {
    {"not_found", .http = 400, "invalid_request", "member_ids: no such user"},
    {"created", .http = 201},
    {NULL, .http = 200}, /* the pair's chat existed */
};

static void create_direct(struct req *req, const cJSON *body)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "member_ids");
    const cJSON *it;
    int64_t other = 0, id;
    PGresult *r;
    const struct outcome *o;

    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1 || cJSON_GetArraySize(ids) > 2) {
        req_error(req, 400, "invalid_request", "a direct chat needs member_ids: [other user id]");
        return;
    }
    cJSON_ArrayForEach(it, ids)
    {
        if (json_get_id(it, &id)) {
            req_error(req, 400, "invalid_request", "member_ids must hold user ids");
            return;
        }
        if (id != req->user_id)
            other = id;
    }
    if (!other) {
        req_error(req, 400, "invalid_request", "a direct chat needs another user");
        return;
    }
    r = req_db_or_reply(req, &st_create_direct,
                        (const char *[]){req_id_str(req, req->user_id), req_id_str(req, other)});
    if (!r)
        return;
    o = req_outcome_or_reply(req, direct_outcomes, PQgetvalue(r, 0, 0));
    if (!o)
        return;
    if (o->http == 201)
        publish_to_members(req, db_int(r, 0, 1), db_int(r, 0, 3), PQgetvalue(r, 0, 2),
                           (const int64_t[]){req->user_id, other}, 2);
    reply_chat(req, o->http, db_int(r, 0, 1));
}

static const struct db_stmt st_create_group = {"chat_create_group",
                                               "SELECT status, chat_id, event, version, members "
                                               "FROM chat_create_group($1, $2, $3::bigint[], $4)",
                                               4, false};

static const struct outcome group_outcomes[] = {
    {"not_found", .http = 400, "invalid_request", "member_ids: no such user"},
    {"too_many", .http = 409, "too_many_members", "a group holds at most %d members"},
    {NULL, .http = 201},
};

static void create_group(struct req *req, const cJSON *body)
{
    const char *title;
    struct buf ids = BUF_INIT;
    int count, n, max = req->w->cfg->max_group_members;
    int64_t *members;
    PGresult *r;

    if (req_json_str_or_reply(req, body, &f_title, &title) ||
        member_ids_or_reply(req, body, max, &ids, &count))
        goto out_release_ids;
    r = req_db_or_reply(
        req, &st_create_group,
        (const char *[]){req_id_str(req, req->user_id), title, ids.s, req_id_str(req, max)});
    if (!r || !req_outcome_or_reply(req, group_outcomes, PQgetvalue(r, 0, 0), max))
        goto out_release_ids;
    n = db_int_array(r, 0, 4, &members);
    publish_to_members(req, db_int(r, 0, 1), db_int(r, 0, 3), PQgetvalue(r, 0, 2), members, n);
    free(members);
    reply_chat(req, 201, db_int(r, 0, 1));
out_release_ids:
    buf_release(&ids);
}

void chats_create(struct req *req)
{
    cJSON *body;
    const char *type;

    if (req_json_body_or_reply(req, &body) || req_json_str_or_reply(req, body, &f_type, &type))
        return;
    if (strcmp(type, "direct") == 0)
        create_direct(req, body);
    else if (strcmp(type, "group") == 0)
        create_group(req, body);
    else
        req_error(req, 400, "invalid_request", "type must be \"direct\" or \"group\"");
}

/* Pages of the caller's chats. Most recent activity first, cursor
 * "<activity in microseconds>.<id>"; or ?order=id, cursor "<id>". */
static const struct db_stmt st_list_activity = {
    "chats_list_activity",
    "SELECT CASE WHEN $4 THEN json_build_object('id', c.id, 'version', c.version) "
    "            ELSE chat_json_for(c, $1) END, "
    "  (extract(epoch FROM c.last_activity_at) * 1e6)::bigint, c.id "
    "FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = $1 "
    "  AND ($2::bigint IS NULL OR (c.last_activity_at, c.id) < "
    "       (to_timestamp($2::bigint / 1e6), $3::bigint)) "
    "ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $5",
    5, true};
static const struct db_stmt st_list_id = {
    "chats_list_id",
    "SELECT CASE WHEN $4 THEN json_build_object('id', c.id, 'version', c.version) "
    "            ELSE chat_json_for(c, $1) END, 0, c.id "
    "FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = $1 "
    "  AND ($2::bigint IS NULL OR c.id > $3::bigint) ORDER BY c.id LIMIT $5",
    5, true};

void chats_list(struct req *req)
{
    const char *order = req_query(req, "order"), *fields = req_query(req, "fields");
    const char *cursor = req_query(req, "cursor");
    bool by_id = order && strcmp(order, "id") == 0;
    bool cheap = fields && strcmp(fields, "id,version") == 0;
    struct page_cursor cur = {0, 0};
    int64_t limit = PAGE_LIMIT_DEFAULT;
    PGresult *r;

    if (order && !by_id && strcmp(order, "activity") != 0) {
        req_error(req, 400, "invalid_request", "order must be activity or id");
        return;
    }
    if (req_limit_or_reply(req, &limit))
        return;
    if (cursor && page_cursor_parse(cursor, !by_id, &cur)) {
        req_error(req, 400, "invalid_request", "bad cursor");
        return;
    }
    r = req_db_or_reply(
        req, by_id ? &st_list_id : &st_list_activity,
        (const char *[]){req_id_str(req, req->user_id), cursor ? req_id_str(req, cur.key) : NULL,
                         req_id_str(req, cur.id), cheap ? "t" : "f", req_id_str(req, limit + 1)});
    if (!r)
        return;
    /* cursor: "<id>" by id, "<activity in microseconds>.<id>" by activity */
    req_reply_page(req, "chats", r, 0, limit, by_id ? (const int[]){2} : (const int[]){1, 2},
                   by_id ? 1 : 2);
}

void chats_get(struct req *req)
{
    reply_chat(req, 200, req->params[0]);
}

/* The status words of the membership functions (chat_update_title,
 * chat_add_members, chat_remove_member). */
static const struct outcome member_outcomes[] = {
    {"ok", .http = 200},
    {"forbidden", .http = 403, "forbidden", "only an admin of the chat may do this"},
    {"direct", .http = 400, "invalid_request", "a direct chat has no title or member changes"},
    {"no_user", .http = 400, "invalid_request", "user_ids: no such user"},
    {"too_many", .http = 409, "too_many_members", "a group holds at most %d members"},
    {NULL, .http = 404, "not_found", "no such chat or member"},
};

/* Map the status word of a membership function to an error; 0 for "ok". */
static int member_status_or_reply(struct req *req, const char *status)
{
    return req_outcome_or_reply(req, member_outcomes, status, req->w->cfg->max_group_members) ? 0
                                                                                              : -1;
}

static const struct db_stmt st_update_title = {
    "chat_update_title", "SELECT status, event, version FROM chat_update_title($1, $2, $3)", 3,
    false};

void chats_update(struct req *req)
{
    cJSON *body;
    const char *title;
    PGresult *r;

    if (req_json_body_or_reply(req, &body) || req_json_str_or_reply(req, body, &f_title, &title))
        return;
    r = req_db_or_reply(
        req, &st_update_title,
        (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id), title});
    if (!r || member_status_or_reply(req, PQgetvalue(r, 0, 0)))
        return;
    req_publish_change(req, req->params[0], db_int(r, 0, 2), PQgetvalue(r, 0, 1));
    reply_chat(req, 200, req->params[0]);
}

static const struct db_stmt st_members = {
    "chat_members_list",
    "SELECT json_build_object('user', user_json(u), 'role', m.role, "
    "  'joined_at', api_ts(m.joined_at), 'read_seq', m.read_seq, "
    "  'delivered_seq', m.delivered_seq), m.user_id "
    "FROM chat_members m JOIN users u ON u.id = m.user_id "
    "WHERE m.chat_id = $1 AND EXISTS (SELECT 1 FROM chat_members me "
    "  WHERE me.chat_id = $1 AND me.user_id = $2) AND m.user_id > $3 "
    "ORDER BY m.user_id LIMIT $4",
    4, true};

void chats_members_list(struct req *req)
{
    int64_t limit, after = 0;
    PGresult *r;
    const char *chat = req_id_str(req, req->params[0]), *me = req_id_str(req, req->user_id);

    if (req_limit_or_reply(req, &limit) ||
        req_query_int_or_reply(req, "cursor", 0, INT64_MAX, &after, NULL))
        return;
    if (req_member_or_reply(req, req->params[0], NULL))
        return;
    r = req_db_or_reply(
        req, &st_members,
        (const char *[]){chat, me, req_id_str(req, after), req_id_str(req, limit + 1)});
    if (!r)
        return;
    req_reply_page(req, "members", r, 0, limit, (const int[]){1}, 1);
}

/* One row per member.joined, in version order (one row with NULL event
 * when none was added or status is not ok). */
static const struct db_stmt st_add = {
    "chat_add_members",
    "SELECT f.status, e.event, e.version, e.user_id "
    "FROM chat_add_members($1, $2, $3::bigint[], $4) f "
    "LEFT JOIN LATERAL unnest(f.events, f.versions, f.user_ids) WITH ORDINALITY "
    "  AS e(event, version, user_id, n) ON true ORDER BY e.n",
    4, false};

void chats_members_add(struct req *req)
{
    cJSON *body;
    struct buf ids = BUF_INIT;
    int count, max = req->w->cfg->max_group_members;
    PGresult *r;

    if (req_json_body_or_reply(req, &body) || member_ids_or_reply(req, body, max, &ids, &count))
        goto out_release_ids;
    r = req_db_or_reply(req, &st_add,
                        (const char *[]){req_id_str(req, req->params[0]),
                                         req_id_str(req, req->user_id), ids.s,
                                         req_id_str(req, max)});
    if (!r || member_status_or_reply(req, PQgetvalue(r, 0, 0)))
        goto out_release_ids;
    for (int i = 0; i < PQntuples(r); i++) {
        if (db_is_null(r, i, 1))
            continue;
        req_publish_change(req, req->params[0], db_int(r, i, 2), PQgetvalue(r, i, 1));
        req_publish_user(req, db_int(r, i, 3), PQgetvalue(r, i, 1));
    }
    reply_chat(req, 200, req->params[0]);
out_release_ids:
    buf_release(&ids);
}

static const struct db_stmt st_remove = {
    "chat_remove_member", "SELECT status, event, version FROM chat_remove_member($1, $2, $3)", 3,
    false};

void chats_members_remove(struct req *req)
{
    PGresult *r = req_db_or_reply(req, &st_remove,
                                  (const char *[]){req_id_str(req, req->params[0]),
                                                   req_id_str(req, req->user_id),
                                                   req_id_str(req, req->params[1])});

    if (!r || member_status_or_reply(req, PQgetvalue(r, 0, 0)))
        return;
    req_publish_change(req, req->params[0], db_int(r, 0, 2), PQgetvalue(r, 0, 1));
    req_publish_user(req, req->params[1], PQgetvalue(r, 0, 1));
    req_no_content(req);
}
