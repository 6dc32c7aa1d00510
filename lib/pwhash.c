/* pwhash.c - Argon2id password hashes in PHC string form (libargon2). */
#include "pwhash.h"

#include <argon2.h>
#include <pthread.h>
#include <string.h>

#include "crypto.h"
#include "err.h"

#define PWHASH_T_COST 2
#define PWHASH_M_COST 19456 /* KiB */
#define PWHASH_PARALLELISM 1
#define PWHASH_SALT_LEN 16
#define PWHASH_HASH_LEN 32

static char pwhash_dummy[PWHASH_ENCODED_LEN];
static pthread_once_t pwhash_dummy_once = PTHREAD_ONCE_INIT;

int pwhash_hash(const char *pw, size_t len, char out[PWHASH_ENCODED_LEN])
{
    unsigned char salt[PWHASH_SALT_LEN];
    int rc;

    if (crypto_random(salt, sizeof(salt)))
        return CHAT_ERR_IO;
    rc = argon2id_hash_encoded(PWHASH_T_COST, PWHASH_M_COST, PWHASH_PARALLELISM, pw, len, salt,
                               sizeof(salt), PWHASH_HASH_LEN, out, PWHASH_ENCODED_LEN);
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return CHAT_ERR_NOMEM;
    return rc == ARGON2_OK ? 0 : CHAT_ERR_INVALID;
}

bool pwhash_verify(const char *encoded, const char *pw, size_t len)
{
    /* Only Argon2id is ever stored; refusing other types keeps a tampered
     * row from downgrading the check to argon2i or argon2d. */
    if (!encoded || strncmp(encoded, "$argon2id$", 10))
        return false;
    return argon2id_verify(encoded, pw, len) == ARGON2_OK;
}

/* A hash of a random password with the real parameters, so a dummy verify
 * costs what a real one does. */
static void pwhash_dummy_init(void)
{
    unsigned char pw[16];

    if (crypto_random(pw, sizeof(pw)) ||
        pwhash_hash((const char *)pw, sizeof(pw), pwhash_dummy) != 0)
        pwhash_dummy[0] = '\0';
}

void pwhash_dummy_verify(const char *pw, size_t len)
{
    pthread_once(&pwhash_dummy_once, pwhash_dummy_init);
    if (pwhash_dummy[0])
        (void)argon2id_verify(pwhash_dummy, pw, len);
}
