/* iplimit.c - open streams per client IP: a small hash table of counts
 * keyed by address (iplimit.h). */
#include "iplimit.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

struct ip_count {
    struct ip_count *next;
    unsigned char addr[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    unsigned n;
};

static struct {
    struct ip_count **slots;
    size_t cap, n; /* cap: a power of two */
    unsigned max;  /* open streams per address */
} IPS;

void iplimit_init(unsigned max)
{
    IPS.max = max;
}

static size_t ip_slot(const unsigned char *a, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int i;

    for (i = 0; i < 16; i++)
        h = (h ^ a[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct ip_count **ip_find(const unsigned char *a)
{
    struct ip_count **p = &IPS.slots[ip_slot(a, IPS.cap)];

    while (*p && memcmp((*p)->addr, a, 16) != 0)
        p = &(*p)->next;
    return p;
}

static void ips_grow(void)
{
    size_t cap = IPS.cap ? IPS.cap * 2 : 64, i;
    struct ip_count **slots = calloc(cap, sizeof(*slots));

    if (!slots)
        abort();
    for (i = 0; i < IPS.cap; i++) {
        struct ip_count *x = IPS.slots[i], *next;

        for (; x; x = next) {
            size_t j = ip_slot(x->addr, cap);

            next = x->next;
            x->next = slots[j];
            slots[j] = x;
        }
    }
    free(IPS.slots);
    IPS.slots = slots;
    IPS.cap = cap;
}

struct ip_count *iplimit_take(const unsigned char *a)
{
    struct ip_count **p, *x;

    if (IPS.n >= IPS.cap)
        ips_grow();
    p = ip_find(a);
    x = *p;
    if (!x) {
        x = calloc(1, sizeof(*x));
        if (!x)
            abort();
        memcpy(x->addr, a, 16);
        *p = x;
        IPS.n++;
    }
    if (x->n >= IPS.max)
        return NULL; /* x->n > 0: it stays */
    x->n++;
    return x;
}

void iplimit_release(struct ip_count *x)
{
    struct ip_count **p;

    if (--x->n > 0)
        return;
    p = ip_find(x->addr);
    *p = x->next;
    IPS.n--;
    free(x);
}

static bool addr_is_loopback(const unsigned char *a)
{
    static const unsigned char v6_lo[16] = {[15] = 1};
    static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};

    return memcmp(a, v6_lo, 16) == 0 || (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
}

/* Text of one address (v4 or v6, spaces around allowed) into a. */
static bool addr_parse(const char *s, size_t len, unsigned char *a)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    struct in_addr v4;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    if (inet_pton(AF_INET, tmp, &v4) == 1) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, tmp, a) == 1;
}

/* The last entry of X-Forwarded-For is the one the nearest proxy wrote. */
bool iplimit_client_addr(struct MHD_Connection *mc, unsigned char *a)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    const char *xff, *last;

    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return false;
    }
    if (!addr_is_loopback(a))
        return true;
    xff = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff)
        return true;
    last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    if (!addr_parse(last, strlen(last), a))
        log_debug("unparsable X-Forwarded-For, counting the peer");
    return true;
}

void iplimit_headers(struct MHD_Response *r, struct MHD_Connection *mc)
{
    unsigned char a[16];
    unsigned cap = IPS.max, n = 0;
    struct ip_count *x;
    char v[16];

    if (IPS.cap && iplimit_client_addr(mc, a) && (x = *ip_find(a)))
        n = x->n;
    snprintf(v, sizeof(v), "%u", cap);
    MHD_add_response_header(r, "X-RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%u", n < cap ? cap - n : 0);
    MHD_add_response_header(r, "X-RateLimit-Remaining", v);
    MHD_add_response_header(r, "X-RateLimit-Reset", "0");
}
