/* http.h - chat-push's HTTP side: the MHD daemons and their routes.
 *
 * Routes (with or without the /api/v1 prefix nginx passes through):
 *   GET /ws       WebSocket (its own daemon on push_ws_port; sub_ws.c)
 *   GET /poll     long-poll (sub_poll.c); a cursor alone continues its stream
 *   GET /events   SSE stream (sub_sse.c; API.md "Real-time events")
 *   (each authenticated by auth.h: ?ticket=<hex>, Authorization: Bearer
 *   <JWT> or an API token; a ?cursor= or Last-Event-ID of this process run
 *   resumes its stream)
 *   GET /healthz  200 "ok" while the process runs
 *   GET /readyz   200 when Redis is subscribed and PostgreSQL connected
 *   GET /metrics  Prometheus text format (sse/ops.h), on push_port and
 *                 push_poll_port, to a loopback peer without X-Forwarded-For
 * Three daemons serve these on push_port (SSE; 4 KiB pools), push_poll_port
 * (nginx sends /poll there: long-poll resumes then walk no SSE stream;
 * 8 KiB pools) and push_ws_port (WebSocket). They run in our loop
 * (MHD_USE_EPOLL, no thread of their own): main.c adds each
 * http_epoll_fd() to its epoll set and calls http_run.
 */
#ifndef CHAT_HTTP_H
#define CHAT_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "hub.h"
#include "sub.h"

/* The transports of the route table, in its order: up to cap of them into
 * out (pointers to static sub_ops); returns how many there are. */
size_t http_transports(const struct sub_ops **out, size_t cap);

/* Start the daemon on cfg->push_addr:push_port. key is the JWT key
 * (JWT_KEY_LEN bytes, kept by pointer). Returns 0 or CHAT_ERR_IO. */
int http_start(const struct cfg *cfg, struct hub *h, const unsigned char *key);
enum http_daemon { HTTP_D_STREAM, HTTP_D_POLL, HTTP_D_WS, HTTP_NDAEMONS };
/* MHD's epoll fd of one daemon, for the loop; -1 if it does not run
 * (push_poll_port 0). */
int http_epoll_fd(enum http_daemon which);
/* Resume the connections woken since the last pass (one batch), then let MHD
 * work if its fd was ready, it resumed something, or its timeout passed.
 * Returns the milliseconds the loop may wait for MHD's sake (-1: no limit). */
int64_t http_run(bool fd_ready, int64_t now_ms);
/* true if a transport has work now: the loop must not sleep. */
bool http_busy(void);
/* Once a second: heartbeats, stream age limits, stuck authentications. */
void http_tick(int64_t now_ms);
/* Stop accepting and end every stream cleanly (resumes what is suspended). */
void http_shutdown_begin(void);
/* Requests still being served. */
unsigned http_active(void);
/* MHD_stop_daemon, after http_shutdown_begin and a last http_run. */
void http_stop(void);

#endif
