/* crypto.h - random tokens, hashes and encodings, all from OpenSSL. */
#ifndef CHAT_CRYPTO_H
#define CHAT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fill out with n bytes from RAND_bytes. Returns 0 or CHAT_ERR_IO. */
int crypto_random(unsigned char *out, size_t n);

/* Write n random bytes as 2n lowercase hex digits plus NUL into out (2n+1
 * bytes). Returns 0 or CHAT_ERR_IO. */
int crypto_random_hex(char *out, size_t n);

/* Write len bytes of in as lowercase hex plus NUL into out (2*len+1 bytes). */
void crypto_hex(const unsigned char *in, size_t len, char *out);

/* SHA-256 of data into out (32 bytes). */
void crypto_sha256(const void *data, size_t len, unsigned char out[32]);

/* HMAC-SHA256(key, data) into out (32 bytes). */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32]);

/* Constant-time comparison of n bytes (CRYPTO_memcmp). */
bool crypto_equal(const void *a, const void *b, size_t n);

/* base64url without padding (RFC 4648 section 5). Encode writes
 * 4*ceil(len/3) bytes at most plus NUL and returns the length written.
 * Decode returns the number of bytes written to out (room for len*3/4+3
 * needed) or -1 on a character outside the alphabet or a bad length. */
size_t crypto_b64url_encode(const unsigned char *in, size_t len, char *out);
long crypto_b64url_decode(const char *in, size_t len, unsigned char *out);

#endif
