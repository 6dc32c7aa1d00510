/* metrics.h - counters, gauges and histograms in the Prometheus text
 * exposition format, version 0.0.4 (prometheus.io, "Exposition formats").
 *
 * Debian 12 has no C client library for Prometheus (prometheus-cpp is C++),
 * so this is a small writer. A registry (struct metrics) holds families in
 * registration order; a family has one name, one type, one HELP text and
 * label names fixed when it is registered; each combination of label values
 * is one series. Series are made at registration time or on first use
 * (metrics_series_get) and never removed, so a caller may keep the pointer
 * for good and update it without any lookup.
 *
 * Names follow the Prometheus conventions (prometheus.io, "Metric and label
 * naming"): base units (_seconds, _bytes), counters end in _total. A name
 * must match [a-zA-Z_:][a-zA-Z0-9_:]*, a label name [a-zA-Z_][a-zA-Z0-9_]*
 * and not start with "__"; a histogram may not have a label "le".
 *
 * Thread-safety: updates (metrics_inc, _add, _set, _gauge_add, _observe)
 * are lock-free C11 atomics (relaxed: a scrape is a snapshot in no
 * particular order), safe from any thread and cheap enough for hot paths
 * (a histogram observation is three atomic operations). Registration,
 * metrics_series_get of a series that does not exist yet, and
 * metrics_render take the registry's mutex; metrics_series_get of an
 * existing series takes no lock.
 *
 * Errors: registration with an invalid name, label or bucket list, or when
 * memory runs out, returns NULL and records the first error in m->errstr;
 * every update function accepts NULL and does nothing, so a program
 * registers everything, then checks m->errstr once (at startup).
 */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The Content-Type of metrics_render's output (format 0.0.4). */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 32

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_family;
struct metrics_series;

struct metrics {
    pthread_mutex_t lock; /* registration, new series, render */
    struct metrics_family *families, **tail;
    char errstr[160]; /* first registration error, "" if none */
};

/* Make m an empty registry. */
void metrics_init(struct metrics *m);
/* Free every family and series of m. No update may run meanwhile or after. */
void metrics_release(struct metrics *m);

/* Register a family. name and help are copied (help may hold any text: it
 * is escaped on output). labels: the label names, comma-separated without
 * spaces ("route,method,status"), or NULL / "" for none. Returns the
 * family (owned by m), or NULL (m->errstr says why) if the name or a label
 * is invalid or the name is taken. */
struct metrics_family *metrics_counter_new(struct metrics *m, const char *name, const char *help,
                                           const char *labels);
struct metrics_family *metrics_gauge_new(struct metrics *m, const char *name, const char *help,
                                         const char *labels);
/* bounds: the upper bounds of the buckets (inclusive, as `le` says), nbounds
 * of them (1 .. METRICS_MAX_BUCKETS), finite and strictly increasing; the
 * +Inf bucket is implied. Copied. */
struct metrics_family *metrics_histogram_new(struct metrics *m, const char *name, const char *help,
                                             const char *labels, const double *bounds,
                                             size_t nbounds);

/* The series of f with these label values (as many as f has label names,
 * in their order; any bytes, UTF-8 expected; copied), made with value 0 if
 * it does not exist yet. values may be NULL for a family without labels.
 * Returns NULL only for f NULL or out of memory. Thread-safe; the pointer
 * stays valid until metrics_release. */
struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values);

/* Register an unlabelled family and return its only series (NULL on error,
 * as for the _new functions). */
struct metrics_series *metrics_counter(struct metrics *m, const char *name, const char *help);
struct metrics_series *metrics_gauge(struct metrics *m, const char *name, const char *help);

/* Read s's value from fn(arg) at each render instead of from updates (the
 * "CounterFunc"/"GaugeFunc" of the official clients): for figures another
 * module already keeps. fn runs in the rendering thread under m's lock and
 * must be safe there; for a counter it must never decrease. Not for
 * histograms. Call before the first render. */
void metrics_series_fn(struct metrics_series *s, double (*fn)(void *arg), void *arg);

/* One unlabelled counter or gauge read through fn(arg) (metrics_series_fn),
 * as a row of a table: the figures a program's ops.c takes from its other
 * modules. type is METRICS_COUNTER or METRICS_GAUGE. */
struct metrics_fn_def {
    enum metrics_type type;
    const char *name, *help;
    double (*fn)(void *arg);
    void *arg;
};

/* Register each of defs[0..n) (metrics_counter or metrics_gauge, then
 * metrics_series_fn). A row that cannot be registered is skipped, and
 * m->errstr names the first such error. */
void metrics_fn_table(struct metrics *m, const struct metrics_fn_def *defs, size_t n);

/* Counters: add 1, or n. */
void metrics_inc(struct metrics_series *s);
void metrics_add(struct metrics_series *s, uint64_t n);
/* Gauges: set to v, or add d (may be negative). */
void metrics_set(struct metrics_series *s, double v);
void metrics_gauge_add(struct metrics_series *s, double d);
/* Histograms: count one observation of v (e.g. seconds) in the first bucket
 * whose bound is >= v (else +Inf) and add v to the sum. NaN is ignored. */
void metrics_observe(struct metrics_series *s, double v);

/* The current value of a counter or gauge (for tests and logs). */
double metrics_value(const struct metrics_series *s);

/* Append the exposition of every family of m to out: "# HELP", "# TYPE",
 * then one line per series (a histogram: cumulative _bucket lines, le="+Inf"
 * equal to _count, then _sum and _count). Label values are escaped
 * (backslash, double quote, line feed), HELP text too (backslash, line
 * feed). A family without series prints only its HELP and TYPE. */
void metrics_render(struct metrics *m, struct buf *out);

#endif
