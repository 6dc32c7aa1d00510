/* req_redis.h - chat-api's side of Redis: commands on the worker's
 * context, scripts, and publishing events (DESIGN.md "chat-api").
 *
 * Every call is best effort: Redis carries no record (PostgreSQL does), so
 * a failure is logged, the context dropped and reopened on the next call,
 * and the handler answers as if the publish had happened.
 */
#ifndef CHAT_REQ_REDIS_H
#define CHAT_REQ_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "worker.h"

struct req;

/* A Lua script and the slot of its SHA1 in struct worker. */
struct req_script {
    enum req_script_id id;
    const char *text;
};

/* Run a Redis command (hiredis format) on the worker's client (lib/rcl.h:
 * one Redis, or the master of the command's key in Redis Cluster),
 * connecting first if needed (100 ms timeouts). The reply is freed when the
 * request ends. Returns NULL on a connection or protocol error or an error
 * reply (logged; a lost connection is reopened next time). */
redisReply *req_redis(struct req *req, const char *fmt, ...);
/* Whether one script may touch keys a and b (NUL-terminated): always with
 * one Redis; in Redis Cluster when they share a slot (lib/keys.h hash
 * tags). */
bool req_redis_colocated(struct req *req, const char *a, const char *b);

/* Run script s with EVALSHA (SCRIPT LOADed once per connection; EVAL when
 * Redis has lost it, NOSCRIPT) with argc arguments argv: numkeys, keys,
 * then args, as EVAL takes them. The reply is freed when the request ends;
 * NULL on any error (logged), as req_redis. */
redisReply *req_eval(struct req *req, const struct req_script *s, int argc, const char **argv);

/* Redis connections the workers opened again after their previous one was
 * lost, since the start (chat_api_redis_reconnects_total, ops.h; ops.c
 * reads it, so the calls run one way). Thread-safe. */
uint64_t req_redis_reconnects(void);

/* Publish an ephemeral JSON event (receipt, typing: no version, never
 * stored) with SPUBLISH on {chat:ID} (lib/keys.h), a chat of members members: only
 * when members is at most cfg max_ephemeral_fanout (API.md "Real-time
 * events": larger chats refetch), else nothing. Best effort: a failure is
 * logged and the context reset. A chat's durable events go through
 * req_publish_change. */
void req_publish_ephemeral(struct req *req, int64_t chat_id, int64_t members, const char *json);
/* SPUBLISH a JSON event on {user:ID}; best effort, as above. */
void req_publish_user(struct req *req, int64_t user_id, const char *json);
/* Publish a durable event json of chat_id (the event a write function
 * returned, with its version: a column of its own, db/functions/) on
 * {chat:ID} (SPUBLISH), and raise {chat:ID}:cv to version in the same round trip
 * (pagecache.h). Best effort, as req_publish. */
void req_publish_change(struct req *req, int64_t chat_id, int64_t version, const char *json);
/* Raise cv:{chat_id} to version (never lowers it); best effort. For a page
 * read from PostgreSQL at a version Redis did not know (a lost publish, a
 * Redis restart). */
void req_chat_version_raise(struct req *req, int64_t chat_id, int64_t version);
/* After a revocation has committed: raise the user's auth epoch
 * ae:{user_id} (authcache.h), so no process trusts its cached checks of
 * the user's tokens any more, and publish json on user:{user_id} for
 * chat-push (session.revoked), in one round trip. */
void req_publish_revoked(struct req *req, int64_t user_id, const char *json);

#endif
