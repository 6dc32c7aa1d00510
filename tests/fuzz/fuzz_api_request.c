/* fuzz_api_request.c - libFuzzer target: chat-api's request validators
 * (cgi/req.h) on an outside query string and body.
 *
 * Input: the query string up to the first '\n' (as nginx hands it over in
 * QUERY_STRING, without '?'), then the body. The request is read through
 * in-memory FastCGI streams (fcgiapp.h's FCGX_Stream), so req_init reads
 * the body as it would from nginx, and every reply is captured.
 *
 * Checked beyond "no crash, no sanitizer report": a validator that refuses
 * answers exactly once, with a 4xx status and the API's error envelope
 * (API.md "Errors": {"error":{"code","message"}}, code in snake_case).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../cgi/req.h"
#include "../../cgi/req_input.h"
#include "../../cgi/worker.h"

/* The reply stream's buffer: what the validators wrote, for the checks. */
static unsigned char out_buf[1 << 16];
static struct buf out_all = BUF_INIT;

static void out_flush(FCGX_Stream *s, int do_close)
{
    buf_add(&out_all, (const char *)out_buf, (size_t)(s->wrNext - out_buf));
    s->wrNext = out_buf;
}

static void in_fill(FCGX_Stream *s)
{
    s->isClosed = 1; /* all of the body was in the first buffer */
}

static bool code_ok(const char *c)
{
    if (!islower((unsigned char)*c))
        return false;
    for (; *c; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_')
            return false;
    return true;
}

/* The reply captured since the last call, if any, must be one well-formed
 * 4xx error; returns whether there was one. */
static bool reply_check(void)
{
    const char *body;
    int status;
    cJSON *root, *err, *code, *msg;

    if (!out_all.len)
        return false;
    if (sscanf(out_all.s, "Status: %d ", &status) != 1 || status < 400 || status > 499)
        abort();
    body = strstr(out_all.s, "\r\n\r\n");
    if (!body)
        abort();
    root = cJSON_Parse(body + 4);
    err = cJSON_GetObjectItemCaseSensitive(root, "error");
    code = cJSON_GetObjectItemCaseSensitive(err, "code");
    msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    if (!cJSON_IsString(code) || !code_ok(code->valuestring) || !cJSON_IsString(msg))
        abort();
    cJSON_Delete(root);
    buf_reset(&out_all);
    return true;
}

/* Fields like those of POST /chats/{id}/messages and POST /chats. */
static const struct str_field f_content = {"content", .required = true, .min = 1, .max = 4000,
                                           .multiline = true};
static const struct str_field f_title = {"title", .min = 1, .max = 128};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cfg cfg = {.body_limit = 65536};
    static struct worker w = {.cfg = &cfg};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t qlen = nl ? (size_t)(nl - data) : size;
    size_t blen = nl ? size - qlen - 1 : 0;
    char *query = strndup((const char *)data, qlen), *body = malloc(blen + 1), clen[24];
    char qparam[16 + 65536], *envp[5];
    FCGX_Stream in = {0}, out = {0};
    FCGX_Request fcgi = {0};
    struct req req;
    cJSON *root;
    const char *s;
    int64_t v;
    bool present;

    if (!query || !body || qlen > 65536)
        goto free_input;
    memcpy(body, nl ? nl + 1 : data, blen);
    snprintf(qparam, sizeof(qparam), "QUERY_STRING=%s", query);
    snprintf(clen, sizeof(clen), "CONTENT_LENGTH=%zu", blen);
    envp[0] = "REQUEST_METHOD=POST";
    envp[1] = "DOCUMENT_URI=/api/v1/chats/1/messages";
    envp[2] = qparam;
    envp[3] = clen;
    envp[4] = NULL;
    in = (FCGX_Stream){.rdNext = (unsigned char *)body, .stop = (unsigned char *)body + blen,
                       .isReader = 1, .isClosed = 0, .fillBuffProc = in_fill};
    out = (FCGX_Stream){.rdNext = out_buf, .wrNext = out_buf, .stop = out_buf + sizeof(out_buf),
                        .emptyBuffProc = out_flush};
    fcgi = (FCGX_Request){.in = &in, .out = &out, .envp = envp};

    if (req_init(&req, &fcgi, &w) || req_query_check_or_reply(&req) ||
        req_limit_or_reply(&req, &v) ||
        req_query_int_or_reply(&req, "timeout", 0, 60, &v, &present))
        goto done;
    s = req_query(&req, "q");
    if (req_json_body_or_reply(&req, &root) ||
        req_json_str_or_reply(&req, root, &f_content, &s) ||
        req_json_str_or_reply(&req, root, &f_title, &s) ||
        req_json_id_or_reply(&req, root, "reply_to", false, &v) ||
        req_json_id_or_reply(&req, root, "chat_id", true, &v))
        goto done;
done:
    out_flush(&out, 0);
    if (req.replied != reply_check())
        abort();
    req_release(&req);
    buf_reset(&out_all);
free_input:
    free(query);
    free(body);
    return 0;
}
