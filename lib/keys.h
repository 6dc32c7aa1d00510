/* keys.h - the Redis key and channel names chat-api, chat-push and
 * chat-notify share (DESIGN.md "The parts and how a message flows"): one
 * spelling, one formatter each.
 *
 *   chat:{chat_id}      channel: a chat's events (chat-api PUBLISHes,
 *                       chat-push SUBSCRIBEs)
 *   user:{user_id}      channel: a user's own events (joins, leaves,
 *                       session.revoked)
 *   cv:{chat_id}        string: the chat's newest version (pagecache.h)
 *   ae:{user_id}        string: the user's auth epoch (authcache.h)
 *   presence:{user_id}  string with a TTL: the user has an open stream
 *   ticket:{hex}        string, single use: a stream ticket's owner
 *   rl:{class}:u{user_id}:{window} and rl:{class}:ip{addr}:{window}
 *                       counters of the rate limit (ratelimit.h)
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

#define KEY_CHAT_PREFIX "chat:"
#define KEY_USER_PREFIX "user:"

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
 * 2^53 - 1]; false for any other name. */
bool key_channel_id(const char *name, size_t len, const char *prefix, int64_t *id);

#endif
