/* rds_sub.c - hiredis async adapter for our epoll loop, subscriptions, tickets.
 *
 * The adapter keeps one struct loop_io per context slot (static), so an
 * epoll report that arrives after hiredis freed a context finds ac == NULL
 * and is ignored. Contexts are only ever freed by hiredis itself (on error)
 * or by rds_tick (never from inside a hiredis callback), and only created
 * by rds_tick, so a slot's context never changes under a running callback.
 */
#include "rds_sub.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "err.h"
#include "keys.h"
#include "log.h"
#include "loop.h"

#define RDS_RETRY_MS 1000
#define RDS_HB_EVERY_MS 1000

struct rds_conn {
    const char *name;
    redisAsyncContext *ac; /* NULL while down */
    struct loop_io io;
    bool reading, writing;
    bool connected;   /* connected and, with a password, AUTH accepted */
    bool auth_failed; /* the last AUTH was refused (logged once per streak) */
    bool had;         /* was connected before: the next connect is a reconnect */
    int64_t last_attempt_ms;
};

static uint64_t rds_nreconnects;

uint64_t rds_reconnects(void)
{
    return rds_nreconnects;
}

static struct {
    struct hub *hub;
    char *host;
    int port;
    char *password; /* NULL: no AUTH */
    char hb_channel[96];
    struct rds_conn sub, cmd;
    bool hb_subscribed;
    int64_t last_hb_seen_ms, last_hb_sent_ms;
} R;

/* ---- adapter ---- */

static void conn_update(struct rds_conn *c)
{
    uint32_t ev = (c->reading ? EPOLLIN : 0) | (c->writing ? EPOLLOUT : 0);

    if (c->ac && loop_io_set(&c->io, c->ac->c.fd, ev))
        log_err("redis %s: epoll registration failed", c->name);
}

static void ev_add_read(void *p)
{
    struct rds_conn *c = p;

    if (!c->reading) {
        c->reading = true;
        conn_update(c);
    }
}

static void ev_del_read(void *p)
{
    struct rds_conn *c = p;

    if (c->reading) {
        c->reading = false;
        conn_update(c);
    }
}

static void ev_add_write(void *p)
{
    struct rds_conn *c = p;

    if (!c->writing) {
        c->writing = true;
        conn_update(c);
    }
}

static void ev_del_write(void *p)
{
    struct rds_conn *c = p;

    if (c->writing) {
        c->writing = false;
        conn_update(c);
    }
}

/* hiredis is about to free the context (its fd still open). */
static void ev_cleanup(void *p)
{
    struct rds_conn *c = p;

    loop_io_del(&c->io);
    c->reading = c->writing = false;
    c->ac = NULL;
}

static void conn_io(struct loop_io *io, uint32_t revents)
{
    struct rds_conn *c = (struct rds_conn *)((char *)io - offsetof(struct rds_conn, io));

    if (c->ac && (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        redisAsyncHandleRead(c->ac);
    if (c->ac && (revents & EPOLLOUT))
        redisAsyncHandleWrite(c->ac);
}

/* ---- subscribed context ---- */

/* Parse "<prefix><digits>" into an id. */

static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r, *kind, *ch;
    enum hub_chan_kind k;
    int64_t id;

    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    kind = reply->element[0];
    ch = reply->element[1];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
        return;
    if (ch->len == strlen(R.hb_channel) && memcmp(ch->str, R.hb_channel, ch->len) == 0) {
        if (strcmp(kind->str, "subscribe") == 0)
            R.hb_subscribed = true;
        R.last_hb_seen_ms = loop_now_ms();
        return;
    }
    if (key_channel_id(ch->str, ch->len, KEY_CHAT_PREFIX, &id))
        k = HUB_CHAN_CHAT;
    else if (key_channel_id(ch->str, ch->len, KEY_USER_PREFIX, &id))
        k = HUB_CHAN_USER;
    else
        return;
    if (strcmp(kind->str, "message") == 0) {
        if (reply->element[2]->type == REDIS_REPLY_STRING)
            hub_on_message(R.hub, k, id, reply->element[2]->str, reply->element[2]->len);
    } else if (strcmp(kind->str, "subscribe") == 0) {
        hub_on_subscribed(R.hub, k, id);
    } else if (strcmp(kind->str, "unsubscribe") == 0) {
        hub_on_unsubscribed(R.hub, k, id);
    }
}

/* The channel of kind and id (lib/keys.h) into out, KEY_MAX bytes. */
static const char *channel_name(char *out, enum hub_chan_kind kind, int64_t id)
{
    if (kind == HUB_CHAN_USER)
        key_user(out, id);
    else
        key_chat(out, id);
    return out;
}

int rds_subscribe(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    char ch[KEY_MAX];

    if (!R.sub.connected)
        return CHAT_ERR_REDIS;
    if (redisAsyncCommand(R.sub.ac, on_sub_reply, NULL, "SUBSCRIBE %s",
                          channel_name(ch, kind, id)) != REDIS_OK)
        return CHAT_ERR_REDIS;
    return 0;
}

int rds_unsubscribe(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    char ch[KEY_MAX];

    if (!R.sub.connected)
        return CHAT_ERR_REDIS;
    if (redisAsyncCommand(R.sub.ac, on_sub_reply, NULL, "UNSUBSCRIBE %s",
                          channel_name(ch, kind, id)) != REDIS_OK)
        return CHAT_ERR_REDIS;
    return 0;
}

bool rds_ready(void)
{
    return R.sub.connected && R.hb_subscribed;
}

/* ---- connections ---- */

static struct rds_conn *conn_of(const redisAsyncContext *ac)
{
    return ac->data;
}

/* The context may carry commands now: AUTH (if any) was accepted. */
static void conn_ready(struct rds_conn *c)
{
    c->connected = true;
    if (c->had)
        rds_nreconnects++;
    c->had = true;
    if (c->auth_failed)
        log_info("redis %s: AUTH accepted again", c->name);
    c->auth_failed = false;
    log_info("redis %s: connected to %s:%d", c->name, R.host, R.port);
    if (c == &R.sub) {
        R.last_hb_seen_ms = loop_now_ms();
        redisAsyncCommand(c->ac, on_sub_reply, NULL, "SUBSCRIBE %s", R.hb_channel);
        hub_redis_up(R.hub);
    }
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rds_conn *c = conn_of(ac);
    redisReply *reply = r;

    if (!reply)
        return; /* the context is going away; on_disconnect follows */
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) {
        conn_ready(c);
        return;
    }
    if (!c->auth_failed)
        log_err("redis %s: AUTH refused by %s:%d: %s (check redis_password_file); not ready, "
                "retrying",
                c->name, R.host, R.port,
                reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    c->auth_failed = true;
    redisAsyncDisconnect(ac); /* after this callback returns */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rds_conn *c = conn_of(ac);

    if (status != REDIS_OK) {
        log_warn("redis %s: connect failed: %s", c->name, ac->errstr);
        return; /* hiredis frees the context */
    }
    if (!R.password) {
        conn_ready(c);
        return;
    }
    if (redisAsyncCommand(c->ac, on_auth, NULL, "AUTH %s", R.password) != REDIS_OK)
        log_warn("redis %s: cannot send AUTH", c->name); /* rds_tick drops it */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rds_conn *c = conn_of(ac);

    c->connected = false;
    c->ac = NULL;
    if (status != REDIS_OK)
        log_warn("redis %s: disconnected: %s", c->name, ac->errstr);
    if (c == &R.sub) {
        R.hb_subscribed = false;
        hub_redis_down(R.hub);
    }
}

static void conn_start(struct rds_conn *c, int64_t now)
{
    redisAsyncContext *ac;

    c->last_attempt_ms = now;
    ac = redisAsyncConnect(R.host, R.port);
    if (!ac) {
        log_err("redis %s: out of memory", c->name);
        return;
    }
    if (ac->err) {
        log_warn("redis %s: connect failed: %s", c->name, ac->errstr);
        redisAsyncFree(ac);
        return;
    }
    c->ac = ac;
    c->reading = c->writing = false;
    ac->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Last: it asks for the first write event, which completes the connect. */
    redisAsyncSetConnectCallback(ac, on_connect);
}

static void conn_drop(struct rds_conn *c)
{
    if (c->ac)
        redisAsyncFree(c->ac); /* runs callbacks with NULL, then on_disconnect */
    c->ac = NULL;
    c->connected = false;
}

int rds_init(struct hub *h, const char *host, int port, const char *password, const char *node)
{
    R.hub = h;
    R.host = strdup(host);
    R.password = password ? strdup(password) : NULL;
    R.port = port;
    snprintf(R.hb_channel, sizeof(R.hb_channel), "hb:%s", node);
    R.sub.name = "sub";
    R.cmd.name = "cmd";
    R.sub.io = (struct loop_io)LOOP_IO_INIT(conn_io);
    R.cmd.io = (struct loop_io)LOOP_IO_INIT(conn_io);
    R.sub.last_attempt_ms = R.cmd.last_attempt_ms = -RDS_RETRY_MS;
    rds_tick(loop_now_ms());
    return 0;
}

void rds_tick(int64_t now)
{
    if (R.sub.connected && now - R.last_hb_seen_ms > RDS_HB_TIMEOUT_MS) {
        log_warn("redis: no heartbeat for %d ms, reconnecting", (int)(now - R.last_hb_seen_ms));
        conn_drop(&R.sub);
        conn_drop(&R.cmd);
        R.sub.last_attempt_ms = R.cmd.last_attempt_ms = now - RDS_RETRY_MS;
    }
    /* A connect or AUTH that got no answer in time: start again. */
    if (R.sub.ac && !R.sub.connected && now - R.sub.last_attempt_ms > RDS_HB_TIMEOUT_MS)
        conn_drop(&R.sub);
    if (R.cmd.ac && !R.cmd.connected && now - R.cmd.last_attempt_ms > RDS_HB_TIMEOUT_MS)
        conn_drop(&R.cmd);
    if (!R.sub.ac && now - R.sub.last_attempt_ms >= RDS_RETRY_MS)
        conn_start(&R.sub, now);
    if (!R.cmd.ac && now - R.cmd.last_attempt_ms >= RDS_RETRY_MS)
        conn_start(&R.cmd, now);
    if (R.cmd.connected && now - R.last_hb_sent_ms >= RDS_HB_EVERY_MS) {
        R.last_hb_sent_ms = now;
        redisAsyncCommand(R.cmd.ac, NULL, NULL, "PUBLISH %s %" PRId64, R.hb_channel, now);
    }
}

void rds_close(void)
{
    conn_drop(&R.sub);
    conn_drop(&R.cmd);
    free(R.host);
    R.host = NULL;
    free(R.password);
    R.password = NULL;
}

int rds_command(const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (!R.cmd.connected)
        return CHAT_ERR_REDIS;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(R.cmd.ac, NULL, NULL, fmt, ap);
    va_end(ap);
    return rc == REDIS_OK ? 0 : CHAT_ERR_REDIS;
}

/* ---- tickets ---- */

struct ticket_req {
    rds_ticket_cb *cb;
    void *arg;
};

static void on_ticket(redisAsyncContext *ac, void *r, void *privdata)
{
    struct ticket_req *t = privdata;
    redisReply *reply = r;

    if (!reply || reply->type == REDIS_REPLY_ERROR)
        t->cb(t->arg, CHAT_ERR_REDIS, NULL, 0);
    else if (reply->type == REDIS_REPLY_STRING)
        t->cb(t->arg, 0, reply->str, reply->len);
    else
        t->cb(t->arg, CHAT_ERR_NOT_FOUND, NULL, 0);
    free(t);
}

int rds_ticket_take(const char *hex, rds_ticket_cb *cb, void *arg)
{
    struct ticket_req *t;
    char key[KEY_MAX];

    if (!R.cmd.connected)
        return CHAT_ERR_REDIS;
    t = malloc(sizeof(*t));
    if (!t)
        return CHAT_ERR_NOMEM;
    t->cb = cb;
    t->arg = arg;
    key_ticket(key, hex);
    if (redisAsyncCommand(R.cmd.ac, on_ticket, t, "GETDEL %s", key) != REDIS_OK) {
        free(t);
        return CHAT_ERR_REDIS;
    }
    return 0;
}
