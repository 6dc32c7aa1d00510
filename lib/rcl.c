/* rcl.c - Redis Cluster routing and the blocking client (rcl.h). */
#include "rcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "rds.h"

#define RCL_REDIRECTS_MAX 5

/* ---- pure parts ---- */

uint16_t rcl_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int rcl_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    if (open) {
        close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
        if (close && close > open + 1)
            return rcl_crc16(open + 1, (size_t)(close - open - 1)) & (RCL_SLOTS - 1);
    }
    return rcl_crc16(key, len) & (RCL_SLOTS - 1);
}

static void node_set(struct rcl_node *n, const char *host, int port, const char *socket)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->host, sizeof(n->host), "%s", host ? host : "");
    n->port = port;
    snprintf(n->socket, sizeof(n->socket), "%s", socket ? socket : "");
}

void rcl_map_single(struct rcl_map *m, const char *host, int port, const char *socket)
{
    m->nnodes = 1;
    node_set(&m->node[0], host, port, socket);
    memset(m->slot_node, 0, sizeof(m->slot_node));
}

int rcl_map_node(struct rcl_map *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->node[i].port == port && strcmp(m->node[i].host, host) == 0)
            return i;
    if (m->nnodes == RCL_NODES_MAX)
        return -1;
    node_set(&m->node[m->nnodes], host, port, NULL);
    return m->nnodes++;
}

int rcl_map_parse_slots(struct rcl_map *m, const redisReply *r, const char *asked_host)
{
    struct rcl_map *n;
    char host[RCL_HOST_MAX];

    if (!r || r->type != REDIS_REPLY_ARRAY)
        return -1;
    n = malloc(sizeof(*n));
    if (!n)
        return -1;
    n->nnodes = 0;
    for (int s = 0; s < RCL_SLOTS; s++)
        n->slot_node[s] = RCL_NO_NODE;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *mn;
        long long lo, hi;
        int idx;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            goto bad;
        lo = e->element[0]->integer;
        hi = e->element[1]->integer;
        mn = e->element[2];
        if (lo < 0 || hi >= RCL_SLOTS || lo > hi || mn->type != REDIS_REPLY_ARRAY ||
            mn->elements < 2 || mn->element[0]->type != REDIS_REPLY_STRING ||
            mn->element[1]->type != REDIS_REPLY_INTEGER || mn->element[1]->integer <= 0 ||
            mn->element[1]->integer > 65535 || mn->element[0]->len >= sizeof(host))
            goto bad;
        snprintf(host, sizeof(host), "%s", mn->element[0]->len ? mn->element[0]->str : asked_host);
        idx = rcl_map_node(n, host, (int)mn->element[1]->integer);
        if (idx < 0)
            goto bad;
        for (long long s = lo; s <= hi; s++)
            n->slot_node[s] = (uint16_t)idx;
    }
    memcpy(m, n, sizeof(*m));
    free(n);
    return 0;
bad:
    free(n);
    return -1;
}

int rcl_parse_redirect(const char *err, size_t len, int *slot, char *host, size_t hostlen,
                       int *port)
{
    const char *p, *end = err + len, *colon, *sp;
    int kind;
    long v;

    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        kind = RCL_MOVED;
        p = err + 6;
    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        kind = RCL_ASK;
        p = err + 4;
    } else {
        return 0;
    }
    for (v = 0, sp = p; sp < end && *sp >= '0' && *sp <= '9'; sp++)
        if ((v = v * 10 + (*sp - '0')) >= RCL_SLOTS)
            return 0;
    if (sp == p || sp == end || *sp != ' ')
        return 0;
    *slot = (int)v;
    p = sp + 1;
    for (colon = NULL, sp = p; sp < end; sp++)
        if (*sp == ':')
            colon = sp; /* the last one: an IPv6 address has several */
    if (!colon || colon == p || (size_t)(colon - p) >= hostlen || colon + 1 == end)
        return 0;
    for (v = 0, sp = colon + 1; sp < end; sp++) {
        if (*sp < '0' || *sp > '9' || (v = v * 10 + (*sp - '0')) > 65535)
            return 0;
    }
    if (v == 0)
        return 0;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    *port = (int)v;
    return kind;
}

/* Argument i of a RESP command array: *arg, *alen. Returns 0 or -1. */
static int resp_arg(const char *cmd, size_t len, int i, const char **arg, size_t *alen, long *argc)
{
    const char *p = cmd, *end = cmd + len;
    char *e;
    long n;

    if (len < 4 || *p != '*')
        return -1;
    n = strtol(p + 1, &e, 10);
    if (e + 2 > end || e[0] != '\r' || n < 1)
        return -1;
    *argc = n;
    p = e + 2;
    for (int k = 0; k < n && k <= i; k++) {
        long l;

        if (p >= end || *p != '$')
            return -1;
        l = strtol(p + 1, &e, 10);
        if (l < 0 || e + 2 > end || e[0] != '\r' || (size_t)(end - (e + 2)) < (size_t)l + 2)
            return -1;
        if (k == i) {
            *arg = e + 2;
            *alen = (size_t)l;
            return 0;
        }
        p = e + 2 + l + 2;
    }
    return -1;
}

static bool arg_is(const char *a, size_t alen, const char *word)
{
    return alen == strlen(word) && strncasecmp(a, word, alen) == 0;
}

int rcl_cmd_key(const char *cmd, size_t len, const char **key, size_t *keylen)
{
    static const char *keyless[] = {"PING", "SCRIPT", "AUTH", "INFO", "CLUSTER", "ASKING"};
    const char *a;
    size_t alen;
    long argc;

    if (resp_arg(cmd, len, 0, &a, &alen, &argc))
        return -1;
    for (size_t i = 0; i < sizeof(keyless) / sizeof(*keyless); i++)
        if (arg_is(a, alen, keyless[i]))
            return 0;
    if (arg_is(a, alen, "EVAL") || arg_is(a, alen, "EVALSHA")) {
        if (resp_arg(cmd, len, 2, &a, &alen, &argc))
            return -1;
        if (arg_is(a, alen, "0"))
            return 0;
        return resp_arg(cmd, len, 3, key, keylen, &argc) ? -1 : 1;
    }
    if (argc < 2)
        return 0;
    return resp_arg(cmd, len, 1, key, keylen, &argc) ? -1 : 1;
}

int rcl_parse_seeds(const char *s, struct rcl_node *nodes, int max)
{
    int n = 0;

    while (*s) {
        const char *end = strchr(s, ','), *colon;
        size_t l;
        char *e;
        long port;

        if (!end)
            end = s + strlen(s);
        while (*s == ' ')
            s++;
        l = (size_t)(end - s);
        while (l && s[l - 1] == ' ')
            l--;
        for (colon = NULL, e = (char *)s; e < s + l; e++)
            if (*e == ':')
                colon = e;
        if (!colon || colon == s || (size_t)(colon - s) >= RCL_HOST_MAX || n == max)
            return -1;
        port = strtol(colon + 1, &e, 10);
        if (e != s + l || port <= 0 || port > 65535)
            return -1;
        memset(&nodes[n], 0, sizeof(nodes[n]));
        memcpy(nodes[n].host, s, (size_t)(colon - s));
        nodes[n].port = (int)port;
        n++;
        s = *end ? end + 1 : end;
    }
    return n;
}

/* ---- blocking client ---- */

int rcl_init(struct rcl *c, const char *cluster_seeds, const char *host, int port,
             const char *socket, const char *password, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->timeout_ms = timeout_ms;
    c->password = password ? strdup(password) : NULL;
    if (cluster_seeds && cluster_seeds[0]) {
        c->cluster = true;
        c->nseeds = rcl_parse_seeds(cluster_seeds, c->seed, RCL_NODES_MAX);
        if (c->nseeds <= 0) {
            snprintf(c->errstr, sizeof(c->errstr), "redis_cluster: not host:port,...: %s",
                     cluster_seeds);
            return CHAT_ERR_INVALID;
        }
        c->map.nnodes = 0;
        for (int s = 0; s < RCL_SLOTS; s++)
            c->map.slot_node[s] = RCL_NO_NODE;
    } else {
        rcl_map_single(&c->map, host, port, socket);
    }
    return 0;
}

static void ctx_drop(struct rcl *c, int i)
{
    if (c->ctx[i])
        redisFree(c->ctx[i]);
    c->ctx[i] = NULL;
}

void rcl_reset(struct rcl *c)
{
    for (int i = 0; i < RCL_NODES_MAX; i++)
        ctx_drop(c, i);
}

void rcl_free(struct rcl *c)
{
    rcl_reset(c);
    free(c->password);
    c->password = NULL;
}

/* The open context of node i, connecting (with AUTH) if needed. */
static redisContext *ctx_of(struct rcl *c, int i)
{
    const struct rcl_node *n = &c->map.node[i];
    char err[200];
    int rc;

    if (c->ctx[i])
        return c->ctx[i];
    rc = rds_connect_blocking(n->host, n->port, n->socket, c->password, c->timeout_ms, &c->ctx[i],
                              err, sizeof(err));
    if (rc) {
        c->last_rc = rc;
        snprintf(c->errstr, sizeof(c->errstr), "%s:%d: %s", n->host, n->port, err);
        return NULL;
    }
    c->last_rc = 0;
    if (c->had[i])
        c->reconnects++;
    c->had[i] = true;
    return c->ctx[i];
}

/* CLUSTER SLOTS on ctx (of host); 0 when m was filled. */
static int slots_from(redisContext *ctx, const char *host, struct rcl_map *m)
{
    redisReply *r = redisCommand(ctx, "CLUSTER SLOTS");
    int rc = r && rcl_map_parse_slots(m, r, host) == 0 && m->nnodes > 0 ? 0 : -1;

    if (r)
        freeReplyObject(r);
    return rc;
}

/* Install map m: keep the contexts of nodes that stay, close the others. */
static void map_install(struct rcl *c, struct rcl_map *m)
{
    redisContext *ctx[RCL_NODES_MAX] = {0};
    bool had[RCL_NODES_MAX] = {0};

    for (int i = 0; i < c->map.nnodes; i++) {
        int j;

        for (j = 0; j < m->nnodes; j++)
            if (m->node[j].port == c->map.node[i].port &&
                strcmp(m->node[j].host, c->map.node[i].host) == 0)
                break;
        if (j < m->nnodes) {
            ctx[j] = c->ctx[i];
            had[j] = c->had[i];
        } else if (c->ctx[i]) {
            redisFree(c->ctx[i]);
        }
    }
    memcpy(&c->map, m, sizeof(*m));
    memcpy(c->ctx, ctx, sizeof(ctx));
    memcpy(c->had, had, sizeof(had));
}

int rcl_refresh(struct rcl *c)
{
    struct rcl_map *m;
    int rc = CHAT_ERR_REDIS;

    if (!c->cluster)
        return 0;
    m = malloc(sizeof(*m));
    if (!m)
        return CHAT_ERR_NOMEM;
    /* The masters we know first (their connections are open), then the seeds. */
    for (int i = 0; i < c->map.nnodes && rc; i++) {
        redisContext *ctx = ctx_of(c, i);

        if (!ctx)
            continue;
        if (slots_from(ctx, c->map.node[i].host, m) == 0)
            rc = 0;
        else if (ctx->err)
            ctx_drop(c, i);
    }
    for (int i = 0; i < c->nseeds && rc; i++) {
        redisContext *ctx;
        char err[200];

        if (rds_connect_blocking(c->seed[i].host, c->seed[i].port, NULL, c->password, c->timeout_ms,
                                 &ctx, err, sizeof(err)))
            continue;
        if (slots_from(ctx, c->seed[i].host, m) == 0)
            rc = 0;
        redisFree(ctx);
    }
    if (rc == 0)
        map_install(c, m);
    else
        snprintf(c->errstr, sizeof(c->errstr), "no Redis Cluster node gave its slot map");
    free(m);
    return rc;
}

/* The master serving slot (-1: any), refreshing an empty map; -1 if none. */
static int node_for(struct rcl *c, int slot)
{
    int i;

    if (c->map.nnodes == 0 && rcl_refresh(c))
        return -1;
    i = c->map.slot_node[slot < 0 ? 0 : slot];
    if (i == RCL_NO_NODE && rcl_refresh(c) == 0)
        i = c->map.slot_node[slot < 0 ? 0 : slot];
    if (i == RCL_NO_NODE) {
        snprintf(c->errstr, sizeof(c->errstr), "slot %d has no master", slot);
        return -1;
    }
    return i;
}

/* Send cmd to node i (ASKING first when asking). *sent: the command may
 * have reached Redis. NULL when no reply came (context dropped). */
static redisReply *send_to(struct rcl *c, int i, const char *cmd, size_t len, bool asking,
                           bool *sent)
{
    redisContext *ctx = ctx_of(c, i);
    redisReply *r = NULL, *a = NULL;

    *sent = false;
    if (!ctx)
        return NULL;
    *sent = true;
    if (asking)
        redisAppendCommand(ctx, "ASKING");
    redisAppendFormattedCommand(ctx, cmd, len);
    if (asking && redisGetReply(ctx, (void **)&a) == REDIS_OK)
        freeReplyObject(a);
    if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) {
        snprintf(c->errstr, sizeof(c->errstr), "%s:%d: %s", c->map.node[i].host,
                 c->map.node[i].port, ctx->errstr);
        ctx_drop(c, i);
        return NULL;
    }
    return r;
}

static redisReply *run(struct rcl *c, bool repeatable, const char *cmd, size_t len)
{
    const char *key;
    size_t keylen;
    int k = rcl_cmd_key(cmd, len, &key, &keylen), slot, i, rslot, port;
    bool asking = false, retried = false, sent;
    char host[RCL_HOST_MAX];

    if (k < 0) {
        snprintf(c->errstr, sizeof(c->errstr), "malformed command");
        return NULL;
    }
    slot = k ? rcl_key_slot(key, keylen) : -1;
    if ((i = node_for(c, slot)) < 0)
        return NULL;
    for (int n = 0; n <= RCL_REDIRECTS_MAX; n++) {
        redisReply *r = send_to(c, i, cmd, len, asking, &sent);
        int kind;

        asking = false;
        if (!r) {
            /* A lost master: the map may have changed (a failover). */
            if (!c->cluster || retried || (sent && !repeatable))
                return NULL;
            retried = true;
            if (rcl_refresh(c) || (i = node_for(c, slot)) < 0)
                return NULL;
            continue;
        }
        if (!c->cluster || r->type != REDIS_REPLY_ERROR)
            return r;
        kind = rcl_parse_redirect(r->str, r->len, &rslot, host, sizeof(host), &port);
        if (!kind)
            return r;
        freeReplyObject(r);
        if (kind == RCL_MOVED && rcl_refresh(c) == 0 && c->map.slot_node[rslot] != RCL_NO_NODE) {
            i = c->map.slot_node[rslot];
            continue;
        }
        if ((i = rcl_map_node(&c->map, host, port)) < 0) {
            snprintf(c->errstr, sizeof(c->errstr), "too many Redis nodes");
            return NULL;
        }
        if (kind == RCL_MOVED)
            c->map.slot_node[rslot] = (uint16_t)i;
        else
            asking = true;
    }
    snprintf(c->errstr, sizeof(c->errstr), "too many redirections");
    return NULL;
}

redisReply *rcl_commandv(struct rcl *c, bool repeatable, const char *fmt, va_list ap)
{
    char *cmd;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    redisReply *r;

    if (len < 0) {
        snprintf(c->errstr, sizeof(c->errstr), "cannot format command");
        return NULL;
    }
    r = run(c, repeatable, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return r;
}

redisReply *rcl_command(struct rcl *c, bool repeatable, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = rcl_commandv(c, repeatable, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *rcl_command_argv(struct rcl *c, bool repeatable, int argc, const char **argv,
                             const size_t *lens)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    redisReply *r;

    if (len < 0) {
        snprintf(c->errstr, sizeof(c->errstr), "cannot format command");
        return NULL;
    }
    r = run(c, repeatable, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return r;
}

bool rcl_colocated(const struct rcl *c, const char *a, const char *b)
{
    return !c->cluster || rcl_key_slot(a, strlen(a)) == rcl_key_slot(b, strlen(b));
}
