/* test_authcache.c - cached access-token checks: trusted only at the same
 * auth epoch and within the max age; the verdicts for token_version,
 * session state and user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/authcache.h"

static const struct authcache_entry ok_entry = {
    .user_id = 7, .token_version = 3, .session_ok = true, .epoch = 5, .filled_at_ms = 1000};

static void test_get_within_max_age_only(void **state)
{
    struct authcache c;
    struct authcache_entry e;

    (void)state;
    assert_int_equal(authcache_init(&c, 16), 0);
    assert_false(authcache_get(&c, 42, 1000, &e));
    authcache_put(&c, 42, &ok_entry);
    assert_true(authcache_get(&c, 42, 1000, &e));
    assert_int_equal(e.user_id, 7);
    assert_int_equal(e.epoch, 5);
    assert_true(authcache_get(&c, 42, 1000 + AUTHCACHE_MAX_AGE_MS - 1, &e));
    assert_false(authcache_get(&c, 42, 1000 + AUTHCACHE_MAX_AGE_MS, &e));
    /* and it is gone, not merely hidden */
    assert_false(authcache_get(&c, 42, 1000, &e));
    assert_false(authcache_get(&c, 43, 1000, &e));
    authcache_release(&c);
}

static void test_clock_going_back_is_not_fresh(void **state)
{
    struct authcache c;
    struct authcache_entry e;

    (void)state;
    assert_int_equal(authcache_init(&c, 16), 0);
    authcache_put(&c, 1, &ok_entry);
    assert_false(authcache_get(&c, 1, 999, &e));
    authcache_release(&c);
}

static void test_judge_needs_the_same_epoch(void **state)
{
    (void)state;
    assert_int_equal(authcache_judge(&ok_entry, 7, 3, 5), AUTHCACHE_ACCEPT);
    assert_int_equal(authcache_judge(&ok_entry, 7, 3, 6), AUTHCACHE_UNKNOWN);
    assert_int_equal(authcache_judge(&ok_entry, 7, 3, 0), AUTHCACHE_UNKNOWN);
    assert_int_equal(authcache_judge(NULL, 7, 3, 5), AUTHCACHE_UNKNOWN);
}

static void test_judge_refuses_what_postgres_would(void **state)
{
    struct authcache_entry revoked = ok_entry;

    (void)state;
    revoked.session_ok = false;
    assert_int_equal(authcache_judge(&revoked, 7, 3, 5), AUTHCACHE_REFUSE);
    /* a token issued before a logout-all or password change */
    assert_int_equal(authcache_judge(&ok_entry, 7, 2, 5), AUTHCACHE_REFUSE);
    /* a session is one user's: another user's token is for PostgreSQL */
    assert_int_equal(authcache_judge(&ok_entry, 8, 3, 5), AUTHCACHE_UNKNOWN);
}

static void test_predict_ignores_the_epoch(void **state)
{
    struct authcache_entry revoked = ok_entry;

    (void)state;
    revoked.session_ok = false;
    assert_int_equal(authcache_predict(&ok_entry, 7, 3), AUTHCACHE_ACCEPT);
    assert_int_equal(authcache_predict(&revoked, 7, 3), AUTHCACHE_REFUSE);
    assert_int_equal(authcache_predict(NULL, 7, 3), AUTHCACHE_UNKNOWN);
}

static void test_bounded_entries(void **state)
{
    struct authcache c;
    struct authcache_entry e;

    (void)state;
    assert_int_equal(authcache_init(&c, 4), 0);
    for (int64_t sid = 1; sid <= 10; sid++)
        authcache_put(&c, sid, &ok_entry);
    assert_int_equal(c.map.count, 4);
    assert_false(authcache_get(&c, 1, 1000, &e));
    assert_true(authcache_get(&c, 10, 1000, &e));
    authcache_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_within_max_age_only),
        cmocka_unit_test(test_clock_going_back_is_not_fresh),
        cmocka_unit_test(test_judge_needs_the_same_epoch),
        cmocka_unit_test(test_judge_refuses_what_postgres_would),
        cmocka_unit_test(test_predict_ignores_the_epoch),
        cmocka_unit_test(test_bounded_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
