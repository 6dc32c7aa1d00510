/* page.h - cursors of paginated lists (API.md "Lists").
 *
 * A cursor is opaque to clients; here it is "<key>.<id>" for lists ordered
 * by a key then id (chats by activity, in microseconds) or "<id>" for lists
 * ordered by id. Parsing is strict: decimal digits only, no sign, no
 * spaces, nothing after.
 */
#ifndef CHAT_PAGE_H
#define CHAT_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#define PAGE_LIMIT_DEFAULT 50
#define PAGE_LIMIT_MAX 200

struct page_cursor {
    int64_t key; /* 0 for id-only cursors */
    int64_t id;
};

/* Parse s into c: with_key selects "<key>.<id>" over "<id>". Returns 0 or
 * CHAT_ERR_INVALID (c is then unchanged). */
int page_cursor_parse(const char *s, bool with_key, struct page_cursor *c);

#endif
