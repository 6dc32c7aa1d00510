/* fuzz_ws_op.c - libFuzzer target: a WebSocket's client ops,
 * ws_ops_handle (sse/ws_ops.h; API.md "Real-time events", WebSocket), on
 * one text message from a client.
 *
 * The peer is this file's: its replies are captured, resume says no, and
 * the forwarder (fwd_post/fwd_cancel of sse/fwd.h) is replaced here, so a
 * forwarded op is recorded instead of sent to chat-api. Checked beyond "no
 * crash, no sanitizer report": every message gets exactly one answer,
 * either a reply frame or one forwarded op; a reply is a JSON object, an
 * error one with code invalid_request or unknown_op; a forwarded op goes
 * to /api/v1/chats/<id 1..2^53-1>/(messages|typing|read) with a JSON object
 * body, a bearer token and no reply of its own yet.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sse/fwd.h"
#include "../../sse/ws_ops.h"
#include "json.h"
#include "jwt.h"

static int nreplies, nforwarded;

struct fwd_req {
    int unused;
};

struct fwd_req *fwd_post(const char *path, const char *token, const char *body, size_t len,
                         fwd_cb *cb, void *arg)
{
    static struct fwd_req req;
    char rest[16] = "";
    int64_t chat_id = 0;
    int n = 0;
    cJSON *b;

    if (sscanf(path, "/api/v1/chats/%" SCNd64 "/%15[a-z]%n", &chat_id, rest, &n) != 2 ||
        path[n] || chat_id < 1 || chat_id > JSON_INT_MAX ||
        (strcmp(rest, "messages") && strcmp(rest, "typing") && strcmp(rest, "read")))
        abort();
    if (!token || !*token)
        abort();
    b = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(b))
        abort();
    cJSON_Delete(b);
    nforwarded++;
    return &req;
}

void fwd_cancel(struct fwd_req *r)
{
}

static void reply(struct ws_peer *p, const char *text, size_t len)
{
    cJSON *f = cJSON_ParseWithLength(text, len);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(f, "op");
    const char *code;

    if (!cJSON_IsString(op))
        abort();
    if (strcmp(op->valuestring, "error") == 0) {
        code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(f, "error"), "code"));
        if (!code || (strcmp(code, "invalid_request") && strcmp(code, "unknown_op")))
            abort();
    } else if (strcmp(op->valuestring, "ack")) {
        abort();
    }
    cJSON_Delete(f);
    nreplies++;
}

static void replied(struct ws_peer *p)
{
}

static bool resume(struct ws_peer *p, const char *cursor)
{
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cfg cfg = {.jwt_issuer = "chat", .jwt_audience = "chat"};
    static unsigned char key[JWT_KEY_LEN];
    static struct push_conn c = {.user_id = 1, .session_id = 2, .token_version = 1};
    struct ws_peer p = {.c = &c, .reply = reply, .replied = replied, .resume = resume};

    ws_ops_init(&cfg, key);
    nreplies = nforwarded = 0;
    ws_ops_handle(&p, (const char *)data, size);
    if (nreplies + nforwarded != 1)
        abort();
    ws_ops_cancel(&p);
    return 0;
}
