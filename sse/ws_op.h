/* ws_op.h - the client ops of a WebSocket stream (API.md "Streams",
 * WebSocket; docs/openapi.yaml WsClientOp), parsed from one text frame.
 *
 * Pure: no connection, no reply. sub_ws.c answers what ws_client_op_parse says
 * and forwards send, typing and read to chat-api as their REST
 * equivalents; tests/fuzz/fuzz_ws_op.c feeds it hostile frames.
 */
#ifndef CHAT_WS_OP_H
#define CHAT_WS_OP_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

enum ws_client_op_kind { WS_OP_PING, WS_OP_RESUME, WS_OP_SEND, WS_OP_TYPING, WS_OP_READ };

struct ws_client_op {
    enum ws_client_op_kind kind;
    char *id;        /* the op's "id" as JSON text (a string or a number), for the reply; may
                      * be NULL after an error; free with ws_client_op_release */
    int64_t chat_id; /* send, typing, read */
    const char *content, *client_msg_id; /* send: cJSON's strings, live until release */
    const char *cursor;                  /* resume */
    int64_t seq;                         /* read */
    cJSON *root;
};

/* Parse len bytes of one text frame into op. Returns 0, or -1 with *code
 * (API.md "Errors": invalid_request, or unknown_op for an op name that is
 * not one of ping, resume, send, typing, read) and *why (a message for
 * the client); op->id is set when the frame carried a usable id. Call
 * ws_client_op_release in both cases. */
int ws_client_op_parse(const char *text, size_t len, struct ws_client_op *op, const char **code,
                       const char **why);
void ws_client_op_release(struct ws_client_op *op);

#endif
