/* ratelimit.h - request rate limits kept in Redis (API.md "Conventions").
 *
 * Fixed one-minute windows: key_rate (lib/keys.h) counts requests
 * with one script (INCR, and EXPIRE on the first; EVALSHA), which also reads
 * what the request's caches need (the auth epoch and the chat version), so
 * a request makes one Redis round trip with one Redis. In Redis Cluster a
 * script touches one slot: a key of another hash tag than the bucket's (a
 * chat's version; the epoch when counting by IP) is read with its own GET
 * (req_redis_colocated). Every answer gets
 * X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds
 * until the window ends, as draft-ietf-httpapi-ratelimit-headers); past the
 * limit the answer is 429 rate_limited with Retry-After. When Redis is
 * unreachable the limits fail open: availability over strictness.
 */
#ifndef CHAT_RATELIMIT_H
#define CHAT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct req;

enum ratelimit_class { RATELIMIT_AUTH, RATELIMIT_READ, RATELIMIT_WRITE };

/* What the counting round trip reads besides the count. */
struct ratelimit_probe {
    int64_t epoch_user;   /* in: read ae:{epoch_user} when non-zero */
    int64_t chat_id;      /* in: read cv:{chat_id} when non-zero */
    bool answered;        /* out: Redis ran the script (and any GET apart) */
    int64_t epoch;        /* out: the auth epoch; 0 when the key is missing */
    int64_t chat_version; /* out: the chat version; -1 when the key is missing */
};

/* Count this request against its class in the bucket of user_id (0, or
 * the auth class: the client IP) and, when probe is not NULL, read what it
 * asks. Returns the count in the window; 0 when Redis did not answer (the
 * limits fail open). */
long long ratelimit_count(struct req *req, enum ratelimit_class cls, int64_t user_id,
                          struct ratelimit_probe *probe);
/* Whether counting in user_id's bucket differs from counting in other's. */
bool ratelimit_same_bucket(enum ratelimit_class cls, int64_t user_id, int64_t other);
/* Add the headers for count (from ratelimit_count). Returns 0, or sends
 * 429 and returns -1 when count is over the class's limit. */
int ratelimit_or_reply(struct req *req, enum ratelimit_class cls, long long count);

/* Failed logins per (account, IP) pair (DESIGN.md "Security"): before a
 * login, send 429 and return -1 when the pair is over cfg login_failures
 * within 15 minutes. */
int ratelimit_login_or_reply(struct req *req, const char *username);
/* Record the outcome of a password check for (username, IP). */
void ratelimit_login_result(struct req *req, const char *username, bool ok);

#endif
