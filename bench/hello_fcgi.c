/* hello_fcgi.c - the ceiling for a FastCGI endpoint behind nginx.
 *
 *   hello_fcgi SOCKET THREADS PAGE_BYTES
 *
 * The same shape as chat-api's accept loop (cgi/main.c): THREADS threads
 * each call FCGX_Accept_r on one shared unix socket. A request whose
 * path contains "/page" gets a JSON body of about PAGE_BYTES bytes shaped
 * like a history page of 50 messages; any other gets a tiny JSON body.
 * No database, no Redis: what is left is nginx, FastCGI and the kernel.
 * Built by bench/run.sh only, never by the main build.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd;
static char *page;
static size_t page_len;
static const char tiny[] = "{\"ok\":true}";

/* 50 messages shaped like message_json() output, `pad` bytes of content each. */
static size_t fill_page(size_t cap, size_t pad)
{
    const char *fmt = "{\"id\":%d,\"chat_id\":1,\"seq\":%d,\"version\":%d,\"sender_id\":1,"
                      "\"content\":\"%s\",\"created_at\":\"2024-01-01T00:00:00.000Z\","
                      "\"edited_at\":null,\"deleted\":false,\"reply_to_seq\":null,"
                      "\"client_msg_id\":null}";
    char *content = malloc(pad + 1);
    size_t len = 0;

    if (!content)
        abort();
    for (size_t i = 0; i < pad; i++)
        content[i] = "abcdefghijklmnopqrstuvwxyz "[i % 27];
    content[pad] = 0;
    len += (size_t)snprintf(page + len, cap - len, "{\"messages\":[");
    for (int i = 0; i < 50; i++) {
        if (i)
            page[len++] = ',';
        len += (size_t)snprintf(page + len, cap - len, fmt, 1000 + i, 1000 + i, 1000 + i, content);
    }
    len += (size_t)snprintf(page + len, cap - len,
                            "],\"has_more_before\":true,\"has_more_after\":false}");
    free(content);
    return len;
}

/* A page of about `bytes` bytes: measure the page without content, then
 * share the rest among the 50 messages. */
static void build_page(size_t bytes)
{
    size_t cap = bytes + 64 * 1024, bare;

    page = malloc(cap);
    if (!page)
        abort();
    bare = fill_page(cap, 0);
    page_len = fill_page(cap, bytes > bare + 50 ? (bytes - bare) / 50 : 1);
}

static void *worker(void *arg)
{
    FCGX_Request r;

    (void)arg;
    FCGX_InitRequest(&r, listen_fd, 0);
    while (FCGX_Accept_r(&r) >= 0) {
        const char *uri = FCGX_GetParam("DOCUMENT_URI", r.envp);
        int big = uri && strstr(uri, "/page");
        const char *body = big ? page : tiny;
        size_t n = big ? page_len : sizeof(tiny) - 1;

        char head[128];
        int hn = snprintf(head, sizeof(head),
                          "Status: 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          n);

        FCGX_PutStr(head, hn, r.out);
        FCGX_PutStr(body, (int)n, r.out);
        FCGX_Finish_r(&r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n, sig;
    pthread_t *t;
    sigset_t set;

    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET THREADS PAGE_BYTES\n", argv[0]);
        return 2;
    }
    n = atoi(argv[2]);
    if (n < 1)
        n = 1;
    build_page((size_t)atol(argv[3]));
    /* Workers inherit a mask without SIGTERM/SIGINT; main waits for them
     * and exits (libfcgi's own handlers would leave threads in accept). */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    FCGX_Init();
    unlink(argv[1]);
    listen_fd = FCGX_OpenSocket(argv[1], 1024);
    if (listen_fd < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[1], 0660);
    t = calloc((size_t)n, sizeof(*t));
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    fprintf(stderr, "hello_fcgi: %s, %d threads, page %zu bytes\n", argv[1], n, page_len);
    sigwait(&set, &sig);
    unlink(argv[1]);
    _exit(0);
}
