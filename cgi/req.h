/* req.h - a chat-api request: what came in, who sent it, and the reply.
 *
 * One struct req lives for one FastCGI request on one worker thread
 * (worker.h). Resources a handler allocates are registered with req_defer
 * and released when the request ends, as nginx's r->pool does, so handlers
 * almost never free. The *_or_reply helpers (here, req_input.h) check one
 * thing and, when it is bad, send the API's JSON error (API.md
 * "Conventions") and return non-zero, so a handler checks an input in one
 * line. The rest of the request's API: req_input.h (validators),
 * req_auth.h (authentication), req_redis.h (Redis and publishing).
 */
#ifndef CHAT_REQ_H
#define CHAT_REQ_H

#include <fcgiapp.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "outcome.h"
#include "worker.h"

/* What a request knows of its chat's version cv:{params[0]}, read from
 * Redis with the rate limit on ROUTE_CHAT_VERSION routes (pagecache.h). */
enum req_cv_state {
    REQ_CV_UNKNOWN, /* Redis was not asked or did not answer */
    REQ_CV_MISSING, /* Redis answered: the key is missing (expired, lost) */
    REQ_CV_KNOWN,   /* Redis answered with the version, in chat_version */
};

struct req_cleanup {
    void (*fn)(void *);
    void *ptr;
};

struct req {
    FCGX_Request *fcgi;
    struct worker *w;
    const char *method;
    const char *path;
    const char *query; /* raw, without '?'; never NULL */
    const char *remote_addr;
    char *body; /* NUL-terminated; never NULL */
    size_t body_len;
    int64_t params[2];     /* :id path parameters, in order */
    unsigned scope;        /* scope the route needs (enum scope in scope.h) */
    int64_t user_id;       /* set by req_auth_finish */
    int64_t session_id;    /* 0 for an API token */
    bool api_token;        /* authenticated by a chat_pat_ token, not a session */
    int64_t token_id;      /* that API token's id */
    unsigned token_scopes; /* enum scope bits of that API token */
    enum req_cv_state cv_state;
    int64_t chat_version; /* cv:{params[0]} when cv_state is REQ_CV_KNOWN */
    bool replied;
    int status;         /* status sent, for the access log */
    bool idem_claimed;  /* this request holds its Idempotency-Key (idem.h) */
    char *reply_body;   /* copy of the JSON sent, kept while idem_claimed */
    struct buf headers; /* extra response header lines, each ending in \r\n */
    struct req_cleanup *cleanups;
    int ncleanups, cleanups_cap;
};

/* Read method, path, query and body (at most cfg->body_limit bytes, else
 * 413 is sent) of an accepted FastCGI request. Returns 0, or -1 when a reply
 * was already sent. */
int req_init(struct req *req, FCGX_Request *fcgi, struct worker *w);
/* Run the cleanups, free the request's memory. */
void req_release(struct req *req);
/* Register fn(ptr) to run when the request ends; returns ptr. */
void *req_defer(struct req *req, void (*fn)(void *), void *ptr);

/* The value of a FastCGI parameter (CGI/1.1 meta-variable, RFC 3875
 * section 4.1), e.g. "HTTP_IDEMPOTENCY_KEY"; NULL when absent. */
const char *req_param(const struct req *req, const char *name);
/* The percent-decoded value of query parameter name, or NULL when absent.
 * The string lives until the request ends. */
const char *req_query(struct req *req, const char *name);
/* Decode len bytes of a query component: '+' is a space (HTML form
 * encoding), %XX an octet (RFC 3986 section 2.1, by curl_easy_unescape).
 * Returns 0 with *out a new NUL-terminated string (the caller frees it),
 * or CHAT_ERR_INVALID with *out NULL when the decoded bytes hold a NUL
 * (%00), which a C string would silently cut short ("5%00" is not "5"). */
int req_query_decode(const char *s, size_t len, char **out);

/* Add a response header. Refuses (returns -1) a value holding CR, LF or
 * any control byte, so nothing can split the response. */
int req_header(struct req *req, const char *name, const char *value);
/* Send status with a JSON body (len bytes of text, or strlen when len is -1). */
void req_reply(struct req *req, int status, const char *json, long len);
/* Send 204 No Content. */
void req_no_content(struct req *req);
/* Send the API's error object {"error":{"code","message"}} with status. */
void req_error(struct req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answer status, the status word of a SQL write function, by table
 * (outcome.h outcome_find): for an error entry send req_error(http, code,
 * message formatted with the arguments after status) and return NULL; for
 * a success return the entry, to answer its http or go on as its action
 * says. */
const struct outcome *req_outcome_or_reply(struct req *req, const struct outcome *table,
                                           const char *status, ...);
/* 500 internal, logging why (never sent to the client). */
void req_internal(struct req *req, const char *why);

/* The answer to the worker's last failed db_exec (lib/db.h db_classify):
 * 503 when PostgreSQL could not be reached or the connection broke (a
 * crash, a restart, an admin shutdown: the client retries after
 * Retry-After), else 500. */
int req_db_status(const struct req *req);
/* Send that answer: 503 `unavailable` with Retry-After, or 500 `internal`
 * (logging d->errstr either way). The one place chat-api maps database
 * failures to HTTP. */
void req_db_error(struct req *req);
/* Run st (lib/db.h) with params; the result is PQcleared when the request
 * ends. On error sends req_db_error's answer and returns NULL. */
PGresult *req_db_or_reply(struct req *req, const struct db_stmt *st, const char *const *params);
/* req_db_or_reply for a write that carries an idempotency key when keyed
 * (lib/db.h db_exec_keyed): retried once after a lost connection. */
PGresult *req_db_keyed_or_reply(struct req *req, const struct db_stmt *st,
                                const char *const *params, bool keyed);
/* Run st, whose one row holds a JSON array, and answer 200 {"<key>": array}
 * (API.md "Lists", for lists that fit one page). */
void req_reply_list(struct req *req, const char *key, const struct db_stmt *st,
                    const char *const *params);
/* Answer 200 {"<key>": [...], "next_cursor": "..."} (API.md "Lists") from r,
 * fetched with LIMIT limit + 1: the rows' json_col (JSON text; rows where it
 * is NULL are skipped) up to limit, and, when the extra row came, the page's
 * last row's cursor_cols joined by "." as next_cursor. r stays the caller's. */
void req_reply_page(struct req *req, const char *key, const PGresult *r, int json_col,
                    int64_t limit, const int *cursor_cols, int ncursor_cols);
/* Run st with (req->params[0], req->user_id), a DELETE or UPDATE of a row
 * the caller owns: 204 when it touched a row, else 404 "no such <what>". */
void req_delete_owned(struct req *req, const struct db_stmt *st, const char *what);
/* v in decimal, as a string that lives until the request ends. */
const char *req_id_str(struct req *req, int64_t v);

/* Check that the caller is a member of chat_id; else send 404 (API.md
 * "Visibility": a chat exists only for its members) and return -1. On 0,
 * *members (if not NULL) is the chat's member count. */
int req_member_or_reply(struct req *req, int64_t chat_id, int64_t *members);

#endif
