/* pwhash.h - password hashing with Argon2id (libargon2, RFC 9106).
 *
 * Parameters from DESIGN.md: m = 19 MiB, t = 2, p = 1, 16-byte salt, 32-byte
 * tag, stored in PHC string form ("$argon2id$v=19$m=19456,t=2,p=1$...").
 * A hash takes ~17 ms of one core, so callers cap how many run at once.
 */
#ifndef CHAT_PWHASH_H
#define CHAT_PWHASH_H

#include <stdbool.h>
#include <stddef.h>

#define PWHASH_ENCODED_LEN 128 /* room for the PHC string with its NUL */

/* Hash pw (len bytes, any content) into out. Returns 0, CHAT_ERR_IO (no
 * randomness) or CHAT_ERR_NOMEM. */
int pwhash_hash(const char *pw, size_t len, char out[PWHASH_ENCODED_LEN]);

/* true if pw matches the PHC string encoded. A malformed encoded string is false. */
bool pwhash_verify(const char *encoded, const char *pw, size_t len);

/* Spend the same time as a verify against a real hash, for unknown users, so
 * login time does not tell whether an account exists. */
void pwhash_dummy_verify(const char *pw, size_t len);

#endif
