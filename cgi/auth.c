/* auth.c - API.md "Auth": register, login, refresh, logout.
 *
 * A login creates a session. Its refresh token is derived, not stored:
 * "<session id>.<generation>.<base64url HMAC-SHA256(key, id|generation|salt)>".
 * Each refresh bumps the generation (rotation, RFC 9700 section 4.14.2);
 * presenting the previous generation within refresh_grace seconds answers
 * the current pair again (two tabs refreshing at once), later it revokes the
 * session (reuse detection). A database leak alone yields no usable token.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "handlers.h"
#include "jwt.h"
#include "log.h"
#include "pwhash.h"
#include "ratelimit.h"
#include "req.h"
#include "req_input.h"
#include "req_redis.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define DISPLAY_NAME_MAX 64

static const struct str_field f_username = {"username", .required = true, .min = 1, .max = 64};
static const struct str_field f_register_password = {
    "password", .required = true, .min = PASSWORD_MIN, .max = PASSWORD_MAX, .multiline = true};
static const struct str_field f_display_name = {"display_name", .min = 1, .max = DISPLAY_NAME_MAX};
static const struct str_field f_login_password = {"password", .required = true, .min = 1,
                                                  .max = PASSWORD_MAX, .multiline = true};
static const struct str_field f_refresh_token = {"refresh_token", .required = true, .min = 1,
                                                 .max = 256};
static const struct str_field f_current_password = {"current_password", .required = true, .min = 1,
                                                    .max = PASSWORD_MAX, .multiline = true};
static const struct str_field f_new_password = {
    "new_password", .required = true, .min = PASSWORD_MIN, .max = PASSWORD_MAX, .multiline = true};

/* Take a password-hashing slot (pwhash.h: at most argon2_max_concurrent at
 * once in the process), or send 503 with Retry-After when none frees up
 * within argon2_wait_ms, so a burst of logins cannot hold every worker. */
static int hash_slot_or_reply(struct req *req)
{
    if (pwhash_slot_acquire() == 0)
        return 0;
    req_error(req, 503, "unavailable", "too many logins at once, retry shortly");
    return -1;
}

static void hash_slot_release(void)
{
    pwhash_slot_release();
}

/* Fold username to lower case in place and check it: 3-32 of [a-z0-9_.-]. */
static bool username_valid(char *u)
{
    size_t n = strlen(u);

    if (n < 3 || n > 32)
        return false;
    for (char *c = u; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
              *c == '-'))
            return false;
    }
    return true;
}

static int username_or_reply(struct req *req, const cJSON *body, char **out)
{
    const char *u;

    if (req_json_str_or_reply(req, body, &f_username, &u))
        return -1;
    *out = req_defer(req, free, strdup(u));
    if (!username_valid(*out)) {
        req_error(req, 400, "invalid_request", "username must be 3 to 32 of a-z 0-9 _ . -");
        return -1;
    }
    return 0;
}

static void refresh_token(struct req *req, int64_t sid, int64_t gen, const char *salt_hex,
                          struct buf *out)
{
    unsigned char mac[32];
    char data[160], b64[48];
    int n = snprintf(data, sizeof(data), "refresh|%" PRId64 "|%" PRId64 "|%s", sid, gen, salt_hex);

    crypto_hmac_sha256(req->w->jwt_key, JWT_KEY_LEN, data, (size_t)n, mac);
    crypto_b64url_encode(mac, sizeof(mac), b64);
    buf_addf(out, "%" PRId64 ".%" PRId64 ".%s", sid, gen, b64);
}

/* Send {user, access_token, refresh_token, token_type, expires_in}. */
static void reply_tokens(struct req *req, int status, const char *user_json, int64_t uid,
                         int64_t tv, int64_t sid, int64_t gen, const char *salt_hex)
{
    const struct cfg *c = req->w->cfg;
    struct buf out = BUF_INIT, access = BUF_INIT, refresh = BUF_INIT;
    time_t now = time(NULL);
    struct jwt_claims cl = {
        .sub = uid, .sid = sid, .tv = tv, .iat = now, .nbf = now, .exp = now + c->access_ttl};

    jwt_sign(req->w->jwt_key, c->jwt_issuer, c->jwt_audience, &cl, &access);
    refresh_token(req, sid, gen, salt_hex, &refresh);
    buf_addf(&out,
             "{\"user\":%s,\"access_token\":\"%s\",\"refresh_token\":\"%s\","
             "\"token_type\":\"Bearer\",\"expires_in\":%d}",
             user_json, access.s, refresh.s, c->access_ttl);
    req_reply(req, status, out.s, (long)out.len);
    buf_release(&out);
    buf_release(&access);
    buf_release(&refresh);
}

static const struct db_stmt st_session_insert = {
    "session_insert",
    "INSERT INTO sessions (user_id, salt, expires_at, user_agent, ip) "
    "VALUES ($1, decode($2, 'hex'), now() + make_interval(secs => $3::int), left($4, 256), $5) "
    "RETURNING id",
    5, false};

/* Open a session for uid and answer with its first token pair. */
static void session_open(struct req *req, int status, int64_t uid, int64_t tv,
                         const char *user_json)
{
    char uid_s[24], ttl[24], salt[33];
    const char *ua = req_param(req, "HTTP_USER_AGENT");
    const char *params[5] = {uid_s, salt, ttl, ua ? ua : "", req->remote_addr};
    PGresult *r;

    snprintf(uid_s, sizeof(uid_s), "%" PRId64, uid);
    snprintf(ttl, sizeof(ttl), "%d", req->w->cfg->refresh_ttl);
    if (crypto_random_hex(salt, 16)) {
        req_internal(req, "no randomness");
        return;
    }
    r = req_db_or_reply(req, &st_session_insert, params);
    if (!r)
        return;
    reply_tokens(req, status, user_json, uid, tv, db_int(r, 0, 0), 0, salt);
}

static const struct db_stmt st_user_insert = {
    "user_insert",
    "INSERT INTO users (username, display_name, password_hash) VALUES ($1, $2, $3) "
    "ON CONFLICT (username) DO NOTHING RETURNING id, token_version, user_json(users)",
    3, false};

void auth_register(struct req *req)
{
    cJSON *body;
    char *username, hash[PWHASH_ENCODED_LEN];
    const char *password, *display;
    PGresult *r;
    int rc;

    if (req_json_body_or_reply(req, &body) || username_or_reply(req, body, &username) ||
        req_json_str_or_reply(req, body, &f_register_password, &password) ||
        req_json_str_or_reply(req, body, &f_display_name, &display))
        return;
    if (hash_slot_or_reply(req))
        return;
    rc = pwhash_hash(password, strlen(password), hash);
    hash_slot_release();
    if (rc) {
        req_internal(req, "password hash failed");
        return;
    }
    r = req_db_or_reply(req, &st_user_insert,
                        (const char *[]){username, display ? display : username, hash});
    if (!r)
        return;
    if (PQntuples(r) == 0) {
        req_error(req, 409, "username_taken", "username is taken");
        return;
    }
    log_info("user %s registered as %s", PQgetvalue(r, 0, 0), username);
    session_open(req, 201, db_int(r, 0, 0), db_int(r, 0, 1), PQgetvalue(r, 0, 2));
}

static const struct db_stmt st_user_by_name = {
    "user_by_name",
    "SELECT id, token_version, user_json(u), password_hash FROM users u WHERE username = $1", 1,
    true};

void auth_login(struct req *req)
{
    cJSON *body;
    char *username;
    const char *password;
    PGresult *r;
    bool ok;

    if (req_json_body_or_reply(req, &body) ||
        req_json_str_or_reply(req, body, &f_username, (const char **)&username) ||
        req_json_str_or_reply(req, body, &f_login_password, &password))
        return;
    username = req_defer(req, free, strdup(username));
    username_valid(username); /* folds case; an invalid name simply finds nobody */
    if (ratelimit_login_or_reply(req, username))
        return;
    r = req_db_or_reply(req, &st_user_by_name, (const char *[]){username});
    if (!r)
        return;
    if (hash_slot_or_reply(req))
        return;
    /* Same work for an unknown user as for a wrong password. */
    if (PQntuples(r) == 1) {
        ok = pwhash_verify(PQgetvalue(r, 0, 3), password, strlen(password));
    } else {
        pwhash_dummy_verify(password, strlen(password));
        ok = false;
    }
    hash_slot_release();
    ratelimit_login_result(req, username, ok);
    if (!ok) {
        req_error(req, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    session_open(req, 200, db_int(r, 0, 0), db_int(r, 0, 1), PQgetvalue(r, 0, 2));
}

/* Split "<sid>.<gen>.<mac>"; returns 0 or -1. */
static int refresh_parse(const char *tok, int64_t *sid, int64_t *gen)
{
    char *end;
    long long s, g;

    if (!tok || strlen(tok) > 128)
        return -1;
    errno = 0;
    s = strtoll(tok, &end, 10);
    if (errno || s <= 0 || *end != '.')
        return -1;
    g = strtoll(end + 1, &end, 10);
    if (errno || g < 0 || *end != '.')
        return -1;
    *sid = s;
    *gen = g;
    return 0;
}

static const struct db_stmt st_session_get = {
    "session_get",
    "SELECT s.user_id, encode(s.salt, 'hex'), s.generation, "
    "  session_live(s), "
    "  coalesce(extract(epoch FROM now() - s.rotated_at), 1e9)::float8, "
    "  u.token_version, user_json(u) "
    "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
    1, true};
static const struct db_stmt st_session_rotate = {
    "session_rotate",
    "UPDATE sessions SET generation = generation + 1, rotated_at = now(), last_used_at = now() "
    "WHERE id = $1 AND generation = $2 AND revoked_at IS NULL RETURNING generation",
    2, false};
static const struct db_stmt st_session_revoke = {
    "session_revoke", "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    1, false};

/* The session a refresh token names, if the token is authentic (any
 * generation). Sends 401 and returns NULL otherwise. */
static PGresult *session_of_token_or_reply(struct req *req, const char *tok, int64_t *sid,
                                           int64_t *gen)
{
    char sid_s[24];
    PGresult *r;
    struct buf want = BUF_INIT;
    bool authentic;

    if (refresh_parse(tok, sid, gen))
        goto out_unauthorized;
    snprintf(sid_s, sizeof(sid_s), "%" PRId64, *sid);
    r = req_db_or_reply(req, &st_session_get, (const char *[]){sid_s});
    if (!r)
        return NULL;
    if (PQntuples(r) != 1)
        goto out_unauthorized;
    refresh_token(req, *sid, *gen, PQgetvalue(r, 0, 1), &want);
    authentic = want.len == strlen(tok) && crypto_equal(want.s, tok, want.len);
    buf_release(&want);
    if (authentic)
        return r;
out_unauthorized:
    req_error(req, 401, "unauthorized", "invalid refresh token");
    return NULL;
}

/* Revoke a session of user uid and tell chat-push to close its streams
 * (API.md "Auth": they close within 5 s). The control event on user:{id}
 * is internal: chat-push acts on it and never forwards it. Returns 0, or
 * -1 when the database failed (answered: 503 or 500). */
static int session_revoke(struct req *req, int64_t uid, int64_t sid)
{
    char sid_s[24], event[96];

    snprintf(sid_s, sizeof(sid_s), "%" PRId64, sid);
    if (!req_db_or_reply(req, &st_session_revoke, (const char *[]){sid_s}))
        return -1;
    snprintf(event, sizeof(event), "{\"type\":\"session.revoked\",\"session_id\":%" PRId64 "}",
             sid);
    req_publish_revoked(req, uid, event);
    return 0;
}

void auth_refresh(struct req *req)
{
    cJSON *body;
    const char *tok;
    int64_t sid, gen, cur;
    PGresult *s, *r;
    char sid_s[24], gen_s[24];

    if (req_json_body_or_reply(req, &body) ||
        req_json_str_or_reply(req, body, &f_refresh_token, &tok))
        return;
    s = session_of_token_or_reply(req, tok, &sid, &gen);
    if (!s)
        return;
    cur = db_int(s, 0, 2);
    if (strcmp(PQgetvalue(s, 0, 3), "t") != 0) {
        req_error(req, 401, "unauthorized", "session revoked or expired");
        return;
    }
    if (gen == cur - 1 && strtod(PQgetvalue(s, 0, 4), NULL) <= req->w->cfg->refresh_grace) {
        reply_tokens(req, 200, PQgetvalue(s, 0, 6), db_int(s, 0, 0), db_int(s, 0, 5), sid, cur,
                     PQgetvalue(s, 0, 1));
        return;
    }
    if (gen != cur) {
        log_warn("session %lld: spent refresh token reused; revoking the session", (long long)sid);
        if (session_revoke(req, db_int(s, 0, 0), sid))
            return;
        req_error(req, 401, "unauthorized", "refresh token already used");
        return;
    }
    snprintf(sid_s, sizeof(sid_s), "%" PRId64, sid);
    snprintf(gen_s, sizeof(gen_s), "%" PRId64, gen);
    r = req_db_or_reply(req, &st_session_rotate, (const char *[]){sid_s, gen_s});
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        /* A concurrent refresh rotated it first: the grace case, once more. */
        req_error(req, 409, "conflict", "refresh in progress, retry");
        return;
    }
    reply_tokens(req, 200, PQgetvalue(s, 0, 6), db_int(s, 0, 0), db_int(s, 0, 5), sid,
                 db_int(r, 0, 0), PQgetvalue(s, 0, 1));
}

void auth_logout(struct req *req)
{
    cJSON *body;
    const char *tok;
    int64_t sid, gen;
    PGresult *s;

    if (req_json_body_or_reply(req, &body) ||
        req_json_str_or_reply(req, body, &f_refresh_token, &tok))
        return;
    s = session_of_token_or_reply(req, tok, &sid, &gen);
    if (!s)
        return;
    if (session_revoke(req, db_int(s, 0, 0), sid))
        return;
    req_no_content(req);
}

static const struct db_stmt st_logout_all = {
    "logout_all",
    "WITH s AS (UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL) "
    "UPDATE users SET token_version = token_version + 1 WHERE id = $1",
    1, false};

void auth_logout_all(struct req *req)
{
    char uid[24];
    PGresult *r;

    snprintf(uid, sizeof(uid), "%" PRId64, req->user_id);
    r = req_db_or_reply(req, &st_logout_all, (const char *[]){uid});
    if (!r)
        return;
    /* Every session of the user: chat-push closes all their streams. */
    req_publish_revoked(req, req->user_id, "{\"type\":\"session.revoked\",\"session_id\":0}");
    req_no_content(req);
}

static const struct db_stmt st_sessions = {
    "sessions_list",
    "SELECT coalesce(json_agg(json_build_object('id', id, 'created_at', api_ts(created_at), "
    "  'last_used_at', api_ts(last_used_at), 'expires_at', api_ts(expires_at), "
    "  'user_agent', user_agent, 'ip', ip, 'current', id = $2) ORDER BY id), '[]') "
    "FROM sessions s WHERE user_id = $1 AND session_live(s)",
    2, true};

void auth_sessions_list(struct req *req)
{
    req_reply_list(
        req, "sessions", &st_sessions,
        (const char *[]){req_id_str(req, req->user_id), req_id_str(req, req->session_id)});
}

static const struct db_stmt st_session_owned = {
    "session_owned", "SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    2, true};

void auth_sessions_delete(struct req *req)
{
    PGresult *r = req_db_or_reply(
        req, &st_session_owned,
        (const char *[]){req_id_str(req, req->params[0]), req_id_str(req, req->user_id)});

    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 404, "not_found", "no such session");
        return;
    }
    if (session_revoke(req, req->user_id, req->params[0]))
        return;
    req_no_content(req);
}

static const struct db_stmt st_password_get = {
    "password_get", "SELECT password_hash FROM users WHERE id = $1", 1, true};
static const struct db_stmt st_password_set = {
    "password_set",
    "WITH s AS (UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL), "
    "t AS (UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL) "
    "UPDATE users SET password_hash = $2, token_version = token_version + 1 WHERE id = $1 "
    "RETURNING token_version, user_json(users)",
    2, false};

/* POST /auth/password {current_password, new_password}: every session,
 * access token and API token of the user is revoked (DESIGN.md "Security"),
 * and the answer is a fresh session's token pair, like a login. A wrong
 * current password is a bad request (400), not a missing role (403). */
void auth_password(struct req *req)
{
    cJSON *body;
    const char *cur, *next;
    char hash[PWHASH_ENCODED_LEN];
    const char *uid = req_id_str(req, req->user_id);
    PGresult *r;
    bool ok;

    if (req_json_body_or_reply(req, &body) ||
        req_json_str_or_reply(req, body, &f_current_password, &cur) ||
        req_json_str_or_reply(req, body, &f_new_password, &next))
        return;
    r = req_db_or_reply(req, &st_password_get, (const char *[]){uid});
    if (!r || hash_slot_or_reply(req))
        return;
    ok = PQntuples(r) == 1 && pwhash_verify(PQgetvalue(r, 0, 0), cur, strlen(cur));
    if (ok && pwhash_hash(next, strlen(next), hash))
        ok = false;
    hash_slot_release();
    if (!ok) {
        req_error(req, 400, "invalid_request", "current_password is wrong");
        return;
    }
    r = req_db_or_reply(req, &st_password_set, (const char *[]){uid, hash});
    if (!r)
        return;
    req_publish_revoked(req, req->user_id, "{\"type\":\"session.revoked\",\"session_id\":0}");
    session_open(req, 200, req->user_id, db_int(r, 0, 0), PQgetvalue(r, 0, 1));
}
