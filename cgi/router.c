/* router.c - the route table of chat-api and the matcher. */
#include "router.h"

#include <stdbool.h>
#include <string.h>

#include "handlers.h"
#include "json.h"

const struct route router_routes[] = {
    {"GET", "/api/v1/healthz", health_live, SCOPE_NONE, 0},
    {"GET", "/api/v1/readyz", health_ready, SCOPE_NONE, 0},
    {"POST", "/api/v1/auth/register", auth_register, SCOPE_NONE, ROUTE_SECRET | ROUTE_AUTH_LIMIT},
    {"POST", "/api/v1/auth/login", auth_login, SCOPE_NONE, ROUTE_SECRET | ROUTE_AUTH_LIMIT},
    {"POST", "/api/v1/auth/refresh", auth_refresh, SCOPE_NONE, ROUTE_SECRET | ROUTE_AUTH_LIMIT},
    {"POST", "/api/v1/auth/logout", auth_logout, SCOPE_NONE, ROUTE_AUTH_LIMIT},
    {"POST", "/api/v1/auth/logout-all", auth_logout_all, SCOPE_NONE,
     ROUTE_AUTH | ROUTE_SESSION_ONLY},
    {"POST", "/api/v1/auth/password", auth_password, SCOPE_NONE,
     ROUTE_AUTH | ROUTE_SESSION_ONLY | ROUTE_SECRET},
    {"GET", "/api/v1/auth/sessions", auth_sessions_list, SCOPE_NONE,
     ROUTE_AUTH | ROUTE_SESSION_ONLY},
    {"DELETE", "/api/v1/auth/sessions/:session_id", auth_sessions_delete, SCOPE_NONE,
     ROUTE_AUTH | ROUTE_SESSION_ONLY},
    {"POST", "/api/v1/tokens", tokens_create, SCOPE_NONE,
     ROUTE_AUTH | ROUTE_SESSION_ONLY | ROUTE_SECRET},
    {"GET", "/api/v1/tokens", tokens_list, SCOPE_NONE, ROUTE_AUTH | ROUTE_SESSION_ONLY},
    {"DELETE", "/api/v1/tokens/:token_id", tokens_delete, SCOPE_NONE,
     ROUTE_AUTH | ROUTE_SESSION_ONLY},
    {"GET", "/api/v1/users/me", users_me, SCOPE_NONE, ROUTE_AUTH},
    {"PATCH", "/api/v1/users/me", users_me_update, SCOPE_CHATS_WRITE, ROUTE_AUTH},
    {"GET", "/api/v1/users", users_search, SCOPE_CHATS_READ, ROUTE_AUTH},
    {"GET", "/api/v1/users/:user_id", users_get, SCOPE_CHATS_READ, ROUTE_AUTH},
    {"POST", "/api/v1/stream/tickets", stream_ticket_create, SCOPE_EVENTS_READ,
     ROUTE_AUTH | ROUTE_SECRET},
    {"POST", "/api/v1/chats", chats_create, SCOPE_CHATS_WRITE, ROUTE_AUTH},
    {"GET", "/api/v1/chats", chats_list, SCOPE_CHATS_READ, ROUTE_AUTH},
    {"GET", "/api/v1/chats/:chat_id", chats_get, SCOPE_CHATS_READ, ROUTE_AUTH},
    {"PATCH", "/api/v1/chats/:chat_id", chats_update, SCOPE_CHATS_WRITE, ROUTE_AUTH},
    {"GET", "/api/v1/chats/:chat_id/members", chats_members_list, SCOPE_CHATS_READ, ROUTE_AUTH},
    {"POST", "/api/v1/chats/:chat_id/members", chats_members_add, SCOPE_CHATS_WRITE, ROUTE_AUTH},
    {"DELETE", "/api/v1/chats/:chat_id/members/:user_id", chats_members_remove, SCOPE_CHATS_WRITE,
     ROUTE_AUTH},
    {"POST", "/api/v1/chats/:chat_id/messages", messages_create, SCOPE_MESSAGES_WRITE,
     ROUTE_AUTH | ROUTE_OWN_IDEMPOTENCY},
    {"GET", "/api/v1/chats/:chat_id/messages", messages_list, SCOPE_MESSAGES_READ,
     ROUTE_AUTH | ROUTE_CHAT_VERSION},
    {"POST", "/api/v1/chats/:chat_id/read", messages_read, SCOPE_MESSAGES_WRITE, ROUTE_AUTH},
    {"POST", "/api/v1/chats/:chat_id/delivered", messages_delivered, SCOPE_MESSAGES_WRITE,
     ROUTE_AUTH},
    {"POST", "/api/v1/chats/:chat_id/typing", messages_typing, SCOPE_MESSAGES_WRITE, ROUTE_AUTH},
    {"PATCH", "/api/v1/chats/:chat_id/messages/:seq", messages_update, SCOPE_MESSAGES_WRITE,
     ROUTE_AUTH},
    {"DELETE", "/api/v1/chats/:chat_id/messages/:seq", messages_delete, SCOPE_MESSAGES_WRITE,
     ROUTE_AUTH},
    {"GET", "/api/v1/chats/:chat_id/changes", messages_changes, SCOPE_MESSAGES_READ, ROUTE_AUTH},
    {"GET", "/api/v1/search", messages_search, SCOPE_MESSAGES_READ, ROUTE_AUTH},
    {"POST", "/api/v1/webhooks", webhooks_create, SCOPE_WEBHOOKS_WRITE, ROUTE_AUTH | ROUTE_SECRET},
    {"GET", "/api/v1/webhooks", webhooks_list, SCOPE_WEBHOOKS_WRITE, ROUTE_AUTH},
    {"DELETE", "/api/v1/webhooks/:webhook_id", webhooks_delete, SCOPE_WEBHOOKS_WRITE, ROUTE_AUTH},
    {"POST", "/api/v1/webhooks/:webhook_id/rotate-secret", webhooks_rotate_secret,
     SCOPE_WEBHOOKS_WRITE, ROUTE_AUTH | ROUTE_SECRET},
    {"GET", "/api/v1/webhooks/:webhook_id/deliveries", webhooks_deliveries, SCOPE_WEBHOOKS_WRITE,
     ROUTE_AUTH},
    {"POST", "/api/v1/webhooks/:webhook_id/deliveries/:delivery_id/redeliver", webhooks_redeliver,
     SCOPE_WEBHOOKS_WRITE, ROUTE_AUTH},
    {"POST", "/api/v1/push/subscriptions", push_subscriptions_create, SCOPE_EVENTS_READ,
     ROUTE_AUTH},
    {"GET", "/api/v1/push/subscriptions", push_subscriptions_list, SCOPE_EVENTS_READ, ROUTE_AUTH},
    {"DELETE", "/api/v1/push/subscriptions/:subscription_id", push_subscriptions_delete,
     SCOPE_EVENTS_READ, ROUTE_AUTH},
    {NULL, NULL, NULL, 0, 0},
};

/* Match one segment of path (up to '/' or end) against one of pattern.
 * Returns the length consumed in path, or -1. */
static long match_segment(const char *pat, size_t plen, const char *path, int64_t *param,
                          bool *is_param)
{
    size_t len = strcspn(path, "/");
    char digits[20];

    *is_param = plen > 1 && pat[0] == ':';
    if (!*is_param)
        return len == plen && memcmp(pat, path, len) == 0 ? (long)len : -1;
    if (len == 0 || len >= sizeof(digits) || path[0] == '0' || path[0] == '-')
        return -1;
    memcpy(digits, path, len);
    digits[len] = '\0';
    return json_parse_int(digits, 1, JSON_INT_MAX, param) ? -1 : (long)len;
}

static bool match_path(const char *pat, const char *path, int64_t params[ROUTER_MAX_PARAMS])
{
    int n = 0;

    while (*pat == '/' && *path == '/') {
        size_t plen;
        long used;
        bool is_param;
        int64_t v = 0;

        pat++;
        path++;
        plen = strcspn(pat, "/");
        used = match_segment(pat, plen, path, &v, &is_param);
        if (used < 0)
            return false;
        if (is_param) {
            if (n == ROUTER_MAX_PARAMS)
                return false;
            params[n++] = v;
        }
        pat += plen;
        path += used;
    }
    return *pat == '\0' && *path == '\0';
}

enum router_result router_match_in(const struct route *table, const char *method, const char *path,
                                   const struct route **out, int64_t params[ROUTER_MAX_PARAMS])
{
    enum router_result res = ROUTER_NOT_FOUND;

    for (const struct route *r = table; r->method; r++) {
        int64_t p[ROUTER_MAX_PARAMS] = {0, 0};
        if (!match_path(r->pattern, path, p))
            continue;
        if (strcmp(r->method, method) != 0) {
            res = ROUTER_BAD_METHOD;
            continue;
        }
        memcpy(params, p, sizeof(p));
        *out = r;
        return ROUTER_FOUND;
    }
    return res;
}

size_t router_template(const struct route *r, char *out, size_t len)
{
    size_t n = 0;

    for (const char *c = r->pattern; *c && n + 1 < len; c++) {
        if (*c != ':') {
            out[n++] = *c;
            continue;
        }
        out[n++] = '{';
        while (c[1] && c[1] != '/' && n + 1 < len)
            out[n++] = *++c;
        if (n + 1 < len)
            out[n++] = '}';
    }
    if (len)
        out[n] = '\0';
    return n;
}

enum router_result router_match(const char *method, const char *path, const struct route **out,
                                int64_t params[ROUTER_MAX_PARAMS])
{
    return router_match_in(router_routes, method, path, out, params);
}
