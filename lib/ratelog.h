/* ratelog.h - at most one log line per interval for a noisy message.
 *
 * For messages a client can cause at will (libmicrohttpd's "closed by
 * remote side with incomplete request", once per abandoned connection): the
 * first passes, then at most one per interval, and the one that passes says
 * how many were held back since the last. Single-threaded; no allocation.
 */
#ifndef CHAT_RATELOG_H
#define CHAT_RATELOG_H

#include <stdbool.h>
#include <stdint.h>

struct ratelog {
    int64_t interval_ms; /* set by the caller; at most one line per this */
    int64_t next_ms;     /* the next line may pass at or after this; 0: now */
    uint64_t suppressed; /* held back since the last line that passed */
};

/* Whether a line may be logged at now_ms (milliseconds, any monotonic
 * clock). When true, *held is how many were suppressed before it (then
 * reset); when false the line is counted as suppressed. */
bool ratelog_pass(struct ratelog *r, int64_t now_ms, uint64_t *held);

#endif
