/* buf.h - a growable string that is never NULL and always NUL-terminated.
 *
 * After the model of git's strbuf: an initialised buf points at a static
 * empty string until something is added, so it can be printed at any time.
 * Allocation failure aborts: a chat server out of memory cannot do better.
 */
#ifndef CHAT_BUF_H
#define CHAT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *s;    /* never NULL; NUL-terminated */
    size_t len; /* bytes before the NUL */
    size_t cap; /* bytes allocated, 0 while s is the static empty string */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        (char *)buf_empty, 0, 0                                                                    \
    }
extern const char buf_empty[1];

/* Make b an empty buffer. Does not free anything b held. */
void buf_init(struct buf *b);
/* Free what b holds and make it empty again. */
void buf_release(struct buf *b);
/* Keep the allocation, set the length to 0. */
void buf_reset(struct buf *b);
/* Ensure room for extra more bytes plus the NUL. */
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal, quotes included (RFC 8259 section 7). */
void buf_add_json_str(struct buf *b, const char *s, size_t len);
/* Hand the string over to the caller, who frees it with free(); b is left empty. */
char *buf_detach(struct buf *b, size_t *len);

#endif
