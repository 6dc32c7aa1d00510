/* rds_sub.h - Redis for chat-push: our own non-blocking connections on our
 * loop, sharded pub/sub, single Redis or Redis Cluster.
 *
 * hiredis 0.14's async API does not know SSUBSCRIBE (it takes "ssubscribe"
 * and "smessage" for ordinary replies), so each connection is a
 * non-blocking redisContext whose replies come from hiredis' reply reader
 * (redisBufferRead, redisReaderGetReply) and are dispatched here. Every
 * master of the slot map (lib/rcl.h; single mode: one node owning every
 * slot) gets two connections: a subscriber, which SSUBSCRIBEs the channels
 * of its slots (lib/keys.h: {user:ID}, {chat:ID}), and a command connection
 * (GETDEL of stream tickets, presence SET/DEL/SPUBLISH, CLUSTER SLOTS),
 * replies in order to callbacks.
 *
 * Liveness: each connection PINGs every second (a subscribed RESP2
 * connection answers ["pong",""]) and is dropped when nothing has come back
 * for RDS_HB_TIMEOUT_MS (DESIGN.md "Continuity in chat-push", 5).
 *
 * Subscriptions are the hub's (hub.h): it calls rds_subscribe /
 * rds_unsubscribe and hears back through hub_on_subscribed,
 * hub_on_unsubscribed, hub_on_message, hub_redis_down and hub_redis_up.
 * Whenever a shard's subscriptions may have missed messages (its subscriber
 * connection dropped: a failover or a restart; a -MOVED answer to
 * SSUBSCRIBE; a "sunsubscribe" push chat-push did not ask for: a migrated
 * slot) the hub hears hub_redis_down, every subscriber connection is
 * dropped, the slot map is read again (CLUSTER SLOTS from any live node),
 * and once every master's subscriber is up again hub_redis_up: the hub
 * subscribes every wanted channel again, on the shard the new map names,
 * and backfills from the change log (sync.c), as after any Redis reconnect.
 */
#ifndef CHAT_RDS_SUB_H
#define CHAT_RDS_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#define RDS_HB_TIMEOUT_MS 3000

/* Start connecting. cluster: the seed list (cfg redis_cluster, copied;
 * NULL or "": single mode on host:port). password (copied; NULL: none) is
 * sent with AUTH first on every connection, each reconnect included; a
 * connection counts as connected only after Redis accepted it. A refused
 * AUTH is logged as an error and retried like a lost connection. Returns 0,
 * or CHAT_ERR_INVALID for a malformed seed list (logged). */
int rds_init(struct hub *h, const char *cluster, const char *host, int port, const char *password);
/* Call about every 250 ms: liveness, the slot map, reconnects. */
void rds_tick(int64_t now_ms);
/* Close every connection (at exit). */
void rds_close(void);
/* true when every master's subscriber connection is up and the hub has
 * been told (for /readyz). */
bool rds_ready(void);
/* Connections (subscriber or command) made ready again after one was lost. */
uint64_t rds_reconnects(void);

/* hub_ops hooks: send SSUBSCRIBE / SUNSUBSCRIBE {user|chat:ID} to the
 * subscriber of the channel's shard. Return 0 or CHAT_ERR_REDIS (not
 * connected: the hub waits for hub_redis_up). */
int rds_subscribe(void *ctx, enum hub_chan_kind kind, int64_t id);
int rds_unsubscribe(void *ctx, enum hub_chan_kind kind, int64_t id);

/* Send a command on the command connection of its key's master (lib/rcl.h
 * rcl_cmd_key), answer ignored (presence SET, DEL, SPUBLISH). Commands of
 * one loop pass leave in one write: a pipeline. Returns 0 or CHAT_ERR_REDIS
 * (not connected). */
int rds_command(const char *fmt, ...);

/* Result of rds_ticket_take: status 0 with the stored value (len bytes, valid
 * during the call), CHAT_ERR_NOT_FOUND for a missing or spent ticket, or
 * CHAT_ERR_REDIS. Always called exactly once, never from inside
 * rds_ticket_take. */
typedef void rds_ticket_cb(void *arg, int status, const char *val, size_t len);
/* GETDEL ticket:<hex> (single use; API.md "Auth", stream tickets), following
 * one -MOVED or -ASK. Returns 0, or CHAT_ERR_REDIS when Redis is not
 * connected (cb is then not called). */
int rds_ticket_take(const char *hex, rds_ticket_cb *cb, void *arg);

#endif
