/* scope.h - API token scopes (API.md "Auth"): what a personal API token
 * may do, as bits; a session's access token holds all of them. The route
 * table names the scope each route needs (router.c). */
#ifndef CHAT_SCOPE_H
#define CHAT_SCOPE_H

enum scope {
    SCOPE_NONE = 0,
    SCOPE_CHATS_READ = 1 << 0,
    SCOPE_CHATS_WRITE = 1 << 1,
    SCOPE_MESSAGES_READ = 1 << 2,
    SCOPE_MESSAGES_WRITE = 1 << 3,
    SCOPE_EVENTS_READ = 1 << 4,
    SCOPE_WEBHOOKS_WRITE = 1 << 5,
};

/* The scope bit named name ("chats:read", ...), or 0 for an unknown name. */
unsigned scope_parse(const char *name);
/* The name of the lowest scope bit set in bits, or NULL. */
const char *scope_name(unsigned bits);

#endif
