/* hub_order.c - per chat, events in version order: fan-out to members,
 * holding events after a gap, backfill from PostgreSQL, giving up with
 * resync, and purging deleted messages from the queues (hub.h). */
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

void hub_msgent_free(struct hub_msgent *x)
{
    free(x->slots);
    free(x);
}

/* ---- deleted messages: purge what the queues still hold (hub.h) ---- */

/* The queue entry of slot x if it still holds ev, else NULL; *sp gets its
 * stream. Stream ids are never reused and a slot keeps the event it was
 * given until it is trimmed or purged, so this is exact. */
static struct hub_qent *slot_entry(struct hub *h, const struct hub_slot *x,
                                   const struct hub_event *ev, struct hub_stream **sp)
{
    struct hub_node *n = hub_node_of(idmap_get(&h->streams_by_id, (int64_t)x->stream_id));
    struct hub_stream *s;
    struct hub_qent *e;

    if (!n)
        return NULL;
    s = container_of(n, struct hub_stream, idn);
    if (x->qseq < s->q_seq || x->qseq >= s->q_seq + s->q_len)
        return NULL;
    e = &s->q[(s->q_head + (x->qseq - s->q_seq)) % s->q_cap];
    if (e->ev != ev)
        return NULL;
    if (sp)
        *sp = s;
    return e;
}

/* true if a slot of x still holds its event; drops the dead slots it meets
 * on the way (each is looked at once, however often this runs). */
static bool msgent_alive(struct hub *h, struct hub_chat *c, struct hub_msgent *x)
{
    while (x->n) {
        if (slot_entry(h, &x->slots[x->n - 1], x->ev, NULL))
            return true;
        x->n--;
        c->nslots--;
    }
    return false;
}

/* Drop every dead slot and every entry left without one. */
static void chat_msgs_compact(struct hub *h, struct hub_chat *c)
{
    struct hub_msgent **p = &c->msgs, *x;

    c->msgs_tail = NULL;
    c->nslots = 0;
    while ((x = *p)) {
        unsigned i, k = 0;

        for (i = 0; i < x->n; i++)
            if (slot_entry(h, &x->slots[i], x->ev, NULL))
                x->slots[k++] = x->slots[i];
        x->n = k;
        if (!k) {
            *p = x->next;
            hub_msgent_free(x);
            continue;
        }
        c->nslots += k;
        c->msgs_tail = x;
        p = &x->next;
    }
    c->nslots_live = c->nslots;
}

/* ev went to stream s at qseq: note the slot under ev's entry *xp, made on
 * first use. */
static void chat_msg_slot(struct hub_chat *c, struct hub_msgent **xp, struct hub_event *ev,
                          const struct hub_stream *s, uint64_t qseq)
{
    struct hub_msgent *x = *xp;

    if (!x) {
        x = calloc(1, sizeof(*x));
        if (!x)
            abort();
        x->ev = ev;
        x->seq = ev->msg_seq;
        if (c->msgs_tail)
            c->msgs_tail->next = x;
        else
            c->msgs = x;
        c->msgs_tail = x;
        *xp = x;
    }
    if (x->n == x->cap) {
        unsigned cap = x->cap ? x->cap * 2 : 4;
        struct hub_slot *slots = realloc(x->slots, cap * sizeof(*slots));

        if (!slots)
            abort();
        x->slots = slots;
        x->cap = cap;
    }
    x->slots[x->n].stream_id = s->id;
    x->slots[x->n].qseq = qseq;
    x->n++;
    c->nslots++;
}

/* A copy of ev carrying the message JSON msg (mlen bytes) in place of its
 * own "message": same type, version and ids. NULL if ev has no message. */
static struct hub_event *event_with_message(const struct hub_event *ev, const char *msg,
                                            size_t mlen)
{
    const char *j = ev->text + ev->json_off;
    size_t off, vlen, n;
    struct hub_event *r;
    char *buf;

    if (!json_member(j, ev->json_len, "message", &off, &vlen))
        return NULL;
    n = ev->json_len - vlen + mlen;
    buf = malloc(n);
    if (!buf)
        abort();
    memcpy(buf, j, off);
    memcpy(buf + off, msg, mlen);
    memcpy(buf + off + mlen, j + off + vlen, ev->json_len - off - vlen);
    r = hub_event_build(ev->text + ev->type_off, ev->type_len, buf, n, false);
    free(buf);
    r->chat_id = ev->chat_id;
    r->version = ev->version;
    r->user_id = ev->user_id;
    r->session_id = ev->session_id;
    r->msg_seq = ev->msg_seq;
    return r;
}

/* del is a message.deleted of chat c: every queue slot still holding a
 * message.created or message.updated of that message gets the same event
 * with the tombstone (del's "message") instead. Walks c's entries only. */
static void chat_purge(struct hub *h, struct hub_chat *c, const struct hub_event *del)
{
    const char *dj = del->text + del->json_off;
    struct hub_msgent **p = &c->msgs, *x;
    size_t moff, mlen;

    if (!json_member(dj, del->json_len, "message", &moff, &mlen))
        return;
    c->msgs_tail = NULL;
    while ((x = *p)) {
        struct hub_event *old = x->ev, *r = NULL;
        unsigned i;

        if (x->seq != del->msg_seq) {
            c->msgs_tail = x;
            p = &x->next;
            continue;
        }
        for (i = 0; i < x->n; i++) {
            struct hub_stream *s;
            struct hub_qent *e = slot_entry(h, &x->slots[i], old, &s);

            if (!e)
                continue;
            if (!r) {
                r = event_with_message(old, dj + moff, mlen);
                if (!r)
                    break;
                hub_event_ref(old); /* alive until the last slot is compared */
            }
            if (x->slots[i].qseq >= s->next_seq)
                s->unsent_bytes = s->unsent_bytes - old->len + r->len;
            hub_event_unref(old);
            hub_event_ref(r);
            e->ev = r;
        }
        if (r) {
            hub_event_unref(r);
            hub_event_unref(old);
        }
        c->nslots -= x->n;
        *p = x->next;
        hub_msgent_free(x);
    }
}

static bool event_is_join(const struct hub_event *ev, int64_t user_id)
{
    if (hub_event_is(ev, "chat.created"))
        return true;
    return hub_event_is(ev, "member.joined") && (ev->user_id == 0 || ev->user_id == user_id);
}

static bool event_is_leave(const struct hub_event *ev, int64_t user_id)
{
    return hub_event_is(ev, "member.left") && ev->user_id == user_id;
}

/* An event on user:{id}, for one of the user's streams. */
static void user_event(struct hub_stream *s, struct hub_event *ev)
{
    int64_t uid = s->user->n.in.key;
    struct hub_member *m;

    if (hub_event_is(ev, "session.revoked")) {
        /* A control event from chat-api: act on it, never forward it. */
        if (ev->token_id ? ev->token_id == s->token_id
                         : ev->session_id == 0 || ev->session_id == s->session_id)
            hub_stream_kick(s, HUB_KICK_REVOKED);
        return;
    }
    if (!ev->chat_id || !ev->version) {
        hub_stream_push(s, ev);
        return;
    }
    m = hub_stream_member(s, ev->chat_id);
    if (event_is_join(ev, uid)) {
        if (!m) {
            if (hub_tomb_covers(s, ev->chat_id, ev->version))
                return;
            m = hub_member_add(s, ev->chat_id, ev->version - 1);
        }
        hub_stream_deliver(s, m, ev);
    } else if (event_is_leave(ev, uid)) {
        if (!m) {
            if (s->state < HUB_S_CHATS)
                hub_tomb_add(s, ev->chat_id, ev->version);
            return;
        }
        if (ev->version <= m->version)
            return; /* stale: already past it */
        hub_stream_deliver(s, m, ev);
        if (s->state < HUB_S_CHATS)
            hub_tomb_add(s, ev->chat_id, ev->version); /* the baseline may predate it */
        hub_member_remove(m);
        hub_stream_check(s);
    } else if (m) {
        hub_stream_deliver(s, m, ev);
    }
}

/* A join of a user with local streams, seen on the chat's channel or in a
 * backfill: those streams carry the chat from here on (the user:{id}
 * PUBLISH may have been lost). */
static void chat_join_local(struct hub *h, struct hub_chat *c, struct hub_event *ev)
{
    struct hub_user *u;
    struct hub_stream *s;

    if (!hub_event_is(ev, "member.joined") || !ev->user_id || !ev->version)
        return;
    u = hub_user_get(h, ev->user_id, false);
    for (s = u ? u->streams : NULL; s; s = s->user_next)
        if (s->state >= HUB_S_CHATS && !hub_stream_member(s, c->n.in.key) &&
            !hub_tomb_covers(s, c->n.in.key, ev->version))
            hub_member_add(s, c->n.in.key, ev->version - 1);
}

/* Send ev to every member stream of c (c->version already moved). */
static void chat_fanout(struct hub *h, struct hub_chat *c, struct hub_event *ev)
{
    struct hub_member *m, *next;
    struct hub_msgent *x = NULL;
    bool keep =
        ev->msg_seq && (hub_event_is(ev, "message.created") || hub_event_is(ev, "message.updated"));

    if (ev->msg_seq && hub_event_is(ev, "message.deleted"))
        chat_purge(h, c, ev);
    if (keep && c->nslots > 2 * c->nslots_live + 1024)
        chat_msgs_compact(h, c); /* amortized: after that many new slots */
    chat_join_local(h, c, ev);
    c->n.refs++; /* hold c: members may leave below */
    for (m = c->members; m; m = next) {
        struct hub_stream *s = m->stream;
        uint64_t qseq;

        next = m->chat_next;
        if (ev->version && ev->version <= m->version)
            continue;
        qseq = hub_stream_deliver(s, m, ev);
        if (qseq && keep)
            chat_msg_slot(c, &x, ev, s, qseq);
        if (event_is_leave(ev, s->user->n.in.key)) {
            if (s->state < HUB_S_CHATS)
                hub_tomb_add(s, c->n.in.key, ev->version);
            hub_member_remove(m);
            hub_stream_check(s);
        }
    }
    hub_chan_unref(h, &c->n);
}

/* Send the held events that now follow c->version. */
static void chat_flush_held(struct hub *h, struct hub_chat *c)
{
    while (c->held && c->held->ev->version <= c->version + 1) {
        struct hub_held *x = c->held;

        c->held = x->next;
        c->nheld--;
        if (x->ev->version == c->version + 1) {
            c->version = x->ev->version;
            chat_fanout(h, c, x->ev);
        }
        hub_event_unref(x->ev);
        free(x);
    }
    if (!c->held)
        c->held_since = 0;
}

/* Continuity is not proven for c: resync {chat_id} to its streams, then the
 * held events in order (clients fill the gap with /changes). */
static void chat_give_up(struct hub *h, struct hub_chat *c)
{
    struct hub_event *rs = hub_event_resync(c->n.in.key);
    struct hub_member *m;

    h->ngaveup++;
    log_warn("chat %" PRId64 ": gap after version %" PRId64 " not filled, resync", c->n.in.key,
             c->version);
    for (m = c->members; m; m = m->chat_next) {
        h->nresyncs++;
        hub_stream_push(m->stream, rs);
    }
    hub_event_unref(rs);
    if (c->held && c->held->ev->version > c->version + 1)
        c->version = c->held->ev->version - 1;
    else if (!c->held && c->want > c->version)
        c->version = c->want;
    chat_flush_held(h, c);
    /* Whatever remains held has its own gap: deliver it as is. */
    while (c->held) {
        c->version = c->held->ev->version - 1;
        chat_flush_held(h, c);
    }
}

static void chat_fetch(struct hub *h, struct hub_chat *c)
{
    if (c->fetching)
        return;
    h->nfetches++;
    c->fetch_from = c->version;
    if (h->ops->fetch(h->ops_ctx, c->n.in.key, c->version) == 0)
        c->fetching = true;
    else
        chat_give_up(h, c);
}

/* Keep ev (version > c->version + 1) until the gap before it is filled. */
static void chat_hold(struct hub *h, struct hub_chat *c, struct hub_event *ev)
{
    struct hub_held **p = &c->held, *x;

    while (*p && (*p)->ev->version < ev->version)
        p = &(*p)->next;
    if (*p && (*p)->ev->version == ev->version)
        return; /* held already */
    x = malloc(sizeof(*x));
    if (!x)
        abort();
    hub_event_ref(ev);
    x->ev = ev;
    x->next = *p;
    *p = x;
    if (!c->nheld++)
        c->held_since = h->now;
    if (ev->version > c->want)
        c->want = ev->version;
}

static void chat_event(struct hub *h, struct hub_chat *c, struct hub_event *ev)
{
    if (ev->chat_id && ev->chat_id != c->n.in.key)
        return;
    if (!ev->version) {
        chat_fanout(h, c, ev);
        return;
    }
    if (ev->version <= c->version)
        return; /* seen: a backfill or the outbox relay got here first */
    if (ev->version == c->version + 1) {
        c->version = ev->version;
        chat_fanout(h, c, ev);
        chat_flush_held(h, c);
        return;
    }
    chat_hold(h, c, ev);
    if (c->nheld > HUB_HOLD_MAX)
        chat_give_up(h, c);
    else
        chat_fetch(h, c);
}

void hub_on_message(struct hub *h, enum hub_chan_kind kind, int64_t id, const char *payload,
                    size_t len)
{
    struct hub_node *n = hub_node_get(h, kind, id);
    struct hub_event *ev;

    if (!n || n->state != CHAN_SUBSCRIBED)
        return;
    ev = hub_event_new(payload, len);
    if (!ev) {
        log_warn("dropped a malformed event on %s:%" PRId64,
                 kind == HUB_CHAN_USER ? "user" : "chat", id);
        return;
    }
    if (kind == HUB_CHAN_USER) {
        struct hub_stream *s, *next;

        struct hub_chat *c;

        n->refs++;
        for (s = ((struct hub_user *)n)->streams; s; s = next) {
            next = s->user_next;
            user_event(s, ev);
        }
        hub_chan_unref(h, n);
        /* The chat's own copy may never come (a join before the SUBSCRIBE
         * reply, a leave after the UNSUBSCRIBE): the next version moves the
         * chat on and reaches its other members; anything else waits for
         * the chat channel or the backfill. */
        c = ev->chat_id && ev->version ? hub_chat_get(h, ev->chat_id, 0, false) : NULL;
        if (c && ev->version == c->version + 1) {
            c->n.refs++;
            chat_event(h, c, ev);
            hub_chan_unref(h, &c->n);
        }
    } else {
        n->refs++; /* hold c: its last member may leave */
        chat_event(h, (struct hub_chat *)n, ev);
        hub_chan_unref(h, n);
    }
    hub_event_unref(ev);
    hub_kick_pending(h);
}

/* ---- backfill ---- */

static struct hub_chat *chat_hold_ref(struct hub *h, int64_t chat_id)
{
    struct hub_chat *c = hub_chat_get(h, chat_id, 0, false);

    if (c)
        c->n.refs++;
    return c;
}

void hub_chat_db_version(struct hub *h, int64_t chat_id, int64_t version)
{
    struct hub_chat *c = chat_hold_ref(h, chat_id);

    if (!c)
        return;
    if (version > c->version) {
        if (version > c->want)
            c->want = version;
        if (c->members)
            chat_fetch(h, c);
    }
    hub_chan_unref(h, &c->n);
    hub_kick_pending(h);
}

void hub_backfill_event(struct hub *h, int64_t chat_id, const char *json, size_t len)
{
    struct hub_chat *c = chat_hold_ref(h, chat_id);
    struct hub_event *ev;

    if (!c)
        return;
    ev = hub_event_new(json, len);
    if (ev && ev->chat_id == chat_id && ev->version == c->version + 1) {
        c->version = ev->version;
        h->nbackfilled++;
        chat_fanout(h, c, ev);
    }
    hub_event_unref(ev);
    hub_chan_unref(h, &c->n);
    hub_kick_pending(h);
}

void hub_backfill_done(struct hub *h, int64_t chat_id, bool ok, bool more)
{
    struct hub_chat *c = chat_hold_ref(h, chat_id);
    bool progress;

    if (!c)
        return;
    c->fetching = false;
    progress = c->version > c->fetch_from;
    chat_flush_held(h, c);
    if (!ok) {
        if (c->held || c->want > c->version)
            chat_give_up(h, c);
    } else if (c->held || (more && progress)) {
        if (progress)
            chat_fetch(h, c); /* the next page, or a newer gap */
        else
            chat_give_up(h, c); /* the log does not have it: never wait for it */
    }
    if (!c->held && c->want <= c->version)
        c->want = 0;
    hub_chan_unref(h, &c->n);
    hub_kick_pending(h);
}

size_t hub_chat_ids(const struct hub *h, int64_t *out, size_t max)
{
    size_t i, n = 0;

    for (i = 0; i < h->chats.cap && n < max; i++) {
        const struct idmap_node *y;

        for (y = h->chats.slots[i]; y && n < max; y = y->next) {
            const struct hub_node *x = container_of(y, struct hub_node, in);

            if (((const struct hub_chat *)x)->members)
                out[n++] = x->in.key;
        }
    }
    return n;
}

/* Give up on gaps held past HUB_HOLD_S. */
void hub_chat_tick(void *arg, struct idmap_node *in)
{
    struct hub *h = arg;
    struct hub_node *n = hub_node_of(in);
    struct hub_chat *c = (struct hub_chat *)n;

    /* Forget message events no queue holds any more, oldest first. */
    while (c->msgs && !msgent_alive(h, c, c->msgs)) {
        struct hub_msgent *x = c->msgs;

        c->msgs = x->next;
        if (!c->msgs)
            c->msgs_tail = NULL;
        hub_msgent_free(x);
    }
    if (c->held && h->now - c->held_since >= HUB_HOLD_S) {
        n->refs++;
        chat_give_up(h, c);
        hub_chan_unref(h, n);
    }
}
