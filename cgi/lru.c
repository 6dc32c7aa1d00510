/* lru.c - bounded map with least-recently-used eviction (see lru.h). */
#include "lru.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* FNV-1a, 64 bits: keys are a few ids, so a simple hash spreads them well. */
static uint64_t key_hash(const void *key, size_t klen)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < klen; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int lru_init(struct lru *m, size_t max_count, size_t max_bytes, void (*free_val)(void *))
{
    size_t n = 16;

    memset(m, 0, sizeof(*m));
    while (n < max_count)
        n *= 2;
    m->buckets = calloc(n, sizeof(*m->buckets));
    if (!m->buckets)
        return CHAT_ERR_NOMEM;
    m->nbuckets = n;
    m->max_count = max_count ? max_count : 1;
    m->max_bytes = max_bytes;
    m->free_val = free_val;
    m->head.prev = m->head.next = &m->head;
    return 0;
}

static struct lru_node **find_slot(struct lru *m, const void *key, size_t klen, uint64_t h)
{
    struct lru_node **pp = &m->buckets[h & (m->nbuckets - 1)];

    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            break;
    return pp;
}

static void list_unlink(struct lru_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
}

static void list_push_front(struct lru *m, struct lru_node *n)
{
    n->prev = &m->head;
    n->next = m->head.next;
    m->head.next->prev = n;
    m->head.next = n;
}

/* Unlink the node *pp points at from both lists and free it with its value. */
static void node_remove(struct lru *m, struct lru_node **pp)
{
    struct lru_node *n = *pp;

    *pp = n->hnext;
    list_unlink(n);
    m->count--;
    m->bytes -= n->bytes;
    if (m->free_val)
        m->free_val(n->val);
    free(n);
}

static void evict(struct lru *m)
{
    while (m->count > m->max_count || m->bytes > m->max_bytes) {
        struct lru_node *cold = m->head.prev;
        node_remove(m, find_slot(m, cold->key, cold->klen, cold->hash));
    }
}

void lru_release(struct lru *m)
{
    while (m->count > 0) {
        struct lru_node *n = m->head.next;
        node_remove(m, find_slot(m, n->key, n->klen, n->hash));
    }
    free(m->buckets);
    m->buckets = NULL;
}

void *lru_get(struct lru *m, const void *key, size_t klen)
{
    struct lru_node *n;

    if (klen > LRU_KEY_MAX)
        return NULL;
    n = *find_slot(m, key, klen, key_hash(key, klen));
    if (!n)
        return NULL;
    list_unlink(n);
    list_push_front(m, n);
    return n->val;
}

void lru_del(struct lru *m, const void *key, size_t klen)
{
    struct lru_node **pp;

    if (klen > LRU_KEY_MAX)
        return;
    pp = find_slot(m, key, klen, key_hash(key, klen));
    if (*pp)
        node_remove(m, pp);
}

int lru_put(struct lru *m, const void *key, size_t klen, void *val, size_t bytes)
{
    uint64_t h = key_hash(key, klen <= LRU_KEY_MAX ? klen : 0);
    struct lru_node **pp, *n;
    int err = 0;

    if (klen > LRU_KEY_MAX) {
        err = CHAT_ERR_INVALID;
        goto out_free_val;
    }
    pp = find_slot(m, key, klen, h);
    if (*pp)
        node_remove(m, pp);
    if (bytes > m->max_bytes) {
        err = CHAT_ERR_TOO_BIG;
        goto out_free_val;
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        err = CHAT_ERR_NOMEM;
        goto out_free_val;
    }
    n->hash = h;
    n->bytes = bytes;
    n->val = val;
    n->klen = klen;
    memcpy(n->key, key, klen);
    n->hnext = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = n;
    list_push_front(m, n);
    m->count++;
    m->bytes += bytes;
    evict(m);
    return 0;
out_free_val:
    if (m->free_val)
        m->free_val(val);
    return err;
}

void lru_resize(struct lru *m, const void *key, size_t klen, size_t bytes)
{
    struct lru_node *n;

    if (klen > LRU_KEY_MAX)
        return;
    n = *find_slot(m, key, klen, key_hash(key, klen));
    if (!n)
        return;
    m->bytes = m->bytes - n->bytes + bytes;
    n->bytes = bytes;
    evict(m);
}
