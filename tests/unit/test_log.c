/* test_log.c - log line format, level filter and control-byte escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/log.c"

/* Run fn with stderr sent to a pipe; return what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char out[4096];
    int fds[2], saved = dup(STDERR_FILENO);
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}

static void log_hostile(void)
{
    log_init("chat-api", LOG_INFO);
    log_info("user=%s end", "evil\r\n2026-01-01T00:00:00.000Z error chat-api forged\x1b[31m\x7f");
}

static void log_nul(void)
{
    log_warn("a%cb", 0);
}

static void log_filtered(void)
{
    log_init("chat-push", LOG_WARN);
    log_info("hidden");
    log_debug("hidden");
    log_err("shown %d", 5);
}

static void test_line_format_and_escaping(void **state)
{
    const char *s = capture(log_hostile);
    const char *want = " info chat-api user=evil\\x0d\\x0a2026-01-01T00:00:00.000Z error chat-api "
                       "forged\\x1b[31m\\x7f end\n";

    /* 2026-11-21T07:10:00.123Z */
    assert_int_equal(strlen(s), 24 + strlen(want));
    assert_true(s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':');
    assert_true(s[19] == '.' && s[23] == 'Z');
    assert_string_equal(s + 24, want);
    assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
}

static void test_nul_escaped(void **state)
{
    const char *s = capture(log_nul);

    assert_non_null(strstr(s, " warn chat-api a\\x00b\n"));
}

static void test_level_filter(void **state)
{
    const char *s = capture(log_filtered);

    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, " error chat-push shown 5\n"));
}

static void test_level_parse(void **state)
{
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("info"), LOG_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_WARN);
    assert_int_equal(log_level_parse("error"), LOG_ERR);
    assert_int_equal(log_level_parse("ERROR"), LOG_INFO);
    assert_int_equal(log_level_parse(NULL), LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format_and_escaping),
        cmocka_unit_test(test_nul_escaped),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_level_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
