/* test_keys.c - the Redis names the three programs share (lib/keys.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"

static void test_names(void **state)
{
    char k[KEY_MAX];

    assert_int_equal(key_chat(k, 42), 9);
    assert_string_equal(k, "{chat:42}");
    key_user(k, 9007199254740991);
    assert_string_equal(k, "{user:9007199254740991}");
    key_chat_version(k, 7);
    assert_string_equal(k, "{chat:7}:cv");
    key_auth_epoch(k, 3);
    assert_string_equal(k, "{user:3}:ae");
    key_presence(k, 5);
    assert_string_equal(k, "{user:5}:presence");
    key_ticket(k, "00ff");
    assert_string_equal(k, "ticket:00ff");
    key_rate(k, "write", 12, "127.0.0.1", 99);
    assert_string_equal(k, "{user:12}:rl:write:99");
    key_rate(k, "auth", 0, "::1", 100);
    assert_string_equal(k, "rl:auth:ip::1:100");
}

static void test_long_name_is_cut(void **state)
{
    char k[KEY_MAX], hex[300];

    memset(hex, 'a', sizeof(hex) - 1);
    hex[sizeof(hex) - 1] = '\0';
    assert_int_equal(key_ticket(k, hex), KEY_MAX - 1);
    assert_int_equal(strlen(k), KEY_MAX - 1);
}

static void test_channel_id(void **state)
{
    int64_t id = 0;

    assert_true(key_channel_id("{chat:42}", 9, KEY_CHAT_PREFIX, &id));
    assert_int_equal(id, 42);
    assert_true(key_channel_id("{user:9007199254740991}", 23, KEY_USER_PREFIX, &id));
    assert_true(id == INT64_C(9007199254740991));
    /* only a prefix of the bytes Redis gave: "{chat:42" */
    assert_false(key_channel_id("{chat:42}", 8, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:}", 7, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:0}", 8, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:-1}", 9, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:1x}", 9, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:1}:cv", 11, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:9007199254740992}", 23, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{user:42}", 9, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("{chat:99999999999999999999999}", 30, KEY_CHAT_PREFIX, &id));
    assert_false(key_channel_id("chat:42", 7, KEY_CHAT_PREFIX, &id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_long_name_is_cut),
        cmocka_unit_test(test_channel_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
