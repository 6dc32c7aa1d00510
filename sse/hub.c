/* hub.c - chat -> streams, user -> streams, channel refcounts and fan-out.
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
#include "json.h"
#include "log.h"
#include "sub.h"

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

static void msgent_free(struct hub_msgent *x)
{
    free(x->slots);
    free(x);
}

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

struct hub_map {
    struct hub_node **slots;
    size_t cap; /* power of two */
    size_t n;
};

/* ---- hash table of nodes keyed by id ---- */

static size_t map_slot(const struct hub_map *m, int64_t key)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
}

static struct hub_map *map_new(void)
{
    struct hub_map *m = calloc(1, sizeof(*m));

    if (!m)
        abort();
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (!m->slots)
        abort();
    return m;
}

static struct hub_node *map_get(const struct hub_map *m, int64_t key)
{
    struct hub_node *n;

    for (n = m->slots[map_slot(m, key)]; n; n = n->hnext)
        if (n->key == key)
            return n;
    return NULL;
}

static void map_grow(struct hub_map *m)
{
    struct hub_map big = {.cap = m->cap * 2};
    size_t i;

    big.slots = calloc(big.cap, sizeof(*big.slots));
    if (!big.slots)
        abort();
    for (i = 0; i < m->cap; i++) {
        struct hub_node *n = m->slots[i], *next;

        for (; n; n = next) {
            size_t j = map_slot(&big, n->key);

            next = n->hnext;
            n->hnext = big.slots[j];
            big.slots[j] = n;
        }
    }
    free(m->slots);
    m->slots = big.slots;
    m->cap = big.cap;
}

static void map_put(struct hub_map *m, struct hub_node *n)
{
    size_t i;

    if (m->n >= m->cap)
        map_grow(m);
    i = map_slot(m, n->key);
    n->hnext = m->slots[i];
    m->slots[i] = n;
    m->n++;
}

static void map_del(struct hub_map *m, struct hub_node *n)
{
    struct hub_node **p = &m->slots[map_slot(m, n->key)];

    while (*p && *p != n)
        p = &(*p)->hnext;
    if (*p) {
        *p = n->hnext;
        m->n--;
    }
}

/* Call fn on every node; fn may delete the node it is given. */
static void map_each(struct hub_map *m, void (*fn)(struct hub *h, struct hub_node *n),
                     struct hub *h)
{
    size_t i;

    for (i = 0; i < m->cap; i++) {
        struct hub_node *n = m->slots[i], *next;

        for (; n; n = next) {
            next = n->hnext;
            fn(h, n);
        }
    }
}

/* ---- events ---- */

static bool type_ok(const char *t, size_t len)
{
    size_t i;

    if (len == 0 || len > 64)
        return false;
    for (i = 0; i < len; i++) {
        char c = t[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_'))
            return false;
    }
    return true;
}

/* Optional id field: absent is fine (0), present must be a valid id. */
static int opt_id(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = 0;
    if (!it || cJSON_IsNull(it))
        return 0;
    return json_get_id(it, out);
}

static struct hub_event *event_build(const char *type, size_t tlen, const char *json, size_t len,
                                     bool strip)
{
    struct hub_event *ev = malloc(sizeof(*ev) + tlen + len + 20);
    char *p;
    size_t i;

    if (!ev)
        abort();
    memset(ev, 0, sizeof(*ev));
    ev->refs = 1;
    p = ev->text;
    memcpy(p, "event: ", 7);
    p += 7;
    ev->type_off = (unsigned short)(p - ev->text);
    ev->type_len = (unsigned short)tlen;
    memcpy(p, type, tlen);
    p += tlen;
    memcpy(p, "\ndata: ", 7);
    p += 7;
    ev->json_off = (size_t)(p - ev->text);
    for (i = 0; i < len; i++)
        if (!strip || (json[i] != '\r' && json[i] != '\n'))
            *p++ = json[i];
    ev->json_len = (size_t)(p - ev->text) - ev->json_off;
    memcpy(p, "\n\n", 3);
    p += 2;
    ev->len = (size_t)(p - ev->text);
    return ev;
}

struct hub_event *hub_event_new(const char *json, size_t len)
{
    const char *why = NULL;
    cJSON *root = json_parse(json, len, &why);
    const cJSON *type;
    struct hub_event *ev = NULL;
    int64_t chat_id, user_id, version = 0, session_id = -1, token_id = 0, msg_seq = 0;
    int64_t created_us = 0;
    const cJSON *v;

    if (!root)
        return NULL;
    type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsObject(root) || !cJSON_IsString(type) ||
        !type_ok(type->valuestring, strlen(type->valuestring)))
        goto out;
    if (opt_id(root, "chat_id", &chat_id) || opt_id(root, "user_id", &user_id))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (v && !cJSON_IsNull(v) && json_get_int(v, 1, ((int64_t)1 << 53) - 1, &version))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "session_id");
    if (v && !cJSON_IsNull(v) && json_get_int(v, 0, ((int64_t)1 << 53) - 1, &session_id))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "token_id");
    if (v && !cJSON_IsNull(v) && json_get_int(v, 1, ((int64_t)1 << 53) - 1, &token_id))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (cJSON_IsObject(v) && json_get_int(cJSON_GetObjectItemCaseSensitive(v, "seq"), 1,
                                          ((int64_t)1 << 53) - 1, &msg_seq))
        msg_seq = 0;
    if (cJSON_IsObject(v) && strcmp(type->valuestring, "message.created") == 0 &&
        json_parse_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "created_at")),
                        &created_us))
        created_us = 0;
    ev = event_build(type->valuestring, strlen(type->valuestring), json, len, true);
    ev->chat_id = chat_id;
    ev->user_id = user_id;
    ev->version = version;
    ev->session_id = session_id;
    ev->token_id = token_id;
    ev->msg_seq = msg_seq;
    ev->created_us = created_us;
out:
    cJSON_Delete(root);
    return ev;
}

struct hub_event *hub_event_resync(int64_t chat_id)
{
    char json[64];
    int n;
    struct hub_event *ev;

    if (chat_id)
        n = snprintf(json, sizeof(json), "{\"type\":\"resync\",\"chat_id\":%" PRId64 "}", chat_id);
    else
        n = snprintf(json, sizeof(json), "{\"type\":\"resync\"}");
    ev = event_build("resync", 6, json, (size_t)n, false);
    ev->chat_id = chat_id;
    ev->session_id = -1;
    return ev;
}

/* Skip the JSON string starting at j[*i] (a quote). */
static void json_skip_string(const char *j, size_t len, size_t *i)
{
    for ((*i)++; *i < len && j[*i] != '"'; (*i)++)
        if (j[*i] == '\\')
            (*i)++;
    (*i)++;
}

static void json_skip_ws(const char *j, size_t len, size_t *i)
{
    while (*i < len && (j[*i] == ' ' || j[*i] == '\t' || j[*i] == '\r' || j[*i] == '\n'))
        (*i)++;
}

/* Skip the JSON value starting at j[*i]. */
static void json_skip_value(const char *j, size_t len, size_t *i)
{
    int depth = 0;

    while (*i < len) {
        char ch = j[*i];

        if (ch == '"') {
            json_skip_string(j, len, i);
            if (depth == 0)
                return;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return; /* the enclosing object ends: so does the scalar */
            if (--depth == 0) {
                (*i)++;
                return;
            }
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')) {
            return;
        }
        (*i)++;
    }
}

/* Where the value of member `name` of the JSON object j (checked JSON, as in
 * an event) lies: true with its offset and length, false if absent. */
static bool json_member(const char *j, size_t len, const char *name, size_t *off, size_t *vlen)
{
    size_t i = 0, nlen = strlen(name);

    json_skip_ws(j, len, &i);
    if (i >= len || j[i] != '{')
        return false;
    i++;
    for (;;) {
        size_t k;
        bool match;

        json_skip_ws(j, len, &i);
        if (i >= len || j[i] != '"')
            return false;
        k = i + 1;
        json_skip_string(j, len, &i);
        if (i > len)
            return false;
        match = i - k - 1 == nlen && memcmp(j + k, name, nlen) == 0;
        json_skip_ws(j, len, &i);
        if (i >= len || j[i] != ':')
            return false;
        i++;
        json_skip_ws(j, len, &i);
        k = i;
        json_skip_value(j, len, &i);
        if (i > len)
            return false;
        if (match) {
            *off = k;
            *vlen = i - k;
            return true;
        }
        json_skip_ws(j, len, &i);
        if (i >= len || j[i] != ',')
            return false;
        i++;
    }
}

void hub_event_ref(struct hub_event *ev)
{
    ev->refs++;
}

void hub_event_unref(struct hub_event *ev)
{
    if (ev && --ev->refs == 0)
        free(ev);
}

bool hub_event_is(const struct hub_event *ev, const char *t)
{
    size_t n = strlen(t);

    return n == ev->type_len && memcmp(ev->text + ev->type_off, t, n) == 0;
}

/* ---- channels ---- */

static void node_free(struct hub *h, struct hub_node *n)
{
    map_del(n->kind == HUB_CHAN_USER ? h->users : h->chats, n);
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
            msgent_free(x);
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
        else if (h->redis_up && h->ops->subscribe(h->ops_ctx, n->kind, n->key) == 0)
            n->state = CHAN_SUBSCRIBING;
        break;
    case CHAN_SUBSCRIBED:
        if (n->refs > 0)
            break;
        if (h->redis_up && h->ops->unsubscribe(h->ops_ctx, n->kind, n->key) == 0) {
            n->state = CHAN_UNSUBSCRIBING;
        } else {
            n->state = CHAN_IDLE;
            node_free(h, n);
        }
        break;
    default: /* a reply is due; act on it then */ break;
    }
}

static void chan_ref(struct hub *h, struct hub_node *n)
{
    if (n->refs++ == 0)
        chan_sync(h, n);
}

static void chan_unref(struct hub *h, struct hub_node *n)
{
    if (--n->refs == 0)
        chan_sync(h, n);
}

static struct hub_user *user_get(struct hub *h, int64_t id, bool create)
{
    struct hub_user *u = (struct hub_user *)map_get(h->users, id);

    if (u || !create)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        abort();
    u->n.key = id;
    u->n.kind = HUB_CHAN_USER;
    map_put(h->users, &u->n);
    return u;
}

static struct hub_chat *chat_get(struct hub *h, int64_t id, int64_t version, bool create)
{
    struct hub_chat *c = (struct hub_chat *)map_get(h->chats, id);

    if (c || !create)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->n.key = id;
    c->n.kind = HUB_CHAN_CHAT;
    c->version = version;
    map_put(h->chats, &c->n);
    return c;
}

/* ---- streams ---- */

static uint64_t stream_push(struct hub_stream *s, struct hub_event *ev);

/* Move s forward if what it waits for has happened. */
static void stream_check(struct hub_stream *s)
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
            stream_push(s, h->resync_all);
        }
        break;
    case HUB_S_LIVE:
        if (s->needs_resync && s->unconfirmed == 0) {
            s->needs_resync = false;
            h->nresyncs++;
            stream_push(s, h->resync_all);
        }
        break;
    default: break;
    }
}

/* Mark s to be closed at the end of the current hub call. */
static void stream_kick(struct hub_stream *s, enum hub_kick why)
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
static uint64_t stream_push(struct hub_stream *s, struct hub_event *ev)
{
    struct hub_qent *e;

    if (s->state != HUB_S_LIVE || s->kicked)
        return 0;
    if (stream_unsent(s) >= HUB_QUEUE_MAX_EVENTS ||
        s->unsent_bytes + ev->len > HUB_QUEUE_MAX_BYTES) {
        stream_kick(s, HUB_KICK_OVERFLOW);
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

static void stream_free(struct hub_stream *s);
static void chat_tick(struct hub *h, struct hub_node *n);

/* Close the streams kicked during this call, telling their transports. */
static void hub_kick_pending(struct hub *h)
{
    while (h->kicked) {
        struct hub_stream *s = h->kicked;

        h->kicked = s->kick_next;
        log_info("stream %" PRIu64 " of user %" PRId64 " %s, closing", s->id, s->user->n.key,
                 s->kick_why == HUB_KICK_OVERFLOW ? "overflowed" : "revoked");
        if (s->ops)
            s->ops->kick(s, s->kick_why);
        stream_free(s);
    }
}

static struct hub_member *stream_member(const struct hub_stream *s, int64_t chat_id)
{
    struct hub_member *m;

    for (m = s->members; m; m = m->stream_next)
        if (m->chat->n.key == chat_id)
            return m;
    return NULL;
}

static struct hub_member *member_add(struct hub_stream *s, int64_t chat_id, int64_t version)
{
    struct hub *h = s->hub;
    struct hub_chat *c = chat_get(h, chat_id, version, true);
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
    chan_ref(h, &c->n);
    return m;
}

static void member_remove(struct hub_member *m)
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
    chan_unref(s->hub, &c->n);
}

static void tomb_add(struct hub_stream *s, int64_t chat_id, int64_t version)
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
static bool tomb_covers(const struct hub_stream *s, int64_t chat_id, int64_t version)
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
    struct hub_user *u = user_get(h, user_id, true);
    struct hub_stream *s = calloc(1, sizeof(*s));

    if (!s)
        abort();
    h->now = now;
    s->ops = ops;
    s->sub = sub;
    s->hub = h;
    s->user = u;
    s->id = h->next_id++;
    s->idn.key = (int64_t)s->id;
    if (crypto_random((unsigned char *)&s->secret, sizeof(s->secret)))
        abort(); /* no randomness: cursors would be guessable */
    map_put(h->streams_by_id, &s->idn);
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
    chan_ref(h, &u->n);
    stream_check(s);
    return s;
}

void hub_stream_baseline_add(struct hub_stream *s, int64_t chat_id, int64_t version)
{
    struct hub_member *m;

    if (s->state != HUB_S_BASELINE || tomb_covers(s, chat_id, version))
        return;
    m = stream_member(s, chat_id);
    if (!m)
        member_add(s, chat_id, version);
    else if (m->version < version)
        m->version = version;
}

void hub_stream_baseline_done(struct hub_stream *s)
{
    if (s->state != HUB_S_BASELINE)
        return;
    tombs_free(s);
    s->state = HUB_S_CHATS;
    stream_check(s);
    hub_kick_pending(s->hub);
}

static void stream_free(struct hub_stream *s)
{
    struct hub *h = s->hub;
    struct hub_user *u = s->user;

    while (s->members)
        member_remove(s->members);
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
    map_del(h->streams_by_id, &s->idn);
    h->nstreams--;
    free(s);
    chan_unref(h, &u->n);
}

void hub_stream_close(struct hub_stream *s)
{
    stream_free(s);
}

void hub_stream_detach(struct hub_stream *s, int64_t now)
{
    struct hub_user *u = s->user;
    struct hub_stream *it, *oldest;
    int n;

    s->ops = NULL;
    s->sub = NULL;
    if (s->state != HUB_S_LIVE) {
        stream_free(s);
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
        stream_free(oldest); /* the user keeps more than 8 streams: u stays */
    }
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* "<hex>.<hex>.<16 hex>.<decimal>" into its four numbers. */
static bool cursor_parse(const char *c, uint64_t *epoch, uint64_t *id, uint64_t *secret,
                         uint64_t *seq)
{
    char *end;
    const char *p;
    size_t n = strlen(c);

    if (n == 0 || n >= HUB_CURSOR_MAX || !is_hex(*c))
        return false;
    errno = 0;
    *epoch = strtoull(c, &end, 16);
    if (*end != '.' || !is_hex(end[1]))
        return false;
    *id = strtoull(end + 1, &end, 16);
    if (*end != '.')
        return false;
    for (p = end + 1; p < end + 17; p++)
        if (!is_hex(*p))
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
    n = map_get(h->streams_by_id, (int64_t)id);
    if (!n)
        return NULL;
    s = (struct hub_stream *)((char *)n - offsetof(struct hub_stream, idn));
    /* Everything after seq must still be here: seq + 1 >= q_seq, and seq
     * must be a number this stream has handed out. */
    if (s->secret != secret || (user_id && s->user->n.key != user_id) || s->state != HUB_S_LIVE ||
        s->kicked || seq + 1 < s->q_seq || seq >= s->q_seq + s->q_len)
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
            stream_free(s);
        else
            stream_trim(s, now);
    }
    map_each(h->chats, chat_tick, h);
    hub_kick_pending(h);
}

int hub_cursor_format(const struct hub_stream *s, uint64_t seq, char *out)
{
    return snprintf(out, HUB_CURSOR_MAX, "%" PRIx64 ".%" PRIx64 ".%016" PRIx64 ".%" PRIu64,
                    s->hub->epoch, s->id, s->secret, seq);
}

int64_t hub_stream_user_id(const struct hub_stream *s)
{
    return s->user->n.key;
}

/* ---- Redis replies ---- */

static struct hub_node *node_get(struct hub *h, enum hub_chan_kind kind, int64_t id)
{
    return map_get(kind == HUB_CHAN_USER ? h->users : h->chats, id);
}

void hub_on_subscribed(struct hub *h, enum hub_chan_kind kind, int64_t id)
{
    struct hub_node *n = node_get(h, kind, id);

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
            stream_check(s);
        }
    } else {
        struct hub_member *m, *next;

        for (m = ((struct hub_chat *)n)->members; m; m = next) {
            next = m->chat_next;
            m->stream->unconfirmed--;
            stream_check(m->stream);
        }
    }
    chan_unref(h, n);
    hub_kick_pending(h);
}

void hub_on_unsubscribed(struct hub *h, enum hub_chan_kind kind, int64_t id)
{
    struct hub_node *n = node_get(h, kind, id);

    if (!n || n->state != CHAN_UNSUBSCRIBING)
        return;
    n->state = CHAN_IDLE;
    chan_sync(h, n);
}

/* Deliver ev to s through its member entry m (NULL: no version check).
 * Returns its sequence number in s's queue, 0 if not queued. */
static uint64_t stream_deliver(struct hub_stream *s, struct hub_member *m, struct hub_event *ev)
{
    if (m && ev->version) {
        if (ev->version <= m->version)
            return 0;
        m->version = ev->version;
    }
    return stream_push(s, ev);
}

/* ---- deleted messages: purge what the queues still hold (hub.h) ---- */

/* The queue entry of slot x if it still holds ev, else NULL; *sp gets its
 * stream. Stream ids are never reused and a slot keeps the event it was
 * given until it is trimmed or purged, so this is exact. */
static struct hub_qent *slot_entry(struct hub *h, const struct hub_slot *x,
                                   const struct hub_event *ev, struct hub_stream **sp)
{
    struct hub_node *n = map_get(h->streams_by_id, (int64_t)x->stream_id);
    struct hub_stream *s;
    struct hub_qent *e;

    if (!n)
        return NULL;
    s = (struct hub_stream *)((char *)n - offsetof(struct hub_stream, idn));
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
            msgent_free(x);
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
    r = event_build(ev->text + ev->type_off, ev->type_len, buf, n, false);
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
        msgent_free(x);
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
    int64_t uid = s->user->n.key;
    struct hub_member *m;

    if (hub_event_is(ev, "session.revoked")) {
        /* A control event from chat-api: act on it, never forward it. */
        if (ev->token_id ? ev->token_id == s->token_id
                         : ev->session_id == 0 || ev->session_id == s->session_id)
            stream_kick(s, HUB_KICK_REVOKED);
        return;
    }
    if (!ev->chat_id || !ev->version) {
        stream_push(s, ev);
        return;
    }
    m = stream_member(s, ev->chat_id);
    if (event_is_join(ev, uid)) {
        if (!m) {
            if (tomb_covers(s, ev->chat_id, ev->version))
                return;
            m = member_add(s, ev->chat_id, ev->version - 1);
        }
        stream_deliver(s, m, ev);
    } else if (event_is_leave(ev, uid)) {
        if (!m) {
            if (s->state < HUB_S_CHATS)
                tomb_add(s, ev->chat_id, ev->version);
            return;
        }
        if (ev->version <= m->version)
            return; /* stale: already past it */
        stream_deliver(s, m, ev);
        if (s->state < HUB_S_CHATS)
            tomb_add(s, ev->chat_id, ev->version); /* the baseline may predate it */
        member_remove(m);
        stream_check(s);
    } else if (m) {
        stream_deliver(s, m, ev);
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
    u = user_get(h, ev->user_id, false);
    for (s = u ? u->streams : NULL; s; s = s->user_next)
        if (s->state >= HUB_S_CHATS && !stream_member(s, c->n.key) &&
            !tomb_covers(s, c->n.key, ev->version))
            member_add(s, c->n.key, ev->version - 1);
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
        qseq = stream_deliver(s, m, ev);
        if (qseq && keep)
            chat_msg_slot(c, &x, ev, s, qseq);
        if (event_is_leave(ev, s->user->n.key)) {
            if (s->state < HUB_S_CHATS)
                tomb_add(s, c->n.key, ev->version);
            member_remove(m);
            stream_check(s);
        }
    }
    chan_unref(h, &c->n);
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
    struct hub_event *rs = hub_event_resync(c->n.key);
    struct hub_member *m;

    h->ngaveup++;
    log_warn("chat %" PRId64 ": gap after version %" PRId64 " not filled, resync", c->n.key,
             c->version);
    for (m = c->members; m; m = m->chat_next) {
        h->nresyncs++;
        stream_push(m->stream, rs);
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
    if (h->ops->fetch(h->ops_ctx, c->n.key, c->version) == 0)
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
    if (ev->chat_id && ev->chat_id != c->n.key)
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
    struct hub_node *n = node_get(h, kind, id);
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
        chan_unref(h, n);
        /* The chat's own copy may never come (a join before the SUBSCRIBE
         * reply, a leave after the UNSUBSCRIBE): the next version moves the
         * chat on and reaches its other members; anything else waits for
         * the chat channel or the backfill. */
        c = ev->chat_id && ev->version ? chat_get(h, ev->chat_id, 0, false) : NULL;
        if (c && ev->version == c->version + 1) {
            c->n.refs++;
            chat_event(h, c, ev);
            chan_unref(h, &c->n);
        }
    } else {
        n->refs++; /* hold c: its last member may leave */
        chat_event(h, (struct hub_chat *)n, ev);
        chan_unref(h, n);
    }
    hub_event_unref(ev);
    hub_kick_pending(h);
}

/* ---- backfill ---- */

static struct hub_chat *chat_hold_ref(struct hub *h, int64_t chat_id)
{
    struct hub_chat *c = chat_get(h, chat_id, 0, false);

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
    chan_unref(h, &c->n);
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
    chan_unref(h, &c->n);
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
    chan_unref(h, &c->n);
    hub_kick_pending(h);
}

size_t hub_chat_ids(const struct hub *h, int64_t *out, size_t max)
{
    size_t i, n = 0;

    for (i = 0; i < h->chats->cap && n < max; i++) {
        const struct hub_node *x;

        for (x = h->chats->slots[i]; x && n < max; x = x->hnext)
            if (((const struct hub_chat *)x)->members)
                out[n++] = x->key;
    }
    return n;
}

/* Give up on gaps held past HUB_HOLD_S. */
static void chat_tick(struct hub *h, struct hub_node *n)
{
    struct hub_chat *c = (struct hub_chat *)n;

    /* Forget message events no queue holds any more, oldest first. */
    while (c->msgs && !msgent_alive(h, c, c->msgs)) {
        struct hub_msgent *x = c->msgs;

        c->msgs = x->next;
        if (!c->msgs)
            c->msgs_tail = NULL;
        msgent_free(x);
    }
    if (c->held && h->now - c->held_since >= HUB_HOLD_S) {
        n->refs++;
        chat_give_up(h, c);
        chan_unref(h, n);
    }
}

/* ---- Redis connection ---- */

static void node_down(struct hub *h, struct hub_node *n)
{
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

static void node_up(struct hub *h, struct hub_node *n)
{
    chan_sync(h, n);
}

void hub_redis_down(struct hub *h)
{
    struct hub_stream *s;

    if (!h->redis_up)
        return;
    h->redis_up = false;
    map_each(h->users, node_down, h);
    map_each(h->chats, node_down, h);
    for (s = h->streams; s; s = s->all_next)
        if (s->state == HUB_S_LIVE)
            s->needs_resync = true;
}

void hub_redis_up(struct hub *h)
{
    h->redis_up = true;
    h->redis_gen++;
    map_each(h->users, node_up, h);
    map_each(h->chats, node_up, h);
}

/* ---- the hub ---- */

void hub_init(struct hub *h, const struct hub_ops *ops, void *ops_ctx, uint64_t epoch)
{
    memset(h, 0, sizeof(*h));
    h->ops = ops;
    h->ops_ctx = ops_ctx;
    h->epoch = epoch;
    h->next_id = 1;
    h->users = map_new();
    h->chats = map_new();
    h->streams_by_id = map_new();
    h->resync_all = hub_event_resync(0);
}

static void node_drop(struct hub *h, struct hub_node *n)
{
    node_free(h, n);
}

void hub_release(struct hub *h)
{
    while (h->streams)
        stream_free(h->streams);
    map_each(h->users, node_drop, h);
    map_each(h->chats, node_drop, h);
    free(h->users->slots);
    free(h->users);
    free(h->chats->slots);
    free(h->chats);
    free(h->streams_by_id->slots);
    free(h->streams_by_id);
    hub_event_unref(h->resync_all);
    h->users = h->chats = NULL;
    h->resync_all = NULL;
}

unsigned hub_user_nstreams(struct hub *h, int64_t user_id)
{
    struct hub_user *u = user_get(h, user_id, false);
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

    for (i = 0; i < h->users->cap; i++) {
        struct hub_node *n;

        for (n = h->users->slots[i]; n; n = n->hnext) {
            struct hub_stream *s;
            unsigned k = 0;

            for (s = ((struct hub_user *)n)->streams; s; s = s->user_next)
                k += s->ops != NULL;
            fn(arg, n->key, k);
        }
    }
}

size_t hub_count_chats(const struct hub *h)
{
    return h->chats->n;
}

size_t hub_count_users(const struct hub *h)
{
    return h->users->n;
}
