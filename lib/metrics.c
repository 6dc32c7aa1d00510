/* metrics.c - the Prometheus text exposition writer of metrics.h.
 *
 * Values live in _Atomic uint64_t: counters as integers, gauges and
 * histogram sums as the bits of a double (updated with a compare-and-swap
 * loop). A histogram keeps one non-cumulative count per bucket; render
 * accumulates them, so le="+Inf" and _count are always the same number
 * even while observations race the scrape. Series of a family hang off a
 * small hash table whose chains are published with release stores, so a
 * lookup of an existing series reads them without the lock.
 */
#include "metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_HASH 64

struct metrics_series {
    struct metrics_series *next;            /* in the family, in creation order */
    _Atomic(struct metrics_series *) hnext; /* same hash chain */
    struct metrics_family *f;
    char *values[METRICS_MAX_LABELS];
    double (*fn)(void *arg);
    void *fn_arg;
    _Atomic uint64_t value;     /* counter: the count; gauge: double bits */
    _Atomic uint64_t sum;       /* histogram: double bits */
    _Atomic uint64_t buckets[]; /* histogram: nbounds + 1, the last above every bound */
};

struct metrics_family {
    struct metrics_family *next;
    struct metrics *m;
    enum metrics_type type;
    char *name, *help;
    char *labels[METRICS_MAX_LABELS];
    int nlabels;
    double bounds[METRICS_MAX_BUCKETS];
    size_t nbounds;
    struct metrics_series *series, **series_tail;
    _Atomic(struct metrics_series *) hash[METRICS_HASH];
};

static uint64_t dbits(double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double v;

    memcpy(&v, &u, sizeof(v));
    return v;
}

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->tail = &m->families;
}

static void family_free(struct metrics_family *f)
{
    struct metrics_series *s, *next;

    for (s = f->series; s; s = next) {
        next = s->next;
        for (int i = 0; i < f->nlabels; i++)
            free(s->values[i]);
        free(s);
    }
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_release(struct metrics *m)
{
    struct metrics_family *f, *next;

    for (f = m->families; f; f = next) {
        next = f->next;
        family_free(f);
    }
    m->families = NULL;
    m->tail = &m->families;
    pthread_mutex_destroy(&m->lock);
}

/* ---- registration ---- */

static bool name_ok(const char *s, size_t len, bool colon)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');

        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static void reg_fail(struct metrics *m, const char *fmt, const char *what)
{
    if (!m->errstr[0])
        snprintf(m->errstr, sizeof(m->errstr), fmt, what);
}

static bool name_taken(struct metrics *m, const char *name)
{
    for (struct metrics_family *f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return true;
    return false;
}

/* Split labels into f->labels; false (m->errstr set) if one is invalid. */
static bool family_labels(struct metrics *m, struct metrics_family *f, const char *labels)
{
    const char *p = labels;

    while (p && *p) {
        size_t len = strcspn(p, ",");

        if (f->nlabels == METRICS_MAX_LABELS || !name_ok(p, len, false) ||
            (len >= 2 && p[0] == '_' && p[1] == '_') ||
            (f->type == METRICS_HISTOGRAM && len == 2 && memcmp(p, "le", 2) == 0)) {
            reg_fail(m, "metric %s: bad label list", f->name);
            return false;
        }
        f->labels[f->nlabels] = strndup(p, len);
        if (!f->labels[f->nlabels]) {
            reg_fail(m, "metric %s: out of memory", f->name);
            return false;
        }
        f->nlabels++;
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

static bool bounds_ok(const double *b, size_t n)
{
    if (n < 1 || n > METRICS_MAX_BUCKETS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1]))
            return false;
    return true;
}

static struct metrics_family *family_new(struct metrics *m, enum metrics_type type,
                                         const char *name, const char *help, const char *labels,
                                         const double *bounds, size_t nbounds)
{
    struct metrics_family *f;

    if (!name || !name_ok(name, strlen(name), true)) {
        reg_fail(m, "bad metric name %s", name ? name : "(null)");
        return NULL;
    }
    if (type == METRICS_HISTOGRAM && !bounds_ok(bounds, nbounds)) {
        reg_fail(m, "metric %s: bad bucket bounds", name);
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        reg_fail(m, "metric %s: out of memory", name);
        return NULL;
    }
    f->m = m;
    f->type = type;
    f->series_tail = &f->series;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        reg_fail(m, "metric %s: out of memory", name);
        goto out_free;
    }
    if (!family_labels(m, f, labels))
        goto out_free;
    if (type == METRICS_HISTOGRAM) {
        memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
        f->nbounds = nbounds;
    }
    pthread_mutex_lock(&m->lock);
    if (name_taken(m, name)) {
        pthread_mutex_unlock(&m->lock);
        reg_fail(m, "metric %s registered twice", name);
        goto out_free;
    }
    *m->tail = f;
    m->tail = &f->next;
    pthread_mutex_unlock(&m->lock);
    return f;
out_free:
    family_free(f);
    return NULL;
}

struct metrics_family *metrics_counter_new(struct metrics *m, const char *name, const char *help,
                                           const char *labels)
{
    return family_new(m, METRICS_COUNTER, name, help, labels, NULL, 0);
}

struct metrics_family *metrics_gauge_new(struct metrics *m, const char *name, const char *help,
                                         const char *labels)
{
    return family_new(m, METRICS_GAUGE, name, help, labels, NULL, 0);
}

struct metrics_family *metrics_histogram_new(struct metrics *m, const char *name, const char *help,
                                             const char *labels, const double *bounds,
                                             size_t nbounds)
{
    return family_new(m, METRICS_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* ---- series ---- */

/* FNV-1a over the values, each with its NUL. */
static unsigned series_hash(const struct metrics_family *f, const char *const *values)
{
    uint32_t h = 2166136261u;

    for (int i = 0; i < f->nlabels; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i];; p++) {
            h = (h ^ *p) * 16777619u;
            if (!*p)
                break;
        }
    }
    return h % METRICS_HASH;
}

static struct metrics_series *series_find(struct metrics_family *f, unsigned h,
                                          const char *const *values)
{
    struct metrics_series *s = atomic_load_explicit(&f->hash[h], memory_order_acquire);

    for (; s; s = atomic_load_explicit(&s->hnext, memory_order_acquire)) {
        int i = 0;

        while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    return NULL;
}

static struct metrics_series *series_new(struct metrics_family *f, const char *const *values)
{
    size_t nb = f->type == METRICS_HISTOGRAM ? f->nbounds + 1 : 0;
    struct metrics_series *s = calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]));

    if (!s)
        return NULL;
    s->f = f;
    for (int i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(values[i] ? values[i] : "");
        if (!s->values[i]) {
            while (i-- > 0)
                free(s->values[i]);
            free(s);
            return NULL;
        }
    }
    return s;
}

struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values)
{
    static const char *const none[METRICS_MAX_LABELS] = {"", "", "", ""};
    struct metrics_series *s;
    unsigned h;

    if (!f)
        return NULL;
    if (!values)
        values = none;
    h = series_hash(f, values);
    s = series_find(f, h, values);
    if (s)
        return s;
    pthread_mutex_lock(&f->m->lock);
    s = series_find(f, h, values); /* another thread may have made it meanwhile */
    if (!s) {
        s = series_new(f, values);
        if (s) {
            *f->series_tail = s;
            f->series_tail = &s->next;
            atomic_store_explicit(&s->hnext, atomic_load(&f->hash[h]), memory_order_relaxed);
            atomic_store_explicit(&f->hash[h], s, memory_order_release);
        }
    }
    pthread_mutex_unlock(&f->m->lock);
    return s;
}

struct metrics_series *metrics_counter(struct metrics *m, const char *name, const char *help)
{
    return metrics_series_get(metrics_counter_new(m, name, help, NULL), NULL);
}

struct metrics_series *metrics_gauge(struct metrics *m, const char *name, const char *help)
{
    return metrics_series_get(metrics_gauge_new(m, name, help, NULL), NULL);
}

void metrics_series_fn(struct metrics_series *s, double (*fn)(void *arg), void *arg)
{
    if (!s || s->f->type == METRICS_HISTOGRAM)
        return;
    pthread_mutex_lock(&s->f->m->lock);
    s->fn = fn;
    s->fn_arg = arg;
    pthread_mutex_unlock(&s->f->m->lock);
}

void metrics_fn_table(struct metrics *m, const struct metrics_fn_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct metrics_fn_def *d = &defs[i];
        struct metrics_series *s = d->type == METRICS_COUNTER ? metrics_counter(m, d->name, d->help)
                                                              : metrics_gauge(m, d->name, d->help);

        metrics_series_fn(s, d->fn, d->arg);
    }
}

/* ---- updates ---- */

void metrics_inc(struct metrics_series *s)
{
    metrics_add(s, 1);
}

void metrics_add(struct metrics_series *s, uint64_t n)
{
    if (s)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_set(struct metrics_series *s, double v)
{
    if (s)
        atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *a, double d)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

    while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metrics_gauge_add(struct metrics_series *s, double d)
{
    if (s)
        add_double(&s->value, d);
}

void metrics_observe(struct metrics_series *s, double v)
{
    size_t i = 0;

    if (!s || isnan(v))
        return;
    while (i < s->f->nbounds && v > s->f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    add_double(&s->sum, v);
}

double metrics_value(const struct metrics_series *s)
{
    uint64_t u;

    if (!s)
        return 0;
    if (s->fn)
        return s->fn(s->fn_arg);
    u = atomic_load_explicit(&((struct metrics_series *)s)->value, memory_order_relaxed);
    return s->f->type == METRICS_COUNTER ? (double)u : bitsd(u);
}

/* ---- exposition ---- */

/* A float as Prometheus reads it (Go's ParseFloat): the shortest of %.15g
 * and %.17g that reads back the same, and +Inf, -Inf, NaN. */
static void add_double_text(struct buf *b, double v)
{
    char s[32];

    if (isnan(v)) {
        buf_adds(b, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_adds(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(s, sizeof(s), "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof(s), "%.17g", v);
    buf_adds(b, s);
}

/* HELP escapes backslash and line feed; a label value also double quote. */
static void add_escaped(struct buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_adds(b, "\\\\");
        else if (*s == '\n')
            buf_adds(b, "\\n");
        else if (quote && *s == '"')
            buf_adds(b, "\\\"");
        else
            buf_addch(b, *s);
    }
}

/* name{labels[,le="bound"]} */
static void add_series_name(struct buf *b, const struct metrics_series *s, const char *suffix,
                            const char *le)
{
    const struct metrics_family *f = s->f;

    buf_adds(b, f->name);
    buf_adds(b, suffix);
    if (!f->nlabels && !le)
        return;
    buf_addch(b, '{');
    for (int i = 0; i < f->nlabels; i++) {
        buf_addf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        add_escaped(b, s->values[i], true);
        buf_addch(b, '"');
    }
    if (le)
        buf_addf(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    buf_addch(b, '}');
}

static void render_histogram(struct buf *b, struct metrics_series *s)
{
    const struct metrics_family *f = s->f;
    uint64_t cum = 0;
    struct buf le = BUF_INIT;

    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        buf_reset(&le);
        if (i < f->nbounds)
            add_double_text(&le, f->bounds[i]);
        else
            buf_adds(&le, "+Inf");
        add_series_name(b, s, "_bucket", le.s);
        buf_addf(b, " %llu\n", (unsigned long long)cum);
    }
    buf_release(&le);
    add_series_name(b, s, "_sum", NULL);
    buf_addch(b, ' ');
    add_double_text(b, bitsd(atomic_load_explicit(&s->sum, memory_order_relaxed)));
    buf_addch(b, '\n');
    add_series_name(b, s, "_count", NULL);
    buf_addf(b, " %llu\n", (unsigned long long)cum);
}

static void render_series(struct buf *b, struct metrics_series *s)
{
    if (s->f->type == METRICS_HISTOGRAM) {
        render_histogram(b, s);
        return;
    }
    add_series_name(b, s, "", NULL);
    buf_addch(b, ' ');
    if (s->f->type == METRICS_COUNTER && !s->fn)
        buf_addf(b, "%llu",
                 (unsigned long long)atomic_load_explicit(&s->value, memory_order_relaxed));
    else
        add_double_text(b, metrics_value(s));
    buf_addch(b, '\n');
}

void metrics_render(struct metrics *m, struct buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    pthread_mutex_lock(&m->lock);
    for (struct metrics_family *f = m->families; f; f = f->next) {
        buf_addf(out, "# HELP %s ", f->name);
        add_escaped(out, f->help, false);
        buf_addf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
        for (struct metrics_series *s = f->series; s; s = s->next)
            render_series(out, s);
    }
    pthread_mutex_unlock(&m->lock);
}
