/* ticket.h - a stream ticket (API.md "Auth", POST /stream/tickets): the
 * contract between chat-api, which issues it, and chat-push, which spends
 * it.
 *
 * The ticket is TICKET_BYTES random bytes in lower-case hex. It lives in
 * Redis as key_ticket(hex) (keys.h) for TICKET_TTL_S seconds, its value the
 * owner: "<user id>:<session id>" for a session's ticket, or
 * "<user id>:0:<API token id>" for one an API token asked for. chat-push
 * spends it with GETDEL and checks the owner's session or token
 * (auth_check, db/functions) before the stream opens. Pure;
 * tests/unit/test_ticket.c, tests/fuzz/fuzz_ticket.c.
 */
#ifndef CHAT_TICKET_H
#define CHAT_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TICKET_BYTES 32
#define TICKET_TTL_S 30
/* Room for the longest owner value, NUL included. */
#define TICKET_OWNER_MAX 72

/* Whose a ticket is: user_id >= 1; session_id >= 1, or 0 with token_id >= 1
 * (an API token's). */
struct ticket_owner {
    int64_t user_id, session_id, token_id;
};

/* Whether the NUL-terminated t may be a ticket: 16 to 128 lower-case hex
 * digits (what a client sends as ?ticket=; chat-api makes 64). A ticket
 * that passes is safe in a Redis key and a log line. */
bool ticket_name_ok(const char *t);

/* Write o's value into out (TICKET_OWNER_MAX bytes); returns its length. */
int ticket_owner_format(char *out, const struct ticket_owner *o);

/* Parse the value v[0..len) (not NUL-terminated) into *o. Returns false,
 * *o unspecified, for anything ticket_owner_format does not write: ids that
 * are not plain decimals, a user id below 1, a token id below 1, a
 * token part after a non-zero session id, too long or trailing parts. */
bool ticket_owner_parse(const char *v, size_t len, struct ticket_owner *o);

#endif
