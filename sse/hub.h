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
 * A deleted message's content "is purged everywhere it was kept" (API.md
 * "Messages"): each chat indexes the queue slots its message.created and
 * message.updated events were pushed to, and a message.deleted passing
 * through the chat swaps every slot still holding one of that message's
 * events (sent and kept for replay, or unsent) for a copy that keeps its
 * type and version but carries the tombstone message. Transports that are
 * writing the old frame at that moment finish it (it was live delivery).
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

#include "idmap.h"

#define HUB_QUEUE_MAX_EVENTS 1000     /* past this a stream is a slow consumer */
#define HUB_QUEUE_MAX_BYTES (1 << 20) /* bytes of queued frames, same */
#define HUB_CURSOR_MAX 96             /* room for a cursor string and its NUL */

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
    int64_t token_id;   /* session.revoked only: that API token's streams; 0 absent */
    int64_t msg_seq;    /* message.*: the message's seq ("message":{"seq"}), else 0 */
    /* message.created: the message's created_at in Unix microseconds (ms
     * precision: PostgreSQL's now() in the transaction that wrote it), the
     * start of the delivery latency (sse/ops.h); else 0 */
    int64_t created_us;
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
    /* Read chat_id's changes after version `since` from PostgreSQL (the
     * change log, as published) and answer with hub_backfill_event for each,
     * in version order, then hub_backfill_done. Return 0 if the query went
     * out, nonzero if it cannot (the hub then gives up on the gap: resync). */
    int (*fetch)(void *ctx, int64_t chat_id, int64_t since);
};

#define HUB_HOLD_MAX 1000 /* events held per chat while a gap is fetched... */
#define HUB_HOLD_S 5      /* ...for at most this long; then resync {chat_id} */

/* Stream life: waiting for its user channel, then for the baseline rows,
 * then for its chat channels; live once `resync` is queued. */
enum hub_stream_state {
    HUB_S_USER,     /* user:{id} SUBSCRIBE in flight */
    HUB_S_BASELINE, /* baseline query in flight */
    HUB_S_CHATS,    /* chat:{id} SUBSCRIBEs in flight */
    HUB_S_LIVE,
};

/* Why the hub takes a stream away from its transport (sub_ops.kick). */
enum hub_kick {
    HUB_KICK_OVERFLOW = 1, /* too much unsent: slow consumer */
    HUB_KICK_REVOKED,      /* its session was revoked (logout, logout-all) */
    HUB_KICK_REPLACED,     /* a newer connection resumed it by cursor */
};

/* A node of the hub's hash tables (users, chats, streams by id). Private. */
struct hub_node {
    struct idmap_node in; /* key: the user, chat or stream id */
    unsigned char kind;   /* enum hub_chan_kind */
    unsigned char state;  /* channel state, private to hub.c */
    int refs;             /* streams (user) or members (chat) */
};

/* A queued event: sent entries stay for replay (resume by cursor). */
struct hub_qent {
    struct hub_event *ev;
    int64_t at; /* unix seconds when queued */
};

/* One subscriber's stream, owned by the hub. It outlives its connection:
 * when the transport detaches, a live stream lingers HUB_LINGER_S seconds,
 * still subscribed and queueing, so a client can resume it by cursor on a
 * new connection (API.md "Cursors"; DESIGN.md, continuity 6). */
struct hub_stream {
    const struct sub_ops *ops; /* the transport, NULL while detached */
    void *sub;                 /* the transport's connection, NULL while detached */
    struct hub *hub;
    struct hub_node idn; /* by id, for resumes */
    struct hub_user *user;
    uint64_t id;           /* unique in this process run */
    uint64_t secret;       /* 64 random bits: a cursor is a capability of this stream */
    int64_t session_id;    /* 0 when unknown */
    int64_t token_id;      /* the API token that opened or last resumed it, else 0 */
    int64_t token_version; /* the user's, read with the baseline (WebSocket ops) */
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
    /* A ring of events; entry i has sequence number q_seq + i. Entries
     * before next_seq were sent and are kept for replay. */
    struct hub_qent *q;
    unsigned q_head, q_len, q_cap;
    uint64_t q_seq;      /* sequence number of the oldest entry */
    uint64_t next_seq;   /* sequence number of the next event to send */
    size_t unsent_bytes; /* frame bytes from next_seq on */
    int64_t opened_at;   /* unix seconds */
    int64_t detached_at; /* unix seconds, 0 while attached */
};

#define HUB_LINGER_S 120      /* a detached stream stays resumable this long */
#define HUB_REPLAY_S 120      /* sent events stay replayable this long... */
#define HUB_REPLAY_MAX 1000   /* ...up to this many per stream */
#define HUB_LINGER_PER_USER 8 /* detached streams kept per user */

/* The hub. Opaque fields below are the hub's own. */
struct hub {
    const struct hub_ops *ops;
    void *ops_ctx;
    uint64_t epoch;   /* names this process run in cursors (its lowest byte: push_node) */
    uint64_t next_id; /* next stream id */
    bool redis_up;
    int64_t now; /* unix seconds, from the last hub_tick or open */
    struct idmap users, chats, streams_by_id;
    size_t nstreams;
    struct hub_stream *streams;              /* every stream */
    struct hub_stream *kicked;               /* to close at the end of the current call */
    struct hub_event *resync_all;            /* shared, one per hub */
    uint64_t redis_gen;                      /* bumped by every hub_redis_up */
    uint64_t nfetches, nbackfilled, ngaveup; /* counters for logs, tests and metrics */
    uint64_t nresyncs; /* resync queued to a live stream: continuity lost (not the first one) */
};

/* Set up h. epoch names this run in cursors (e.g. the start time). */
void hub_init(struct hub *h, const struct hub_ops *ops, void *ops_ctx, uint64_t epoch);
/* Close every stream (kicking attached ones: no) and free the tables. */
void hub_release(struct hub *h);

/* A new stream of user_id for the transport connection sub: wants
 * user:{id}; ops->baseline follows once that channel is subscribed. Never
 * NULL (allocation failure aborts). */
struct hub_stream *hub_stream_open(struct hub *h, const struct sub_ops *ops, void *sub,
                                   int64_t user_id, int64_t session_id, int64_t now);
/* Resume the stream named by cursor (from hub_cursor_format) for user_id on
 * the connection sub: the stream must be of this process run, carry the
 * cursor's secret, be of this user (user_id 0: of any user; the cursor's 64
 * random bits are then the credential, as for long-poll), live, and still
 * hold every event after the cursor. A connection it was
 * still attached to is kicked (HUB_KICK_REPLACED). Sending restarts right
 * after the cursor. Returns the stream, or NULL (then open a new one, which
 * starts with resync). */
struct hub_stream *hub_stream_resume(struct hub *h, const char *cursor, int64_t user_id,
                                     int64_t session_id, const struct sub_ops *ops, void *sub,
                                     int64_t now);
/* One row of the baseline: the user is in chat_id, whose version is version. */
void hub_stream_baseline_add(struct hub_stream *s, int64_t chat_id, int64_t version);
/* All rows are in: subscribe what is missing, then `resync` follows. */
void hub_stream_baseline_done(struct hub_stream *s);
/* The transport's connection is gone: a live stream lingers for resumes,
 * any other is closed. The transport must forget s. */
void hub_stream_detach(struct hub_stream *s, int64_t now);
/* Close and free s now (auth failed, stream too old, shutdown). No kick;
 * the transport must forget s. */
void hub_stream_close(struct hub_stream *s);
/* Once a second: drop lingering streams past HUB_LINGER_S and replay
 * entries past HUB_REPLAY_S. */
void hub_tick(struct hub *h, int64_t now);

/* The next event to send on s and its sequence number, or NULL. */
struct hub_event *hub_stream_next(struct hub_stream *s, uint64_t *seq);
/* That event went out (it stays for replay a while). */
void hub_stream_sent(struct hub_stream *s, int64_t now);
/* Write the cursor of event seq of s into out (HUB_CURSOR_MAX bytes):
 * "<epoch hex>.<stream id hex>.<secret, 16 hex>.<seq>". Returns its length. */
int hub_cursor_format(const struct hub_stream *s, uint64_t seq, char *out);

/* The user who owns s. */
int64_t hub_stream_user_id(const struct hub_stream *s);

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

/* Backfill (DESIGN.md "Continuity in chat-push", 2-4). PostgreSQL says
 * chat_id is at version: fetch what this process has not seen. */
void hub_chat_db_version(struct hub *h, int64_t chat_id, int64_t version);
/* One change of chat_id from the fetch (the event JSON as published). */
void hub_backfill_event(struct hub *h, int64_t chat_id, const char *json, size_t len);
/* The fetch for chat_id is over: ok false if it failed; more if it stopped
 * at its row limit. Held events go out in order; a gap that remains ends in
 * resync {chat_id} for the chat's streams. */
void hub_backfill_done(struct hub *h, int64_t chat_id, bool ok, bool more);
/* Write up to max ids of the chats the hub carries into out; returns how
 * many (anti-entropy walks them in batches). */
size_t hub_chat_ids(const struct hub *h, int64_t *out, size_t max);

/* Streams of user_id attached to a connection (for the per-user cap). */
unsigned hub_user_nstreams(struct hub *h, int64_t user_id);

/* Call fn for every local user with the number of its streams attached to
 * a connection (presence: online while one is). */
void hub_each_user(struct hub *h, void (*fn)(void *arg, int64_t user_id, unsigned attached),
                   void *arg);

/* Counts, for /readyz, logs and tests. */
size_t hub_count_chats(const struct hub *h);
size_t hub_count_users(const struct hub *h);

#endif
