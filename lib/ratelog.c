/* ratelog.c - one log line per interval (ratelog.h). */
#include "ratelog.h"

bool ratelog_pass(struct ratelog *r, int64_t now_ms, uint64_t *held)
{
    if (r->next_ms && now_ms < r->next_ms) {
        r->suppressed++;
        return false;
    }
    *held = r->suppressed;
    r->suppressed = 0;
    r->next_ms = now_ms + r->interval_ms;
    if (r->next_ms == 0)
        r->next_ms = 1;
    return true;
}
