/* pagecache.c - history pages by chat version (see pagecache.h). */
#include "pagecache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct pagecache_entry {
    int64_t version;
    int64_t filled_at_ms; /* CLOCK_MONOTONIC */
    int64_t *members;     /* confirmed readers, unordered */
    int nmembers, members_cap;
    size_t len;
    char text[]; /* len bytes and a NUL */
};

static void entry_free(void *p)
{
    struct pagecache_entry *e = p;

    free(e->members);
    free(e);
}

static size_t entry_bytes(const struct pagecache_entry *e)
{
    return sizeof(*e) + e->len + 1 + (size_t)e->members_cap * sizeof(*e->members);
}

static bool is_fresh(const struct pagecache_entry *e, int64_t now_ms)
{
    return now_ms >= e->filled_at_ms && now_ms - e->filled_at_ms < PAGECACHE_MAX_AGE_MS;
}

static bool has_member(const struct pagecache_entry *e, int64_t user_id)
{
    for (int i = 0; i < e->nmembers; i++)
        if (e->members[i] == user_id)
            return true;
    return false;
}

/* Add user_id to e's readers; false when the list is full or out of memory. */
static bool add_member(struct pagecache_entry *e, int64_t user_id)
{
    if (has_member(e, user_id))
        return true;
    if (e->nmembers == PAGECACHE_MAX_MEMBERS)
        return false;
    if (e->nmembers == e->members_cap) {
        int cap = e->members_cap ? 2 * e->members_cap : 4;
        int64_t *m = realloc(e->members, (size_t)cap * sizeof(*m));
        if (!m)
            return false;
        e->members = m;
        e->members_cap = cap;
    }
    e->members[e->nmembers++] = user_id;
    return true;
}

int pagecache_init(struct pagecache *c, size_t max_entries, size_t max_bytes)
{
    pthread_mutex_init(&c->mu, NULL);
    return lru_init(&c->map, max_entries, max_bytes, entry_free);
}

void pagecache_release(struct pagecache *c)
{
    lru_release(&c->map);
    pthread_mutex_destroy(&c->mu);
}

enum pagecache_result pagecache_get(struct pagecache *c, const struct pagecache_key *k,
                                    int64_t version, int64_t user_id, int64_t now_ms,
                                    struct buf *out)
{
    enum pagecache_result res = PAGECACHE_MISS;
    struct pagecache_entry *e;

    pthread_mutex_lock(&c->mu);
    e = lru_get(&c->map, k, sizeof(*k));
    if (e && (e->version != version || !is_fresh(e, now_ms))) {
        /* A newer entry may serve callers that saw the newer version. */
        if (e->version <= version || !is_fresh(e, now_ms))
            lru_del(&c->map, k, sizeof(*k));
    } else if (e && !has_member(e, user_id)) {
        res = PAGECACHE_NOT_MEMBER;
    } else if (e) {
        buf_add(out, e->text, e->len);
        res = PAGECACHE_HIT;
    }
    pthread_mutex_unlock(&c->mu);
    return res;
}

static struct pagecache_entry *entry_new(const char *text, size_t len, int64_t version,
                                         int64_t user_id, int64_t now_ms)
{
    struct pagecache_entry *e = malloc(sizeof(*e) + len + 1);

    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->version = version;
    e->filled_at_ms = now_ms;
    e->len = len;
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    if (!add_member(e, user_id)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

void pagecache_put(struct pagecache *c, const struct pagecache_key *k, const char *text, size_t len,
                   int64_t version, int64_t user_id, int64_t now_ms)
{
    struct pagecache_entry *e;

    if (len > PAGECACHE_MAX_PAGE_BYTES)
        return;
    pthread_mutex_lock(&c->mu);
    e = lru_get(&c->map, k, sizeof(*k));
    if (e && is_fresh(e, now_ms) && e->version > version)
        goto out_unlock; /* a slower reader's older page must not replace it */
    if (e && is_fresh(e, now_ms) && e->version == version) {
        if (add_member(e, user_id))
            lru_resize(&c->map, k, sizeof(*k), entry_bytes(e));
        goto out_unlock;
    }
    e = entry_new(text, len, version, user_id, now_ms);
    if (e)
        lru_put(&c->map, k, sizeof(*k), e, entry_bytes(e));
    else
        lru_del(&c->map, k, sizeof(*k));
out_unlock:
    pthread_mutex_unlock(&c->mu);
}
