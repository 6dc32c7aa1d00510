/* req.c - request parsing, replies, validation and auth for chat-api. */
#include "req.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "page.h"
#include "router.h"

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

const char *req_param(const struct req *req, const char *name)
{
    return FCGX_GetParam(name, req->fcgi->envp);
}

void *req_defer(struct req *req, void (*fn)(void *), void *ptr)
{
    if (req->ncleanups == req->cleanups_cap) {
        req->cleanups_cap = req->cleanups_cap ? 2 * req->cleanups_cap : 16;
        req->cleanups = realloc(req->cleanups, req->cleanups_cap * sizeof(*req->cleanups));
        if (!req->cleanups)
            abort();
    }
    req->cleanups[req->ncleanups++] = (struct req_cleanup){fn, ptr};
    return ptr;
}

static int req_read_body(struct req *req)
{
    const char *cl = req_param(req, "CONTENT_LENGTH");
    int64_t len = 0;

    if (cl && *cl && json_parse_int(cl, 0, INT64_MAX, &len)) {
        req_error(req, 400, "invalid_request", "bad Content-Length");
        return -1;
    }
    if (len > req->w->cfg->body_limit) {
        req_error(req, 413, "payload_too_large", "request body over %d bytes",
                  req->w->cfg->body_limit);
        return -1;
    }
    req->body = req_defer(req, free, malloc(len + 1));
    if (!req->body)
        abort();
    req->body_len = len ? (size_t)FCGX_GetStr(req->body, (int)len, req->fcgi->in) : 0;
    req->body[req->body_len] = '\0';
    return 0;
}

int req_init(struct req *req, FCGX_Request *fcgi, struct worker *w)
{
    memset(req, 0, sizeof(*req));
    req->fcgi = fcgi;
    req->w = w;
    buf_init(&req->headers);
    req->method = req_param(req, "REQUEST_METHOD");
    req->path = req_param(req, "DOCUMENT_URI");
    if (!req->path)
        req->path = req_param(req, "SCRIPT_NAME");
    req->query = req_param(req, "QUERY_STRING");
    req->remote_addr = req_param(req, "REMOTE_ADDR");
    if (!req->method)
        req->method = "GET";
    if (!req->path)
        req->path = "/";
    if (!req->query)
        req->query = "";
    if (!req->remote_addr)
        req->remote_addr = "-";
    return req_read_body(req);
}

void req_release(struct req *req)
{
    while (req->ncleanups > 0) {
        struct req_cleanup *c = &req->cleanups[--req->ncleanups];
        if (c->ptr)
            c->fn(c->ptr);
    }
    free(req->cleanups);
    buf_release(&req->headers);
}

static void curl_free_cb(void *p)
{
    curl_free(p);
}

const char *req_query(struct req *req, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = req->query;

    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
            const char *v = len == nlen ? "" : p + nlen + 1;
            size_t vlen = len == nlen ? 0 : len - nlen - 1;
            char *plus = req_defer(req, free, strndup(v, vlen));
            for (char *c = plus; *c; c++)
                if (*c == '+')
                    *c = ' ';
            return req_defer(req, curl_free_cb, curl_easy_unescape(NULL, plus, 0, NULL));
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

int req_header(struct req *req, const char *name, const char *value)
{
    for (const char *c = value; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return -1;
    buf_addf(&req->headers, "%s: %s\r\n", name, value);
    return 0;
}

void req_reply(struct req *req, int status, const char *json, long len)
{
    if (req->replied)
        return;
    if (len < 0)
        len = (long)strlen(json);
    req->replied = true;
    req->status = status;
    if (req->idem_claimed)
        req->reply_body = req_defer(req, free, strndup(json, (size_t)len));
    FCGX_FPrintF(req->fcgi->out,
                 "Status: %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                 "Cache-Control: no-store\r\nContent-Length: %ld\r\n%s\r\n",
                 status, status_text(status), len + 1, req->headers.s);
    FCGX_PutStr(json, (int)len, req->fcgi->out);
    FCGX_PutChar('\n', req->fcgi->out);
}

void req_no_content(struct req *req)
{
    if (req->replied)
        return;
    req->replied = true;
    req->status = 204;
    FCGX_FPrintF(req->fcgi->out, "Status: 204 No Content\r\n%s\r\n", req->headers.s);
}

void req_error(struct req *req, int status, const char *code, const char *fmt, ...)
{
    struct buf msg = BUF_INIT, out = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    buf_adds(&out, "{\"error\":{\"code\":");
    buf_add_json_str(&out, code, strlen(code));
    buf_adds(&out, ",\"message\":");
    buf_add_json_str(&out, msg.s, msg.len);
    buf_adds(&out, "}}");
    if ((status == 429 || status == 503) && !strstr(req->headers.s, "Retry-After:"))
        req_header(req, "Retry-After", "1");
    req_reply(req, status, out.s, (long)out.len);
    buf_release(&msg);
    buf_release(&out);
}

void req_internal(struct req *req, const char *why)
{
    log_err("%s %s: %s", req->method, req->path, why);
    req_error(req, 500, "internal", "internal error");
}

static void cjson_free_cb(void *p)
{
    cJSON_Delete(p);
}

int req_json_body_or_reply(struct req *req, cJSON **out)
{
    const char *why = NULL;
    cJSON *root = json_parse(req->body, req->body_len, &why);

    if (!root) {
        req_error(req, 400, "invalid_request", "body: %s", why ? why : "invalid JSON");
        return -1;
    }
    req_defer(req, cjson_free_cb, root);
    if (!cJSON_IsObject(root)) {
        req_error(req, 400, "invalid_request", "body must be a JSON object");
        return -1;
    }
    *out = root;
    return 0;
}

static bool has_control(const char *s, bool multiline)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) || c == 0x7f)
            return true;
    }
    return false;
}

int req_json_str_or_reply(struct req *req, const cJSON *obj, const char *name, bool required,
                          size_t min, size_t max, bool multiline, const char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    size_t len;

    *out = NULL;
    if (!it || cJSON_IsNull(it)) {
        if (!required)
            return 0;
        req_error(req, 400, "invalid_request", "%s is required", name);
        return -1;
    }
    if (!cJSON_IsString(it)) {
        req_error(req, 400, "invalid_request", "%s must be a string", name);
        return -1;
    }
    len = strlen(it->valuestring);
    if (len < min || len > max) {
        req_error(req, 400, "invalid_request", "%s must be %zu to %zu bytes", name, min, max);
        return -1;
    }
    if (has_control(it->valuestring, multiline)) {
        req_error(req, 400, "invalid_request", "%s holds control characters", name);
        return -1;
    }
    *out = it->valuestring;
    return 0;
}

int req_json_id_or_reply(struct req *req, const cJSON *obj, const char *name, bool required,
                         int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = 0;
    if (!it || cJSON_IsNull(it)) {
        if (!required)
            return 0;
        req_error(req, 400, "invalid_request", "%s is required", name);
        return -1;
    }
    if (json_get_id(it, out)) {
        req_error(req, 400, "invalid_request", "%s must be an id (a positive integer)", name);
        return -1;
    }
    return 0;
}

int req_query_int_or_reply(struct req *req, const char *name, int64_t min, int64_t max,
                           int64_t *out, bool *present)
{
    const char *v = req_query(req, name);

    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (json_parse_int(v, min, max, out)) {
        req_error(req, 400, "invalid_request", "%s must be an integer from %lld to %lld", name,
                  (long long)min, (long long)max);
        return -1;
    }
    return 0;
}

int req_limit_or_reply(struct req *req, int64_t *limit)
{
    *limit = PAGE_LIMIT_DEFAULT;
    return req_query_int_or_reply(req, "limit", 1, PAGE_LIMIT_MAX, limit, NULL);
}

static const struct db_stmt st_auth_check = {
    "auth_check",
    "SELECT u.token_version, s.revoked_at IS NULL AND s.expires_at > now() FROM users u "
    "LEFT JOIN sessions s ON s.id = $2 AND s.user_id = u.id WHERE u.id = $1",
    2, true};

static const struct db_stmt st_api_token = {
    "api_token_auth",
    "SELECT user_id, array_to_string(scopes, ' ') FROM api_tokens "
    "WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL",
    1, true};

/* A personal API token (API.md "Auth"): looked up by its SHA-256. */
static int req_auth_api_token(struct req *req, const char *token)
{
    unsigned char digest[32];
    char hex[65], *scopes, *save = NULL;
    PGresult *r;

    crypto_sha256(token, strlen(token), digest);
    crypto_hex(digest, sizeof(digest), hex);
    r = db_exec(&req->w->db, &st_api_token, (const char *[]){hex});
    if (!r) {
        log_warn("auth: %s", req->w->db.errstr);
        return 503;
    }
    req_defer(req, (void (*)(void *))PQclear, r);
    if (PQntuples(r) != 1)
        return 401;
    req->user_id = db_int(r, 0, 0);
    req->api_token = true;
    scopes = req_defer(req, free, strdup(PQgetvalue(r, 0, 1)));
    for (char *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save))
        req->token_scopes |= scope_parse(s);
    return 0;
}

int req_auth(struct req *req)
{
    const char *h = req_param(req, "HTTP_AUTHORIZATION");
    struct jwt_claims cl;
    const struct cfg *c = req->w->cfg;
    const char *params[2];
    PGresult *r;

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 401;
    if (strncmp(h + 7, "chat_pat_", 9) == 0)
        return req_auth_api_token(req, h + 7);
    if (jwt_verify(req->w->jwt_key, c->jwt_issuer, c->jwt_audience, h + 7, time(NULL), &cl))
        return 401;
    params[0] = req_id_str(req, cl.sub);
    params[1] = req_id_str(req, cl.sid);
    r = db_exec(&req->w->db, &st_auth_check, params);
    if (!r) {
        log_warn("auth: %s", req->w->db.errstr);
        return 503;
    }
    req_defer(req, (void (*)(void *))PQclear, r);
    if (PQntuples(r) != 1 || db_int(r, 0, 0) != cl.tv || strcmp(PQgetvalue(r, 0, 1), "t") != 0)
        return 401;
    req->user_id = cl.sub;
    req->session_id = cl.sid;
    return 0;
}

void req_auth_error(struct req *req, int status)
{
    if (status == 503)
        req_error(req, 503, "unavailable", "database unavailable, retry shortly");
    else
        req_error(req, 401, "unauthorized", "missing, invalid, expired or revoked token");
}

PGresult *req_db_or_reply(struct req *req, const struct db_stmt *st, const char *const *params)
{
    struct db *d = &req->w->db;
    PGresult *r = db_exec(d, st, params);

    if (r)
        return req_defer(req, (void (*)(void *))PQclear, r);
    if (!d->conn) {
        log_warn("%s %s: %s", req->method, req->path, d->errstr);
        req_error(req, 503, "unavailable", "database unavailable, retry shortly");
    } else {
        req_internal(req, d->errstr);
    }
    return NULL;
}

static const struct db_stmt st_is_member = {
    "chat_is_member", "SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2", 2, true};

int req_member_or_reply(struct req *req, int64_t chat_id)
{
    PGresult *r =
        req_db_or_reply(req, &st_is_member,
                        (const char *[]){req_id_str(req, chat_id), req_id_str(req, req->user_id)});

    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such chat");
        return -1;
    }
    return 0;
}

void req_reply_list(struct req *req, const char *key, const struct db_stmt *st,
                    const char *const *params)
{
    PGresult *r = req_db_or_reply(req, st, params);
    struct buf out = BUF_INIT;

    if (!r)
        return;
    buf_addf(&out, "{\"%s\":%s}", key, PQgetvalue(r, 0, 0));
    req_reply(req, 200, out.s, (long)out.len);
    buf_release(&out);
}

void req_reply_page(struct req *req, const char *key, const PGresult *r, int json_col,
                    int64_t limit, const int *cursor_cols, int ncursor_cols)
{
    struct buf out = BUF_INIT, cur = BUF_INIT;
    int n = PQntuples(r), shown = 0;

    buf_addf(&out, "{\"%s\":[", key);
    for (int i = 0; i < n && i < limit; i++)
        if (!PQgetisnull(r, i, json_col))
            buf_addf(&out, "%s%s", shown++ ? "," : "", PQgetvalue(r, i, json_col));
    buf_addch(&out, ']');
    if (n > limit) {
        for (int k = 0; k < ncursor_cols; k++)
            buf_addf(&cur, "%s%s", k ? "." : "", PQgetvalue(r, (int)limit - 1, cursor_cols[k]));
        buf_adds(&out, ",\"next_cursor\":");
        buf_add_json_str(&out, cur.s, cur.len);
    }
    buf_addch(&out, '}');
    req_reply(req, 200, out.s, (long)out.len);
    buf_release(&cur);
    buf_release(&out);
}

void req_delete_owned(struct req *req, const struct db_stmt *st, const char *what)
{
    PGresult *r = req_db_or_reply(
        req, st, (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id)});

    if (!r)
        return;
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        req_error(req, 404, "not_found", "no such %s", what);
        return;
    }
    req_no_content(req);
}

const char *req_id_str(struct req *req, int64_t v)
{
    char *s = req_defer(req, free, malloc(24));

    if (!s)
        abort();
    snprintf(s, 24, "%lld", (long long)v);
    return s;
}

static int rds_connect(struct worker *w)
{
    struct timeval tv = {0, 100000};

    if (w->rds)
        return 0;
    w->rds = redisConnectWithTimeout(w->cfg->redis_host, w->cfg->redis_port, tv);
    if (!w->rds || w->rds->err) {
        log_warn("redis: connect: %s", w->rds ? w->rds->errstr : "out of memory");
        if (w->rds)
            redisFree(w->rds);
        w->rds = NULL;
        return -1;
    }
    redisSetTimeout(w->rds, tv);
    return 0;
}

static void reply_free_cb(void *p)
{
    freeReplyObject(p);
}

redisReply *req_redis(struct req *req, const char *fmt, ...)
{
    struct worker *w = req->w;
    redisReply *r;
    va_list ap;

    if (rds_connect(w))
        return NULL;
    va_start(ap, fmt);
    r = redisvCommand(w->rds, fmt, ap);
    va_end(ap);
    if (!r) {
        log_warn("redis: %s", w->rds->errstr);
        redisFree(w->rds);
        w->rds = NULL;
        return NULL;
    }
    req_defer(req, reply_free_cb, r);
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("redis: %s", r->str);
        return NULL;
    }
    return r;
}

void req_publish(struct req *req, const char *channel_fmt, int64_t id, const char *json)
{
    char channel[64];

    snprintf(channel, sizeof(channel), channel_fmt, (long long)id);
    req_redis(req, "PUBLISH %s %s", channel, json);
}
