/* idem.h - Idempotency-Key on every POST (API.md "Idempotency").
 *
 * Keys are scoped to (user, method, path) and kept 24 h in PostgreSQL
 * (table idempotency_keys). The first request claims the key; a retry with
 * the same body gets the stored status and body again with
 * Idempotent-Replayed: true; a different body gets 409
 * idempotency_key_reused; a retry while the first still runs gets 409
 * idempotency_in_progress. Answers with 5xx, 401 or 429 are not stored
 * (the key is released); answers carrying a secret keep no body, so the
 * same key again gets 409.
 */
#ifndef CHAT_IDEM_H
#define CHAT_IDEM_H

#include <stdbool.h>

struct req;

/* Before the handler. Returns 0 when the request should run (no key, or
 * the key is now claimed), or -1 when an answer (a replay, 400, 409, or the
 * database's 5xx) was sent, as the _or_reply helpers do. */
int idem_begin(struct req *req);

/* After the handler: store (or release) the answer req sent. secret says
 * that the answer must not be kept. */
void idem_end(struct req *req, bool secret);

#endif
