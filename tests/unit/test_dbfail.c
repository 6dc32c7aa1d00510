/* test_dbfail.c - which libpq failures are an outage (503) and which a
 * real error (500): lib/db.h db_classify; which failed statements run
 * again on a new connection (db_may_retry); and the query decoder's refusal
 * of NUL bytes (cgi/req.h req_query_decode). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/req.h"
#include "../../lib/db.h"
#include "../../lib/err.h"

static void test_success_is_no_failure(void **state)
{
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_TUPLES_OK, NULL), DB_FAIL_NONE);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_COMMAND_OK, ""), DB_FAIL_NONE);
}

static void test_connection_failures_are_unavailable(void **state)
{
    /* The connection broke (a crash, pg_ctl stop -m immediate). */
    assert_int_equal(db_classify(CONNECTION_BAD, PGRES_FATAL_ERROR, NULL), DB_FAIL_UNAVAILABLE);
    assert_int_equal(db_classify(CONNECTION_BAD, PGRES_FATAL_ERROR, "42P01"), DB_FAIL_UNAVAILABLE);
    /* libpq's own error, no SQLSTATE: server closed the connection. */
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, NULL), DB_FAIL_UNAVAILABLE);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, ""), DB_FAIL_UNAVAILABLE);
    /* Class 08, connection exception. */
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "08006"), DB_FAIL_UNAVAILABLE);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "08003"), DB_FAIL_UNAVAILABLE);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "08001"), DB_FAIL_UNAVAILABLE);
    /* admin_shutdown, crash_shutdown, cannot_connect_now. */
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "57P01"), DB_FAIL_UNAVAILABLE);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "57P02"), DB_FAIL_UNAVAILABLE);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "57P03"), DB_FAIL_UNAVAILABLE);
}

static void test_real_errors_stay_errors(void **state)
{
    /* unique_violation, undefined_table, syntax error, query_canceled. */
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "23505"), DB_FAIL_ERROR);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "42P01"), DB_FAIL_ERROR);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "42601"), DB_FAIL_ERROR);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "57014"), DB_FAIL_ERROR);
    /* 08P01 protocol violation (a wrong parameter count) is our bug. */
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_FATAL_ERROR, "08P01"), DB_FAIL_ERROR);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_BAD_RESPONSE, NULL), DB_FAIL_ERROR);
    assert_int_equal(db_classify(CONNECTION_OK, PGRES_EMPTY_QUERY, NULL), DB_FAIL_ERROR);
}

/* After a lost connection (a failover) a read runs again, and so does a
 * write with an idempotency key; a write without one never does (it may
 * have committed: a second run would add a second message). A statement
 * that failed by itself never runs again. */
static void test_retry_only_what_is_safe(void **state)
{
    static const struct db_stmt rd = {"r", "SELECT 1", 0, true};
    static const struct db_stmt wr = {"w", "SELECT message_post()", 0, false};

    assert_true(db_may_retry(&rd, DB_FAIL_UNAVAILABLE, false));
    assert_true(db_may_retry(&rd, DB_FAIL_UNAVAILABLE, true));
    assert_true(db_may_retry(&wr, DB_FAIL_UNAVAILABLE, true));
    assert_false(db_may_retry(&wr, DB_FAIL_UNAVAILABLE, false));
    assert_false(db_may_retry(&wr, DB_FAIL_ERROR, true));
    assert_false(db_may_retry(&rd, DB_FAIL_ERROR, false));
    assert_false(db_may_retry(&wr, DB_FAIL_NONE, true));
}

/* decode s (whole) into *out; the return code of req_query_decode. */
static int decode(const char *s, char **out)
{
    return req_query_decode(s, strlen(s), out);
}

static void test_query_decode(void **state)
{
    char *v;

    assert_int_equal(decode("5", &v), 0);
    assert_string_equal(v, "5");
    free(v);
    assert_int_equal(decode("a+b%20c%2Bd%C3%A9", &v), 0);
    assert_string_equal(v, "a b c+d\xc3\xa9");
    free(v);
    assert_int_equal(decode("", &v), 0);
    assert_string_equal(v, "");
    free(v);
    /* only len bytes are read */
    assert_int_equal(req_query_decode("abc&d", 3, &v), 0);
    assert_string_equal(v, "abc");
    free(v);
}

static void test_query_decode_refuses_nul(void **state)
{
    char *v = (char *)"untouched";

    assert_int_equal(decode("5%00", &v), CHAT_ERR_INVALID);
    assert_null(v);
    assert_int_equal(decode("%00", &v), CHAT_ERR_INVALID);
    assert_int_equal(decode("ab%00cd", &v), CHAT_ERR_INVALID);
    assert_int_equal(decode("limit=5%00", &v), CHAT_ERR_INVALID);
    /* not a NUL: "%0" incomplete, "%000" is NUL then "0" */
    assert_int_equal(decode("%000", &v), CHAT_ERR_INVALID);
    assert_int_equal(decode("%0", &v), 0);
    free(v);
    assert_int_equal(decode("%30%30", &v), 0);
    assert_string_equal(v, "00");
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_is_no_failure),
        cmocka_unit_test(test_connection_failures_are_unavailable),
        cmocka_unit_test(test_real_errors_stay_errors),
        cmocka_unit_test(test_retry_only_what_is_safe),
        cmocka_unit_test(test_query_decode),
        cmocka_unit_test(test_query_decode_refuses_nul),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
