/*
 * test_worker_mock.c — the C SDK's worker (sdk/worker.c) against
 * librdkafka's in-process mock cluster, with Produce errors injected: what
 * happens to a result the broker refuses. Not a durability test (the
 * workflows and cluster suites run the worker on a real broker); this one
 * drives the retry paths a real broker hardly ever takes.
 *
 *  - A result the broker refuses for good (MESSAGE_TOO_LARGE) becomes a
 *    non-retryable ActivityFailed InvalidResult, delivered once.
 *  - A result whose delivery fails otherwise (TOPIC_AUTHORIZATION_FAILED,
 *    twice) is produced again until it is delivered, unchanged, once.
 *  - A producer with a fatal error (OUT_OF_ORDER_SEQUENCE_NUMBER) is
 *    replaced, and its results delivered by the new one, once.
 *  - Either way every task's offset is committed once its result is in:
 *    nothing holds the commit back.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cairn.h"
#include "clock.h"
#include "conf.h"
#include "kafka.h"
#include "log.h"

#define NTASKS 40
#define PRODUCE_API 0 /* Kafka's ApiKey of Produce */

typedef struct {
    rd_kafka_t *host; /* the mock cluster lives in this handle */
    rd_kafka_mock_cluster_t *mc;
    cairn_conf_t *conf;
    cairn_worker_t *w;
    pthread_t th;
    cairn_err_t run_err;
    char run_errstr[512];
} fixture_t;

static cairn_err_t echo(const cairn_activity_t *act, void *opaque,
                        char **result, char **error_type,
                        char **error_message, int *non_retryable) {
    (void)opaque;
    (void)error_type;
    (void)error_message;
    (void)non_retryable;
    *result = strdup(act->input);
    return *result ? CAIRN_ERR_OK : CAIRN_ERR_NOMEM;
}

static void *run(void *arg) {
    fixture_t *f = arg;
    f->run_err = cairn_worker_run(f->w, f->run_errstr,
                                  sizeof(f->run_errstr));
    return NULL;
}

static void set(cairn_conf_t *conf, const char *k, const char *v) {
    char err[256];
    assert_int_equal(cairn_conf_set(conf, k, v, err, sizeof(err)),
                     CAIRN_ERR_OK);
}

/* A plain client of the mock cluster (before it exists: its host). */
static rd_kafka_t *client(fixture_t *f, rd_kafka_type_t type,
                          const char *group) {
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (!f->mc) /* the handle that will host it: no broker of its own */
        assert_int_equal(rd_kafka_conf_set(kc, "log_level", "3", err,
                                           sizeof(err)),
                         RD_KAFKA_CONF_OK);
    else
        assert_int_equal(
            rd_kafka_conf_set(kc, "bootstrap.servers",
                              rd_kafka_mock_cluster_bootstraps(f->mc), err,
                              sizeof(err)),
            RD_KAFKA_CONF_OK);
    if (group)
        assert_int_equal(
            rd_kafka_conf_set(kc, "group.id", group, err, sizeof(err)),
            RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(type, kc, err, sizeof(err));
    assert_non_null(rk);
    return rk;
}

/* The mock cluster with the worker's topics, NTASKS ActivityTasks on
 * its queue, and `nerr` Produce errors `e` injected before the worker
 * runs (the first Produce requests it sends fail). */
static void start(fixture_t *f, rd_kafka_resp_err_t e, int nerr) {
    char err[512];
    memset(f, 0, sizeof(*f));
    f->host = client(f, RD_KAFKA_PRODUCER, NULL);
    f->mc = rd_kafka_mock_cluster_new(f->host, 1);
    assert_non_null(f->mc);
    rd_kafka_mock_topic_create(f->mc, "t.tasks.q", 2, 1);
    rd_kafka_mock_topic_create(f->mc, "t.events", 2, 1);
    rd_kafka_mock_topic_create(f->mc, "t.dlq", 1, 1);

    f->conf = cairn_conf_new();
    assert_non_null(f->conf);
    set(f->conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mc));
    set(f->conf, "topic.prefix", "t.");
    set(f->conf, "partitions", "2");
    set(f->conf, "worker.concurrency", "2");
    set(f->conf, "log.level", "error");

    rd_kafka_t *p = client(f, RD_KAFKA_PRODUCER, NULL);
    for (int i = 0; i < NTASKS; i++) {
        char wf[32], input[32];
        snprintf(wf, sizeof(wf), "wf-%d", i);
        snprintf(input, sizeof(input), "{\"i\":%d}", i);
        cairn_event_t ev = {.type = CAIRN_EV_ACTIVITY_TASK,
                            .workflow_id = wf,
                            .time_ms = 1,
                            .activity_id = "a",
                            .activity_name = "echo",
                            .task_queue = "q",
                            .attempt = 1,
                            .idempotency_key = "k",
                            .input = input};
        assert_int_equal(cairn_kafka_produce_event(p, "t.tasks.q",
                                                   RD_KAFKA_PARTITION_UA, &ev,
                                                   NULL, NULL, err,
                                                   sizeof(err)),
                         CAIRN_ERR_OK);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    for (int i = 0; i < nerr; i++)
        rd_kafka_mock_push_request_errors(f->mc, PRODUCE_API, 1, e);
    f->w = cairn_worker_new(f->conf, "q", err, sizeof(err));
    assert_non_null(f->w);
    assert_int_equal(cairn_worker_register(f->w, "echo", echo, NULL),
                     CAIRN_ERR_OK);
    assert_int_equal(pthread_create(&f->th, NULL, run, f), 0);
}

static void stop(fixture_t *f) {
    cairn_worker_stop(f->w);
    assert_int_equal(pthread_join(f->th, NULL), 0);
    assert_int_equal(f->run_err, CAIRN_ERR_OK);
    cairn_worker_destroy(f->w);
    cairn_conf_destroy(f->conf);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
}

/* Reads t.events from the start until every workflow has a result (60 s
 * at most: a deadline for a failure, not a wait for success); fails on a
 * second result for one workflow. results[i] gets wf-i's event. */
static void read_results(fixture_t *f, cairn_event_t *results) {
    char err[512];
    rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER, "test-reader");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++)
        rd_kafka_topic_partition_list_add(l, "t.events", p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0;
    int64_t deadline = cairn_mono_ms() + 60000;
    while (got < NTASKS && cairn_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        cairn_event_t ev = {0};
        assert_int_equal(cairn_kafka_decode(m, &ev, err, sizeof(err)),
                         CAIRN_ERR_OK);
        rd_kafka_message_destroy(m);
        int i = -1;
        assert_int_equal(sscanf(ev.workflow_id, "wf-%d", &i), 1);
        assert_true(i >= 0 && i < NTASKS);
        if (results[i].type) {
            fail_msg("a second result for %s", ev.workflow_id);
        }
        results[i] = ev;
        got++;
    }
    rd_kafka_destroy(c);
    assert_int_equal(got, NTASKS);
}

/* The worker group's committed offsets of the tasks topic, summed: NTASKS
 * once every task is committed. Polled until it gets there (the worker
 * commits every 100 ms), 30 s at most. */
static void committed_all(fixture_t *f) {
    rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER, "t.workers.q");
    int64_t sum = -1, deadline = cairn_mono_ms() + 30000;
    while (sum != NTASKS && cairn_mono_ms() < deadline) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(2);
        for (int p = 0; p < 2; p++)
            rd_kafka_topic_partition_list_add(l, "t.tasks.q", p);
        sum = 0;
        if (rd_kafka_committed(c, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            for (int p = 0; p < 2; p++)
                sum += l->elems[p].offset > 0 ? l->elems[p].offset : 0;
        rd_kafka_topic_partition_list_destroy(l);
        if (sum != NTASKS) {
            struct timespec ts = {0, 50 * 1000000L}; /* polling the group */
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_destroy(c);
    assert_int_equal(sum, NTASKS);
}

static void refused_for_good_becomes_invalid_result(void **state) {
    (void)state;
    fixture_t f;
    cairn_event_t results[NTASKS] = {0};
    start(&f, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 1);
    read_results(&f, results);
    committed_all(&f);
    stop(&f);
    int invalid = 0;
    for (int i = 0; i < NTASKS; i++) {
        char want[32];
        snprintf(want, sizeof(want), "{\"i\":%d}", i);
        if (results[i].type == CAIRN_EV_ACTIVITY_FAILED) {
            assert_string_equal(results[i].error_type, "InvalidResult");
            assert_int_equal(results[i].non_retryable, 1);
            assert_non_null(strstr(results[i].error_message, "too large"));
            invalid++;
        } else {
            assert_int_equal(results[i].type, CAIRN_EV_ACTIVITY_COMPLETED);
            assert_string_equal(results[i].result, want);
        }
        cairn_event_clear(&results[i]);
    }
    /* The refused request carried at least one result. */
    assert_true(invalid >= 1);
}

/* Runs the worker with `nerr` Produce errors `e`; every result must
 * arrive once, unchanged, and every task end committed. */
static void all_completed_once(rd_kafka_resp_err_t e, int nerr) {
    fixture_t f;
    cairn_event_t results[NTASKS] = {0};
    start(&f, e, nerr);
    read_results(&f, results);
    committed_all(&f);
    stop(&f);
    for (int i = 0; i < NTASKS; i++) {
        char want[32];
        snprintf(want, sizeof(want), "{\"i\":%d}", i);
        assert_int_equal(results[i].type, CAIRN_EV_ACTIVITY_COMPLETED);
        assert_string_equal(results[i].result, want);
        cairn_event_clear(&results[i]);
    }
}

static void failed_delivery_is_produced_again(void **state) {
    (void)state;
    all_completed_once(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 2);
}

/* An out-of-order sequence is a fatal error of an idempotent producer
 * (librdkafka 2.0.2): it never delivers again, and the worker must
 * replace it and produce the failed results with the new one. */
static void fatal_producer_error_replaces_the_producer(void **state) {
    (void)state;
    all_completed_once(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 1);
}

int main(void) {
    cairn_log_init("test", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_for_good_becomes_invalid_result),
        cmocka_unit_test(failed_delivery_is_produced_again),
        cmocka_unit_test(fatal_producer_error_replaces_the_producer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
