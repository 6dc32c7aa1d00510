/* pwhash.h - password hashing with Argon2id (libargon2, RFC 9106).
 *
 * Parameters from DESIGN.md: m = 19 MiB, t = 2, p = 1, 16-byte salt, 32-byte
 * tag, stored in PHC string form ("$argon2id$v=19$m=19456,t=2,p=1$...").
 * A hash takes ~17 ms of one core and 19 MiB, so callers cap how many run
 * at once across the process with the slots below (DESIGN.md "Security"):
 * a burst of logins then gets 503 instead of taking every worker thread.
 */
#ifndef CHAT_PWHASH_H
#define CHAT_PWHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWHASH_ENCODED_LEN 128 /* room for the PHC string with its NUL */

/* Hash pw (len bytes, any content) into out. Returns 0, CHAT_ERR_IO (no
 * randomness) or CHAT_ERR_NOMEM. */
int pwhash_hash(const char *pw, size_t len, char out[PWHASH_ENCODED_LEN]);

/* true if pw matches the PHC string encoded. A malformed encoded string is false. */
bool pwhash_verify(const char *encoded, const char *pw, size_t len);

/* Spend the same time as a verify against a real hash, for unknown users, so
 * login time does not tell whether an account exists. */
void pwhash_dummy_verify(const char *pw, size_t len);

/* The process-wide cap on concurrent hashes. At most max (>= 1) slots are
 * held at once; a caller waits at most wait_ms (>= 0) milliseconds for one
 * to free up. Call before the threads that hash start (chat-api's main,
 * with argon2_max_concurrent and argon2_wait_ms of lib/cfg.h); calling it
 * again changes the cap. Until it is called there is no cap. */
void pwhash_limit_init(int max, int wait_ms);
/* Take a slot before pwhash_hash, pwhash_verify or pwhash_dummy_verify
 * (one slot covers several calls of one request). Returns 0, or
 * CHAT_ERR_BUSY when no slot freed up within wait_ms: the caller answers
 * 503 `unavailable` with Retry-After (API.md "Conventions") and must not
 * call pwhash_slot_release. Thread-safe. */
int pwhash_slot_acquire(void);
/* Give back a slot taken by pwhash_slot_acquire. */
void pwhash_slot_release(void);

/* A snapshot of the cap, for metrics (Prometheus gauges and a counter). */
struct pwhash_stats {
    int in_flight;     /* slots held now: hashes running or about to run */
    int waiting;       /* callers waiting for a slot now */
    uint64_t rejected; /* pwhash_slot_acquire calls refused with CHAT_ERR_BUSY since the start */
};
/* Fill *out with one consistent snapshot (taken under the cap's lock). Thread-safe. */
void pwhash_limit_stats(struct pwhash_stats *out);

#endif
