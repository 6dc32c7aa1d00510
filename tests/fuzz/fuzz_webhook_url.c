/* fuzz_webhook_url.c - libFuzzer target: the URL checks of webhooks and
 * push gateways (lib/netaddr.h; DESIGN.md "Security decisions").
 *
 * Input: a URL. netaddr_url_parse must accept or refuse it with a reason;
 * netaddr_url_allowed is asked against a fixed allow list. When the host is
 * an IP literal (no DNS asked), netaddr_url_check must agree with its own
 * parts: it passes exactly when the scheme is https and the address is not
 * internal (netaddr_is_internal).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = strndup((const char *)data, size);
    struct netaddr_url u;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    const struct sockaddr *sa = NULL;
    const char *why = NULL;
    bool refused;

    if (!url)
        return 0;
    if (netaddr_url_parse(url, &u, &why)) {
        if (!why || !*why)
            abort(); /* a refusal always says why */
        goto out;
    }
    if ((strcmp(u.scheme, "http") && strcmp(u.scheme, "https")) || u.port < 1 || u.port > 65535)
        abort();
    (void)netaddr_url_allowed("https://push.example.org, http://127.0.0.1:8080", url);
    if (inet_pton(AF_INET, u.host, &a4.sin_addr) == 1)
        sa = (const struct sockaddr *)&a4;
    else if (inet_pton(AF_INET6, u.host, &a6.sin6_addr) == 1)
        sa = (const struct sockaddr *)&a6;
    if (!sa)
        goto out;
    why = NULL;
    refused = netaddr_url_check(url, false, &why) != 0;
    if (refused != (strcmp(u.scheme, "https") || netaddr_is_internal(sa)))
        abort();
    if (refused && (!why || !*why))
        abort();
out:
    free(url);
    return 0;
}
