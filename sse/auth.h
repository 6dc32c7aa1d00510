/* auth.h - stream authentication of chat-push: who a stream request is
 * and which stream it gets (API.md "Real-time events", "Transports").
 *
 * Credentials, checked in this order: Authorization: Bearer chat_pat_...
 * (a personal API token with events:read, looked up in PostgreSQL),
 * Bearer <JWT> (checked at once), ?ticket=<hex> (Redis GETDEL; the value
 * cgi/stream.c stored), and for a transport with cursor_auth (long-poll) a
 * ?cursor= alone. Then the request resumes the stream its cursor names
 * (?cursor=, else Last-Event-ID) or opens a new one, whose baseline (the
 * user's chats and versions, token_version, session and API token state in
 * one statement) is read before it turns ready. The connection is
 * suspended while any of that is pending.
 */
#ifndef CHAT_AUTH_H
#define CHAT_AUTH_H

#include <microhttpd.h>

#include "cfg.h"
#include "hub.h"
#include "sub.h"

/* key: the JWT key (JWT_KEY_LEN bytes); cfg, h and key kept by pointer. */
void auth_init(const struct cfg *cfg, struct hub *h, const unsigned char *key);
/* A stream request of transport ops on mc (the access handler's second
 * call): check it, count its address, authenticate, and answer or suspend.
 * Sets *con_cls to its struct push_conn once MHD must call back for it. */
enum MHD_Result auth_request(struct MHD_Connection *mc, void **con_cls, const struct sub_ops *ops);
/* hub_ops.baseline: read the stream's chats and check its token. */
void auth_baseline(void *ctx, struct hub_stream *s);

#endif
