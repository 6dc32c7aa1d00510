/* idmap.c - an intrusive hash table of nodes keyed by id (idmap.h). */
#include "idmap.h"

#include <stdlib.h>

static size_t idmap_slot(const struct idmap *m, int64_t key)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
}

void idmap_init(struct idmap *m)
{
    m->cap = 64;
    m->n = 0;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (!m->slots)
        abort();
}

void idmap_release(struct idmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

struct idmap_node *idmap_get(const struct idmap *m, int64_t key)
{
    struct idmap_node *n;

    for (n = m->slots[idmap_slot(m, key)]; n; n = n->next)
        if (n->key == key)
            return n;
    return NULL;
}

static void idmap_grow(struct idmap *m)
{
    struct idmap big = {.cap = m->cap * 2};
    size_t i;

    big.slots = calloc(big.cap, sizeof(*big.slots));
    if (!big.slots)
        abort();
    for (i = 0; i < m->cap; i++) {
        struct idmap_node *n = m->slots[i], *next;

        for (; n; n = next) {
            size_t j = idmap_slot(&big, n->key);

            next = n->next;
            n->next = big.slots[j];
            big.slots[j] = n;
        }
    }
    free(m->slots);
    m->slots = big.slots;
    m->cap = big.cap;
}

void idmap_put(struct idmap *m, struct idmap_node *n)
{
    size_t i;

    if (m->n >= m->cap)
        idmap_grow(m);
    i = idmap_slot(m, n->key);
    n->next = m->slots[i];
    m->slots[i] = n;
    m->n++;
}

void idmap_del(struct idmap *m, struct idmap_node *n)
{
    struct idmap_node **p = &m->slots[idmap_slot(m, n->key)];

    while (*p && *p != n)
        p = &(*p)->next;
    if (*p) {
        *p = n->next;
        m->n--;
    }
}

void idmap_each(struct idmap *m, void (*fn)(void *arg, struct idmap_node *n), void *arg)
{
    size_t i;

    for (i = 0; i < m->cap; i++) {
        struct idmap_node *n = m->slots[i], *next;

        for (; n; n = next) {
            next = n->next;
            fn(arg, n);
        }
    }
}
