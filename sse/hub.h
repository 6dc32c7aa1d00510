/* hub.h - who listens to what in chat-push: chats, users, streams, fan-out.
 *
 * The hub keeps, for this process, every stream (one subscriber: an SSE
 * connection now, a long-poll or WebSocket client later), the user that
 * owns it, and the chats the stream carries (a member entry per stream and
 * chat, holding the last version delivered to that stream). A Redis channel
 * (user:{id}, chat:{id}) is wanted while one local stream needs it; the hub
 * runs one small state machine per channel so that at most one SUBSCRIBE or
 * UNSUBSCRIBE is in flight for it (hiredis 0.14 forgets the callback of a
 * channel unsubscribed and subscribed again back to back).
 *
 * An event arriving on a channel is parsed once into a refcounted
 * struct hub_event holding its SSE frame; each stream's queue holds
 * references, never copies. Continuity rules: DESIGN.md "Continuity in
 * chat-push" and API.md "Real-time events".
 *
 * The hub does no I/O: Redis commands go out through struct hub_ops, and
 * transports are woken through struct sub_ops (sub.h). Single-threaded: all
 * calls come from the event loop.
 */
#ifndef CHAT_HUB_H
#define CHAT_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_QUEUE_MAX_EVENTS 1000     /* past this a stream is a slow consumer */
#define HUB_QUEUE_MAX_BYTES (1 << 20) /* bytes of queued frames, same */
#define HUB_CURSOR_MAX 64             /* room for a cursor string and its NUL */

struct hub;
struct hub_stream;
struct sub_ops;

/* A parsed event, shared by every queue that holds it. text is the SSE
 * frame without its id line: "event: <type>\ndata: <json>\n\n"; the JSON and
 * the type are slices of it. */
struct hub_event {
    int refs;
    int64_t chat_id;    /* 0 when absent */
    int64_t version;    /* 0 when absent (ephemeral events) */
    int64_t user_id;    /* 0 when absent */
    int64_t session_id; /* session.revoked only: 0 means every session; -1 absent */
    unsigned short type_off, type_len;
    size_t json_off, json_len;
    size_t len; /* bytes of text */
    char text[];
};

/* Build an event from its JSON (len bytes, need not be NUL-terminated), as
 * published on Redis. Checks the JSON (lib/json.h) and the fields the hub
 * uses; CR and LF outside strings are dropped so the frame has one data
 * line. Returns a new event with refs 1, or NULL if the payload is not a
 * valid event. */
struct hub_event *hub_event_new(const char *json, size_t len);
/* A `resync` event, for all chats (chat_id 0) or one. refs 1. */
struct hub_event *hub_event_resync(int64_t chat_id);
void hub_event_ref(struct hub_event *ev);
void hub_event_unref(struct hub_event *ev);
/* true if the event's type is t (NUL-terminated). */
bool hub_event_is(const struct hub_event *ev, const char *t);

/* Redis channel kinds. */
enum hub_chan_kind { HUB_CHAN_USER, HUB_CHAN_CHAT };

/* What the hub asks of the world outside. ctx is hub_ops_ctx. */
struct hub_ops {
    /* Send SUBSCRIBE / UNSUBSCRIBE for channel "<user|chat>:<id>". Return 0
     * if the command went out, nonzero if Redis is not connected (the hub
     * then waits for hub_redis_up). */
    int (*subscribe)(void *ctx, enum hub_chan_kind kind, int64_t id);
    int (*unsubscribe)(void *ctx, enum hub_chan_kind kind, int64_t id);
    /* The stream's user channel is subscribed: read its baseline now and
     * answer with hub_stream_baseline_add/_done (or close the stream). */
    void (*baseline)(void *ctx, struct hub_stream *s);
    /* chat's channel jumped from version have to got (got > have + 1). The
     * backfill from PostgreSQL (the /changes query) plugs in here; until
     * then the event is delivered as is and clients fill the gap. */
    void (*gap)(void *ctx, int64_t chat_id, int64_t have, int64_t got);
};

/* Stream life: waiting for its user channel, then for the baseline rows,
 * then for its chat channels; live once `resync` is queued. */
enum hub_stream_state {
    HUB_S_USER,     /* user:{id} SUBSCRIBE in flight */
    HUB_S_BASELINE, /* baseline query in flight */
    HUB_S_CHATS,    /* chat:{id} SUBSCRIBEs in flight */
    HUB_S_LIVE,
    HUB_S_CLOSED, /* detached from the hub: nothing more is queued */
};

/* Why a stream is ended by the hub (sub_ops.kick). */
enum hub_kick {
    HUB_KICK_OVERFLOW = 1, /* queue over its limits: slow consumer */
    HUB_KICK_SHUTDOWN,
    HUB_KICK_EXPIRED, /* lived its 24 h */
    HUB_KICK_REVOKED, /* its session was revoked (logout, logout-all) */
};

/* One subscriber. A transport embeds it in its own connection struct and
 * fills ops before hub_stream_open. */
struct hub_stream {
    const struct sub_ops *ops;
    struct hub *hub;
    struct hub_user *user;
    uint64_t id;        /* unique in this process run */
    int64_t session_id; /* 0 when unknown */
    enum hub_stream_state state;
    bool needs_resync;          /* a Redis reconnect happened: resync once subscribed */
    int unconfirmed;            /* channels of this stream without a SUBSCRIBE reply */
    struct hub_member *members; /* chats this stream carries */
    int nmembers;
    struct hub_tomb *tombs;                   /* chats left before the baseline was read */
    struct hub_stream *user_prev, *user_next; /* the user's streams */
    struct hub_stream *all_prev, *all_next;   /* every stream of the hub */
    struct hub_stream *kick_next;             /* on hub.kicked while pending */
    bool kicked;
    enum hub_kick kick_why;
    /* The queue: a ring of events; entry i has sequence number q_seq + i. */
    struct hub_event **q;
    unsigned q_head, q_len, q_cap;
    size_t q_bytes;
    uint64_t q_seq;    /* sequence number of the oldest queued event */
    int64_t opened_at; /* unix seconds */
};

/* The hub. Opaque fields below are the hub's own. */
struct hub {
    const struct hub_ops *ops;
    void *ops_ctx;
    uint64_t epoch;   /* boot time, names this process run in cursors */
    uint64_t next_id; /* next stream id */
    bool redis_up;
    struct hub_map *users, *chats;
    size_t nstreams;
    struct hub_stream *streams;   /* every open stream */
    struct hub_stream *kicked;    /* overflowed during the current call */
    struct hub_event *resync_all; /* shared, one per hub */
};

/* Set up h. epoch names this run in cursors (e.g. the start time). */
void hub_init(struct hub *h, const struct hub_ops *ops, void *ops_ctx, uint64_t epoch);
/* Free the hub's tables. Every stream must be closed first. */
void hub_release(struct hub *h);

/* Attach s (zeroed except ops, filled by the transport) for user_id: wants
 * user:{id}; ops->baseline follows once that channel is subscribed.
 * Returns 0. */
int hub_stream_open(struct hub *h, struct hub_stream *s, int64_t user_id, int64_t session_id,
                    int64_t now);
/* One row of the baseline: the user is in chat_id, whose version is version. */
void hub_stream_baseline_add(struct hub_stream *s, int64_t chat_id, int64_t version);
/* All rows are in: subscribe what is missing, then `resync` follows. */
void hub_stream_baseline_done(struct hub_stream *s);
/* Detach s from the hub: drop its queue and members, release channels.
 * Idempotent. The memory of s stays the transport's. */
void hub_stream_close(struct hub_stream *s);

/* The oldest queued event of s and its sequence number, or NULL. */
struct hub_event *hub_stream_peek(struct hub_stream *s, uint64_t *seq);
/* Drop the oldest queued event (after the transport has sent it). */
void hub_stream_pop(struct hub_stream *s);
/* Write the cursor of event seq of s into out (HUB_CURSOR_MAX bytes):
 * "<epoch hex>.<stream id hex>.<seq>". Returns its length. */
int hub_cursor_format(const struct hub_stream *s, uint64_t seq, char *out);

/* Redis told us: channel kind:id is subscribed / unsubscribed. */
void hub_on_subscribed(struct hub *h, enum hub_chan_kind kind, int64_t id);
void hub_on_unsubscribed(struct hub *h, enum hub_chan_kind kind, int64_t id);
/* A message on user:{id} or chat:{id}: payload is the event JSON. */
void hub_on_message(struct hub *h, enum hub_chan_kind kind, int64_t id, const char *payload,
                    size_t len);
/* The subscribed Redis connection is gone: every channel is unsubscribed. */
void hub_redis_down(struct hub *h);
/* A new subscribed connection is up: subscribe every wanted channel again;
 * every live stream gets `resync` once its channels are back. */
void hub_redis_up(struct hub *h);

/* Call fn for every open stream (for heartbeats, expiry and shutdown). fn
 * may close the stream it is given. */
void hub_foreach_stream(struct hub *h, void (*fn)(struct hub_stream *s, void *arg), void *arg);

/* Open streams of user_id in this process (for the per-user cap). */
unsigned hub_user_nstreams(struct hub *h, int64_t user_id);

/* Counts, for /readyz, logs and tests. */
size_t hub_count_chats(const struct hub *h);
size_t hub_count_users(const struct hub *h);

#endif
