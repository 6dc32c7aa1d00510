/* rds_sub.h - Redis for chat-push: two hiredis 0.14 async contexts on our loop.
 *
 * One context is subscribed (user:{id}, chat:{id} and this process's
 * hb:{node}); the other runs commands (GETDEL of stream tickets, the
 * heartbeat PUBLISH), since a subscribed context cannot. hiredis 0.14 has no
 * async timeouts and cannot PING a subscribed context, so liveness is the
 * heartbeat: published every second, and both contexts are dropped and
 * reconnected when none has arrived for RDS_HB_TIMEOUT_MS (DESIGN.md
 * "Continuity in chat-push", 5). Subscriptions are the hub's (hub.h): it
 * calls rds_subscribe / rds_unsubscribe, and hears back through
 * hub_on_subscribed, hub_on_message, hub_redis_down and hub_redis_up.
 */
#ifndef CHAT_RDS_SUB_H
#define CHAT_RDS_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#define RDS_HB_TIMEOUT_MS 3000

/* Start connecting to host:port. node names this process in hb:{node}.
 * password (copied; NULL: none) is sent with AUTH first on every connection,
 * each reconnect included; a context counts as connected (and the
 * subscriber SUBSCRIBEs, rds_ready turns true) only after Redis accepted it.
 * A refused AUTH is logged as an error and retried like a lost connection.
 * Returns 0 (connection errors are retried from rds_tick). */
int rds_init(struct hub *h, const char *host, int port, const char *password, const char *node);
/* Call about every 250 ms: heartbeat, liveness and reconnects. */
void rds_tick(int64_t now_ms);
/* Free both contexts (at exit). */
void rds_close(void);
/* true when the subscribed context is connected and its heartbeat channel
 * is subscribed (for /readyz). */
bool rds_ready(void);
/* Connections (subscriber or command) made ready again after one was lost. */
uint64_t rds_reconnects(void);

/* hub_ops hooks: send SUBSCRIBE / UNSUBSCRIBE <user|chat>:<id>. Return 0 or
 * CHAT_ERR_REDIS (not connected). */
int rds_subscribe(void *ctx, enum hub_chan_kind kind, int64_t id);
int rds_unsubscribe(void *ctx, enum hub_chan_kind kind, int64_t id);

/* Send a command on the command context, answer ignored (presence SET,
 * DEL, PUBLISH). Commands of one loop pass leave in one write: a pipeline.
 * Returns 0 or CHAT_ERR_REDIS (not connected). */
int rds_command(const char *fmt, ...);

/* Result of rds_ticket_take: status 0 with the stored value (len bytes, valid
 * during the call), CHAT_ERR_NOT_FOUND for a missing or spent ticket, or
 * CHAT_ERR_REDIS. Always called exactly once, never from inside
 * rds_ticket_take. */
typedef void rds_ticket_cb(void *arg, int status, const char *val, size_t len);
/* GETDEL ticket:<hex> (single use; API.md "Auth", stream tickets). Returns 0,
 * or CHAT_ERR_REDIS when Redis is not connected (cb is then not called). */
int rds_ticket_take(const char *hex, rds_ticket_cb *cb, void *arg);

#endif
