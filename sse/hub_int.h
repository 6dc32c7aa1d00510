/* hub_int.h - what the parts of the hub share and nobody else sees:
 * hub.c (the hub and its channels), hub_event.c (events), hub_stream.c
 * (a stream's ring, replay and cursor), hub_order.c (per-chat version
 * order, hold, backfill, fan-out). The public side is hub.h.
 */
#ifndef CHAT_HUB_INT_H
#define CHAT_HUB_INT_H

#include "container.h"
#include "hub.h"

enum chan_state { CHAN_IDLE, CHAN_SUBSCRIBING, CHAN_SUBSCRIBED, CHAN_UNSUBSCRIBING };

/* Users and chats start with a struct hub_node (hub.h): hash entry and
 * Redis channel. Streams hold one too, keyed by stream id. */

struct hub_user {
    struct hub_node n;
    struct hub_stream *streams;
};

/* An event held while the gap before it is fetched, in version order. */
struct hub_held {
    struct hub_event *ev;
    struct hub_held *next;
};

/* A queue slot a message event was pushed to: valid while that stream lives
 * and still holds the event at that sequence number. */
struct hub_slot {
    uint64_t stream_id, qseq;
};

/* A message.created or message.updated event fanned out in a chat, and the
 * slots it went to, so a message.deleted can purge it (hub.h). ev is not a
 * reference: it is alive while one of its slots is valid. */
struct hub_msgent {
    struct hub_msgent *next;
    struct hub_event *ev;
    int64_t seq; /* the message's */
    unsigned n, cap;
    struct hub_slot *slots;
};

struct hub_chat {
    struct hub_node n;
    int64_t version; /* every version up to this one went out to the chat's members */
    struct hub_member *members;
    struct hub_held *held; /* events after a gap, ascending */
    int nheld;
    int64_t held_since; /* unix seconds of the oldest held event */
    int64_t want;       /* a version known to exist (a held event, PostgreSQL) */
    int64_t fetch_from; /* version when the fetch in flight started */
    bool fetching;
    struct hub_msgent *msgs, *msgs_tail; /* message events pushed, oldest first */
    size_t nslots;                       /* slots recorded in msgs */
    size_t nslots_live;                  /* of them valid at the last compaction */
};

struct hub_member {
    struct hub_stream *stream;
    struct hub_chat *chat;
    int64_t version; /* last version delivered to (or covered for) the stream */
    struct hub_member *chat_prev, *chat_next;
    struct hub_member *stream_prev, *stream_next;
};

/* A chat the user left while the stream's baseline was being read. */
struct hub_tomb {
    int64_t chat_id, version;
    struct hub_tomb *next;
};

static inline struct hub_node *hub_node_of(struct idmap_node *x)
{
    return x ? container_of(x, struct hub_node, in) : NULL;
}

/* ---- hub.c ---- */
void hub_chan_ref(struct hub *h, struct hub_node *n);
void hub_chan_unref(struct hub *h, struct hub_node *n);
struct hub_chat *hub_chat_get(struct hub *h, int64_t id, int64_t version, bool create);
struct hub_node *hub_node_get(struct hub *h, enum hub_chan_kind kind, int64_t id);
struct hub_user *hub_user_get(struct hub *h, int64_t id, bool create);
/* ---- hub_stream.c ---- */
struct hub_member *hub_member_add(struct hub_stream *s, int64_t chat_id, int64_t version);
void hub_member_remove(struct hub_member *m);
/* Move s forward if what it waits for has happened. */
void hub_stream_check(struct hub_stream *s);
uint64_t hub_stream_deliver(struct hub_stream *s, struct hub_member *m, struct hub_event *ev);
void hub_stream_free(struct hub_stream *s);
/* Mark s to be closed at the end of the current hub call. */
void hub_stream_kick(struct hub_stream *s, enum hub_kick why);
struct hub_member *hub_stream_member(const struct hub_stream *s, int64_t chat_id);
/* Queue ev on a live stream; too much unsent marks the stream for kicking.
 * Returns the sequence number ev got in the queue, or 0 if not queued. */
uint64_t hub_stream_push(struct hub_stream *s, struct hub_event *ev);
void hub_tomb_add(struct hub_stream *s, int64_t chat_id, int64_t version);
/* true if the user left chat_id at a version after `version`. */
bool hub_tomb_covers(const struct hub_stream *s, int64_t chat_id, int64_t version);
/* Close the streams kicked during this call, telling their transports. */
void hub_kick_pending(struct hub *h);
/* ---- hub_order.c ---- */
void hub_msgent_free(struct hub_msgent *x);
/* Give up on gaps held past HUB_HOLD_S. */
void hub_chat_tick(void *arg, struct idmap_node *x);

/* ---- hub_event.c ---- */
struct hub_event *hub_event_build(const char *type, size_t tlen, const char *json, size_t len,
                                  bool strip);
#endif
