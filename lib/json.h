/* json.h - checked JSON input and the few output helpers cJSON lacks.
 *
 * cJSON 1.7.15 has traps (DESIGN.md): valueint clamps, strings stop at
 * \u0000, big numbers print in exponent form. Everything that reads client
 * JSON goes through json_parse and the json_get_* helpers below.
 */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

/* true if s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool json_utf8_valid(const char *s, size_t len);

/* Parse a request body of len bytes (need not be NUL-terminated). Refuses
 * invalid UTF-8, nesting deeper than JSON_MAX_DEPTH, an escaped \u0000,
 * and trailing garbage. On success returns the tree (caller frees with
 * cJSON_Delete); on failure returns NULL and points *why at a static
 * message fit for a client. */
cJSON *json_parse(const char *s, size_t len, const char **why);

/* Where the value of member `name` of the JSON object j[0..len) lies,
 * without building a tree: true with its offset and length in j (a string
 * value includes its quotes), false if absent or j is not an object. For
 * JSON already checked (json_parse, or text we wrote): malformed input
 * ends the scan with false but is not reported as such. Top-level members
 * only; the first match wins. */
bool json_member(const char *j, size_t len, const char *name, size_t *off, size_t *vlen);

/* The largest integer a JSON number carries exactly, 2^53 - 1 (an IEEE 754
 * double, RFC 8259 §6): ids, versions and seqs are at most this. */
#define JSON_INT_MAX ((int64_t)(((uint64_t)1 << 53) - 1))

/* Read an id (integer in [1, JSON_INT_MAX]) from a number item. Returns 0 or CHAT_ERR_INVALID. */
int json_get_id(const cJSON *item, int64_t *out);

/* Read an integer in [min, max] from a number item. Returns 0 or CHAT_ERR_INVALID. */
int json_get_int(const cJSON *item, int64_t min, int64_t max, int64_t *out);

/* Parse a decimal integer in [min, max] from a NUL-terminated string (query
 * parameters): digits only, optional leading '-', no spaces. Returns 0 or
 * CHAT_ERR_INVALID. */
int json_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parse a UTC timestamp as the API writes them (API.md "Conventions";
 * RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fraction]Z", upper-case T and Z) into
 * microseconds since the Unix epoch (digits past the sixth of the fraction
 * are dropped). Returns 0 or CHAT_ERR_INVALID. */
int json_parse_time(const char *s, int64_t *unix_us);

#endif
