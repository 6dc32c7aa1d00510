/* hub_event.c - events: parsing what Redis and PostgreSQL carry into the
 * refcounted struct hub_event every subscriber shares (hub.h). */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "hub_int.h"
#include "json.h"
#include "log.h"
#include "sub.h"

/* ---- events ---- */

static bool type_ok(const char *t, size_t len)
{
    size_t i;

    if (len == 0 || len > 64)
        return false;
    for (i = 0; i < len; i++) {
        char c = t[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_'))
            return false;
    }
    return true;
}

/* Optional id field: absent is fine (0), present must be a valid id. */
static int opt_id(const cJSON *obj, const char *name, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = 0;
    if (!it || cJSON_IsNull(it))
        return 0;
    return json_get_id(it, out);
}

struct hub_event *hub_event_build(const char *type, size_t tlen, const char *json, size_t len,
                                  bool strip)
{
    struct hub_event *ev = malloc(sizeof(*ev) + tlen + len + 20);
    char *p;
    size_t i;

    if (!ev)
        abort();
    memset(ev, 0, sizeof(*ev));
    ev->refs = 1;
    p = ev->text;
    memcpy(p, "event: ", 7);
    p += 7;
    ev->type_off = (unsigned short)(p - ev->text);
    ev->type_len = (unsigned short)tlen;
    memcpy(p, type, tlen);
    p += tlen;
    memcpy(p, "\ndata: ", 7);
    p += 7;
    ev->json_off = (size_t)(p - ev->text);
    for (i = 0; i < len; i++)
        if (!strip || (json[i] != '\r' && json[i] != '\n'))
            *p++ = json[i];
    ev->json_len = (size_t)(p - ev->text) - ev->json_off;
    memcpy(p, "\n\n", 3);
    p += 2;
    ev->len = (size_t)(p - ev->text);
    return ev;
}

struct hub_event *hub_event_new(const char *json, size_t len)
{
    const char *why = NULL;
    cJSON *root = json_parse(json, len, &why);
    const cJSON *type;
    struct hub_event *ev = NULL;
    int64_t chat_id, user_id, version = 0, session_id = -1, token_id = 0, msg_seq = 0;
    int64_t created_us = 0;
    const cJSON *v;

    if (!root)
        return NULL;
    type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsObject(root) || !cJSON_IsString(type) ||
        !type_ok(type->valuestring, strlen(type->valuestring)))
        goto out;
    if (opt_id(root, "chat_id", &chat_id) || opt_id(root, "user_id", &user_id))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (v && !cJSON_IsNull(v) && json_get_int(v, 1, JSON_INT_MAX, &version))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "session_id");
    if (v && !cJSON_IsNull(v) && json_get_int(v, 0, JSON_INT_MAX, &session_id))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "token_id");
    if (v && !cJSON_IsNull(v) && json_get_int(v, 1, JSON_INT_MAX, &token_id))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (cJSON_IsObject(v) &&
        json_get_int(cJSON_GetObjectItemCaseSensitive(v, "seq"), 1, JSON_INT_MAX, &msg_seq))
        msg_seq = 0;
    if (cJSON_IsObject(v) && strcmp(type->valuestring, "message.created") == 0 &&
        json_parse_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "created_at")),
                        &created_us))
        created_us = 0;
    ev = hub_event_build(type->valuestring, strlen(type->valuestring), json, len, true);
    ev->chat_id = chat_id;
    ev->user_id = user_id;
    ev->version = version;
    ev->session_id = session_id;
    ev->token_id = token_id;
    ev->msg_seq = msg_seq;
    ev->created_us = created_us;
out:
    cJSON_Delete(root);
    return ev;
}

struct hub_event *hub_event_resync(int64_t chat_id)
{
    char json[64];
    int n;
    struct hub_event *ev;

    if (chat_id)
        n = snprintf(json, sizeof(json), "{\"type\":\"resync\",\"chat_id\":%" PRId64 "}", chat_id);
    else
        n = snprintf(json, sizeof(json), "{\"type\":\"resync\"}");
    ev = hub_event_build("resync", 6, json, (size_t)n, false);
    ev->chat_id = chat_id;
    ev->session_id = -1;
    return ev;
}
void hub_event_ref(struct hub_event *ev)
{
    ev->refs++;
}

void hub_event_unref(struct hub_event *ev)
{
    if (ev && --ev->refs == 0)
        free(ev);
}

bool hub_event_is(const struct hub_event *ev, const char *t)
{
    size_t n = strlen(t);

    return n == ev->type_len && memcmp(ev->text + ev->type_off, t, n) == 0;
}
