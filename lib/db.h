/* db.h - blocking PostgreSQL access with lazily prepared statements.
 *
 * A struct db_stmt names one SQL statement; db_exec prepares it on first use
 * on each connection (PQprepare) and runs it with PQexecPrepared, so every
 * query is parameterized and parsed once per connection. One struct db per
 * thread: libpq connections are not shared between threads.
 */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct db_stmt {
    const char *name; /* unique across the program */
    const char *sql;
    int nparams;
    bool read_only; /* safe to run again after a lost connection */
};

struct db {
    PGconn *conn;                    /* NULL while disconnected */
    const char *conninfo;            /* borrowed */
    const struct db_stmt **prepared; /* statements prepared on conn */
    int nprepared, cap;
    char errstr[256]; /* last error, for logs */
};

/* Remember conninfo (borrowed, must outlive d); connects lazily. */
void db_init(struct db *d, const char *conninfo);
/* Close the connection and free what d holds. */
void db_release(struct db *d);

/* Run st with nparams text parameters (NULL entries are SQL NULL).
 * A lost connection is reopened on the next call; a read_only statement is
 * also retried once at once (a write is not: it may have committed).
 * Returns the result (caller
 * PQclears it) with status PGRES_TUPLES_OK or PGRES_COMMAND_OK, or NULL
 * on error with the reason in d->errstr. */
PGresult *db_exec(struct db *d, const struct db_stmt *st, const char *const *params);

/* Value of row 0, column col as int64 (0 when NULL or absent). */
int64_t db_int(const PGresult *r, int row, int col);
/* true if column col of row is SQL NULL or the row does not exist. */
bool db_is_null(const PGresult *r, int row, int col);

#endif
