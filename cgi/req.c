/* req.c - a chat-api request: reading it (FastCGI parameters, query,
 * body), the request's arena, and every kind of reply, the database's
 * failures and pages included (req.h). */
#include "req.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api_error.h"
#include "err.h"
#include "json.h"
#include "log.h"

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

static void error_v(struct req *req, int status, const char *code, const char *fmt, va_list ap)
{
    struct buf msg = BUF_INIT, out = BUF_INIT;

    buf_vaddf(&msg, fmt, ap);
    api_error_body(&out, code, msg.s);
    if ((status == 429 || status == 503) && !strstr(req->headers.s, "Retry-After:"))
        req_header(req, "Retry-After", "1");
    req_reply(req, status, out.s, (long)out.len);
    buf_release(&msg);
    buf_release(&out);
}

void req_error(struct req *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_v(req, status, code, fmt, ap);
    va_end(ap);
}

const struct outcome *req_outcome_or_reply(struct req *req, const struct outcome *table,
                                           const char *status, ...)
{
    const struct outcome *o = outcome_find(table, status);
    va_list ap;

    if (!o->code)
        return o;
    va_start(ap, status);
    error_v(req, o->http, o->code, o->message, ap);
    va_end(ap);
    return NULL;
}

void req_internal(struct req *req, const char *why)
{
    log_err("%s %s: %s", req->method, req->path, why);
    req_error(req, 500, "internal", "internal error");
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
    return req_db_keyed_or_reply(req, st, params, false);
}

PGresult *req_db_keyed_or_reply(struct req *req, const struct db_stmt *st,
                                const char *const *params, bool keyed)
{
    PGresult *r = db_exec_keyed(&req->w->db, st, params, keyed);

    if (r)
        return req_defer(req, (void (*)(void *))PQclear, r);
    req_db_error(req);
    return NULL;
}

static const struct db_stmt st_is_member = {
    "chat_is_member",
    "SELECT c.members_count FROM chats c JOIN chat_members m ON m.chat_id = c.id "
    "AND m.user_id = $2 WHERE c.id = $1",
    2, true};

int req_member_or_reply(struct req *req, int64_t chat_id, int64_t *members)
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
    if (members)
        *members = db_int(r, 0, 0);
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
