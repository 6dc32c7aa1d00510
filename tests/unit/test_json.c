/* test_json.c - json_parse limits, strict UTF-8, the integer readers and the
 * member scanner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/json.c"

static cJSON *parse(const char *s, const char **why)
{
    return json_parse(s, strlen(s), why);
}

static void refused(const char *s, size_t len)
{
    const char *why = NULL;
    cJSON *j = json_parse(s, len, &why);

    if (j)
        fail_msg("accepted: %.*s", (int)len, s);
    assert_non_null(why);
}

static void accepted(const char *s)
{
    const char *why = "unset";
    cJSON *j = parse(s, &why);

    if (!j)
        fail_msg("refused (%s): %s", why, s);
    assert_null(why);
    cJSON_Delete(j);
}

/* n nested arrays around an empty middle. */
static char *nested(int n)
{
    char *s = malloc((size_t)n * 2 + 1);

    memset(s, '[', (size_t)n);
    memset(s + n, ']', (size_t)n);
    s[2 * n] = '\0';
    return s;
}

static void test_depth_32_accepted_33_refused(void **state)
{
    char *ok = nested(32), *deep = nested(33);
    const char *why = NULL;

    accepted(ok);
    assert_null(parse(deep, &why));
    assert_string_equal(why, "nesting too deep");
    free(ok);
    free(deep);
}

static void test_brackets_inside_strings_do_not_count(void **state)
{
    char s[200];

    snprintf(s, sizeof(s), "{\"a\":\"%s\\\"[[[\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    accepted(s);
}

static void test_utf8_valid_sequences(void **state)
{
    assert_true(json_utf8_valid("abc", 3));
    assert_true(json_utf8_valid("\xc3\xa9", 2));         /* U+00E9 */
    assert_true(json_utf8_valid("\xe2\x82\xac", 3));     /* U+20AC */
    assert_true(json_utf8_valid("\xed\x9f\xbf", 3));     /* U+D7FF */
    assert_true(json_utf8_valid("\xee\x80\x80", 3));     /* U+E000 */
    assert_true(json_utf8_valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
    assert_true(json_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    accepted("\"\xf0\x9f\x98\x80 \xc3\xa9\"");
}

static void test_utf8_invalid_sequences(void **state)
{
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xf0\x80\x80\xaf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* U+D800 surrogate */
        "\xed\xbf\xbf",     /* U+DFFF surrogate */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte above F4 */
        "\xff",
        "\x80", /* lone continuation */
        "\xc3", /* truncated */
        "\xe2\x82",
        "\xf0\x9f\x98",
        "\xe2\x28\xa1", /* bad continuation */
    };
    char body[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(json_utf8_valid(bad[i], strlen(bad[i])));
        snprintf(body, sizeof(body), "\"%s\"", bad[i]);
        refused(body, strlen(body));
    }
}

static void test_nul_escape_refused(void **state)
{
    refused("\"a\\u0000b\"", 10);
    refused("{\"k\\u0000\":1}", 13);
    refused("[\"\\u0000\"]", 10);
    /* An escaped backslash followed by u0000 is plain text, not NUL. */
    accepted("\"\\\\u0000\"");
    accepted("\"\\u0001\"");
}

static void test_bad_escapes_refused(void **state)
{
    /* cJSON 1.7.15 reads a \u with a non-hex digit as U+0000 and cuts the
     * string there; such bodies must never reach it. */
    refused("\"x\\u0e9y\"", 10);
    refused("\"\\u00\"", 7);
    refused("\"\\u12\"}", 8);
    refused("\"\\q\"", 4);
    refused("\"\\ud800\"", 8);
    refused("\"\\udc00\"", 8);
    refused("\"\\ud83d\\u0041\"", 14);
    accepted("\"\\ud83d\\ude00 \\u00E9 \\/ \\b\\f\\n\\r\\t\\\"\\\\\"");
}

static void test_raw_nul_and_control_refused(void **state)
{
    refused("\"a\0b\"", 5);
    refused("{\"a\":1}\0", 8);
    refused("\"a\nb\"", 5);
}

static void test_trailing_garbage_refused(void **state)
{
    const char *why = NULL;

    refused("{} x", 4);
    refused("{}{}", 4);
    refused("1 2", 3);
    assert_null(parse("{\"a\":1}]", &why));
    accepted(" {\"a\":1} \r\n\t");
}

static void test_body_without_nul_terminator(void **state)
{
    const char body[] = {'{', '"', 'a', '"', ':', '1', '}', 'X'};
    const char *why;
    cJSON *j = json_parse(body, 7, &why);

    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "a")->valuedouble, 1);
    cJSON_Delete(j);
}

static void test_bad_numbers_and_literals_refused(void **state)
{
    static const char *const bad[] = {"+1",   "01",   "1.",  ".5",  "1e",        "-",
                                      "0x10", "[1,]", "nul", "tru", "{\"a\" 1}", ""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused(bad[i], strlen(bad[i]));
    accepted("[0, -0, 1.5e3, -2E-2, true, false, null]");
}

/* json_get_id on the value of {"id": <text>}; returns its result. */
static int get_id_of(const char *text, int64_t *out)
{
    char body[128];
    const char *why;
    cJSON *j;
    int rc;

    snprintf(body, sizeof(body), "{\"id\":%s}", text);
    j = json_parse(body, strlen(body), &why);
    assert_non_null(j);
    rc = json_get_id(cJSON_GetObjectItem(j, "id"), out);
    cJSON_Delete(j);
    return rc;
}

static void test_ids_refused(void **state)
{
    static const char *const bad[] = {"1.5",   "-1",   "0",    "9007199254740992", "1e300",
                                      "\"5\"", "null", "true", "-1e300",           "0.5"};
    int64_t v = 77;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (get_id_of(bad[i], &v) != CHAT_ERR_INVALID)
            fail_msg("id accepted: %s", bad[i]);
    }
    assert_int_equal(v, 77);
    assert_int_equal(json_get_id(NULL, &v), CHAT_ERR_INVALID);
}

static void test_ids_accepted(void **state)
{
    int64_t v = 0;

    assert_int_equal(get_id_of("9007199254740991", &v), 0);
    assert_true(v == INT64_C(9007199254740991));
    assert_int_equal(get_id_of("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(get_id_of("3000000000", &v), 0);
    assert_true(v == INT64_C(3000000000));
    assert_int_equal(get_id_of("1e3", &v), 0);
    assert_int_equal(v, 1000);
}

static void test_get_int_range(void **state)
{
    cJSON *n = cJSON_CreateNumber(-5);
    int64_t v = 0;

    assert_int_equal(json_get_int(n, -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(json_get_int(n, 0, 10, &v), CHAT_ERR_INVALID);
    cJSON_SetNumberValue(n, 11);
    assert_int_equal(json_get_int(n, 0, 10, &v), CHAT_ERR_INVALID);
    cJSON_SetNumberValue(n, 2.5);
    assert_int_equal(json_get_int(n, 0, 10, &v), CHAT_ERR_INVALID);
    /* valueint would clamp this to INT_MAX; the double keeps it. */
    cJSON_SetNumberValue(n, 4294967296.0);
    assert_int_equal(json_get_int(n, 0, INT64_MAX, &v), 0);
    assert_true(v == INT64_C(4294967296));
    cJSON_SetNumberValue(n, 1e300);
    assert_int_equal(json_get_int(n, INT64_MIN, INT64_MAX, &v), CHAT_ERR_INVALID);
    cJSON_Delete(n);
}

static void test_parse_int(void **state)
{
    static const char *const bad[] = {"",
                                      "-",
                                      "12abc",
                                      " 1",
                                      "1 ",
                                      "+1",
                                      "0x1",
                                      "1.0",
                                      "9223372036854775808",
                                      "-9223372036854775809"};
    int64_t v = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (json_parse_int(bad[i], INT64_MIN, INT64_MAX, &v) != CHAT_ERR_INVALID)
            fail_msg("accepted: \"%s\"", bad[i]);
    assert_int_equal(json_parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(json_parse_int("-7", -10, 0, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(json_parse_int("101", 0, 100, &v), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_int("9223372036854775807", 0, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(json_parse_int("-9223372036854775808", INT64_MIN, 0, &v), 0);
    assert_true(v == INT64_MIN);
}

static void test_parse_time(void **state)
{
    int64_t us = 0;

    (void)state;
    assert_int_equal(json_parse_time("2026-12-01T10:20:30.456Z", &us), 0);
    assert_true(us == INT64_C(1796120430456000));
    assert_int_equal(json_parse_time("1970-01-01T00:00:00Z", &us), 0);
    assert_true(us == 0);
    assert_int_equal(json_parse_time("1970-01-01T00:00:01.1234567Z", &us), 0);
    assert_true(us == 1123456);
    assert_int_equal(json_parse_time("2026-12-01T10:20:30.456", &us), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_time("2026-12-01 10:20:30Z", &us), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_time("2026-13-01T10:20:30Z", &us), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_time("2026-12-01T10:20:30.Z", &us), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_time("2026-12-01T10:20:30+01:00", &us), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_time("", &us), CHAT_ERR_INVALID);
    assert_int_equal(json_parse_time(NULL, &us), CHAT_ERR_INVALID);
}

/* The value text of member name in j, or NULL if json_member finds none. */
static const char *member(const char *j, const char *name, char *out, size_t max)
{
    size_t off, len;

    if (!json_member(j, strlen(j), name, &off, &len))
        return NULL;
    snprintf(out, max, "%.*s", (int)len, j + off);
    return out;
}

static void test_member(void **state)
{
    char v[128];

    assert_string_equal(member("{\"a\":1,\"b\":\"x\"}", "b", v, sizeof(v)), "\"x\"");
    assert_string_equal(
        member(" { \"a\" : [1,{\"b\":2}] , \"b\" : {\"c\":\"}\"} }", "b", v, sizeof(v)),
        "{\"c\":\"}\"}");
    assert_string_equal(member("{\"s\":\"q\\\"b\",\"n\":-1.5e3}", "n", v, sizeof(v)), "-1.5e3");
    assert_string_equal(member("{\"a\":true}", "a", v, sizeof(v)), "true");
    /* nested members are not top-level ones; prefixes are not names */
    assert_null(member("{\"x\":{\"b\":1}}", "b", v, sizeof(v)));
    assert_null(member("{\"bb\":1}", "b", v, sizeof(v)));
    assert_null(member("[1]", "a", v, sizeof(v)));
    assert_null(member("{\"a\":1", "b", v, sizeof(v)));
    assert_null(member("", "a", v, sizeof(v)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_32_accepted_33_refused),
        cmocka_unit_test(test_brackets_inside_strings_do_not_count),
        cmocka_unit_test(test_utf8_valid_sequences),
        cmocka_unit_test(test_utf8_invalid_sequences),
        cmocka_unit_test(test_nul_escape_refused),
        cmocka_unit_test(test_bad_escapes_refused),
        cmocka_unit_test(test_raw_nul_and_control_refused),
        cmocka_unit_test(test_trailing_garbage_refused),
        cmocka_unit_test(test_body_without_nul_terminator),
        cmocka_unit_test(test_bad_numbers_and_literals_refused),
        cmocka_unit_test(test_ids_refused),
        cmocka_unit_test(test_ids_accepted),
        cmocka_unit_test(test_get_int_range),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_member),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
