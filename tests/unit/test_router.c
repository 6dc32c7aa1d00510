/* test_router.c - chat-api's route matching and list cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/page.h"
#include "../../cgi/router.h"
#include "../../cgi/handlers.h"

static void h_a(struct req *r) { (void)r; }
static void h_b(struct req *r) { (void)r; }
static void h_c(struct req *r) { (void)r; }

static const struct route table[] = {
    {"GET", "/api/v1/chats", h_a, 0, 0},
    {"GET", "/api/v1/chats/:id/messages", h_b, 0, 0},
    {"DELETE", "/api/v1/chats/:id/members/:id", h_c, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static void test_literal_and_params(void **state)
{
    const struct route *r = NULL;
    int64_t p[ROUTER_MAX_PARAMS] = {0, 0};

    (void)state;
    assert_int_equal(router_match_in(table, "GET", "/api/v1/chats", &r, p), ROUTER_FOUND);
    assert_ptr_equal(r->handler, h_a);
    assert_int_equal(router_match_in(table, "GET", "/api/v1/chats/42/messages", &r, p),
                     ROUTER_FOUND);
    assert_ptr_equal(r->handler, h_b);
    assert_int_equal(p[0], 42);
    assert_int_equal(router_match_in(table, "DELETE", "/api/v1/chats/7/members/9007199254740991",
                                     &r, p),
                     ROUTER_FOUND);
    assert_int_equal(p[0], 7);
    assert_int_equal(p[1], INT64_C(9007199254740991));
}

static void test_bad_ids_do_not_match(void **state)
{
    const struct route *r;
    int64_t p[ROUTER_MAX_PARAMS];
    const char *bad[] = {
        "/api/v1/chats/0/messages",   "/api/v1/chats/-1/messages",
        "/api/v1/chats/01/messages",  "/api/v1/chats/1x/messages",
        "/api/v1/chats//messages",    "/api/v1/chats/9007199254740992/messages",
        "/api/v1/chats/1e3/messages", "/api/v1/chats/ 1/messages",
        "/api/v1/chats/1/messages/",  "/api/v1/chats/1/messagesx",
        "/api/v1/chat",               "/api/v1/chats/",
        "",                           "/",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum router_result res = router_match_in(table, "GET", bad[i], &r, p);
        if (res != ROUTER_NOT_FOUND)
            fail_msg("%s matched (%d)", bad[i], res);
    }
}

static void test_wrong_method_is_405(void **state)
{
    const struct route *r;
    int64_t p[ROUTER_MAX_PARAMS];

    (void)state;
    assert_int_equal(router_match_in(table, "POST", "/api/v1/chats/1/messages", &r, p),
                     ROUTER_BAD_METHOD);
    assert_int_equal(router_match_in(table, "get", "/api/v1/chats", &r, p), ROUTER_BAD_METHOD);
}

/* The metrics' route label: ":name" becomes "{name}", as in openapi.yaml. */
static void test_template(void **state)
{
    static const struct route named = {"DELETE", "/api/v1/chats/:chat_id/members/:user_id", h_c,
                                        0, 0};
    char out[64];

    (void)state;
    assert_int_equal(router_template(&named, out, sizeof(out)), 41);
    assert_string_equal(out, "/api/v1/chats/{chat_id}/members/{user_id}");
    assert_int_equal(router_template(&table[0], out, sizeof(out)), 13);
    assert_string_equal(out, "/api/v1/chats");
    router_template(&named, out, 20); /* cut short, still terminated */
    assert_string_equal(out, "/api/v1/chats/{chat");
    for (const struct route *r = router_routes; r->method; r++) {
        router_template(r, out, sizeof(out));
        assert_null(strchr(out, ':'));
    }
}

/* The real table: every route reachable, none shadowed by an earlier one. */
static void test_real_table_unambiguous(void **state)
{
    (void)state;
    for (const struct route *a = router_routes; a->method; a++) {
        char path[256], *o = path;
        const struct route *got;
        int64_t p[ROUTER_MAX_PARAMS];

        for (const char *c = a->pattern; *c;) {
            if (*c == ':') {
                *o++ = '5';
                c += strcspn(c, "/");
            } else {
                *o++ = *c++;
            }
        }
        *o = '\0';
        assert_int_equal(router_match(a->method, path, &got, p), ROUTER_FOUND);
        if (got != a)
            fail_msg("%s %s is shadowed by %s", a->method, a->pattern, got->pattern);
        assert_true(strncmp(a->pattern, "/api/v1/", 8) == 0);
    }
}

/* The rate class of a route is its flag: every route without a token
 * counts in the auth class except the health checks, which monitors call
 * often; no route that needs a token does. */
static void test_auth_limit_flags(void **state)
{
    (void)state;
    for (const struct route *r = router_routes; r->method; r++) {
        bool health = strcmp(r->pattern, "/api/v1/healthz") == 0 ||
                      strcmp(r->pattern, "/api/v1/readyz") == 0;
        bool limited = r->flags & ROUTE_AUTH_LIMIT;

        if (r->flags & ROUTE_AUTH)
            assert_false(limited);
        else
            assert_true(limited != health);
    }
}

static void test_cursor_parse(void **state)
{
    struct page_cursor c = {-1, -1};

    (void)state;
    assert_int_equal(page_cursor_parse("1795250379000000.42", true, &c), 0);
    assert_int_equal(c.key, INT64_C(1795250379000000));
    assert_int_equal(c.id, 42);
    assert_int_equal(page_cursor_parse("17", false, &c), 0);
    assert_int_equal(c.key, 0);
    assert_int_equal(c.id, 17);
    const char *bad_two[] = {"", ".", "1.", ".1", "1.2.3", "a.1", "1.-2", " 1.2", "1.2 ",
                             "1234567890123456789.1", "1,2", "17"};
    for (size_t i = 0; i < sizeof(bad_two) / sizeof(bad_two[0]); i++) {
        c.key = c.id = -7;
        if (page_cursor_parse(bad_two[i], true, &c) == 0)
            fail_msg("cursor \"%s\" accepted", bad_two[i]);
        assert_int_equal(c.id, -7);
    }
    const char *bad_one[] = {"", "-1", "1.2", "+1", "0x10", "12abc", "1234567890123456789"};
    for (size_t i = 0; i < sizeof(bad_one) / sizeof(bad_one[0]); i++)
        if (page_cursor_parse(bad_one[i], false, &c) == 0)
            fail_msg("id cursor \"%s\" accepted", bad_one[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_params),  cmocka_unit_test(test_bad_ids_do_not_match),
        cmocka_unit_test(test_wrong_method_is_405), cmocka_unit_test(test_template),
        cmocka_unit_test(test_real_table_unambiguous),
        cmocka_unit_test(test_cursor_parse),
        cmocka_unit_test(test_auth_limit_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
