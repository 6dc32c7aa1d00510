/* db.c - blocking PostgreSQL access with lazily prepared statements. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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

static int db_connect(struct db *d)
{
    if (d->conn && PQstatus(d->conn) == CONNECTION_OK)
        return 0;
    db_disconnect(d);
    d->conn = PQconnectdb(d->conninfo);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        snprintf(d->errstr, sizeof(d->errstr), "connect: %s", PQerrorMessage(d->conn));
        db_disconnect(d);
        return -1;
    }
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
        snprintf(d->errstr, sizeof(d->errstr), "prepare %s: %s", st->name, PQresultErrorMessage(r));
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
    snprintf(d->errstr, sizeof(d->errstr), "%s: %s", st->name, PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

PGresult *db_exec(struct db *d, const struct db_stmt *st, const char *const *params)
{
    PGresult *r = db_try(d, st, params);

    if (!r && (!d->conn || PQstatus(d->conn) != CONNECTION_OK)) {
        log_warn("db: %s", d->errstr);
        db_disconnect(d);
        if (st->read_only)
            r = db_try(d, st, params);
    }
    return r;
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
