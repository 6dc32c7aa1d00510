/* auth.c - stream authentication: JWT, API token, ticket, cursor, and the
 * baseline that opens a stream (auth.h).
 *
 * A stream request goes: authenticate (a JWT at once, or a ticket through
 * Redis GETDEL, or an API token through PostgreSQL), open the hub stream
 * (which subscribes user:{id}), read the baseline from PostgreSQL, then
 * CONN_STREAM: the transport answers (conn_continue). Each step that waits
 * holds a reference on the connection and checks its phase when it comes
 * back, since the client may have gone meanwhile.
 */
#include "auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "crypto.h"
#include "err.h"
#include "iplimit.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "loop.h"
#include "presence.h"
#include "rds_sub.h"
#include "ticket.h"

#define AUTH_MAX_STREAMS_PER_USER 32 /* behind nginx every peer is 127.0.0.1 */

static struct {
    const struct cfg *cfg;
    struct hub *hub;
    const unsigned char *key;
} A;

void auth_init(const struct cfg *cfg, struct hub *h, const unsigned char *key)
{
    A.cfg = cfg;
    A.hub = h;
    A.key = key;
}

/* ---- baseline ---- */

/* One statement: the credentials through auth_check (db/functions, the same
 * check as chat-api's: token_version, whether the session still stands,
 * whether the API token of a PAT or of a ticket an API token minted is
 * unrevoked; 0 ids are not asked about) and every chat with its version
 * (DESIGN.md, continuity 1). A user without chats gives one row with NULL
 * chat columns; no row: no such user. */
static const char baseline_sql[] =
    "SELECT a.token_version, a.session_ok, c.id, c.version, a.token_ok"
    " FROM auth_check($1::bigint, NULLIF($2::bigint, 0), NULLIF($3::bigint, 0)) a"
    " LEFT JOIN chat_members m ON m.user_id = $1::bigint"
    " LEFT JOIN chats c ON c.id = m.chat_id";

static bool col_int(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col))
        return false;
    return json_parse_int(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX, out) == 0;
}

/* Check the credentials part of a baseline result; on failure answer c and
 * return false. */
static bool auth_ok(struct push_conn *c, const PGresult *res)
{
    int64_t tv;

    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("baseline query failed for user %" PRId64 ": %s", c->user_id,
                 res ? PQresultErrorMessage(res) : "no connection");
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
        return false;
    }
    if (PQntuples(res) == 0 || !col_int(res, 0, 0, &tv)) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown user");
        return false;
    }
    if (!c->by_jwt || c->by_pat)
        c->token_version = tv;
    if (c->by_jwt && !c->by_pat && tv != c->token_version) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "token revoked");
        return false;
    }
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "session revoked");
        return false;
    }
    if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "API token revoked");
        return false;
    }
    return true;
}

static void on_baseline(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;
    int i;
    int64_t chat_id, version;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_OPEN || !c->s || c->s->state != HUB_S_BASELINE)
        goto out;
    if (!auth_ok(c, res))
        goto out;
    c->s->token_version = c->token_version;
    for (i = 0; i < PQntuples(res); i++)
        if (col_int(res, i, 2, &chat_id) && col_int(res, i, 3, &version))
            hub_stream_baseline_add(c->s, chat_id, version);
    c->phase = CONN_STREAM;
    conn_wake(c);
    log_debug("stream %" PRIu64 " of user %" PRId64 " open, %d chats", c->s->id, c->user_id,
              c->s->nmembers);
    presence_stream_ready(c->user_id);
    hub_stream_baseline_done(c->s); /* may kick c: c->s is not used after */
out:
    conn_unref(c);
}

/* Run the baseline statement for c; cb gets the result. */
static int query_baseline(struct push_conn *c, pgq_cb *cb)
{
    char uid[24], sid[24], tid[24];
    const char *params[3] = {uid, sid, tid};

    snprintf(uid, sizeof(uid), "%" PRId64, c->user_id);
    snprintf(sid, sizeof(sid), "%" PRId64, c->session_id);
    snprintf(tid, sizeof(tid), "%" PRId64, c->token_id);
    c->pg = pgq_exec(baseline_sql, 3, params, cb, c);
    if (!c->pg)
        return CHAT_ERR_DB;
    conn_ref(c);
    return 0;
}

void auth_baseline(void *ctx, struct hub_stream *s)
{
    struct push_conn *c = conn_of_stream(s);

    if (query_baseline(c, on_baseline)) {
        /* The hub is calling us: fail through the next pass, not here. */
        c->phase = CONN_REPLY;
        c->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        c->code = "unavailable";
        c->message = "database unavailable";
        conn_wake(c);
    }
}

/* ---- authentication ---- */

/* The client's cursor: ?cursor= (browsers opening a new EventSource), else
 * Last-Event-ID (EventSource's own reconnect, other clients). */
static const char *request_cursor(struct push_conn *c)
{
    const char *cur = MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "cursor");

    if (!cur || !*cur)
        cur = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Last-Event-ID");
    return cur && *cur ? cur : NULL;
}

/* Take over the stream named by the request's cursor; false if there is none
 * to take (then the client gets a new stream that starts with resync). */
static bool stream_resume(struct push_conn *c)
{
    struct hub_stream *s;

    s = hub_stream_resume(A.hub, request_cursor(c), c->by_cursor ? 0 : c->user_id, c->session_id,
                          c->ops, c, loop_unix());
    if (!s)
        return false;
    c->s = s;
    c->user_id = hub_stream_user_id(s);
    /* The stream answers to the credentials it was last taken with. */
    if (c->token_id || !c->by_cursor)
        s->token_id = c->token_id;
    if (!c->by_jwt || c->by_pat)
        c->token_version = s->token_version;
    c->phase = CONN_STREAM;
    conn_wake(c);
    log_debug("stream %" PRIu64 " of user %" PRId64 " resumed", s->id, c->user_id);
    return true;
}

static void stream_new(struct push_conn *c)
{
    c->phase = CONN_OPEN;
    c->s = hub_stream_open(A.hub, c->ops, c, c->user_id, c->session_id, loop_unix());
    c->s->token_id = c->token_id;
}

static void on_resume_auth(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_OPEN || c->s)
        goto out;
    if (auth_ok(c, res) && !stream_resume(c))
        stream_new(c);
out:
    conn_unref(c);
}

/* Whether the API token that opened a stream is still unrevoked (and the
 * stream user's): a row, or none. */
static const char token_live_sql[] =
    "SELECT 1 FROM auth_check($1::bigint, NULL, $2::bigint) WHERE token_ok";

static void on_token_live(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_OPEN || !c->s)
        goto out;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
    else if (PQntuples(res) != 1)
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "API token revoked");
    else {
        c->phase = CONN_STREAM;
        conn_wake(c);
    }
out:
    conn_unref(c);
}

/* A cursor alone resumed c->s: if an API token opened that stream, hold the
 * answer until PostgreSQL says the token still stands (its revoke event may
 * have been lost with a Redis outage); a revoked token's stream is closed. */
static void cursor_token_check(struct push_conn *c)
{
    char uid[24], tid[24];
    const char *params[2] = {uid, tid};

    if (!c->s->token_id)
        return;
    snprintf(uid, sizeof(uid), "%" PRId64, c->user_id);
    snprintf(tid, sizeof(tid), "%" PRId64, c->s->token_id);
    c->phase = CONN_OPEN;
    c->pg = pgq_exec(token_live_sql, 2, params, on_token_live, c);
    if (!c->pg) {
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
        return;
    }
    conn_ref(c);
}

/* Credentials known: resume by cursor or open a new stream. A JWT or a
 * ticket is checked against the database (session, API token) before it
 * may take over a stream; a JWT's poll comes back every few seconds, and its
 * cursor's secret already proves the stream is the caller's (the JWT's user
 * must still match). A cursor alone is checked against the API token that
 * opened its stream, if one did. */
static void stream_start(struct push_conn *c)
{
    if (c->by_cursor) {
        if (!stream_resume(c))
            conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                      "unknown or expired cursor: authenticate to open a new stream");
        else
            cursor_token_check(c);
        return;
    }
    if (hub_user_nstreams(A.hub, c->user_id) >= AUTH_MAX_STREAMS_PER_USER) {
        conn_fail(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many open streams");
        return;
    }
    if (request_cursor(c)) {
        if ((c->by_jwt && !c->by_pat && !c->ops->cursor_auth) || !c->by_jwt) {
            c->phase = CONN_OPEN;
            if (query_baseline(c, on_resume_auth))
                conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
            return;
        }
        if (stream_resume(c))
            return;
    }
    stream_new(c);
}

static void on_ticket(void *arg, int status, const char *val, size_t len)
{
    struct push_conn *c = arg;
    struct ticket_owner o;

    if (c->completed || c->phase != CONN_AUTH)
        goto out;
    if (status == CHAT_ERR_NOT_FOUND) {
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown, expired or spent ticket");
    } else if (status) {
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "ticket store unavailable");
    } else if (!ticket_owner_parse(val, len, &o)) {
        log_warn("malformed ticket value");
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid ticket");
    } else {
        c->user_id = o.user_id;
        c->session_id = o.session_id;
        c->token_id = o.token_id;
        stream_start(c);
    }
out:
    conn_unref(c);
}

/* A personal API token (API.md "Auth"): live, with the events:read scope. */
static const char pat_sql[] =
    "SELECT user_id, 'events:read' = ANY(scopes), token_id FROM auth_api_token(decode($1, 'hex'))";

static void on_pat(void *arg, const PGresult *res)
{
    struct push_conn *c = arg;

    c->pg = NULL;
    if (c->completed || c->phase != CONN_AUTH)
        goto out;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        conn_fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database unavailable");
    else if (PQntuples(res) != 1 || !col_int(res, 0, 0, &c->user_id) ||
             !col_int(res, 0, 2, &c->token_id))
        conn_fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid or revoked token");
    else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
        conn_fail(c, MHD_HTTP_FORBIDDEN, "forbidden", "token lacks the events:read scope");
    else
        stream_start(c);
out:
    conn_unref(c);
}

static int pat_lookup(struct push_conn *c, const char *token)
{
    unsigned char digest[32];
    char hex[65];
    const char *params[1] = {hex};

    crypto_sha256(token, strlen(token), digest);
    crypto_hex(digest, sizeof(digest), hex);
    c->pg = pgq_exec(pat_sql, 1, params, on_pat, c);
    if (!c->pg)
        return CHAT_ERR_DB;
    conn_ref(c);
    return 0;
}

/* Refuse c before MHD holds it: status, code, message. */
static enum MHD_Result reject(struct push_conn *c, unsigned status, const char *code,
                              const char *message)
{
    c->status = status;
    c->code = code;
    c->message = message;
    return conn_reject(c);
}

/* c->phase CONN_REPLY: answer with this error once the handler runs. */
static void reply_later(struct push_conn *c, const char *message)
{
    c->phase = CONN_REPLY;
    c->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    c->code = "unavailable";
    c->message = message;
}

/* Start authenticating c by its credentials: true, or false once c is
 * refused and gone (*ret: the refusal's result). */
static bool authenticate(struct push_conn *c, enum MHD_Result *ret)
{
    struct MHD_Connection *mc = c->mc;
    const char *auth = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    const char *ticket = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "ticket");
    const char *cursor = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "cursor");
    struct jwt_claims cl;

    if (auth && strncasecmp(auth, "Bearer chat_pat_", 16) == 0) {
        c->by_jwt = c->by_pat = true;
        c->phase = CONN_AUTH;
        c->pat = strdup(auth + 7);
        if (pat_lookup(c, auth + 7))
            reply_later(c, "database unavailable");
    } else if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        if (jwt_verify(A.key, A.cfg->jwt_issuer, A.cfg->jwt_audience, auth + 7, loop_unix(), &cl)) {
            *ret = reject(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid or expired token");
            return false;
        }
        c->by_jwt = true;
        c->user_id = cl.sub;
        c->session_id = cl.sid;
        c->token_version = cl.tv;
        stream_start(c);
    } else if (ticket) {
        if (!ticket_name_ok(ticket)) {
            *ret = reject(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "invalid ticket");
            return false;
        }
        c->phase = CONN_AUTH;
        if (rds_ticket_take(ticket, on_ticket, c))
            reply_later(c, "ticket store unavailable");
        else
            conn_ref(c);
    } else if (c->ops->cursor_auth && cursor && *cursor) {
        c->by_cursor = true;
        stream_start(c);
    } else {
        *ret = reject(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing credentials");
        return false;
    }
    return true;
}

enum MHD_Result auth_request(struct MHD_Connection *mc, void **con_cls, const struct sub_ops *ops)
{
    struct push_conn *c = conn_new(mc, ops);
    unsigned char addr[16];
    enum MHD_Result ret;

    if (!c)
        return MHD_NO;
    if (ops->check && ops->check(c))
        return conn_reject(c);
    if (iplimit_client_addr(mc, addr)) {
        c->ipc = iplimit_take(addr);
        if (!c->ipc)
            return reject(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                          "too many open streams from this address");
    }
    if (!authenticate(c, &ret))
        return ret;
    *con_cls = c;
    return conn_continue(c);
}
