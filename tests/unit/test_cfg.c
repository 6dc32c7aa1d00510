/* test_cfg.c - configuration precedence (env > file > defaults) and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/cfg.c"

static char tmpdir[] = "/tmp/test_cfg.XXXXXX";
static char conf[300];

/* Remove every CHAT_ variable cfg reads, so the caller's shell cannot leak in. */
static int clear_env(void **state)
{
    char name[64];

    for (size_t i = 0; i < CFG_NKEYS; i++) {
        cfg_env_name(&cfg_keys[i], name, sizeof(name));
        unsetenv(name);
    }
    unsetenv("CHAT_CONF");
    return 0;
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_defaults_derive_from_home_and_port(void **state)
{
    struct cfg c;
    char err[256], want[512];

    setenv("CHAT_HOME", tmpdir, 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_string_equal(c.home, tmpdir);
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.log_level, "info");
    snprintf(want, sizeof(want), "host=%s/run port=8082 dbname=chat", tmpdir);
    assert_string_equal(c.db_conninfo, want);
    assert_string_equal(c.redis_host, "127.0.0.1");
    assert_int_equal(c.redis_port, 8083);
    snprintf(want, sizeof(want), "%s/secrets/redis.pass", tmpdir);
    assert_string_equal(c.redis_password_file, want);
    assert_null(c.redis_password);
    snprintf(want, sizeof(want), "%s/secrets/jwt.key", tmpdir);
    assert_string_equal(c.jwt_key_file, want);
    assert_string_equal(c.jwt_issuer, "chat");
    assert_string_equal(c.jwt_audience, "chat-api");
    assert_int_equal(c.access_ttl, 900);
    assert_int_equal(c.refresh_ttl, 30 * 86400);
    assert_int_equal(c.refresh_grace, 10);
    snprintf(want, sizeof(want), "%s/run/chat-api.sock", tmpdir);
    assert_string_equal(c.api_socket, want);
    assert_int_equal(c.api_threads, 8);
    assert_int_equal(c.body_limit, 65536);
    assert_int_equal(c.max_group_members, 10000);
    assert_int_equal(c.metrics_port, 8087);
    assert_string_equal(c.push_addr, "127.0.0.1");
    assert_int_equal(c.push_port, 8081);
    assert_int_equal(c.push_max_conns, 20000);
    assert_int_equal(c.heartbeat, 15);
    assert_int_equal(c.tls, 0);
    cfg_release(&c);
    assert_null(c.home);
}

static void test_tls_from_environment(void **state)
{
    struct cfg c;
    char err[256];

    setenv("CHAT_TLS", "1", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.tls, 1);
    cfg_release(&c);
    setenv("CHAT_TLS", "2", 1);
    assert_int_not_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    unsetenv("CHAT_TLS");
}

static void test_port_moves_derived_ports(void **state)
{
    struct cfg c;
    char err[256];

    setenv("CHAT_PORT", "9000", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.push_port, 9001);
    assert_int_equal(c.redis_port, 9003);
    assert_int_equal(c.metrics_port, 9007);
    assert_non_null(strstr(c.db_conninfo, " port=9002 "));
    cfg_release(&c);
    setenv("CHAT_METRICS_PORT", "9100", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.metrics_port, 9100);
    cfg_release(&c);
    unsetenv("CHAT_METRICS_PORT");
}

static void test_relative_home_made_absolute(void **state)
{
    struct cfg c;
    char err[256], cwd[PATH_MAX], want[PATH_MAX + 40];

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    setenv("CHAT_HOME", "no-such-dir-for-cfg-test", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/no-such-dir-for-cfg-test", cwd);
    assert_string_equal(c.home, want);
    cfg_release(&c);
}

static void test_file_then_env_precedence(void **state)
{
    struct cfg c;
    char err[256];

    write_conf("; comment\n[core]\nport = 7000\n[api]\napi_threads = 4\nbody_limit = 2048\n"
               "[auth]\njwt_issuer = file-iss\n[someday]\nwhatever = 1\n");
    setenv("CHAT_API_THREADS", "16", 1);
    setenv("CHAT_JWT_ISSUER", "env-iss", 1);
    assert_int_equal(cfg_load(&c, conf, err, sizeof(err)), 0);
    assert_int_equal(c.port, 7000);       /* file over default */
    assert_int_equal(c.push_port, 7001);  /* derived from the file's port */
    assert_int_equal(c.body_limit, 2048); /* file over default */
    assert_int_equal(c.api_threads, 16);  /* env over file */
    assert_string_equal(c.jwt_issuer, "env-iss");
    cfg_release(&c);
    setenv("CHAT_PORT", "7100", 1);
    setenv("CHAT_API_THREADS", "", 1); /* empty is unset */
    setenv("CHAT_CONF", conf, 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.port, 7100);
    assert_int_equal(c.api_threads, 4);
    cfg_release(&c);
}

static void expect_invalid(const char *path, const char *needle);

/* The Argon2 cap: half the workers, at most the CPUs, at least 1; the
 * file or the environment overrides it. */
static void test_argon2_defaults(void **state)
{
    struct cfg c;
    char err[256];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    setenv("CHAT_API_THREADS", "8", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.argon2_max_concurrent, cpus > 0 && cpus < 4 ? cpus : 4);
    assert_int_equal(c.argon2_wait_ms, 10);
    cfg_release(&c);
    setenv("CHAT_API_THREADS", "1", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.argon2_max_concurrent, 1);
    cfg_release(&c);
    write_conf("[auth]\nargon2_max_concurrent = 6\nargon2_wait_ms = 0\n");
    assert_int_equal(cfg_load(&c, conf, err, sizeof(err)), 0);
    assert_int_equal(c.argon2_max_concurrent, 6);
    assert_int_equal(c.argon2_wait_ms, 0);
    cfg_release(&c);
    setenv("CHAT_ARGON2_MAX_CONCURRENT", "0", 1);
    expect_invalid(NULL, "CHAT_ARGON2_MAX_CONCURRENT");
}

static void expect_invalid(const char *path, const char *needle)
{
    struct cfg c;
    char err[256] = "";

    assert_int_equal(cfg_load(&c, path, err, sizeof(err)), CHAT_ERR_INVALID);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    assert_null(c.home);
    assert_null(c.db_conninfo);
}

static void test_bad_env_integers(void **state)
{
    static const char *const bad[] = {"12abc", "", " 80", "0", "70000", "-1", "8080.0", "1e3"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!*bad[i])
            continue; /* empty means unset, tested above */
        setenv("CHAT_PORT", bad[i], 1);
        expect_invalid(NULL, "CHAT_PORT");
    }
    clear_env(state);
    setenv("CHAT_HEARTBEAT", "99999999999999999999", 1);
    expect_invalid(NULL, "CHAT_HEARTBEAT");
}

static void test_bad_file_values(void **state)
{
    write_conf("[api]\napi_threads = 12abc\n");
    expect_invalid(conf, "api_threads");
    write_conf("[push]\npush_port = 65536\n");
    expect_invalid(conf, "push_port");
    write_conf("[api]\napi_thread = 4\n");
    expect_invalid(conf, "unknown key api_thread");
    write_conf("[core]\nlog_level = loud\n");
    expect_invalid(conf, "log_level");
    write_conf("[core]\nthis line is not ini\n");
    expect_invalid(conf, ":2:");
    expect_invalid("/nonexistent/chat.conf", "/nonexistent/chat.conf");
}

static void test_env_names(void **state)
{
    char name[64];

    cfg_env_name(cfg_find("api", "api_threads"), name, sizeof(name));
    assert_string_equal(name, "CHAT_API_THREADS");
    cfg_env_name(cfg_find("core", "home"), name, sizeof(name));
    assert_string_equal(name, "CHAT_HOME");
    cfg_env_name(cfg_find("auth", "jwt_key_file"), name, sizeof(name));
    assert_string_equal(name, "CHAT_JWT_KEY_FILE");
    cfg_env_name(cfg_find("db", "db_conninfo"), name, sizeof(name));
    assert_string_equal(name, "CHAT_DB_CONNINFO");
}

static void test_home_with_space_is_quoted_in_conninfo(void **state)
{
    struct cfg c;
    char err[256];

    setenv("CHAT_HOME", "/srv/my chat", 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    assert_string_equal(c.db_conninfo, "host='/srv/my chat/run' port=8082 dbname=chat");
    cfg_release(&c);
}

/* The Redis password comes from its file, first line only; a missing or
 * empty file is an error naming the file; "" means no AUTH. */
static void test_secrets_read_redis_password(void **state)
{
    struct cfg c;
    char err[256], path[400];
    FILE *f;

    snprintf(path, sizeof(path), "%s/redis.pass", tmpdir);
    setenv("CHAT_REDIS_PASSWORD_FILE", path, 1);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(cfg_load_secrets(&c, err, sizeof(err)), CHAT_ERR_INVALID);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "redis_password_file"));
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cfg_load_secrets(&c, err, sizeof(err)), CHAT_ERR_INVALID);
    assert_non_null(strstr(err, "empty"));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret pass\nsecond line\n", f);
    fclose(f);
    assert_int_equal(cfg_load_secrets(&c, err, sizeof(err)), 0);
    assert_string_equal(c.redis_password, "s3cret pass");
    cfg_release(&c);
    assert_null(c.redis_password);
    unlink(path);

    setenv("CHAT_REDIS_PASSWORD_FILE", "", 1); /* empty variable: unset, the default */
    assert_int_equal(cfg_load(&c, NULL, err, sizeof(err)), 0);
    free(c.redis_password_file);
    c.redis_password_file = strdup("");
    assert_int_equal(cfg_load_secrets(&c, err, sizeof(err)), 0);
    assert_null(c.redis_password);
    cfg_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_derive_from_home_and_port, clear_env),
        cmocka_unit_test_setup(test_port_moves_derived_ports, clear_env),
        cmocka_unit_test_setup(test_tls_from_environment, clear_env),
        cmocka_unit_test_setup(test_relative_home_made_absolute, clear_env),
        cmocka_unit_test_setup(test_file_then_env_precedence, clear_env),
        cmocka_unit_test_setup(test_bad_env_integers, clear_env),
        cmocka_unit_test_setup(test_bad_file_values, clear_env),
        cmocka_unit_test_setup(test_env_names, clear_env),
        cmocka_unit_test_setup(test_home_with_space_is_quoted_in_conninfo, clear_env),
        cmocka_unit_test_setup(test_secrets_read_redis_password, clear_env),
        cmocka_unit_test_setup(test_argon2_defaults, clear_env),
    };
    int rc;

    if (!mkdtemp(tmpdir))
        return 1;
    snprintf(conf, sizeof(conf), "%s/chat.conf", tmpdir);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(conf);
    rmdir(tmpdir);
    return rc;
}
