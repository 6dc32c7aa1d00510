/* ops.h - chat-push's metrics (lib/metrics.h), served as GET /metrics on
 * push_port to loopback clients only (http.c; nginx proxies only the
 * stream locations there, so /metrics is never reachable through it).
 *
 * Series:
 *   chat_push_streams{transport="sse|poll|ws"}    streams attached to a
 *       connection now (a long-poll stream only while a poll is waiting)
 *   chat_push_events_fanned_out_total{transport}  events written to
 *       subscribers (one count per event and subscriber)
 *   chat_push_delivery_latency_seconds            per message.created event
 *       written: from the message's created_at (PostgreSQL's now() in the
 *       transaction that inserted it, ms precision, so up to ~1 ms early:
 *       the commit follows within the same statement) to the moment the
 *       transport hands the frame to send() (SSE, WebSocket) or queues the
 *       long-poll answer carrying it; re-sends after a resume count again
 *   chat_push_redis_reconnects_total, chat_push_db_reconnects_total
 *   chat_push_backfills_total    fetches of missed changes from PostgreSQL
 *   chat_push_resyncs_total      resync events queued to live streams
 *       because continuity was lost (Redis reconnect, unfilled gap), not
 *       the resync every new stream starts with
 *
 * Hot path: the transports call ops_fanned_out once per write batch and
 * ops_delivered per message.created event (a clock read and a histogram
 * observation: three relaxed atomics); stream counts, reconnects,
 * backfills and resyncs are read at scrape time from their owners.
 * Single-threaded like the rest of chat-push (the loop).
 */
#ifndef CHAT_PUSH_OPS_H
#define CHAT_PUSH_OPS_H

#include "buf.h"
#include "hub.h"
#include "sub.h"

#define OPS_MAX_TRANSPORTS 8

/* Register the series; the counters of h are read at each render. The
 * per-transport series get one label value per transports[0..n) (its
 * sub_ops.name; http_transports lists them); n <= OPS_MAX_TRANSPORTS.
 * transports is copied, its elements kept by pointer. Returns 0, or -1
 * (logged) on a registration error. */
int ops_init(struct hub *h, const struct sub_ops *const *transports, size_t n);
void ops_release(void);

/* n events (n >= 0) of the transport t were written in one batch; a
 * transport ops_init was not given is not counted. */
void ops_fanned_out(const struct sub_ops *t, unsigned n);
/* ev is being written now: observe its delivery latency if it carries its
 * creation time (hub_event.created_us). */
void ops_delivered(const struct hub_event *ev);

/* Append the exposition (METRICS_CONTENT_TYPE) to out. */
void ops_render(struct buf *out);

#endif
