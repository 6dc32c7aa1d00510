/* users.c - API.md "Users": the caller's profile, search by username
 * prefix, and other users' public profiles with presence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "handlers.h"
#include "keys.h"
#include "req.h"
#include "req_input.h"
#include "req_redis.h"

#define DISPLAY_NAME_MAX 64

static const struct str_field f_display_name = {"display_name", .required = true, .min = 1,
                                                .max = DISPLAY_NAME_MAX};

static const struct db_stmt st_me = {"user_me", "SELECT user_json(u) FROM users u WHERE id = $1", 1,
                                     true};

void users_me(struct req *req)
{
    PGresult *r = req_db_or_reply(req, &st_me, (const char *[]){req_id_str(req, req->user_id)});

    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such user");
        return;
    }
    req_reply(req, 200, PQgetvalue(r, 0, 0), -1);
}

static const struct db_stmt st_me_update = {
    "user_me_update", "UPDATE users SET display_name = $2 WHERE id = $1 RETURNING user_json(users)",
    2, false};

void users_me_update(struct req *req)
{
    cJSON *body;
    const char *display;
    PGresult *r;

    if (req_json_body_or_reply(req, &body) ||
        req_json_str_or_reply(req, body, &f_display_name, &display))
        return;
    r = req_db_or_reply(req, &st_me_update,
                        (const char *[]){req_id_str(req, req->user_id), display});
    if (!r)
        return;
    req_reply(req, 200, PQgetvalue(r, 0, 0), -1);
}

static const struct db_stmt st_search = {
    "user_search",
    "SELECT user_json(u), u.username FROM users u WHERE username ^@ $1 AND username > $3 "
    "ORDER BY username LIMIT $2",
    3, true};

/* GET /users?q=prefix&limit=&cursor=: cursor is the last username of the page. */
void users_search(struct req *req)
{
    const char *q = req_query(req, "q"), *cursor = req_query(req, "cursor");
    int64_t limit = 50;
    char *prefix;
    PGresult *r;

    if (!q || !*q || strlen(q) > 32) {
        req_error(req, 400, "invalid_request", "q must be 1 to 32 characters");
        return;
    }
    if (req_limit_or_reply(req, &limit))
        return;
    prefix = req_defer(req, free, strdup(q));
    for (char *c = prefix; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    r = req_db_or_reply(req, &st_search,
                        (const char *[]){prefix, req_id_str(req, limit + 1), cursor ? cursor : ""});
    if (!r)
        return;
    req_reply_page(req, "users", r, 0, limit, (const int[]){1}, 1);
}

/* presence is shown only to users who share a chat (API.md "Users"). */
static const struct db_stmt st_get = {
    "user_get",
    "SELECT user_json(u), EXISTS (SELECT 1 FROM chat_members a JOIN chat_members b "
    "  ON a.chat_id = b.chat_id WHERE a.user_id = $2 AND b.user_id = u.id), "
    "  api_ts(u.last_seen_at) FROM users u WHERE u.id = $1",
    2, true};

void users_get(struct req *req)
{
    PGresult *r;
    redisReply *online;
    char key[KEY_MAX];
    struct buf out = BUF_INIT;
    const char *json, *seen;

    r = req_db_or_reply(
        req, &st_get,
        (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id)});
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such user");
        return;
    }
    json = PQgetvalue(r, 0, 0);
    /* user_json ends with '}': reopen it to add presence. */
    buf_add(&out, json, strlen(json) - 1);
    if (strcmp(PQgetvalue(r, 0, 1), "t") != 0 && req->params[0] != req->user_id) {
        buf_adds(&out, ",\"presence\":null}");
    } else {
        key_presence(key, req->params[0]);
        online = req_redis(req, "EXISTS %s", key);
        seen = PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2);
        buf_addf(&out, ",\"presence\":{\"status\":\"%s\",\"last_seen_at\":",
                 online && online->type == REDIS_REPLY_INTEGER && online->integer ? "online"
                                                                                  : "offline");
        if (seen)
            buf_addf(&out, "\"%s\"}}", seen);
        else
            buf_adds(&out, "null}}");
    }
    req_reply(req, 200, out.s, (long)out.len);
    buf_release(&out);
}
