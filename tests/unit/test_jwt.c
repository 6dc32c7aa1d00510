/* test_jwt.c - HS256 sign and verify: alg pinning, signature, claims, key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../lib/jwt.c"

#define NOW 1800000000
#define ISS "chat"
#define AUD "chat-api"

static const unsigned char key[JWT_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static const struct jwt_claims base = {
    .sub = 42, .sid = 7, .tv = 3, .iat = NOW, .nbf = NOW, .exp = NOW + 900};

static void add_b64(struct buf *b, const char *s)
{
    jwt_add_b64(b, s, strlen(s));
}

/* A token with the given header and payload JSON, signed with k (HS256). */
static char *forge(const char *header, const char *payload, const unsigned char *k)
{
    struct buf b = BUF_INIT;
    unsigned char mac[32];

    add_b64(&b, header);
    buf_addch(&b, '.');
    add_b64(&b, payload);
    crypto_hmac_sha256(k, JWT_KEY_LEN, b.s, b.len, mac);
    buf_addch(&b, '.');
    jwt_add_b64(&b, mac, 32);
    return buf_detach(&b, NULL);
}

static char *payload_for(const char *iss, const char *aud, const struct jwt_claims *cl)
{
    struct buf p = BUF_INIT;

    jwt_add_claims(&p, iss, aud, cl);
    return buf_detach(&p, NULL);
}

static char *sign(const struct jwt_claims *cl)
{
    struct buf b = BUF_INIT;

    jwt_sign(key, ISS, AUD, cl, &b);
    return buf_detach(&b, NULL);
}

static int verify_at(const char *token, int64_t now)
{
    struct jwt_claims cl;

    return jwt_verify(key, ISS, AUD, token, now, &cl);
}

static void test_round_trip(void **state)
{
    struct jwt_claims cl = base, got;
    char *t;

    cl.sub = INT64_C(9007199254740991); /* 2^53 - 1 survives */
    t = sign(&cl);
    memset(&got, 0, sizeof(got));
    assert_int_equal(jwt_verify(key, ISS, AUD, t, NOW, &got), 0);
    assert_true(got.sub == cl.sub);
    assert_int_equal(got.sid, 7);
    assert_int_equal(got.tv, 3);
    assert_int_equal(got.iat, NOW);
    assert_int_equal(got.nbf, NOW);
    assert_int_equal(got.exp, NOW + 900);
    free(t);
}

static void test_sign_appends(void **state)
{
    struct buf b = BUF_INIT;

    buf_adds(&b, "Bearer ");
    jwt_sign(key, ISS, AUD, &base, &b);
    assert_int_equal(verify_at(b.s + 7, NOW), 0);
    buf_release(&b);
}

static void test_expiry_and_skew(void **state)
{
    char *t = sign(&base);

    assert_int_equal(verify_at(t, base.exp), 0); /* within the skew */
    assert_int_equal(verify_at(t, base.exp + JWT_SKEW - 1), 0);
    assert_int_equal(verify_at(t, base.exp + JWT_SKEW), CHAT_ERR_AUTH);
    assert_int_equal(verify_at(t, base.exp + 3600), CHAT_ERR_AUTH);
    free(t);
}

static void test_not_yet_valid(void **state)
{
    struct jwt_claims cl = base;
    char *t;

    cl.nbf = NOW + 600;
    t = sign(&cl);
    assert_int_equal(verify_at(t, NOW), CHAT_ERR_AUTH);
    assert_int_equal(verify_at(t, cl.nbf - JWT_SKEW), 0);
    assert_int_equal(verify_at(t, cl.nbf - JWT_SKEW - 1), CHAT_ERR_AUTH);
    free(t);
}

static void test_tampered_payload(void **state)
{
    struct jwt_claims cl = base;
    char *t = sign(&base), *evil;
    struct buf b = BUF_INIT;
    char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');

    /* The same header and signature around a payload saying sub 1. */
    cl.sub = 1;
    evil = payload_for(ISS, AUD, &cl);
    buf_add(&b, t, (size_t)(dot1 + 1 - t));
    add_b64(&b, evil);
    buf_adds(&b, dot2);
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_AUTH);
    buf_release(&b);
    free(evil);
    free(t);
}

static void test_tampered_signature(void **state)
{
    char *t = sign(&base);
    char *last = t + strlen(t) - 2; /* not the final char: its low bits are padding */

    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(verify_at(t, NOW), CHAT_ERR_AUTH);
    free(t);
}

static void test_wrong_key(void **state)
{
    unsigned char other[JWT_KEY_LEN];
    char *t = sign(&base);
    struct jwt_claims cl;

    memcpy(other, key, sizeof(other));
    other[0] ^= 1;
    assert_int_equal(jwt_verify(other, ISS, AUD, t, NOW, &cl), CHAT_ERR_AUTH);
    free(t);
}

static int verify_forged(const char *header, const char *payload)
{
    char *t = forge(header, payload, key);
    int rc = verify_at(t, NOW);

    free(t);
    return rc;
}

static void test_alg_pinned(void **state)
{
    char *p = payload_for(ISS, AUD, &base);
    struct buf b = BUF_INIT;

    /* The forger knows the key: only the header check can refuse these. */
    assert_int_equal(verify_forged("{\"alg\":\"HS256\"}", p), 0);
    assert_int_equal(verify_forged("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p), 0);
    assert_int_equal(verify_forged("{\"alg\":\"none\"}", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("{\"alg\":\"HS512\"}", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("{\"alg\":\"hs256\"}", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("{\"typ\":\"JWT\"}", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("{\"alg\":null}", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("[\"HS256\"]", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("{\"alg\":\"HS256\",\"typ\":\"xyz\"}", p), CHAT_ERR_INVALID);
    assert_int_equal(verify_forged("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", p), CHAT_ERR_INVALID);
    /* Classic alg none: an empty signature. */
    add_b64(&b, "{\"alg\":\"none\"}");
    buf_addch(&b, '.');
    add_b64(&b, p);
    buf_addch(&b, '.');
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_INVALID);
    buf_release(&b);
    free(p);
}

static void test_wrong_iss_and_aud(void **state)
{
    struct buf b = BUF_INIT;

    jwt_sign(key, "other", AUD, &base, &b);
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_AUTH);
    buf_reset(&b);
    jwt_sign(key, ISS, "chat-push", &base, &b);
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_AUTH);
    buf_reset(&b);
    jwt_sign(key, "chat ", AUD, &base, &b);
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_AUTH);
    buf_release(&b);
}

static void test_part_count(void **state)
{
    char *t = sign(&base);
    struct buf b = BUF_INIT;

    buf_adds(&b, t);
    *strrchr(b.s, '.') = '\0'; /* two parts */
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_INVALID);
    buf_reset(&b);
    buf_adds(&b, t);
    buf_adds(&b, ".AAAA"); /* four parts */
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_INVALID);
    assert_int_equal(verify_at("", NOW), CHAT_ERR_INVALID);
    assert_int_equal(verify_at("..", NOW), CHAT_ERR_INVALID);
    assert_int_equal(verify_at("abc", NOW), CHAT_ERR_INVALID);
    buf_release(&b);
    free(t);
}

/* Verify signing_input plus a valid signature over it. */
static int verify_signed_raw(const char *signing_input)
{
    struct buf b = BUF_INIT;
    unsigned char mac[32];
    int rc;

    buf_adds(&b, signing_input);
    crypto_hmac_sha256(key, JWT_KEY_LEN, b.s, b.len, mac);
    buf_addch(&b, '.');
    jwt_add_b64(&b, mac, 32);
    rc = verify_at(b.s, NOW);
    buf_release(&b);
    return rc;
}

static void test_bad_base64(void **state)
{
    char *t = sign(&base);
    size_t len = strlen(t);
    struct buf b = BUF_INIT;

    buf_adds(&b, t);
    b.s[3] = '+'; /* header: standard alphabet */
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_INVALID);
    buf_reset(&b);
    buf_adds(&b, t);
    buf_addch(&b, '='); /* padded signature */
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_INVALID);
    buf_reset(&b);
    buf_add(&b, t, len - 1); /* 42 signature chars */
    assert_int_equal(verify_at(b.s, NOW), CHAT_ERR_INVALID);
    buf_release(&b);
    /* Correctly signed, but the payload part is not base64url. */
    assert_int_equal(verify_signed_raw("eyJhbGciOiJIUzI1NiJ9.eyJ*"), CHAT_ERR_INVALID);
    assert_int_equal(verify_signed_raw("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9A"), CHAT_ERR_INVALID);
    free(t);
}

static void test_bad_claims(void **state)
{
    static const char *const bad[] = {
        "{\"iss\":\"chat\",\"aud\":\"chat-api\",\"sub\":\"42\",\"sid\":7,\"tv\":3,"
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900}",
        "{\"iss\":\"chat\",\"aud\":\"chat-api\",\"sub\":42.5,\"sid\":7,\"tv\":3,"
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900}",
        "{\"iss\":\"chat\",\"aud\":\"chat-api\",\"sub\":42,\"sid\":7,\"tv\":3,"
        "\"iat\":1800000000,\"nbf\":1800000000}",
        "{\"iss\":\"chat\",\"aud\":\"chat-api\",\"sub\":42,\"sid\":7,\"tv\":3,"
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1e300}",
        "{\"iss\":\"chat\",\"aud\":\"chat-api\",\"sub\":0,\"sid\":7,\"tv\":3,"
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900}",
        "[1]",
        "{\"sub\":42",
    };
    const char *ok = "{\"iss\":\"chat\",\"aud\":\"chat-api\",\"sub\":42,\"sid\":7,\"tv\":3,"
                     "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800000900}";

    assert_int_equal(verify_forged("{\"alg\":\"HS256\"}", ok), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (verify_forged("{\"alg\":\"HS256\"}", bad[i]) != CHAT_ERR_INVALID)
            fail_msg("claims accepted: %s", bad[i]);
}

static void test_key_load_creates_then_reads(void **state)
{
    char dir[] = "/tmp/test_jwt.XXXXXX", path[256];
    unsigned char k1[JWT_KEY_LEN], k2[JWT_KEY_LEN], zero[JWT_KEY_LEN] = {0};
    struct stat st;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/secrets/jwt.key", dir);
    assert_int_equal(jwt_key_load(path, k1), 0);
    assert_memory_not_equal(k1, zero, JWT_KEY_LEN);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, JWT_KEY_LEN);
    snprintf(path, sizeof(path), "%s/secrets", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/secrets/jwt.key", dir);
    assert_int_equal(jwt_key_load(path, k2), 0);
    assert_memory_equal(k1, k2, JWT_KEY_LEN);
    /* A file of the wrong size is refused, not truncated or extended. */
    f = fopen(path, "w");
    fputs("short", f);
    fclose(f);
    assert_int_equal(jwt_key_load(path, k2), CHAT_ERR_INVALID);
    unlink(path);
    snprintf(path, sizeof(path), "%s/secrets", dir);
    rmdir(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sign_appends),
        cmocka_unit_test(test_expiry_and_skew),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_alg_pinned),
        cmocka_unit_test(test_wrong_iss_and_aud),
        cmocka_unit_test(test_part_count),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_bad_claims),
        cmocka_unit_test(test_key_load_creates_then_reads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
