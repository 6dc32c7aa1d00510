/* presence.h - who is online, as chat-push sees it (API.md "Users",
 * presence events).
 *
 * A user is online while at least one of their streams is attached to a
 * connection here. Once a second the hub's users are walked: a user who came
 * online gets SET presence:{id} EX PRESENCE_TTL_S (refreshed every
 * PRESENCE_REFRESH_S; all of one pass leave in one Redis write) and a
 * `presence` online event in each of their chats of at most
 * max_ephemeral_fanout members; a user without streams for PRESENCE_DEBOUNCE_S
 * (a reconnect within it is not a flap) gets DEL presence:{id},
 * users.last_seen_at = now() in PostgreSQL and an offline event. chat-notify
 * reads presence:{id}; chat-api's GET /users/{id} too.
 */
#ifndef CHAT_PRESENCE_H
#define CHAT_PRESENCE_H

#include <stdint.h>

#include "hub.h"

#define PRESENCE_TTL_S 60
#define PRESENCE_REFRESH_S 20
#define PRESENCE_DEBOUNCE_S 10
/* max_fanout: announce only in chats of at most this many members (cfg
 * max_ephemeral_fanout, API.md). */
void presence_init(struct hub *h, int max_fanout);
/* Once a second. */
void presence_tick(int64_t now_ms);
/* A stream of user_id just became ready (auth.c): a user not yet online
 * comes online now rather than at the next tick, so a client that asks
 * GET /users/{id} right after (a chat just created with them, whose
 * presence event the announce could not reach yet) already sees it. */
void presence_stream_ready(int64_t user_id);
void presence_release(void);

#endif
