/* opshttp.c - the loopback /healthz, /readyz, /metrics listener. */
#include "opshttp.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <string.h>

static struct {
    struct MHD_Daemon *d;
    struct metrics *m;
    opshttp_ready_fn *ready;
    void *arg;
} O;

static enum MHD_Result ops_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ops_text(struct MHD_Connection *c, unsigned status, const char *body)
{
    return ops_reply(c, status, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result ops_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct buf b = BUF_INIT;
    enum MHD_Result ret;
    const char *body = "";
    unsigned status;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return ops_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/healthz") == 0)
        return ops_text(c, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0 && O.ready) {
        status = O.ready(O.arg, &body);
        return ops_text(c, status, body);
    }
    if (strcmp(url, "/metrics") == 0) {
        metrics_render(O.m, &b);
        ret = ops_reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.s, b.len);
        buf_release(&b);
        return ret;
    }
    return ops_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

int opshttp_start(int port, struct metrics *m, opshttp_ready_fn *ready, void *arg)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    O.m = m;
    O.ready = ready;
    O.arg = arg;
    O.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                           NULL, NULL, ops_handler, NULL, MHD_OPTION_SOCK_ADDR,
                           (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                           MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    return O.d ? 0 : -1;
}

void opshttp_stop(void)
{
    if (O.d)
        MHD_stop_daemon(O.d);
    O.d = NULL;
}
