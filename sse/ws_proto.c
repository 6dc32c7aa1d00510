/* ws_proto.c - RFC 6455 pieces of the WebSocket transport that need no
 * socket: handshake checks, the accept key, the drain scanner (ws_proto.h). */
#include "ws_proto.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */

bool ws_header_has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);

    for (const char *p = v; p && *p; p++) {
        if (strncasecmp(p, tok, n) == 0 && (p == v || p[-1] == ' ' || p[-1] == ',') &&
            (p[n] == 0 || p[n] == ',' || p[n] == ' '))
            return true;
    }
    return false;
}

bool ws_origin_ok(const struct cfg *cfg, const char *origin)
{
    char own[64];
    const char *list = cfg->ws_origins;
    const char *scheme = cfg->tls ? "https" : "http";
    size_t n;

    if (!origin)
        return true;
    snprintf(own, sizeof(own), "%s://127.0.0.1:%d", scheme, cfg->port);
    if (strcmp(origin, own) == 0)
        return true;
    snprintf(own, sizeof(own), "%s://localhost:%d", scheme, cfg->port);
    if (strcmp(origin, own) == 0)
        return true;
    n = strlen(origin);
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);

        while (len && *list == ' ')
            list++, len--;
        while (len && list[len - 1] == ' ')
            len--;
        if (len == n && memcmp(list, origin, n) == 0)
            return true;
        list = end ? end + 1 : NULL;
    }
    return false;
}

void ws_accept_key(const char *key, char *out)
{
    unsigned char sha[SHA_DIGEST_LENGTH];
    char in[96];

    snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)in, strlen(in), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, sizeof(sha));
}

bool ws_drain_scan(struct ws_drain *w, const unsigned char *p, size_t n)
{
    while (n) {
        unsigned need, len7;
        uint64_t len = 0;

        if (w->skip) {
            size_t k = n < w->skip ? n : (size_t)w->skip;

            p += k;
            n -= k;
            w->skip -= k;
            continue;
        }
        w->hdr[w->hdr_len++] = *p++;
        n--;
        if (w->hdr_len < 2)
            continue;
        /* A client's Close: FIN, masked, at most 125 bytes (§5.5). */
        if (w->hdr[0] == (0x80 | WSLAY_CONNECTION_CLOSE) && (w->hdr[1] & 0x80) &&
            (w->hdr[1] & 0x7f) <= 125)
            return true;
        len7 = w->hdr[1] & 0x7f;
        need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (w->hdr[1] & 0x80 ? 4 : 0);
        if (w->hdr_len < need)
            continue;
        if (len7 < 126)
            len = len7;
        for (unsigned i = 0; len7 >= 126 && i < (len7 == 126 ? 2u : 8u); i++)
            len = len << 8 | w->hdr[2 + i];
        w->skip = len;
        w->hdr_len = 0;
    }
    return false;
}
