/* db.c - blocking PostgreSQL access with lazily prepared statements. */
#include "db.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static _Atomic uint64_t db_nreconnects;

uint64_t db_reconnects(void)
{
    return atomic_load_explicit(&db_nreconnects, memory_order_relaxed);
}

/* d->conn just opened. */
static void db_opened(struct db *d)
{
    if (d->had_conn)
        atomic_fetch_add_explicit(&db_nreconnects, 1, memory_order_relaxed);
    d->had_conn = true;
}

void db_init(struct db *d, const char *conninfo)
{
    memset(d, 0, sizeof(*d));
    d->conninfo = conninfo;
}

static void db_disconnect(struct db *d)
{
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
    d->nprepared = 0;
}

void db_release(struct db *d)
{
    db_disconnect(d);
    free(d->prepared);
    d->prepared = NULL;
    d->cap = 0;
}

enum db_failure db_classify(ConnStatusType conn, ExecStatusType res, const char *sqlstate)
{
    static const char *const gone[] = {"57P01", "57P02", "57P03"};

    if (res == PGRES_TUPLES_OK || res == PGRES_COMMAND_OK)
        return DB_FAIL_NONE;
    if (conn == CONNECTION_BAD)
        return DB_FAIL_UNAVAILABLE;
    if (!sqlstate || !*sqlstate)
        return res == PGRES_FATAL_ERROR ? DB_FAIL_UNAVAILABLE : DB_FAIL_ERROR;
    /* Class 08 is connection exception; but 08P01 (protocol violation,
     * e.g. a wrong parameter count) is our bug, and retrying never helps. */
    if (strncmp(sqlstate, "08", 2) == 0 && strcmp(sqlstate, "08P01") != 0)
        return DB_FAIL_UNAVAILABLE;
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (strcmp(sqlstate, gone[i]) == 0)
            return DB_FAIL_UNAVAILABLE;
    return DB_FAIL_ERROR;
}

/* The failure of r (may be NULL: libpq ran out of memory or lost the
 * connection) on d's connection, with its message in d->errstr. */
static void db_fail(struct db *d, const char *what, PGresult *r)
{
    d->failure = db_classify(d->conn ? PQstatus(d->conn) : CONNECTION_BAD, PQresultStatus(r),
                             r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
    if (d->failure == DB_FAIL_NONE)
        d->failure = DB_FAIL_ERROR;
    snprintf(d->errstr, sizeof(d->errstr), "%s: %s", what,
             r ? PQresultErrorMessage(r) : PQerrorMessage(d->conn));
}

/* true if d holds a connection that is still open. An idle connection
 * whose server has gone (restart, pg_terminate_backend) reads EOF here:
 * libpq's socket is non-blocking, so PQconsumeInput never waits. */
static bool db_alive(struct db *d)
{
    return d->conn && PQstatus(d->conn) == CONNECTION_OK && PQconsumeInput(d->conn) &&
           PQstatus(d->conn) == CONNECTION_OK;
}

static int db_connect(struct db *d)
{
    if (db_alive(d))
        return 0;
    db_disconnect(d);
    d->conn = PQconnectdb(d->conninfo);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        snprintf(d->errstr, sizeof(d->errstr), "connect: %s", PQerrorMessage(d->conn));
        d->failure = DB_FAIL_UNAVAILABLE;
        db_disconnect(d);
        return -1;
    }
    db_opened(d);
    return 0;
}

static bool db_is_prepared(const struct db *d, const struct db_stmt *st)
{
    for (int i = 0; i < d->nprepared; i++)
        if (d->prepared[i] == st)
            return true;
    return false;
}

static int db_prepare(struct db *d, const struct db_stmt *st)
{
    PGresult *r;

    if (db_is_prepared(d, st))
        return 0;
    r = PQprepare(d->conn, st->name, st->sql, st->nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char what[96];

        snprintf(what, sizeof(what), "prepare %s", st->name);
        db_fail(d, what, r);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    if (d->nprepared == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 32;
        d->prepared = realloc(d->prepared, d->cap * sizeof(*d->prepared));
        if (!d->prepared)
            abort();
    }
    d->prepared[d->nprepared++] = st;
    return 0;
}

static PGresult *db_try(struct db *d, const struct db_stmt *st, const char *const *params)
{
    PGresult *r;
    ExecStatusType s;

    if (db_connect(d) || db_prepare(d, st))
        return NULL;
    r = PQexecPrepared(d->conn, st->name, st->nparams, params, NULL, NULL, 0);
    s = PQresultStatus(r);
    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
        return r;
    db_fail(d, st->name, r);
    PQclear(r);
    return NULL;
}

bool db_may_retry(const struct db_stmt *st, enum db_failure f, bool keyed)
{
    return f == DB_FAIL_UNAVAILABLE && (st->read_only || keyed);
}

PGresult *db_exec_keyed(struct db *d, const struct db_stmt *st, const char *const *params,
                        bool keyed)
{
    PGresult *r = db_try(d, st, params);

    if (r)
        d->failure = DB_FAIL_NONE;
    if (!r && d->failure == DB_FAIL_UNAVAILABLE) {
        log_warn("db: %s", d->errstr);
        db_disconnect(d);
        if (db_may_retry(st, d->failure, keyed)) {
            r = db_try(d, st, params);
            if (r)
                d->failure = DB_FAIL_NONE;
        }
    }
    return r;
}

PGresult *db_exec(struct db *d, const struct db_stmt *st, const char *const *params)
{
    return db_exec_keyed(d, st, params, false);
}

static int64_t db_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until c's socket is writable (or readable) or deadline (monotonic
 * ms) passes: 1 ready, 0 timeout or error. */
static int db_wait(PGconn *c, bool for_write, int64_t deadline)
{
    struct pollfd p = {.fd = PQsocket(c), .events = for_write ? POLLOUT : POLLIN};
    int64_t left;
    int n;

    if (p.fd < 0)
        return 0;
    do {
        left = deadline - db_now_ms();
        if (left <= 0)
            return 0;
        n = poll(&p, 1, (int)left);
    } while (n < 0);
    return n > 0;
}

/* Open d->conn asynchronously by deadline; 0 or -1 (d->errstr set). */
static int db_connect_by(struct db *d, int64_t deadline)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    db_disconnect(d);
    d->conn = PQconnectStart(d->conninfo);
    if (!d->conn || PQstatus(d->conn) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    while (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
        if (!db_wait(d->conn, st == PGRES_POLLING_WRITING, deadline)) {
            snprintf(d->errstr, sizeof(d->errstr), "connect: timed out");
            return -1;
        }
        st = PQconnectPoll(d->conn);
    }
    if (st != PGRES_POLLING_OK) {
        snprintf(d->errstr, sizeof(d->errstr), "connect: %s",
                 d->conn ? PQerrorMessage(d->conn) : "out of memory");
        return -1;
    }
    db_opened(d);
    return 0;
}

int db_ping(struct db *d, int timeout_ms)
{
    int64_t deadline = db_now_ms() + timeout_ms;
    bool ok = false;
    PGresult *r;

    d->failure = DB_FAIL_UNAVAILABLE;
    if (!db_alive(d) && db_connect_by(d, deadline))
        goto fail;
    if (!PQsendQuery(d->conn, "SELECT 1")) {
        snprintf(d->errstr, sizeof(d->errstr), "ping: %s", PQerrorMessage(d->conn));
        goto fail;
    }
    for (;;) {
        while (PQisBusy(d->conn)) {
            if (!db_wait(d->conn, false, deadline)) {
                snprintf(d->errstr, sizeof(d->errstr), "ping: no answer in %d ms", timeout_ms);
                goto fail;
            }
            if (!PQconsumeInput(d->conn)) {
                snprintf(d->errstr, sizeof(d->errstr), "ping: %s", PQerrorMessage(d->conn));
                goto fail;
            }
        }
        r = PQgetResult(d->conn);
        if (!r)
            break;
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            ok = true;
        else
            snprintf(d->errstr, sizeof(d->errstr), "ping: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    if (!ok)
        goto fail;
    d->failure = DB_FAIL_NONE;
    return 0;
fail:
    /* A query may still be running on it: never reuse this connection. */
    db_disconnect(d);
    return -1;
}

int64_t db_int(const PGresult *r, int row, int col)
{
    if (db_is_null(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool db_is_null(const PGresult *r, int row, int col)
{
    return row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col);
}

int db_int_array(const PGresult *r, int row, int col, int64_t **out)
{
    const char *p;
    char *end;
    int n = 0, cap = 0;
    int64_t *v = NULL, *grown;

    *out = NULL;
    if (db_is_null(r, row, col))
        return 0;
    p = PQgetvalue(r, row, col);
    if (*p++ != '{')
        return -1;
    while (*p != '}') {
        if (n > 0 && *p++ != ',')
            goto bad;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            grown = realloc(v, (size_t)cap * sizeof(*v));
            if (!grown)
                goto bad;
            v = grown;
        }
        v[n] = strtoll(p, &end, 10);
        if (end == p)
            goto bad;
        p = end;
        n++;
    }
    if (p[1])
        goto bad;
    *out = v;
    return n;
bad:
    free(v);
    return -1;
}
