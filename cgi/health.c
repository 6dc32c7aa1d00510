/* health.c - API.md "Operations": liveness and readiness of chat-api. */
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "req.h"
#include "req_redis.h"

/* Readiness waits at most this long for PostgreSQL (connect and SELECT 1);
 * Redis has the worker context's 100 ms timeouts (req_redis.h req_redis), so an
 * answer comes well within a probe's usual 1 s. */
#define READY_PG_TIMEOUT_MS 300

void health_live(struct req *req)
{
    req_reply(req, 200, "{\"status\":\"ok\"}", -1);
}

void health_ready(struct req *req)
{
    bool pg = db_ping(&req->w->db, READY_PG_TIMEOUT_MS) == 0;
    redisReply *pong = req_redis(req, "PING");
    bool redis = pong && pong->type == REDIS_REPLY_STATUS && strcmp(pong->str, "PONG") == 0;

    if (!pg)
        log_warn("readyz: postgresql: %s", req->w->db.errstr);
    if (pg && redis) {
        req_reply(req, 200, "{\"status\":\"ok\",\"postgresql\":\"ok\",\"redis\":\"ok\"}", -1);
        return;
    }
    req_error(req, 503, "unavailable", "not ready: %s unreachable",
              !pg && !redis ? "postgresql and redis"
              : !pg         ? "postgresql"
                            : "redis");
}
