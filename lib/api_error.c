/* api_error.c - the API's error object (api_error.h). */
#include "api_error.h"

#include <string.h>

void api_error_object(struct buf *b, const char *code, const char *message)
{
    buf_adds(b, "{\"code\":");
    buf_add_json_str(b, code, strlen(code));
    buf_adds(b, ",\"message\":");
    buf_add_json_str(b, message, strlen(message));
    buf_addch(b, '}');
}

void api_error_body(struct buf *b, const char *code, const char *message)
{
    buf_adds(b, "{\"error\":");
    api_error_object(b, code, message);
    buf_addch(b, '}');
}
