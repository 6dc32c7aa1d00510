/* rcl.h - Redis Cluster routing: key slots, the slot map, redirections,
 * and a small blocking client over hiredis 0.14 (which has no cluster
 * support, and Debian 12 packages no hiredis-cluster).
 *
 * Follows the Redis Cluster specification
 * (https://redis.io/docs/reference/cluster-spec/): "Key distribution model"
 * (slot = CRC16(key) mod 16384, CRC16-CCITT/XMODEM), "Hash tags" (only the
 * part between the first '{' and the first '}' after it is hashed, when not
 * empty), "Redirection and resharding" (-MOVED <slot> <host>:<port>,
 * -ASK <slot> <host>:<port>, ASKING), and the reply of CLUSTER SLOTS.
 *
 * Single mode is a map of one node owning every slot, so chat-api,
 * chat-notify and chat-push have one code path for both.
 */
#ifndef CHAT_RCL_H
#define CHAT_RCL_H

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RCL_SLOTS 16384
#define RCL_NODES_MAX 32
#define RCL_HOST_MAX 64
#define RCL_NO_NODE 0xffff

/* ---- pure parts (tests/unit/test_rcl.c) ---- */

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0) of len bytes. */
uint16_t rcl_crc16(const char *buf, size_t len);
/* The slot, 0..16383, of a key (or channel) of len bytes, its hash tag
 * honoured: "123456789" is 12739; "{user1000}.following" and
 * "{user1000}.followers" share a slot; "foo{}{bar}" hashes in full. */
int rcl_key_slot(const char *key, size_t len);

/* A node: host (an address, as CLUSTER SLOTS gives it) and port; socket, a
 * Unix socket path, only for single mode ("" otherwise). */
struct rcl_node {
    char host[RCL_HOST_MAX];
    int port;
    char socket[108];
};

/* Which master serves each slot. node[i] for i < nnodes; slot_node[s] an
 * index into node, or RCL_NO_NODE. */
struct rcl_map {
    int nnodes;
    struct rcl_node node[RCL_NODES_MAX];
    uint16_t slot_node[RCL_SLOTS];
};

/* A map of one node owning every slot (single mode). */
void rcl_map_single(struct rcl_map *m, const char *host, int port, const char *socket);
/* The index of host:port in m, adding it when missing; -1 when m is full. */
int rcl_map_node(struct rcl_map *m, const char *host, int port);
/* Fill m from a CLUSTER SLOTS reply r: an array of [start, end, [host,
 * port, id, ...], replicas...]; only the master (the first node entry) is
 * kept. An empty host means the node that answered: asked_host. Returns
 * 0, or -1 when r is not such a reply (m is then unchanged). */
int rcl_map_parse_slots(struct rcl_map *m, const redisReply *r, const char *asked_host);

/* A redirection parsed from an error reply's text (len bytes):
 * "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381". Returns 1 for
 * MOVED, 2 for ASK (slot, host, hostlen bytes, and port filled), 0 for any
 * other error. */
#define RCL_MOVED 1
#define RCL_ASK 2
int rcl_parse_redirect(const char *err, size_t len, int *slot, char *host, size_t hostlen,
                       int *port);

/* The routing key of a command formatted as RESP (redisFormatCommand):
 * argv[3] of EVAL/EVALSHA with numkeys > 0, none for commands without a
 * key (PING, SCRIPT, AUTH, INFO, CLUSTER, ASKING, EVAL with 0 keys), else
 * argv[1]. Sets *key (pointing into cmd) and *keylen and returns 1, or
 * returns 0 for no key (any node serves it), -1 for a malformed command. */
int rcl_cmd_key(const char *cmd, size_t len, const char **key, size_t *keylen);

/* ---- blocking client (chat-api workers, chat-notify) ---- */

/* One per thread. In cluster mode seeds are tried for the slot map; each
 * master gets one connection, opened on first use with AUTH. */
struct rcl {
    struct rcl_map map;
    bool cluster;
    int nseeds;
    struct rcl_node seed[RCL_NODES_MAX];
    char *password; /* NULL: no AUTH */
    int timeout_ms;
    redisContext *ctx[RCL_NODES_MAX]; /* by node index; NULL until used */
    bool had[RCL_NODES_MAX];          /* was open before: next open is a reconnect */
    uint64_t reconnects;              /* connections opened again after one was lost */
    int last_rc;                      /* 0 or the CHAT_ERR_* of the last failed connect */
    char errstr[256];                 /* why the last call failed */
};

/* Set up c. cluster_seeds: "host:port,host:port,..." (cfg redis_cluster;
 * NULL or "": single mode on host:port or the Unix socket path socket).
 * password is copied (NULL: none). Connects lazily. Returns 0, or
 * CHAT_ERR_INVALID for a malformed seed list (errstr says why). */
int rcl_init(struct rcl *c, const char *cluster_seeds, const char *host, int port,
             const char *socket, const char *password, int timeout_ms);
/* Close every connection and free the copies. */
void rcl_free(struct rcl *c);
/* Close every connection (kept map; next calls reconnect). */
void rcl_reset(struct rcl *c);

/* Run one command (hiredis format) on the master of its key (rcl_cmd_key);
 * a command without a key goes to the first reachable master. Follows
 * MOVED (refreshes the map, resends) and ASK (ASKING, then the command on
 * that node) up to 5 times; on a lost connection refreshes the map (a
 * failover) and, when repeatable, sends once more. Returns the reply (the
 * caller frees it; an error reply is a reply), or NULL when no answer came
 * (errstr says why; c->last_rc is CHAT_ERR_AUTH for a refused password). */
redisReply *rcl_command(struct rcl *c, bool repeatable, const char *fmt, ...);
redisReply *rcl_commandv(struct rcl *c, bool repeatable, const char *fmt, va_list ap);
redisReply *rcl_command_argv(struct rcl *c, bool repeatable, int argc, const char **argv,
                             const size_t *lens);
/* Whether keys a and b (NUL-terminated) may be used in one script: always
 * in single mode, in cluster mode when they share a slot. */
bool rcl_colocated(const struct rcl *c, const char *a, const char *b);
/* Reload the slot map from any reachable node (cluster mode; no-op in
 * single mode). Returns 0 or CHAT_ERR_REDIS. */
int rcl_refresh(struct rcl *c);

/* Parse "host:port,host:port" into nodes (at most max). Returns how many,
 * or -1 for a malformed list. Pure. */
int rcl_parse_seeds(const char *s, struct rcl_node *nodes, int max);

#endif
