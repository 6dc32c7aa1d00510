/* req_input.h - the input validators of chat-api handlers.
 *
 * Each checks one input and, when it is bad, sends 400 invalid_request
 * (API.md "Conventions") and returns non-zero, so a handler checks an
 * input in one line (req.h). The messages name the field and the rule
 * broken; the black-box tests hold them.
 */
#ifndef CHAT_REQ_INPUT_H
#define CHAT_REQ_INPUT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "field.h"

struct req;

/* Before any handler: 400 invalid_request (and -1) when a query parameter,
 * name or value, decodes to a NUL byte, or the path as sent (REQUEST_URI)
 * holds %00 (API.md "Conventions"). */
int req_query_check_or_reply(struct req *req);

/* Parse the body as a JSON object (json_parse's checks). Sends 400 and
 * returns -1 when it is not one. *out is freed when the request ends. */
int req_json_body_or_reply(struct req *req, cJSON **out);
/* The string field of obj that f describes (field.h field_str_check):
 * 0 with *out the string (it lives as long as obj; NULL when absent and
 * optional), or 400 with field_str_check's message and -1. */
int req_json_str_or_reply(struct req *req, const cJSON *obj, const struct str_field *f,
                          const char **out);
/* An id field (integer, 1 <= id < 2^53). Missing: error when required, else *out = 0. */
int req_json_id_or_reply(struct req *req, const cJSON *obj, const char *name, bool required,
                         int64_t *out);
/* A query parameter in [min, max]; *out keeps its value when absent, and
 * *present (may be NULL) says whether it was given. */
int req_query_int_or_reply(struct req *req, const char *name, int64_t min, int64_t max,
                           int64_t *out, bool *present);

/* ?limit= of a list (API.md "Lists"): default PAGE_LIMIT_DEFAULT, 1 to
 * PAGE_LIMIT_MAX, else 400. */
int req_limit_or_reply(struct req *req, int64_t *limit);

#endif
