/* api_error.h - the API's error object, written in one place for chat-api,
 * chat-push and the WebSocket ops (API.md "Conventions": every error is
 * {"error": {"code": "snake_case_code", "message": "human text"}}; a
 * WebSocket op's error carries the same object, API.md "Real-time events").
 */
#ifndef CHAT_API_ERROR_H
#define CHAT_API_ERROR_H

#include "buf.h"

/* Append the error object {"code":…,"message":…} to b. code is one of the
 * API's snake_case codes; message is any NUL-terminated text (client input
 * quoted in it included): both are escaped as JSON strings (RFC 8259 §7). */
void api_error_object(struct buf *b, const char *code, const char *message);

/* Append a whole error body, {"error":{"code":…,"message":…}}, to b. */
void api_error_body(struct buf *b, const char *code, const char *message);

#endif
