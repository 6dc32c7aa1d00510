/* sync.h - backfill and anti-entropy of chat-push against PostgreSQL.
 *
 * Redis is a doorbell that may drop a PUBLISH (chat-api killed between
 * COMMIT and PUBLISH, Redis down or restarted). PostgreSQL is the record:
 * every SYNC_EVERY_MS the versions of every chat the hub carries are read in
 * batches (SELECT id, version FROM chats WHERE id = ANY($1)), and a chat
 * that is behind is fetched from the change log and fanned out in order by
 * the hub (hub_chat_db_version, hub_backfill_*). A Redis reconnect runs a
 * pass at once. This replaces an outbox relay for chat-push's streams
 * (DESIGN.md "Continuity in chat-push", 2-4; docs/DESIGN.md).
 * Queries go through pgq (non-blocking); nothing here blocks the loop.
 */
#ifndef CHAT_SYNC_H
#define CHAT_SYNC_H

#include <stdint.h>

#include "hub.h"

#define SYNC_EVERY_MS 1500 /* anti-entropy period */
#define SYNC_BATCH 1000    /* chat ids per version query */
#define SYNC_PAGE 200      /* changes per fetch */

void sync_init(struct hub *h);
/* Call about every 250 ms: starts an anti-entropy pass when one is due. */
void sync_tick(int64_t now_ms);
void sync_release(void);
/* hub_ops.fetch: read the changes of chat_id after since. */
int sync_fetch(void *ctx, int64_t chat_id, int64_t since);

/* Figures of the last complete anti-entropy pass, for logs and /readyz. */
struct sync_stats {
    uint64_t passes;
    unsigned last_chats, last_queries;
    int64_t last_ms; /* wall time of the last pass, queries included */
};
const struct sync_stats *sync_stats(void);

#endif
