/*
 * metrics.h — a small Prometheus metrics registry and its HTTP endpoint.
 *
 * A registry (cairn_metrics_t) holds metric families; a family is one name
 * with its HELP text and type, and one series per label set. Registering
 * takes the registry's lock and returns a handle (cairn_metric_t) that stays
 * valid until cairn_metrics_destroy(); registering the same name and labels
 * again returns the same handle. Updating a handle is lock-free (C11 atomics,
 * relaxed order) and may be done from any number of threads at once; the
 * hot path never takes the registry lock. A scrape renders a consistent
 * format but not an atomic snapshot: a histogram's _count is the sum of its
 * rendered buckets, its _sum may include an observation a bucket missed.
 *
 * cairn_metrics_serve() starts libmicrohttpd with its own thread: GET (or
 * HEAD) /metrics answers the text exposition format 0.0.4, /healthz "ok"
 * (or 503 with the health callback's reason), anything else 404.
 *
 * Errors: a registration that fails (bad name, bad labels, same name with
 * another type, help or buckets, out of memory) returns NULL and keeps the
 * reason for cairn_metrics_error(); every update function accepts NULL as a
 * no-op, so a daemon may register without checking and still run.
 *
 * Labels are given pre-formatted as the text between the braces, e.g.
 * `shard="3"` or `shard="3",queue="default"` (values escaped as Prometheus
 * wants: \\ \" \n), or NULL for none. A histogram's labels must not use le.
 */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include <stddef.h>

#include "err.h"

typedef struct cairn_metrics_s cairn_metrics_t;
typedef struct cairn_metric_s cairn_metric_t;

/* Value of a callback metric, computed at scrape time (under the registry
 * lock: it must not register metrics). */
typedef double (*cairn_metrics_value_fn)(void *opaque);
/* Appends raw exposition text: writes up to size bytes into buf and returns
 * the length it needed, as snprintf (called again with a larger buffer if
 * the result is >= size). Its families must not clash with the registry's. */
typedef size_t (*cairn_metrics_text_fn)(void *opaque, char *buf, size_t size);
/* Health for /healthz: 0 healthy, else unhealthy with a reason in why. */
typedef int (*cairn_metrics_health_fn)(void *opaque, char *why,
                                       size_t why_size);

/* An empty registry; NULL on out-of-memory. */
cairn_metrics_t *cairn_metrics_new(void);
/* Stops the endpoint (waits for its thread) and frees every handle. */
void cairn_metrics_destroy(cairn_metrics_t *m);

/* The reason the last registration on m failed ("" if none). */
const char *cairn_metrics_error(const cairn_metrics_t *m);

cairn_metric_t *cairn_metrics_counter(cairn_metrics_t *m, const char *name,
                                      const char *help, const char *labels);
cairn_metric_t *cairn_metrics_gauge(cairn_metrics_t *m, const char *name,
                                    const char *help, const char *labels);
/*
 * buckets: n finite upper bounds in strictly increasing order (copied); the
 * +Inf bucket is implicit. Series of one family must share the bounds.
 */
cairn_metric_t *cairn_metrics_histogram(cairn_metrics_t *m, const char *name,
                                        const char *help, const char *labels,
                                        const double *buckets, size_t n);
/* A gauge (or counter) whose value fn(opaque) computes at each scrape. */
cairn_metric_t *cairn_metrics_gauge_fn(cairn_metrics_t *m, const char *name,
                                       const char *help, const char *labels,
                                       cairn_metrics_value_fn fn,
                                       void *opaque);
cairn_metric_t *cairn_metrics_counter_fn(cairn_metrics_t *m, const char *name,
                                         const char *help, const char *labels,
                                         cairn_metrics_value_fn fn,
                                         void *opaque);
/* Adds a raw text collector rendered after the registry's families. */
cairn_err_t cairn_metrics_add_text(cairn_metrics_t *m, cairn_metrics_text_fn fn,
                                   void *opaque);
/* Sets the /healthz callback (NULL: always healthy); it runs on the
 * endpoint's thread under the registry lock. */
void cairn_metrics_set_health(cairn_metrics_t *m, cairn_metrics_health_fn fn,
                              void *opaque);
/*
 * Registers process_resident_memory_bytes, process_cpu_seconds_total,
 * process_start_time_seconds and process_threads (from /proc/self).
 */
cairn_err_t cairn_metrics_add_process(cairn_metrics_t *m);

/* Counter: adds v (>= 0; negative is ignored). Gauge: adds v (any sign). */
void cairn_metric_inc(cairn_metric_t *metric, double v);
/* Gauge: sets the value. */
void cairn_metric_set(cairn_metric_t *metric, double v);
/* Histogram: records one observation (NaN is ignored). */
void cairn_metric_observe(cairn_metric_t *metric, double v);
/* The current value of a counter or gauge (a histogram's sum); for tests. */
double cairn_metric_value(const cairn_metric_t *metric);

/*
 * The exposition text of every metric (format 0.0.4), malloc'd: the caller
 * frees it. NULL on out-of-memory.
 */
char *cairn_metrics_render(cairn_metrics_t *m);

/*
 * Serves GET /metrics and /healthz on address:port (address NULL means
 * 127.0.0.1; port 0 picks a free port, see cairn_metrics_port) from a
 * thread of its own. Once per registry. CAIRN_ERR_IO with errstr if the
 * address cannot be bound, CAIRN_ERR_INVALID_ARG if already serving.
 */
cairn_err_t cairn_metrics_serve(cairn_metrics_t *m, const char *address,
                                int port, char *errstr, size_t errstr_size);
/* The port being served, or 0. */
int cairn_metrics_port(const cairn_metrics_t *m);

#endif
