/*
 * counters.c — counters, the lateness histogram, the periodic summary line
 * and the Prometheus rendering. Writers are one thread; readers may be any.
 */
#include "counters.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

const int64_t cairn_timers_hist_bounds[CAIRN_TIMERS_HIST_N - 1] = {
    CAIRN_TIMERS_HIST_BOUNDS};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void cairn_timers_metrics_init(cairn_timers_metrics_t *m) {
#define CAIRN_TM_COUNTER(name, help) atomic_init(&m->name, 0);
    CAIRN_TIMERS_COUNTERS(CAIRN_TM_COUNTER)
#undef CAIRN_TM_COUNTER
#define CAIRN_TM_GAUGE(name, help) atomic_init(&m->name, 0);
    CAIRN_TIMERS_GAUGES(CAIRN_TM_GAUGE)
#undef CAIRN_TM_GAUGE
    cairn_timers_hist_t *hs[2] = {&m->late_produce, &m->late_delivered};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < CAIRN_TIMERS_HIST_N; i++)
            atomic_init(&hs[k]->bucket[i], 0);
        atomic_init(&hs[k]->count, 0);
        atomic_init(&hs[k]->sum_ms, 0);
    }
}

void cairn_timers_hist_observe(cairn_timers_hist_t *h, int64_t ms) {
    int lo = 0, hi = CAIRN_TIMERS_HIST_N - 1; /* hi = the +Inf bucket */
    if (ms < 0)
        ms = 0;
    /* First bound >= ms. */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cairn_timers_hist_bounds[mid] >= ms)
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->bucket[lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ms, (uint64_t)ms, memory_order_relaxed);
}

void cairn_timers_metrics_snapshot(const cairn_timers_metrics_t *m,
                                   cairn_timers_snapshot_t *s) {
#define CAIRN_TM_COUNTER(name, help) s->name = LOAD(m->name);
    CAIRN_TIMERS_COUNTERS(CAIRN_TM_COUNTER)
#undef CAIRN_TM_COUNTER
#define CAIRN_TM_GAUGE(name, help) s->name = LOAD(m->name);
    CAIRN_TIMERS_GAUGES(CAIRN_TM_GAUGE)
#undef CAIRN_TM_GAUGE
    for (int i = 0; i < CAIRN_TIMERS_HIST_N; i++) {
        s->late_produce[i] = LOAD(m->late_produce.bucket[i]);
        s->late_delivered[i] = LOAD(m->late_delivered.bucket[i]);
    }
}

int64_t cairn_timers_hist_quantile(const uint64_t *now, const uint64_t *prev,
                                   double q) {
    uint64_t d[CAIRN_TIMERS_HIST_N], total = 0, cum = 0;
    for (int i = 0; i < CAIRN_TIMERS_HIST_N; i++) {
        d[i] = now[i] - (prev ? prev[i] : 0);
        total += d[i];
    }
    if (!total)
        return -1;
    double rank = q * (double)total;
    for (int i = 0; i < CAIRN_TIMERS_HIST_N; i++) {
        if (!d[i] || (double)(cum + d[i]) < rank) {
            cum += d[i];
            continue;
        }
        if (i == CAIRN_TIMERS_HIST_N - 1) /* +Inf: the last finite bound */
            return cairn_timers_hist_bounds[i - 1];
        int64_t lo = i ? cairn_timers_hist_bounds[i - 1] : 0;
        int64_t hi = cairn_timers_hist_bounds[i];
        double frac = (rank - (double)cum) / (double)d[i];
        if (frac < 0)
            frac = 0;
        return lo + (int64_t)((double)(hi - lo) * frac + 0.5);
    }
    return cairn_timers_hist_bounds[CAIRN_TIMERS_HIST_N - 2];
}

void cairn_timers_metrics_log(const cairn_timers_metrics_t *m,
                              cairn_timers_snapshot_t *prev,
                              int64_t window_ms) {
    cairn_timers_snapshot_t s;
    cairn_timers_metrics_snapshot(m, &s);
    LOG_INFO("timers: window_ms=%lld fired=%llu delivery_failures=%llu "
             "produce_errors=%llu claimed=%llu reclaimed=%llu merged=%llu "
             "held=%llu "
             "late_p50_ms=%lld late_p99_ms=%lld delivered_p99_ms=%lld "
             "pending=%lld overdue=%lld inflight=%lld outstanding=%lld "
             "redis_up=%lld",
             (long long)window_ms,
             (unsigned long long)(s.fired - prev->fired),
             (unsigned long long)(s.delivery_failures -
                                  prev->delivery_failures),
             (unsigned long long)(s.produce_errors - prev->produce_errors),
             (unsigned long long)(s.claimed - prev->claimed),
             (unsigned long long)(s.reclaimed - prev->reclaimed),
             (unsigned long long)(s.merged - prev->merged),
             (unsigned long long)(s.held - prev->held),
             (long long)cairn_timers_hist_quantile(s.late_produce,
                                                   prev->late_produce, 0.5),
             (long long)cairn_timers_hist_quantile(s.late_produce,
                                                   prev->late_produce, 0.99),
             (long long)cairn_timers_hist_quantile(s.late_delivered,
                                                   prev->late_delivered, 0.99),
             (long long)s.pending, (long long)s.overdue, (long long)s.inflight,
             (long long)s.outstanding, (long long)s.redis_up);
    *prev = s;
}

typedef struct {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->size ? o->size - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void put_hist(out_t *o, const char *name, const char *help,
                     const cairn_timers_hist_t *h) {
    uint64_t cum = 0;
    put(o, "# HELP cairn_timers_%s %s\n# TYPE cairn_timers_%s histogram\n",
        name, help, name);
    for (int i = 0; i < CAIRN_TIMERS_HIST_N; i++) {
        cum += LOAD(h->bucket[i]);
        if (i < CAIRN_TIMERS_HIST_N - 1)
            put(o, "cairn_timers_%s_bucket{le=\"%g\"} %llu\n", name,
                (double)cairn_timers_hist_bounds[i] / 1000.0,
                (unsigned long long)cum);
        else
            put(o, "cairn_timers_%s_bucket{le=\"+Inf\"} %llu\n", name,
                (unsigned long long)cum);
    }
    put(o, "cairn_timers_%s_sum %g\ncairn_timers_%s_count %llu\n", name,
        (double)LOAD(h->sum_ms) / 1000.0, name,
        (unsigned long long)LOAD(h->count));
}

size_t cairn_timers_metrics_format(const cairn_timers_metrics_t *m, char *buf,
                                   size_t size) {
    out_t o = {buf, size, 0};
    if (size)
        buf[0] = '\0';
#define CAIRN_TM_COUNTER(name, help)                                           \
    put(&o,                                                                    \
        "# HELP cairn_timers_" #name "_total " help "\n"                       \
        "# TYPE cairn_timers_" #name "_total counter\n"                        \
        "cairn_timers_" #name "_total %llu\n",                                 \
        (unsigned long long)LOAD(m->name));
    CAIRN_TIMERS_COUNTERS(CAIRN_TM_COUNTER)
#undef CAIRN_TM_COUNTER
#define CAIRN_TM_GAUGE(name, help)                                             \
    put(&o,                                                                    \
        "# HELP cairn_timers_" #name " " help "\n"                             \
        "# TYPE cairn_timers_" #name " gauge\n"                                \
        "cairn_timers_" #name " %lld\n",                                       \
        (long long)LOAD(m->name));
    CAIRN_TIMERS_GAUGES(CAIRN_TM_GAUGE)
#undef CAIRN_TM_GAUGE
    put_hist(&o, "lateness_seconds",
             "TimerFired produce time minus due time", &m->late_produce);
    put_hist(&o, "delivered_lateness_seconds",
             "TimerFired delivery report time minus due time",
             &m->late_delivered);
    return o.len;
}
