/* netaddr.c - outgoing HTTP targets: address classes and URL checks. */
#include "netaddr.h"

#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

struct v4_net {
    uint32_t net;
    int bits;
};

/* IANA special-purpose IPv4 ranges (RFC 6890 and successors) and the rest
 * that is not globally routable unicast. */
static const struct v4_net v4_internal[] = {
    {0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10}, {0x7f000000, 8},  {0xa9fe0000, 16},
    {0xac100000, 12}, {0xc0000000, 24}, {0xc0000200, 24}, {0xc0a80000, 16}, {0xc6120000, 15},
    {0xc6336400, 24}, {0xcb007100, 24}, {0xe0000000, 4},  {0xf0000000, 4},
};

static bool v4_is_internal(uint32_t a)
{
    for (size_t i = 0; i < sizeof(v4_internal) / sizeof(v4_internal[0]); i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_internal[i].bits);
        if ((a & mask) == v4_internal[i].net)
            return true;
    }
    return false;
}

static bool v6_is_internal(const unsigned char *b)
{
    static const unsigned char zero[12] = {0};

    if (memcmp(b, zero, 12) == 0) /* ::, ::1 and v4-compatible */
        return true;
    if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) /* v4-mapped */
        return true;
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) /* NAT64 64:ff9b::/96 */
        return true;
    if (b[0] == 0x01 && b[1] == 0x00 && !b[2] && !b[3] && !b[4] && !b[5] && !b[6] && !b[7])
        return true;           /* discard 100::/64 */
    if ((b[0] & 0xfe) == 0xfc) /* ULA fc00::/7 */
        return true;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* link-local fe80::/10 */
        return true;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* site-local fec0::/10 */
        return true;
    if (b[0] == 0xff) /* multicast */
        return true;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* documentation */
        return true;
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 embeds any IPv4 address */
        return true;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) /* Teredo */
        return true;
    return false;
}

bool netaddr_is_internal(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_is_internal(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return v6_is_internal(in6->sin6_addr.s6_addr);
    }
    return true;
}

static int url_part(CURLU *u, CURLUPart part, char *out, size_t outlen)
{
    char *v = NULL;
    int rc = -1;

    if (curl_url_get(u, part, &v, 0) == CURLUE_OK && strlen(v) < outlen) {
        snprintf(out, outlen, "%s", v);
        rc = 0;
    }
    curl_free(v);
    return rc;
}

int netaddr_url_parse(const char *url, struct netaddr_url *out, const char **why)
{
    CURLU *u = curl_url();
    char *v = NULL, port[8];
    int rc = CHAT_ERR_INVALID;

    memset(out, 0, sizeof(*out));
    *why = "url must be an absolute http or https URL";
    if (!u)
        return CHAT_ERR_NOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (url_part(u, CURLUPART_SCHEME, out->scheme, sizeof(out->scheme)) ||
        (strcmp(out->scheme, "http") && strcmp(out->scheme, "https")))
        goto out;
    if (curl_url_get(u, CURLUPART_USER, &v, 0) == CURLUE_OK) {
        *why = "url must not hold user information";
        goto out;
    }
    if (url_part(u, CURLUPART_HOST, out->host, sizeof(out->host)) || !out->host[0])
        goto out;
    if (out->host[0] == '[') { /* an IPv6 literal comes bracketed */
        size_t n = strlen(out->host);
        memmove(out->host, out->host + 1, n - 2);
        out->host[n - 2] = '\0';
    }
    out->port_given = url_part(u, CURLUPART_PORT, port, sizeof(port)) == 0;
    out->port = out->port_given ? atoi(port) : strcmp(out->scheme, "https") ? 80 : 443;
    if (out->port < 1 || out->port > 65535) { /* TCP port 0 reaches nothing */
        *why = "url's port must be 1 to 65535";
        goto out;
    }
    rc = 0;
out:
    curl_free(v);
    curl_url_cleanup(u);
    return rc;
}

int netaddr_url_check(const char *url, bool allow_private, const char **why)
{
    struct netaddr_url p;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    int rc;

    if ((rc = netaddr_url_parse(url, &p, why)))
        return rc;
    if (allow_private)
        return 0;
    if (strcmp(p.scheme, "https")) {
        *why = "url must use https";
        return CHAT_ERR_INVALID;
    }
    if (getaddrinfo(p.host, NULL, &hints, &res) || !res) {
        *why = "url host does not resolve";
        return CHAT_ERR_INVALID;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (netaddr_is_internal(ai->ai_addr)) {
            *why = "url resolves to an internal address";
            rc = CHAT_ERR_INVALID;
            break;
        }
    }
    freeaddrinfo(res);
    return rc;
}

bool netaddr_url_allowed(const char *list, const char *url)
{
    struct netaddr_url want, entry;
    const char *why, *p = list;
    char item[512];

    if (!list || netaddr_url_parse(url, &want, &why))
        return false;
    while (*p) {
        size_t n = strcspn(p, ", \t");
        if (n > 0 && n < sizeof(item)) {
            memcpy(item, p, n);
            item[n] = '\0';
            if (netaddr_url_parse(item, &entry, &why) == 0 && !strcmp(entry.scheme, want.scheme) &&
                !strcasecmp(entry.host, want.host) &&
                (!entry.port_given || entry.port == want.port))
                return true;
        }
        p += n;
        p += strspn(p, ", \t");
    }
    return false;
}
