/* lru.h - a bounded map from short byte keys to owned values, least
 * recently used first out.
 *
 * The building block of chat-api's per-process caches (authcache.h,
 * pagecache.h): a chained hash table over a doubly linked recency list.
 * Bounded by entry count and by the bytes the caller says each value
 * holds; inserting past either bound evicts from the cold end. Not
 * thread-safe: the caches around it hold a mutex.
 */
#ifndef CHAT_LRU_H
#define CHAT_LRU_H

#include <stddef.h>
#include <stdint.h>

#define LRU_KEY_MAX 48

struct lru_node {
    struct lru_node *hnext;       /* next in the hash chain */
    struct lru_node *prev, *next; /* recency list, most recent after the head */
    uint64_t hash;
    size_t bytes; /* what the value holds, as told to lru_put */
    void *val;
    size_t klen;
    unsigned char key[LRU_KEY_MAX];
};

struct lru {
    struct lru_node **buckets;
    size_t nbuckets; /* a power of two */
    size_t count, bytes;
    size_t max_count, max_bytes;
    struct lru_node head; /* sentinel of the recency list */
    void (*free_val)(void *);
};

/* Make an empty map of at most max_count entries (>= 1) and max_bytes
 * value bytes; free_val frees a value when its entry goes. Returns 0 or
 * CHAT_ERR_NOMEM. */
int lru_init(struct lru *m, size_t max_count, size_t max_bytes, void (*free_val)(void *));
/* Free every entry and value, and the table. */
void lru_release(struct lru *m);
/* The value under key (klen <= LRU_KEY_MAX bytes), made the most recent;
 * NULL when absent. The value stays the map's. */
void *lru_get(struct lru *m, const void *key, size_t klen);
/* Store val (ownership passes to the map) under key, replacing (and
 * freeing) any value there, then evict the least recently used entries
 * until both bounds hold again. Returns 0, or CHAT_ERR_TOO_BIG (bytes over
 * max_bytes), CHAT_ERR_INVALID (key too long) or CHAT_ERR_NOMEM, and then
 * val is freed at once and any old entry under key is gone. */
int lru_put(struct lru *m, const void *key, size_t klen, void *val, size_t bytes);
/* Remove (and free) the entry under key, if any. */
void lru_del(struct lru *m, const void *key, size_t klen);
/* Tell the map the value under key now holds bytes (it grew in place);
 * evicts colder entries if the bounds no longer hold, and that value
 * itself when it alone is over max_bytes: do not touch it afterwards. */
void lru_resize(struct lru *m, const void *key, size_t klen, size_t bytes);

#endif
