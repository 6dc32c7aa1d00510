/* authcache.h - what the access-token check found per session, shared by
 * a chat-api process's threads (docs/DESIGN.md "Caches in chat-api").
 *
 * req_auth_finish checks an access token's session and token_version in
 * PostgreSQL; this remembers the answer per session id for at most
 * AUTHCACHE_MAX_AGE_MS, tagged with the user's auth epoch (Redis key
 * ae:{user_id}) read BEFORE that check. Every revocation raises the epoch
 * after its COMMIT, so an entry whose epoch differs from the current one
 * is stale and the check runs again. A missing epoch key reads as 0.
 */
#ifndef CHAT_AUTHCACHE_H
#define CHAT_AUTHCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lru.h"

/* The longest an answer is trusted, whatever Redis says: the bound on a
 * revocation whose epoch raise was lost (Redis restarted or unreachable). */
#define AUTHCACHE_MAX_AGE_MS 5000
#define AUTHCACHE_MAX_ENTRIES 65536

struct authcache_entry {
    int64_t user_id;
    int64_t token_version; /* users.token_version when checked */
    bool session_ok;       /* session not revoked and not expired */
    int64_t epoch;         /* ae:{user_id} read before the check */
    int64_t filled_at_ms;  /* CLOCK_MONOTONIC */
};

enum authcache_verdict {
    AUTHCACHE_UNKNOWN, /* no usable entry: check in PostgreSQL */
    AUTHCACHE_ACCEPT,
    AUTHCACHE_REFUSE,
};

struct authcache {
    pthread_mutex_t mu;
    struct lru map; /* session id -> struct authcache_entry */
};

/* Make an empty cache of at most max_entries sessions. Returns 0 or
 * CHAT_ERR_NOMEM. */
int authcache_init(struct authcache *c, size_t max_entries);
/* Free everything the cache holds. */
void authcache_release(struct authcache *c);

/* Copy the entry of session sid into *out when there is one younger than
 * AUTHCACHE_MAX_AGE_MS at now_ms; else return false (and drop an old
 * one). Thread-safe. */
bool authcache_get(struct authcache *c, int64_t sid, int64_t now_ms, struct authcache_entry *out);
/* Remember e for session sid (replacing what was there). Thread-safe. */
void authcache_put(struct authcache *c, int64_t sid, const struct authcache_entry *e);

/* What entry e (may be NULL) says about a token of user sub with
 * token_version tv when the user's current epoch is epoch: UNKNOWN unless
 * e exists and its epoch equals epoch. Pure. */
enum authcache_verdict authcache_judge(const struct authcache_entry *e, int64_t sub, int64_t tv,
                                       int64_t epoch);
/* What the entry says before the epoch is known (used to pick the
 * rate-limit bucket the request most likely counts in). Pure. */
enum authcache_verdict authcache_predict(const struct authcache_entry *e, int64_t sub, int64_t tv);

#endif
