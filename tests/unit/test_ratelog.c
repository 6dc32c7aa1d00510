/* test_ratelog.c - lib/ratelog: one line per interval, with the count held back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelog.h"

static void first_passes_then_one_per_interval(void **state)
{
    struct ratelog r = {.interval_ms = 10000};
    uint64_t held = 99;
    int passed = 0;

    assert_true(ratelog_pass(&r, 0, &held));
    assert_int_equal(held, 0);
    /* a flood: 1000 lines in 9.99 s, none passes */
    for (int i = 1; i <= 1000; i++)
        passed += ratelog_pass(&r, i * 9, &held);
    assert_int_equal(passed, 0);
    /* at 10 s one passes and reports the 1000 held back */
    assert_true(ratelog_pass(&r, 10000, &held));
    assert_int_equal(held, 1000);
    assert_false(ratelog_pass(&r, 10001, &held));
    assert_true(ratelog_pass(&r, 20000, &held));
    assert_int_equal(held, 1);
}

static void quiet_then_at_once(void **state)
{
    struct ratelog r = {.interval_ms = 10000};
    uint64_t held = 7;

    assert_true(ratelog_pass(&r, 5000, &held));
    assert_true(ratelog_pass(&r, 60000, &held));
    assert_int_equal(held, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_passes_then_one_per_interval),
        cmocka_unit_test(quiet_then_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
