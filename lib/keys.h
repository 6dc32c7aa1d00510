/* keys.h - the Redis key and channel names chat-api, chat-push and
 * chat-notify share (DESIGN.md "The parts and how a message flows"): one
 * spelling, one formatter each.
 *
 *   {chat:ID}              channel: a chat's events (chat-api SPUBLISHes,
 *                          chat-push SSUBSCRIBEs: sharded pub/sub)
 *   {user:ID}              channel: a user's own events (joins, leaves,
 *                          session.revoked)
 *   {chat:ID}:cv           string: the chat's newest version (pagecache.h)
 *   {user:ID}:ae           string: the user's auth epoch (authcache.h)
 *   {user:ID}:presence     string with a TTL: the user has an open stream
 *   ticket:HEX             string, single use: a stream ticket's owner
 *   {user:ID}:rl:CLASS:WINDOW and rl:CLASS:ipADDR:WINDOW
 *                          counters of the rate limit (ratelimit.h)
 *
 * The braces are Redis Cluster hash tags (lib/rcl.h; the specification's
 * "Hash tags"): only "chat:ID" or "user:ID" is hashed, so everything of one
 * chat, or of one user, lives in one slot, and a script touching a chat's
 * channel and version key (cgi/req_redis.c), or a user's bucket and auth
 * epoch (cgi/ratelimit.c), touches one slot. Single mode uses the same
 * names.
 *
 * Each formatter writes the NUL-terminated name into out, KEY_MAX bytes,
 * and returns its length; a name that would not fit is cut (ids and
 * tickets never come near it). Pure; tests/unit/test_keys.c.
 */
#ifndef CHAT_KEYS_H
#define CHAT_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_MAX 160

#define KEY_CHAT_PREFIX "{chat:"
#define KEY_USER_PREFIX "{user:"

int key_chat(char *out, int64_t chat_id);
int key_user(char *out, int64_t user_id);
int key_chat_version(char *out, int64_t chat_id);
int key_auth_epoch(char *out, int64_t user_id);
int key_presence(char *out, int64_t user_id);
/* hex: the ticket, NUL-terminated (cgi/stream.c makes it; 64 hex digits). */
int key_ticket(char *out, const char *hex);
/* class: "auth", "read" or "write"; window: the rate window's number. By
 * user when user_id is non-zero, else by addr (the client's address). */
int key_rate(char *out, const char *class, int64_t user_id, const char *addr, long long window);

/* The id of a channel name of len bytes (not NUL-terminated, as Redis
 * hands it over) that is prefix followed by a decimal id in [1,
 * 2^53 - 1] and "}"; false for any other name. */
bool key_channel_id(const char *name, size_t len, const char *prefix, int64_t *id);

#endif
