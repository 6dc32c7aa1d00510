/* test_ticket.c - a stream ticket's name and owner value (lib/ticket.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ticket.h"

static void test_name(void **state)
{
    char t[130];

    assert_true(ticket_name_ok("0123456789abcdef"));
    assert_false(ticket_name_ok("0123456789abcde"));  /* 15 */
    assert_false(ticket_name_ok("0123456789ABCDEF")); /* upper case */
    assert_false(ticket_name_ok("0123456789abcdeg"));
    assert_false(ticket_name_ok("0123456789abcde "));
    memset(t, 'a', 128);
    t[128] = '\0';
    assert_true(ticket_name_ok(t));
    t[128] = 'a';
    t[129] = '\0';
    assert_false(ticket_name_ok(t));
}

static void test_owner_round_trip(void **state)
{
    const struct ticket_owner in[] = {
        {1, 2, 0},
        {42, 0, 7},
        {INT64_MAX, INT64_MAX, 0},
        {INT64_MAX, 0, INT64_MAX},
    };
    char v[TICKET_OWNER_MAX];
    struct ticket_owner o;

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        int n = ticket_owner_format(v, &in[i]);

        assert_true(ticket_owner_parse(v, (size_t)n, &o));
        assert_int_equal(o.user_id, in[i].user_id);
        assert_int_equal(o.session_id, in[i].session_id);
        assert_int_equal(o.token_id, in[i].token_id);
    }
    ticket_owner_format(v, &in[0]);
    assert_string_equal(v, "1:2");
    ticket_owner_format(v, &in[1]);
    assert_string_equal(v, "42:0:7");
}

static void test_owner_refused(void **state)
{
    static const char *const bad[] = {
        "",    "5",     ":5",     "5:",      "0:1",    "-1:1", "5:-1",
        "5:0", "5:0:0", "5:3:7",  "5:0:7:",  "5:0:x",  "5: 1", "5:1 ",
        "a:1", "5::7",  "5:0:-7", "5:1:2:3", "5:0:7 ", "+5:1", "5:999999999999999999999",
    };
    struct ticket_owner o;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ticket_owner_parse(bad[i], strlen(bad[i]), &o))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(ticket_owner_parse("5:1\0", 4, &o)); /* a NUL inside */
    assert_true(ticket_owner_parse("5:1xyz", 3, &o)); /* only len bytes count */
    assert_int_equal(o.session_id, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_owner_round_trip),
        cmocka_unit_test(test_owner_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
