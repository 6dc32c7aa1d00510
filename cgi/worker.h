/* worker.h - what one chat-api worker thread owns.
 *
 * main.c starts cfg api_threads workers; each accepts FastCGI requests on
 * the shared socket and serves them one at a time with its own PGconn and
 * Redis context, so nothing on the request path is shared between threads
 * except the caches, which lock inside (authcache.h, pagecache.h).
 */
#ifndef CHAT_WORKER_H
#define CHAT_WORKER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

#include "authcache.h"
#include "cfg.h"
#include "db.h"
#include "pagecache.h"
#include "rcl.h"

/* The Lua scripts chat-api runs with EVALSHA (req_eval in req_redis.h). */
enum req_script_id { REQ_SCRIPT_RATELIMIT, REQ_SCRIPT_PUBLISH, REQ_SCRIPTS };

/* One worker thread's connections; the caches are the process's, shared by
 * its workers. */
struct worker {
    struct db db;
    struct rcl *rcl;                  /* Redis (lib/rcl.h, either mode); NULL until first use */
    uint64_t rcl_reconnects;          /* rcl->reconnects already counted */
    char script_sha[REQ_SCRIPTS][41]; /* SCRIPT LOADed; "" until then */
    const struct cfg *cfg;
    const unsigned char *jwt_key; /* JWT_KEY_LEN bytes */
    struct authcache *auth_cache; /* may be NULL: no caching */
    struct pagecache *page_cache; /* may be NULL: no caching */
    int id;
};

#endif
