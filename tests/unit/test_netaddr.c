/* test_netaddr.c - which outgoing targets webhooks and push may reach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "../../lib/netaddr.c"

static bool internal(const char *text)
{
    struct sockaddr_storage ss = {0};

    if (strchr(text, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    return netaddr_is_internal((struct sockaddr *)&ss);
}

static void test_internal_v4(void **state)
{
    const char *in[] = {"127.0.0.1",      "127.255.0.9", "10.1.2.3",        "172.16.0.1",
                        "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                        "0.0.0.0",        "224.0.0.1",   "255.255.255.255", "198.18.0.1",
                        "192.0.2.10"};
    const char *out[] = {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.216.34"};

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        assert_true(internal(in[i]));
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
        assert_false(internal(out[i]));
}

static void test_internal_v6(void **state)
{
    const char *in[] = {
        "::",      "::1",     "::ffff:127.0.0.1", "::ffff:8.8.8.8", "fc00::1",      "fd12:3456::1",
        "fe80::1", "ff02::1", "2001:db8::1",      "64:ff9b::a00:1", "2002:a00:1::1"};
    const char *out[] = {"2606:4700:4700::1111", "2a00:1450:4001::200e"};

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        assert_true(internal(in[i]));
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
        assert_false(internal(out[i]));
}

static void test_url_parse(void **state)
{
    struct netaddr_url u;
    const char *why;

    assert_int_equal(netaddr_url_parse("https://Example.com/hook?a=1", &u, &why), 0);
    assert_string_equal(u.scheme, "https");
    assert_int_equal(u.port, 443);
    assert_false(u.port_given);
    assert_int_equal(netaddr_url_parse("http://[::1]:8080/x", &u, &why), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_int_not_equal(netaddr_url_parse("ftp://example.com/", &u, &why), 0);
    assert_int_not_equal(netaddr_url_parse("https://user:pw@example.com/", &u, &why), 0);
    assert_int_not_equal(netaddr_url_parse("/relative", &u, &why), 0);
    /* found by tests/fuzz/fuzz_webhook_url: port 0 passed */
    assert_int_not_equal(netaddr_url_parse("https://example.com:0/x", &u, &why), 0);
    assert_string_equal(why, "url's port must be 1 to 65535");
    assert_int_equal(netaddr_url_parse("https://example.com:65535/x", &u, &why), 0);
}

static void test_url_check_refuses_http_and_internal(void **state)
{
    const char *why;

    assert_int_not_equal(netaddr_url_check("http://8.8.8.8/x", false, &why), 0);
    assert_int_not_equal(netaddr_url_check("https://127.0.0.1/x", false, &why), 0);
    assert_int_not_equal(netaddr_url_check("https://[::1]/x", false, &why), 0);
    assert_int_not_equal(netaddr_url_check("https://10.0.0.8:8443/x", false, &why), 0);
    assert_int_equal(netaddr_url_check("https://8.8.8.8/x", false, &why), 0);
    assert_int_equal(netaddr_url_check("http://127.0.0.1:9/x", true, &why), 0);
}

static void test_allow_list(void **state)
{
    const char *list = "https://push.example.com, http://127.0.0.1:9000";

    assert_true(netaddr_url_allowed(list, "https://push.example.com/_matrix/push/v1/notify"));
    assert_true(netaddr_url_allowed(list, "https://PUSH.example.com:8443/x"));
    assert_true(netaddr_url_allowed(list, "http://127.0.0.1:9000/_matrix/push/v1/notify"));
    assert_false(netaddr_url_allowed(list, "http://127.0.0.1:9001/x"));
    assert_false(netaddr_url_allowed(list, "http://push.example.com/x"));
    assert_false(netaddr_url_allowed(list, "https://push.example.com.evil.io/x"));
    assert_false(netaddr_url_allowed(list, "https://push.example.com@evil.io/x"));
    assert_false(netaddr_url_allowed("", "https://push.example.com/x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_internal_v4),
        cmocka_unit_test(test_internal_v6),
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_url_check_refuses_http_and_internal),
        cmocka_unit_test(test_allow_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
