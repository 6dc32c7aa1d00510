/* rds_sub.c - chat-push's Redis connections: sharded subscribers, command
 * connections, the slot map (rds_sub.h).
 *
 * Each struct rconn is static (inside R.node[]), so an epoll report for a
 * connection closed in the same loop pass finds c == NULL and is ignored.
 * A connection is freed only by conn_drop, which first answers its pending
 * callbacks with NULL.
 */
#include "rds_sub.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "err.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "rcl.h"

#define RDS_RETRY_MS 500
#define RDS_PING_EVERY_MS 1000

enum conn_state { C_DOWN, C_CONNECTING, C_AUTH, C_READY };

/* A command's reply callback: reply NULL when the connection went away. */
typedef void pend_cb(void *arg, redisReply *reply);

struct pend {
    struct pend *next;
    pend_cb *cb; /* NULL: answer ignored */
    void *arg;
};

struct rconn {
    const char *role; /* "sub" or "cmd" */
    int node;         /* index in R.map.node */
    bool is_sub;
    redisContext *c; /* NULL while down */
    struct loop_io io;
    enum conn_state st;
    bool want_write;
    bool had;         /* was ready before: the next ready is a reconnect */
    bool auth_failed; /* the last AUTH was refused (logged once per streak) */
    int64_t started_ms, seen_ms, pinged_ms;
    struct pend *head, *tail; /* cmd: replies in order; sub: the AUTH only */
};

struct rnode {
    struct rconn sub, cmd;
};

/* Channels SUNSUBSCRIBEd and not yet confirmed: a "sunsubscribe" push for
 * any other is Redis moving a slot away (rds_sub.h). */
struct unsub {
    enum hub_chan_kind kind;
    int64_t id;
};

static struct {
    struct hub *hub;
    bool cluster;
    char *password;     /* NULL: no AUTH */
    struct rcl_map map; /* node table (seeds, masters) and the slot map */
    struct rnode node[RCL_NODES_MAX];
    bool master[RCL_NODES_MAX]; /* the node serves slots */
    bool up;                    /* the hub was told hub_redis_up */
    bool need_map;              /* read CLUSTER SLOTS before subscribing again */
    bool map_asked;             /* CLUSTER SLOTS in flight */
    bool reset;                 /* go down at the next tick (asked from inside a hub call) */
    struct unsub *unsubs;
    size_t nunsubs, unsubs_cap;
    uint64_t nreconnects;
} R;

uint64_t rds_reconnects(void)
{
    return R.nreconnects;
}

bool rds_ready(void)
{
    return R.up;
}

/* ---- connections ---- */

static void conn_events(struct rconn *rc)
{
    uint32_t ev = EPOLLIN | (rc->want_write ? EPOLLOUT : 0);

    if (rc->c && loop_io_set(&rc->io, rc->c->fd, ev))
        log_err("redis %s: epoll registration failed", rc->role);
}

static void go_down(const char *why);

static void conn_drop(struct rconn *rc, const char *why)
{
    struct pend *p, *next;

    if (!rc->c)
        return;
    if (why)
        log_warn("redis %s %s:%d: %s", rc->role, R.map.node[rc->node].host,
                 R.map.node[rc->node].port, why);
    loop_io_del(&rc->io);
    redisFree(rc->c);
    rc->c = NULL;
    rc->st = C_DOWN;
    rc->want_write = false;
    p = rc->head;
    rc->head = rc->tail = NULL;
    for (; p; p = next) {
        next = p->next;
        if (p->cb)
            p->cb(p->arg, NULL);
        free(p);
    }
    if (rc->is_sub)
        go_down("a subscriber connection was lost");
}

/* Queue the RESP command cmd (len bytes) on rc with callback cb. */
static int conn_send(struct rconn *rc, const char *cmd, size_t len, pend_cb *cb, void *arg)
{
    struct pend *p = NULL;

    if (!rc->c)
        return CHAT_ERR_REDIS;
    if (!rc->is_sub || rc->st == C_AUTH) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return CHAT_ERR_NOMEM;
        p->cb = cb;
        p->arg = arg;
    }
    if (redisAppendFormattedCommand(rc->c, cmd, len) != REDIS_OK) {
        free(p);
        return CHAT_ERR_REDIS;
    }
    if (p) {
        if (rc->tail)
            rc->tail->next = p;
        else
            rc->head = p;
        rc->tail = p;
    }
    if (!rc->want_write && rc->st != C_CONNECTING) {
        rc->want_write = true;
        conn_events(rc);
    }
    return 0;
}

static int conn_sendf(struct rconn *rc, pend_cb *cb, void *arg, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    int len, rc2;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return CHAT_ERR_NOMEM;
    rc2 = conn_send(rc, cmd, (size_t)len, cb, arg);
    redisFreeCommand(cmd);
    return rc2;
}

static bool all_subs_ready(void);

/* AUTH accepted (or none needed): the connection may carry commands. */
static void conn_ready(struct rconn *rc)
{
    rc->st = C_READY;
    if (rc->had)
        R.nreconnects++;
    rc->had = true;
    if (rc->auth_failed)
        log_info("redis %s: AUTH accepted again", rc->role);
    rc->auth_failed = false;
    log_info("redis %s: connected to %s:%d", rc->role, R.map.node[rc->node].host,
             R.map.node[rc->node].port);
    if (rc->is_sub && !R.up && !R.need_map && all_subs_ready()) {
        R.up = true;
        log_info("redis: every shard's subscriber is up");
        hub_redis_up(R.hub);
    }
}

static void on_auth(void *arg, redisReply *r)
{
    struct rconn *rc = arg;

    if (!r)
        return;
    if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
        conn_ready(rc);
        return;
    }
    if (!rc->auth_failed)
        log_err("redis %s: AUTH refused by %s:%d: %s (check redis_password_file); not ready, "
                "retrying",
                rc->role, R.map.node[rc->node].host, R.map.node[rc->node].port,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    rc->auth_failed = true;
    rc->st = C_DOWN; /* conn_io drops it after this reply */
}

/* The socket connected (first writable report). */
static void conn_connected(struct rconn *rc)
{
    int err = 0;
    socklen_t l = sizeof(err);

    if (getsockopt(rc->c->fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
        conn_drop(rc, strerror(err ? err : errno));
        return;
    }
    rc->c->flags |= REDIS_CONNECTED;
    rc->seen_ms = loop_now_ms();
    if (!R.password) {
        conn_ready(rc);
        return;
    }
    rc->st = C_AUTH;
    if (conn_sendf(rc, on_auth, rc, "AUTH %s", R.password))
        conn_drop(rc, "cannot send AUTH");
}

static void on_push(struct rconn *rc, redisReply *r);

static void conn_io(struct loop_io *io, uint32_t revents)
{
    struct rconn *rc = (struct rconn *)((char *)io - offsetof(struct rconn, io));
    void *reply;
    int done;

    if (!rc->c)
        return;
    if (rc->st == C_CONNECTING) {
        if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        rc->st = C_AUTH; /* conn_connected sets the real state */
        conn_connected(rc);
        if (!rc->c)
            return;
        rc->want_write = rc->c->obuf[0] != '\0';
        conn_events(rc);
        return;
    }
    if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (redisBufferRead(rc->c) != REDIS_OK) {
            conn_drop(rc, rc->c->errstr[0] ? rc->c->errstr : "connection closed");
            return;
        }
        while (rc->c) {
            reply = NULL;
            if (redisReaderGetReply(rc->c->reader, &reply) != REDIS_OK) {
                conn_drop(rc, "protocol error");
                return;
            }
            if (!reply)
                break;
            rc->seen_ms = loop_now_ms();
            if (rc->head) {
                struct pend *p = rc->head;

                rc->head = p->next;
                if (!rc->head)
                    rc->tail = NULL;
                if (p->cb)
                    p->cb(p->arg, reply);
                free(p);
            } else if (rc->is_sub) {
                on_push(rc, reply);
            }
            freeReplyObject(reply);
            if (rc->c && rc->st == C_DOWN) {
                conn_drop(rc, NULL); /* AUTH refused */
                return;
            }
        }
    }
    if (rc->c && (revents & EPOLLOUT)) {
        if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
            conn_drop(rc, rc->c->errstr[0] ? rc->c->errstr : "write failed");
            return;
        }
        if (done) {
            rc->want_write = false;
            conn_events(rc);
        }
    }
}

static void conn_start(struct rconn *rc, int64_t now)
{
    const struct rcl_node *n = &R.map.node[rc->node];

    rc->started_ms = now;
    rc->c = redisConnectNonBlock(n->host, n->port);
    if (!rc->c) {
        log_err("redis %s: out of memory", rc->role);
        return;
    }
    if (rc->c->err) {
        log_warn("redis %s %s:%d: connect failed: %s", rc->role, n->host, n->port, rc->c->errstr);
        redisFree(rc->c);
        rc->c = NULL;
        return;
    }
    rc->st = C_CONNECTING;
    rc->want_write = true;
    rc->io = (struct loop_io)LOOP_IO_INIT(conn_io);
    if (loop_io_set(&rc->io, rc->c->fd, EPOLLOUT)) {
        log_err("redis %s: epoll registration failed", rc->role);
        redisFree(rc->c);
        rc->c = NULL;
        rc->st = C_DOWN;
    }
}

/* ---- the slot map and the shards' state ---- */

static bool is_master(int i)
{
    return R.master[i];
}

/* Recompute R.master from the slot map. */
static void masters_set(void)
{
    memset(R.master, 0, sizeof(R.master));
    for (int s = 0; s < RCL_SLOTS; s++)
        if (R.map.slot_node[s] != RCL_NO_NODE)
            R.master[R.map.slot_node[s]] = true;
}

static bool all_subs_ready(void)
{
    bool any = false;

    for (int i = 0; i < R.map.nnodes; i++) {
        if (!is_master(i))
            continue;
        any = true;
        if (R.node[i].sub.st != C_READY)
            return false;
    }
    return any;
}

/* Every shard's subscription may have missed messages: tell the hub, drop
 * every subscriber (fresh subscriptions after the map is read again). While
 * down already, only the map is read again. */
static void go_down(const char *why)
{
    if (R.cluster)
        R.need_map = true;
    if (!R.up)
        return; /* the subscribers have no subscriptions yet */
    log_warn("redis: %s; resubscribing every shard", why);
    R.up = false;
    R.nunsubs = 0;
    hub_redis_down(R.hub);
    for (int i = 0; i < R.map.nnodes; i++)
        if (R.node[i].sub.c)
            conn_drop(&R.node[i].sub, NULL);
}

static void on_slots(void *arg, redisReply *r)
{
    struct rconn *rc = arg;
    struct rcl_map *m;

    R.map_asked = false;
    if (!r || r->type == REDIS_REPLY_ERROR)
        return;
    m = malloc(sizeof(*m));
    if (!m)
        return;
    if (rcl_map_parse_slots(m, r, R.map.node[rc->node].host) || m->nnodes == 0) {
        log_warn("redis: CLUSTER SLOTS: not a slot map");
        free(m);
        return;
    }
    for (int s = 0; s < RCL_SLOTS; s++) {
        int i = m->slot_node[s] == RCL_NO_NODE ? -1
                                               : rcl_map_node(&R.map, m->node[m->slot_node[s]].host,
                                                              m->node[m->slot_node[s]].port);

        R.map.slot_node[s] = i < 0 ? RCL_NO_NODE : (uint16_t)i;
    }
    free(m);
    masters_set();
    R.need_map = false;
}

/* Ask a live command connection for CLUSTER SLOTS. */
static void map_ask(void)
{
    for (int i = 0; i < R.map.nnodes && !R.map_asked; i++) {
        struct rconn *rc = &R.node[i].cmd;

        if (rc->st == C_READY && conn_sendf(rc, on_slots, rc, "CLUSTER SLOTS") == 0)
            R.map_asked = true;
    }
}

/* The shard (node index) serving key (len bytes), or -1. */
static int node_of(const char *key, size_t len)
{
    int i = R.map.slot_node[rcl_key_slot(key, len)];

    return i == RCL_NO_NODE ? -1 : i;
}

/* ---- subscriber connections ---- */

/* The channel of kind and id (lib/keys.h) into out, KEY_MAX bytes. */
static int channel_name(char *out, enum hub_chan_kind kind, int64_t id)
{
    return kind == HUB_CHAN_USER ? key_user(out, id) : key_chat(out, id);
}

static bool unsub_take(enum hub_chan_kind kind, int64_t id)
{
    for (size_t i = 0; i < R.nunsubs; i++)
        if (R.unsubs[i].kind == kind && R.unsubs[i].id == id) {
            R.unsubs[i] = R.unsubs[--R.nunsubs];
            return true;
        }
    return false;
}

static void on_push(struct rconn *rc, redisReply *r)
{
    redisReply *kind, *ch;
    enum hub_chan_kind k;
    int64_t id;

    if (r->type == REDIS_REPLY_ERROR) {
        /* -MOVED to SSUBSCRIBE: the slot is served elsewhere now. */
        log_warn("redis sub: %s", r->str);
        R.reset = true;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return; /* +PONG before the first subscription */
    kind = r->element[0];
    ch = r->element[1];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
        return;
    if (key_channel_id(ch->str, ch->len, KEY_CHAT_PREFIX, &id))
        k = HUB_CHAN_CHAT;
    else if (key_channel_id(ch->str, ch->len, KEY_USER_PREFIX, &id))
        k = HUB_CHAN_USER;
    else
        return; /* ["pong", ""] */
    if (strcmp(kind->str, "smessage") == 0) {
        if (r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING)
            hub_on_message(R.hub, k, id, r->element[2]->str, r->element[2]->len);
    } else if (strcmp(kind->str, "ssubscribe") == 0) {
        hub_on_subscribed(R.hub, k, id);
    } else if (strcmp(kind->str, "sunsubscribe") == 0) {
        if (unsub_take(k, id)) {
            hub_on_unsubscribed(R.hub, k, id);
        } else {
            log_warn("redis sub: %.*s unsubscribed by Redis (slot moved)", (int)ch->len, ch->str);
            R.reset = true;
        }
    }
}

/* The ready subscriber of channel ch, or NULL (then go down at the next
 * tick when it should have been there). */
static struct rconn *sub_of(const char *ch, int len)
{
    int i;

    if (!R.up)
        return NULL;
    i = node_of(ch, (size_t)len);
    if (i >= 0 && R.node[i].sub.st == C_READY)
        return &R.node[i].sub;
    R.reset = true;
    return NULL;
}

int rds_subscribe(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    char ch[KEY_MAX];
    int len = channel_name(ch, kind, id);
    struct rconn *rc = sub_of(ch, len);

    if (!rc || conn_sendf(rc, NULL, NULL, "SSUBSCRIBE %s", ch))
        return CHAT_ERR_REDIS;
    return 0;
}

int rds_unsubscribe(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    char ch[KEY_MAX];
    int len = channel_name(ch, kind, id);
    struct rconn *rc = sub_of(ch, len);

    if (!rc)
        return CHAT_ERR_REDIS;
    if (R.nunsubs == R.unsubs_cap) {
        size_t cap = R.unsubs_cap ? 2 * R.unsubs_cap : 64;
        struct unsub *u = realloc(R.unsubs, cap * sizeof(*u));

        if (!u)
            return CHAT_ERR_NOMEM;
        R.unsubs = u;
        R.unsubs_cap = cap;
    }
    if (conn_sendf(rc, NULL, NULL, "SUNSUBSCRIBE %s", ch))
        return CHAT_ERR_REDIS;
    R.unsubs[R.nunsubs++] = (struct unsub){kind, id};
    return 0;
}

/* ---- set up, tick ---- */

static void node_init(int i)
{
    R.node[i].sub = (struct rconn){.role = "sub", .node = i, .is_sub = true};
    R.node[i].cmd = (struct rconn){.role = "cmd", .node = i};
    R.node[i].sub.io = (struct loop_io)LOOP_IO_INIT(conn_io);
    R.node[i].cmd.io = (struct loop_io)LOOP_IO_INIT(conn_io);
    R.node[i].sub.started_ms = R.node[i].cmd.started_ms = -RDS_RETRY_MS;
}

int rds_init(struct hub *h, const char *cluster, const char *host, int port, const char *password)
{
    R.hub = h;
    R.password = password ? strdup(password) : NULL;
    R.cluster = cluster && cluster[0];
    if (R.cluster) {
        struct rcl_node seeds[RCL_NODES_MAX];
        int n = rcl_parse_seeds(cluster, seeds, RCL_NODES_MAX);

        if (n <= 0) {
            log_err("redis_cluster: not host:port,...: %s", cluster);
            return CHAT_ERR_INVALID;
        }
        R.map.nnodes = 0;
        for (int i = 0; i < n; i++)
            rcl_map_node(&R.map, seeds[i].host, seeds[i].port);
        for (int s = 0; s < RCL_SLOTS; s++)
            R.map.slot_node[s] = RCL_NO_NODE;
        R.need_map = true;
    } else {
        rcl_map_single(&R.map, host, port, NULL);
    }
    for (int i = 0; i < RCL_NODES_MAX; i++)
        node_init(i);
    masters_set();
    rds_tick(loop_now_ms());
    return 0;
}

/* Liveness of one connection: PING, drop on silence or a stuck connect. */
static void conn_tick(struct rconn *rc, int64_t now)
{
    if (!rc->c)
        return;
    if (rc->st != C_READY) {
        if (now - rc->started_ms > RDS_HB_TIMEOUT_MS)
            conn_drop(rc, "no answer to connect or AUTH");
        return;
    }
    if (now - rc->seen_ms > RDS_HB_TIMEOUT_MS) {
        conn_drop(rc, "no answer to PING, reconnecting");
        return;
    }
    if (now - rc->pinged_ms >= RDS_PING_EVERY_MS) {
        rc->pinged_ms = now;
        conn_sendf(rc, NULL, NULL, "PING");
    }
}

void rds_tick(int64_t now)
{
    if (R.reset) {
        R.reset = false;
        go_down("a shard's slots moved");
    }
    for (int i = 0; i < R.map.nnodes; i++) {
        conn_tick(&R.node[i].sub, now);
        conn_tick(&R.node[i].cmd, now);
    }
    if (R.need_map && !R.map_asked) {
        map_ask();
        /* No live command connection: open one to every known node. */
        for (int i = 0; i < R.map.nnodes && !R.map_asked; i++) {
            struct rconn *rc = &R.node[i].cmd;

            if (!rc->c && now - rc->started_ms >= RDS_RETRY_MS)
                conn_start(rc, now);
        }
    }
    if (R.need_map)
        return;
    for (int i = 0; i < R.map.nnodes; i++) {
        if (!is_master(i))
            continue;
        if (!R.node[i].cmd.c && now - R.node[i].cmd.started_ms >= RDS_RETRY_MS)
            conn_start(&R.node[i].cmd, now);
        if (!R.node[i].sub.c && now - R.node[i].sub.started_ms >= RDS_RETRY_MS)
            conn_start(&R.node[i].sub, now);
    }
    /* A master we cannot reach while down: its replica may be taking over. */
    if (R.cluster && !R.up)
        for (int i = 0; i < R.map.nnodes; i++)
            if (is_master(i) && !R.node[i].sub.c && R.node[i].sub.had)
                R.need_map = true;
}

void rds_close(void)
{
    for (int i = 0; i < R.map.nnodes; i++) {
        if (R.node[i].sub.c) {
            loop_io_del(&R.node[i].sub.io);
            redisFree(R.node[i].sub.c);
            R.node[i].sub.c = NULL;
        }
        conn_drop(&R.node[i].cmd, NULL);
    }
    free(R.password);
    R.password = NULL;
    free(R.unsubs);
    R.unsubs = NULL;
}

/* ---- commands ---- */

/* The ready command connection for the RESP command cmd, or NULL. */
static struct rconn *cmd_conn(const char *cmd, size_t len)
{
    const char *key;
    size_t keylen;
    int k = rcl_cmd_key(cmd, len, &key, &keylen), i;

    if (k < 0)
        return NULL;
    i = k ? node_of(key, keylen) : R.map.slot_node[0];
    if (i < 0 || i == RCL_NO_NODE || R.node[i].cmd.st != C_READY)
        return NULL;
    return &R.node[i].cmd;
}

/* A fire-and-forget reply: a -MOVED means the map is stale. */
static void on_ignored(void *arg, redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "MOVED ", 6) == 0 && R.cluster)
        R.need_map = true;
}

int rds_command(const char *fmt, ...)
{
    struct rconn *rc;
    char *cmd;
    va_list ap;
    int len, rc2;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return CHAT_ERR_NOMEM;
    rc = cmd_conn(cmd, (size_t)len);
    rc2 = rc ? conn_send(rc, cmd, (size_t)len, on_ignored, NULL) : CHAT_ERR_REDIS;
    redisFreeCommand(cmd);
    return rc2 ? CHAT_ERR_REDIS : 0;
}

/* ---- tickets ---- */

struct ticket_req {
    rds_ticket_cb *cb;
    void *arg;
    bool redirected;
    char key[KEY_MAX];
};

static void on_ticket(void *arg, redisReply *r)
{
    struct ticket_req *t = arg;
    char host[RCL_HOST_MAX];
    int slot, port, kind, i;

    if (r && r->type == REDIS_REPLY_ERROR && !t->redirected &&
        (kind = rcl_parse_redirect(r->str, r->len, &slot, host, sizeof(host), &port)) &&
        (i = rcl_map_node(&R.map, host, port)) >= 0 && R.node[i].cmd.st == C_READY) {
        struct rconn *rc = &R.node[i].cmd;

        t->redirected = true;
        if (kind == RCL_MOVED) {
            R.map.slot_node[slot] = (uint16_t)i;
            R.need_map = true;
        }
        if ((kind == RCL_MOVED || conn_sendf(rc, NULL, NULL, "ASKING") == 0) &&
            conn_sendf(rc, on_ticket, t, "GETDEL %s", t->key) == 0)
            return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR)
        t->cb(t->arg, CHAT_ERR_REDIS, NULL, 0);
    else if (r->type == REDIS_REPLY_STRING)
        t->cb(t->arg, 0, r->str, r->len);
    else
        t->cb(t->arg, CHAT_ERR_NOT_FOUND, NULL, 0);
    free(t);
}

int rds_ticket_take(const char *hex, rds_ticket_cb *cb, void *arg)
{
    struct ticket_req *t;
    struct rconn *rc;
    int len, i;

    t = calloc(1, sizeof(*t));
    if (!t)
        return CHAT_ERR_NOMEM;
    t->cb = cb;
    t->arg = arg;
    len = key_ticket(t->key, hex);
    i = node_of(t->key, (size_t)len);
    rc = i >= 0 ? &R.node[i].cmd : NULL;
    if (!rc || rc->st != C_READY || conn_sendf(rc, on_ticket, t, "GETDEL %s", t->key)) {
        free(t);
        return CHAT_ERR_REDIS;
    }
    return 0;
}
