/* iplimit.h - open streams per client IP (DESIGN.md "Limits everywhere").
 *
 * Behind nginx every TCP peer is 127.0.0.1, so the client is the address
 * nginx writes into X-Forwarded-For; from any other peer it is the peer. A
 * stream request holds one count of its address from its acceptance until
 * its connection object goes (an upgraded WebSocket keeps it for its whole
 * life); past the cap the request gets 429. Single-threaded (the loop).
 */
#ifndef CHAT_IPLIMIT_H
#define CHAT_IPLIMIT_H

#include <microhttpd.h>
#include <stdbool.h>

struct ip_count;

/* cap: open streams allowed per address (cfg push_max_per_ip). */
void iplimit_init(unsigned cap);
/* The client's address of mc (16 bytes: IPv6, or IPv4 as ::ffff:a.b.c.d):
 * the TCP peer, or when that is loopback (nginx) the last entry of
 * X-Forwarded-For. false if the peer is unknown. */
bool iplimit_client_addr(struct MHD_Connection *mc, unsigned char *a);
/* One more open stream from a; NULL if a is at the cap already. */
struct ip_count *iplimit_take(const unsigned char *a);
/* Give back the count iplimit_take returned. */
void iplimit_release(struct ip_count *x);
/* X-RateLimit-Limit/-Remaining/-Reset on r, an answer of /events, /poll or
 * /ws (API.md "Conventions", as draft-ietf-httpapi-ratelimit-headers):
 * Limit is the cap, Remaining what is left of it now for mc's address,
 * Reset 0 (there is no window: a place frees when a stream ends). */
void iplimit_headers(struct MHD_Response *r, struct MHD_Connection *mc);

#endif
