/* jwt.h - JSON Web Tokens, HS256 only (RFC 7519, RFC 7515, RFC 7518 section 3.2).
 *
 * The algorithm is pinned: a header whose "alg" is anything but "HS256"
 * (including "none") is refused, the header is never trusted to pick a key
 * or an algorithm. Signatures are compared in constant time (CRYPTO_memcmp).
 * HMAC and base64 come from OpenSSL, JSON from cJSON.
 */
#ifndef CHAT_JWT_H
#define CHAT_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JWT_KEY_LEN 32 /* bytes: 256-bit key */
#define JWT_SKEW 60    /* seconds of clock skew allowed on exp and nbf */

/* The claims this service puts into and checks in an access token. */
struct jwt_claims {
    int64_t sub;           /* user id */
    int64_t sid;           /* session id (0 for none) */
    int64_t tv;            /* the user's token_version when issued */
    int64_t iat, nbf, exp; /* unix seconds */
};

/* Read the key from path; if the file does not exist, create it (mode 0600,
 * O_EXCL so two starting services agree) with JWT_KEY_LEN bytes from
 * RAND_bytes. key must hold JWT_KEY_LEN bytes. Returns 0, CHAT_ERR_IO or
 * CHAT_ERR_INVALID (file of the wrong size). */
int jwt_key_load(const char *path, unsigned char *key);

/* Sign the claims with iss and aud into out (appended, compact JWS form). */
void jwt_sign(const unsigned char *key, const char *iss, const char *aud,
              const struct jwt_claims *cl, struct buf *out);

/* Verify token (NUL-terminated) at time now (unix seconds): structure,
 * header {"alg":"HS256"} (typ optional), signature, exp and nbf with
 * JWT_SKEW, iss and aud exactly. Fills cl on success.
 * Returns 0, CHAT_ERR_INVALID (malformed or wrong alg) or CHAT_ERR_AUTH
 * (bad signature, expired, not yet valid, wrong iss or aud). */
int jwt_verify(const unsigned char *key, const char *iss, const char *aud, const char *token,
               int64_t now, struct jwt_claims *cl);

#endif
