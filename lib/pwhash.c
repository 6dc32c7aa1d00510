/* pwhash.c - Argon2id password hashes in PHC string form (libargon2). */
#include "pwhash.h"

#include <argon2.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

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

/* The slots: a counter under a mutex, and a condition (on CLOCK_MONOTONIC,
 * so a clock step never stretches a wait) that a release signals. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int max; /* 0: no cap */
    int wait_ms;
    int in_flight;
    int waiting;
    uint64_t rejected;
} pwhash_lim = {.lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t pwhash_lim_once = PTHREAD_ONCE_INIT;

static void pwhash_lim_init_cond(void)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&pwhash_lim.freed, &a);
    pthread_condattr_destroy(&a);
}

void pwhash_limit_init(int max, int wait_ms)
{
    pthread_once(&pwhash_lim_once, pwhash_lim_init_cond);
    pthread_mutex_lock(&pwhash_lim.lock);
    pwhash_lim.max = max < 1 ? 1 : max;
    pwhash_lim.wait_ms = wait_ms < 0 ? 0 : wait_ms;
    pthread_cond_broadcast(&pwhash_lim.freed);
    pthread_mutex_unlock(&pwhash_lim.lock);
}

static bool pwhash_full(void)
{
    return pwhash_lim.max > 0 && pwhash_lim.in_flight >= pwhash_lim.max;
}

int pwhash_slot_acquire(void)
{
    struct timespec until;
    int rc = 0;

    pthread_mutex_lock(&pwhash_lim.lock);
    if (pwhash_full() && pwhash_lim.wait_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += pwhash_lim.wait_ms / 1000;
        until.tv_nsec += (long)(pwhash_lim.wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pwhash_lim.waiting++;
        while (pwhash_full() && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&pwhash_lim.freed, &pwhash_lim.lock, &until);
        pwhash_lim.waiting--;
    }
    if (pwhash_full()) {
        pwhash_lim.rejected++;
        pthread_mutex_unlock(&pwhash_lim.lock);
        return CHAT_ERR_BUSY;
    }
    pwhash_lim.in_flight++;
    pthread_mutex_unlock(&pwhash_lim.lock);
    return 0;
}

void pwhash_slot_release(void)
{
    pthread_mutex_lock(&pwhash_lim.lock);
    if (pwhash_lim.in_flight > 0)
        pwhash_lim.in_flight--;
    if (pwhash_lim.waiting > 0)
        pthread_cond_signal(&pwhash_lim.freed);
    pthread_mutex_unlock(&pwhash_lim.lock);
}

void pwhash_limit_stats(struct pwhash_stats *out)
{
    pthread_mutex_lock(&pwhash_lim.lock);
    out->in_flight = pwhash_lim.in_flight;
    out->waiting = pwhash_lim.waiting;
    out->rejected = pwhash_lim.rejected;
    pthread_mutex_unlock(&pwhash_lim.lock);
}
