/* tokens.c - personal API tokens (API.md "Auth"): "chat_pat_" and 32
 * random bytes in hex, shown once, stored as SHA-256, with scopes. Only a
 * session's access token manages them (ROUTE_SESSION_ONLY), so an API token
 * never mints another. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "handlers.h"
#include "req.h"
#include "req_input.h"
#include "req_redis.h"
#include "scope.h"

#define TOKEN_NAME_MAX 64
#define TOKENS_PER_USER 100

static const struct str_field f_name = {"name", .required = true, .min = 1, .max = TOKEN_NAME_MAX};

/* scopes: a non-empty array of known scope names, as a PostgreSQL array
 * literal into out. */
static int scopes_or_reply(struct req *req, const cJSON *body, struct buf *out)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "scopes"), *it;
    unsigned seen = 0;

    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        req_error(req, 400, "invalid_request", "scopes must be a non-empty array");
        return -1;
    }
    cJSON_ArrayForEach(it, arr)
    {
        unsigned bit = cJSON_IsString(it) ? scope_parse(it->valuestring) : 0;
        if (!bit) {
            req_error(req, 400, "invalid_request", "unknown scope");
            return -1;
        }
        seen |= bit;
    }
    buf_addch(out, '{');
    for (unsigned bit = 1; bit; bit <<= 1)
        if (seen & bit)
            buf_addf(out, "%s%s", out->len > 1 ? "," : "", scope_name(bit));
    buf_addch(out, '}');
    return 0;
}

static const struct db_stmt st_create = {
    "token_create",
    "INSERT INTO api_tokens (user_id, name, scopes, token_hash) "
    "SELECT $1, $2, $3::text[], decode($4, 'hex') "
    "WHERE (SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL) < $5 "
    "RETURNING api_token_json(api_tokens)",
    5, false};

void tokens_create(struct req *req)
{
    cJSON *body;
    const char *name;
    struct buf scopes = BUF_INIT, out = BUF_INIT;
    char token[9 + 65], hash_hex[65];
    unsigned char digest[32];
    PGresult *r;

    if (req_json_body_or_reply(req, &body) || req_json_str_or_reply(req, body, &f_name, &name) ||
        scopes_or_reply(req, body, &scopes))
        goto out_release_bufs;
    memcpy(token, "chat_pat_", 9);
    if (crypto_random_hex(token + 9, 32)) {
        req_internal(req, "no randomness");
        goto out_release_bufs;
    }
    crypto_sha256(token, strlen(token), digest);
    crypto_hex(digest, sizeof(digest), hash_hex);
    r = req_db_or_reply(req, &st_create,
                        (const char *[]){req_id_str(req, req->user_id), name, scopes.s, hash_hex,
                                         req_id_str(req, TOKENS_PER_USER)});
    if (!r)
        goto out_release_bufs;
    if (PQntuples(r) != 1) {
        req_error(req, 409, "too_many_tokens", "at most %d API tokens per user", TOKENS_PER_USER);
        goto out_release_bufs;
    }
    /* api_token_json ends with '}': reopen it to add the token, shown once. */
    buf_add(&out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0) - 1);
    buf_addf(&out, ",\"token\":\"%s\"}", token);
    req_reply(req, 201, out.s, (long)out.len);
out_release_bufs:
    buf_release(&scopes);
    buf_release(&out);
}

static const struct db_stmt st_list = {
    "token_list",
    "SELECT coalesce(json_agg(api_token_json(t) ORDER BY t.id), '[]') FROM api_tokens t "
    "WHERE user_id = $1 AND revoked_at IS NULL",
    1, true};

void tokens_list(struct req *req)
{
    req_reply_list(req, "tokens", &st_list, (const char *[]){req_id_str(req, req->user_id)});
}

static const struct db_stmt st_delete = {
    "token_delete",
    "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 "
    "AND revoked_at IS NULL",
    2, false};

/* Revoking a token closes the streams it opened (DESIGN.md "Security"):
 * chat-push tags a stream opened with an API token by the token's id. */
void tokens_delete(struct req *req)
{
    char event[96];

    req_delete_owned(req, &st_delete, "token");
    if (req->status != 204)
        return;
    snprintf(event, sizeof(event), "{\"type\":\"session.revoked\",\"token_id\":%lld}",
             (long long)req->params[0]);
    req_publish_revoked(req, req->user_id, event);
}
