/* fuzz_hub_event.c - libFuzzer target: chat-push's event scanner,
 * hub_event_new (sse/hub.h), on a payload as it comes from Redis pub/sub.
 *
 * Checked beyond "no crash, no sanitizer report": an accepted event's JSON
 * holds no CR or LF (one SSE data line, WHATWG HTML "Server-sent events"),
 * still parses, and its "type" member is the type the hub recorded.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sse/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hub_event *ev = hub_event_new((const char *)data, size);
    const char *json;
    cJSON *root;
    const cJSON *type;

    if (!ev)
        return 0;
    json = ev->text + ev->json_off;
    if (memchr(json, '\r', ev->json_len) || memchr(json, '\n', ev->json_len))
        abort();
    root = cJSON_ParseWithLength(json, ev->json_len);
    type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsString(type) || strlen(type->valuestring) != ev->type_len ||
        memcmp(type->valuestring, ev->text + ev->type_off, ev->type_len))
        abort();
    if (!hub_event_is(ev, type->valuestring))
        abort();
    cJSON_Delete(root);
    hub_event_unref(ev);
    return 0;
}
