/*
 * test_metrics.c — the Prometheus registry and endpoint (sdk/metrics.c).
 *
 * Rendering is compared byte for byte with the text exposition format 0.0.4
 * as Prometheus documents it; concurrency is checked by exact totals after
 * several threads update the same series (while another thread scrapes);
 * the endpoint is served on a free loopback port and read with a plain
 * socket, so nothing of libmicrohttpd is trusted on the client side.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

/* The value of the sample that follows `prefix` in rendered text. */
static double sample(const char *text, const char *prefix) {
    const char *p = strstr(text, prefix);
    assert_non_null(p);
    return strtod(p + strlen(prefix), NULL);
}

static void test_counter_gauge_render(void **state) {
    (void)state;
    cairn_metrics_t *m = cairn_metrics_new();
    assert_non_null(m);
    cairn_metric_t *c = cairn_metrics_counter(m, "cairn_events_total",
                                              "Events applied.", NULL);
    cairn_metric_t *g = cairn_metrics_gauge(m, "cairn_owned_shards",
                                            "Shards owned now.", NULL);
    assert_non_null(c);
    assert_non_null(g);
    cairn_metric_inc(c, 1);
    cairn_metric_inc(c, 2);
    cairn_metric_inc(c, -5); /* a counter never goes down */
    cairn_metric_set(g, 12);
    cairn_metric_inc(g, -2);
    cairn_metric_inc(g, 0.5);
    char *text = cairn_metrics_render(m);
    assert_string_equal(text, "# HELP cairn_events_total Events applied.\n"
                              "# TYPE cairn_events_total counter\n"
                              "cairn_events_total 3\n"
                              "# HELP cairn_owned_shards Shards owned now.\n"
                              "# TYPE cairn_owned_shards gauge\n"
                              "cairn_owned_shards 10.5\n");
    free(text);
    assert_true(cairn_metric_value(c) == 3.0);
    cairn_metrics_destroy(m);
}

static void test_family_with_labels(void **state) {
    (void)state;
    cairn_metrics_t *m = cairn_metrics_new();
    cairn_metric_t *a = cairn_metrics_counter(m, "cairn_dlq_records_total",
                                              "DLQ records.", "shard=\"3\"");
    cairn_metric_t *other = cairn_metrics_gauge(m, "x", "y", NULL);
    cairn_metric_t *b = cairn_metrics_counter(
        m, "cairn_dlq_records_total", "DLQ records.",
        "shard=\"11\",reason=\"a \\\"quoted\\\" \\\\ one\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(other);
    /* The same name and labels is the same handle. */
    assert_ptr_equal(a, cairn_metrics_counter(m, "cairn_dlq_records_total",
                                              "DLQ records.", "shard=\"3\""));
    cairn_metric_inc(a, 7);
    cairn_metric_inc(b, 1);
    char *text = cairn_metrics_render(m);
    assert_string_equal(
        text, "# HELP cairn_dlq_records_total DLQ records.\n"
              "# TYPE cairn_dlq_records_total counter\n"
              "cairn_dlq_records_total{shard=\"3\"} 7\n"
              "cairn_dlq_records_total{shard=\"11\",reason=\"a \\\"quoted\\\" "
              "\\\\ one\"} 1\n"
              "# HELP x y\n"
              "# TYPE x gauge\n"
              "x 0\n");
    free(text);
    cairn_metrics_destroy(m);
}

static void test_histogram_render(void **state) {
    (void)state;
    const double b[] = {0.005, 0.01, 0.25, 1, 10};
    cairn_metrics_t *m = cairn_metrics_new();
    cairn_metric_t *h = cairn_metrics_histogram(
        m, "cairn_commit_seconds", "Commit latency.\nIn seconds \\ wall.",
        "shard=\"0\"", b, 5);
    assert_non_null(h);
    cairn_metric_observe(h, 0.001);
    cairn_metric_observe(h, 0.005); /* on the bound: le is inclusive */
    cairn_metric_observe(h, 0.2);
    cairn_metric_observe(h, 3);
    cairn_metric_observe(h, 1e9);
    cairn_metric_observe(h, NAN); /* ignored */
    char *text = cairn_metrics_render(m);
    assert_string_equal(
        text,
        "# HELP cairn_commit_seconds Commit latency.\\nIn seconds \\\\ wall.\n"
        "# TYPE cairn_commit_seconds histogram\n"
        "cairn_commit_seconds_bucket{shard=\"0\",le=\"0.005\"} 2\n"
        "cairn_commit_seconds_bucket{shard=\"0\",le=\"0.01\"} 2\n"
        "cairn_commit_seconds_bucket{shard=\"0\",le=\"0.25\"} 3\n"
        "cairn_commit_seconds_bucket{shard=\"0\",le=\"1\"} 3\n"
        "cairn_commit_seconds_bucket{shard=\"0\",le=\"10\"} 4\n"
        "cairn_commit_seconds_bucket{shard=\"0\",le=\"+Inf\"} 5\n"
        "cairn_commit_seconds_sum{shard=\"0\"} 1000000003.206\n"
        "cairn_commit_seconds_count{shard=\"0\"} 5\n");
    free(text);
    /* No labels: le alone. */
    cairn_metric_t *h2 = cairn_metrics_histogram(m, "plain", "p", NULL, b, 1);
    cairn_metric_observe(h2, 0.5);
    text = cairn_metrics_render(m);
    assert_non_null(strstr(text, "plain_bucket{le=\"0.005\"} 0\n"
                                 "plain_bucket{le=\"+Inf\"} 1\n"
                                 "plain_sum 0.5\nplain_count 1\n"));
    free(text);
    cairn_metrics_destroy(m);
}

static double answer(void *opaque) { return *(double *)opaque; }

static size_t raw_text(void *opaque, char *buf, size_t size) {
    (void)opaque;
    return (size_t)snprintf(buf, size,
                            "# TYPE cairn_timers_fired_total counter\n"
                            "cairn_timers_fired_total 42");
}

static void test_callbacks_and_text(void **state) {
    (void)state;
    double v = 41;
    cairn_metrics_t *m = cairn_metrics_new();
    assert_non_null(cairn_metrics_gauge_fn(m, "backlog", "Queued.", NULL,
                                           answer, &v));
    assert_non_null(cairn_metrics_counter_fn(m, "done_total", "Done.",
                                             "q=\"a\"", answer, &v));
    assert_int_equal(cairn_metrics_add_text(m, raw_text, NULL), CAIRN_ERR_OK);
    v = 42.25;
    char *text = cairn_metrics_render(m);
    assert_string_equal(text, "# HELP backlog Queued.\n"
                              "# TYPE backlog gauge\n"
                              "backlog 42.25\n"
                              "# HELP done_total Done.\n"
                              "# TYPE done_total counter\n"
                              "done_total{q=\"a\"} 42.25\n"
                              "# TYPE cairn_timers_fired_total counter\n"
                              "cairn_timers_fired_total 42\n");
    free(text);
    assert_int_equal(cairn_metrics_add_process(m), CAIRN_ERR_OK);
    text = cairn_metrics_render(m);
    assert_non_null(strstr(text, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_null(strstr(text, "NaN"));
    /* The values, from /proc/self/stat: this process started between the
     * boot and now, and has at least one thread. */
    double start = sample(text, "\nprocess_start_time_seconds ");
    struct timeval now;
    gettimeofday(&now, NULL);
    double up = -1;
    FILE *fp = fopen("/proc/uptime", "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%lf", &up), 1);
    fclose(fp);
    assert_true(start <= (double)now.tv_sec + 1);
    assert_true(start >= (double)now.tv_sec - up - 1);
    assert_true(sample(text, "\nprocess_threads ") >= 1);
    assert_true(sample(text, "\nprocess_open_fds ") >= 3);
    free(text);
    cairn_metrics_destroy(m);
}

static void test_bad_registrations(void **state) {
    (void)state;
    const double b[] = {1, 2}, bad[] = {2, 1}, inf[] = {1, INFINITY};
    cairn_metrics_t *m = cairn_metrics_new();
    assert_string_equal(cairn_metrics_error(m), "");
    assert_null(cairn_metrics_counter(m, "1abc", "h", NULL));
    assert_non_null(strstr(cairn_metrics_error(m), "invalid metric name"));
    assert_null(cairn_metrics_counter(m, "a-b", "h", NULL));
    assert_null(cairn_metrics_counter(m, NULL, "h", NULL));
    assert_null(cairn_metrics_counter(m, "ok", "h", "shard=3"));
    assert_null(cairn_metrics_counter(m, "ok", "h", "shard=\"3\","));
    assert_null(cairn_metrics_counter(m, "ok", "h", "shard=\"3"));
    assert_null(cairn_metrics_counter(m, "ok", "h", "sh ard=\"3\""));
    assert_null(cairn_metrics_counter(m, "ok", "h", "a=\"\\x\""));
    assert_non_null(strstr(cairn_metrics_error(m), "invalid labels"));
    assert_null(cairn_metrics_histogram(m, "h", "h", "le=\"1\"", b, 2));
    assert_null(cairn_metrics_histogram(m, "h", "h", NULL, bad, 2));
    assert_null(cairn_metrics_histogram(m, "h", "h", NULL, inf, 2));
    /* Same name, other type, help or buckets. */
    assert_non_null(cairn_metrics_counter(m, "c", "h", NULL));
    assert_null(cairn_metrics_gauge(m, "c", "h", "x=\"1\""));
    assert_non_null(strstr(cairn_metrics_error(m), "already registered"));
    assert_null(cairn_metrics_counter(m, "c", "other help", "x=\"1\""));
    assert_non_null(cairn_metrics_histogram(m, "h", "h", NULL, b, 2));
    assert_null(cairn_metrics_histogram(m, "h", "h", "a=\"1\"", b, 1));
    /* Updates through NULL and the wrong kind are no-ops. */
    cairn_metric_inc(NULL, 1);
    cairn_metric_set(NULL, 1);
    cairn_metric_observe(NULL, 1);
    cairn_metric_t *c = cairn_metrics_counter(m, "c", "h", NULL);
    cairn_metric_set(c, 5);
    cairn_metric_observe(c, 5);
    assert_true(cairn_metric_value(c) == 0.0);
    cairn_metrics_destroy(m);
    cairn_metrics_destroy(NULL);
}

/* ---- concurrency ---------------------------------------------------------- */

#define THREADS 8
#define ROUNDS 200000

typedef struct {
    cairn_metric_t *c, *g, *h;
    cairn_metrics_t *m;
    atomic_int *stop;
} hammer_t;

static void *hammer(void *arg) {
    hammer_t *a = arg;
    for (int i = 0; i < ROUNDS; i++) {
        cairn_metric_inc(a->c, 1);
        cairn_metric_inc(a->g, (i & 1) ? 1 : -1);
        cairn_metric_observe(a->h, (double)(i % 4)); /* 0,1,2,3 ms */
    }
    return NULL;
}

static void *scraper(void *arg) {
    hammer_t *a = arg;
    long n = 0;
    while (!atomic_load(a->stop)) {
        char *t = cairn_metrics_render(a->m);
        if (!t)
            return (void *)1;
        free(t);
        n++;
    }
    return (void *)(n ? NULL : (void *)2);
}

static void test_threads(void **state) {
    (void)state;
    const double b[] = {0.5, 1.5, 2.5};
    atomic_int stop = 0;
    cairn_metrics_t *m = cairn_metrics_new();
    hammer_t a = {cairn_metrics_counter(m, "n_total", "n", NULL),
                  cairn_metrics_gauge(m, "g", "g", NULL),
                  cairn_metrics_histogram(m, "h", "h", NULL, b, 3), m, &stop};
    pthread_t th[THREADS], sc;
    assert_int_equal(pthread_create(&sc, NULL, scraper, &a), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &a), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    atomic_store(&stop, 1);
    void *rv;
    assert_int_equal(pthread_join(sc, &rv), 0);
    assert_null(rv);
    assert_true(cairn_metric_value(a.c) == (double)THREADS * ROUNDS);
    assert_true(cairn_metric_value(a.g) == 0.0);
    /* Sum of 0+1+2+3 per four rounds, exactly representable. */
    assert_true(cairn_metric_value(a.h) == (double)THREADS * ROUNDS / 4 * 6);
    char *text = cairn_metrics_render(m), want[256];
    snprintf(want, sizeof(want),
             "h_bucket{le=\"0.5\"} %d\nh_bucket{le=\"1.5\"} %d\n"
             "h_bucket{le=\"2.5\"} %d\nh_bucket{le=\"+Inf\"} %d\n",
             THREADS * ROUNDS / 4, THREADS * ROUNDS / 2,
             THREADS * ROUNDS / 4 * 3, THREADS * ROUNDS);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "h_count %d\n", THREADS * ROUNDS);
    assert_non_null(strstr(text, want));
    free(text);
    cairn_metrics_destroy(m);
}

/* ---- the endpoint ----------------------------------------------------------- */

/* One HTTP/1.0 request over a plain socket; the whole response, malloc'd. */
static char *http(int port, const char *method, const char *path) {
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    char req[256], *out = NULL;
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
        goto out;
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (write(fd, req, (size_t)n) != n)
        goto out;
    for (;;) {
        char *nb = realloc(out, len + 4097);
        if (!nb)
            goto out;
        out = nb;
        ssize_t got = read(fd, out + len, 4096);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    out[len] = '\0';
out:
    close(fd);
    return out;
}

static int unhealthy(void *opaque, char *why, size_t why_size) {
    snprintf(why, why_size, "%s", (const char *)opaque);
    return 1;
}

static void test_http(void **state) {
    (void)state;
    char errstr[256];
    cairn_metrics_t *m = cairn_metrics_new();
    cairn_metric_t *c = cairn_metrics_counter(m, "cairn_signals_total",
                                              "Signals received.",
                                              "shard=\"1\"");
    cairn_metric_inc(c, 5);
    assert_int_equal(cairn_metrics_port(m), 0);
    assert_int_equal(cairn_metrics_serve(m, "127.0.0.1", 0, errstr,
                                         sizeof(errstr)),
                     CAIRN_ERR_OK);
    int port = cairn_metrics_port(m);
    assert_true(port > 0);
    assert_int_equal(cairn_metrics_serve(m, "127.0.0.1", 0, errstr,
                                         sizeof(errstr)),
                     CAIRN_ERR_INVALID_ARG);

    char *r = http(port, "GET", "/metrics");
    assert_non_null(r);
    assert_true(!strncmp(r, "HTTP/1.0 200", 12) || !strncmp(r, "HTTP/1.1 200", 12));
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r, "\r\n\r\n# HELP cairn_signals_total Signals "
                              "received.\n# TYPE cairn_signals_total "
                              "counter\ncairn_signals_total{shard=\"1\"} 5\n"));
    free(r);

    r = http(port, "HEAD", "/metrics");
    assert_non_null(r);
    assert_non_null(strstr(r, " 200 "));
    assert_null(strstr(r, "# HELP"));
    free(r);

    r = http(port, "GET", "/healthz");
    assert_non_null(r);
    assert_non_null(strstr(r, " 200 "));
    assert_non_null(strstr(r, "\r\n\r\nok\n"));
    free(r);

    cairn_metrics_set_health(m, unhealthy, "fenced on shard 3");
    r = http(port, "GET", "/healthz");
    assert_non_null(r);
    assert_non_null(strstr(r, " 503 "));
    assert_non_null(strstr(r, "\r\n\r\nfenced on shard 3\n"));
    free(r);

    r = http(port, "GET", "/nope");
    assert_non_null(r);
    assert_non_null(strstr(r, " 404 "));
    free(r);

    r = http(port, "POST", "/metrics");
    assert_non_null(r);
    assert_non_null(strstr(r, " 405 "));
    free(r);

    /* The port is taken now: a second registry cannot bind it. */
    cairn_metrics_t *m2 = cairn_metrics_new();
    assert_int_equal(cairn_metrics_serve(m2, "127.0.0.1", port, errstr,
                                         sizeof(errstr)),
                     CAIRN_ERR_IO);
    assert_non_null(strstr(errstr, "cannot serve"));
    assert_int_equal(cairn_metrics_serve(m2, "not an address", 0, errstr,
                                         sizeof(errstr)),
                     CAIRN_ERR_INVALID_ARG);
    cairn_metrics_destroy(m2);

    cairn_metrics_destroy(m); /* stops the thread; the port is free again */
    r = http(port, "GET", "/metrics");
    assert_null(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_render),
        cmocka_unit_test(test_family_with_labels),
        cmocka_unit_test(test_histogram_render),
        cmocka_unit_test(test_callbacks_and_text),
        cmocka_unit_test(test_bad_registrations),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
