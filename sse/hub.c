/* hub.c - the hub and its channels: chat -> streams, user -> streams,
 * channel refcounts, Redis replies and reconnects. Streams are in
 * hub_stream.c, per-chat order and fan-out in hub_order.c, events in
 * hub_event.c (what they share: hub_int.h).
 *
 * Objects: a hub_user per local user with open streams, a hub_chat per chat
 * some local stream carries, a hub_member per (stream, chat) holding the last
 * version delivered to that stream. Users and chats sit in two small hash
 * tables keyed by id; each doubles as a Redis channel with a refcount (its
 * streams or members) and a state (idle, subscribing, subscribed,
 * unsubscribing), so at most one command per channel is in flight and an
 * object lives until its channel is idle and unreferenced.
 *
 * stream.unconfirmed counts the stream's channels not in the subscribed
 * state; a stream turns live (and gets `resync`) when it reaches 0 after its
 * baseline is in, and again after a Redis reconnect.
 */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "hub_int.h"
#include "json.h"
#include "log.h"
#include "sub.h"

/* ---- channels ---- */

static void node_free(struct hub *h, struct hub_node *n)
{
    idmap_del(n->kind == HUB_CHAN_USER ? &h->users : &h->chats, &n->in);
    if (n->kind == HUB_CHAN_CHAT) {
        struct hub_chat *c = (struct hub_chat *)n;

        while (c->held) {
            struct hub_held *x = c->held;

            c->held = x->next;
            hub_event_unref(x->ev);
            free(x);
        }
        while (c->msgs) {
            struct hub_msgent *x = c->msgs;

            c->msgs = x->next;
            hub_msgent_free(x);
        }
    }
    free(n);
}

/* Bring the channel's Redis state in line with its refcount; may free n. */
static void chan_sync(struct hub *h, struct hub_node *n)
{
    switch (n->state) {
    case CHAN_IDLE:
        if (n->refs == 0)
            node_free(h, n);
        else if (h->redis_up && h->ops->subscribe(h->ops_ctx, n->kind, n->in.key) == 0)
            n->state = CHAN_SUBSCRIBING;
        break;
    case CHAN_SUBSCRIBED:
        if (n->refs > 0)
            break;
        if (h->redis_up && h->ops->unsubscribe(h->ops_ctx, n->kind, n->in.key) == 0) {
            n->state = CHAN_UNSUBSCRIBING;
        } else {
            n->state = CHAN_IDLE;
            node_free(h, n);
        }
        break;
    default: /* a reply is due; act on it then */ break;
    }
}

void hub_chan_ref(struct hub *h, struct hub_node *n)
{
    if (n->refs++ == 0)
        chan_sync(h, n);
}

void hub_chan_unref(struct hub *h, struct hub_node *n)
{
    if (--n->refs == 0)
        chan_sync(h, n);
}

struct hub_user *hub_user_get(struct hub *h, int64_t id, bool create)
{
    struct hub_user *u = (struct hub_user *)hub_node_of(idmap_get(&h->users, id));

    if (u || !create)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        abort();
    u->n.in.key = id;
    u->n.kind = HUB_CHAN_USER;
    idmap_put(&h->users, &u->n.in);
    return u;
}

struct hub_chat *hub_chat_get(struct hub *h, int64_t id, int64_t version, bool create)
{
    struct hub_chat *c = (struct hub_chat *)hub_node_of(idmap_get(&h->chats, id));

    if (c || !create)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->n.in.key = id;
    c->n.kind = HUB_CHAN_CHAT;
    c->version = version;
    idmap_put(&h->chats, &c->n.in);
    return c;
}

/* ---- Redis replies ---- */

struct hub_node *hub_node_get(struct hub *h, enum hub_chan_kind kind, int64_t id)
{
    return hub_node_of(idmap_get(kind == HUB_CHAN_USER ? &h->users : &h->chats, id));
}

void hub_on_subscribed(struct hub *h, enum hub_chan_kind kind, int64_t id)
{
    struct hub_node *n = hub_node_get(h, kind, id);

    if (!n || n->state != CHAN_SUBSCRIBING)
        return;
    n->state = CHAN_SUBSCRIBED;
    if (n->refs == 0) {
        chan_sync(h, n);
        return;
    }
    n->refs++; /* hold n while streams move on */
    if (kind == HUB_CHAN_USER) {
        struct hub_stream *s, *next;

        for (s = ((struct hub_user *)n)->streams; s; s = next) {
            next = s->user_next;
            s->unconfirmed--;
            hub_stream_check(s);
        }
    } else {
        struct hub_member *m, *next;

        for (m = ((struct hub_chat *)n)->members; m; m = next) {
            next = m->chat_next;
            m->stream->unconfirmed--;
            hub_stream_check(m->stream);
        }
    }
    hub_chan_unref(h, n);
    hub_kick_pending(h);
}

void hub_on_unsubscribed(struct hub *h, enum hub_chan_kind kind, int64_t id)
{
    struct hub_node *n = hub_node_get(h, kind, id);

    if (!n || n->state != CHAN_UNSUBSCRIBING)
        return;
    n->state = CHAN_IDLE;
    chan_sync(h, n);
}

/* Deliver ev to s through its member entry m (NULL: no version check).
 * Returns its sequence number in s's queue, 0 if not queued. */

/* ---- Redis connection ---- */

static void node_down(void *arg, struct idmap_node *x)
{
    struct hub *h = arg;
    struct hub_node *n = hub_node_of(x);
    if (n->state == CHAN_SUBSCRIBED && n->refs > 0) {
        if (n->kind == HUB_CHAN_USER) {
            struct hub_stream *s;

            for (s = ((struct hub_user *)n)->streams; s; s = s->user_next)
                s->unconfirmed++;
        } else {
            struct hub_member *m;

            for (m = ((struct hub_chat *)n)->members; m; m = m->chat_next)
                m->stream->unconfirmed++;
        }
    }
    n->state = CHAN_IDLE;
    if (n->refs == 0)
        node_free(h, n);
}

static void node_up(void *arg, struct idmap_node *x)
{
    struct hub *h = arg;
    struct hub_node *n = hub_node_of(x);
    chan_sync(h, n);
}

void hub_redis_down(struct hub *h)
{
    struct hub_stream *s;

    if (!h->redis_up)
        return;
    h->redis_up = false;
    idmap_each(&h->users, node_down, h);
    idmap_each(&h->chats, node_down, h);
    for (s = h->streams; s; s = s->all_next)
        if (s->state == HUB_S_LIVE)
            s->needs_resync = true;
}

void hub_redis_up(struct hub *h)
{
    h->redis_up = true;
    h->redis_gen++;
    idmap_each(&h->users, node_up, h);
    idmap_each(&h->chats, node_up, h);
}

/* ---- the hub ---- */

void hub_init(struct hub *h, const struct hub_ops *ops, void *ops_ctx, uint64_t epoch)
{
    memset(h, 0, sizeof(*h));
    h->ops = ops;
    h->ops_ctx = ops_ctx;
    h->epoch = epoch;
    h->next_id = 1;
    idmap_init(&h->users);
    idmap_init(&h->chats);
    idmap_init(&h->streams_by_id);
    h->resync_all = hub_event_resync(0);
}

static void node_drop(void *arg, struct idmap_node *x)
{
    struct hub *h = arg;
    struct hub_node *n = hub_node_of(x);
    node_free(h, n);
}

void hub_release(struct hub *h)
{
    while (h->streams)
        hub_stream_free(h->streams);
    idmap_each(&h->users, node_drop, h);
    idmap_each(&h->chats, node_drop, h);
    idmap_release(&h->users);
    idmap_release(&h->chats);
    idmap_release(&h->streams_by_id);
    hub_event_unref(h->resync_all);
    h->resync_all = NULL;
}

unsigned hub_user_nstreams(struct hub *h, int64_t user_id)
{
    struct hub_user *u = hub_user_get(h, user_id, false);
    struct hub_stream *s;
    unsigned n = 0;

    for (s = u ? u->streams : NULL; s; s = s->user_next)
        n += s->ops != NULL;
    return n;
}

void hub_each_user(struct hub *h, void (*fn)(void *arg, int64_t user_id, unsigned attached),
                   void *arg)
{
    size_t i;

    for (i = 0; i < h->users.cap; i++) {
        struct idmap_node *y;

        for (y = h->users.slots[i]; y; y = y->next) {
            struct hub_node *n = hub_node_of(y);
            struct hub_stream *s;
            unsigned k = 0;

            for (s = ((struct hub_user *)n)->streams; s; s = s->user_next)
                k += s->ops != NULL;
            fn(arg, n->in.key, k);
        }
    }
}

size_t hub_count_chats(const struct hub *h)
{
    return h->chats.n;
}

size_t hub_count_users(const struct hub *h)
{
    return h->users.n;
}
