/* scope.c - API token scope names and bits. */
#include "scope.h"

#include <stddef.h>
#include <string.h>

/* By bit: scope_names[i] is 1 << i. */
static const char *const scope_names[] = {
    "chats:read", "chats:write", "messages:read", "messages:write", "events:read", "webhooks:write",
};

unsigned scope_parse(const char *name)
{
    for (unsigned i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
        if (strcmp(name, scope_names[i]) == 0)
            return 1u << i;
    return 0;
}

const char *scope_name(unsigned bits)
{
    for (unsigned i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
        if (bits & (1u << i))
            return scope_names[i];
    return NULL;
}
