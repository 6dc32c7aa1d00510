/* req.h - a chat-api request: what came in, who sent it, and the reply.
 *
 * One struct req lives for one FastCGI request on one worker thread.
 * Resources a handler allocates are registered with req_defer and released
 * when the request ends, as nginx's r->pool does, so handlers almost never
 * free. The *_or_reply helpers validate one thing and, when it is bad, send
 * the API's JSON error (API.md "Conventions") and return non-zero, so a
 * handler checks an input in one line:
 *
 *     if (req_json_str_or_reply(req, body, "content", 1, 16384, &content))
 *         return;
 */
#ifndef CHAT_REQ_H
#define CHAT_REQ_H

#include <cjson/cJSON.h>
#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "authcache.h"
#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "jwt.h"
#include "pagecache.h"

/* The Lua scripts chat-api runs with EVALSHA (req_eval). */
enum req_script_id { REQ_SCRIPT_RATELIMIT, REQ_SCRIPT_PUBLISH, REQ_SCRIPTS };

struct req_script {
    enum req_script_id id;
    const char *text;
};

/* What one worker thread owns: one PGconn, one Redis context. The caches
 * are the process's, shared by its workers. */
struct worker {
    struct db db;
    redisContext *rds;                /* NULL until first use or after an error */
    bool rds_had;                     /* rds was open before: the next connect is a reconnect */
    char script_sha[REQ_SCRIPTS][41]; /* SCRIPT LOADed on rds; "" until then */
    const struct cfg *cfg;
    const unsigned char *jwt_key; /* JWT_KEY_LEN bytes */
    struct authcache *auth_cache; /* may be NULL: no caching */
    struct pagecache *page_cache; /* may be NULL: no caching */
    int id;
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
    unsigned scope;        /* scope the route needs (enum scope in router.h) */
    int64_t user_id;       /* set by req_auth_finish */
    int64_t session_id;    /* 0 for an API token */
    bool api_token;        /* authenticated by a chat_pat_ token, not a session */
    int64_t token_id;      /* that API token's id */
    unsigned token_scopes; /* enum scope bits of that API token */
    int64_t chat_version;  /* cv:{params[0]} read from Redis this request; -1 when the
                            * key is missing, -2 when Redis was not asked or did not answer */
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
/* Before any handler: 400 invalid_request (and -1) when a query parameter,
 * name or value, decodes to a NUL byte, or the path as sent (REQUEST_URI)
 * holds %00 (API.md "Conventions"). */
int req_query_check_or_reply(struct req *req);

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
/* 500 internal, logging why (never sent to the client). */
void req_internal(struct req *req, const char *why);

/* Parse the body as a JSON object (json_parse's checks). Sends 400 and
 * returns -1 when it is not one. *out is freed when the request ends. */
int req_json_body_or_reply(struct req *req, cJSON **out);
/* A string field of obj, min..max bytes, no control characters unless
 * multiline. A missing field is an error when required, else *out = NULL. */
int req_json_str_or_reply(struct req *req, const cJSON *obj, const char *name, bool required,
                          size_t min, size_t max, bool multiline, const char **out);
/* An id field (integer, 1 <= id < 2^53). Missing: error when required, else *out = 0. */
int req_json_id_or_reply(struct req *req, const cJSON *obj, const char *name, bool required,
                         int64_t *out);
/* A query parameter in [min, max]; *out keeps its value when absent, and
 * *present (may be NULL) says whether it was given. */
int req_query_int_or_reply(struct req *req, const char *name, int64_t min, int64_t max,
                           int64_t *out, bool *present);

/* ?limit= of a list (API.md "Lists"): default PAGE_LIMIT_DEFAULT, 1 to
 * PAGE_LIMIT_MAX, else 400. */
int req_limit_or_reply(struct req *req, int64_t *limit);

/* Authenticate the Bearer token, in two steps around the request's one
 * Redis round trip, which reads the user's auth epoch (authcache.h): an
 * access token (lib/jwt.h) whose token_version and session are still
 * current, or a personal API token (chat_pat_..., looked up by SHA-256, with
 * its scopes). Success sets user_id, session_id, api_token and
 * token_scopes; failures return the status to answer (401, 503 when the
 * database is unreachable, 500 when its query failed) without replying. */
struct req_auth_pending {
    int status; /* the answer when !jwt: 0, 401, 500 or 503 */
    bool jwt;   /* an access token that passed jwt_verify */
    struct jwt_claims cl;
    bool cached; /* entry holds the session's cached check */
    struct authcache_entry entry;
};
/* Step one: check the token's signature and claims (an API token is
 * checked in full here) and look the session up in the auth cache. */
void req_auth_begin(struct req *req, struct req_auth_pending *p);
/* The user whose rate-limit bucket the request most likely counts in: the
 * token's user unless the cache says the token is refused; 0 (the client
 * IP) when authentication has already failed. */
int64_t req_auth_likely_user(const struct req *req, const struct req_auth_pending *p);
/* Step two: decide, from the cache when its entry's epoch equals epoch
 * (epoch_known false: Redis did not answer, so the cache is not used),
 * else from PostgreSQL, refilling the cache. Returns 0, 401, 500 or 503. */
int req_auth_finish(struct req *req, struct req_auth_pending *p, bool epoch_known, int64_t epoch);
/* Send the error for a status req_auth_finish returned. */
void req_auth_error(struct req *req, int status);

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

/* Run a Redis command (hiredis format) on the worker's context, connecting
 * first if needed (100 ms timeouts). The reply is freed when the request
 * ends. Returns NULL on a connection or protocol error (logged; the context
 * is dropped and reopened next time). */
redisReply *req_redis(struct req *req, const char *fmt, ...);

/* Run script s with EVALSHA (SCRIPT LOADed once per connection; EVAL when
 * Redis has lost it, NOSCRIPT) with argc arguments argv: numkeys, keys,
 * then args, as EVAL takes them. The reply is freed when the request ends;
 * NULL on any error (logged), as req_redis. */
redisReply *req_eval(struct req *req, const struct req_script *s, int argc, const char **argv);

/* Check that the caller is a member of chat_id; else send 404 (API.md
 * "Visibility": a chat exists only for its members) and return -1. */
int req_member_or_reply(struct req *req, int64_t chat_id);

/* Publish a JSON event on channel_fmt with id ("chat:%lld", "user:%lld").
 * Best effort: a failure is logged and the context reset; PostgreSQL is
 * the record and streams backfill from it. For events without a version
 * (receipt, typing) and for user channels; a chat's durable events go
 * through req_publish_change. */
void req_publish(struct req *req, const char *channel_fmt, int64_t id, const char *json);
/* Publish a durable event json of chat_id (the event a write function
 * returned, with its version: a column of its own, db/functions/) on
 * chat:{chat_id}, and raise cv:{chat_id} to version in the same round trip
 * (pagecache.h). Best effort, as req_publish. */
void req_publish_change(struct req *req, int64_t chat_id, int64_t version, const char *json);
/* Raise cv:{chat_id} to version (never lowers it); best effort. For a page
 * read from PostgreSQL at a version Redis did not know (a lost publish, a
 * Redis restart). */
void req_chat_version_raise(struct req *req, int64_t chat_id, int64_t version);
/* After a revocation has committed: raise the user's auth epoch
 * ae:{user_id} (authcache.h), so no process trusts its cached checks of
 * the user's tokens any more, and publish json on user:{user_id} for
 * chat-push (session.revoked), in one round trip. */
void req_publish_revoked(struct req *req, int64_t user_id, const char *json);

#endif
