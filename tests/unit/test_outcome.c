/* test_outcome.c - outcome tables: a status word finds its own entry (the
 * first that names it), any other word and a NULL status find the table's
 * end, and a success entry keeps its action. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/outcome.h"

enum { DONE, REPLAYED };

static const struct outcome post[] = {
    {"not_found", .http = 404, "not_found", "no such chat"},
    {"too_many", .http = 409, "too_many_members", "a group holds at most %d members"},
    {"replayed", .http = 201, .action = REPLAYED},
    {"not_found", .http = 400, "invalid_request", "never found: the first entry wins"},
    {NULL, .http = 201, .action = DONE},
};

static const struct outcome members[] = {
    {"ok", .http = 200},
    {NULL, .http = 404, "not_found", "no such chat or member"},
};

static void test_named_status_finds_its_entry(void **state)
{
    const struct outcome *o = outcome_find(post, "not_found");

    (void)state;
    assert_ptr_equal(o, &post[0]);
    assert_int_equal(o->http, 404);
    assert_string_equal(o->code, "not_found");
    assert_string_equal(o->message, "no such chat");
    o = outcome_find(post, "too_many");
    assert_int_equal(o->http, 409);
    assert_string_equal(o->code, "too_many_members");
}

static void test_success_keeps_its_action(void **state)
{
    const struct outcome *o = outcome_find(post, "replayed");

    (void)state;
    assert_null(o->code);
    assert_int_equal(o->http, 201);
    assert_int_equal(o->action, REPLAYED);
    o = outcome_find(post, "ok");
    assert_null(o->code);
    assert_int_equal(o->action, DONE);
    o = outcome_find(members, "ok");
    assert_null(o->code);
    assert_int_equal(o->http, 200);
}

static void test_other_words_find_the_end(void **state)
{
    (void)state;
    assert_ptr_equal(outcome_find(post, "created"), &post[4]);
    assert_ptr_equal(outcome_find(post, ""), &post[4]);
    assert_ptr_equal(outcome_find(post, "NOT_FOUND"), &post[4]); /* words are exact */
    assert_ptr_equal(outcome_find(post, "not_found "), &post[4]);
    assert_ptr_equal(outcome_find(post, NULL), &post[4]);
    assert_ptr_equal(outcome_find(members, "forbidden"), &members[1]);
    assert_string_equal(outcome_find(members, "gone")->code, "not_found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_status_finds_its_entry),
        cmocka_unit_test(test_success_keeps_its_action),
        cmocka_unit_test(test_other_words_find_the_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
