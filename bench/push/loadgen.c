/* loadgen.c - load client for the push benchmark (bench/push/run.sh).
 *
 * Built apart from the main build:
 *   cc -O2 -Wall -Wextra -Werror -o loadgen bench/push/loadgen.c
 *
 * Two modes, one epoll loop each, no threads:
 *
 *   loadgen sub -k chat|nchan -t sse|poll|ws -p PORT[,PORT...] -f FILE [-n N] [-o OFF]
 *               [-H 127.0.0.1] [-b 127.0.0.2] [-B 8] [-c 4000] [-P 256] [-i 1000] [-x PREFIX]
 *     Holds N streams (lines OFF.. of FILE, "<chat_or_channel_id> <token|->"),
 *     spread over the ports round-robin and over B source addresses from -b
 *     (bind() before connect(), IP_BIND_ADDRESS_NO_PORT: one source address
 *     reaches one destination port at most ~28,000 times). Opens at most -c
 *     connections a second, with at most -P (256) of them not ready yet
 *     (chat: before the first event, `resync`; so the server's stream
 *     setup is never flooded past its timeouts). Every delivery whose payload holds a marker
 *     "ts<C>=<19 digits>" (C: L for load, P for probes; CLOCK_REALTIME ns at
 *     publish) is counted and its latency goes into a histogram per class.
 *     A stats line goes to stdout every -i ms; SIGUSR1 starts a measuring
 *     window (counters and histograms reset), SIGUSR2 prints
 *     "SUMMARY ..." for the window; SIGTERM/SIGINT end it. Streams that end
 *     reconnect after a second (long-poll: at once, with its cursor).
 *
 *   loadgen pub -k redis|nchan|api -p PORT -f FILE [-n N] [-r RATE] [-d SECS]
 *               [-C CONNS] [-w WINDOW] [-s BYTES] [-m L|P] [-V FILE] [-x PREFIX]
 *     Publishes RATE messages a second (0: as fast as the window allows) for
 *     SECS seconds, round-robin over the chats of FILE: redis = SPUBLISH
 *     {chat:ID} <message.created event JSON> (versions 2, 3, ... per chat);
 *     nchan = POST PREFIX?id=<id> with the same JSON as body; api = POST
 *     /api/v1/chats/{id}/messages {"content"} with the line's token. -s is
 *     the size of the event JSON (redis, nchan) the content is padded to.
 *     -V FILE keeps each chat's last version between runs (read at the
 *     start if it exists, written at the end), so versions stay gapless.
 *     Prints "PUB sent= acked= errors= secs= rate=" at the end.
 *
 * Transports, client side (API.md "Real-time events"; nchan's subscriber
 * endpoints):
 *   sse  GET /api/v1/events, Authorization: Bearer; nchan GET PREFIX<id>
 *        with Accept: text/event-stream. Chunked or identity bodies.
 *   poll GET /api/v1/poll?timeout=25[&cursor=] ({events, cursor}, the cursor
 *        sent back); nchan GET PREFIX<id> with If-Modified-Since and
 *        If-None-Match from the last answer's Last-Modified and Etag.
 *   ws   GET /api/v1/ws (or PREFIX<id>) with Upgrade: websocket; server
 *        frames read (text, continuation), pings answered, masked pong.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF (256 * 1024)
#define HDR_MAX 8192
#define CURSOR_MAX 96
#define MAX_PORTS 16

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t real_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- latency histogram: microseconds, log-linear, ~1.6 % buckets ---- */

#define H_SUB 64
#define H_BUCKETS (40 * H_SUB)

struct hist {
    uint64_t b[H_BUCKETS];
    uint64_t n, max_us;
    double sum_us;
};

static unsigned hist_idx(uint64_t us)
{
    unsigned msb, idx;

    if (us < H_SUB)
        return (unsigned)us;
    msb = 63 - (unsigned)__builtin_clzll(us);
    idx = (msb - 5) * H_SUB + (unsigned)((us >> (msb - 6)) & (H_SUB - 1));
    return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

static uint64_t hist_val(unsigned idx) /* upper edge of a bucket */
{
    unsigned msb, sub;

    if (idx < H_SUB)
        return idx;
    msb = idx / H_SUB + 5;
    sub = idx % H_SUB;
    return ((uint64_t)(H_SUB + sub + 1) << (msb - 6)) - 1;
}

static void hist_add(struct hist *h, int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;

    h->b[hist_idx(us)]++;
    h->n++;
    h->sum_us += (double)us;
    if (us > h->max_us)
        h->max_us = us;
}

static double hist_pct(const struct hist *h, double p) /* ms */
{
    uint64_t want, acc = 0;
    unsigned i;

    if (!h->n)
        return 0;
    want = (uint64_t)(p * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    for (i = 0; i < H_BUCKETS; i++) {
        acc += h->b[i];
        if (acc > want)
            return (double)hist_val(i) / 1000.0;
    }
    return (double)h->max_us / 1000.0;
}

/* ---- common ---- */

static int epfd;
static volatile sig_atomic_t sig_usr1, sig_usr2, sig_stop;

static void on_sig(int s)
{
    if (s == SIGUSR1)
        sig_usr1 = 1;
    else if (s == SIGUSR2)
        sig_usr2 = 1;
    else
        sig_stop = 1;
}

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void ep_set(int fd, uint32_t ev, void *ptr, bool add)
{
    struct epoll_event e = {.events = ev, .data.ptr = ptr};

    if (epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e))
        die("epoll_ctl: %s", strerror(errno));
}

/* Read "<id> <token>" lines. */
struct target {
    int64_t id;
    char *token; /* NULL for "-" */
    int64_t version;
};

static struct target *read_targets(const char *path, long off, long *n)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    struct target *t = NULL;
    long cap = 0, got = 0, idx = 0;

    if (!f)
        die("%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        char tok[4000];
        long long id;
        int k = sscanf(line, "%lld %3999s", &id, tok);

        if (k < 1)
            continue;
        if (idx++ < off)
            continue;
        if (*n > 0 && got >= *n)
            break;
        if (got == cap) {
            cap = cap ? cap * 2 : 1024;
            t = realloc(t, (size_t)cap * sizeof(*t));
            if (!t)
                die("out of memory");
        }
        t[got].id = id;
        t[got].token = (k == 2 && strcmp(tok, "-") != 0) ? strdup(tok) : NULL;
        t[got].version = 0;
        got++;
    }
    fclose(f);
    if (*n > 0 && got < *n)
        die("%s: %ld lines from %ld wanted, %ld there", path, *n, off, got);
    *n = got;
    return t;
}

static int parse_ports(const char *s, int *ports)
{
    int n = 0;
    char *dup = strdup(s), *p, *save = NULL;

    for (p = strtok_r(dup, ",", &save); p && n < MAX_PORTS; p = strtok_r(NULL, ",", &save))
        ports[n++] = atoi(p);
    free(dup);
    if (!n)
        die("no ports");
    return n;
}

/* ---- HTTP response reader (status, headers, then body bytes) ---- */

enum body_mode { B_NONE, B_LEN, B_CHUNKED, B_CLOSE };
enum chunk_state { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER };

struct hresp {
    char *hdr; /* while reading headers */
    unsigned hlen;
    bool in_body;
    int status;
    enum body_mode mode;
    uint64_t left;  /* B_LEN: bytes left; B_CHUNKED: of this chunk */
    uint8_t cstate; /* enum chunk_state */
    uint8_t tr_nl;  /* trailer: consecutive newlines seen */
    bool keepalive;
};

/* Find a header value in a header block (case-insensitive name). */
static const char *hdr_find(const char *h, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = h;

    while ((p = strchr(p, '\n'))) {
        p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e;

            while (*v == ' ' || *v == '\t')
                v++;
            e = v;
            while (*e && *e != '\r' && *e != '\n')
                e++;
            *len = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

/* Feed bytes to the header stage. Returns bytes consumed, or -1 on error;
 * sets r->in_body once the headers are complete. */
static long hresp_headers(struct hresp *r, const char *d, size_t n)
{
    size_t i;
    const char *v;
    size_t vl;

    if (!r->hdr) {
        r->hdr = malloc(HDR_MAX + 1);
        if (!r->hdr)
            die("out of memory");
        r->hlen = 0;
    }
    for (i = 0; i < n; i++) {
        if (r->hlen >= HDR_MAX)
            return -1;
        r->hdr[r->hlen++] = d[i];
        if (d[i] == '\n' && r->hlen >= 4 && memcmp(r->hdr + r->hlen - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    if (i == n)
        return (long)n;
    r->hdr[r->hlen] = 0;
    if (sscanf(r->hdr, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    r->keepalive = strncmp(r->hdr, "HTTP/1.1", 8) == 0;
    v = hdr_find(r->hdr, "Connection", &vl);
    if (v && vl >= 5 && strncasecmp(v, "close", 5) == 0)
        r->keepalive = false;
    r->mode = B_CLOSE;
    r->cstate = CH_SIZE;
    r->left = 0;
    if ((v = hdr_find(r->hdr, "Transfer-Encoding", &vl)) && vl >= 7 &&
        strncasecmp(v + vl - 7, "chunked", 7) == 0) {
        r->mode = B_CHUNKED;
    } else if ((v = hdr_find(r->hdr, "Content-Length", &vl))) {
        r->mode = B_LEN;
        r->left = strtoull(v, NULL, 10);
    } else if (r->status == 101 || r->status == 204 || r->status == 304) {
        r->mode = B_NONE;
    }
    if (r->mode == B_CLOSE)
        r->keepalive = false;
    r->in_body = true;
    return (long)(i + 1);
}

static void hresp_reset(struct hresp *r)
{
    free(r->hdr);
    memset(r, 0, sizeof(*r));
}

typedef void body_fn(void *ctx, const char *d, size_t n);

/* Feed body bytes: payload goes to fn. Returns bytes consumed; *done set
 * when the body ended (then the rest belongs to the next response). */
static size_t hresp_body(struct hresp *r, const char *d, size_t n, body_fn *fn, void *ctx,
                         bool *done)
{
    size_t i = 0, k;

    *done = false;
    switch (r->mode) {
    case B_NONE: *done = true; return 0;
    case B_CLOSE: fn(ctx, d, n); return n;
    case B_LEN:
        k = n < r->left ? n : (size_t)r->left;
        if (k)
            fn(ctx, d, k);
        r->left -= k;
        if (!r->left)
            *done = true;
        return k;
    case B_CHUNKED: break;
    }
    while (i < n) {
        char c = d[i];

        switch (r->cstate) {
        case CH_SIZE:
            if (c >= '0' && c <= '9')
                r->left = r->left * 16 + (uint64_t)(c - '0');
            else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                r->left = r->left * 16 + (uint64_t)((c | 0x20) - 'a' + 10);
            else if (c == '\n')
                r->cstate = r->left ? CH_DATA : CH_TRAILER, r->tr_nl = 1;
            else
                r->cstate = CH_EXT;
            i++;
            break;
        case CH_EXT:
            if (c == '\n')
                r->cstate = r->left ? CH_DATA : CH_TRAILER, r->tr_nl = 1;
            i++;
            break;
        case CH_SIZE_LF: i++; break;
        case CH_DATA:
            k = n - i < r->left ? n - i : (size_t)r->left;
            fn(ctx, d + i, k);
            i += k;
            r->left -= k;
            if (!r->left)
                r->cstate = CH_DATA_CR;
            break;
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (c == '\n') {
                r->cstate = CH_SIZE;
                r->left = 0;
            }
            i++;
            break;
        case CH_TRAILER:
            if (c == '\n') {
                if (r->tr_nl) { /* empty line: done */
                    *done = true;
                    return i + 1;
                }
                r->tr_nl = 1;
            } else if (c != '\r') {
                r->tr_nl = 0;
            }
            i++;
            break;
        }
    }
    return i;
}

/* ================= sub ================= */

enum kind { K_CHAT, K_NCHAN };
enum transport { T_SSE, T_POLL, T_WS };
enum cstate { S_IDLE, S_CONNECTING, S_HEADERS, S_BODY };

struct sconn {
    int fd;
    uint32_t idx;  /* target index */
    uint8_t state; /* enum cstate */
    bool held, ready, wanted_out;
    /* marker matcher: 0 none, 1 't', 2 "ts", 3 "tsC", 4 "tsC=" + digits */
    uint8_t m, mclass, ndig;
    uint8_t e;    /* "event:" matcher, until ready */
    uint8_t cmat; /* "cursor" matcher (long-poll) */
    uint64_t mval;
    struct hresp r;
    char *out; /* pending request bytes */
    uint32_t out_len, out_off;
    char *cursor; /* long-poll cursor / nchan Last-Modified + Etag */
    int64_t retry_at_ms;
    /* websocket frame reader */
    uint8_t ws_hdr[14], ws_hlen, ws_need, ws_op;
    uint64_t ws_left;
    bool ws_mode, ws_text;
    char ncur[CURSOR_MAX];
    uint8_t ncur_len;
};

static struct {
    enum kind kind;
    enum transport tr;
    const char *host, *prefix;
    int ports[MAX_PORTS], nports;
    struct in_addr src_base;
    int nsrc;
    struct target *t;
    long n;
    struct sconn *c;
    long next_open, connecting, held, ready, opened, closes, errors, reconnects;
    long pending, max_pending; /* open but not ready yet (setup in progress) */
    double open_rate;
    uint64_t deliv[2], deliv_total, bytes;
    struct hist h[2]; /* L, P */
    int64_t win_start_ms;
    int status_seen[6];
} S;

static char *rbuf;

static void sc_close(struct sconn *c, bool error);

static void scan_marker(struct sconn *c, const char *d, size_t n)
{
    size_t i = 0;

    while (i < n) {
        char ch;

        if (c->m == 0) {
            const char *p = memchr(d + i, 't', n - i);

            if (!p)
                return;
            i = (size_t)(p - d) + 1;
            c->m = 1;
            continue;
        }
        ch = d[i++];
        switch (c->m) {
        case 1: c->m = ch == 's' ? 2 : (ch == 't' ? 1 : 0); break;
        case 2:
            if (ch == 'L' || ch == 'P') {
                c->mclass = ch == 'P';
                c->m = 3;
            } else {
                c->m = ch == 't' ? 1 : 0;
            }
            break;
        case 3:
            if (ch == '=') {
                c->m = 4;
                c->ndig = 0;
                c->mval = 0;
            } else {
                c->m = ch == 't' ? 1 : 0;
            }
            break;
        case 4:
            if (ch >= '0' && ch <= '9') {
                c->mval = c->mval * 10 + (uint64_t)(ch - '0');
                if (++c->ndig == 19) {
                    int64_t lat = real_ns() - (int64_t)c->mval;

                    hist_add(&S.h[c->mclass], lat);
                    S.deliv[c->mclass]++;
                    S.deliv_total++;
                    c->m = 0;
                }
            } else {
                c->m = ch == 't' ? 1 : 0;
            }
            break;
        }
    }
}

static void mark_ready(struct sconn *c)
{
    if (!c->ready) {
        c->ready = true;
        S.ready++;
        S.pending--;
    }
}

/* "event:" seen on a chat SSE stream: the first one (resync) means subscribed. */
static void scan_event(struct sconn *c, const char *d, size_t n)
{
    static const char pat[] = "event:";
    size_t i;

    for (i = 0; i < n && !c->ready; i++) {
        if (d[i] == pat[c->e]) {
            if (++c->e == 6)
                mark_ready(c);
        } else {
            c->e = d[i] == 'e';
        }
    }
}

/* Long-poll body: remember the value of the last "cursor":"..." seen. */
static void scan_cursor(struct sconn *c, const char *d, size_t n)
{
    static const char pat[] = "\"cursor\"";
    size_t i;

    for (i = 0; i < n; i++) {
        char ch = d[i];

        if (c->cmat < 8) {
            if (ch == pat[c->cmat])
                c->cmat++;
            else
                c->cmat = ch == '"';
        } else if (c->cmat == 8) { /* after the key: spaces, ':', spaces, '"' */
            if (ch == '"') {
                c->cmat = 9;
                c->ncur_len = 0;
            } else if (ch != ':' && ch != ' ') {
                c->cmat = 0;
            }
        } else { /* in the value */
            if (ch == '"') {
                free(c->cursor);
                c->cursor = malloc(c->ncur_len + 1u);
                memcpy(c->cursor, c->ncur, c->ncur_len);
                c->cursor[c->ncur_len] = 0;
                c->cmat = 0;
            } else if (c->ncur_len < CURSOR_MAX - 1) {
                c->ncur[c->ncur_len++] = ch;
            } else {
                c->cmat = 0;
            }
        }
    }
}

static void ws_payload(struct sconn *c, const char *d, size_t n)
{
    scan_marker(c, d, n);
}

static void body_bytes(void *ctx, const char *d, size_t n)
{
    struct sconn *c = ctx;

    S.bytes += n;
    if (S.tr == T_SSE && S.kind == K_CHAT && !c->ready)
        scan_event(c, d, n);
    if (S.tr == T_POLL && S.kind == K_CHAT)
        scan_cursor(c, d, n);
    scan_marker(c, d, n);
}

static const char ws_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static void build_request(struct sconn *c)
{
    char buf[4096];
    int n = 0;
    const struct target *t = &S.t[c->idx];
    char auth[3000] = "";

    if (t->token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", t->token);
    if (S.kind == K_CHAT) {
        switch (S.tr) {
        case T_SSE:
            n = snprintf(buf, sizeof(buf),
                         "GET %sevents HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s\r\n",
                         S.prefix, S.host, auth);
            break;
        case T_POLL:
            n = snprintf(buf, sizeof(buf),
                         "GET %spoll?timeout=25%s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", S.prefix,
                         c->cursor ? "&cursor=" : "", c->cursor ? c->cursor : "", S.host, auth);
            break;
        case T_WS:
            n = snprintf(buf, sizeof(buf),
                         "GET %sws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: "
                         "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                         "Origin: http://%s\r\n%s\r\n",
                         S.prefix, S.host, ws_key, S.host, auth);
            break;
        }
    } else {
        switch (S.tr) {
        case T_SSE:
            n = snprintf(buf, sizeof(buf),
                         "GET %s%" PRId64
                         " HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
                         S.prefix, t->id, S.host);
            break;
        case T_POLL:
            n = snprintf(buf, sizeof(buf), "GET %s%" PRId64 " HTTP/1.1\r\nHost: %s\r\n%s\r\n",
                         S.prefix, t->id, S.host, c->cursor ? c->cursor : "");
            break;
        case T_WS:
            n = snprintf(buf, sizeof(buf),
                         "GET %s%" PRId64
                         " HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: "
                         "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                         S.prefix, t->id, S.host, ws_key);
            break;
        }
    }
    if (n <= 0 || n >= (int)sizeof(buf))
        die("request too long");
    free(c->out);
    c->out = malloc((size_t)n);
    memcpy(c->out, buf, (size_t)n);
    c->out_len = (uint32_t)n;
    c->out_off = 0;
}

static void sc_flush(struct sconn *c)
{
    while (c->out && c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

        if (w < 0) {
            if (errno == EAGAIN) {
                if (!c->wanted_out) {
                    c->wanted_out = true;
                    ep_set(c->fd, EPOLLIN | EPOLLOUT, c, false);
                }
                return;
            }
            sc_close(c, true);
            return;
        }
        c->out_off += (uint32_t)w;
    }
    free(c->out);
    c->out = NULL;
    if (c->wanted_out) {
        c->wanted_out = false;
        ep_set(c->fd, EPOLLIN, c, false);
    }
}

static void sc_queue(struct sconn *c, const char *d, size_t n)
{
    size_t pend = c->out ? c->out_len - c->out_off : 0;
    char *o = malloc(pend + n);

    if (pend)
        memcpy(o, c->out + c->out_off, pend);
    memcpy(o + pend, d, n);
    free(c->out);
    c->out = o;
    c->out_len = (uint32_t)(pend + n);
    c->out_off = 0;
    sc_flush(c);
}

static void sc_open(struct sconn *c)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    int one = 1, fd;
    long i = c - S.c;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise ulimit -n)", strerror(errno));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    src.sin_addr.s_addr = htonl(ntohl(S.src_base.s_addr) + (uint32_t)(i % S.nsrc));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
        die("bind %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
    inet_pton(AF_INET, S.host, &dst.sin_addr);
    dst.sin_port = htons((uint16_t)S.ports[i % S.nports]);
    c->fd = fd;
    c->state = S_CONNECTING;
    c->wanted_out = true;
    ep_set(fd, EPOLLIN | EPOLLOUT, c, true);
    S.connecting++;
    S.pending++;
    S.opened++;
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS) {
        fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
        sc_close(c, true);
    }
}

static void sc_close(struct sconn *c, bool error)
{
    if (c->fd < 0)
        return;
    if (c->state == S_CONNECTING)
        S.connecting--;
    if (c->held)
        S.held--;
    if (c->ready)
        S.ready--;
    else
        S.pending--;
    close(c->fd);
    c->fd = -1;
    c->held = c->ready = false;
    c->state = S_IDLE;
    c->m = c->e = c->cmat = 0;
    c->ws_mode = false;
    hresp_reset(&c->r);
    free(c->out);
    c->out = NULL;
    if (error)
        S.errors++;
    else
        S.closes++;
    c->retry_at_ms = mono_ms() + 1000 + rand() % 2000; /* no reconnect storms */
    S.reconnects++;
}

/* A long-poll answer is complete: remember cursors, ask again. */
static void poll_done(struct sconn *c)
{
    if (S.kind == K_NCHAN && c->r.hdr) {
        char h[512] = "";
        const char *v;
        size_t vl;
        int k = 0;

        if ((v = hdr_find(c->r.hdr, "Last-Modified", &vl)) && vl < 200)
            k += snprintf(h + k, sizeof(h) - (size_t)k, "If-Modified-Since: %.*s\r\n", (int)vl, v);
        if ((v = hdr_find(c->r.hdr, "Etag", &vl)) && vl < 200)
            k += snprintf(h + k, sizeof(h) - (size_t)k, "If-None-Match: %.*s\r\n", (int)vl, v);
        if (k) {
            free(c->cursor);
            c->cursor = strdup(h);
        }
    }
    if (c->r.status == 200 || c->r.status == 304 || c->r.status == 408)
        mark_ready(c);
    bool ka = c->r.keepalive;

    hresp_reset(&c->r);
    if (!ka) {
        sc_close(c, false);
        c->retry_at_ms = 0; /* at once */
        return;
    }
    build_request(c);
    c->state = S_HEADERS;
    sc_flush(c);
}

/* WebSocket frames (server to client: unmasked). */
static void ws_feed(struct sconn *c, const char *d, size_t n)
{
    size_t i = 0;

    while (i < n && c->fd >= 0) {
        if (c->ws_need) { /* header bytes */
            c->ws_hdr[c->ws_hlen++] = (uint8_t)d[i++];
            if (c->ws_hlen == 2) {
                unsigned len7 = c->ws_hdr[1] & 0x7f;

                c->ws_need = (uint8_t)(2 +
                                       (len7 == 126   ? 2
                                        : len7 == 127 ? 8
                                                      : 0) +
                                       ((c->ws_hdr[1] & 0x80) ? 4 : 0));
            }
            if (c->ws_hlen >= 2 && c->ws_hlen == c->ws_need) {
                unsigned len7 = c->ws_hdr[1] & 0x7f, op = c->ws_hdr[0] & 0x0f, k;

                if (len7 < 126) {
                    c->ws_left = len7;
                } else {
                    unsigned nb = len7 == 126 ? 2 : 8;

                    c->ws_left = 0;
                    for (k = 0; k < nb; k++)
                        c->ws_left = (c->ws_left << 8) | c->ws_hdr[2 + k];
                }
                if (op != 0)
                    c->ws_op = (uint8_t)op;
                c->ws_need = 0;
                c->ws_hlen = 0;
                if (op == 8) {
                    sc_close(c, false);
                    return;
                }
                if (!c->ready && (op == 1 || op == 2 || op == 0))
                    mark_ready(c);
                if (!c->ws_left)
                    c->ws_need = 2;
            }
            continue;
        }
        size_t k = n - i < c->ws_left ? n - i : (size_t)c->ws_left;

        if (c->ws_op == 9) { /* ping: pong with the same (short) payload */
            char f[2 + 4 + 125];
            size_t j, pl = k <= 125 ? k : 125;

            f[0] = (char)0x8a;
            f[1] = (char)(0x80 | pl);
            memset(f + 2, 0, 4); /* zero mask */
            for (j = 0; j < pl; j++)
                f[6 + j] = d[i + j];
            sc_queue(c, f, 6 + pl);
        } else if (c->ws_op == 1 || c->ws_op == 2) {
            ws_payload(c, d + i, k);
        }
        S.bytes += k;
        i += k;
        c->ws_left -= k;
        if (!c->ws_left)
            c->ws_need = 2;
    }
}

static void sc_read(struct sconn *c)
{
    for (;;) {
        ssize_t r = read(c->fd, rbuf, RBUF);
        size_t off = 0;

        if (r == 0) {
            sc_close(c, c->state != S_BODY || S.tr != T_SSE);
            return;
        }
        if (r < 0) {
            if (errno != EAGAIN)
                sc_close(c, true);
            return;
        }
        while (off < (size_t)r && c->fd >= 0) {
            if (c->state == S_HEADERS) {
                long k = hresp_headers(&c->r, rbuf + off, (size_t)r - off);

                if (k < 0) {
                    sc_close(c, true);
                    return;
                }
                off += (size_t)k;
                if (!c->r.in_body)
                    continue;
                S.status_seen[c->r.status / 100 < 6 ? c->r.status / 100 : 0]++;
                if ((S.tr == T_WS && c->r.status != 101) ||
                    (S.tr != T_WS && c->r.status != 200 && c->r.status != 304 &&
                     c->r.status != 408)) {
                    if (S.status_seen[c->r.status / 100 < 6 ? c->r.status / 100 : 0] < 4)
                        fprintf(stderr, "loadgen: status %d: %.200s\n", c->r.status, c->r.hdr);
                    sc_close(c, true);
                    return;
                }
                if (!c->held) {
                    c->held = true;
                    S.held++;
                }
                c->state = S_BODY;
                if (S.tr == T_WS) {
                    c->ws_mode = true;
                    c->ws_need = 2;
                    c->ws_hlen = 0;
                    if (S.kind == K_NCHAN)
                        mark_ready(c);
                } else if (S.tr == T_SSE && S.kind == K_NCHAN) {
                    mark_ready(c);
                }
                if (S.tr == T_POLL && c->r.mode == B_NONE) {
                    poll_done(c);
                    continue;
                }
            } else if (c->state == S_BODY) {
                if (c->ws_mode) {
                    ws_feed(c, rbuf + off, (size_t)r - off);
                    off = (size_t)r;
                } else {
                    bool done;

                    off += hresp_body(&c->r, rbuf + off, (size_t)r - off, body_bytes, c, &done);
                    if (done) {
                        if (S.tr == T_POLL) {
                            poll_done(c);
                        } else {
                            sc_close(c, false);
                            return;
                        }
                    }
                }
            } else {
                off = (size_t)r;
            }
        }
        if (c->fd < 0 || r < RBUF)
            return;
    }
}

static void sc_event(struct sconn *c, uint32_t ev)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof(err);

        if ((ev & (EPOLLERR | EPOLLHUP)) || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) ||
            err) {
            sc_close(c, true);
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        S.connecting--;
        c->state = S_HEADERS;
        build_request(c);
        sc_flush(c);
        return;
    }
    if (ev & EPOLLOUT)
        sc_flush(c);
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        sc_read(c);
}

static void sub_summary(double secs)
{
    printf("SUMMARY secs=%.3f conns=%ld held=%ld ready=%ld deliveries=%" PRIu64 " rate=%.0f "
           "L_n=%" PRIu64 " L_p50=%.3f L_p99=%.3f L_p999=%.3f L_max=%.3f L_mean=%.3f "
           "P_n=%" PRIu64 " P_p50=%.3f P_p99=%.3f P_p999=%.3f P_max=%.3f errors=%ld closes=%ld\n",
           secs, S.n, S.held, S.ready, S.deliv[0] + S.deliv[1],
           secs > 0 ? (double)(S.deliv[0] + S.deliv[1]) / secs : 0.0, S.h[0].n,
           hist_pct(&S.h[0], 0.5), hist_pct(&S.h[0], 0.99), hist_pct(&S.h[0], 0.999),
           (double)S.h[0].max_us / 1000.0, S.h[0].n ? S.h[0].sum_us / (double)S.h[0].n / 1000 : 0.0,
           S.h[1].n, hist_pct(&S.h[1], 0.5), hist_pct(&S.h[1], 0.99), hist_pct(&S.h[1], 0.999),
           (double)S.h[1].max_us / 1000.0, S.errors, S.closes);
    fflush(stdout);
}

static int sub_main(int argc, char **argv)
{
    int o, interval = 1000;
    long off = 0, i;
    const char *file = NULL, *ports = NULL, *src = "127.0.0.2";
    struct epoll_event evs[1024];
    int64_t last_stat, start;
    uint64_t last_deliv = 0;

    S.host = "127.0.0.1";
    S.nsrc = 8;
    S.open_rate = 4000;
    S.max_pending = 256;
    S.prefix = NULL;
    while ((o = getopt(argc, argv, "k:t:p:f:n:o:H:b:B:c:i:x:P:")) != -1) {
        switch (o) {
        case 'k': S.kind = strcmp(optarg, "nchan") == 0 ? K_NCHAN : K_CHAT; break;
        case 't':
            S.tr = strcmp(optarg, "poll") == 0 ? T_POLL : strcmp(optarg, "ws") == 0 ? T_WS : T_SSE;
            break;
        case 'p': ports = optarg; break;
        case 'f': file = optarg; break;
        case 'n': S.n = atol(optarg); break;
        case 'o': off = atol(optarg); break;
        case 'H': S.host = optarg; break;
        case 'b': src = optarg; break;
        case 'B': S.nsrc = atoi(optarg); break;
        case 'c': S.open_rate = atof(optarg); break;
        case 'i': interval = atoi(optarg); break;
        case 'x': S.prefix = optarg; break;
        case 'P': S.max_pending = atol(optarg); break;
        default: return 2;
        }
    }
    if (!file || !ports)
        die("sub needs -f FILE and -p PORT");
    if (!S.prefix)
        S.prefix = S.kind == K_CHAT ? "/api/v1/" : "/sub/";
    if (inet_pton(AF_INET, src, &S.src_base) != 1)
        die("bad -b %s", src);
    S.nports = parse_ports(ports, S.ports);
    S.t = read_targets(file, off, &S.n);
    S.c = calloc((size_t)S.n, sizeof(*S.c));
    for (i = 0; i < S.n; i++) {
        S.c[i].fd = -1;
        S.c[i].idx = (uint32_t)i;
        S.c[i].retry_at_ms = -1; /* opened in order by next_open first */
    }
    start = last_stat = mono_ms();
    S.win_start_ms = start;
    while (!sig_stop) {
        int n, k;
        int64_t now = mono_ms();
        long budget;

        /* Open new connections at the configured rate. */
        budget = (long)((double)(now - start) * S.open_rate / 1000.0) + 1 - S.next_open;
        while (budget-- > 0 && S.next_open < S.n && S.pending < S.max_pending)
            sc_open(&S.c[S.next_open++]);
        /* Reconnect closed ones (cheap scan once a stats interval is enough
         * for long-lived streams; long-poll reconnects immediately below). */
        n = epoll_wait(epfd, evs, 1024, 5);
        for (k = 0; k < n; k++)
            sc_event(evs[k].data.ptr, evs[k].events);
        now = mono_ms();
        if (sig_usr1) {
            sig_usr1 = 0;
            memset(S.h, 0, sizeof(S.h));
            S.deliv[0] = S.deliv[1] = 0;
            S.errors = S.closes = 0;
            S.win_start_ms = now;
        }
        if (sig_usr2) {
            sig_usr2 = 0;
            sub_summary((double)(now - S.win_start_ms) / 1000.0);
        }
        if (now - last_stat >= interval) {
            long reopen = 0;

            for (i = 0; i < S.next_open; i++) {
                struct sconn *c = &S.c[i];

                if (c->fd < 0 && c->retry_at_ms >= 0 && c->retry_at_ms <= now &&
                    S.pending < S.max_pending) {
                    sc_open(c);
                    reopen++;
                }
            }
            printf(
                "STAT t=%.1f conns=%ld pending=%ld connecting=%ld held=%ld ready=%ld deliv/s=%.0f "
                "total=%" PRIu64 " errors=%ld closes=%ld reopen=%ld\n",
                (double)(now - start) / 1000.0, S.n, S.pending, S.connecting, S.held, S.ready,
                (double)(S.deliv_total - last_deliv) * 1000.0 / (double)(now - last_stat),
                S.deliv_total, S.errors, S.closes, reopen);
            fflush(stdout);
            last_deliv = S.deliv_total;
            last_stat = now;
        }
    }
    sub_summary((double)(mono_ms() - S.win_start_ms) / 1000.0);
    return 0;
}

/* ================= pub ================= */

enum pkind { P_REDIS, P_NCHAN, P_API };

struct pconn {
    int fd;
    long outstanding;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in; /* redis: partial line carry */
    struct hresp r;
    bool wanted_out;
};

static struct {
    enum pkind kind;
    const char *host, *prefix;
    int port;
    struct target *t;
    long n;
    struct pconn *c;
    int nc;
    long window;
    double rate;
    int size;
    char mclass;
    uint64_t sent, acked, errs;
    long next;
    char pad[70000];
    int errs_shown;
    uint64_t seqno;
} PB;

static void pc_want_out(struct pconn *c, bool on)
{
    if (c->wanted_out == on)
        return;
    c->wanted_out = on;
    ep_set(c->fd, EPOLLIN | (on ? EPOLLOUT : 0), c, false);
}

static void pc_flush(struct pconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

        if (w < 0) {
            if (errno == EAGAIN) {
                pc_want_out(c, true);
                return;
            }
            die("publisher write: %s", strerror(errno));
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    pc_want_out(c, false);
}

static void pc_add(struct pconn *c, const char *d, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        while (c->out_len + n > c->out_cap)
            c->out_cap = c->out_cap ? c->out_cap * 2 : 65536;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("out of memory");
    }
    memcpy(c->out + c->out_len, d, n);
    c->out_len += n;
}

/* The event JSON of message.created as chat-api publishes it (field order of
 * message_json), content "ts<C>=<ns> " padded so the JSON is PB.size bytes. */
static int event_json(char *buf, size_t cap, struct target *t, int64_t ts)
{
    char head[512], tail[256];
    int hl, tl, pad;
    int64_t v = ++t->version;

    hl = snprintf(head, sizeof(head),
                  "{\"type\":\"message.created\",\"chat_id\":%" PRId64 ",\"version\":%" PRId64
                  ",\"message\":{\"id\":%" PRIu64 ",\"chat_id\":%" PRId64 ",\"seq\":%" PRId64
                  ",\"version\":%" PRId64 ",\"sender_id\":1,\"content\":\"ts%c=%019" PRId64 " ",
                  t->id, v, ++PB.seqno, t->id, v - 1, v, PB.mclass, ts);
    tl = snprintf(tail, sizeof(tail),
                  "\",\"created_at\":\"2026-01-01T00:00:00.000Z\",\"edited_at\":null,"
                  "\"deleted\":false,\"reply_to_seq\":null,\"client_msg_id\":null}}");
    pad = PB.size - hl - tl;
    if (pad < 0)
        pad = 0;
    if ((size_t)(hl + pad + tl) >= cap)
        die("message too big");
    memcpy(buf, head, (size_t)hl);
    memcpy(buf + hl, PB.pad, (size_t)pad);
    memcpy(buf + hl + pad, tail, (size_t)tl);
    return hl + pad + tl;
}

static void pub_one(long ti, struct pconn *c)
{
    static char body[70000], req[72000];
    struct target *t = &PB.t[ti];
    int64_t ts = real_ns();
    int bl, rl;
    char ch[64];
    int chl;

    switch (PB.kind) {
    case P_REDIS:
        bl = event_json(body, sizeof(body), t, ts);
        chl = snprintf(ch, sizeof(ch), "{chat:%" PRId64 "}", t->id); /* lib/keys.h */
        rl =
            snprintf(req, sizeof(req), "*3\r\n$8\r\nSPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n", chl, ch, bl);
        pc_add(c, req, (size_t)rl);
        pc_add(c, body, (size_t)bl);
        pc_add(c, "\r\n", 2);
        break;
    case P_NCHAN:
        bl = event_json(body, sizeof(body), t, ts);
        rl = snprintf(req, sizeof(req),
                      "POST %s?id=%" PRId64 " HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
                      "Accept: text/json\r\nContent-Length: %d\r\n\r\n",
                      PB.prefix, t->id, PB.host, bl);
        pc_add(c, req, (size_t)rl);
        pc_add(c, body, (size_t)bl);
        break;
    case P_API: {
        /* content only: the server builds the rest of the event */
        int pad = PB.size;

        bl = snprintf(body, sizeof(body), "{\"content\":\"ts%c=%019" PRId64 " %.*s\"}", PB.mclass,
                      ts, pad, PB.pad);
        rl = snprintf(req, sizeof(req),
                      "POST %schats/%" PRId64 "/messages HTTP/1.1\r\nHost: %s\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n",
                      PB.prefix, t->id, PB.host, t->token ? t->token : "", bl);
        pc_add(c, req, (size_t)rl);
        pc_add(c, body, (size_t)bl);
        break;
    }
    }
    c->outstanding++;
    PB.sent++;
}

static void pub_http_body(void *ctx, const char *d, size_t n)
{
    (void)ctx;
    (void)d;
    (void)n;
}

static void pc_read(struct pconn *c)
{
    static char buf[RBUF];

    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        size_t off = 0;

        if (r == 0)
            die("publisher: server closed the connection (%" PRIu64 " acked)", PB.acked);
        if (r < 0) {
            if (errno == EAGAIN)
                return;
            die("publisher read: %s", strerror(errno));
        }
        if (PB.kind == P_REDIS) {
            ssize_t k;

            for (k = 0; k < r; k++) {
                char ch = buf[k];

                /* replies are ":<n>\r\n" or "-ERR ...\r\n": count lines */
                if (!c->in)
                    c->in = (char *)1; /* at line start */
                if (c->in == (char *)1) {
                    if (ch == '-') {
                        PB.errs++;
                        if (PB.errs_shown++ < 3)
                            fprintf(stderr, "loadgen: redis error reply\n");
                    } else {
                        PB.acked++;
                    }
                    c->outstanding--;
                    c->in = (char *)2;
                }
                if (ch == '\n')
                    c->in = (char *)1;
            }
            continue;
        }
        while (off < (size_t)r) {
            if (!c->r.in_body) {
                long k = hresp_headers(&c->r, buf + off, (size_t)r - off);

                if (k < 0)
                    die("publisher: bad response");
                off += (size_t)k;
                if (!c->r.in_body)
                    continue;
            }
            bool done;

            off += hresp_body(&c->r, buf + off, (size_t)r - off, pub_http_body, c, &done);
            if (done || c->r.mode == B_NONE) {
                if (c->r.status >= 200 && c->r.status < 300) {
                    PB.acked++;
                } else {
                    PB.errs++;
                    if (PB.errs_shown++ < 3)
                        fprintf(stderr, "loadgen: publish answered %d: %.300s\n", c->r.status,
                                c->r.hdr);
                }
                c->outstanding--;
                hresp_reset(&c->r);
            }
        }
        if (r < (ssize_t)sizeof(buf))
            return;
    }
}

/* Redis runs with requirepass: AUTH with $REDISCLI_AUTH (as redis-cli
 * takes it, never on argv) on the still blocking socket fd. */
static void redis_auth(int fd)
{
    const char *pw = getenv("REDISCLI_AUTH");
    char req[1200], rep[256];
    size_t got = 0;
    int n;

    if (!pw || !*pw)
        return;
    n = snprintf(req, sizeof(req), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n", strlen(pw), pw);
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n)
        die("publisher: cannot send AUTH");
    while (got < sizeof(rep) - 1 && (got == 0 || rep[got - 1] != '\n')) {
        ssize_t r = read(fd, rep + got, sizeof(rep) - 1 - got);

        if (r <= 0)
            die("publisher: no answer to AUTH");
        got += (size_t)r;
    }
    rep[got] = '\0';
    if (strncmp(rep, "+OK", 3) != 0)
        die("publisher: AUTH refused: %s", rep);
}

static int pub_main(int argc, char **argv)
{
    int o, i;
    const char *file = NULL, *vfile = NULL;
    double secs = 10;
    struct epoll_event evs[256];
    int64_t start, now, end;
    bool by_chat;

    PB.host = "127.0.0.1";
    PB.nc = 4;
    PB.window = 64;
    PB.size = 512;
    PB.mclass = 'L';
    while ((o = getopt(argc, argv, "k:p:f:n:r:d:C:w:s:m:H:x:V:")) != -1) {
        switch (o) {
        case 'k':
            PB.kind = strcmp(optarg, "redis") == 0   ? P_REDIS
                      : strcmp(optarg, "nchan") == 0 ? P_NCHAN
                                                     : P_API;
            break;
        case 'p': PB.port = atoi(optarg); break;
        case 'f': file = optarg; break;
        case 'n': PB.n = atol(optarg); break;
        case 'r': PB.rate = atof(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'C': PB.nc = atoi(optarg); break;
        case 'w': PB.window = atol(optarg); break;
        case 's': PB.size = atoi(optarg); break;
        case 'm': PB.mclass = optarg[0]; break;
        case 'H': PB.host = optarg; break;
        case 'x': PB.prefix = optarg; break;
        case 'V': vfile = optarg; break;
        default: return 2;
        }
    }
    if (!file || !PB.port)
        die("pub needs -f FILE and -p PORT");
    if (!PB.prefix)
        PB.prefix = PB.kind == P_NCHAN ? "/pub" : "/api/v1/";
    if (PB.size > 60000)
        die("-s too big");
    memset(PB.pad, 'x', sizeof(PB.pad));
    PB.t = read_targets(file, 0, &PB.n);
    if (PB.nc < 1)
        PB.nc = 1;
    /* Versions per chat start after the chat's current one: 1 (created). */
    for (i = 0; i < PB.n; i++)
        PB.t[i].version = 1;
    if (vfile) { /* versions where the last run on these chats stopped */
        FILE *f = fopen(vfile, "r");
        long long id, v;

        for (i = 0; f && i < PB.n && fscanf(f, "%lld %lld", &id, &v) == 2; i++)
            if (PB.t[i].id == id)
                PB.t[i].version = v;
        if (f)
            fclose(f);
    }
    PB.c = calloc((size_t)PB.nc, sizeof(*PB.c));
    for (i = 0; i < PB.nc; i++) {
        struct sockaddr_in dst = {.sin_family = AF_INET};
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        inet_pton(AF_INET, PB.host, &dst.sin_addr);
        dst.sin_port = htons((uint16_t)PB.port);
        if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)))
            die("publisher connect to %d: %s", PB.port, strerror(errno));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (PB.kind == P_REDIS)
            redis_auth(fd);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        PB.c[i].fd = fd;
        ep_set(fd, EPOLLIN, &PB.c[i], true);
    }
    /* Redis: one chat always on the same connection (versions stay in order). */
    by_chat = PB.kind == P_REDIS;
    start = mono_ms();
    end = start + (int64_t)(secs * 1000);
    while (!sig_stop && (now = mono_ms()) < end) {
        double elapsed = (double)(now - start) / 1000.0;
        uint64_t due = PB.rate > 0 ? (uint64_t)(elapsed * PB.rate) + 1 : UINT64_MAX;
        int n, k, spins = 0;
        bool progress = true;

        while (PB.sent < due && progress) {
            progress = false;
            for (k = 0; k < PB.nc && PB.sent < due; k++) {
                long ti = PB.next % PB.n;
                struct pconn *c = by_chat ? &PB.c[ti % PB.nc] : &PB.c[(PB.next / 1) % PB.nc];

                if (c->outstanding >= PB.window)
                    continue;
                pub_one(ti, c);
                PB.next++;
                progress = true;
            }
            if (++spins > 64)
                break;
        }
        for (i = 0; i < PB.nc; i++)
            if (PB.c[i].out_len)
                pc_flush(&PB.c[i]);
        n = epoll_wait(epfd, evs, 256, 1);
        for (k = 0; k < n; k++) {
            struct pconn *c = evs[k].data.ptr;

            if (evs[k].events & EPOLLOUT)
                pc_flush(c);
            if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                pc_read(c);
        }
    }
    /* Drain the answers (up to 2 s). */
    end = mono_ms() + 2000;
    while (PB.acked + PB.errs < PB.sent && mono_ms() < end) {
        int n = epoll_wait(epfd, evs, 256, 10), k;

        for (k = 0; k < n; k++) {
            struct pconn *c = evs[k].data.ptr;

            if (evs[k].events & EPOLLOUT)
                pc_flush(c);
            if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                pc_read(c);
        }
    }
    now = mono_ms();
    if (vfile) {
        FILE *f = fopen(vfile, "w");

        for (i = 0; f && i < PB.n; i++)
            fprintf(f, "%" PRId64 " %" PRId64 "\n", PB.t[i].id, PB.t[i].version);
        if (f)
            fclose(f);
    }
    {
        double s = (double)(now - start) / 1000.0;

        printf("PUB sent=%" PRIu64 " acked=%" PRIu64 " errors=%" PRIu64 " secs=%.3f rate=%.0f\n",
               PB.sent, PB.acked, PB.errs, s, s > 0 ? (double)PB.acked / s : 0.0);
    }
    return PB.errs ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_sig};

    if (argc < 2)
        die("usage: loadgen sub|pub ... (see the comment at the top of loadgen.c)");
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    rbuf = malloc(RBUF);
    if (epfd < 0 || !rbuf)
        die("setup failed");
    if (strcmp(argv[1], "sub") == 0)
        return sub_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "pub") == 0)
        return pub_main(argc - 1, argv + 1);
    die("unknown mode %s", argv[1]);
    return 2;
}
