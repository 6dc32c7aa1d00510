/* test_lru.c - the bounded map under chat-api's caches: lookup, replace,
 * eviction by count and by bytes, least recently used first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../cgi/lru.h"
#include "err.h"

static int freed;

static void count_free(void *p)
{
    freed++;
    free(p);
}

static int *ival(int v)
{
    int *p = malloc(sizeof(*p));

    *p = v;
    return p;
}

static int get(struct lru *m, int64_t k)
{
    int *p = lru_get(m, &k, sizeof(k));

    return p ? *p : -1;
}

static void put(struct lru *m, int64_t k, int v, size_t bytes)
{
    lru_put(m, &k, sizeof(k), ival(v), bytes);
}

static void test_get_put_replace(void **state)
{
    struct lru m;

    (void)state;
    freed = 0;
    assert_int_equal(lru_init(&m, 8, 1000, count_free), 0);
    assert_int_equal(get(&m, 1), -1);
    put(&m, 1, 10, 1);
    put(&m, 2, 20, 1);
    assert_int_equal(get(&m, 1), 10);
    assert_int_equal(get(&m, 2), 20);
    put(&m, 1, 11, 1);
    assert_int_equal(freed, 1); /* the replaced value */
    assert_int_equal(get(&m, 1), 11);
    assert_int_equal(m.count, 2);
    lru_del(&m, &(int64_t){1}, sizeof(int64_t));
    assert_int_equal(get(&m, 1), -1);
    assert_int_equal(m.count, 1);
    lru_release(&m);
    assert_int_equal(freed, 3);
}

static void test_evicts_least_recent_by_count(void **state)
{
    struct lru m;

    (void)state;
    assert_int_equal(lru_init(&m, 3, 1000, count_free), 0);
    put(&m, 1, 1, 1);
    put(&m, 2, 2, 1);
    put(&m, 3, 3, 1);
    assert_int_equal(get(&m, 1), 1); /* 2 is now the coldest */
    put(&m, 4, 4, 1);
    assert_int_equal(m.count, 3);
    assert_int_equal(get(&m, 2), -1);
    assert_int_equal(get(&m, 1), 1);
    assert_int_equal(get(&m, 3), 3);
    assert_int_equal(get(&m, 4), 4);
    lru_release(&m);
}

static void test_evicts_by_bytes_and_refuses_too_big(void **state)
{
    struct lru m;
    int64_t k = 9;

    (void)state;
    freed = 0;
    assert_int_equal(lru_init(&m, 100, 100, count_free), 0);
    put(&m, 1, 1, 40);
    put(&m, 2, 2, 40);
    put(&m, 3, 3, 40); /* 120 > 100: 1 goes */
    assert_int_equal(get(&m, 1), -1);
    assert_int_equal(m.bytes, 80);
    assert_int_equal(lru_put(&m, &k, sizeof(k), ival(9), 101), CHAT_ERR_TOO_BIG);
    assert_int_equal(get(&m, 9), -1);
    assert_int_equal(m.bytes, 80);
    /* growing an entry in place evicts the cold ones */
    assert_int_equal(get(&m, 2), 2);
    lru_resize(&m, &(int64_t){2}, sizeof(int64_t), 90);
    assert_int_equal(get(&m, 3), -1);
    assert_int_equal(get(&m, 2), 2);
    assert_int_equal(m.bytes, 90);
    lru_release(&m);
    assert_int_equal(freed, 4);
}

static void test_many_keys_collide_in_buckets(void **state)
{
    struct lru m;

    (void)state;
    assert_int_equal(lru_init(&m, 64, 1 << 20, count_free), 0);
    for (int i = 0; i < 1000; i++)
        put(&m, i, i, 1);
    assert_int_equal(m.count, 64);
    for (int i = 0; i < 936; i++)
        assert_int_equal(get(&m, i), -1);
    for (int i = 936; i < 1000; i++)
        assert_int_equal(get(&m, i), i);
    lru_release(&m);
}

static void test_key_too_long(void **state)
{
    struct lru m;
    char key[LRU_KEY_MAX + 1] = {0};

    (void)state;
    freed = 0;
    assert_int_equal(lru_init(&m, 4, 100, count_free), 0);
    assert_int_equal(lru_put(&m, key, sizeof(key), ival(1), 1), CHAT_ERR_INVALID);
    assert_int_equal(freed, 1);
    assert_null(lru_get(&m, key, sizeof(key)));
    lru_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_replace),
        cmocka_unit_test(test_evicts_least_recent_by_count),
        cmocka_unit_test(test_evicts_by_bytes_and_refuses_too_big),
        cmocka_unit_test(test_many_keys_collide_in_buckets),
        cmocka_unit_test(test_key_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
