/*
 * counters.h — cairn-timers counters and the lateness histogram.
 *
 * One cairn_timers_metrics_t per process. The service thread writes it; any
 * other thread (a Prometheus endpoint) may read it at any time: every field
 * is a C11 atomic updated with relaxed ordering, counters only grow, and the
 * histogram is cumulative with fixed bucket bounds, which is exactly what
 * Prometheus' counter and histogram types expect. Rates and windowed
 * quantiles (the 10 s log summary) are differences of two snapshots.
 */
#ifndef CAIRN_TIMERS_METRICS_H
#define CAIRN_TIMERS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds (ms, inclusive) of the lateness buckets; one more is +Inf. */
#define CAIRN_TIMERS_HIST_BOUNDS                                               \
    0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300,  \
        500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000,    \
        30000, 60000, 120000, 300000
#define CAIRN_TIMERS_HIST_N 35 /* the bounds above + the +Inf bucket */

extern const int64_t cairn_timers_hist_bounds[CAIRN_TIMERS_HIST_N - 1];

typedef struct {
    _Atomic uint64_t bucket[CAIRN_TIMERS_HIST_N]; /* not cumulative */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ms;
} cairn_timers_hist_t;

/* X(name, help) — monotonically growing counters. */
#define CAIRN_TIMERS_COUNTERS(X)                                               \
    X(scans, "claim rounds over all partitions")                               \
    X(claimed, "due timers claimed from a due set")                            \
    X(reclaimed, "inflight timers claimed again after their lease expired")    \
    X(merged, "due entries dropped because already inflight")                  \
    X(held, "re-claimed entries not produced again: a record is outstanding")  \
    X(produced, "TimerFired records handed to the producer")                   \
    X(fired, "TimerFired records delivered (acks=all)")                        \
    X(produce_errors, "TimerFired records the producer refused")               \
    X(delivery_failures, "TimerFired records whose delivery failed")           \
    X(acked, "inflight entries removed after delivery")                        \
    X(malformed, "members that are not generation|timer_id|workflow_id")      \
    X(wakeups, "pub/sub messages that moved the next wakeup earlier")          \
    X(redis_errors, "failed Redis round trips")                                \
    X(redis_outages, "times Redis became unreachable")

/* X(name, help) — gauges, last value seen. */
#define CAIRN_TIMERS_GAUGES(X)                                                 \
    X(pending, "timers in the due sets, due or not (sum over partitions)")     \
    X(overdue, "timers past due still in the due sets after a round: the "     \
               "backlog (sum over partitions)")                                \
    X(inflight, "timers in the inflight sets (sum over partitions)")           \
    X(outstanding, "TimerFired records awaiting a delivery report")            \
    X(redis_up, "1 if the last Redis round trip succeeded")

typedef struct {
#define CAIRN_TM_COUNTER(name, help) _Atomic uint64_t name;
    CAIRN_TIMERS_COUNTERS(CAIRN_TM_COUNTER)
#undef CAIRN_TM_COUNTER
#define CAIRN_TM_GAUGE(name, help) _Atomic int64_t name;
    CAIRN_TIMERS_GAUGES(CAIRN_TM_GAUGE)
#undef CAIRN_TM_GAUGE
    cairn_timers_hist_t late_produce;   /* produce time - due time */
    cairn_timers_hist_t late_delivered; /* delivery report time - due time */
} cairn_timers_metrics_t;

/* A plain copy, for differences. */
typedef struct {
#define CAIRN_TM_COUNTER(name, help) uint64_t name;
    CAIRN_TIMERS_COUNTERS(CAIRN_TM_COUNTER)
#undef CAIRN_TM_COUNTER
#define CAIRN_TM_GAUGE(name, help) int64_t name;
    CAIRN_TIMERS_GAUGES(CAIRN_TM_GAUGE)
#undef CAIRN_TM_GAUGE
    uint64_t late_produce[CAIRN_TIMERS_HIST_N];
    uint64_t late_delivered[CAIRN_TIMERS_HIST_N];
} cairn_timers_snapshot_t;

#define CAIRN_TM_INC(m, name, n)                                               \
    atomic_fetch_add_explicit(&(m)->name, (uint64_t)(n), memory_order_relaxed)
#define CAIRN_TM_SET(m, name, v)                                               \
    atomic_store_explicit(&(m)->name, (int64_t)(v), memory_order_relaxed)

/* Zeroes every field (no allocation; the struct may be static). */
void cairn_timers_metrics_init(cairn_timers_metrics_t *m);
/* Records one observation (negative values count as 0). */
void cairn_timers_hist_observe(cairn_timers_hist_t *h, int64_t ms);
void cairn_timers_metrics_snapshot(const cairn_timers_metrics_t *m,
                                   cairn_timers_snapshot_t *s);
/*
 * The q-quantile (0 < q < 1) in ms of the observations counted between
 * two bucket arrays (prev may be NULL = since start), interpolated
 * linearly inside its bucket; -1 if there were none.
 */
int64_t cairn_timers_hist_quantile(const uint64_t *now, const uint64_t *prev,
                                   double q);
/*
 * Logs one info line with what happened since *prev and updates *prev:
 * fired, failures, claims, reclaims, lateness p50/p99 of the window.
 */
void cairn_timers_metrics_log(const cairn_timers_metrics_t *m,
                              cairn_timers_snapshot_t *prev,
                              int64_t window_ms);
/*
 * Writes the Prometheus text exposition (metric names cairn_timers_*) into
 * buf; returns the length it needed (as snprintf: truncated if >= size).
 */
size_t cairn_timers_metrics_format(const cairn_timers_metrics_t *m, char *buf,
                                   size_t size);

#endif
