/* page.c - strict parsing of list cursors. */
#include "page.h"

#include <string.h>

#include "err.h"
#include "json.h"

/* Parse len digits at s (1 to 18 of them) into *out. */
static int parse_digits(const char *s, size_t len, int64_t *out)
{
    char tmp[20];

    if (len == 0 || len > 18 || strspn(s, "0123456789") < len)
        return CHAT_ERR_INVALID;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    return json_parse_int(tmp, 0, INT64_MAX, out);
}

int page_cursor_parse(const char *s, bool with_key, struct page_cursor *c)
{
    const char *dot = with_key ? strchr(s, '.') : NULL;
    struct page_cursor p = {0, 0};

    if (with_key && (!dot || parse_digits(s, (size_t)(dot - s), &p.key)))
        return CHAT_ERR_INVALID;
    s = with_key ? dot + 1 : s;
    if (parse_digits(s, strlen(s), &p.id))
        return CHAT_ERR_INVALID;
    *c = p;
    return 0;
}
