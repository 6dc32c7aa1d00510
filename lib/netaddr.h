/* netaddr.h - which outgoing HTTP targets chat may reach (DESIGN.md
 * "Security decisions": webhooks and push gateways).
 *
 * chat-api checks a URL when it is registered; chat-notify checks every
 * resolved address again in CURLOPT_OPENSOCKETFUNCTION, so a name that
 * resolves elsewhere later (DNS rebinding) is still refused.
 */
#ifndef CHAT_NETADDR_H
#define CHAT_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* true if sa (AF_INET or AF_INET6) is loopback, private (RFC 1918),
 * link-local, CGNAT (RFC 6598), ULA (RFC 4193), multicast, reserved,
 * documentation, unspecified, v4-mapped/compatible, NAT64 or 6to4: anything
 * but a plain public unicast address. Other families count as internal. */
bool netaddr_is_internal(const struct sockaddr *sa);

struct netaddr_url {
    char scheme[8]; /* "http" or "https", lower case */
    char host[256]; /* without brackets */
    int port;       /* explicit or the scheme's default */
    bool port_given;
};

/* Parse an absolute http(s) URL without user info (RFC 3986) into out.
 * Returns 0, or CHAT_ERR_INVALID with a client-fit reason in *why. */
int netaddr_url_parse(const char *url, struct netaddr_url *out, const char **why);

/* Check a webhook or gateway URL for registration: https only, and every
 * address the host resolves to public, unless allow_private (then http and
 * any address pass). Resolves with getaddrinfo (blocking). Returns 0, or
 * CHAT_ERR_INVALID with a client-fit reason in *why. */
int netaddr_url_check(const char *url, bool allow_private, const char **why);

/* true if url's scheme and host equal those of an entry of list (entries
 * "scheme://host[:port]" separated by commas or spaces; an entry without a
 * port allows any port). */
bool netaddr_url_allowed(const char *list, const char *url);

#endif
