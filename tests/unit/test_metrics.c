/* test_metrics.c - the Prometheus text exposition of lib/metrics: lines,
 * escaping, histogram buckets, errors, and updates from many threads. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/metrics.c"

static char *render(struct metrics *m)
{
    struct buf b = BUF_INIT;

    metrics_render(m, &b);
    return buf_detach(&b, NULL);
}

static void expect_render(struct metrics *m, const char *want)
{
    char *got = render(m);

    assert_string_equal(got, want);
    free(got);
}

static void test_counter_and_gauge_lines(void **state)
{
    struct metrics m;
    struct metrics_series *c, *g;

    metrics_init(&m);
    c = metrics_counter(&m, "x_requests_total", "Requests served.");
    g = metrics_gauge(&m, "x_temperature_celsius", "Temperature.");
    metrics_inc(c);
    metrics_add(c, 41);
    metrics_set(g, 2.5);
    metrics_gauge_add(g, -4);
    expect_render(&m, "# HELP x_requests_total Requests served.\n"
                      "# TYPE x_requests_total counter\n"
                      "x_requests_total 42\n"
                      "# HELP x_temperature_celsius Temperature.\n"
                      "# TYPE x_temperature_celsius gauge\n"
                      "x_temperature_celsius -1.5\n");
    assert_true(metrics_value(c) == 42);
    metrics_release(&m);
}

static void test_labels_in_order_of_first_use(void **state)
{
    struct metrics m;
    struct metrics_family *f;

    metrics_init(&m);
    f = metrics_counter_new(&m, "x_total", "By kind and result.", "kind,result");
    metrics_add(metrics_series_get(f, (const char *[]){"push", "sent"}), 3);
    metrics_inc(metrics_series_get(f, (const char *[]){"webhook", "failed"}));
    /* the same values find the same series */
    assert_ptr_equal(metrics_series_get(f, (const char *[]){"push", "sent"}),
                     metrics_series_get(f, (const char *[]){"push", "sent"}));
    metrics_inc(metrics_series_get(f, (const char *[]){"push", "sent"}));
    expect_render(&m, "# HELP x_total By kind and result.\n"
                      "# TYPE x_total counter\n"
                      "x_total{kind=\"push\",result=\"sent\"} 4\n"
                      "x_total{kind=\"webhook\",result=\"failed\"} 1\n");
    metrics_release(&m);
}

static void test_escaping_of_label_values_and_help(void **state)
{
    struct metrics m;
    struct metrics_family *f;

    metrics_init(&m);
    f = metrics_gauge_new(&m, "x_info", "Back\\slash and\nnew \"line\".", "v");
    metrics_set(metrics_series_get(f, (const char *[]){"a\"b\\c\nd"}), 1);
    metrics_set(metrics_series_get(f, (const char *[]){""}), 0);
    metrics_set(metrics_series_get(f, (const char *[]){"\xc3\xa9t\xc3\xa9"}), 2);
    expect_render(&m, "# HELP x_info Back\\\\slash and\\nnew \"line\".\n"
                      "# TYPE x_info gauge\n"
                      "x_info{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                      "x_info{v=\"\"} 0\n"
                      "x_info{v=\"\xc3\xa9t\xc3\xa9\"} 2\n");
    metrics_release(&m);
}

static void test_histogram_cumulative_buckets(void **state)
{
    static const double bounds[] = {0.005, 0.1, 1};
    struct metrics m;
    struct metrics_series *h;

    metrics_init(&m);
    h = metrics_series_get(metrics_histogram_new(&m, "x_seconds", "Latency.", NULL, bounds, 3),
                           NULL);
    metrics_observe(h, 0.001);
    metrics_observe(h, 0.005); /* on a bound: that bucket (le is <=) */
    metrics_observe(h, 0.05);
    metrics_observe(h, 0.5);
    metrics_observe(h, 7);
    metrics_observe(h, 12);
    metrics_observe(h, NAN); /* ignored */
    expect_render(&m, "# HELP x_seconds Latency.\n"
                      "# TYPE x_seconds histogram\n"
                      "x_seconds_bucket{le=\"0.005\"} 2\n"
                      "x_seconds_bucket{le=\"0.1\"} 3\n"
                      "x_seconds_bucket{le=\"1\"} 4\n"
                      "x_seconds_bucket{le=\"+Inf\"} 6\n"
                      "x_seconds_sum 19.556\n"
                      "x_seconds_count 6\n");
    metrics_release(&m);
}

static void test_histogram_with_labels_and_no_observations(void **state)
{
    static const double bounds[] = {0.0025, 10};
    struct metrics m;
    struct metrics_family *f;

    metrics_init(&m);
    f = metrics_histogram_new(&m, "x_duration_seconds", "By route.", "route", bounds, 2);
    metrics_series_get(f, (const char *[]){"/a/{id}"});
    metrics_observe(metrics_series_get(f, (const char *[]){"unmatched"}), 0.002);
    expect_render(&m, "# HELP x_duration_seconds By route.\n"
                      "# TYPE x_duration_seconds histogram\n"
                      "x_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.0025\"} 0\n"
                      "x_duration_seconds_bucket{route=\"/a/{id}\",le=\"10\"} 0\n"
                      "x_duration_seconds_bucket{route=\"/a/{id}\",le=\"+Inf\"} 0\n"
                      "x_duration_seconds_sum{route=\"/a/{id}\"} 0\n"
                      "x_duration_seconds_count{route=\"/a/{id}\"} 0\n"
                      "x_duration_seconds_bucket{route=\"unmatched\",le=\"0.0025\"} 1\n"
                      "x_duration_seconds_bucket{route=\"unmatched\",le=\"10\"} 1\n"
                      "x_duration_seconds_bucket{route=\"unmatched\",le=\"+Inf\"} 1\n"
                      "x_duration_seconds_sum{route=\"unmatched\"} 0.002\n"
                      "x_duration_seconds_count{route=\"unmatched\"} 1\n");
    metrics_release(&m);
}

static double answer(void *arg)
{
    return *(int *)arg;
}

static void test_value_from_a_function(void **state)
{
    struct metrics m;
    struct metrics_series *c, *g;
    int n = 7, depth = 3;

    metrics_init(&m);
    c = metrics_counter(&m, "x_reconnects_total", "From elsewhere.");
    g = metrics_gauge(&m, "x_depth", "From elsewhere too.");
    metrics_series_fn(c, answer, &n);
    metrics_series_fn(g, answer, &depth);
    n = 9;
    expect_render(&m, "# HELP x_reconnects_total From elsewhere.\n"
                      "# TYPE x_reconnects_total counter\n"
                      "x_reconnects_total 9\n"
                      "# HELP x_depth From elsewhere too.\n"
                      "# TYPE x_depth gauge\n"
                      "x_depth 3\n");
    metrics_release(&m);
}

/* A table of function-read families: each row registered, in order; a bad
 * row is skipped and named in errstr, the others still stand. */
static void test_fn_table(void **state)
{
    struct metrics m;
    int n = 4, depth = 2;
    const struct metrics_fn_def defs[] = {
        {METRICS_COUNTER, "t_done_total", "Done.", answer, &n},
        {METRICS_GAUGE, "bad name", "Refused.", answer, &n},
        {METRICS_GAUGE, "t_depth", "Depth.", answer, &depth},
    };

    metrics_init(&m);
    metrics_fn_table(&m, defs, 3);
    assert_non_null(strstr(m.errstr, "bad name"));
    n = 5;
    expect_render(&m, "# HELP t_done_total Done.\n"
                      "# TYPE t_done_total counter\n"
                      "t_done_total 5\n"
                      "# HELP t_depth Depth.\n"
                      "# TYPE t_depth gauge\n"
                      "t_depth 2\n");
    metrics_release(&m);
}

static void test_float_text(void **state)
{
    struct metrics m;
    struct metrics_family *f;

    metrics_init(&m);
    f = metrics_gauge_new(&m, "x", "", "i");
    metrics_set(metrics_series_get(f, (const char *[]){"a"}), 0.1);
    metrics_set(metrics_series_get(f, (const char *[]){"b"}), 1e300 * 1e300);
    metrics_set(metrics_series_get(f, (const char *[]){"c"}), -1e300 * 1e300);
    metrics_set(metrics_series_get(f, (const char *[]){"d"}), NAN);
    metrics_set(metrics_series_get(f, (const char *[]){"e"}), 1.0 / 3);
    metrics_set(metrics_series_get(f, (const char *[]){"f"}), 1234567890123.0);
    expect_render(&m, "# HELP x \n"
                      "# TYPE x gauge\n"
                      "x{i=\"a\"} 0.1\n"
                      "x{i=\"b\"} +Inf\n"
                      "x{i=\"c\"} -Inf\n"
                      "x{i=\"d\"} NaN\n"
                      "x{i=\"e\"} 0.33333333333333331\n"
                      "x{i=\"f\"} 1234567890123\n");
    metrics_release(&m);
}

static void test_bad_registrations(void **state)
{
    static const double unsorted[] = {1, 0.5};
    static const double inf[] = {1, INFINITY};
    static const double one[] = {1};
    struct metrics m;

    metrics_init(&m);
    assert_null(metrics_counter(&m, "1abc", "starts with a digit"));
    assert_string_equal(m.errstr, "bad metric name 1abc");
    assert_null(metrics_counter_new(&m, "a-b", "", NULL));
    assert_null(metrics_counter_new(&m, "ok_total", "", "__reserved"));
    assert_null(metrics_counter_new(&m, "ok_total", "", "a,b-c"));
    assert_null(metrics_counter_new(&m, "ok_total", "", "a,,b"));
    assert_null(metrics_counter_new(&m, "ok_total", "", "a,b,c,d,e"));
    assert_null(metrics_histogram_new(&m, "h", "", NULL, unsorted, 2));
    assert_null(metrics_histogram_new(&m, "h", "", NULL, inf, 2));
    assert_null(metrics_histogram_new(&m, "h", "", NULL, one, 0));
    assert_null(metrics_histogram_new(&m, "h", "", "le", one, 1));
    assert_non_null(metrics_counter(&m, "ns:ok_total", ""));
    assert_null(metrics_counter(&m, "ns:ok_total", "twice"));
    /* updates of a failed registration are no-ops */
    metrics_inc(NULL);
    metrics_set(NULL, 1);
    metrics_observe(NULL, 1);
    assert_null(metrics_series_get(NULL, NULL));
    /* the first error stays */
    assert_string_equal(m.errstr, "bad metric name 1abc");
    expect_render(&m, "# HELP ns:ok_total \n# TYPE ns:ok_total counter\nns:ok_total 0\n");
    metrics_release(&m);
}

#define THREADS 8
#define ROUNDS 20000

static struct metrics race_m;
static struct metrics_family *race_f, *race_h;

static void *race(void *arg)
{
    char v[8];
    const char *values[] = {v};

    for (int i = 0; i < ROUNDS; i++) {
        snprintf(v, sizeof(v), "s%d", i % 16); /* new series made by several threads at once */
        metrics_inc(metrics_series_get(race_f, values));
        metrics_observe(metrics_series_get(race_h, NULL), 0.5);
    }
    return NULL;
}

static void test_updates_from_many_threads(void **state)
{
    static const double bounds[] = {1};
    pthread_t t[THREADS];
    double total = 0;

    metrics_init(&race_m);
    race_f = metrics_counter_new(&race_m, "r_total", "", "s");
    race_h = metrics_histogram_new(&race_m, "r_seconds", "", NULL, bounds, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, race, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 16; i++) {
        char v[8];
        const char *values[] = {v};

        snprintf(v, sizeof(v), "s%d", i);
        total += metrics_value(metrics_series_get(race_f, values));
    }
    assert_true(total == THREADS * ROUNDS);
    {
        char *out = render(&race_m);
        char want[128];
        int n = 0;

        for (char *p = out; (p = strstr(p, "r_total{")); p++)
            n++;
        assert_int_equal(n, 16); /* each series made once */
        snprintf(want, sizeof(want), "r_seconds_count %d\n", THREADS * ROUNDS);
        assert_non_null(strstr(out, want));
        snprintf(want, sizeof(want), "r_seconds_sum %d\n", THREADS * ROUNDS / 2);
        assert_non_null(strstr(out, want));
        free(out);
    }
    metrics_release(&race_m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_lines),
        cmocka_unit_test(test_labels_in_order_of_first_use),
        cmocka_unit_test(test_escaping_of_label_values_and_help),
        cmocka_unit_test(test_histogram_cumulative_buckets),
        cmocka_unit_test(test_histogram_with_labels_and_no_observations),
        cmocka_unit_test(test_value_from_a_function),
        cmocka_unit_test(test_fn_table),
        cmocka_unit_test(test_float_text),
        cmocka_unit_test(test_bad_registrations),
        cmocka_unit_test(test_updates_from_many_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
