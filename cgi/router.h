/* router.h - chat-api's route table: method + path pattern -> handler.
 *
 * Patterns are literal segments and ":name" segments (":chat_id", named as
 * the path parameters of docs/openapi.yaml), which match an id (decimal,
 * 1 <= id < 2^53) and are handed to the handler in req->params in order.
 * The table is in router.c, one line per endpoint of API.md.
 */
#ifndef CHAT_ROUTER_H
#define CHAT_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "scope.h"

struct req;

enum route_flags {
    ROUTE_AUTH = 1 << 0,            /* needs a Bearer token */
    ROUTE_SECRET = 1 << 1,          /* the answer carries a secret: never stored for replay */
    ROUTE_OWN_IDEMPOTENCY = 1 << 2, /* the handler implements Idempotency-Key itself */
    ROUTE_SESSION_ONLY = 1 << 3,    /* needs a session's access token, not an API token */
    ROUTE_CHAT_VERSION = 1 << 4,    /* reads cv:{chat :id} with the rate limit (page cache) */
    ROUTE_AUTH_LIMIT = 1 << 5,      /* counts in the auth endpoints' rate limit (per client IP,
                                     * cfg rate_auth), not as a read or a write */
};

struct route {
    const char *method;
    const char *pattern;
    void (*handler)(struct req *req);
    unsigned scope;
    unsigned flags; /* enum route_flags */
};

#define ROUTER_MAX_PARAMS 2

enum router_result {
    ROUTER_FOUND = 0,
    ROUTER_NOT_FOUND = -1,  /* no pattern matches the path: 404 */
    ROUTER_BAD_METHOD = -2, /* a pattern matches, not with this method: 405 */
};

/* Match method and path (no query string) against table (ended by a route
 * whose method is NULL). On ROUTER_FOUND, *out is the route and params
 * holds the :id values in order. */
enum router_result router_match_in(const struct route *table, const char *method, const char *path,
                                   const struct route **out, int64_t params[ROUTER_MAX_PARAMS]);

/* router_match_in on chat-api's own table. */
enum router_result router_match(const char *method, const char *path, const struct route **out,
                                int64_t params[ROUTER_MAX_PARAMS]);

/* The route's pattern as a URI template, ":chat_id" written "{chat_id}"
 * ("/api/v1/chats/{chat_id}/messages", as in docs/openapi.yaml with its
 * server prefix): the route label of chat-api's metrics and the --routes
 * list. Writes at most len bytes with the NUL into out; returns the length. */
size_t router_template(const struct route *r, char *out, size_t len);

/* chat-api's route table, ended by a NULL method (for tests and docs). */
extern const struct route router_routes[];

#endif
