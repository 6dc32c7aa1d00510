/* req_input.c - the input validators of chat-api: the query string, the
 * JSON body and its fields, each an _or_reply helper (req_input.h). */
#include "req_input.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "page.h"
#include "req.h"

int req_query_check_or_reply(struct req *req)
{
    const char *uri = req_param(req, "REQUEST_URI"), *p = req->query;
    size_t plen;
    char *v;

    /* The path as the client sent it: a %00 would cut DOCUMENT_URI short
     * (FastCGI hands it over as a C string), "/chats/5%00/x" becoming
     * "/chats/5". nginx refuses it already; this holds without nginx. */
    if (uri) {
        plen = strcspn(uri, "?");
        for (size_t i = 0; i + 3 <= plen; i++)
            if (memcmp(uri + i, "%00", 3) == 0) {
                req_error(req, 400, "invalid_request", "the path holds a NUL byte (%%00)");
                return -1;
            }
    }
    while (*p) {
        size_t len = strcspn(p, "&");

        if (req_query_decode(p, len, &v)) {
            req_error(req, 400, "invalid_request", "a query parameter holds a NUL byte (%%00)");
            return -1;
        }
        free(v);
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}

static void cjson_free_cb(void *p)
{
    cJSON_Delete(p);
}

int req_json_body_or_reply(struct req *req, cJSON **out)
{
    const char *why = NULL;
    cJSON *root = json_parse(req->body, req->body_len, &why);

    if (!root) {
        req_error(req, 400, "invalid_request", "body: %s", why ? why : "invalid JSON");
        return -1;
    }
    req_defer(req, cjson_free_cb, root);
    if (!cJSON_IsObject(root)) {
        req_error(req, 400, "invalid_request", "body must be a JSON object");
        return -1;
    }
    *out = root;
    return 0;
}

int req_json_str_or_reply(struct req *req, const cJSON *obj, const struct str_field *f,
                          const char **out)
{
    struct buf why = BUF_INIT;
    int rc = field_str_check(f, cJSON_GetObjectItemCaseSensitive(obj, f->name), out, &why);

    if (rc)
        req_error(req, 400, "invalid_request", "%s", why.s);
    buf_release(&why);
    return rc;
}

int req_json_id_or_reply(struct req *req, const cJSON *obj, const char *name, bool required,
                         int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = 0;
    if (!it || cJSON_IsNull(it)) {
        if (!required)
            return 0;
        req_error(req, 400, "invalid_request", "%s is required", name);
        return -1;
    }
    if (json_get_id(it, out)) {
        req_error(req, 400, "invalid_request", "%s must be an id (a positive integer)", name);
        return -1;
    }
    return 0;
}

int req_query_int_or_reply(struct req *req, const char *name, int64_t min, int64_t max,
                           int64_t *out, bool *present)
{
    const char *v = req_query(req, name);

    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (json_parse_int(v, min, max, out)) {
        req_error(req, 400, "invalid_request", "%s must be an integer from %lld to %lld", name,
                  (long long)min, (long long)max);
        return -1;
    }
    return 0;
}

int req_limit_or_reply(struct req *req, int64_t *limit)
{
    *limit = PAGE_LIMIT_DEFAULT;
    return req_query_int_or_reply(req, "limit", 1, PAGE_LIMIT_MAX, limit, NULL);
}
