/* idem.c - Idempotency-Key on every POST, kept in PostgreSQL for 24 h. */
#include "idem.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "req.h"

#define KEY_MAX 255
#define STALE_CLAIM_S 60 /* a claim older than this is from a worker that died */

/* Claim the key, replacing one older than 24 h or a claim left behind by a
 * dead worker; return the row as it now stands and whether we hold it. */
static const struct db_stmt st_claim = {
    "idem_claim",
    "INSERT INTO idempotency_keys AS k (user_id, method, path, key, request_hash) "
    "VALUES ($1, $2, $3, $4, decode($5, 'hex')) "
    "ON CONFLICT (user_id, method, path, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, "
    "  status = NULL, body = NULL, secret = false, created_at = now() "
    "  WHERE k.created_at < now() - interval '24 hours' "
    "     OR (k.status IS NULL AND k.created_at < now() - make_interval(secs => $6)) "
    "RETURNING true",
    6, false};
static const struct db_stmt st_get = {
    "idem_get",
    "SELECT encode(request_hash, 'hex'), status, body, secret FROM idempotency_keys "
    "WHERE user_id = $1 AND method = $2 AND path = $3 AND key = $4",
    4, true};
static const struct db_stmt st_store = {
    "idem_store",
    "UPDATE idempotency_keys SET status = $5, body = $6, secret = $7 "
    "WHERE user_id = $1 AND method = $2 AND path = $3 AND key = $4",
    7, false};
static const struct db_stmt st_release = {
    "idem_release",
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND method = $2 AND path = $3 AND key = $4", 4,
    false};

static const char *idem_key(struct req *req)
{
    return req_param(req, "HTTP_IDEMPOTENCY_KEY");
}

static void scope_params(struct req *req, const char **p)
{
    p[0] = req_id_str(req, req->user_id);
    p[1] = req->method;
    p[2] = req->path;
    p[3] = idem_key(req);
}

/* Answer a retry of a key already claimed. */
static void answer_existing(struct req *req, const char *hash)
{
    const char *p[4];
    PGresult *r;

    scope_params(req, p);
    r = req_db_or_reply(req, &st_get, p);
    if (!r)
        return;
    if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), hash) != 0 ||
        strcmp(PQgetvalue(r, 0, 3), "t") == 0) {
        req_error(req, 409, "idempotency_key_reused",
                  "this Idempotency-Key was used for another request");
    } else if (PQgetisnull(r, 0, 1)) {
        req_error(req, 409, "idempotency_in_progress",
                  "a request with this Idempotency-Key is still running");
    } else {
        req_header(req, "Idempotent-Replayed", "true");
        req_reply(req, atoi(PQgetvalue(r, 0, 1)), PQgetvalue(r, 0, 2), PQgetlength(r, 0, 2));
    }
}

int idem_begin(struct req *req)
{
    const char *key = idem_key(req), *p[6];
    unsigned char digest[32];
    char hash[65];
    PGresult *r;

    if (!key || strcmp(req->method, "POST") != 0)
        return 0;
    if (!*key || strlen(key) > KEY_MAX) {
        req_error(req, 400, "invalid_request", "Idempotency-Key must be 1 to %d bytes", KEY_MAX);
        return -1;
    }
    crypto_sha256(req->body, req->body_len, digest);
    crypto_hex(digest, sizeof(digest), hash);
    scope_params(req, p);
    p[4] = hash;
    p[5] = req_id_str(req, STALE_CLAIM_S);
    r = req_db_or_reply(req, &st_claim, p);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        req->idem_claimed = true;
        return 0;
    }
    answer_existing(req, hash);
    return -1;
}

void idem_end(struct req *req, bool secret)
{
    const char *p[7];
    PGresult *r;
    int s = req->status;

    if (!req->idem_claimed)
        return;
    scope_params(req, p);
    if (s >= 500 || s == 401 || s == 429 || s == 0) {
        r = db_exec(&req->w->db, &st_release, p);
    } else {
        p[4] = req_id_str(req, s);
        p[5] = secret ? NULL : req->reply_body;
        p[6] = secret ? "t" : "f";
        r = db_exec(&req->w->db, &st_store, p);
    }
    if (r)
        PQclear(r);
}
