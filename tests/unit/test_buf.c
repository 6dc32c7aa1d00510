/* test_buf.c - struct buf growth, formatting and JSON string escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/buf.c"

static void test_init_is_empty_static_string(void **state)
{
    struct buf b = BUF_INIT;

    assert_ptr_equal(b.s, buf_empty);
    assert_string_equal(b.s, "");
    buf_release(&b); /* must not free the static string */
    assert_ptr_equal(b.s, buf_empty);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
}

static void test_add_grows_and_terminates(void **state)
{
    struct buf b = BUF_INIT;

    for (int i = 0; i < 1000; i++)
        buf_adds(&b, "abc");
    assert_int_equal(b.len, 3000);
    assert_int_equal(strlen(b.s), 3000);
    assert_true(b.cap > b.len);
    assert_memory_equal(b.s + 2997, "abc", 4);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.s, "");
    buf_addch(&b, 'x');
    assert_string_equal(b.s, "x");
    buf_release(&b);
}

static void test_addf_long_output(void **state)
{
    struct buf b = BUF_INIT;
    char big[500];

    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_adds(&b, "head:");
    buf_addf(&b, "%d-%s-%s", 42, big, "end");
    assert_int_equal(b.len, 5 + 3 + 499 + 4);
    assert_memory_equal(b.s, "head:42-zz", 10);
    assert_string_equal(b.s + b.len - 4, "-end");
    buf_release(&b);
}

static void test_detach_hands_over(void **state)
{
    struct buf b = BUF_INIT;
    size_t len = 99;
    char *s = buf_detach(&b, &len);

    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    buf_adds(&b, "hello");
    s = buf_detach(&b, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_ptr_equal(b.s, buf_empty);
    assert_int_equal(b.len, 0);
    free(s);
}

static void expect_json(const char *in, size_t len, const char *want)
{
    struct buf b = BUF_INIT;

    buf_adds(&b, "x=");
    buf_add_json_str(&b, in, len);
    assert_string_equal(b.s + 2, want);
    assert_int_equal(b.len, 2 + strlen(want));
    buf_release(&b);
}

static void test_json_escapes(void **state)
{
    expect_json("plain", 5, "\"plain\"");
    expect_json("", 0, "\"\"");
    expect_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_json("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    expect_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    expect_json("a\0b", 3, "\"a\\u0000b\"");
    expect_json("/\x7f", 2, "\"/\x7f\"");
    /* UTF-8 passes through byte for byte. */
    expect_json("\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_empty_static_string),
        cmocka_unit_test(test_add_grows_and_terminates),
        cmocka_unit_test(test_addf_long_output),
        cmocka_unit_test(test_detach_hands_over),
        cmocka_unit_test(test_json_escapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
