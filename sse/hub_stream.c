/* hub_stream.c - streams: a stream's queue (the ring of events it has
 * not acknowledged), replay after a resume, its members and cursor (hub.h). */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "hex.h"
#include "hub_int.h"
#include "json.h"
#include "log.h"
#include "sub.h"

/* ---- streams ---- */

/* Move s forward if what it waits for has happened. */
void hub_stream_check(struct hub_stream *s)
{
    struct hub *h = s->hub;

    switch (s->state) {
    case HUB_S_USER:
        if (s->user->n.state == CHAN_SUBSCRIBED) {
            s->state = HUB_S_BASELINE;
            h->ops->baseline(h->ops_ctx, s);
        }
        break;
    case HUB_S_CHATS:
        if (s->unconfirmed == 0) {
            s->state = HUB_S_LIVE;
            s->needs_resync = false;
            hub_stream_push(s, h->resync_all);
        }
        break;
    case HUB_S_LIVE:
        if (s->needs_resync && s->unconfirmed == 0) {
            s->needs_resync = false;
            h->nresyncs++;
            hub_stream_push(s, h->resync_all);
        }
        break;
    default: break;
    }
}

/* Mark s to be closed at the end of the current hub call. */
void hub_stream_kick(struct hub_stream *s, enum hub_kick why)
{
    struct hub *h = s->hub;

    if (s->kicked)
        return;
    s->kicked = true;
    s->kick_why = why;
    s->kick_next = h->kicked;
    h->kicked = s;
}

static unsigned stream_unsent(const struct hub_stream *s)
{
    return (unsigned)(s->q_seq + s->q_len - s->next_seq);
}

/* Drop sent entries past the replay limits (count, then age). */
static void stream_trim(struct hub_stream *s, int64_t now)
{
    while (s->q_len && s->q_seq < s->next_seq) {
        struct hub_qent *e = &s->q[s->q_head];

        if (s->next_seq - s->q_seq <= HUB_REPLAY_MAX && now - e->at < HUB_REPLAY_S)
            break;
        hub_event_unref(e->ev);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        s->q_seq++;
    }
}

/* Queue ev on a live stream; too much unsent marks the stream for kicking.
 * Returns the sequence number ev got in the queue, or 0 if not queued. */
uint64_t hub_stream_push(struct hub_stream *s, struct hub_event *ev)
{
    struct hub_qent *e;

    if (s->state != HUB_S_LIVE || s->kicked)
        return 0;
    if (stream_unsent(s) >= HUB_QUEUE_MAX_EVENTS ||
        s->unsent_bytes + ev->len > HUB_QUEUE_MAX_BYTES) {
        hub_stream_kick(s, HUB_KICK_OVERFLOW);
        return 0;
    }
    stream_trim(s, s->hub->now);
    if (s->q_len == s->q_cap) {
        unsigned cap = s->q_cap ? s->q_cap * 2 : 4, i;
        struct hub_qent *q = malloc(cap * sizeof(*q));

        if (!q)
            abort();
        for (i = 0; i < s->q_len; i++)
            q[i] = s->q[(s->q_head + i) % s->q_cap];
        free(s->q);
        s->q = q;
        s->q_cap = cap;
        s->q_head = 0;
    }
    hub_event_ref(ev);
    e = &s->q[(s->q_head + s->q_len) % s->q_cap];
    e->ev = ev;
    e->at = s->hub->now;
    s->q_len++;
    s->unsent_bytes += ev->len;
    if (stream_unsent(s) == 1 && s->ops)
        s->ops->wake(s);
    return s->q_seq + s->q_len - 1;
}

/* Close the streams kicked during this call, telling their transports. */
void hub_kick_pending(struct hub *h)
{
    while (h->kicked) {
        struct hub_stream *s = h->kicked;

        h->kicked = s->kick_next;
        log_info("stream %" PRIu64 " of user %" PRId64 " %s, closing", s->id, s->user->n.in.key,
                 s->kick_why == HUB_KICK_OVERFLOW ? "overflowed" : "revoked");
        if (s->ops)
            s->ops->kick(s, s->kick_why);
        hub_stream_free(s);
    }
}

struct hub_member *hub_stream_member(const struct hub_stream *s, int64_t chat_id)
{
    struct hub_member *m;

    for (m = s->members; m; m = m->stream_next)
        if (m->chat->n.in.key == chat_id)
            return m;
    return NULL;
}

struct hub_member *hub_member_add(struct hub_stream *s, int64_t chat_id, int64_t version)
{
    struct hub *h = s->hub;
    struct hub_chat *c = hub_chat_get(h, chat_id, version, true);
    struct hub_member *m = calloc(1, sizeof(*m));

    if (!m)
        abort();
    m->stream = s;
    m->chat = c;
    m->version = version;
    m->chat_next = c->members;
    if (c->members)
        c->members->chat_prev = m;
    c->members = m;
    m->stream_next = s->members;
    if (s->members)
        s->members->stream_prev = m;
    s->members = m;
    s->nmembers++;
    if (c->n.state != CHAN_SUBSCRIBED)
        s->unconfirmed++;
    hub_chan_ref(h, &c->n);
    return m;
}

void hub_member_remove(struct hub_member *m)
{
    struct hub_stream *s = m->stream;
    struct hub_chat *c = m->chat;

    if (m->chat_prev)
        m->chat_prev->chat_next = m->chat_next;
    else
        c->members = m->chat_next;
    if (m->chat_next)
        m->chat_next->chat_prev = m->chat_prev;
    if (m->stream_prev)
        m->stream_prev->stream_next = m->stream_next;
    else
        s->members = m->stream_next;
    if (m->stream_next)
        m->stream_next->stream_prev = m->stream_prev;
    s->nmembers--;
    if (c->n.state != CHAN_SUBSCRIBED)
        s->unconfirmed--;
    free(m);
    hub_chan_unref(s->hub, &c->n);
}

void hub_tomb_add(struct hub_stream *s, int64_t chat_id, int64_t version)
{
    struct hub_tomb *t = malloc(sizeof(*t));

    if (!t)
        abort();
    t->chat_id = chat_id;
    t->version = version;
    t->next = s->tombs;
    s->tombs = t;
}

/* true if the user left chat_id at a version after `version`. */
bool hub_tomb_covers(const struct hub_stream *s, int64_t chat_id, int64_t version)
{
    const struct hub_tomb *t;

    for (t = s->tombs; t; t = t->next)
        if (t->chat_id == chat_id && t->version > version)
            return true;
    return false;
}

static void tombs_free(struct hub_stream *s)
{
    while (s->tombs) {
        struct hub_tomb *t = s->tombs;

        s->tombs = t->next;
        free(t);
    }
}

struct hub_stream *hub_stream_open(struct hub *h, const struct sub_ops *ops, void *sub,
                                   int64_t user_id, int64_t session_id, int64_t now)
{
    struct hub_user *u = hub_user_get(h, user_id, true);
    struct hub_stream *s = calloc(1, sizeof(*s));

    if (!s)
        abort();
    h->now = now;
    s->ops = ops;
    s->sub = sub;
    s->hub = h;
    s->user = u;
    s->id = h->next_id++;
    s->idn.in.key = (int64_t)s->id;
    if (crypto_random((unsigned char *)&s->secret, sizeof(s->secret)))
        abort(); /* no randomness: cursors would be guessable */
    idmap_put(&h->streams_by_id, &s->idn.in);
    s->session_id = session_id;
    s->state = HUB_S_USER;
    s->q_seq = s->next_seq = 1;
    s->opened_at = now;
    s->user_next = u->streams;
    if (u->streams)
        u->streams->user_prev = s;
    u->streams = s;
    s->all_next = h->streams;
    if (h->streams)
        h->streams->all_prev = s;
    h->streams = s;
    h->nstreams++;
    if (u->n.state != CHAN_SUBSCRIBED)
        s->unconfirmed++;
    hub_chan_ref(h, &u->n);
    hub_stream_check(s);
    return s;
}

void hub_stream_baseline_add(struct hub_stream *s, int64_t chat_id, int64_t version)
{
    struct hub_member *m;

    if (s->state != HUB_S_BASELINE || hub_tomb_covers(s, chat_id, version))
        return;
    m = hub_stream_member(s, chat_id);
    if (!m)
        hub_member_add(s, chat_id, version);
    else if (m->version < version)
        m->version = version;
}

void hub_stream_baseline_done(struct hub_stream *s)
{
    if (s->state != HUB_S_BASELINE)
        return;
    tombs_free(s);
    s->state = HUB_S_CHATS;
    hub_stream_check(s);
    hub_kick_pending(s->hub);
}

void hub_stream_free(struct hub_stream *s)
{
    struct hub *h = s->hub;
    struct hub_user *u = s->user;

    while (s->members)
        hub_member_remove(s->members);
    tombs_free(s);
    while (s->q_len) {
        hub_event_unref(s->q[s->q_head].ev);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
    }
    free(s->q);
    if (s->user_prev)
        s->user_prev->user_next = s->user_next;
    else
        u->streams = s->user_next;
    if (s->user_next)
        s->user_next->user_prev = s->user_prev;
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        h->streams = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
    idmap_del(&h->streams_by_id, &s->idn.in);
    h->nstreams--;
    free(s);
    hub_chan_unref(h, &u->n);
}

void hub_stream_close(struct hub_stream *s)
{
    hub_stream_free(s);
}

void hub_stream_detach(struct hub_stream *s, int64_t now)
{
    struct hub_user *u = s->user;
    struct hub_stream *it, *oldest;
    int n;

    s->ops = NULL;
    s->sub = NULL;
    if (s->state != HUB_S_LIVE) {
        hub_stream_free(s);
        return;
    }
    s->detached_at = now;
    /* Bound what one user can leave behind by reconnecting in a loop. */
    for (;;) {
        n = 0;
        oldest = NULL;
        for (it = u->streams; it; it = it->user_next) {
            if (!it->detached_at)
                continue;
            n++;
            if (!oldest || it->detached_at < oldest->detached_at)
                oldest = it;
        }
        if (n <= HUB_LINGER_PER_USER)
            break;
        hub_stream_free(oldest); /* the user keeps more than 8 streams: u stays */
    }
}

/* "<hex>.<hex>.<16 hex>.<decimal>" into its four numbers. */
static bool cursor_parse(const char *c, uint64_t *epoch, uint64_t *id, uint64_t *secret,
                         uint64_t *seq)
{
    char *end;
    const char *p;
    size_t n = strlen(c);

    if (n == 0 || n >= HUB_CURSOR_MAX || !hex_is_lower(*c))
        return false;
    errno = 0;
    *epoch = strtoull(c, &end, 16);
    if (*end != '.' || !hex_is_lower(end[1]))
        return false;
    *id = strtoull(end + 1, &end, 16);
    if (*end != '.')
        return false;
    for (p = end + 1; p < end + 17; p++)
        if (!hex_is_lower(*p))
            return false;
    *secret = strtoull(end + 1, &end, 16);
    if (*end != '.' || !(end[1] >= '0' && end[1] <= '9'))
        return false;
    *seq = strtoull(end + 1, &end, 10);
    return *end == 0 && errno == 0;
}

struct hub_stream *hub_stream_resume(struct hub *h, const char *cursor, int64_t user_id,
                                     int64_t session_id, const struct sub_ops *ops, void *sub,
                                     int64_t now)
{
    uint64_t epoch, id, secret, seq, i;
    struct hub_node *n;
    struct hub_stream *s;

    h->now = now;
    if (!cursor || !cursor_parse(cursor, &epoch, &id, &secret, &seq) || epoch != h->epoch ||
        id > INT64_MAX)
        return NULL;
    n = hub_node_of(idmap_get(&h->streams_by_id, (int64_t)id));
    if (!n)
        return NULL;
    s = container_of(n, struct hub_stream, idn);
    /* Everything after seq must still be here: seq + 1 >= q_seq, and seq
     * must be a number this stream has handed out. */
    if (s->secret != secret || (user_id && s->user->n.in.key != user_id) ||
        s->state != HUB_S_LIVE || s->kicked || seq + 1 < s->q_seq || seq >= s->q_seq + s->q_len)
        return NULL;
    if (s->ops) {
        const struct sub_ops *old = s->ops;

        s->ops = NULL;
        old->kick(s, HUB_KICK_REPLACED);
    }
    s->ops = ops;
    s->sub = sub;
    s->detached_at = 0;
    if (session_id)
        s->session_id = session_id;
    s->next_seq = seq + 1;
    s->unsent_bytes = 0;
    for (i = s->next_seq; i < s->q_seq + s->q_len; i++)
        s->unsent_bytes += s->q[(s->q_head + (i - s->q_seq)) % s->q_cap].ev->len;
    return s;
}

struct hub_event *hub_stream_next(struct hub_stream *s, uint64_t *seq)
{
    if (seq)
        *seq = s->next_seq;
    if (!stream_unsent(s))
        return NULL;
    return s->q[(s->q_head + (s->next_seq - s->q_seq)) % s->q_cap].ev;
}

void hub_stream_sent(struct hub_stream *s, int64_t now)
{
    struct hub_event *ev = hub_stream_next(s, NULL);

    if (!ev)
        return;
    s->unsent_bytes -= ev->len;
    s->next_seq++;
    stream_trim(s, now);
}

void hub_tick(struct hub *h, int64_t now)
{
    struct hub_stream *s, *next;

    h->now = now;
    for (s = h->streams; s; s = next) {
        next = s->all_next;
        if (s->detached_at && now - s->detached_at >= HUB_LINGER_S)
            hub_stream_free(s);
        else
            stream_trim(s, now);
    }
    idmap_each(&h->chats, hub_chat_tick, h);
    hub_kick_pending(h);
}

int hub_cursor_format(const struct hub_stream *s, uint64_t seq, char *out)
{
    return snprintf(out, HUB_CURSOR_MAX, "%" PRIx64 ".%" PRIx64 ".%016" PRIx64 ".%" PRIu64,
                    s->hub->epoch, s->id, s->secret, seq);
}

int64_t hub_stream_user_id(const struct hub_stream *s)
{
    return s->user->n.in.key;
}

uint64_t hub_stream_deliver(struct hub_stream *s, struct hub_member *m, struct hub_event *ev)
{
    if (m && ev->version) {
        if (ev->version <= m->version)
            return 0;
        m->version = ev->version;
    }
    return hub_stream_push(s, ev);
}
