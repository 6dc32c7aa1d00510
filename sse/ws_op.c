/* ws_op.c - the client ops of a WebSocket stream: one table, one parser. */
#include "ws_op.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static const struct {
    const char *name;
    enum ws_client_op_kind kind;
    bool chat; /* names a chat_id */
} ops[] = {
    {"ping", WS_OP_PING, false},    {"resume", WS_OP_RESUME, false}, {"send", WS_OP_SEND, true},
    {"typing", WS_OP_TYPING, true}, {"read", WS_OP_READ, true},
};

static int fail(const char **code, const char **why, const char *c, const char *w)
{
    *code = c;
    *why = w;
    return -1;
}

int ws_client_op_parse(const char *text, size_t len, struct ws_client_op *op, const char **code,
                       const char **why)
{
    const char *jwhy = NULL;
    const cJSON *name, *idj, *v;
    size_t i;

    memset(op, 0, sizeof(*op));
    op->root = json_parse(text, len, &jwhy);
    if (!op->root || !cJSON_IsObject(op->root))
        return fail(code, why, "invalid_request", jwhy ? jwhy : "an op is a JSON object");
    name = cJSON_GetObjectItemCaseSensitive(op->root, "op");
    idj = cJSON_GetObjectItemCaseSensitive(op->root, "id");
    if (idj && (cJSON_IsString(idj) || cJSON_IsNumber(idj)))
        op->id = cJSON_PrintUnformatted(idj);
    if (!op->id || !cJSON_IsString(name))
        return fail(code, why, "invalid_request", "op and id (string or number) are required");
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(name->valuestring, ops[i].name) == 0)
            break;
    if (i == sizeof(ops) / sizeof(ops[0]))
        return fail(code, why, "unknown_op", "unknown op");
    op->kind = ops[i].kind;
    if (ops[i].chat) {
        v = cJSON_GetObjectItemCaseSensitive(op->root, "chat_id");
        if (!v || json_get_id(v, &op->chat_id))
            return fail(code, why, "invalid_request", "chat_id must be an id");
    }
    switch (op->kind) {
    case WS_OP_RESUME:
        op->cursor = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op->root, "cursor"));
        if (!op->cursor)
            return fail(code, why, "invalid_request", "cursor must be a string");
        break;
    case WS_OP_SEND:
        op->content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op->root, "content"));
        op->client_msg_id =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op->root, "client_msg_id"));
        if (!op->content || !op->client_msg_id || !*op->client_msg_id)
            return fail(code, why, "invalid_request", "send needs content and client_msg_id");
        break;
    case WS_OP_READ:
        v = cJSON_GetObjectItemCaseSensitive(op->root, "seq");
        if (!v || json_get_int(v, 0, JSON_INT_MAX, &op->seq))
            return fail(code, why, "invalid_request", "seq must be an integer");
        break;
    case WS_OP_PING:
    case WS_OP_TYPING: break;
    }
    return 0;
}

void ws_client_op_release(struct ws_client_op *op)
{
    free(op->id);
    cJSON_Delete(op->root);
    memset(op, 0, sizeof(*op));
}
