/* ratelimit.h - request rate limits kept in Redis (API.md "Conventions").
 *
 * Fixed one-minute windows: key rl:<class>:<who>:<window> counts requests
 * with one EVAL (INCR, and EXPIRE on the first). Every answer gets
 * X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds
 * until the window ends, as draft-ietf-httpapi-ratelimit-headers); past the
 * limit the answer is 429 rate_limited with Retry-After. When Redis is
 * unreachable the limits fail open: availability over strictness.
 */
#ifndef CHAT_RATELIMIT_H
#define CHAT_RATELIMIT_H

#include <stdbool.h>

struct req;

enum ratelimit_class { RATELIMIT_AUTH, RATELIMIT_READ, RATELIMIT_WRITE };

/* Count this request against its class for the caller (req->user_id when
 * authenticated, else the client IP) and add the headers. Returns 0, or
 * sends 429 and returns -1. */
int ratelimit_or_reply(struct req *req, enum ratelimit_class cls);

/* Failed logins per (account, IP) pair (DESIGN.md "Security"): before a
 * login, send 429 and return -1 when the pair is over cfg login_failures
 * within 15 minutes. */
int ratelimit_login_or_reply(struct req *req, const char *username);
/* Record the outcome of a password check for (username, IP). */
void ratelimit_login_result(struct req *req, const char *username, bool ok);

#endif
