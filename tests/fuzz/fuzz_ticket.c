/* fuzz_ticket.c - libFuzzer target: a stream ticket (lib/ticket.h; API.md
 * "Auth"), the ?ticket= a client sends and the owner value chat-push reads
 * back from Redis.
 *
 * Input: the first byte picks the parser, the rest is its input. Name:
 * ticket_name_ok must accept exactly 16 to 128 lower-case hex digits (what
 * makes the name safe in a Redis key). Owner: what ticket_owner_parse
 * accepts is a valid owner (user >= 1; a session, or session 0 with a
 * token >= 1), and ticket_owner_format writes it back as a value that
 * parses to the same owner; an owner built from the input's bytes survives
 * format and parse unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticket.h"

static bool same(const struct ticket_owner *a, const struct ticket_owner *b)
{
    return a->user_id == b->user_id && a->session_id == b->session_id && a->token_id == b->token_id;
}

static void check_name(const uint8_t *data, size_t size)
{
    char *t = strndup((const char *)data, size);
    size_t n, i;
    bool want;

    if (!t)
        return;
    n = strlen(t);
    want = n >= 16 && n <= 128;
    for (i = 0; i < n && want; i++)
        want = (t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f');
    if (ticket_name_ok(t) != want)
        abort();
    free(t);
}

static void check_owner(const uint8_t *data, size_t size)
{
    struct ticket_owner o, back, built;
    char v[TICKET_OWNER_MAX];
    int n;

    if (ticket_owner_parse((const char *)data, size, &o)) {
        if (o.user_id < 1 || o.session_id < 0 || o.token_id < 0 ||
            (o.session_id == 0) != (o.token_id != 0))
            abort();
        n = ticket_owner_format(v, &o);
        if (n <= 0 || n >= TICKET_OWNER_MAX || !ticket_owner_parse(v, (size_t)n, &back) ||
            !same(&o, &back))
            abort();
    }
    if (size >= 16) { /* an owner of the input's bytes: a round trip keeps it */
        memcpy(&built.user_id, data, 8);
        memcpy(&built.session_id, data + 8, 8);
        built.user_id = built.user_id == INT64_MIN ? 1 : llabs(built.user_id) | 1;
        built.session_id = built.session_id == INT64_MIN ? 0 : llabs(built.session_id);
        built.token_id = built.session_id ? 0 : built.user_id;
        n = ticket_owner_format(v, &built);
        if (!ticket_owner_parse(v, (size_t)n, &back) || !same(&built, &back))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        check_owner(data + 1, size - 1);
    else
        check_name(data + 1, size - 1);
    return 0;
}
