/* test_field.c - field specs of JSON string fields: a missing field is an
 * error only when required; a non-string, a length outside min..max and a
 * control character are refused with the message chat-api sends; the
 * multiline rule lets \n, \r and \t through and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/field.h"

static const struct str_field f_title = {"title", .required = true, .min = 1, .max = 8};
static const struct str_field f_format = {"format", .min = 1, .max = 8};
static const struct str_field f_text = {"text", .required = true, .max = 8, .multiline = true};

/* Check the member name of json against f; returns the verdict, with the
 * message in why and the value in *out. */
static int check(const struct str_field *f, const char *json, const char **out, struct buf *why)
{
    static cJSON *root;

    cJSON_Delete(root);
    root = cJSON_Parse(json);
    assert_non_null(root);
    buf_reset(why);
    return field_str_check(f, cJSON_GetObjectItemCaseSensitive(root, f->name), out, why);
}

static void test_missing_required_and_optional(void **state)
{
    struct buf why = BUF_INIT;
    const char *out = "x";

    (void)state;
    assert_int_equal(check(&f_title, "{}", &out, &why), -1);
    assert_string_equal(why.s, "title is required");
    assert_null(out);
    assert_int_equal(check(&f_title, "{\"title\":null}", &out, &why), -1);
    assert_string_equal(why.s, "title is required");
    out = "x";
    assert_int_equal(check(&f_format, "{}", &out, &why), 0);
    assert_null(out);
    assert_int_equal(check(&f_format, "{\"format\":null}", &out, &why), 0);
    assert_null(out);
    assert_string_equal(why.s, "");
    buf_release(&why);
}

static void test_not_a_string(void **state)
{
    struct buf why = BUF_INIT;
    const char *out;

    (void)state;
    assert_int_equal(check(&f_title, "{\"title\":5}", &out, &why), -1);
    assert_string_equal(why.s, "title must be a string");
    assert_int_equal(check(&f_format, "{\"format\":[]}", &out, &why), -1);
    assert_string_equal(why.s, "format must be a string");
    assert_null(out);
    buf_release(&why);
}

static void test_length_bounds_inclusive(void **state)
{
    struct buf why = BUF_INIT;
    const char *out;

    (void)state;
    assert_int_equal(check(&f_title, "{\"title\":\"\"}", &out, &why), -1);
    assert_string_equal(why.s, "title must be 1 to 8 bytes");
    assert_int_equal(check(&f_title, "{\"title\":\"123456789\"}", &out, &why), -1);
    assert_string_equal(why.s, "title must be 1 to 8 bytes");
    assert_int_equal(check(&f_title, "{\"title\":\"a\"}", &out, &why), 0);
    assert_string_equal(out, "a");
    assert_int_equal(check(&f_title, "{\"title\":\"12345678\"}", &out, &why), 0);
    assert_string_equal(out, "12345678");
    /* bytes, not characters: "é" is two */
    assert_int_equal(check(&f_title, "{\"title\":\"\u00e9\u00e9\u00e9\u00e9\u00e9\"}", &out, &why),
                     -1);
    /* min 0 allows the empty string */
    assert_int_equal(check(&f_text, "{\"text\":\"\"}", &out, &why), 0);
    assert_string_equal(out, "");
    buf_release(&why);
}

static void test_control_characters(void **state)
{
    struct buf why = BUF_INIT;
    const char *out;

    (void)state;
    assert_int_equal(check(&f_title, "{\"title\":\"a\\nb\"}", &out, &why), -1);
    assert_string_equal(why.s, "title holds control characters");
    assert_int_equal(check(&f_title, "{\"title\":\"a\\u007fb\"}", &out, &why), -1);
    assert_int_equal(check(&f_text, "{\"text\":\"a\\n\\r\\tb\"}", &out, &why), 0);
    assert_string_equal(out, "a\n\r\tb");
    assert_int_equal(check(&f_text, "{\"text\":\"a\\u0001\"}", &out, &why), -1);
    assert_string_equal(why.s, "text holds control characters");
    assert_int_equal(check(&f_text, "{\"text\":\"a\\u007f\"}", &out, &why), -1);
    /* the length is checked before the characters */
    assert_int_equal(
        check(&f_text, "{\"text\":\"\\u0001\\u0001\\u0001\\u0001\\u0001\"}", &out, &why), -1);
    assert_string_equal(why.s, "text holds control characters");
    assert_int_equal(check(&f_text, "{\"text\":\"\\u0001123456789\"}", &out, &why), -1);
    assert_string_equal(why.s, "text must be 0 to 8 bytes");
    buf_release(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_required_and_optional),
        cmocka_unit_test(test_not_a_string),
        cmocka_unit_test(test_length_bounds_inclusive),
        cmocka_unit_test(test_control_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
