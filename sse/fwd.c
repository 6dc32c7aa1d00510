/* fwd.c - libcurl multi on the chat-push loop, for WebSocket ops. */
#include "fwd.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "loop.h"

#define FWD_MAX_BODY (256 * 1024) /* answers bigger than this are cut */

struct fwd_req {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    struct buf out;
    fwd_cb *cb; /* NULL once cancelled */
    void *arg;
    struct fwd_req *prev, *next; /* every request in flight */
};

/* One socket curl asked us to watch. Freed only at the end of a loop pass
 * (fwd_run), so an epoll report for it in the same batch finds it alive. */
struct fwd_sock {
    struct loop_io io;
    curl_socket_t fd;
    bool dead;
    struct fwd_sock *next_dead;
};

static struct {
    CURLM *multi;
    char *base;
    int64_t deadline_ms; /* -1: no timer */
    int running;
    struct fwd_sock *dead;
    struct fwd_req *reqs;
} W;

static void req_free(struct fwd_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        W.reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    curl_multi_remove_handle(W.multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    buf_release(&r->out);
    free(r);
}

static void check_done(void)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(W.multi, &left))) {
        struct fwd_req *r = NULL;
        long status = 0;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (m->data.result == CURLE_OK)
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        else
            log_warn("forward failed: %s", curl_easy_strerror(m->data.result));
        if (r->cb)
            r->cb(r->arg, status, r->out.s, r->out.len);
        req_free(r);
    }
}

static void on_sock_io(struct loop_io *io, uint32_t revents)
{
    struct fwd_sock *s = (struct fwd_sock *)io;
    int flags = 0;

    if (s->dead)
        return;
    if (revents & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (revents & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(W.multi, s->fd, flags, &W.running);
    check_done();
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    struct fwd_sock *s = sockp;

    if (what == CURL_POLL_REMOVE) {
        if (s && !s->dead) {
            loop_io_del(&s->io);
            s->dead = true;
            s->next_dead = W.dead;
            W.dead = s;
        }
        curl_multi_assign(W.multi, fd, NULL);
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->io = (struct loop_io)LOOP_IO_INIT(on_sock_io);
        s->fd = fd;
        curl_multi_assign(W.multi, fd, s);
    }
    loop_io_set(&s->io, fd,
                (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0));
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    W.deadline_ms = timeout_ms < 0 ? -1 : loop_now_ms() + timeout_ms;
    return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct fwd_req *r = arg;
    size_t len = size * n;

    if (r->out.len + len > FWD_MAX_BODY)
        return 0; /* fails the transfer */
    buf_add(&r->out, p, len);
    return len;
}

int fwd_init(const char *base)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return CHAT_ERR_IO;
    W.multi = curl_multi_init();
    if (!W.multi)
        return CHAT_ERR_IO;
    W.base = strdup(base);
    W.deadline_ms = -1;
    curl_multi_setopt(W.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(W.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(W.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    return 0;
}

struct fwd_req *fwd_post(const char *path, const char *token, const char *body, size_t len,
                         fwd_cb *cb, void *arg)
{
    struct fwd_req *r = calloc(1, sizeof(*r));
    struct buf url, auth;

    if (!r)
        return NULL;
    r->easy = curl_easy_init();
    r->body = malloc(len + 1);
    if (!r->easy || !r->body) {
        if (r->easy)
            curl_easy_cleanup(r->easy);
        free(r->body);
        free(r);
        return NULL;
    }
    memcpy(r->body, body, len);
    r->body[len] = 0;
    buf_init(&r->out);
    buf_init(&url);
    buf_init(&auth);
    buf_addf(&url, "%s%s", W.base, path);
    buf_addf(&auth, "Authorization: Bearer %s", token);
    r->hdrs = curl_slist_append(NULL, auth.s);
    r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
    r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    r->cb = cb;
    r->arg = arg;
    curl_easy_setopt(r->easy, CURLOPT_URL, url.s);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)FWD_TIMEOUT_MS);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    buf_release(&url);
    buf_release(&auth);
    r->next = W.reqs;
    if (W.reqs)
        W.reqs->prev = r;
    W.reqs = r;
    if (curl_multi_add_handle(W.multi, r->easy) != CURLM_OK) {
        req_free(r);
        return NULL;
    }
    return r;
}

void fwd_cancel(struct fwd_req *r)
{
    r->cb = NULL; /* freed when curl is done with it */
}

void fwd_run(int64_t now)
{
    if (W.deadline_ms >= 0 && now >= W.deadline_ms) {
        W.deadline_ms = -1;
        curl_multi_socket_action(W.multi, CURL_SOCKET_TIMEOUT, 0, &W.running);
        check_done();
    }
    while (W.dead) {
        struct fwd_sock *s = W.dead;

        W.dead = s->next_dead;
        free(s);
    }
}

int64_t fwd_wait_ms(int64_t now)
{
    if (W.deadline_ms < 0)
        return -1;
    return W.deadline_ms > now ? W.deadline_ms - now : 0;
}

void fwd_close(void)
{
    if (W.multi) {
        while (W.reqs)
            req_free(W.reqs);
        curl_multi_cleanup(W.multi);
    }
    W.multi = NULL;
    fwd_run(0);
    free(W.base);
    curl_global_cleanup();
}
