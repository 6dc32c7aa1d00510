/* health.c - API.md "Operations": liveness of chat-api. */
#include "handlers.h"
#include "req.h"

void health_live(struct req *req)
{
    req_reply(req, 200, "{\"status\":\"ok\"}", -1);
}
