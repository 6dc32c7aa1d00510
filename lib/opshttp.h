/* opshttp.h - a process's own loopback listener for operators: GET
 * /healthz, /readyz and /metrics (chat-api on metrics_port, chat-notify on
 * notify_port; chat-push serves the same paths from its event loop).
 *
 * libmicrohttpd in a thread of its own (MHD_USE_INTERNAL_POLLING_THREAD),
 * bound to 127.0.0.1 only: every process is its own Prometheus target, and
 * nothing here is reachable through nginx. One listener per process.
 */
#ifndef CHAT_OPSHTTP_H
#define CHAT_OPSHTTP_H

#include "metrics.h"

/* How /readyz answers: status 200 or 503 with a one-line text body (a
 * static string). Called in the listener's thread: must be thread-safe. */
typedef unsigned opshttp_ready_fn(void *arg, const char **body);

/* Listen on 127.0.0.1:port. GET /healthz answers 200 "ok"; GET /readyz
 * answers ready(arg) (404 when ready is NULL); GET /metrics answers
 * metrics_render(m) with METRICS_CONTENT_TYPE; anything else 404, other
 * methods than GET and HEAD 405. m must outlive opshttp_stop. Returns 0, or
 * -1 if the port cannot be bound (errno from MHD). */
int opshttp_start(int port, struct metrics *m, opshttp_ready_fn *ready, void *arg);
/* Stop the listener (waits for its thread); no-op if it does not run. */
void opshttp_stop(void);

#endif
