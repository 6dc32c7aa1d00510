/* req_auth.h - authentication of a chat-api request (API.md "Auth"). */
#ifndef CHAT_REQ_AUTH_H
#define CHAT_REQ_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "authcache.h"
#include "jwt.h"

struct req;

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

#endif
