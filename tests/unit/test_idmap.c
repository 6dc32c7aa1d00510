/* test_idmap.c - the intrusive id hash table: put, get, delete, growth and
 * a walk that deletes as it goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../lib/container.h"
#include "../../lib/idmap.c"

struct item {
    int tag;
    struct idmap_node n;
};

static void test_put_get_del(void **state)
{
    struct idmap m;
    struct item a = {.tag = 1, .n.key = 7}, b = {.tag = 2, .n.key = -7};

    idmap_init(&m);
    assert_null(idmap_get(&m, 7));
    idmap_put(&m, &a.n);
    idmap_put(&m, &b.n);
    assert_int_equal(m.n, 2);
    assert_int_equal(container_of(idmap_get(&m, 7), struct item, n)->tag, 1);
    assert_int_equal(container_of(idmap_get(&m, -7), struct item, n)->tag, 2);
    idmap_del(&m, &a.n);
    idmap_del(&m, &a.n); /* not in it any more: no-op */
    assert_null(idmap_get(&m, 7));
    assert_int_equal(m.n, 1);
    idmap_release(&m);
}

static void drop(void *arg, struct idmap_node *n)
{
    struct idmap *m = arg;

    if (n->key % 2 == 0)
        idmap_del(m, n);
}

static void test_grow_and_walk(void **state)
{
    enum { N = 1000 };
    struct item *items = calloc(N, sizeof(*items));
    struct idmap m;
    int64_t i;

    assert_non_null(items);
    idmap_init(&m);
    for (i = 0; i < N; i++) {
        items[i].n.key = i * 1000003;
        idmap_put(&m, &items[i].n);
    }
    assert_true(m.cap >= N);
    for (i = 0; i < N; i++)
        assert_ptr_equal(idmap_get(&m, i * 1000003), &items[i].n);
    idmap_each(&m, drop, &m);
    assert_int_equal(m.n, N / 2);
    for (i = 0; i < N; i++)
        assert_true((idmap_get(&m, i * 1000003) != NULL) == (i % 2 == 1));
    idmap_release(&m);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_grow_and_walk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
