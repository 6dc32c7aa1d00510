/* test_api_error.c - the API's error object (lib/api_error.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api_error.h"
#include "json.h"

static void test_body(void **state)
{
    struct buf b = BUF_INIT;

    api_error_body(&b, "not_found", "no such chat");
    assert_string_equal(b.s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such chat\"}}");
    buf_release(&b);
}

/* A message that quotes client input stays one valid JSON string. */
static void test_message_escaped(void **state)
{
    struct buf b = BUF_INIT;
    const char *why = NULL;
    const char *msg = "bad \"x\"\\\n\x01 end";
    cJSON *root, *err;

    buf_adds(&b, "{\"op\":\"error\",\"id\":1,\"error\":");
    api_error_object(&b, "invalid_request", msg);
    buf_addch(&b, '}');
    root = json_parse(b.s, b.len, &why);
    assert_non_null(root);
    err = cJSON_GetObjectItemCaseSensitive(root, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "code")->valuestring,
                        "invalid_request");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring, msg);
    cJSON_Delete(root);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_message_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
