/* cfg.h - service configuration: conf/chat.conf (INI, read with inih), then
 * environment variables, then defaults derived from CHAT_HOME and CHAT_PORT.
 *
 * Every key of chat.conf has an environment twin: key "api_threads" in
 * section [api] is CHAT_API_THREADS; keys of [core] drop the section
 * (CHAT_HOME, CHAT_PORT). The environment wins over the file, so chatctl and
 * the tests can run two stacks side by side from one chat.conf.
 */
#ifndef CHAT_CFG_H
#define CHAT_CFG_H

#include <stdint.h>

struct cfg {
    /* [core] */
    char *home;      /* data directory, default ./var */
    int port;        /* nginx port, default 8080; others derive from it */
    char *log_level; /* debug|info|warn|error */
    /* 1: nginx serves HTTPS on port (chatctl sets CHAT_TLS=1 with CHAT_TLS_CERT), so the
     * nginx URL's Origins are https://; default 0 (http://) */
    int tls;
    /* [db] */
    /* libpq conninfo; default host=$home/run port=port+2 dbname=chat, the role and its
     * password from libpq's PGUSER and PGPASSFILE (chatctl gives each service its own) */
    char *db_conninfo;
    /* [redis] */
    char *redis_host;   /* default 127.0.0.1 */
    int redis_port;     /* default port+3 */
    char *redis_socket; /* Unix socket path chat-api uses instead of host:port; "" none */
    /* Redis Cluster seed nodes "host:port,host:port,..." (lib/rcl.h); when set,
     * every service runs in cluster mode and redis_host, redis_port and
     * redis_socket are unused. Default "": single mode. */
    char *redis_cluster;
    /* file holding the password every Redis connection sends with AUTH (requirepass),
     * default $home/secrets/redis.pass; "" sends no AUTH. Read by cfg_load_secrets. */
    char *redis_password_file;
    /* [auth] */
    char *jwt_key_file; /* default $home/secrets/jwt.key, created on first start */
    char *jwt_issuer;   /* default "chat" */
    char *jwt_audience; /* default "chat-api" */
    int access_ttl;     /* seconds, default 900 */
    int refresh_ttl;    /* seconds, default 30 days */
    int refresh_grace;  /* seconds a spent refresh token still answers, default 10 */
    /* Argon2id hashes at once in chat-api (pwhash.h), default api_threads / 2
     * but at most the online CPUs (at least 1); a login waits at most
     * argon2_wait_ms for one, default 10, then gets 503 unavailable */
    int argon2_max_concurrent;
    int argon2_wait_ms;
    /* [api] */
    char *api_socket;         /* FastCGI unix socket, default $home/run/chat-api.sock */
    int api_threads;          /* worker threads, default 8 */
    int body_limit;           /* bytes, default 65536 */
    int max_group_members;    /* default 10000 */
    int max_ephemeral_fanout; /* typing, receipt and presence events go to chats
                                 of at most this many members (API.md "Real-time
                                 events"); default 100 */
    int metrics_port; /* chat-api: /metrics, /healthz on 127.0.0.1, default port+7; 0 none */
    /* [limits] (API.md "Conventions": rate limits) */
    int rate_auth;      /* auth requests per IP per minute, default 300 */
    int rate_read;      /* GET requests per user (or IP) per minute, default 1200 */
    int rate_write;     /* other requests per user (or IP) per minute, default 600 */
    int login_failures; /* failed logins per (account, IP) per 15 minutes, default 10 */
    /* [push] */
    char *push_addr;    /* listen address, default 127.0.0.1 */
    int push_port;      /* default port+1 */
    int push_max_conns; /* default 20000 */
    int heartbeat;      /* seconds between SSE heartbeats, default 15 */
    int push_ws_port;   /* chat-push's WebSocket daemon, default port+5 */
    int push_poll_port; /* chat-push's long-poll daemon, default port+6; 0: none */
    int push_node;      /* this chat-push's number among those behind one nginx,
                           0..255 (default 0): its cursors carry it, and nginx
                           routes a resume by it (docs/SCALING.md) */
    char *ws_origins;   /* WebSocket Origins allowed besides the nginx URL's, comma-separated */
    /* open streams per client IP (X-Forwarded-For behind nginx), default 1000 */
    int push_max_per_ip;
    /* [notify] (chat-notify: webhooks and push, API.md "Outgoing webhooks and push") */
    int notify_port;          /* /healthz /readyz /metrics on 127.0.0.1, default port+4 */
    int notify_allow_private; /* 1: allow http and internal addresses (tests only), default 0 */
    char *push_gateways;      /* allowed gateways: "scheme://host[:port]" separated by commas */
    int notify_backoff_ms;    /* first retry delay, doubled per attempt, default 10000 */
    int notify_retry_window;  /* seconds of retries before a delivery fails, default 86400 */
    int notify_timeout_ms;    /* whole request, default 10000 (connect: a third of it) */
    int push_coalesce_ms;     /* a burst in one chat within this makes one push, default 1000 */

    /* Not keys: secrets read by cfg_load_secrets, owned by c, freed by cfg_release. */
    char *redis_password; /* contents of redis_password_file; NULL: send no AUTH */
};

/* Load the configuration. path may be NULL (then $CHAT_CONF, then no file).
 * On a bad file or value, writes a message into err (errlen bytes) and
 * returns CHAT_ERR_INVALID; on success returns 0. Strings in c are owned by
 * c and freed by cfg_release. */
int cfg_load(struct cfg *c, const char *path, char *err, int errlen);
void cfg_release(struct cfg *c);

/* Read the secrets the configuration names into c: redis_password from
 * redis_password_file (its first line, without the line end; unless the key
 * is ""). Services call it once at start, after cfg_load. A missing,
 * unreadable or empty file, or one longer than 1024 bytes, writes a message
 * naming the file and the key into err (errlen bytes) and returns
 * CHAT_ERR_INVALID; returns 0 otherwise. */
int cfg_load_secrets(struct cfg *c, char *err, int errlen);

#endif
