/* ops.h - chat-api's metrics (lib/metrics.h) and its own loopback
 * listener for them (lib/opshttp.h: GET /metrics and /healthz on
 * 127.0.0.1:metrics_port, never through nginx; each chat-api process is its
 * own Prometheus target).
 *
 * Series: chat_api_requests_total{route,method,status},
 * chat_api_request_duration_seconds{route}, chat_api_db_reconnects_total,
 * chat_api_redis_reconnects_total, chat_api_argon2_in_flight,
 * chat_api_argon2_waiting, chat_api_argon2_rejected_total. route is the
 * route's template (router_template: "/api/v1/chats/{chat_id}/messages"),
 * or "unmatched" when no route matched (404, 405, a request that could not
 * be read), so the label values stay a fixed, small set.
 */
#ifndef CHAT_API_OPS_H
#define CHAT_API_OPS_H

#include "cfg.h"
#include "router.h"

/* Register the series and, when cfg->metrics_port is not 0, start the
 * listener. Returns 0, or -1 if the port cannot be bound. Call once, before
 * the workers start. */
int ops_start(const struct cfg *cfg);
void ops_stop(void);

/* One request was answered: route as router_match found it (NULL: none),
 * method the request's method (free text: only well-known methods become
 * label values, others "other"), status the HTTP status sent, seconds from
 * its start to its reply. Thread-safe, lock-free once a (route, method,
 * status) combination has been seen. */
void ops_request(const struct route *route, const char *method, int status, double seconds);

#endif
