/* cfg.c - configuration from chat.conf (inih), the environment and defaults.
 *
 * One table lists every key with its section, type, range and field. The
 * file is read first, then each key's environment twin overrides it, then
 * unset keys get defaults, some derived from home and port. An empty
 * environment variable counts as unset. Unknown keys in a known section are
 * an error (a typo must not pass silently); unknown sections are left to
 * the services that own them.
 */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "buf.h"
#include "err.h"
#include "json.h"

enum cfg_type { CFG_STR, CFG_INT };

struct cfg_key {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t off;
    int min, max; /* CFG_INT only */
};

#define CFG_S(sec, key)                                                                            \
    {                                                                                              \
        sec, #key, CFG_STR, offsetof(struct cfg, key), 0, 0                                        \
    }
#define CFG_I(sec, key, lo, hi)                                                                    \
    {                                                                                              \
        sec, #key, CFG_INT, offsetof(struct cfg, key), lo, hi                                      \
    }

static const struct cfg_key cfg_keys[] = {
    CFG_S("core", home),
    CFG_I("core", port, 1, 65532), /* port + 3 must be a port too */
    CFG_S("core", log_level),
    CFG_I("core", tls, 0, 1),
    CFG_S("db", db_conninfo),
    CFG_S("redis", redis_host),
    CFG_I("redis", redis_port, 1, 65535),
    CFG_S("redis", redis_socket),
    CFG_S("redis", redis_cluster),
    CFG_S("redis", redis_password_file),
    CFG_S("auth", jwt_key_file),
    CFG_S("auth", jwt_issuer),
    CFG_S("auth", jwt_audience),
    CFG_I("auth", access_ttl, 1, 86400),
    CFG_I("auth", refresh_ttl, 60, 10 * 365 * 86400),
    CFG_I("auth", refresh_grace, 0, 3600),
    CFG_I("auth", argon2_max_concurrent, 1, 1024),
    CFG_I("auth", argon2_wait_ms, 0, 60000),
    CFG_S("api", api_socket),
    CFG_I("api", api_threads, 1, 1024),
    CFG_I("api", body_limit, 1024, 64 << 20),
    CFG_I("api", max_group_members, 2, 1000000),
    CFG_I("api", max_ephemeral_fanout, 2, 1000000),
    CFG_I("api", metrics_port, 0, 65535),
    CFG_I("limits", rate_auth, 1, 1000000),
    CFG_I("limits", rate_read, 1, 10000000),
    CFG_I("limits", rate_write, 1, 10000000),
    CFG_I("limits", login_failures, 1, 1000000),
    CFG_S("push", push_addr),
    CFG_I("push", push_port, 1, 65535),
    CFG_I("push", push_max_conns, 1, 10000000),
    CFG_I("push", push_max_per_ip, 1, 10000000),
    CFG_I("push", heartbeat, 1, 3600),
    CFG_I("push", push_ws_port, 1, 65535),
    CFG_I("push", push_poll_port, 0, 65535),
    CFG_I("push", push_node, 0, 255),
    CFG_S("push", ws_origins),
    CFG_I("notify", notify_port, 0, 65535),
    CFG_I("notify", notify_allow_private, 0, 1),
    CFG_S("notify", push_gateways),
    CFG_I("notify", notify_backoff_ms, 1, 3600000),
    CFG_I("notify", notify_retry_window, 1, 30 * 86400),
    CFG_I("notify", notify_timeout_ms, 100, 600000),
    CFG_I("notify", push_coalesce_ms, 0, 600000),
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

struct cfg_ctx {
    struct cfg *c;
    bool set[CFG_NKEYS];
    char *err;
    int errlen;
    bool failed;
};

static char **cfg_str_field(struct cfg *c, const struct cfg_key *k)
{
    return (char **)((char *)c + k->off);
}

static int *cfg_int_field(struct cfg *c, const struct cfg_key *k)
{
    return (int *)((char *)c + k->off);
}

static char *cfg_strdup(const char *s)
{
    char *d = strdup(s);

    if (!d)
        abort(); /* as buf does: nothing sensible to do at startup */
    return d;
}

static const struct cfg_key *cfg_find(const char *section, const char *name)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (!strcmp(cfg_keys[i].section, section) && !strcmp(cfg_keys[i].name, name))
            return &cfg_keys[i];
    return NULL;
}

static bool cfg_section_known(const char *section)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (!strcmp(cfg_keys[i].section, section))
            return true;
    return false;
}

/* Record the first error only: it is the one to fix first. */
__attribute__((format(printf, 2, 3))) static int cfg_fail(struct cfg_ctx *x, const char *fmt, ...)
{
    va_list ap;

    if (!x->failed && x->err && x->errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(x->err, (size_t)x->errlen, fmt, ap);
        va_end(ap);
    }
    x->failed = true;
    return CHAT_ERR_INVALID;
}

/* Store value for key k; where names it in error messages (key or variable). */
static int cfg_set(struct cfg_ctx *x, const struct cfg_key *k, const char *value, const char *where)
{
    size_t i = (size_t)(k - cfg_keys);
    int64_t v;

    if (k->type == CFG_INT) {
        if (json_parse_int(value, k->min, k->max, &v))
            return cfg_fail(x, "%s must be an integer in [%d, %d], not \"%s\"", where, k->min,
                            k->max, value);
        *cfg_int_field(x->c, k) = (int)v;
    } else {
        char **f = cfg_str_field(x->c, k);

        free(*f);
        *f = cfg_strdup(value);
    }
    x->set[i] = true;
    return 0;
}

static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_ctx *x = user;
    const struct cfg_key *k;

    if (!cfg_section_known(section))
        return 1;
    k = cfg_find(section, name);
    if (!k) {
        cfg_fail(x, "unknown key %s in section [%s]", name, section);
        return 0;
    }
    return cfg_set(x, k, value, name) == 0;
}

static int cfg_read_file(struct cfg_ctx *x, const char *path)
{
    int line = ini_parse(path, cfg_ini_handler, x);

    if (line < 0)
        return cfg_fail(x, "%s: cannot read: %s", path, line == -1 ? strerror(errno) : "no memory");
    if (line > 0 && !x->failed)
        return cfg_fail(x, "%s:%d: syntax error", path, line);
    if (line > 0) {
        /* Prefix the handler's message with where it happened. */
        char msg[256];

        snprintf(msg, sizeof(msg), "%s", x->err ? x->err : "");
        x->failed = false;
        return cfg_fail(x, "%s:%d: %s", path, line, msg);
    }
    return x->failed ? CHAT_ERR_INVALID : 0;
}

/* CHAT_ followed by the key name in upper case: CHAT_API_THREADS. */
static void cfg_env_name(const struct cfg_key *k, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "CHAT_%s", k->name);

    for (size_t i = 5; i < n && i < outlen; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

static int cfg_read_env(struct cfg_ctx *x)
{
    char name[64];

    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const char *v;

        cfg_env_name(&cfg_keys[i], name, sizeof(name));
        v = getenv(name);
        if (v && *v && cfg_set(x, &cfg_keys[i], v, name))
            return CHAT_ERR_INVALID;
    }
    return 0;
}

/* Make home absolute: realpath if it exists, else prefixed with the cwd. */
static int cfg_abs_home(struct cfg_ctx *x)
{
    struct cfg *c = x->c;
    char *abs = realpath(c->home, NULL);
    char cwd[PATH_MAX];
    struct buf b = BUF_INIT;

    const char *rel = c->home;

    if (!abs && rel[0] != '/') {
        if (!getcwd(cwd, sizeof(cwd)))
            return cfg_fail(x, "home: cannot get current directory: %s", strerror(errno));
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        buf_addf(&b, "%s/%s", cwd, rel);
        abs = buf_detach(&b, NULL);
    }
    if (abs) {
        free(c->home);
        c->home = abs;
    }
    return 0;
}

static void cfg_default_str(struct cfg_ctx *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Give the key name its default value unless it was set. */
static void cfg_default_str(struct cfg_ctx *x, const char *name, const char *fmt, ...)
{
    const struct cfg_key *k = NULL;
    struct buf b = BUF_INIT;
    va_list ap;

    for (size_t i = 0; i < CFG_NKEYS && !k; i++)
        if (!strcmp(cfg_keys[i].name, name))
            k = &cfg_keys[i];
    if (x->set[k - cfg_keys])
        return;
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    *cfg_str_field(x->c, k) = buf_detach(&b, NULL);
    x->set[k - cfg_keys] = true;
}

static void cfg_default_int(struct cfg_ctx *x, const char *name, int v)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        if (strcmp(cfg_keys[i].name, name))
            continue;
        if (!x->set[i])
            *cfg_int_field(x->c, &cfg_keys[i]) = v;
        x->set[i] = true;
    }
}

/* A libpq conninfo value: bare if safe, else single-quoted with \ escapes. */
static void cfg_add_conninfo_value(struct buf *b, const char *v)
{
    if (*v && !strpbrk(v, " '\\\t\n\r")) {
        buf_adds(b, v);
        return;
    }
    buf_addch(b, '\'');
    for (; *v; v++) {
        if (*v == '\'' || *v == '\\')
            buf_addch(b, '\\');
        buf_addch(b, *v);
    }
    buf_addch(b, '\'');
}

static int cfg_defaults(struct cfg_ctx *x)
{
    struct cfg *c = x->c;
    struct buf run = BUF_INIT, conninfo = BUF_INIT;

    cfg_default_str(x, "home", "./var");
    if (cfg_abs_home(x))
        return CHAT_ERR_INVALID;
    cfg_default_int(x, "port", 8080);
    cfg_default_str(x, "log_level", "info");
    buf_addf(&run, "%s/run", c->home);
    buf_adds(&conninfo, "host=");
    cfg_add_conninfo_value(&conninfo, run.s);
    cfg_default_str(x, "db_conninfo", "%s port=%d dbname=chat", conninfo.s, c->port + 2);
    buf_release(&run);
    buf_release(&conninfo);
    cfg_default_str(x, "redis_host", "127.0.0.1");
    cfg_default_int(x, "redis_port", c->port + 3);
    cfg_default_str(x, "redis_socket", "%s", "");
    cfg_default_str(x, "redis_cluster", "%s", "");
    cfg_default_str(x, "redis_password_file", "%s/secrets/redis.pass", c->home);
    cfg_default_str(x, "jwt_key_file", "%s/secrets/jwt.key", c->home);
    cfg_default_str(x, "jwt_issuer", "chat");
    cfg_default_str(x, "jwt_audience", "chat-api");
    cfg_default_int(x, "access_ttl", 900);
    cfg_default_int(x, "refresh_ttl", 30 * 86400);
    cfg_default_int(x, "refresh_grace", 10);
    return 0;
}

/* Half the workers, but no more than the CPUs: a hash is CPU-bound, so
 * more at once than cores only slows every request down; at least 1. */
static int cfg_argon2_default(int threads)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = threads / 2;

    if (cpus > 0 && n > cpus)
        n = (int)cpus;
    return n > 0 ? n : 1;
}

static void cfg_defaults_services(struct cfg_ctx *x)
{
    struct cfg *c = x->c;

    cfg_default_str(x, "api_socket", "%s/run/chat-api.sock", c->home);
    cfg_default_int(x, "api_threads", 8);
    cfg_default_int(x, "argon2_max_concurrent", cfg_argon2_default(c->api_threads));
    cfg_default_int(x, "argon2_wait_ms", 10);
    cfg_default_int(x, "body_limit", 65536);
    cfg_default_int(x, "max_group_members", 10000);
    cfg_default_int(x, "max_ephemeral_fanout", 100);
    cfg_default_int(x, "metrics_port", c->port <= 65528 ? c->port + 7 : 0);
    cfg_default_int(x, "rate_auth", 300);
    cfg_default_int(x, "rate_read", 1200);
    cfg_default_int(x, "rate_write", 600);
    cfg_default_int(x, "login_failures", 10);
    cfg_default_str(x, "push_addr", "127.0.0.1");
    cfg_default_int(x, "push_port", c->port + 1);
    cfg_default_int(x, "push_max_conns", 20000);
    cfg_default_int(x, "push_max_per_ip", 1000);
    cfg_default_int(x, "heartbeat", 15);
    cfg_default_int(x, "push_ws_port", c->port <= 65530 ? c->port + 5 : 1);
    cfg_default_int(x, "push_poll_port", c->port <= 65529 ? c->port + 6 : 0);
    cfg_default_int(x, "push_node", 0);
    cfg_default_str(x, "ws_origins", "%s", "");
    cfg_default_int(x, "tls", 0);
    cfg_default_int(x, "notify_port", c->port <= 65531 ? c->port + 4 : 0);
    cfg_default_int(x, "notify_allow_private", 0);
    cfg_default_str(x, "push_gateways", "%s", "");
    cfg_default_int(x, "notify_backoff_ms", 10000);
    cfg_default_int(x, "notify_retry_window", 86400);
    cfg_default_int(x, "notify_timeout_ms", 10000);
    cfg_default_int(x, "push_coalesce_ms", 1000);
}

static int cfg_check(struct cfg_ctx *x)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    const char *l = x->c->log_level;

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (!strcmp(l, levels[i]))
            return 0;
    return cfg_fail(x, "log_level must be debug, info, warn or error, not \"%s\"", l);
}

int cfg_load(struct cfg *c, const char *path, char *err, int errlen)
{
    struct cfg_ctx x = {.c = c, .err = err, .errlen = errlen};
    int rc = 0;

    memset(c, 0, sizeof(*c));
    if (err && errlen > 0)
        err[0] = '\0';
    if (!path || !*path)
        path = getenv("CHAT_CONF");
    if (path && *path)
        rc = cfg_read_file(&x, path);
    if (!rc)
        rc = cfg_read_env(&x);
    if (!rc)
        rc = cfg_defaults(&x);
    if (!rc) {
        cfg_defaults_services(&x);
        rc = cfg_check(&x);
    }
    if (rc)
        cfg_release(c);
    return rc;
}

void cfg_release(struct cfg *c)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        if (cfg_keys[i].type != CFG_STR)
            continue;
        free(*cfg_str_field(c, &cfg_keys[i]));
        *cfg_str_field(c, &cfg_keys[i]) = NULL;
    }
    free(c->redis_password);
    c->redis_password = NULL;
}

#define CFG_SECRET_MAX 1024

/* The first line of path, without its end, into a new string at *out. */
static int cfg_read_secret(const char *path, const char *key, char **out, char *err, int errlen)
{
    char line[CFG_SECRET_MAX + 2];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        snprintf(err, (size_t)errlen, "%s (%s): cannot read: %s", path, key, strerror(errno));
        return CHAT_ERR_INVALID;
    }
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    n = strlen(line);
    if (n == 0 || n > CFG_SECRET_MAX) {
        snprintf(err, (size_t)errlen, "%s (%s): %s", path, key,
                 n ? "longer than 1024 bytes" : "empty");
        return CHAT_ERR_INVALID;
    }
    *out = cfg_strdup(line);
    return 0;
}

int cfg_load_secrets(struct cfg *c, char *err, int errlen)
{
    free(c->redis_password);
    c->redis_password = NULL;
    if (!c->redis_password_file || !c->redis_password_file[0])
        return 0;
    return cfg_read_secret(c->redis_password_file, "redis_password_file", &c->redis_password, err,
                           errlen);
}
