/* pagecache.h - history pages per chat-api process, shared by its threads
 * (docs/DESIGN.md "Caches in chat-api").
 *
 * An entry is one page of GET /chats/{id}/messages (API.md "Messages") as
 * messages_page returns it, keyed by the chat and the page's query shape,
 * with the chat version it was read at and the users PostgreSQL confirmed
 * as members at that version. It answers only while the chat's version in
 * Redis (cv:{chat_id}, raised on every publish) equals the entry's, for at
 * most PAGECACHE_MAX_AGE_MS (the bound on staleness when a publish is
 * lost), and only to a user in its member list: any other caller takes
 * the PostgreSQL path, which checks membership and adds them.
 */
#ifndef CHAT_PAGECACHE_H
#define CHAT_PAGECACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lru.h"

#define PAGECACHE_MAX_AGE_MS 1500
#define PAGECACHE_MAX_ENTRIES 4096
#define PAGECACHE_MAX_BYTES (64u << 20)
#define PAGECACHE_MAX_PAGE_BYTES (256u << 10) /* bigger pages are not kept */
#define PAGECACHE_MAX_MEMBERS 1024            /* readers confirmed per entry */

/* A page's query shape; -1 for an anchor not given. */
struct pagecache_key {
    int64_t chat_id;
    int64_t before, after, around;
    int64_t limit;
};

enum pagecache_result {
    PAGECACHE_MISS,       /* no entry valid at this version and age */
    PAGECACHE_NOT_MEMBER, /* a valid entry, but the caller is not confirmed in it */
    PAGECACHE_HIT,
};

struct pagecache {
    pthread_mutex_t mu;
    struct lru map; /* struct pagecache_key -> struct pagecache_entry */
};

/* Make an empty cache bounded by max_entries pages and max_bytes bytes.
 * Returns 0 or CHAT_ERR_NOMEM. */
int pagecache_init(struct pagecache *c, size_t max_entries, size_t max_bytes);
/* Free every page. */
void pagecache_release(struct pagecache *c);

/* Look up the page of shape k for user_id while the chat's version is
 * version (from Redis). On PAGECACHE_HIT the page text is appended to
 * out. An entry of another version or older than PAGECACHE_MAX_AGE_MS at
 * now_ms is dropped (MISS). Thread-safe. */
enum pagecache_result pagecache_get(struct pagecache *c, const struct pagecache_key *k,
                                    int64_t version, int64_t user_id, int64_t now_ms,
                                    struct buf *out);
/* Remember the page text (len bytes) of shape k, read from PostgreSQL at
 * the chat's version with user_id confirmed a member. An entry of the same
 * version gains user_id; one of an older version (or past its age) is
 * replaced; one of a newer version is kept as it is. A page over
 * PAGECACHE_MAX_PAGE_BYTES is not kept. Thread-safe. */
void pagecache_put(struct pagecache *c, const struct pagecache_key *k, const char *text, size_t len,
                   int64_t version, int64_t user_id, int64_t now_ms);

#endif
