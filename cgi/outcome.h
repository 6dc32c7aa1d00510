/* outcome.h - outcome tables: the status word a SQL write function returns
 * (db/migrations, "status" column), mapped to the HTTP answer.
 *
 * Each handler keeps one static table per SQL function next to its
 * statement, one line per status, and answers through one helper
 * (req_outcome_or_reply in req.h):
 *
 *     static const struct outcome post_outcomes[] = {
 *         {"not_found", .http = 404, "not_found", "no such chat"},
 *         {"replayed", .http = 201, .action = POST_REPLAYED},
 *         {NULL, .http = 201},
 *     };
 *
 * An entry with a code is an error; one without is a success, with the
 * status to answer and the handler's own next step in action. The last
 * entry, status NULL, matches every status the table does not name.
 * Every entry names .http, so the fields it leaves out are zero without a
 * missing-initializer warning. outcome_find is pure, so the tables are
 * unit-tested (tests/unit/test_outcome.c).
 */
#ifndef CHAT_OUTCOME_H
#define CHAT_OUTCOME_H

struct outcome {
    const char *status;  /* the SQL function's word; NULL ends the table and matches the rest */
    int http;            /* the HTTP status to answer */
    const char *code;    /* error code (API.md "Errors"); NULL: a success */
    const char *message; /* an error's message, a printf format (req_outcome_or_reply) */
    int action;          /* a success's next step, the handler's own enum (0 by default) */
};

/* The entry of table for status (NULL matches only the table's end): the
 * first whose status equals it, else the last entry. Never NULL. */
const struct outcome *outcome_find(const struct outcome *table, const char *status);

#endif
