/* test_hub.c - chat-push's hub: subscriptions, continuity and fan-out rules.
 *
 * The hub does no I/O, so these tests stand in for Redis (the hub_ops
 * hooks record SUBSCRIBE/UNSUBSCRIBE) and for the transport (sub_ops count
 * wakes and kicks), then feed it replies and messages as Redis would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../sse/hub.c"
#include "../../sse/hub_event.c"
#include "../../sse/hub_order.c"
#include "../../sse/hub_stream.c"

/* ---- fakes ---- */

#define MAX_CMDS 1024

static struct {
    char cmds[MAX_CMDS][48]; /* "SUBSCRIBE chat:10" ... */
    int ncmds;
    struct hub_stream *baseline[64];
    int nbaseline;
    int gaps;               /* fetches asked for */
    int64_t gap_chat, gap_have;
    bool fetch_fails;
    bool redis_down; /* subscribe hooks fail */
} F;

static int fake_cmd(const char *verb, enum hub_chan_kind kind, int64_t id)
{
    if (F.redis_down)
        return -1;
    assert_true(F.ncmds < MAX_CMDS);
    snprintf(F.cmds[F.ncmds++], sizeof(F.cmds[0]), "%s %s:%" PRId64, verb,
             kind == HUB_CHAN_USER ? "user" : "chat", id);
    return 0;
}

static int fake_subscribe(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    return fake_cmd("SUBSCRIBE", kind, id);
}

static int fake_unsubscribe(void *ctx, enum hub_chan_kind kind, int64_t id)
{
    return fake_cmd("UNSUBSCRIBE", kind, id);
}

static void fake_baseline(void *ctx, struct hub_stream *s)
{
    F.baseline[F.nbaseline++] = s;
}

static int fake_fetch(void *ctx, int64_t chat_id, int64_t since)
{
    F.gaps++;
    F.gap_chat = chat_id;
    F.gap_have = since;
    return F.fetch_fails ? -1 : 0;
}

static const struct hub_ops fake_ops = {fake_subscribe, fake_unsubscribe, fake_baseline,
                                        fake_fetch};

struct fake_sub {
    struct hub_stream *s; /* NULL once the hub took it away */
    int wakes, kicks;
    enum hub_kick why;
};

static void fs_wake(struct hub_stream *s)
{
    ((struct fake_sub *)s->sub)->wakes++;
}

static void fs_kick(struct hub_stream *s, enum hub_kick why)
{
    struct fake_sub *fs = s->sub;

    fs->kicks++;
    fs->why = why;
    fs->s = NULL;
}

static const struct sub_ops fake_sub_ops = {.name = "fake", .wake = fs_wake, .kick = fs_kick};

static struct hub H;

static int setup(void **state)
{
    memset(&F, 0, sizeof(F));
    hub_init(&H, &fake_ops, NULL, 0x6b000000);
    hub_redis_up(&H);
    return 0;
}

static int teardown(void **state)
{
    hub_release(&H);
    return 0;
}

static bool sent(const char *cmd)
{
    int i;

    for (i = 0; i < F.ncmds; i++)
        if (strcmp(F.cmds[i], cmd) == 0)
            return true;
    return false;
}

static int count_sent(const char *cmd)
{
    int i, n = 0;

    for (i = 0; i < F.ncmds; i++)
        n += strcmp(F.cmds[i], cmd) == 0;
    return n;
}

static void pub(enum hub_chan_kind kind, int64_t id, const char *json)
{
    hub_on_message(&H, kind, id, json, strlen(json));
}

static void bf(int64_t chat_id, const char *json)
{
    hub_backfill_event(&H, chat_id, json, strlen(json));
}

/* The type and version of the next event to send, marked sent. */
static const char *pop(struct hub_stream *s, int64_t *version)
{
    static char type[80];
    struct hub_event *ev = hub_stream_next(s, NULL);

    if (!ev)
        return NULL;
    memcpy(type, ev->text + ev->type_off, ev->type_len);
    type[ev->type_len] = 0;
    if (version)
        *version = ev->version;
    hub_stream_sent(s, H.now);
    return type;
}

static void fs_open(struct fake_sub *fs, int64_t user_id)
{
    memset(fs, 0, sizeof(*fs));
    fs->s = hub_stream_open(&H, &fake_sub_ops, fs, user_id, 0, 1000);
}

/* Open a stream for user_id with chats {id, version}... and bring it live. */
static void open_live(struct fake_sub *fs, int64_t user_id, const int64_t (*chats)[2], int n)
{
    int i;

    fs_open(fs, user_id);
    hub_on_subscribed(&H, HUB_CHAN_USER, user_id);
    assert_int_equal(fs->s->state, HUB_S_BASELINE);
    for (i = 0; i < n; i++)
        hub_stream_baseline_add(fs->s, chats[i][0], chats[i][1]);
    hub_stream_baseline_done(fs->s);
    for (i = 0; i < n; i++)
        hub_on_subscribed(&H, HUB_CHAN_CHAT, chats[i][0]);
    assert_int_equal(fs->s->state, HUB_S_LIVE);
    assert_string_equal(pop(fs->s, NULL), "resync");
}

/* ---- tests ---- */

static void test_resync_only_after_every_subscribe_reply(void **state)
{
    struct fake_sub fs;

    fs_open(&fs, 1);
    fs.s->session_id = 7;
    assert_true(sent("SUBSCRIBE user:1"));
    assert_int_equal(F.nbaseline, 0); /* baseline waits for user:1 */
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    assert_int_equal(F.nbaseline, 1);
    assert_ptr_equal(F.baseline[0], fs.s);
    hub_stream_baseline_add(fs.s, 10, 5);
    hub_stream_baseline_add(fs.s, 11, 2);
    hub_stream_baseline_done(fs.s);
    assert_true(sent("SUBSCRIBE chat:10"));
    assert_true(sent("SUBSCRIBE chat:11"));
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 10);
    assert_null(hub_stream_next(fs.s, NULL));
    assert_int_equal(fs.s->state, HUB_S_CHATS);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 11);
    assert_int_equal(fs.s->state, HUB_S_LIVE);
    assert_string_equal(pop(fs.s, NULL), "resync");
    assert_true(fs.wakes > 0);
    hub_stream_close(fs.s);
}

static void test_events_before_resync_are_not_queued(void **state)
{
    struct fake_sub fs;
    int64_t v;

    fs_open(&fs, 1);
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    hub_stream_baseline_add(fs.s, 10, 5);
    hub_stream_baseline_done(fs.s);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 10);
    /* live now; an event at 6 follows resync */
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":6}");
    assert_string_equal(pop(fs.s, NULL), "resync");
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 6);
    hub_stream_close(fs.s);
}

static void test_versions_dedupe_and_order(void **state)
{
    static const int64_t chats[][2] = {{10, 5}};
    struct fake_sub fs;
    int64_t v;

    open_live(&fs, 1, chats, 1);
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":5}");
    assert_null(pop(fs.s, NULL)); /* at the baseline: already covered */
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":6}");
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":6}");
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.updated\",\"chat_id\":10,\"version\":4}");
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 6);
    assert_null(pop(fs.s, NULL));
    assert_int_equal(F.gaps, 0);
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":9}");
    assert_int_equal(F.gaps, 1);
    assert_int_equal(F.gap_have, 6);
    assert_null(pop(fs.s, NULL)); /* held while 7 and 8 are fetched */
    bf(10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":7}");
    bf(10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":8}");
    hub_backfill_done(&H, 10, true, false);
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 7);
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 8);
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 9);
    /* an event naming another chat than its channel is dropped */
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":11,\"version\":10}");
    assert_null(pop(fs.s, NULL));
    /* ephemeral events carry no version and always go out */
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"typing\",\"chat_id\":10,\"user_id\":3}");
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"typing\",\"chat_id\":10,\"user_id\":3}");
    assert_string_equal(pop(fs.s, NULL), "typing");
    assert_string_equal(pop(fs.s, NULL), "typing");
    hub_stream_close(fs.s);
}

static const char *msg_json(int64_t chat, int64_t v)
{
    static char buf[128];

    snprintf(buf, sizeof(buf),
             "{\"type\":\"message.created\",\"chat_id\":%" PRId64 ",\"version\":%" PRId64 "}",
             chat, v);
    return buf;
}

/* DESIGN.md continuity 2: a failed fetch ends in resync {chat_id}, then the
 * held events in order. */
static void test_failed_fetch_resyncs_the_chat(void **state)
{
    static const int64_t chats[][2] = {{10, 2}};
    struct fake_sub fs;
    int64_t v;

    open_live(&fs, 1, chats, 1);
    pub(HUB_CHAN_CHAT, 10, msg_json(10, 5));
    pub(HUB_CHAN_CHAT, 10, msg_json(10, 4));
    assert_null(pop(fs.s, NULL));
    hub_backfill_done(&H, 10, false, false);
    assert_string_equal(pop(fs.s, NULL), "resync");
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 4);
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 5);
    assert_null(pop(fs.s, NULL));
    /* and a fetch that cannot even start resyncs at once */
    F.fetch_fails = true;
    pub(HUB_CHAN_CHAT, 10, msg_json(10, 7));
    assert_string_equal(pop(fs.s, NULL), "resync");
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 7);
    hub_stream_close(fs.s);
}

/* Held events wait at most HUB_HOLD_S seconds. */
static void test_gap_held_too_long_resyncs(void **state)
{
    static const int64_t chats[][2] = {{10, 2}};
    struct fake_sub fs;
    int64_t v;

    open_live(&fs, 1, chats, 1);
    hub_tick(&H, 1000);
    pub(HUB_CHAN_CHAT, 10, msg_json(10, 4));
    hub_tick(&H, 1000 + HUB_HOLD_S - 1);
    assert_null(pop(fs.s, NULL));
    hub_tick(&H, 1000 + HUB_HOLD_S);
    assert_string_equal(pop(fs.s, NULL), "resync");
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 4);
    /* the late fetch answer changes nothing */
    bf(10, msg_json(10, 3));
    hub_backfill_done(&H, 10, true, false);
    assert_null(pop(fs.s, NULL));
    hub_stream_close(fs.s);
}

/* Anti-entropy: PostgreSQL is ahead (a PUBLISH was lost): fetch and deliver;
 * the PUBLISH arriving late is a duplicate. A member.left in the backfill
 * stops that user's stream exactly there. */
static void test_db_version_ahead_backfills(void **state)
{
    static const int64_t chats[][2] = {{10, 2}};
    struct fake_sub a, b;
    int64_t v;

    open_live(&a, 1, chats, 1);
    open_live(&b, 2, chats, 1);
    hub_chat_db_version(&H, 10, 2);
    assert_int_equal(F.gaps, 0);
    hub_chat_db_version(&H, 10, 5);
    assert_int_equal(F.gaps, 1);
    assert_int_equal(F.gap_chat, 10);
    assert_int_equal(F.gap_have, 2);
    hub_chat_db_version(&H, 10, 5); /* one fetch at a time */
    assert_int_equal(F.gaps, 1);
    bf(10, msg_json(10, 3));
    bf(10, "{\"type\":\"member.left\",\"chat_id\":10,\"version\":4,\"user_id\":2}");
    bf(10, msg_json(10, 5));
    hub_backfill_done(&H, 10, true, false);
    pub(HUB_CHAN_CHAT, 10, msg_json(10, 5)); /* the lost PUBLISH, late */
    assert_string_equal(pop(a.s, &v), "message.created");
    assert_int_equal(v, 3);
    assert_string_equal(pop(a.s, &v), "member.left");
    assert_string_equal(pop(a.s, &v), "message.created");
    assert_int_equal(v, 5);
    assert_null(pop(a.s, NULL));
    assert_string_equal(pop(b.s, &v), "message.created");
    assert_string_equal(pop(b.s, &v), "member.left");
    assert_int_equal(v, 4);
    assert_null(pop(b.s, NULL));
    /* paging: a full page fetches the next one */
    hub_chat_db_version(&H, 10, 9);
    assert_int_equal(F.gaps, 2);
    bf(10, msg_json(10, 6));
    hub_backfill_done(&H, 10, true, true);
    assert_int_equal(F.gaps, 3);
    assert_int_equal(F.gap_have, 6);
    hub_stream_close(a.s);
    hub_stream_close(b.s);
}

/* A member.joined seen on the chat's channel (or in a backfill) adds a local
 * stream of that user even if its user:{id} PUBLISH never came. */
static void test_join_on_chat_channel_adds_local_stream(void **state)
{
    static const int64_t chats_a[][2] = {{10, 2}};
    struct fake_sub a, b;
    int64_t v;

    open_live(&a, 1, chats_a, 1);
    open_live(&b, 2, NULL, 0);
    pub(HUB_CHAN_CHAT, 10,
        "{\"type\":\"member.joined\",\"chat_id\":10,\"version\":3,\"user_id\":2}");
    assert_string_equal(pop(b.s, &v), "member.joined");
    assert_int_equal(v, 3);
    pub(HUB_CHAN_CHAT, 10, msg_json(10, 4));
    assert_string_equal(pop(b.s, &v), "message.created");
    assert_int_equal(v, 4);
    /* the user:{id} copy, late, is a duplicate */
    pub(HUB_CHAN_USER, 2,
        "{\"type\":\"member.joined\",\"chat_id\":10,\"version\":3,\"user_id\":2}");
    assert_null(pop(b.s, NULL));
    hub_stream_close(a.s);
    hub_stream_close(b.s);
}

static void test_fan_out_shares_one_event_and_one_subscription(void **state)
{
    static const int64_t chats[][2] = {{10, 1}};
    struct fake_sub a, b;
    struct hub_event *ea, *eb;

    open_live(&a, 1, chats, 1);
    open_live(&b, 2, chats, 1);
    assert_int_equal(count_sent("SUBSCRIBE chat:10"), 1);
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":2}");
    ea = hub_stream_next(a.s, NULL);
    eb = hub_stream_next(b.s, NULL);
    assert_non_null(ea);
    assert_ptr_equal(ea, eb);
    assert_int_equal(ea->refs, 2);
    hub_stream_close(a.s);
    assert_false(sent("UNSUBSCRIBE chat:10")); /* b still carries it */
    assert_int_equal(eb->refs, 1);
    hub_stream_close(b.s);
    assert_true(sent("UNSUBSCRIBE chat:10"));
    assert_true(sent("UNSUBSCRIBE user:1"));
    assert_true(sent("UNSUBSCRIBE user:2"));
}

static void test_join_on_user_channel_follows_at_once(void **state)
{
    struct fake_sub fs;
    int64_t v;
    const char *created = "{\"type\":\"chat.created\",\"chat_id\":20,\"version\":1,"
                          "\"chat\":{\"id\":20}}";

    open_live(&fs, 1, NULL, 0);
    pub(HUB_CHAN_USER, 1, created);
    assert_true(sent("SUBSCRIBE chat:20"));
    assert_string_equal(pop(fs.s, &v), "chat.created");
    assert_int_equal(v, 1);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 20);
    pub(HUB_CHAN_CHAT, 20, created); /* the same event on the chat's channel */
    assert_null(pop(fs.s, NULL));
    pub(HUB_CHAN_CHAT, 20, "{\"type\":\"message.created\",\"chat_id\":20,\"version\":2}");
    assert_string_equal(pop(fs.s, &v), "message.created");
    assert_int_equal(v, 2);
    /* a join naming someone else on our channel does not add the chat */
    pub(HUB_CHAN_USER, 1,
        "{\"type\":\"member.joined\",\"chat_id\":21,\"version\":4,"
        "\"user_id\":9}");
    assert_false(sent("SUBSCRIBE chat:21"));
    hub_stream_close(fs.s);
}

static void test_leave_stops_exactly_at_member_left(void **state)
{
    static const int64_t chats[][2] = {{10, 3}};
    struct fake_sub fs;
    int64_t v;
    const char *left = "{\"type\":\"member.left\",\"chat_id\":10,\"version\":4,\"user_id\":1}";

    open_live(&fs, 1, chats, 1);
    pub(HUB_CHAN_CHAT, 10, left);
    pub(HUB_CHAN_USER, 1, left); /* the copy on user:1 */
    assert_string_equal(pop(fs.s, &v), "member.left");
    assert_int_equal(v, 4);
    assert_null(pop(fs.s, NULL));
    assert_true(sent("UNSUBSCRIBE chat:10"));
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":5}");
    assert_null(pop(fs.s, NULL));
    assert_int_equal(fs.s->nmembers, 0);
    hub_stream_close(fs.s);
}

static void test_leave_on_user_channel_first(void **state)
{
    static const int64_t chats[][2] = {{10, 3}};
    struct fake_sub fs;

    open_live(&fs, 1, chats, 1);
    pub(HUB_CHAN_USER, 1, "{\"type\":\"member.left\",\"chat_id\":10,\"version\":4,\"user_id\":1}");
    assert_string_equal(pop(fs.s, NULL), "member.left");
    assert_true(sent("UNSUBSCRIBE chat:10"));
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"member.left\",\"chat_id\":10,\"version\":4,\"user_id\":1}");
    assert_null(pop(fs.s, NULL));
    hub_stream_close(fs.s);
}

static void test_one_command_in_flight_per_channel(void **state)
{
    static const int64_t chats[][2] = {{10, 3}};
    struct fake_sub fs;

    open_live(&fs, 1, chats, 1);
    pub(HUB_CHAN_USER, 1, "{\"type\":\"member.left\",\"chat_id\":10,\"version\":4,\"user_id\":1}");
    assert_int_equal(count_sent("UNSUBSCRIBE chat:10"), 1);
    /* joined again before the UNSUBSCRIBE reply: no SUBSCRIBE yet */
    pub(HUB_CHAN_USER, 1,
        "{\"type\":\"member.joined\",\"chat_id\":10,\"version\":5,"
        "\"user_id\":1}");
    assert_int_equal(count_sent("SUBSCRIBE chat:10"), 1);
    assert_string_equal(pop(fs.s, NULL), "member.left");
    assert_string_equal(pop(fs.s, NULL), "member.joined");
    hub_on_unsubscribed(&H, HUB_CHAN_CHAT, 10);
    assert_int_equal(count_sent("SUBSCRIBE chat:10"), 2);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 10);
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":6}");
    assert_string_equal(pop(fs.s, NULL), "message.created");
    hub_stream_close(fs.s);
}

static void test_redis_reconnect_resubscribes_then_resyncs(void **state)
{
    static const int64_t chats[][2] = {{10, 3}, {11, 1}};
    struct fake_sub fs;

    open_live(&fs, 1, chats, 2);
    hub_redis_down(&H);
    F.ncmds = 0;
    hub_redis_up(&H);
    assert_true(sent("SUBSCRIBE user:1"));
    assert_true(sent("SUBSCRIBE chat:10"));
    assert_true(sent("SUBSCRIBE chat:11"));
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 10);
    assert_null(pop(fs.s, NULL));
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 11);
    assert_string_equal(pop(fs.s, NULL), "resync");
    assert_null(pop(fs.s, NULL));
    assert_int_equal(F.nbaseline, 1); /* a live stream reads no new baseline */
    hub_stream_close(fs.s);
}

static void test_stream_opened_while_redis_down_waits(void **state)
{
    struct fake_sub fs;

    hub_redis_down(&H);
    F.ncmds = 0;
    fs_open(&fs, 1);
    assert_int_equal(F.ncmds, 0);
    hub_redis_up(&H);
    assert_true(sent("SUBSCRIBE user:1"));
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    assert_int_equal(F.nbaseline, 1);
    hub_stream_close(fs.s);
    assert_int_equal(hub_count_users(&H), 1); /* until its UNSUBSCRIBE reply */
    hub_on_unsubscribed(&H, HUB_CHAN_USER, 1);
    assert_int_equal(hub_count_users(&H), 0);
}

static void test_leave_during_baseline_wins_over_older_row(void **state)
{
    struct fake_sub fs;

    fs_open(&fs, 1);
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    pub(HUB_CHAN_USER, 1, "{\"type\":\"member.left\",\"chat_id\":30,\"version\":7,\"user_id\":1}");
    hub_stream_baseline_add(fs.s, 30, 6); /* read before the leave */
    hub_stream_baseline_add(fs.s, 31, 2);
    hub_stream_baseline_done(fs.s);
    assert_false(sent("SUBSCRIBE chat:30"));
    assert_true(sent("SUBSCRIBE chat:31"));
    assert_int_equal(fs.s->nmembers, 1);
    hub_stream_close(fs.s);
}

static void test_join_then_leave_during_baseline(void **state)
{
    struct fake_sub fs;

    fs_open(&fs, 1);
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    pub(HUB_CHAN_USER, 1,
        "{\"type\":\"member.joined\",\"chat_id\":50,\"version\":3,\"user_id\":1}");
    pub(HUB_CHAN_USER, 1, "{\"type\":\"member.left\",\"chat_id\":50,\"version\":4,\"user_id\":1}");
    hub_stream_baseline_add(fs.s, 50, 3); /* read between the two */
    hub_stream_baseline_done(fs.s);
    assert_int_equal(fs.s->nmembers, 0);
    hub_stream_close(fs.s);
}

static void test_join_during_baseline_is_kept(void **state)
{
    struct fake_sub fs;

    fs_open(&fs, 1);
    hub_on_subscribed(&H, HUB_CHAN_USER, 1);
    pub(HUB_CHAN_USER, 1,
        "{\"type\":\"member.joined\",\"chat_id\":40,\"version\":3,"
        "\"user_id\":1}");
    hub_stream_baseline_done(fs.s); /* the read missed the join */
    assert_int_equal(fs.s->nmembers, 1);
    hub_on_subscribed(&H, HUB_CHAN_CHAT, 40);
    assert_string_equal(pop(fs.s, NULL), "resync");
    pub(HUB_CHAN_CHAT, 40, "{\"type\":\"message.created\",\"chat_id\":40,\"version\":4}");
    assert_string_equal(pop(fs.s, NULL), "message.created");
    hub_stream_close(fs.s);
}

static void test_slow_consumer_is_kicked(void **state)
{
    static const int64_t chats[][2] = {{10, 0}};
    struct fake_sub fs;
    char json[96];
    int i;

    open_live(&fs, 1, chats, 1);
    for (i = 1; i <= HUB_QUEUE_MAX_EVENTS + 1; i++) {
        snprintf(json, sizeof(json), "{\"type\":\"message.created\",\"chat_id\":10,\"version\":%d}",
                 i);
        pub(HUB_CHAN_CHAT, 10, json);
    }
    assert_int_equal(fs.kicks, 1);
    assert_int_equal(fs.why, HUB_KICK_OVERFLOW);
    assert_null(fs.s); /* taken away and closed */
    assert_int_equal(H.nstreams, 0);
    assert_true(sent("UNSUBSCRIBE chat:10"));
}

static void test_session_revoked_closes_matching_streams_only(void **state)
{
    struct fake_sub a, b, c;

    open_live(&a, 1, NULL, 0);
    open_live(&b, 1, NULL, 0);
    open_live(&c, 2, NULL, 0);
    a.s->session_id = 5;
    b.s->session_id = 6;
    c.s->session_id = 5;
    pub(HUB_CHAN_USER, 1, "{\"type\":\"session.revoked\",\"session_id\":5}");
    assert_int_equal(a.kicks, 1);
    assert_int_equal(a.why, HUB_KICK_REVOKED);
    assert_null(a.s);
    assert_int_equal(b.kicks, 0);
    assert_null(pop(b.s, NULL));  /* never forwarded */
    assert_int_equal(c.kicks, 0); /* another user's session 5 */
    pub(HUB_CHAN_USER, 1, "{\"type\":\"session.revoked\",\"session_id\":0}");
    assert_int_equal(b.kicks, 1);
    assert_int_equal(hub_user_nstreams(&H, 1), 0);
    hub_stream_close(c.s);
}

static void test_token_revoked_closes_that_tokens_streams_only(void **state)
{
    struct fake_sub a, b, c;

    open_live(&a, 1, NULL, 0);
    open_live(&b, 1, NULL, 0);
    open_live(&c, 1, NULL, 0);
    a.s->token_id = 7; /* opened with API token 7 */
    b.s->token_id = 8;
    c.s->session_id = 7; /* a session whose id happens to be 7 */
    pub(HUB_CHAN_USER, 1, "{\"type\":\"session.revoked\",\"token_id\":7}");
    assert_int_equal(a.kicks, 1);
    assert_int_equal(a.why, HUB_KICK_REVOKED);
    assert_int_equal(b.kicks, 0);
    assert_int_equal(c.kicks, 0);
    assert_null(pop(c.s, NULL)); /* never forwarded */
    assert_int_equal(hub_user_nstreams(&H, 1), 2);
    hub_stream_close(b.s);
    hub_stream_close(c.s);
}

/* The cursor of the event that pop() would return next. */
static void next_cursor(struct hub_stream *s, char *cur)
{
    uint64_t seq = 0;

    hub_stream_next(s, &seq);
    hub_cursor_format(s, seq, cur);
}

static void test_resume_replays_after_the_cursor(void **state)
{
    static const int64_t chats[][2] = {{10, 1}};
    struct fake_sub a, b;
    char cur[HUB_CURSOR_MAX];
    int64_t v;

    open_live(&a, 1, chats, 1);
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":2}");
    next_cursor(a.s, cur);
    assert_string_equal(pop(a.s, &v), "message.created"); /* the client saw v2 at cur */
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":3}");
    assert_string_equal(pop(a.s, &v), "message.created"); /* sent, never arrived */
    hub_stream_detach(a.s, 1000);
    pub(HUB_CHAN_CHAT, 10, "{\"type\":\"message.created\",\"chat_id\":10,\"version\":4}");
    memset(&b, 0, sizeof(b));
    b.s = hub_stream_resume(&H, cur, 1, 0, &fake_sub_ops, &b, 1001);
    assert_non_null(b.s);
    assert_string_equal(pop(b.s, &v), "message.created");
    assert_int_equal(v, 3);
    assert_string_equal(pop(b.s, &v), "message.created");
    assert_int_equal(v, 4);
    assert_null(pop(b.s, NULL));
    assert_int_equal(F.nbaseline, 1); /* no second baseline, no resync */
    hub_stream_close(b.s);
}

/* Long-poll without credentials: the cursor's secret alone names the stream
 * and its user; a cursor with another secret names nothing. */
static void test_resume_by_cursor_alone_needs_its_secret(void **state)
{
    struct fake_sub a, b;
    char cur[HUB_CURSOR_MAX];

    open_live(&a, 7, NULL, 0);
    hub_cursor_format(a.s, 1, cur);
    pop(a.s, NULL);
    hub_stream_detach(a.s, 1000);
    memset(&b, 0, sizeof(b));
    cur[strlen(cur) - 3] ^= 1; /* one bit of the secret */
    assert_null(hub_stream_resume(&H, cur, 0, 0, &fake_sub_ops, &b, 1001));
    cur[strlen(cur) - 3] ^= 1;
    b.s = hub_stream_resume(&H, cur, 0, 0, &fake_sub_ops, &b, 1001);
    assert_non_null(b.s);
    assert_int_equal(hub_stream_user_id(b.s), 7);
    hub_stream_close(b.s);
}

static void test_resume_takes_over_a_connection_not_yet_seen_gone(void **state)
{
    struct fake_sub a, b;
    char cur[HUB_CURSOR_MAX];

    open_live(&a, 1, NULL, 0);
    hub_cursor_format(a.s, 1, cur); /* the client saw resync */
    pub(HUB_CHAN_USER, 1, "{\"type\":\"presence\",\"user_id\":2}");
    memset(&b, 0, sizeof(b));
    b.s = hub_stream_resume(&H, cur, 1, 0, &fake_sub_ops, &b, 1001);
    assert_non_null(b.s);
    assert_int_equal(a.kicks, 1);
    assert_int_equal(a.why, HUB_KICK_REPLACED);
    assert_null(a.s);
    assert_string_equal(pop(b.s, NULL), "presence");
    hub_stream_close(b.s);
}

static void test_resume_refuses_what_it_cannot_prove(void **state)
{
    struct fake_sub a, b;
    char cur[HUB_CURSOR_MAX], other[HUB_CURSOR_MAX + 1];
    int i;

    open_live(&a, 1, NULL, 0);
    next_cursor(a.s, cur); /* seq 2, nothing there yet */
    memset(&b, 0, sizeof(b));
    /* another user, another run, garbage, a number never handed out */
    assert_null(hub_stream_resume(&H, cur, 2, 0, &fake_sub_ops, &b, 1001));
    snprintf(other, sizeof(other), "1%s", cur);
    assert_null(hub_stream_resume(&H, other, 1, 0, &fake_sub_ops, &b, 1001));
    assert_null(hub_stream_resume(&H, "garbage", 1, 0, &fake_sub_ops, &b, 1001));
    assert_null(hub_stream_resume(&H, "6b000000.1.x", 1, 0, &fake_sub_ops, &b, 1001));
    assert_null(hub_stream_resume(&H, "6b000000.1.0000000000000000.1", 1, 0, &fake_sub_ops, &b,
                                  1001)); /* a guessed secret */
    snprintf(other, sizeof(other), "6b000000.1.%016" PRIx64 ".99", a.s->secret);
    assert_null(hub_stream_resume(&H, other, 1, 0, &fake_sub_ops, &b, 1001));
    assert_null(hub_stream_resume(&H, "", 1, 0, &fake_sub_ops, &b, 1001));
    /* replay trimmed past the cursor: resync instead */
    for (i = 0; i < HUB_REPLAY_MAX + 5; i++) {
        pub(HUB_CHAN_USER, 1, "{\"type\":\"presence\",\"user_id\":2}");
        pop(a.s, NULL);
    }
    hub_cursor_format(a.s, 1, other);
    assert_null(hub_stream_resume(&H, other, 1, 0, &fake_sub_ops, &b, 1001));
    assert_int_equal(a.kicks, 0);
    hub_stream_close(a.s);
}

static void test_detached_streams_linger_then_go(void **state)
{
    struct fake_sub a, b;

    open_live(&a, 1, NULL, 0);
    fs_open(&b, 1); /* not live yet: detaching closes it at once */
    hub_stream_detach(b.s, 1000);
    assert_int_equal(H.nstreams, 1);
    hub_stream_detach(a.s, 1000);
    assert_int_equal(H.nstreams, 1);
    assert_int_equal(hub_user_nstreams(&H, 1), 0); /* not counted against the cap */
    hub_tick(&H, 1000 + HUB_LINGER_S - 1);
    assert_int_equal(H.nstreams, 1);
    hub_tick(&H, 1000 + HUB_LINGER_S);
    assert_int_equal(H.nstreams, 0);
    assert_true(sent("UNSUBSCRIBE user:1"));
}

static void test_lingering_streams_are_bounded_per_user(void **state)
{
    struct fake_sub fs;
    int i;

    for (i = 0; i < HUB_LINGER_PER_USER + 3; i++) {
        open_live(&fs, 1, NULL, 0);
        hub_stream_detach(fs.s, 1000 + i);
    }
    assert_int_equal(H.nstreams, HUB_LINGER_PER_USER);
}

static void test_event_parsing(void **state)
{
    struct hub_event *ev;
    static const char *bad[] = {
        "[1]",
        "{\"chat_id\":1}",
        "{\"type\":\"Bad Type\"}",
        "{\"type\":\"x\",\"chat_id\":0}",
        "{\"type\":\"x\",\"chat_id\":1.5}",
        "{\"type\":\"x\",\"version\":0}",
        "{\"type\":\"x\",\"user_id\":\"1\"}",
        "{\"type\":\"x\\u0000\"}",
        "{\"type\":\"x\"} trailing",
        "not json",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(hub_event_new(bad[i], strlen(bad[i])));

    ev = hub_event_new("{\"type\":\"message.created\",\r\n \"chat_id\":9007199254740991,"
                       "\"version\":2,\"user_id\":4}",
                       strlen("{\"type\":\"message.created\",\r\n \"chat_id\":9007199254740991,"
                              "\"version\":2,\"user_id\":4}"));
    assert_non_null(ev);
    assert_int_equal(ev->chat_id, 9007199254740991LL);
    assert_int_equal(ev->version, 2);
    assert_int_equal(ev->user_id, 4);
    assert_true(hub_event_is(ev, "message.created"));
    assert_false(hub_event_is(ev, "message"));
    assert_string_equal(ev->text, "event: message.created\ndata: {\"type\":\"message.created\", "
                                  "\"chat_id\":9007199254740991,\"version\":2,\"user_id\":4}"
                                  "\n\n");
    assert_int_equal(ev->len, strlen(ev->text));
    hub_event_unref(ev);

    ev = hub_event_resync(12);
    assert_string_equal(ev->text, "event: resync\ndata: {\"type\":\"resync\",\"chat_id\":12}\n\n");
    hub_event_unref(ev);
}

static void test_cursor_names_epoch_stream_and_seq(void **state)
{
    struct fake_sub fs;
    char cur[HUB_CURSOR_MAX], want[HUB_CURSOR_MAX];
    uint64_t seq = 0;
    int n;

    open_live(&fs, 1, NULL, 0);
    pub(HUB_CHAN_USER, 1, "{\"type\":\"presence\",\"user_id\":2,\"status\":\"online\"}");
    assert_non_null(hub_stream_next(fs.s, &seq));
    assert_int_equal(seq, 2); /* resync was 1 */
    n = hub_cursor_format(fs.s, seq, cur);
    assert_int_equal(n, (int)strlen(cur));
    snprintf(want, sizeof(want), "6b000000.1.%016" PRIx64 ".2", fs.s->secret);
    assert_string_equal(cur, want);
    hub_stream_close(fs.s);
}

static void test_many_chats_grow_the_tables(void **state)
{
    int64_t chats[300][2];
    struct fake_sub fs;
    int i;

    for (i = 0; i < 300; i++) {
        chats[i][0] = 1000 + i;
        chats[i][1] = 1;
    }
    open_live(&fs, 1, (const int64_t(*)[2])chats, 300);
    assert_int_equal(hub_count_chats(&H), 300);
    pub(HUB_CHAN_CHAT, 1150, "{\"type\":\"message.created\",\"chat_id\":1150,\"version\":2}");
    assert_string_equal(pop(fs.s, NULL), "message.created");
    hub_stream_close(fs.s);
    for (i = 0; i < 300; i++)
        hub_on_unsubscribed(&H, HUB_CHAN_CHAT, 1000 + i);
    assert_int_equal(hub_count_chats(&H), 0);
}

/* ---- deleted messages (API.md "Messages": the content is purged) ---- */

static const char *msg_event(const char *type, int64_t chat, int64_t v, int64_t seq,
                             const char *content)
{
    static char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"type\" : \"%s\", \"chat_id\" : %" PRId64 ", \"version\" : %" PRId64
             ", \"message\" : {\"id\" : %" PRId64 ", \"chat_id\" : %" PRId64
             ", \"seq\" : %" PRId64 ", \"content\" : \"%s\", \"deleted\" : false},"
             " \"after\" : [1, {\"x\" : \"]}\"}]}",
             type, chat, v, seq * 100, chat, seq, content);
    return buf;
}

static const char *tomb_event(int64_t chat, int64_t v, int64_t seq)
{
    static char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"type\":\"message.deleted\",\"chat_id\":%" PRId64 ",\"version\":%" PRId64
             ",\"message\":{\"id\": %" PRId64 ", \"seq\": %" PRId64 ", \"chat_id\": %" PRId64
             ", \"content\": \"\", \"deleted\": true, \"version\": %" PRId64 "}}",
             chat, v, seq * 100, seq, chat, v);
    return buf;
}

/* The JSON of the event pop() would return next, NUL-terminated. */
static const char *peek_json(struct hub_stream *s)
{
    static char buf[1024];
    struct hub_event *ev = hub_stream_next(s, NULL);

    if (!ev)
        return NULL;
    assert_true(ev->json_len < sizeof(buf));
    memcpy(buf, ev->text + ev->json_off, ev->json_len);
    buf[ev->json_len] = 0;
    /* the frame around it stays well formed */
    assert_memory_equal(ev->text, "event: ", 7);
    assert_memory_equal(ev->text + ev->json_off + ev->json_len, "\n\n", 2);
    assert_int_equal(ev->len, ev->json_off + ev->json_len + 2);
    return buf;
}

static size_t unsent_bytes(struct hub_stream *s)
{
    uint64_t i;
    size_t n = 0;

    for (i = s->next_seq; i < s->q_seq + s->q_len; i++)
        n += s->q[(s->q_head + (i - s->q_seq)) % s->q_cap].ev->len;
    return n;
}

static void test_event_parsing_reads_the_message_seq(void **state)
{
    struct hub_event *ev;
    const char *j = msg_event("message.created", 10, 2, 7, "hi");

    ev = hub_event_new(j, strlen(j));
    assert_non_null(ev);
    assert_int_equal(ev->msg_seq, 7);
    hub_event_unref(ev);
    j = "{\"type\":\"message.created\",\"chat_id\":1,\"version\":2}";
    ev = hub_event_new(j, strlen(j));
    assert_non_null(ev);
    assert_int_equal(ev->msg_seq, 0);
    hub_event_unref(ev);
    j = "{\"type\":\"message.created\",\"chat_id\":1,\"version\":2,\"message\":{\"seq\":-1}}";
    ev = hub_event_new(j, strlen(j));
    assert_non_null(ev); /* the hub does not need it: no seq, nothing to purge */
    assert_int_equal(ev->msg_seq, 0);
    hub_event_unref(ev);
}

static void test_json_member_finds_top_level_values(void **state)
{
    const char *j = "{ \"a\" : \"m\\\"}{\", \"message\":{\"message\":1}, \"b\":[\"message\"],"
                    " \"message2\" : 3 , \"n\" : -1.5e3}";
    size_t off, len;

    assert_true(json_member(j, strlen(j), "message", &off, &len));
    assert_int_equal(len, strlen("{\"message\":1}"));
    assert_memory_equal(j + off, "{\"message\":1}", len);
    assert_true(json_member(j, strlen(j), "message2", &off, &len));
    assert_memory_equal(j + off, "3", len);
    assert_int_equal(len, 1);
    assert_true(json_member(j, strlen(j), "n", &off, &len));
    assert_memory_equal(j + off, "-1.5e3", len);
    assert_int_equal(len, 6);
    assert_true(json_member(j, strlen(j), "b", &off, &len));
    assert_memory_equal(j + off, "[\"message\"]", len);
    assert_false(json_member(j, strlen(j), "m", &off, &len));
    assert_false(json_member("[1]", 3, "m", &off, &len));
    assert_false(json_member("{\"m\":", 5, "m", &off, &len) && len > 0);
}

/* A message.deleted swaps every created/updated event of that message still
 * held, unsent or kept for replay, on every stream, for one carrying the
 * tombstone with its own type and version; other messages and chats keep
 * theirs, and a frame a transport is writing stays intact. */
static void test_delete_purges_queued_and_replayed_content(void **state)
{
    static const int64_t chats[][2] = {{10, 1}, {11, 1}};
    struct fake_sub a, b, r;
    struct hub_event *inflight;
    char cur[HUB_CURSOR_MAX];
    const char *j;
    int64_t v;

    open_live(&a, 1, chats, 2);
    open_live(&b, 2, chats, 1);
    hub_cursor_format(a.s, a.s->next_seq - 1, cur); /* before anything below */
    pub(HUB_CHAN_CHAT, 10, msg_event("message.created", 10, 2, 1, "q"));
    pub(HUB_CHAN_CHAT, 11, msg_event("message.created", 11, 2, 1, "other chat"));
    pub(HUB_CHAN_CHAT, 10, msg_event("message.updated", 10, 3, 1, "secret two"));
    pub(HUB_CHAN_CHAT, 10, msg_event("message.created", 10, 4, 2, "keep me"));
    /* a sends v2 and chat 11's event; the transport is still writing v3 */
    assert_string_equal(pop(a.s, NULL), "message.created");
    assert_string_equal(pop(a.s, NULL), "message.created");
    inflight = hub_stream_next(a.s, NULL);
    hub_event_ref(inflight);
    hub_stream_sent(a.s, H.now);
    assert_int_equal(hub_count_chats(&H), 2);
    pub(HUB_CHAN_CHAT, 10, tomb_event(10, 5, 1));

    /* the frame being written is untouched */
    assert_non_null(strstr(inflight->text, "secret two"));
    hub_event_unref(inflight);

    /* b never sent anything: its unsent events are purged */
    assert_int_equal(b.s->unsent_bytes, unsent_bytes(b.s));
    j = peek_json(b.s);
    assert_null(strstr(j, "\"q\""));
    assert_non_null(strstr(j, "\"type\" : \"message.created\""));
    assert_non_null(strstr(j, "\"version\" : 2,"));
    assert_non_null(strstr(j, "\"deleted\": true"));
    assert_non_null(strstr(j, "\"after\" : [1, {\"x\" : \"]}\"}]}"));
    assert_string_equal(pop(b.s, &v), "message.created");
    assert_int_equal(v, 2);
    j = peek_json(b.s);
    assert_null(strstr(j, "secret"));
    assert_non_null(strstr(j, "\"content\": \"\""));
    assert_string_equal(pop(b.s, &v), "message.updated");
    assert_int_equal(v, 3);
    assert_non_null(strstr(peek_json(b.s), "keep me"));
    assert_string_equal(pop(b.s, &v), "message.created");
    assert_int_equal(v, 4);
    assert_string_equal(pop(b.s, &v), "message.deleted");
    assert_int_equal(v, 5);
    assert_null(pop(b.s, NULL));
    assert_int_equal(b.s->unsent_bytes, 0);

    /* a's replay, from a cursor before the send, hands out the tombstone */
    hub_stream_detach(a.s, 1000);
    memset(&r, 0, sizeof(r));
    r.s = hub_stream_resume(&H, cur, 1, 0, &fake_sub_ops, &r, 1001);
    assert_non_null(r.s);
    assert_int_equal(r.s->unsent_bytes, unsent_bytes(r.s));
    j = peek_json(r.s);
    assert_non_null(strstr(j, "\"deleted\": true"));
    assert_string_equal(pop(r.s, &v), "message.created");
    assert_int_equal(v, 2);
    assert_non_null(strstr(peek_json(r.s), "other chat")); /* chat 11, seq 1: kept */
    pop(r.s, NULL);
    assert_null(strstr(peek_json(r.s), "secret"));
    assert_string_equal(pop(r.s, &v), "message.updated");
    assert_non_null(strstr(peek_json(r.s), "keep me"));
    pop(r.s, NULL);
    assert_string_equal(pop(r.s, &v), "message.deleted");
    assert_null(pop(r.s, NULL));
    assert_int_equal(r.s->unsent_bytes, 0);

    /* the purged entries are gone from the index; v4's two slots remain */
    assert_non_null(hub_chat_get(&H, 10, 0, false)->msgs);
    assert_int_equal(hub_chat_get(&H, 10, 0, false)->nslots, 2);
    hub_stream_close(r.s);
    hub_stream_close(b.s);
}

/* The index of held message events forgets what no queue holds: trimmed
 * replay entries, closed streams; it stays bounded under a steady flow. */
static void test_message_index_is_bounded(void **state)
{
    static const int64_t chats[][2] = {{10, 1}};
    struct fake_sub a, b;
    struct hub_chat *c;
    int64_t v;

    open_live(&a, 1, chats, 1);
    open_live(&b, 2, chats, 1);
    c = hub_chat_get(&H, 10, 0, false);
    for (v = 2; v < 3002; v++) {
        pub(HUB_CHAN_CHAT, 10, msg_event("message.created", 10, v, v - 1, "m"));
        pop(a.s, NULL);
        pop(b.s, NULL);
    }
    /* each stream keeps HUB_REPLAY_MAX; the index at most about twice that */
    assert_true(c->nslots <= 2 * 2 * HUB_REPLAY_MAX + 1024 + 2);
    hub_stream_close(b.s);
    hub_tick(&H, 1000);
    assert_non_null(c->msgs);
    hub_tick(&H, 1000 + HUB_REPLAY_S);
    assert_null(c->msgs);
    assert_null(c->msgs_tail);
    assert_int_equal(c->nslots, 0);
    /* a delete of something no longer held changes nothing */
    pub(HUB_CHAN_CHAT, 10, tomb_event(10, 3002, 5));
    assert_string_equal(pop(a.s, NULL), "message.deleted");
    pub(HUB_CHAN_CHAT, 10, msg_event("message.created", 10, 3003, 3002, "after"));
    assert_int_equal(c->nslots, 1);
    assert_ptr_equal(c->msgs, c->msgs_tail);
    hub_stream_close(a.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resync_only_after_every_subscribe_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_events_before_resync_are_not_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_dedupe_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_fetch_resyncs_the_chat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_held_too_long_resyncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_version_ahead_backfills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_on_chat_channel_adds_local_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fan_out_shares_one_event_and_one_subscription, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_join_on_user_channel_follows_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_stops_exactly_at_member_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_on_user_channel_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_command_in_flight_per_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_reconnect_resubscribes_then_resyncs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream_opened_while_redis_down_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_during_baseline_wins_over_older_row, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_join_then_leave_during_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_during_baseline_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_consumer_is_kicked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_revoked_closes_that_tokens_streams_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_revoked_closes_matching_streams_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resume_replays_after_the_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_by_cursor_alone_needs_its_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resume_takes_over_a_connection_not_yet_seen_gone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_refuses_what_it_cannot_prove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detached_streams_linger_then_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lingering_streams_are_bounded_per_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_event_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_names_epoch_stream_and_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_chats_grow_the_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_parsing_reads_the_message_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_member_finds_top_level_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_purges_queued_and_replayed_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_message_index_is_bounded, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
