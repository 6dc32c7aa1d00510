/* idmap.h - an intrusive hash table of nodes keyed by a 64-bit id.
 *
 * The caller embeds struct idmap_node in its own struct and reaches that
 * back with container_of (container.h); the table owns no node and frees
 * none. Chained, power-of-two capacity, doubled when it holds as many
 * nodes as slots; Fibonacci hashing of the key. Out of memory aborts (as
 * an allocation failure in chat-push's loop would be fatal anyway). Not
 * thread-safe.
 */
#ifndef CHAT_IDMAP_H
#define CHAT_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_node {
    int64_t key;
    struct idmap_node *next; /* in its slot */
};

struct idmap {
    struct idmap_node **slots;
    size_t cap; /* power of two */
    size_t n;   /* nodes */
};

/* An empty table (64 slots). */
void idmap_init(struct idmap *m);
/* Free the slots (not the nodes); m is zeroed. */
void idmap_release(struct idmap *m);
/* The node with key, or NULL. Keys are unique by the caller's care. */
struct idmap_node *idmap_get(const struct idmap *m, int64_t key);
/* Add n (n->key set; not in any table). */
void idmap_put(struct idmap *m, struct idmap_node *n);
/* Remove n if it is in m. */
void idmap_del(struct idmap *m, struct idmap_node *n);
/* Call fn(arg, node) on every node; fn may delete the node it is given. */
void idmap_each(struct idmap *m, void (*fn)(void *arg, struct idmap_node *n), void *arg);

#endif
