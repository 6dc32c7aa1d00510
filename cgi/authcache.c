/* authcache.c - access-token check results per session (see authcache.h). */
#include "authcache.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int authcache_init(struct authcache *c, size_t max_entries)
{
    pthread_mutex_init(&c->mu, NULL);
    return lru_init(&c->map, max_entries, max_entries * sizeof(struct authcache_entry), free);
}

void authcache_release(struct authcache *c)
{
    lru_release(&c->map);
    pthread_mutex_destroy(&c->mu);
}

bool authcache_get(struct authcache *c, int64_t sid, int64_t now_ms, struct authcache_entry *out)
{
    struct authcache_entry *e;
    bool found = false;

    pthread_mutex_lock(&c->mu);
    e = lru_get(&c->map, &sid, sizeof(sid));
    if (e && now_ms - e->filled_at_ms < AUTHCACHE_MAX_AGE_MS && now_ms >= e->filled_at_ms) {
        *out = *e;
        found = true;
    } else if (e) {
        lru_del(&c->map, &sid, sizeof(sid));
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void authcache_put(struct authcache *c, int64_t sid, const struct authcache_entry *e)
{
    struct authcache_entry *copy = malloc(sizeof(*copy));

    if (!copy)
        return;
    *copy = *e;
    pthread_mutex_lock(&c->mu);
    lru_put(&c->map, &sid, sizeof(sid), copy, sizeof(*copy));
    pthread_mutex_unlock(&c->mu);
}

enum authcache_verdict authcache_predict(const struct authcache_entry *e, int64_t sub, int64_t tv)
{
    /* A session belongs to one user; a token naming another is for
     * PostgreSQL to judge. */
    if (!e || e->user_id != sub)
        return AUTHCACHE_UNKNOWN;
    return e->token_version == tv && e->session_ok ? AUTHCACHE_ACCEPT : AUTHCACHE_REFUSE;
}

enum authcache_verdict authcache_judge(const struct authcache_entry *e, int64_t sub, int64_t tv,
                                       int64_t epoch)
{
    if (!e || e->epoch != epoch)
        return AUTHCACHE_UNKNOWN;
    return authcache_predict(e, sub, tv);
}
