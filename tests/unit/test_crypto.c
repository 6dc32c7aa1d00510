/* test_crypto.c - base64url (RFC 4648), HMAC-SHA256 (RFC 4231), hex, SHA-256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/crypto.c"

/* RFC 4648 section 10, without padding. */
static const char *const b64_vectors[][2] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_b64url_rfc4648_vectors(void **state)
{
    char enc[16];
    unsigned char dec[16];

    for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
        const char *raw = b64_vectors[i][0], *want = b64_vectors[i][1];
        size_t n = crypto_b64url_encode((const unsigned char *)raw, strlen(raw), enc);

        assert_int_equal(n, strlen(want));
        assert_string_equal(enc, want);
        assert_int_equal(crypto_b64url_decode(want, strlen(want), dec), (long)strlen(raw));
        assert_memory_equal(dec, raw, strlen(raw));
    }
}

static void test_b64url_uses_url_alphabet(void **state)
{
    const unsigned char raw[] = {0xfb, 0xff, 0xbf};
    unsigned char dec[8];
    char enc[8];

    crypto_b64url_encode(raw, 3, enc);
    assert_string_equal(enc, "-_-_");
    assert_int_equal(crypto_b64url_decode("-_-_", 4, dec), 3);
    assert_memory_equal(dec, raw, 3);
}

static void test_b64url_decode_refuses(void **state)
{
    static const char *const bad[] = {
        "Z",       /* len % 4 == 1 */
        "Zm9vY",   /* len % 4 == 1 */
        "Zm9v+g",  /* standard alphabet */
        "Zm9v/g",  /* standard alphabet */
        "Zg==",    /* padding */
        "Zm 9",    /* space */
        "Zh",      /* stray low bits: not canonical */
        "Zm9",     /* stray low bits */
        "Zm\x80v", /* non-ASCII */
    };
    unsigned char dec[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (crypto_b64url_decode(bad[i], strlen(bad[i]), dec) != -1)
            fail_msg("decoded: %s", bad[i]);
    assert_int_equal(crypto_b64url_decode("Zm\0v", 4, dec), -1);
}

static void test_b64url_round_trip_all_lengths(void **state)
{
    unsigned char raw[64], dec[64 + 3];
    char enc[90];

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(raw); len++) {
        size_t n = crypto_b64url_encode(raw, len, enc);

        assert_int_equal(n, (len * 4 + 2) / 3);
        assert_int_equal(crypto_b64url_decode(enc, n, dec), (long)len);
        assert_memory_equal(dec, raw, len);
    }
}

static void test_hmac_rfc4231_case_2(void **state)
{
    unsigned char mac[32];
    char hex[65];
    const char *data = "what do ya want for nothing?";

    crypto_hmac_sha256("Jefe", 4, data, strlen(data), mac);
    crypto_hex(mac, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_sha256_abc(void **state)
{
    unsigned char md[32];
    char hex[65];

    crypto_sha256("abc", 3, md);
    crypto_hex(md, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_equal_and_random(void **state)
{
    char a[65], b[65];

    assert_true(crypto_equal("abcd", "abcd", 4));
    assert_false(crypto_equal("abcd", "abce", 4));
    assert_int_equal(crypto_random_hex(a, 32), 0);
    assert_int_equal(crypto_random_hex(b, 32), 0);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_rfc4648_vectors),
        cmocka_unit_test(test_b64url_uses_url_alphabet),
        cmocka_unit_test(test_b64url_decode_refuses),
        cmocka_unit_test(test_b64url_round_trip_all_lengths),
        cmocka_unit_test(test_hmac_rfc4231_case_2),
        cmocka_unit_test(test_sha256_abc),
        cmocka_unit_test(test_equal_and_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
