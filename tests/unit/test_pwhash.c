/* test_pwhash.c - Argon2id hashes: parameters, round trip, wrong password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_parameters),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_password_with_nul_bytes),
        cmocka_unit_test(test_malformed_encoded_is_false),
        cmocka_unit_test(test_dummy_verify_uses_real_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
