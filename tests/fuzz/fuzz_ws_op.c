/* fuzz_ws_op.c - libFuzzer target: the WebSocket client op parser,
 * ws_client_op_parse (sse/ws_op.h; API.md "Real-time events", WebSocket),
 * on one text frame from a client.
 *
 * Checked beyond "no crash, no sanitizer report": a refusal has the code
 * invalid_request or unknown_op and a message; an accepted op has the
 * fields its kind needs, in range (ids 1 to 2^53-1, seq 0 to 2^53-1).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sse/ws_op.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_client_op op;
    const char *code = NULL, *why = NULL;

    if (ws_client_op_parse((const char *)data, size, &op, &code, &why)) {
        if (!code || (strcmp(code, "invalid_request") && strcmp(code, "unknown_op")) || !why ||
            !*why)
            abort();
        goto out;
    }
    if (!op.id)
        abort();
    switch (op.kind) {
    case WS_OP_SEND:
        if (!op.content || !op.client_msg_id || !*op.client_msg_id)
            abort();
        /* fall through */
    case WS_OP_TYPING:
        if (op.chat_id < 1 || op.chat_id > JSON_INT_MAX)
            abort();
        break;
    case WS_OP_READ:
        if (op.chat_id < 1 || op.chat_id > JSON_INT_MAX || op.seq < 0 || op.seq > JSON_INT_MAX)
            abort();
        break;
    case WS_OP_RESUME:
        if (!op.cursor)
            abort();
        break;
    case WS_OP_PING: break;
    }
out:
    ws_client_op_release(&op);
    return 0;
}
