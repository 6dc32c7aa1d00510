/* http.c - outgoing requests of chat-notify on one curl multi handle. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "netaddr.h"
#include "notify.h"

int64_t http_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* libcurl asks here for every socket: refuse internal addresses unless
 * configured, after resolution, so DNS cannot point a webhook inwards. */
static curl_socket_t http_opensocket(void *clientp, curlsocktype purpose,
                                     struct curl_sockaddr *addr)
{
    struct job *job = clientp;

    if (purpose != CURLSOCKTYPE_IPCXN ||
        (!job->n->cfg->notify_allow_private && netaddr_is_internal(&addr->addr))) {
        job->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static size_t http_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct job *job = userp;
    size_t len = size * nmemb;

    if (job->resp.len < NOTIFY_RESP_MAX)
        buf_add(&job->resp, data,
                len < NOTIFY_RESP_MAX - job->resp.len ? len : NOTIFY_RESP_MAX - job->resp.len);
    return len;
}

int http_start(struct job *job, const char *url, struct curl_slist *extra)
{
    const struct cfg *c = job->n->cfg;
    CURL *e = curl_easy_init();
    struct curl_slist *h = extra;

    if (!e)
        return -1;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: chat-notify/1");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->notify_timeout_ms / 3 + 1));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->notify_timeout_ms);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, http_opensocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, job);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, job);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->body.s);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->body.len);
    curl_easy_setopt(e, CURLOPT_PRIVATE, job);
    job->easy = e;
    job->headers = h;
    job->t0_us = http_now_us();
    if (curl_multi_add_handle(job->n->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        job->easy = NULL;
        job->headers = NULL;
        return -1;
    }
    job->n->inflight++;
    job->next = job->n->jobs;
    if (job->next)
        job->next->prev = job;
    job->n->jobs = job;
    return 0;
}

void http_job_free(struct job *job)
{
    if (job->easy) {
        curl_multi_remove_handle(job->n->multi, job->easy);
        curl_easy_cleanup(job->easy);
        job->n->inflight--;
        if (job->prev)
            job->prev->next = job->next;
        else
            job->n->jobs = job->next;
        if (job->next)
            job->next->prev = job->prev;
    }
    curl_slist_free_all(job->headers);
    buf_release(&job->body);
    buf_release(&job->resp);
    free(job->pushkey);
    free(job);
}
