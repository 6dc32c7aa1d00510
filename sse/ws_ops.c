/* ws_ops.c - a WebSocket's client ops: the op table, forwarding to
 * chat-api, replies (ws_ops.h). */
#include "ws_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_error.h"
#include "buf.h"
#include "fwd.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "loop.h"

#define WS_MAX_OPS 16      /* ops in flight per connection */
#define WS_TOKEN_TTL_S 300 /* minted access tokens for forwarded ops */

struct ws_op {
    struct ws_peer *w;
    struct fwd_req *req;
    char *id; /* the op's id as JSON text */
    struct ws_op *next;
};

static struct {
    const struct cfg *cfg;
    const unsigned char *key;
} O;

void ws_ops_init(const struct cfg *cfg, const unsigned char *key)
{
    O.cfg = cfg;
    O.key = key;
}

void ws_ops_cancel(struct ws_peer *w)
{
    struct ws_op *op;

    while ((op = w->ops)) {
        w->ops = op->next;
        fwd_cancel(op->req);
        free(op->id);
        free(op);
    }
    w->nops = 0;
}

static void ws_reply_error(struct ws_peer *w, const char *id, const char *code, const char *msg)
{
    struct buf b;

    buf_init(&b);
    buf_addf(&b, "{\"op\":\"error\",\"id\":%s,\"error\":", id ? id : "null");
    api_error_object(&b, code, msg); /* json_parse's reasons, ours: escaped all the same */
    buf_addch(&b, '}');
    w->reply(w, b.s, b.len);
    buf_release(&b);
}

static void ws_reply_ack(struct ws_peer *w, const char *id, const char *result, size_t len)
{
    struct buf b;

    buf_init(&b);
    buf_addf(&b, "{\"op\":\"ack\",\"id\":%s,\"result\":", id);
    buf_add(&b, result, len);
    buf_addch(&b, '}');
    w->reply(w, b.s, b.len);
    buf_release(&b);
}

static void on_forwarded(void *arg, long status, const char *body, size_t len)
{
    struct ws_op *op = arg, **p;
    struct ws_peer *w = op->w;
    const char *why = NULL;
    cJSON *root;

    for (p = &w->ops; *p && *p != op; p = &(*p)->next)
        ;
    if (*p)
        *p = op->next;
    w->nops--;
    while (len && (body[len - 1] == '\n' || body[len - 1] == ' ' || body[len - 1] == '\r'))
        len--;
    if (status >= 200 && status < 300) {
        ws_reply_ack(w, op->id, len ? body : "{}", len ? len : 2);
    } else if (status && (root = json_parse(body, len, &why)) &&
               cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "error"))) {
        char *err = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "error"));
        struct buf b;

        buf_init(&b);
        buf_addf(&b, "{\"op\":\"error\",\"id\":%s,\"status\":%ld,\"error\":%s}", op->id, status,
                 err ? err : "null");
        w->reply(w, b.s, b.len);
        buf_release(&b);
        free(err);
        cJSON_Delete(root);
    } else {
        if (status)
            cJSON_Delete(root);
        ws_reply_error(w, op->id, "unavailable", "chat-api did not answer");
    }
    free(op->id);
    free(op);
    w->replied(w);
}

/* The user's token for chat-api: their personal API token, or an access
 * token minted for the stream's session (same key, iss, aud; the
 * token_version read with the baseline, so logout-all still revokes it). */
static void ws_token(struct ws_peer *w, struct buf *out)
{
    struct push_conn *c = w->c;
    struct jwt_claims cl;

    if (c->pat) {
        buf_adds(out, c->pat);
        return;
    }
    memset(&cl, 0, sizeof(cl));
    cl.sub = c->user_id;
    cl.sid = c->session_id;
    cl.tv = c->token_version;
    cl.iat = cl.nbf = loop_unix();
    cl.exp = cl.iat + WS_TOKEN_TTL_S;
    jwt_sign(O.key, O.cfg->jwt_issuer, O.cfg->jwt_audience, &cl, out);
}

static void ws_forward(struct ws_peer *w, const char *id, const char *path, const char *body,
                       size_t len)
{
    struct ws_op *op;
    struct buf tok;

    if (w->nops >= WS_MAX_OPS) {
        ws_reply_error(w, id, "rate_limited", "too many ops in flight");
        return;
    }
    op = calloc(1, sizeof(*op));
    if (!op) {
        ws_reply_error(w, id, "internal", "out of memory");
        return;
    }
    buf_init(&tok);
    ws_token(w, &tok);
    op->w = w;
    op->id = strdup(id);
    op->req = fwd_post(path, tok.s, body, len, on_forwarded, op);
    buf_release(&tok);
    if (!op->req || !op->id) {
        free(op->id);
        free(op);
        ws_reply_error(w, id, "internal", "cannot forward");
        return;
    }
    op->next = w->ops;
    w->ops = op;
    w->nops++;
}

/* ---- the ops ---- */

/* An op run here: reply to id (JSON text) from the op object root. */
typedef void ws_local_fn(struct ws_peer *w, const char *id, const cJSON *root);
/* A forwarded op's REST body from root into body: 0, or -1 after replying
 * an error to id. */
typedef int ws_body_fn(struct ws_peer *w, const char *id, const cJSON *root, struct buf *body);

static void op_ping(struct ws_peer *w, const char *id, const cJSON *root)
{
    ws_reply_ack(w, id, "{}", 2);
}

static void op_resume(struct ws_peer *w, const char *id, const cJSON *root)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "cursor");
    bool resumed;

    if (!cJSON_IsString(cur)) {
        ws_reply_error(w, id, "invalid_request", "cursor must be a string");
        return;
    }
    resumed = w->resume(w, cur->valuestring);
    ws_reply_ack(w, id, resumed ? "{\"resumed\":true}" : "{\"resumed\":false}", resumed ? 16 : 17);
}

static int body_send(struct ws_peer *w, const char *id, const cJSON *root, struct buf *body)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    const cJSON *cmid = cJSON_GetObjectItemCaseSensitive(root, "client_msg_id");

    if (!cJSON_IsString(content) || !cJSON_IsString(cmid) || !*cmid->valuestring) {
        ws_reply_error(w, id, "invalid_request", "send needs content and client_msg_id");
        return -1;
    }
    buf_adds(body, "{\"content\":");
    buf_add_json_str(body, content->valuestring, strlen(content->valuestring));
    buf_adds(body, ",\"client_msg_id\":");
    buf_add_json_str(body, cmid->valuestring, strlen(cmid->valuestring));
    buf_addch(body, '}');
    return 0;
}

static int body_typing(struct ws_peer *w, const char *id, const cJSON *root, struct buf *body)
{
    buf_adds(body, "{}");
    return 0;
}

static int body_read(struct ws_peer *w, const char *id, const cJSON *root, struct buf *body)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "seq");
    int64_t seq;

    if (!v || json_get_int(v, 0, JSON_INT_MAX, &seq)) {
        ws_reply_error(w, id, "invalid_request", "seq must be an integer");
        return -1;
    }
    buf_addf(body, "{\"seq\":%" PRId64 "}", seq);
    return 0;
}

/* API.md "Transports", WebSocket: each forwarded op does what its REST
 * equivalent, POST /api/v1/chats/{chat_id}/<rest>, does. */
static const struct ws_op_def {
    const char *name;
    ws_local_fn *local; /* run here, or */
    const char *rest;   /* forwarded to this chat resource, */
    ws_body_fn *body;   /* with this body */
} ws_op_defs[] = {
    {"ping", op_ping, NULL, NULL},         {"resume", op_resume, NULL, NULL},
    {"send", NULL, "messages", body_send}, {"typing", NULL, "typing", body_typing},
    {"read", NULL, "read", body_read},
};

static const struct ws_op_def *op_find(const char *name)
{
    for (size_t i = 0; i < sizeof(ws_op_defs) / sizeof(ws_op_defs[0]); i++)
        if (strcmp(ws_op_defs[i].name, name) == 0)
            return &ws_op_defs[i];
    return NULL;
}

static void op_forward(struct ws_peer *w, const struct ws_op_def *d, const char *id,
                       const cJSON *root)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "chat_id");
    int64_t chat_id = 0;
    char path[96];
    struct buf body;

    if (!v || json_get_id(v, &chat_id)) {
        ws_reply_error(w, id, "invalid_request", "chat_id must be an id");
        return;
    }
    buf_init(&body);
    if (d->body(w, id, root, &body) == 0) {
        snprintf(path, sizeof(path), "/api/v1/chats/%" PRId64 "/%s", chat_id, d->rest);
        ws_forward(w, id, path, body.s, body.len);
    }
    buf_release(&body);
}

void ws_ops_handle(struct ws_peer *w, const char *text, size_t len)
{
    const char *why = NULL;
    cJSON *root = json_parse(text, len, &why);
    const cJSON *op, *idj;
    const struct ws_op_def *d;
    char *id = NULL;

    if (!root || !cJSON_IsObject(root)) {
        ws_reply_error(w, NULL, "invalid_request", why ? why : "an op is a JSON object");
        goto out;
    }
    op = cJSON_GetObjectItemCaseSensitive(root, "op");
    idj = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (idj && (cJSON_IsString(idj) || cJSON_IsNumber(idj)))
        id = cJSON_PrintUnformatted(idj);
    if (!id || !cJSON_IsString(op)) {
        ws_reply_error(w, id, "invalid_request", "op and id (string or number) are required");
        goto out;
    }
    d = op_find(op->valuestring);
    if (!d)
        ws_reply_error(w, id, "unknown_op", "unknown op");
    else if (d->local)
        d->local(w, id, root);
    else
        op_forward(w, d, id, root);
out:
    free(id);
    cJSON_Delete(root);
}
