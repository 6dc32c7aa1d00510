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

/* How a call failed: the database could not be reached or the connection
 * broke (the client should retry: 503 `unavailable`, API.md
 * "Conventions"), or the statement itself failed (a bug or a constraint:
 * 500 `internal`). */
enum db_failure {
    DB_FAIL_NONE = 0,
    DB_FAIL_UNAVAILABLE,
    DB_FAIL_ERROR,
};

struct db {
    PGconn *conn;                    /* NULL while disconnected */
    const char *conninfo;            /* borrowed */
    const struct db_stmt **prepared; /* statements prepared on conn */
    int nprepared, cap;
    char errstr[256];        /* last error, for logs */
    enum db_failure failure; /* of the last db_exec or db_ping that failed */
    bool had_conn;           /* a connection was open before: the next one is a reconnect */
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
 * on error with the reason in d->errstr and its kind in d->failure. A
 * connection that died while idle (a PostgreSQL restart between requests)
 * is noticed before the statement is sent and reopened, so a write after a
 * restart is not lost to a stale connection. */
PGresult *db_exec(struct db *d, const struct db_stmt *st, const char *const *params);

/* db_exec for a write that carries an idempotency key (keyed: API.md
 * "Idempotency"; messages: client_msg_id or Idempotency-Key, which
 * message_post looks up after locking the chat): running it twice has the
 * effect of running it once, so after a lost connection it is retried once
 * at once on a new connection, which the conninfo's
 * target_session_attrs=read-write may open on another node (a newly
 * elected primary, docs/SCALING.md). It then either finds what the first
 * run committed (the broken connection took only the answer) or commits
 * now. keyed false is db_exec. Same results and errors as db_exec. */
PGresult *db_exec_keyed(struct db *d, const struct db_stmt *st, const char *const *params,
                        bool keyed);

/* Whether a statement that failed with failure f runs again at once (pure):
 * only after a lost connection (DB_FAIL_UNAVAILABLE: a statement that
 * failed on its own fails again), and only when a second run cannot add a
 * second effect: a read_only statement, or a write with an idempotency key
 * (keyed). A write without one may have committed before the connection
 * broke: the client gets 503 `unavailable` and decides. */
bool db_may_retry(const struct db_stmt *st, enum db_failure f, bool keyed);

/* One round trip ("SELECT 1") within timeout_ms milliseconds, connecting
 * first when needed (PQconnectStart/PQconnectPoll, so a PostgreSQL that
 * accepts but never answers cannot hold the caller longer). On a timeout
 * the connection is dropped. Returns 0, or -1 with d->errstr and
 * d->failure (DB_FAIL_UNAVAILABLE) set. For readiness checks. */
int db_ping(struct db *d, int timeout_ms);

/* Classify a failure (pure): conn is PQstatus of the connection, res the
 * PQresultStatus of the result, sqlstate its PG_DIAG_SQLSTATE (NULL or ""
 * when libpq made the error itself, e.g. the server closed the connection).
 * DB_FAIL_UNAVAILABLE for a broken connection (CONNECTION_BAD), for a
 * PGRES_FATAL_ERROR without SQLSTATE, and for SQLSTATE class 08
 * (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown and
 * 57P03 cannot_connect_now (PostgreSQL documentation, Appendix A); else
 * DB_FAIL_ERROR (res PGRES_TUPLES_OK or PGRES_COMMAND_OK: DB_FAIL_NONE). */
enum db_failure db_classify(ConnStatusType conn, ExecStatusType res, const char *sqlstate);

/* Connections opened, in this process, by a struct db that had one open
 * before (after PostgreSQL went away, a broken or timed-out connection was
 * dropped): the figure behind the services' *_db_reconnects_total counters.
 * Thread-safe (an atomic). */
uint64_t db_reconnects(void);

/* Value of row 0, column col as int64 (0 when NULL or absent). */
int64_t db_int(const PGresult *r, int row, int col);
/* true if column col of row is SQL NULL or the row does not exist. */
bool db_is_null(const PGresult *r, int row, int col);
/* Value of row, column col, a one-dimensional integer array (bigint[] in
 * PostgreSQL's text output: "{1,2,3}", no NULL elements), into *out:
 * malloc'd, the caller frees it; NULL when empty. Returns the number of
 * elements (0 for SQL NULL, an absent row or "{}"), or -1 on anything
 * else (out of memory, another shape) with *out NULL. */
int db_int_array(const PGresult *r, int row, int col, int64_t **out);

#endif
