/* stream.c - POST /stream/tickets (API.md "Auth"): single-use tickets that
 * let EventSource and WebSocket, which cannot send headers, open a stream.
 * The ticket's name, Redis value and lifetime are lib/ticket.h's; chat-push
 * spends it with GETDEL. */
#include <stdio.h>

#include "crypto.h"
#include "handlers.h"
#include "keys.h"
#include "req.h"
#include "req_redis.h"
#include "ticket.h"

void stream_ticket_create(struct req *req)
{
    char ticket[2 * TICKET_BYTES + 1], owner[TICKET_OWNER_MAX], out[160], key[KEY_MAX];
    struct ticket_owner o = {req->user_id, req->api_token ? 0 : req->session_id,
                             req->api_token ? req->token_id : 0};
    redisReply *r;

    if (crypto_random_hex(ticket, TICKET_BYTES)) {
        req_internal(req, "no randomness");
        return;
    }
    ticket_owner_format(owner, &o);
    key_ticket(key, ticket);
    r = req_redis(req, "SET %s %s EX %d NX", key, owner, TICKET_TTL_S);
    if (!r || r->type != REDIS_REPLY_STATUS) {
        req_error(req, 503, "unavailable", "cannot issue a ticket now, retry shortly");
        return;
    }
    snprintf(out, sizeof(out), "{\"ticket\":\"%s\",\"expires_in\":%d}", ticket, TICKET_TTL_S);
    req_reply(req, 201, out, -1);
}
