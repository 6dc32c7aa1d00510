/* test_pagecache.c - cached history pages: served only at the chat
 * version they were read at, within the max age, to confirmed members;
 * bounded; a slower reader's older page never replaces a newer one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/pagecache.h"

static const struct pagecache_key k1 = {10, -1, -1, -1, 50};
static const char page[] = "{\"messages\":[],\"has_more_before\":false,\"has_more_after\":false}";

static enum pagecache_result get(struct pagecache *c, const struct pagecache_key *k,
                                 int64_t version, int64_t user, int64_t now, struct buf *out)
{
    buf_reset(out);
    return pagecache_get(c, k, version, user, now, out);
}

static void test_hit_at_same_version(void **state)
{
    struct pagecache c;
    struct buf out = BUF_INIT;

    (void)state;
    assert_int_equal(pagecache_init(&c, 16, 1 << 20), 0);
    assert_int_equal(get(&c, &k1, 4, 1, 1000, &out), PAGECACHE_MISS);
    pagecache_put(&c, &k1, page, strlen(page), 4, 1, 1000);
    assert_int_equal(get(&c, &k1, 4, 1, 1000, &out), PAGECACHE_HIT);
    assert_string_equal(out.s, page);
    /* another shape of the same chat is another page */
    struct pagecache_key k2 = k1;
    k2.before = 30;
    assert_int_equal(get(&c, &k2, 4, 1, 1000, &out), PAGECACHE_MISS);
    k2 = k1;
    k2.limit = 20;
    assert_int_equal(get(&c, &k2, 4, 1, 1000, &out), PAGECACHE_MISS);
    buf_release(&out);
    pagecache_release(&c);
}

static void test_version_mismatch_and_age_miss(void **state)
{
    struct pagecache c;
    struct buf out = BUF_INIT;

    (void)state;
    assert_int_equal(pagecache_init(&c, 16, 1 << 20), 0);
    pagecache_put(&c, &k1, page, strlen(page), 4, 1, 1000);
    assert_int_equal(get(&c, &k1, 4, 1, 1000 + PAGECACHE_MAX_AGE_MS - 1, &out), PAGECACHE_HIT);
    assert_int_equal(get(&c, &k1, 4, 1, 1000 + PAGECACHE_MAX_AGE_MS, &out), PAGECACHE_MISS);
    assert_int_equal(c.map.count, 0); /* dropped */
    pagecache_put(&c, &k1, page, strlen(page), 4, 1, 2000);
    assert_int_equal(get(&c, &k1, 5, 1, 2000, &out), PAGECACHE_MISS); /* the chat moved on */
    assert_int_equal(c.map.count, 0);
    assert_int_equal(get(&c, &k1, 4, 1, 2000, &out), PAGECACHE_MISS);
    buf_release(&out);
    pagecache_release(&c);
}

static void test_newer_entry_survives_older_reader(void **state)
{
    struct pagecache c;
    struct buf out = BUF_INIT;

    (void)state;
    assert_int_equal(pagecache_init(&c, 16, 1 << 20), 0);
    pagecache_put(&c, &k1, "new", 3, 6, 1, 1000);
    /* a reader that saw version 5 in Redis: a miss, the newer page stays */
    assert_int_equal(get(&c, &k1, 5, 1, 1000, &out), PAGECACHE_MISS);
    assert_int_equal(c.map.count, 1);
    /* nor does its page, read at 5, replace the one read at 6 */
    pagecache_put(&c, &k1, "old", 3, 5, 1, 1001);
    assert_int_equal(get(&c, &k1, 6, 1, 1001, &out), PAGECACHE_HIT);
    assert_string_equal(out.s, "new");
    /* a newer one does */
    pagecache_put(&c, &k1, "newer", 5, 7, 1, 1002);
    assert_int_equal(get(&c, &k1, 7, 1, 1002, &out), PAGECACHE_HIT);
    assert_string_equal(out.s, "newer");
    buf_release(&out);
    pagecache_release(&c);
}

static void test_members_confirmed_one_by_one(void **state)
{
    struct pagecache c;
    struct buf out = BUF_INIT;

    (void)state;
    assert_int_equal(pagecache_init(&c, 16, 1 << 20), 0);
    pagecache_put(&c, &k1, page, strlen(page), 4, 1, 1000);
    assert_int_equal(get(&c, &k1, 4, 2, 1000, &out), PAGECACHE_NOT_MEMBER);
    assert_int_equal(out.len, 0);
    /* user 2 passed PostgreSQL's membership check at the same version */
    pagecache_put(&c, &k1, page, strlen(page), 4, 2, 1200);
    assert_int_equal(get(&c, &k1, 4, 2, 1200, &out), PAGECACHE_HIT);
    assert_int_equal(get(&c, &k1, 4, 1, 1200, &out), PAGECACHE_HIT);
    /* joining does not make the page younger */
    assert_int_equal(get(&c, &k1, 4, 2, 1000 + PAGECACHE_MAX_AGE_MS, &out), PAGECACHE_MISS);
    /* a new version starts a new member list */
    pagecache_put(&c, &k1, page, strlen(page), 5, 3, 3000);
    assert_int_equal(get(&c, &k1, 5, 3, 3000, &out), PAGECACHE_HIT);
    assert_int_equal(get(&c, &k1, 5, 1, 3000, &out), PAGECACHE_NOT_MEMBER);
    buf_release(&out);
    pagecache_release(&c);
}

static void test_member_list_is_bounded(void **state)
{
    struct pagecache c;
    struct buf out = BUF_INIT;

    (void)state;
    assert_int_equal(pagecache_init(&c, 16, 1 << 24), 0);
    for (int64_t u = 1; u <= PAGECACHE_MAX_MEMBERS + 5; u++)
        pagecache_put(&c, &k1, page, strlen(page), 4, u, 1000);
    assert_int_equal(get(&c, &k1, 4, PAGECACHE_MAX_MEMBERS, 1000, &out), PAGECACHE_HIT);
    assert_int_equal(get(&c, &k1, 4, PAGECACHE_MAX_MEMBERS + 1, 1000, &out), PAGECACHE_NOT_MEMBER);
    buf_release(&out);
    pagecache_release(&c);
}

static void test_bounds_entries_bytes_and_big_pages(void **state)
{
    struct pagecache c;
    struct buf out = BUF_INIT;
    static char big[PAGECACHE_MAX_PAGE_BYTES + 1];
    struct pagecache_key k;

    (void)state;
    memset(big, 'x', sizeof(big));
    assert_int_equal(pagecache_init(&c, 3, 1 << 20), 0);
    pagecache_put(&c, &k1, big, sizeof(big), 4, 1, 1000);
    assert_int_equal(c.map.count, 0);
    for (int64_t chat = 1; chat <= 5; chat++) {
        k = k1;
        k.chat_id = chat;
        pagecache_put(&c, &k, page, strlen(page), 1, 1, 1000);
    }
    assert_int_equal(c.map.count, 3);
    k.chat_id = 1;
    assert_int_equal(get(&c, &k, 1, 1, 1000, &out), PAGECACHE_MISS);
    k.chat_id = 5;
    assert_int_equal(get(&c, &k, 1, 1, 1000, &out), PAGECACHE_HIT);
    pagecache_release(&c);

    /* by bytes: three 100 KiB pages in 256 KiB */
    assert_int_equal(pagecache_init(&c, 100, 256u << 10), 0);
    for (int64_t chat = 1; chat <= 3; chat++) {
        k = k1;
        k.chat_id = chat;
        pagecache_put(&c, &k, big, 100u << 10, 1, 1, 1000);
    }
    assert_int_equal(c.map.count, 2);
    assert_true(c.map.bytes <= (256u << 10));
    buf_release(&out);
    pagecache_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_at_same_version),
        cmocka_unit_test(test_version_mismatch_and_age_miss),
        cmocka_unit_test(test_newer_entry_survives_older_reader),
        cmocka_unit_test(test_members_confirmed_one_by_one),
        cmocka_unit_test(test_member_list_is_bounded),
        cmocka_unit_test(test_bounds_entries_bytes_and_big_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
