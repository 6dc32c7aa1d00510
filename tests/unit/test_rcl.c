/* test_rcl.c - Redis Cluster routing (lib/rcl.h): slots, the slot map,
 * redirections, the routing key of a command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "rcl.h"

static int slot(const char *k)
{
    return rcl_key_slot(k, strlen(k));
}

/* Redis Cluster specification, "Key distribution model" and "Hash tags". */
static void test_slots(void **state)
{
    char a[KEY_MAX], b[KEY_MAX];

    assert_int_equal(rcl_crc16("123456789", 9), 0x31C3);
    assert_int_equal(slot("123456789"), 12739);
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("{user1000}.following"), slot("{user1000}.followers"));
    assert_int_equal(slot("{user1000}.following"), slot("user1000"));
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_equal(slot("foo{}{bar}"), rcl_crc16("foo{}{bar}", 10) % 16384);
    assert_int_equal(slot("{}"), rcl_crc16("{}", 2) % 16384);
    assert_int_equal(slot("no{tag"), rcl_crc16("no{tag", 6) % 16384);
    assert_int_equal(slot(""), 0);
    /* our names: a chat's channel and version key share a slot, a user's
     * channel, epoch, presence and rate buckets too */
    key_chat(a, 42);
    key_chat_version(b, 42);
    assert_int_equal(slot(a), slot(b));
    key_user(a, 7);
    key_auth_epoch(b, 7);
    assert_int_equal(slot(a), slot(b));
    key_presence(b, 7);
    assert_int_equal(slot(a), slot(b));
    key_rate(b, "read", 7, "::1", 99);
    assert_int_equal(slot(a), slot(b));
    key_chat(b, 7);
    assert_int_not_equal(slot(a), slot(b));
}

static redisReply *parse(const char *resp)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;

    assert_int_equal(redisReaderFeed(r, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

/* CLUSTER SLOTS of 3 masters with a replica each; the second master is
 * given with an empty host (the node asked). */
static const char slots_reply[] = "*3\r\n"
                                  "*4\r\n:0\r\n:5460\r\n"
                                  "*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$3\r\nid1\r\n"
                                  "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$3\r\nid4\r\n"
                                  "*4\r\n:5461\r\n:10922\r\n"
                                  "*3\r\n$0\r\n\r\n:7002\r\n$3\r\nid2\r\n"
                                  "*3\r\n$9\r\n127.0.0.1\r\n:7005\r\n$3\r\nid5\r\n"
                                  "*3\r\n:10923\r\n:16383\r\n"
                                  "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nid3\r\n";

static void test_map(void **state)
{
    struct rcl_map *m = malloc(sizeof(*m));
    redisReply *r = parse(slots_reply), *bad;

    rcl_map_single(m, "127.0.0.1", 6379, "");
    assert_int_equal(rcl_map_parse_slots(m, r, "10.0.0.9"), 0);
    assert_int_equal(m->nnodes, 3);
    assert_string_equal(m->node[m->slot_node[0]].host, "127.0.0.1");
    assert_int_equal(m->node[m->slot_node[0]].port, 7001);
    assert_int_equal(m->node[m->slot_node[5460]].port, 7001);
    assert_int_equal(m->node[m->slot_node[5461]].port, 7002);
    assert_string_equal(m->node[m->slot_node[5461]].host, "10.0.0.9");
    assert_int_equal(m->node[m->slot_node[12739]].port, 7003);
    assert_int_equal(m->node[m->slot_node[16383]].port, 7003);
    freeReplyObject(r);

    /* a slot range past 16383, a master without a port: refused, m kept */
    bad = parse("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n");
    assert_int_equal(rcl_map_parse_slots(m, bad, "x"), -1);
    freeReplyObject(bad);
    bad = parse("*1\r\n*3\r\n:0\r\n:10\r\n*1\r\n$1\r\na\r\n");
    assert_int_equal(rcl_map_parse_slots(m, bad, "x"), -1);
    freeReplyObject(bad);
    bad = parse("-ERR This instance has cluster support disabled\r\n");
    assert_int_equal(rcl_map_parse_slots(m, bad, "x"), -1);
    freeReplyObject(bad);
    assert_int_equal(m->node[m->slot_node[12739]].port, 7003);

    /* an empty map: nothing served */
    bad = parse("*0\r\n");
    assert_int_equal(rcl_map_parse_slots(m, bad, "x"), 0);
    assert_int_equal(m->nnodes, 0);
    assert_int_equal(m->slot_node[100], RCL_NO_NODE);
    freeReplyObject(bad);
    free(m);
}

static int redirect(const char *e, int *slot, char *host, int *port)
{
    return rcl_parse_redirect(e, strlen(e), slot, host, RCL_HOST_MAX, port);
}

static void test_redirect(void **state)
{
    char host[RCL_HOST_MAX];
    int s = -1, port = -1;

    assert_int_equal(redirect("MOVED 3999 127.0.0.1:6381", &s, host, &port), RCL_MOVED);
    assert_int_equal(s, 3999);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    assert_int_equal(redirect("ASK 16383 ::1:7002", &s, host, &port), RCL_ASK);
    assert_int_equal(s, 16383);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 7002);
    assert_int_equal(redirect("MOVED 16384 127.0.0.1:6381", &s, host, &port), 0);
    assert_int_equal(redirect("MOVED 1 127.0.0.1", &s, host, &port), 0);
    assert_int_equal(redirect("MOVED 1 127.0.0.1:", &s, host, &port), 0);
    assert_int_equal(redirect("MOVED 1 :80", &s, host, &port), 0);
    assert_int_equal(redirect("MOVED  127.0.0.1:80", &s, host, &port), 0);
    assert_int_equal(redirect("MOVED 1 h:70000", &s, host, &port), 0);
    assert_int_equal(redirect("ERR unknown command", &s, host, &port), 0);
    assert_int_equal(redirect("CLUSTERDOWN The cluster is down", &s, host, &port), 0);
}

static int cmd_key(const char *fmt, const char *a, const char *b, char *out)
{
    char *cmd;
    const char *key;
    size_t len;
    int n = redisFormatCommand(&cmd, fmt, a, b), rc;

    assert_true(n > 0);
    rc = rcl_cmd_key(cmd, (size_t)n, &key, &len);
    if (rc == 1) {
        memcpy(out, key, len);
        out[len] = '\0';
    }
    redisFreeCommand(cmd);
    return rc;
}

static void test_cmd_key(void **state)
{
    char k[64];

    assert_int_equal(cmd_key("GET %s", "{chat:1}:cv", NULL, k), 1);
    assert_string_equal(k, "{chat:1}:cv");
    assert_int_equal(cmd_key("SPUBLISH %s %s", "{chat:9}", "{\"x\":1}", k), 1);
    assert_string_equal(k, "{chat:9}");
    assert_int_equal(cmd_key("EVALSHA %s 2 %s k2", "abc", "first", k), 1);
    assert_string_equal(k, "first");
    assert_int_equal(cmd_key("eval %s 0 %s", "return 1", "x", k), 0);
    assert_int_equal(cmd_key("PING", NULL, NULL, k), 0);
    assert_int_equal(cmd_key("SCRIPT LOAD %s", "return 1", NULL, k), 0);
    assert_int_equal(rcl_cmd_key("GET x", 5, &(const char *){0}, &(size_t){0}), -1);
    assert_int_equal(
        rcl_cmd_key("*2\r\n$3\r\nGET\r\n$9\r\nx\r\n", 20, &(const char *){0}, &(size_t){0}), -1);
}

static void test_seeds(void **state)
{
    struct rcl_node n[4];

    assert_int_equal(rcl_parse_seeds("127.0.0.1:7001, 127.0.0.1:7002,::1:7003", n, 4), 3);
    assert_string_equal(n[1].host, "127.0.0.1");
    assert_int_equal(n[1].port, 7002);
    assert_string_equal(n[2].host, "::1");
    assert_int_equal(rcl_parse_seeds("127.0.0.1", n, 4), -1);
    assert_int_equal(rcl_parse_seeds("127.0.0.1:0", n, 4), -1);
    assert_int_equal(rcl_parse_seeds("a:1,b:2", n, 1), -1);
    assert_int_equal(rcl_parse_seeds("a:1x", n, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),    cmocka_unit_test(test_map),
        cmocka_unit_test(test_redirect), cmocka_unit_test(test_cmd_key),
        cmocka_unit_test(test_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
