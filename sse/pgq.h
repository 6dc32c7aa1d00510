/* pgq.h - a queue of PostgreSQL queries on one non-blocking libpq connection.
 *
 * The connection is made with PQconnectStart/PQconnectPoll and driven by the
 * loop; queries go out one at a time with PQsendQueryParams and PQflush, and
 * results are read with PQconsumeInput/PQisBusy when the socket is readable,
 * so the loop never blocks on PostgreSQL. A lost connection fails what is
 * queued and is made again from pgq_tick.
 */
#ifndef CHAT_PGQ_H
#define CHAT_PGQ_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct pgq_req;

/* Called once per query with its first result (check PQresultStatus), or
 * with NULL if the query could not run. res is freed after the call. Never
 * called from inside pgq_exec. */
typedef void pgq_cb(void *arg, const PGresult *res);

/* Remember conninfo and start connecting. Returns 0. */
int pgq_init(const char *conninfo);
/* Call about every 250 ms: reconnects and connect timeouts. */
void pgq_tick(int64_t now_ms);
void pgq_close(void);
/* Send the next queued query if none is in flight: once per loop pass. */
void pgq_poll(void);
/* true when connected. */
bool pgq_ready(void);
/* Connections opened again after one was lost (for metrics). */
uint64_t pgq_reconnects(void);

/* Queue sql (a static string) with nparams text parameters (copied).
 * Returns a handle for pgq_cancel, or NULL when PostgreSQL is not connected
 * (cb is then not called). */
struct pgq_req *pgq_exec(const char *sql, int nparams, const char *const *params, pgq_cb *cb,
                         void *arg);
/* cb of r will not be called. r must not have completed yet. */
void pgq_cancel(struct pgq_req *r);

#endif
