/* claim.c - chat-notify's claim of due rows, shared by webhook.c and push.c.
 *
 * The claim statements lock the rows they return for this backend
 * (FOR UPDATE SKIP LOCKED, locked_by = pg_backend_pid(); notify.h); this
 * runs one and starts a request for each row. It lives apart from main.c
 * so the calls between the files run one way: main.c calls webhook.c and
 * push.c, which call claim.c and http.c, which call nothing back.
 */
#include <stdio.h>

#include "log.h"
#include "notify.h"

int notify_claim(struct notify *n, const struct db_stmt *st, int max, const char *what,
                 void (*start)(struct notify *n, PGresult *r, int row))
{
    char smax[16], slease[16];
    PGresult *r;
    int rows;

    if (max <= 0)
        return 0;
    snprintf(smax, sizeof(smax), "%d", max);
    snprintf(slease, sizeof(slease), "%d", n->lease_s);
    r = db_exec(&n->db, st, (const char *[]){smax, slease});
    if (!r) {
        log_warn("%s: claim: %s", what, n->db.errstr);
        return -1;
    }
    rows = PQntuples(r);
    for (int i = 0; i < rows; i++)
        start(n, r, i);
    PQclear(r);
    return rows;
}
