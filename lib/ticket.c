/* ticket.c - a stream ticket's name and owner value (ticket.h). */
#include "ticket.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "json.h"

bool ticket_name_ok(const char *t)
{
    size_t n = strlen(t), i;

    if (n < 16 || n > 128)
        return false;
    for (i = 0; i < n; i++)
        if (!hex_is_lower(t[i]))
            return false;
    return true;
}

int ticket_owner_format(char *out, const struct ticket_owner *o)
{
    if (o->session_id == 0)
        return snprintf(out, TICKET_OWNER_MAX, "%" PRId64 ":0:%" PRId64, o->user_id, o->token_id);
    return snprintf(out, TICKET_OWNER_MAX, "%" PRId64 ":%" PRId64, o->user_id, o->session_id);
}

bool ticket_owner_parse(const char *v, size_t len, struct ticket_owner *o)
{
    char tmp[TICKET_OWNER_MAX];
    char *colon, *colon2;

    if (len == 0 || len >= sizeof(tmp) || memchr(v, '\0', len))
        return false;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    colon = strchr(tmp, ':');
    if (!colon)
        return false;
    *colon = '\0';
    colon2 = strchr(colon + 1, ':');
    o->token_id = 0;
    if (colon2) {
        *colon2 = '\0';
        if (json_parse_int(colon2 + 1, 1, INT64_MAX, &o->token_id))
            return false;
    }
    if (json_parse_int(tmp, 1, INT64_MAX, &o->user_id) ||
        json_parse_int(colon + 1, 0, INT64_MAX, &o->session_id))
        return false;
    /* a session's ticket has no token part; a token's has session 0 */
    return (o->session_id == 0) == (o->token_id != 0);
}
