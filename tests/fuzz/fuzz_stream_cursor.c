/* fuzz_stream_cursor.c - libFuzzer target: the stream cursor (?cursor= and
 * Last-Event-ID; API.md "Streams"), parsed by hub_stream_resume (sse/hub.h).
 *
 * One hub holds one live, lingering stream of user 1 with four events
 * sent. Input: a cursor, tried for user 1 and for user 2; an input that
 * starts with '@' has it replaced by the stream's own "<epoch>.<id>.<secret>"
 * (64 random bits no fuzzer guesses), so the seq part and the paths of a
 * good cursor are explored too. Checked beyond
 * "no crash, no sanitizer report": a resume succeeds only for user 1 and
 * only for a cursor that names this stream and an event it handed out:
 * the input equals hub_cursor_format's cursor of that event up to the case
 * of hex digits and leading zeros.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sse/hub.h"
#include "../../sse/sub.h"

static int sub_cmd(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    return 0;
}

static void baseline(void *ctx, struct hub_stream *s)
{
}

static int fetch(void *ctx, int64_t chat_id, int64_t since)
{
    return -1;
}

static const struct hub_ops ops = {sub_cmd, sub_cmd, baseline, fetch};

static void wake(struct hub_stream *s)
{
}

static void kick(struct hub_stream *s, enum hub_kick why)
{
}

static const struct sub_ops sub = {.name = "fuzz", .wake = wake, .kick = kick};

static struct hub H;
static struct hub_stream *S;

/* The cursor with hex digits in lower case and each part's leading zeros
 * dropped (strtoull reads both). */
static void normalize(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool lead = true;

    for (; *in && o + 1 < cap; in++) {
        if (*in == '.') {
            if (lead && o + 1 < cap)
                out[o++] = '0';
            out[o++] = '.';
            lead = true;
            continue;
        }
        if (lead && *in == '0')
            continue;
        lead = false;
        out[o++] = (char)tolower((unsigned char)*in);
    }
    if (lead && o + 1 < cap)
        out[o++] = '0';
    out[o] = '\0';
}

static void setup(void)
{
    char ev[128];
    uint64_t seq;
    int v;

    hub_init(&H, &ops, NULL, 0x6b000000);
    hub_redis_up(&H);
    S = hub_stream_open(&H, &sub, NULL, 1, 5, 1000);
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    hub_stream_baseline_add(S, 10, 1);
    hub_stream_baseline_done(S);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 10);
    for (v = 2; v <= 4; v++) {
        snprintf(ev, sizeof(ev), "{\"type\":\"message.created\",\"chat_id\":10,\"version\":%d}", v);
        hub_on_message(&H, HUB_CHAN_CHAT, 10, ev, strlen(ev));
    }
    while (hub_stream_next(S, &seq))
        hub_stream_sent(S, 1000);
    hub_stream_detach(S, 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *cursor, want[HUB_CURSOR_MAX], a[256], b[256];
    struct hub_stream *s;
    size_t n;

    if (!S)
        setup();
    if (size && data[0] == '@') {
        n = (size_t)hub_cursor_format(S, 0, want);
        while (n && want[n - 1] != '.') /* keep "<epoch>.<id>.<secret>." */
            n--;
        cursor = malloc(n + size);
        if (!cursor)
            return 0;
        memcpy(cursor, want, n);
        memcpy(cursor + n, data + 1, size - 1);
        cursor[n + size - 1] = '\0';
    } else {
        cursor = strndup((const char *)data, size);
    }
    if (!cursor)
        return 0;
    if (hub_stream_resume(&H, cursor, 2, 0, &sub, NULL, 1000))
        abort(); /* another user's stream */
    s = hub_stream_resume(&H, cursor, 1, 0, &sub, NULL, 1000);
    if (s) {
        if (s != S || s->next_seq == 0)
            abort();
        hub_cursor_format(s, s->next_seq - 1, want);
        normalize(cursor, a, sizeof(a));
        normalize(want, b, sizeof(b));
        if (strcmp(a, b))
            abort();
        hub_stream_detach(s, 1000);
    }
    free(cursor);
    return 0;
}
