/* test_pwhash.c - Argon2id hashes: parameters, round trip, wrong password. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../lib/pwhash.c"

static void test_round_trip_and_parameters(void **state)
{
    char enc[PWHASH_ENCODED_LEN], enc2[PWHASH_ENCODED_LEN];

    assert_int_equal(pwhash_hash("correct horse", 13, enc), 0);
    assert_true(strncmp(enc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_true(pwhash_verify(enc, "correct horse", 13));
    /* A fresh salt each time. */
    assert_int_equal(pwhash_hash("correct horse", 13, enc2), 0);
    assert_string_not_equal(enc, enc2);
    assert_true(pwhash_verify(enc2, "correct horse", 13));
}

static void test_wrong_password(void **state)
{
    char enc[PWHASH_ENCODED_LEN];

    assert_int_equal(pwhash_hash("correct horse", 13, enc), 0);
    assert_false(pwhash_verify(enc, "correct hors", 12));
    assert_false(pwhash_verify(enc, "correct horsf", 13));
    assert_false(pwhash_verify(enc, "", 0));
}

static void test_password_with_nul_bytes(void **state)
{
    char enc[PWHASH_ENCODED_LEN];

    /* The length, not a NUL, ends the password. */
    assert_int_equal(pwhash_hash("a\0b", 3, enc), 0);
    assert_true(pwhash_verify(enc, "a\0b", 3));
    assert_false(pwhash_verify(enc, "a\0c", 3));
    assert_false(pwhash_verify(enc, "a", 1));
}

static void test_malformed_encoded_is_false(void **state)
{
    char enc[PWHASH_ENCODED_LEN];

    assert_false(pwhash_verify(NULL, "x", 1));
    assert_false(pwhash_verify("", "x", 1));
    assert_false(pwhash_verify("$argon2id$garbage", "x", 1));
    assert_int_equal(pwhash_hash("x", 1, enc), 0);
    /* Same tag under argon2i must not verify: only argon2id is accepted. */
    memmove(enc + 8, enc + 9, strlen(enc + 9) + 1);
    assert_true(strncmp(enc, "$argon2i$", 9) == 0);
    assert_false(pwhash_verify(enc, "x", 1));
}

static void test_dummy_verify_uses_real_parameters(void **state)
{
    pwhash_dummy_verify("whatever", 8);
    assert_true(strncmp(pwhash_dummy, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    pwhash_dummy_verify("again", 5);
}

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct pwhash_stats stats(void)
{
    struct pwhash_stats st;

    pwhash_limit_stats(&st);
    return st;
}

/* The cap: max slots at once, a bounded wait, a refusal counted. */
static void test_slots_cap_and_bounded_wait(void **state)
{
    double t0;

    pwhash_limit_init(2, 30);
    assert_int_equal(pwhash_slot_acquire(), 0);
    assert_int_equal(pwhash_slot_acquire(), 0);
    assert_int_equal(stats().in_flight, 2);
    assert_int_equal(stats().rejected, 0);
    t0 = mono_ms();
    assert_int_equal(pwhash_slot_acquire(), CHAT_ERR_BUSY);
    /* It waited about wait_ms, not forever and not at all. */
    assert_true(mono_ms() - t0 >= 25);
    assert_true(mono_ms() - t0 < 1000);
    assert_int_equal(stats().rejected, 1);
    assert_int_equal(stats().in_flight, 2);
    assert_int_equal(stats().waiting, 0);
    pwhash_slot_release();
    assert_int_equal(pwhash_slot_acquire(), 0);
    pwhash_slot_release();
    pwhash_slot_release();
    assert_int_equal(stats().in_flight, 0);
}

static void *release_later(void *arg)
{
    struct timespec d = {0, 20 * 1000000L};

    (void)arg;
    nanosleep(&d, NULL);
    pwhash_slot_release();
    return NULL;
}

/* A slot freed within the wait goes to the waiter. */
static void test_slot_freed_during_wait_is_taken(void **state)
{
    pthread_t t;
    uint64_t rejected;

    pwhash_limit_init(1, 2000);
    rejected = stats().rejected;
    assert_int_equal(pwhash_slot_acquire(), 0);
    assert_int_equal(pthread_create(&t, NULL, release_later, NULL), 0);
    assert_int_equal(pwhash_slot_acquire(), 0);
    pthread_join(t, NULL);
    assert_int_equal(stats().rejected, rejected);
    assert_int_equal(stats().in_flight, 1);
    pwhash_slot_release();
}

/* wait_ms 0: refused at once when full. */
static void test_no_wait(void **state)
{
    double t0;

    pwhash_limit_init(1, 0);
    assert_int_equal(pwhash_slot_acquire(), 0);
    t0 = mono_ms();
    assert_int_equal(pwhash_slot_acquire(), CHAT_ERR_BUSY);
    assert_true(mono_ms() - t0 < 20);
    pwhash_slot_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_parameters),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_password_with_nul_bytes),
        cmocka_unit_test(test_malformed_encoded_is_false),
        cmocka_unit_test(test_dummy_verify_uses_real_parameters),
        cmocka_unit_test(test_slots_cap_and_bounded_wait),
        cmocka_unit_test(test_slot_freed_during_wait_is_taken),
        cmocka_unit_test(test_no_wait),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
