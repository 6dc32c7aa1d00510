/* req.c - request parsing, replies, validation and auth for chat-api. */
#include "req.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "err.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "ops.h"
#include "page.h"
#include "rds.h"
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
    req->chat_version = -2;
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

int req_query_decode(const char *s, size_t len, char **out)
{
    char *plus = strndup(s, len), *dec;
    int n = 0;

    *out = NULL;
    if (!plus)
        abort();
    for (char *c = plus; *c; c++)
        if (*c == '+')
            *c = ' ';
    dec = curl_easy_unescape(NULL, plus, (int)strlen(plus), &n);
    free(plus);
    if (!dec)
        abort();
    if (memchr(dec, '\0', (size_t)n)) {
        curl_free(dec);
        return CHAT_ERR_INVALID;
    }
    *out = strdup(dec);
    curl_free(dec);
    if (!*out)
        abort();
    return 0;
}

const char *req_query(struct req *req, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = req->query;
    char *v;

    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
            if (len == nlen)
                return "";
            /* req_query_check_or_reply refused NULs before any handler ran. */
            if (req_query_decode(p + nlen + 1, len - nlen - 1, &v))
                return NULL;
            return req_defer(req, free, v);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

int req_query_check_or_reply(struct req *req)
{
    const char *uri = req_param(req, "REQUEST_URI"), *p = req->query;
    size_t plen;
    char *v;

    /* The path as the client sent it: a %00 would cut DOCUMENT_URI short
     * (FastCGI hands it over as a C string), "/chats/5%00/x" becoming
     * "/chats/5". nginx refuses it already; this holds without nginx. */
    if (uri) {
        plen = strcspn(uri, "?");
        for (size_t i = 0; i + 3 <= plen; i++)
            if (memcmp(uri + i, "%00", 3) == 0) {
                req_error(req, 400, "invalid_request", "the path holds a NUL byte (%%00)");
                return -1;
            }
    }
    while (*p) {
        size_t len = strcspn(p, "&");

        if (req_query_decode(p, len, &v)) {
            req_error(req, 400, "invalid_request", "a query parameter holds a NUL byte (%%00)");
            return -1;
        }
        free(v);
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
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
    "SELECT user_id, array_to_string(scopes, ' '), id FROM api_tokens "
    "WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL",
    1, true};

/* The one row of an auth lookup, or NULL with *status 503 (database
 * unreachable), 500 (the query failed) or 401 (no such row). */
static PGresult *auth_row(struct req *req, const struct db_stmt *st, const char *const *params,
                          int *status)
{
    PGresult *r = db_exec(&req->w->db, st, params);

    if (!r) {
        log_warn("auth: %s", req->w->db.errstr);
        *status = req_db_status(req);
        return NULL;
    }
    req_defer(req, (void (*)(void *))PQclear, r);
    if (PQntuples(r) != 1) {
        *status = 401;
        return NULL;
    }
    return r;
}

/* A personal API token (API.md "Auth"): looked up by its SHA-256. */
static int req_auth_api_token(struct req *req, const char *token)
{
    unsigned char digest[32];
    char hex[65], *scopes, *save = NULL;
    PGresult *r;
    int status;

    crypto_sha256(token, strlen(token), digest);
    crypto_hex(digest, sizeof(digest), hex);
    r = auth_row(req, &st_api_token, (const char *[]){hex}, &status);
    if (!r)
        return status;
    req->user_id = db_int(r, 0, 0);
    req->api_token = true;
    req->token_id = db_int(r, 0, 2);
    scopes = req_defer(req, free, strdup(PQgetvalue(r, 0, 1)));
    for (char *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save))
        req->token_scopes |= scope_parse(s);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void req_auth_begin(struct req *req, struct req_auth_pending *p)
{
    const char *h = req_param(req, "HTTP_AUTHORIZATION");
    const struct cfg *c = req->w->cfg;

    memset(p, 0, sizeof(*p));
    p->status = 401;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return;
    if (strncmp(h + 7, "chat_pat_", 9) == 0) {
        p->status = req_auth_api_token(req, h + 7);
        return;
    }
    if (jwt_verify(req->w->jwt_key, c->jwt_issuer, c->jwt_audience, h + 7, time(NULL), &p->cl))
        return;
    p->jwt = true;
    if (req->w->auth_cache)
        p->cached = authcache_get(req->w->auth_cache, p->cl.sid, now_ms(), &p->entry);
}

int64_t req_auth_likely_user(const struct req *req, const struct req_auth_pending *p)
{
    if (!p->jwt)
        return p->status == 0 ? req->user_id : 0;
    return authcache_predict(p->cached ? &p->entry : NULL, p->cl.sub, p->cl.tv) == AUTHCACHE_REFUSE
               ? 0
               : p->cl.sub;
}

int req_auth_finish(struct req *req, struct req_auth_pending *p, bool epoch_known, int64_t epoch)
{
    const char *params[2];
    struct authcache_entry fill;
    enum authcache_verdict v = AUTHCACHE_UNKNOWN;
    PGresult *r;
    int status;

    if (!p->jwt)
        return p->status;
    if (epoch_known)
        v = authcache_judge(p->cached ? &p->entry : NULL, p->cl.sub, p->cl.tv, epoch);
    if (v == AUTHCACHE_REFUSE)
        return 401;
    if (v == AUTHCACHE_UNKNOWN) {
        /* The epoch was read before this check: a revocation committing
         * after it raises the epoch after, so the entry goes stale. */
        fill.filled_at_ms = now_ms();
        params[0] = req_id_str(req, p->cl.sub);
        params[1] = req_id_str(req, p->cl.sid);
        r = auth_row(req, &st_auth_check, params, &status);
        if (!r)
            return status;
        fill.user_id = p->cl.sub;
        fill.token_version = db_int(r, 0, 0);
        fill.session_ok = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        fill.epoch = epoch;
        if (epoch_known && req->w->auth_cache)
            authcache_put(req->w->auth_cache, p->cl.sid, &fill);
        if (authcache_predict(&fill, p->cl.sub, p->cl.tv) != AUTHCACHE_ACCEPT)
            return 401;
    }
    req->user_id = p->cl.sub;
    req->session_id = p->cl.sid;
    return 0;
}

void req_auth_error(struct req *req, int status)
{
    if (status == 503)
        req_error(req, 503, "unavailable", "database unavailable, retry shortly");
    else if (status == 500)
        req_internal(req, req->w->db.errstr);
    else
        req_error(req, 401, "unauthorized", "missing, invalid, expired or revoked token");
}

int req_db_status(const struct req *req)
{
    return req->w->db.failure == DB_FAIL_UNAVAILABLE ? 503 : 500;
}

void req_db_error(struct req *req)
{
    struct db *d = &req->w->db;

    if (req_db_status(req) == 503) {
        log_warn("%s %s: %s", req->method, req->path, d->errstr);
        req_error(req, 503, "unavailable", "database unavailable, retry shortly");
    } else {
        req_internal(req, d->errstr);
    }
}

PGresult *req_db_or_reply(struct req *req, const struct db_stmt *st, const char *const *params)
{
    PGresult *r = db_exec(&req->w->db, st, params);

    if (r)
        return req_defer(req, (void (*)(void *))PQclear, r);
    req_db_error(req);
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

static void rds_drop(struct worker *w)
{
    if (w->rds)
        redisFree(w->rds);
    w->rds = NULL;
    memset(w->script_sha, 0, sizeof(w->script_sha));
}

static int rds_connect(struct worker *w)
{
    char err[256];
    int rc;

    if (w->rds)
        return 0;
    rc = rds_connect_blocking(w->cfg->redis_host, w->cfg->redis_port, w->cfg->redis_socket,
                              w->cfg->redis_password, 100, &w->rds, err, sizeof(err));
    if (rc) {
        if (rc == CHAT_ERR_AUTH)
            log_err("redis: %s", err);
        else
            log_warn("redis: %s", err);
        rds_drop(w);
        return -1;
    }
    if (w->rds_had)
        ops_redis_reconnected();
    w->rds_had = true;
    return 0;
}

static void reply_free_cb(void *p)
{
    freeReplyObject(p);
}

/* Hold reply r until the request ends; NULL (context dropped) when there
 * is none, NULL (logged) for an error reply. */
static redisReply *rds_keep(struct req *req, redisReply *r)
{
    if (!r) {
        log_warn("redis: %s", req->w->rds->errstr);
        rds_drop(req->w);
        return NULL;
    }
    req_defer(req, reply_free_cb, r);
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("redis: %s", r->str);
        return NULL;
    }
    return r;
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
    return rds_keep(req, r);
}

/* SCRIPT LOAD s on the worker's connection; its SHA1 goes to script_sha. */
static void script_load(struct req *req, const struct req_script *s)
{
    redisReply *r = rds_keep(req, redisCommand(req->w->rds, "SCRIPT LOAD %s", s->text));

    if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
        memcpy(req->w->script_sha[s->id], r->str, 41);
}

#define EVAL_ARGS_MAX 16

redisReply *req_eval(struct req *req, const struct req_script *s, int argc, const char **argv)
{
    struct worker *w = req->w;
    const char *args[EVAL_ARGS_MAX + 2];
    redisReply *r;

    if (argc > EVAL_ARGS_MAX || rds_connect(w))
        return NULL;
    if (!w->script_sha[s->id][0])
        script_load(req, s);
    if (!w->rds)
        return NULL;
    memcpy(args + 2, argv, (size_t)argc * sizeof(*argv));
    if (w->script_sha[s->id][0]) {
        args[0] = "EVALSHA";
        args[1] = w->script_sha[s->id];
        r = redisCommandArgv(w->rds, argc + 2, args, NULL);
        if (!r || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
            return rds_keep(req, r);
        /* Redis lost its scripts (SCRIPT FLUSH, a restart behind a proxy):
         * run this one in full and load it again next time. */
        freeReplyObject(r);
        w->script_sha[s->id][0] = '\0';
    }
    args[0] = "EVAL";
    args[1] = s->text;
    return rds_keep(req, redisCommandArgv(w->rds, argc + 2, args, NULL));
}

/* KEYS[1] a chat version (cv:) or auth epoch (ae:) key. ARGV[1] "max":
 * raise it to ARGV[2] if that is greater; "bump": set it to the greater of
 * its value + 1 and ARGV[2] (the time in microseconds, so an epoch lost in
 * a Redis restart never comes back to a value seen before). Then expire it
 * in ARGV[3] s, and PUBLISH ARGV[5] on channel ARGV[4] unless it is "". */
static const struct req_script publish_script = {
    REQ_SCRIPT_PUBLISH, "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') "
                        "local v = tonumber(ARGV[2]) "
                        "if ARGV[1] == 'bump' then v = math.max(cur + 1, v) end "
                        "if v > cur or ARGV[1] == 'bump' then "
                        "  redis.call('SET', KEYS[1], string.format('%.0f', v), 'EX', ARGV[3]) end "
                        "if ARGV[4] ~= '' then return redis.call('PUBLISH', ARGV[4], ARGV[5]) end "
                        "return 0"};

#define CHAT_VERSION_TTL_S 86400

static void publish_with(struct req *req, const char *key, const char *op, int64_t value, int ttl_s,
                         const char *channel, const char *json)
{
    char v[24], ttl[16];

    snprintf(v, sizeof(v), "%lld", (long long)value);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    req_eval(req, &publish_script, 7, (const char *[]){"1", key, op, v, ttl, channel, json});
}

void req_publish(struct req *req, const char *channel_fmt, int64_t id, const char *json)
{
    char channel[64];

    snprintf(channel, sizeof(channel), channel_fmt, (long long)id);
    req_redis(req, "PUBLISH %s %s", channel, json);
}

void req_publish_change(struct req *req, int64_t chat_id, int64_t version, const char *json)
{
    char channel[48], key[48];

    snprintf(channel, sizeof(channel), "chat:%lld", (long long)chat_id);
    snprintf(key, sizeof(key), "cv:%lld", (long long)chat_id);
    publish_with(req, key, "max", version, CHAT_VERSION_TTL_S, channel, json);
}

void req_chat_version_raise(struct req *req, int64_t chat_id, int64_t version)
{
    char key[48];

    snprintf(key, sizeof(key), "cv:%lld", (long long)chat_id);
    publish_with(req, key, "max", version, CHAT_VERSION_TTL_S, "", "");
}

void req_publish_revoked(struct req *req, int64_t user_id, const char *json)
{
    char key[48], channel[48];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(key, sizeof(key), "ae:%lld", (long long)user_id);
    snprintf(channel, sizeof(channel), "user:%lld", (long long)user_id);
    /* Outlives any access token, so no cached check is older than it. */
    publish_with(req, key, "bump", (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                 req->w->cfg->access_ttl + 3600, channel, json);
}
