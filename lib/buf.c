/* buf.c - a growable string that is never NULL and always NUL-terminated.
 *
 * Until the first addition, s points at buf_empty and cap is 0; growing
 * from that state allocates. Every allocation failure aborts.
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

const char buf_empty[1];

static void buf_oom(void)
{
    static const char msg[] = "buf: out of memory\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void buf_init(struct buf *b)
{
    b->s = (char *)buf_empty;
    b->len = 0;
    b->cap = 0;
}

void buf_release(struct buf *b)
{
    if (b->cap)
        free(b->s);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->cap)
        b->s[0] = '\0';
}

void buf_grow(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *s;

    if (extra > SIZE_MAX - b->len - 1)
        buf_oom();
    need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    s = realloc(b->cap ? b->s : NULL, cap);
    if (!s)
        buf_oom();
    if (!b->cap)
        s[0] = '\0';
    b->s = s;
    b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    if (!len)
        return;
    buf_grow(b, len);
    memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
    buf_add(b, &c, 1);
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    /* Try the room we have first; only a second pass needs to grow. */
    buf_grow(b, 64);
    va_copy(cp, ap);
    n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0) {
        b->s[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        buf_grow(b, (size_t)n);
        va_copy(cp, ap);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, cp);
        va_end(cp);
    }
    b->len += (size_t)n;
}

/* The two-character escapes of RFC 8259 section 7, or 0 for \u00XX. */
static char buf_json_short_escape(unsigned char c)
{
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    case '\b': return 'b';
    case '\f': return 'f';
    default: return 0;
    }
}

void buf_add_json_str(struct buf *b, const char *s, size_t len)
{
    size_t i, start = 0;

    buf_grow(b, len + 2);
    buf_addch(b, '"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_add(b, s + start, i - start);
        start = i + 1;
        e = buf_json_short_escape(c);
        if (e) {
            char esc[2] = {'\\', e};
            buf_add(b, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15]};
            buf_add(b, esc, 6);
        }
    }
    buf_add(b, s + start, len - start);
    buf_addch(b, '"');
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *s = b->cap ? b->s : NULL;

    if (len)
        *len = b->len;
    if (!s) {
        s = malloc(1);
        if (!s)
            buf_oom();
        s[0] = '\0';
    }
    buf_init(b);
    return s;
}
