/* crypto.c - random tokens, hashes and base64url, all from OpenSSL.
 *
 * base64url is a small loop of its own: EVP_EncodeBlock knows only the
 * padded standard alphabet, and a strict decoder (no padding, no foreign
 * characters, no stray low bits) is simpler to get right than to translate
 * around EVP_DecodeBlock, which accepts whitespace and padding.
 */
#include "crypto.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>

#include "err.h"
#include "hex.h"

static const char crypto_b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int crypto_random(unsigned char *out, size_t n)
{
    while (n) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;

        if (RAND_bytes(out, chunk) != 1)
            return CHAT_ERR_IO;
        out += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int crypto_random_hex(char *out, size_t n)
{
    unsigned char stack[64];
    unsigned char *raw = n <= sizeof(stack) ? stack : malloc(n);
    int rc;

    if (!raw)
        abort(); /* as buf does on allocation failure */
    rc = crypto_random(raw, n);
    if (!rc)
        crypto_hex(raw, n, out);
    OPENSSL_cleanse(raw, n);
    if (raw != stack)
        free(raw);
    return rc;
}

void crypto_hex(const unsigned char *in, size_t len, char *out)
{

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
    SHA256(data, len, out);
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32])
{
    unsigned int outlen = 32;

    /* HMAC() only fails on allocation failure or a key over INT_MAX bytes. */
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen))
        abort();
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

size_t crypto_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    const char *a = crypto_b64url_alpha;
    size_t i, o = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (len - i == 1) {
        out[o++] = a[in[i] >> 2];
        out[o++] = a[(in[i] & 3) << 4];
    } else if (len - i == 2) {
        out[o++] = a[in[i] >> 2];
        out[o++] = a[(in[i] & 3) << 4 | in[i + 1] >> 4];
        out[o++] = a[(in[i + 1] & 15) << 2];
    }
    out[o] = '\0';
    return o;
}

/* The 6-bit value of a base64url character, or -1. */
static int crypto_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decode 2 to 4 characters into 1 to 3 bytes. Returns the byte count or -1,
 * also when the unused low bits of a short group are not zero (RFC 4648
 * section 3.5: such a string has no canonical form). */
static int crypto_b64url_group(const char *in, size_t n, unsigned char *out)
{
    unsigned long v = 0;

    for (size_t i = 0; i < 4; i++) {
        int d = i < n ? crypto_b64url_value((unsigned char)in[i]) : 0;

        if (d < 0)
            return -1;
        v = v << 6 | (unsigned long)d;
    }
    if ((n == 2 && (v & 0xffff)) || (n == 3 && (v & 0xff)))
        return -1;
    out[0] = (unsigned char)(v >> 16);
    if (n > 2)
        out[1] = (unsigned char)(v >> 8);
    if (n > 3)
        out[2] = (unsigned char)v;
    return (int)n - 1;
}

long crypto_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    size_t i;
    long o = 0;

    if (len % 4 == 1)
        return -1;
    for (i = 0; i < len; i += 4) {
        size_t n = len - i < 4 ? len - i : 4;
        int got = crypto_b64url_group(in + i, n, out + o);

        if (got < 0)
            return -1;
        o += got;
    }
    return o;
}
