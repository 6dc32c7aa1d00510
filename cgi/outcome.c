/* outcome.c - outcome tables: a SQL function's status word to the answer. */
#include "outcome.h"

#include <string.h>

const struct outcome *outcome_find(const struct outcome *table, const char *status)
{
    const struct outcome *o = table;

    for (; o->status; o++)
        if (status && strcmp(o->status, status) == 0)
            return o;
    return o;
}
