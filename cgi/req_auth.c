/* req_auth.c - authentication of a chat-api request: an access token
 * (JWT, checked against the auth cache or PostgreSQL) or a personal API
 * token (req_auth.h). */
#include "req_auth.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "log.h"
#include "req.h"
#include "scope.h"

static const struct db_stmt st_auth_check = {
    "auth_check", "SELECT token_version, session_ok FROM auth_check($1, $2, NULL)", 2, true};

static const struct db_stmt st_api_token = {
    "api_token_auth",
    "SELECT user_id, array_to_string(scopes, ' '), token_id FROM auth_api_token(decode($1, 'hex'))",
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
