/* test_dbarray.c - lib/db.h db_int_array: PostgreSQL's text output of a
 * bigint[] read into an int64_t array (the write functions' member lists,
 * db/functions/chat_create_group.sql). Results are made with libpq's
 * PQmakeEmptyPGresult/PQsetvalue, no server needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/db.h"

/* A one-row, one-column result holding text (NULL: SQL NULL). */
static PGresult *one_value(const char *text)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc col = {.name = "v", .format = 0, .typid = 1016, .typlen = -1, .atttypmod = -1};

    assert_non_null(r);
    assert_true(PQsetResultAttrs(r, 1, &col));
    if (text)
        assert_true(PQsetvalue(r, 0, 0, (char *)text, (int)strlen(text)));
    else
        assert_true(PQsetvalue(r, 0, 0, NULL, -1));
    return r;
}

static int read_array(const char *text, int64_t **out)
{
    PGresult *r = one_value(text);
    int n = db_int_array(r, 0, 0, out);

    PQclear(r);
    return n;
}

static void test_elements(void **state)
{
    int64_t *v;

    assert_int_equal(read_array("{1,2,9007199254740991}", &v), 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 9007199254740991LL);
    free(v);
    assert_int_equal(read_array("{-5}", &v), 1);
    assert_int_equal(v[0], -5);
    free(v);
}

static void test_many_elements_grow(void **state)
{
    char text[1024] = "{";
    int64_t *v;

    for (int i = 1; i <= 100; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%d", i > 1 ? "," : "", i);
    strcat(text, "}");
    assert_int_equal(read_array(text, &v), 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(v[i], i + 1);
    free(v);
}

static void test_empty_and_null(void **state)
{
    int64_t *v = (int64_t *)1;

    assert_int_equal(read_array("{}", &v), 0);
    assert_null(v);
    v = (int64_t *)1;
    assert_int_equal(read_array(NULL, &v), 0);
    assert_null(v);
    {
        PGresult *r = one_value("{1}");
        v = (int64_t *)1;
        assert_int_equal(db_int_array(r, 1, 0, &v), 0); /* no such row */
        assert_null(v);
        PQclear(r);
    }
}

static void test_other_shapes_refused(void **state)
{
    const char *bad[] = {"",       "1,2",           "{1,2", "{1,,2}", "{1;2}",
                         "{NULL}", "{{1,2},{3,4}}", "{1}x", "{a}",    "[1:2]={1,2}"};
    int64_t *v;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        v = (int64_t *)1;
        assert_int_equal(read_array(bad[i], &v), -1);
        assert_null(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_many_elements_grow),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_other_shapes_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
