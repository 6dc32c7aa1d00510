/* field.h - field specs: the rule of one string field of a JSON body.
 *
 * A handler states each string input once, as a static spec next to the
 * constants it uses, and checks it in one line (req_json_str_or_reply in
 * req_input.h):
 *
 *     static const struct str_field f_title = {"title", .required = true, .min = 1,
 *                                              .max = TITLE_MAX};
 *     if (req_json_str_or_reply(req, body, &f_title, &title))
 *         return;
 *
 * field_str_check is the pure decision (no request, no reply), so the
 * rules and their messages are unit-tested (tests/unit/test_field.c).
 */
#ifndef CHAT_FIELD_H
#define CHAT_FIELD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct str_field {
    const char *name; /* the member's name in the JSON object */
    bool required;    /* absent or null is an error; else it gives NULL */
    size_t min, max;  /* length in bytes (UTF-8), both inclusive */
    bool multiline;   /* allows \n, \r and \t; other control characters never */
};

/* Check it, the member f->name of a JSON object (NULL when absent), against
 * f. Returns 0 with *out the string (cJSON's, NULL when absent and
 * optional), or -1 with *out NULL and why the message of the 400
 * invalid_request answer ("title must be 1 to 128 bytes"), appended to
 * why. */
int field_str_check(const struct str_field *f, const cJSON *it, const char **out, struct buf *why);

#endif
