/* json.c - checked JSON input on top of cJSON 1.7.15.
 *
 * json_parse runs one scan of its own before cJSON sees the body: strict
 * UTF-8, nesting depth, no raw control bytes or \u0000 escapes in strings,
 * RFC 8259 number grammar (cJSON hands anything made of [0-9+-.eE] to
 * strtod), and nothing but JSON whitespace outside tokens. cJSON then
 * builds the tree, and the bytes after its end must be whitespace only.
 */
#include "json.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "hex.h"

#define JSON_ID_LIMIT 9007199254740992.0 /* 2^53: doubles are exact below */

/* Length of the UTF-8 sequence at s (avail bytes), or 0 if ill-formed
 * (RFC 3629 section 4 table). */
static size_t json_utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

bool json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        size_t n = json_utf8_seq(p + i, len - i);

        if (!n)
            return false;
        i += n;
    }
    return true;
}

static bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool json_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skip a number at s[*i] per RFC 8259 section 6. Returns false if malformed. */
static bool json_scan_number(const char *s, size_t len, size_t *i)
{
    size_t p = *i, start;

    if (p < len && s[p] == '-')
        p++;
    if (p < len && s[p] == '0')
        p++;
    else if (p < len && s[p] >= '1' && s[p] <= '9')
        while (p < len && json_is_digit(s[p]))
            p++;
    else
        return false;
    if (p < len && s[p] == '.') {
        start = ++p;
        while (p < len && json_is_digit(s[p]))
            p++;
        if (p == start)
            return false;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        start = p;
        while (p < len && json_is_digit(s[p]))
            p++;
        if (p == start)
            return false;
    }
    /* "01" or "1.2.3" would otherwise scan as two numbers. */
    if (p < len && (json_is_digit(s[p]) || (s[p] && strchr(".eE+-", s[p]))))
        return false;
    *i = p;
    return true;
}

/* Check the escape whose backslash is at s[p]; returns its length or 0.
 * cJSON reads a \u with a non-hex digit as \u0000 and cuts the string
 * there, so the four hex digits are checked here, and \u0000 refused. */
static size_t json_scan_escape(const char *s, size_t len, size_t p)
{
    if (p + 1 >= len)
        return 0;
    if (s[p + 1] != 'u')
        return s[p + 1] && strchr("\"\\/bfnrt", s[p + 1]) ? 2 : 0;
    if (len - p < 6)
        return 0;
    for (size_t k = 2; k < 6; k++)
        if (!hex_is_digit(s[p + k]))
            return 0;
    return memcmp(s + p + 2, "0000", 4) ? 6 : 0;
}

/* Skip a string whose opening quote is at s[*i]. Refuses raw control bytes
 * (RFC 8259 section 7) and malformed escapes, \u0000 included. Surrogate
 * pairing is left to cJSON. Returns NULL or the reason. */
static const char *json_scan_string(const char *s, size_t len, size_t *i)
{
    size_t p = *i + 1, n;

    while (p < len && s[p] != '"') {
        if ((unsigned char)s[p] < 0x20)
            return "control character in string";
        if (s[p] != '\\') {
            p++;
            continue;
        }
        n = json_scan_escape(s, len, p);
        if (!n)
            return p + 6 <= len && !memcmp(s + p, "\\u0000", 6) ? "\\u0000 is not allowed"
                                                                : "malformed escape in string";
        p += n;
    }
    if (p >= len)
        return "unterminated string";
    *i = p + 1;
    return NULL;
}

/* Check nesting and tokens outside strings. Returns NULL or the reason. */
static const char *json_scan(const char *s, size_t len)
{
    size_t i = 0;
    int depth = 0;
    const char *why;

    while (i < len) {
        char c = s[i];

        if (c == '"') {
            if ((why = json_scan_string(s, len, &i)))
                return why;
            continue;
        }
        if (c == '-' || json_is_digit(c)) {
            if (!json_scan_number(s, len, &i))
                return "malformed number";
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return "nesting too deep";
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (!json_is_ws(c) && c != ',' && c != ':' && !(c >= 'a' && c <= 'z')) {
            return "malformed JSON";
        }
        i++;
    }
    return NULL;
}

cJSON *json_parse(const char *s, size_t len, const char **why)
{
    const char *end = NULL;
    cJSON *root;

    if (!json_utf8_valid(s, len)) {
        *why = "invalid UTF-8";
        return NULL;
    }
    if ((*why = json_scan(s, len)))
        return NULL;
    root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!root) {
        *why = "malformed JSON";
        return NULL;
    }
    while (end < s + len && json_is_ws(*end))
        end++;
    if (end != s + len) {
        cJSON_Delete(root);
        *why = "trailing data after JSON";
        return NULL;
    }
    *why = NULL;
    return root;
}

/* The integral value of a number item within [-2^53, 2^53], or false. */
/* Skip the JSON string starting at j[*i] (a quote). */
static void json_skip_string(const char *j, size_t len, size_t *i)
{
    for ((*i)++; *i < len && j[*i] != '"'; (*i)++)
        if (j[*i] == '\\')
            (*i)++;
    (*i)++;
}

static void json_skip_ws(const char *j, size_t len, size_t *i)
{
    while (*i < len && json_is_ws(j[*i]))
        (*i)++;
}

/* Skip the JSON value starting at j[*i]. */
static void json_skip_value(const char *j, size_t len, size_t *i)
{
    int depth = 0;

    while (*i < len) {
        char ch = j[*i];

        if (ch == '"') {
            json_skip_string(j, len, i);
            if (depth == 0)
                return;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return; /* the enclosing object ends: so does the scalar */
            if (--depth == 0) {
                (*i)++;
                return;
            }
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')) {
            return;
        }
        (*i)++;
    }
}

/* ---- members of checked JSON ---- */

bool json_member(const char *j, size_t len, const char *name, size_t *off, size_t *vlen)
{
    size_t i = 0, nlen = strlen(name);

    json_skip_ws(j, len, &i);
    if (i >= len || j[i] != '{')
        return false;
    i++;
    for (;;) {
        size_t k;
        bool match;

        json_skip_ws(j, len, &i);
        if (i >= len || j[i] != '"')
            return false;
        k = i + 1;
        json_skip_string(j, len, &i);
        if (i > len)
            return false;
        match = i - k - 1 == nlen && memcmp(j + k, name, nlen) == 0;
        json_skip_ws(j, len, &i);
        if (i >= len || j[i] != ':')
            return false;
        i++;
        json_skip_ws(j, len, &i);
        k = i;
        json_skip_value(j, len, &i);
        if (i > len)
            return false;
        if (match) {
            *off = k;
            *vlen = i - k;
            return true;
        }
        json_skip_ws(j, len, &i);
        if (i >= len || j[i] != ',')
            return false;
        i++;
    }
}

static bool json_exact_int(const cJSON *item, int64_t *out)
{
    double v;

    if (!cJSON_IsNumber(item))
        return false;
    v = item->valuedouble;
    if (!isfinite(v) || v != trunc(v) || v < -JSON_ID_LIMIT || v > JSON_ID_LIMIT)
        return false;
    *out = (int64_t)v;
    return true;
}

int json_get_id(const cJSON *item, int64_t *out)
{
    int64_t v;

    if (!json_exact_int(item, &v) || v < 1 || v > JSON_INT_MAX)
        return CHAT_ERR_INVALID;
    *out = v;
    return 0;
}

int json_get_int(const cJSON *item, int64_t min, int64_t max, int64_t *out)
{
    int64_t v;

    if (!json_exact_int(item, &v) || v < min || v > max)
        return CHAT_ERR_INVALID;
    *out = v;
    return 0;
}

int json_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0, limit;

    if (!s)
        return CHAT_ERR_INVALID;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!*s)
        return CHAT_ERR_INVALID;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (!json_is_digit(*s))
            return CHAT_ERR_INVALID;
        if (v > (limit - (uint64_t)(*s - '0')) / 10)
            return CHAT_ERR_INVALID;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (r < min || r > max)
        return CHAT_ERR_INVALID;
    *out = r;
    return 0;
}

/* n digits of s as a number, or -1. */
static int json_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!json_is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int json_parse_time(const char *s, int64_t *unix_us)
{
    struct tm tm = {0};
    int64_t frac = 0, scale = 100000;
    time_t t;

    if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return CHAT_ERR_INVALID;
    tm.tm_year = json_digits(s, 4) - 1900;
    tm.tm_mon = json_digits(s + 5, 2) - 1;
    tm.tm_mday = json_digits(s + 8, 2);
    tm.tm_hour = json_digits(s + 11, 2);
    tm.tm_min = json_digits(s + 14, 2);
    tm.tm_sec = json_digits(s + 17, 2);
    if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
        tm.tm_sec > 60)
        return CHAT_ERR_INVALID;
    s += 19;
    if (*s == '.') {
        if (!json_is_digit(*++s))
            return CHAT_ERR_INVALID;
        for (; json_is_digit(*s); s++, scale /= 10)
            frac += scale ? (*s - '0') * scale : 0;
    }
    if (strcmp(s, "Z") != 0)
        return CHAT_ERR_INVALID;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return CHAT_ERR_INVALID;
    *unix_us = (int64_t)t * 1000000 + frac;
    return 0;
}
