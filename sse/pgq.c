/* pgq.c - non-blocking libpq query queue on the chat-push loop. */
#include "pgq.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"
#include "loop.h"

#define PGQ_RETRY_MS 1000
#define PGQ_CONNECT_TIMEOUT_MS 10000
#define PGQ_MAX_PARAMS 4

struct pgq_req {
    const char *sql;
    int nparams;
    char *params[PGQ_MAX_PARAMS];
    pgq_cb *cb; /* NULL once cancelled */
    void *arg;
    bool answered;
    struct pgq_req *next;
};

enum pgq_state { PGQ_DOWN, PGQ_CONNECTING, PGQ_READY };

static struct {
    char *conninfo;
    PGconn *conn;
    enum pgq_state state;
    struct loop_io io;
    int64_t started_ms;
    struct pgq_req *head, *tail; /* waiting */
    struct pgq_req *cur;         /* sent, results pending */
    bool had;                    /* was connected before: the next connect is a reconnect */
    uint64_t reconnects;
} Q;

uint64_t pgq_reconnects(void)
{
    return Q.reconnects;
}

static void req_free(struct pgq_req *r)
{
    int i;

    for (i = 0; i < r->nparams; i++)
        free(r->params[i]);
    free(r);
}

static void req_answer(struct pgq_req *r, const PGresult *res)
{
    if (!r->answered && r->cb)
        r->cb(r->arg, res);
    r->answered = true;
}

/* Drop the connection and fail every query. */
static void pgq_down(const char *why)
{
    struct pgq_req *r;

    if (Q.conn) {
        if (why) {
            const char *m = PQerrorMessage(Q.conn);

            log_warn("postgres: %s: %.*s", why, (int)strcspn(m, "\n"), m);
        }
        loop_io_del(&Q.io);
        PQfinish(Q.conn);
        Q.conn = NULL;
    }
    Q.state = PGQ_DOWN;
    if (Q.cur) {
        r = Q.cur;
        Q.cur = NULL;
        req_answer(r, NULL);
        req_free(r);
    }
    while ((r = Q.head)) {
        Q.head = r->next;
        req_answer(r, NULL);
        req_free(r);
    }
    Q.tail = NULL;
}

static void pgq_watch(uint32_t events)
{
    if (loop_io_set(&Q.io, PQsocket(Q.conn), events))
        pgq_down("epoll registration failed");
}

/* Send the next waiting query if none is in flight. */
static void pgq_next(void)
{
    struct pgq_req *r;
    int rc;

    if (Q.state != PGQ_READY || Q.cur || !Q.head)
        return;
    r = Q.head;
    Q.head = r->next;
    if (!Q.head)
        Q.tail = NULL;
    Q.cur = r;
    if (!PQsendQueryParams(Q.conn, r->sql, r->nparams, NULL, (const char *const *)r->params, NULL,
                           NULL, 0)) {
        pgq_down("send failed");
        return;
    }
    rc = PQflush(Q.conn);
    if (rc < 0)
        pgq_down("flush failed");
    else
        pgq_watch(EPOLLIN | (rc ? EPOLLOUT : 0));
}

static void pgq_read(void)
{
    PGresult *res;

    if (!PQconsumeInput(Q.conn)) {
        pgq_down("connection lost");
        return;
    }
    while (Q.cur && !PQisBusy(Q.conn)) {
        res = PQgetResult(Q.conn);
        if (!res) {
            struct pgq_req *r = Q.cur;

            Q.cur = NULL;
            req_answer(r, NULL);
            req_free(r);
            break;
        }
        req_answer(Q.cur, res);
        PQclear(res);
    }
    if (PQstatus(Q.conn) == CONNECTION_BAD) {
        pgq_down("connection lost");
        return;
    }
    pgq_next();
}

static void pgq_connect_step(void)
{
    switch (PQconnectPoll(Q.conn)) {
    case PGRES_POLLING_READING: pgq_watch(EPOLLIN); break;
    case PGRES_POLLING_WRITING: pgq_watch(EPOLLOUT); break;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(Q.conn, 1)) {
            pgq_down("cannot set non-blocking");
            break;
        }
        Q.state = PGQ_READY;
        if (Q.had)
            Q.reconnects++;
        Q.had = true;
        log_info("postgres: connected");
        pgq_watch(EPOLLIN);
        pgq_next();
        break;
    default: pgq_down("connect failed"); break;
    }
}

static void pgq_io(struct loop_io *io, uint32_t revents)
{
    int rc;

    if (!Q.conn)
        return;
    if (Q.state == PGQ_CONNECTING) {
        pgq_connect_step();
        return;
    }
    if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
        pgq_read();
    if (Q.conn && Q.state == PGQ_READY && (revents & EPOLLOUT)) {
        rc = PQflush(Q.conn);
        if (rc < 0)
            pgq_down("flush failed");
        else if (rc == 0)
            pgq_watch(EPOLLIN);
    }
}

static void pgq_connect(int64_t now)
{
    /* dbname expands as the whole conninfo (key=value or URI). */
    static const char *const keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {Q.conninfo, "chat-push", NULL};

    Q.started_ms = now;
    Q.conn = PQconnectStartParams(keys, vals, 1);
    if (!Q.conn)
        return;
    if (PQstatus(Q.conn) == CONNECTION_BAD) {
        pgq_down("connect failed");
        return;
    }
    Q.state = PGQ_CONNECTING;
    pgq_watch(EPOLLOUT);
}

int pgq_init(const char *conninfo)
{
    Q.conninfo = strdup(conninfo);
    Q.io = (struct loop_io)LOOP_IO_INIT(pgq_io);
    Q.started_ms = loop_now_ms() - PGQ_RETRY_MS;
    pgq_tick(loop_now_ms());
    return 0;
}

void pgq_tick(int64_t now)
{
    if (Q.state == PGQ_CONNECTING && now - Q.started_ms > PGQ_CONNECT_TIMEOUT_MS)
        pgq_down("connect timed out");
    if (Q.state == PGQ_DOWN && now - Q.started_ms >= PGQ_RETRY_MS)
        pgq_connect(now);
}

void pgq_poll(void)
{
    pgq_next();
}

void pgq_close(void)
{
    pgq_down(NULL);
    free(Q.conninfo);
    Q.conninfo = NULL;
}

bool pgq_ready(void)
{
    return Q.state == PGQ_READY;
}

struct pgq_req *pgq_exec(const char *sql, int nparams, const char *const *params, pgq_cb *cb,
                         void *arg)
{
    struct pgq_req *r;
    int i;

    if (Q.state != PGQ_READY || nparams > PGQ_MAX_PARAMS)
        return NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->sql = sql;
    r->nparams = nparams;
    for (i = 0; i < nparams; i++) {
        r->params[i] = params[i] ? strdup(params[i]) : NULL;
    }
    r->cb = cb;
    r->arg = arg;
    if (Q.tail)
        Q.tail->next = r;
    else
        Q.head = r;
    Q.tail = r;
    return r; /* sent from pgq_poll, so cb never runs inside this call */
}

void pgq_cancel(struct pgq_req *r)
{
    r->cb = NULL;
}
