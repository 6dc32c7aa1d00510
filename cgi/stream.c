/* stream.c - POST /stream/tickets (API.md "Auth"): single-use tickets that
 * let EventSource and WebSocket, which cannot send headers, open a stream.
 * The ticket lives in Redis as ticket:<hex> = "<user id>:<session id>", or
 * "<user id>:0:<API token id>" when an API token asked, for 30 s; chat-push
 * spends it with GETDEL. */
#include <stdio.h>

#include "crypto.h"
#include "handlers.h"
#include "keys.h"
#include "req.h"
#include "req_redis.h"

#define TICKET_BYTES 32
#define TICKET_TTL 30

void stream_ticket_create(struct req *req)
{
    char ticket[2 * TICKET_BYTES + 1], owner[48], out[160], key[KEY_MAX];
    redisReply *r;

    if (crypto_random_hex(ticket, TICKET_BYTES)) {
        req_internal(req, "no randomness");
        return;
    }
    if (req->api_token)
        snprintf(owner, sizeof(owner), "%lld:0:%lld", (long long)req->user_id,
                 (long long)req->token_id);
    else
        snprintf(owner, sizeof(owner), "%lld:%lld", (long long)req->user_id,
                 (long long)req->session_id);
    key_ticket(key, ticket);
    r = req_redis(req, "SET %s %s EX %d NX", key, owner, TICKET_TTL);
    if (!r || r->type != REDIS_REPLY_STATUS) {
        req_error(req, 503, "unavailable", "cannot issue a ticket now, retry shortly");
        return;
    }
    snprintf(out, sizeof(out), "{\"ticket\":\"%s\",\"expires_in\":%d}", ticket, TICKET_TTL);
    req_reply(req, 201, out, -1);
}
