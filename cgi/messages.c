/* messages.c - API.md "Messages": send (idempotent by client_msg_id or
 * Idempotency-Key) and history pages by seq. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "handlers.h"
#include "json.h"
#include "req.h"
#include "req_input.h"
#include "req_redis.h"

#define CONTENT_MAX 16384
#define CLIENT_MSG_ID_MAX 128

/* Untrimmed; content_or_reply checks its length after trimming (the body
 * limit bounds it before). */
static const struct str_field f_content = {"content", .required = true, .max = SIZE_MAX,
                                           .multiline = true};
static const struct str_field f_client_msg_id = {"client_msg_id", .min = 1,
                                                 .max = CLIENT_MSG_ID_MAX};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The content trimmed of leading and trailing white space, 1 to
 * CONTENT_MAX bytes (API.md "Messages"). */
static int content_or_reply(struct req *req, const cJSON *body, const char **out)
{
    const char *s;
    size_t len;
    char *t;

    if (req_json_str_or_reply(req, body, &f_content, &s))
        return -1;
    while (is_space(*s))
        s++;
    len = strlen(s);
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len == 0 || len > CONTENT_MAX) {
        req_error(req, 400, "invalid_request", "content must be 1 to %d bytes after trimming",
                  CONTENT_MAX);
        return -1;
    }
    t = req_defer(req, free, strndup(s, len));
    if (!t)
        abort();
    *out = t;
    return 0;
}

/* client_msg_id from the body, else the Idempotency-Key header, else NULL. */
static int client_msg_id_or_reply(struct req *req, const cJSON *body, const char **out)
{
    const char *h;

    if (req_json_str_or_reply(req, body, &f_client_msg_id, out))
        return -1;
    if (*out)
        return 0;
    h = req_param(req, "HTTP_IDEMPOTENCY_KEY");
    if (!h)
        return 0;
    if (!*h || strlen(h) > CLIENT_MSG_ID_MAX) {
        req_error(req, 400, "invalid_request", "Idempotency-Key must be 1 to %d bytes",
                  CLIENT_MSG_ID_MAX);
        return -1;
    }
    *out = h;
    return 0;
}

static const struct db_stmt st_post = {
    "message_post", "SELECT status, message, event, version FROM message_post($1, $2, $3, $4, $5)",
    5, false};

enum { POST_COMMITTED, POST_REPLAYED };

static const struct outcome post_outcomes[] = {
    {"not_found", .http = 404, "not_found", "no such chat"},
    {"bad_reply", .http = 400, "invalid_request", "reply_to_seq names no message of this chat"},
    {"reused", .http = 409, "idempotency_key_reused",
     "this client_msg_id or Idempotency-Key was used for another message"},
    {"replayed", .http = 201, .action = POST_REPLAYED},
    {NULL, .http = 201, .action = POST_COMMITTED},
};

void messages_create(struct req *req)
{
    cJSON *body;
    const char *content, *cmid;
    int64_t reply_to;
    PGresult *r;
    const struct outcome *o;

    if (req_json_body_or_reply(req, &body) || content_or_reply(req, body, &content) ||
        client_msg_id_or_reply(req, body, &cmid) ||
        req_json_id_or_reply(req, body, "reply_to_seq", false, &reply_to))
        return;
    /* With a key, a post whose connection broke (a failover, docs/SCALING.md)
     * runs again at once: message_post finds the first run's message if it
     * committed ("replayed"), else commits it now; never a second one. */
    r = req_db_keyed_or_reply(req, &st_post,
                              (const char *[]){req_id_str(req, req->params[0]),
                                               req_id_str(req, req->user_id), content, cmid,
                                               reply_to ? req_id_str(req, reply_to) : NULL},
                              cmid != NULL);
    if (!r)
        return;
    o = req_outcome_or_reply(req, post_outcomes, PQgetvalue(r, 0, 0));
    if (!o)
        return;
    if (o->action == POST_REPLAYED)
        req_header(req, "Idempotent-Replayed", "true");
    else /* committed: answer 201 whatever PUBLISH does (DESIGN.md) */
        req_publish_change(req, req->params[0], db_int(r, 0, 3), PQgetvalue(r, 0, 2));
    req_reply(req, o->http, PQgetvalue(r, 0, 1), -1);
}

static const struct db_stmt st_page = {
    "messages_page_at", "SELECT page, version FROM messages_page_at($1, $2, $3, $4, $5, $6)", 6,
    true};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The page from the process's cache when it is current (pagecache.h):
 * Redis's version of the chat, read in this request's one round trip,
 * equals the page's, and the caller was confirmed a member at it. */
static bool page_from_cache(struct req *req, const struct pagecache_key *k)
{
    struct buf page = BUF_INIT;
    bool hit = req->w->page_cache && req->cv_state == REQ_CV_KNOWN &&
               pagecache_get(req->w->page_cache, k, req->chat_version, req->user_id, now_ms(),
                             &page) == PAGECACHE_HIT;

    if (hit)
        req_reply(req, 200, page.s, (long)page.len);
    buf_release(&page);
    return hit;
}

/* The page and the chat's version from PostgreSQL, in one round trip;
 * kept for the next reader when Redis answered this request. */
static void page_from_db(struct req *req, const struct pagecache_key *k, const char *const *vals,
                         int64_t limit)
{
    int64_t filled_at = now_ms(), version;
    PGresult *r =
        req_db_or_reply(req, &st_page,
                        (const char *[]){req_id_str(req, k->chat_id), req_id_str(req, req->user_id),
                                         vals[0], vals[1], vals[2], req_id_str(req, limit)});

    if (!r)
        return;
    if (PQgetisnull(r, 0, 0)) {
        req_error(req, 404, "not_found", "no such chat");
        return;
    }
    version = db_int(r, 0, 1);
    if (req->w->page_cache && req->cv_state != REQ_CV_UNKNOWN) {
        pagecache_put(req->w->page_cache, k, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                      version, req->user_id, filled_at);
        /* Redis missed the version (a lost publish, a restart): tell it,
         * so the next reader finds the page current. */
        if (req->cv_state == REQ_CV_MISSING || req->chat_version < version)
            req_chat_version_raise(req, k->chat_id, version);
    }
    req_reply(req, 200, PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
}

void messages_list(struct req *req)
{
    static const char *anchors[] = {"before_seq", "after_seq", "around_seq"};
    const char *vals[3] = {NULL, NULL, NULL};
    int64_t limit = 50, v, at[3] = {-1, -1, -1};
    bool present;
    int given = 0;
    struct pagecache_key k;

    if (req_limit_or_reply(req, &limit))
        return;
    for (int i = 0; i < 3; i++) {
        if (req_query_int_or_reply(req, anchors[i], 0, INT64_MAX / 2, &v, &present))
            return;
        if (present) {
            vals[i] = req_id_str(req, v);
            at[i] = v;
            given++;
        }
    }
    if (given > 1) {
        req_error(req, 400, "invalid_request",
                  "give at most one of before_seq, after_seq and around_seq");
        return;
    }
    k = (struct pagecache_key){req->params[0], at[0], at[1], at[2], limit};
    if (!page_from_cache(req, &k))
        page_from_db(req, &k, vals, limit);
}

static const struct db_stmt st_mark = {
    "chat_mark",
    "SELECT read_seq, delivered_seq, moved, (SELECT members_count FROM chats WHERE id = $1) "
    "FROM chat_mark($1, $2, $3, $4)",
    4, false};

/* POST /chats/{id}/read or /delivered {seq}: move a marker forward and,
 * when it moved, publish the receipt event to the chat (if small enough:
 * req_publish_ephemeral). */
static void mark(struct req *req, bool read)
{
    cJSON *body;
    int64_t seq;
    const char *chat = req_id_str(req, req->params[0]), *seq_s;
    PGresult *r;
    char out[128], event[256];

    if (req_json_body_or_reply(req, &body))
        return;
    if (json_get_int(cJSON_GetObjectItemCaseSensitive(body, "seq"), 0, INT64_MAX / 2, &seq)) {
        req_error(req, 400, "invalid_request", "seq must be a non-negative integer");
        return;
    }
    seq_s = req_id_str(req, seq);
    r = req_db_or_reply(req, &st_mark,
                        (const char *[]){chat, req_id_str(req, req->user_id), read ? seq_s : NULL,
                                         read ? NULL : seq_s});
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such chat");
        return;
    }
    snprintf(out, sizeof(out), "{\"read_seq\":%s,\"delivered_seq\":%s}", PQgetvalue(r, 0, 0),
             PQgetvalue(r, 0, 1));
    if (strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
        snprintf(event, sizeof(event), "{\"type\":\"receipt\",\"chat_id\":%s,\"user_id\":%lld,%s",
                 chat, (long long)req->user_id, out + 1);
        req_publish_ephemeral(req, req->params[0], db_int(r, 0, 3), event);
    }
    req_reply(req, 200, out, -1);
}

void messages_read(struct req *req)
{
    mark(req, true);
}

void messages_delivered(struct req *req)
{
    mark(req, false);
}

/* POST /chats/{id}/typing: published (if the chat is small enough:
 * req_publish_ephemeral; 204 either way), never stored; expires after 5 s
 * on the receiving side unless repeated. It takes no body; an empty JSON
 * object is accepted too (chat-push's WebSocket forwards `typing` as {}),
 * anything else is 400, so a client that thinks it sends data learns. */
void messages_typing(struct req *req)
{
    char event[128];
    cJSON *body;
    int64_t members;

    if (req->body_len > 0) {
        if (req_json_body_or_reply(req, &body))
            return;
        if (body->child) {
            req_error(req, 400, "invalid_request", "typing takes no body (or an empty object)");
            return;
        }
    }
    if (req_member_or_reply(req, req->params[0], &members))
        return;
    snprintf(event, sizeof(event), "{\"type\":\"typing\",\"chat_id\":%lld,\"user_id\":%lld}",
             (long long)req->params[0], (long long)req->user_id);
    req_publish_ephemeral(req, req->params[0], members, event);
    req_no_content(req);
}

static const struct db_stmt st_change = {
    "message_change",
    "SELECT status, message, event, version FROM message_change($1, $2, $3, $4, $5)", 5, false};

enum { CHANGE_UNCHANGED, CHANGE_PUBLISH };

/* message_change's status words for an edit and for a delete; "ok"
 * changed the message, any other success left it as it was. */
static const struct outcome edit_outcomes[] = {
    {"not_found", .http = 404, "not_found", "no such message"},
    {"forbidden", .http = 403, "forbidden", "only the sender may edit a message"},
    {"deleted", .http = 409, "message_deleted", "the message was deleted"},
    {"ok", .http = 200, .action = CHANGE_PUBLISH},
    {NULL, .http = 200, .action = CHANGE_UNCHANGED},
};
static const struct outcome delete_outcomes[] = {
    {"not_found", .http = 404, "not_found", "no such message"},
    {"forbidden", .http = 403, "forbidden", "only the sender or an admin may delete a message"},
    {"deleted", .http = 409, "message_deleted", "the message was deleted"},
    {"ok", .http = 204, .action = CHANGE_PUBLISH},
    {NULL, .http = 204, .action = CHANGE_UNCHANGED},
};

/* PATCH or DELETE /chats/{id}/messages/{seq}: a durable change with its
 * own version, published like a send. */
static void change(struct req *req, const char *content)
{
    PGresult *r;
    const struct outcome *o;

    r = req_db_or_reply(
        req, &st_change,
        (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id),
                         req_id_str(req, req->params[1]), content, content ? "f" : "t"});
    if (!r)
        return;
    o = req_outcome_or_reply(req, content ? edit_outcomes : delete_outcomes, PQgetvalue(r, 0, 0));
    if (!o)
        return;
    if (o->action == CHANGE_PUBLISH)
        req_publish_change(req, req->params[0], db_int(r, 0, 3), PQgetvalue(r, 0, 2));
    if (content)
        req_reply(req, o->http, PQgetvalue(r, 0, 1), -1);
    else
        req_no_content(req);
}

void messages_update(struct req *req)
{
    cJSON *body;
    const char *content;

    if (req_json_body_or_reply(req, &body) || content_or_reply(req, body, &content))
        return;
    change(req, content);
}

void messages_delete(struct req *req)
{
    change(req, NULL);
}

static const struct db_stmt st_search = {
    "messages_search",
    "SELECT coalesce(json_agg(j ORDER BY seq_key DESC), '[]') FROM ("
    "  SELECT message_json(m) AS j, m.id AS seq_key FROM messages m "
    "  JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = $1 "
    "  WHERE to_tsvector('simple', m.content) @@ websearch_to_tsquery('simple', $2) "
    "    AND NOT m.deleted AND ($3::bigint IS NULL OR m.chat_id = $3::bigint) "
    "  ORDER BY m.id DESC LIMIT $4) x",
    4, true};

/* GET /search?q=&chat_id=&limit=: web-search syntax, which never fails to
 * parse; only chats the caller is in; newest first. */
void messages_search(struct req *req)
{
    const char *q = req_query(req, "q");
    int64_t limit, chat = 0;
    bool has_chat;
    PGresult *r;
    struct buf out = BUF_INIT;

    if (!q || !*q || strlen(q) > 256 || !json_utf8_valid(q, strlen(q))) {
        req_error(req, 400, "invalid_request", "q must be 1 to 256 bytes of UTF-8");
        return;
    }
    if (req_limit_or_reply(req, &limit) ||
        req_query_int_or_reply(req, "chat_id", 1, JSON_INT_MAX, &chat, &has_chat))
        return;
    r = req_db_or_reply(req, &st_search,
                        (const char *[]){req_id_str(req, req->user_id), q,
                                         has_chat ? req_id_str(req, chat) : NULL,
                                         req_id_str(req, limit)});
    if (!r)
        return;
    buf_addf(&out, "{\"messages\":%s}", PQgetvalue(r, 0, 0));
    req_reply(req, 200, out.s, (long)out.len);
    buf_release(&out);
}

static const struct db_stmt st_changes = {"changes_page", "SELECT changes_page($1, $2, $3, $4)", 4,
                                          true};

/* GET /chats/{id}/changes?since_version=V&limit= (API.md "Chat versions
 * and catch-up"). */
void messages_changes(struct req *req)
{
    int64_t since = 0, limit;
    PGresult *r;

    if (req_limit_or_reply(req, &limit) ||
        req_query_int_or_reply(req, "since_version", 0, INT64_MAX / 2, &since, NULL))
        return;
    r = req_db_or_reply(req, &st_changes,
                        (const char *[]){req_id_str(req, req->params[0]),
                                         req_id_str(req, req->user_id), req_id_str(req, since),
                                         req_id_str(req, limit)});
    if (!r)
        return;
    if (PQgetisnull(r, 0, 0)) {
        req_error(req, 404, "not_found", "no such chat");
        return;
    }
    req_reply(req, 200, PQgetvalue(r, 0, 0), -1);
}
