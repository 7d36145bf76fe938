/*
 * load.c — cairn-load: produces StartWorkflow requests as fast as asked.
 *
 *   cairn-load --workflows N --type TYPE [--id-prefix P] [--rate PER_SEC]
 *              [--input JSON | --buckets K] [-X name=value]...
 *
 * --buckets K gives workflow i the input {"bucket": i % K}.
 *
 * Workflow i gets id "P-i" and request id "P-i": running the same command
 * twice sends the same requests, which the engine treats as no-ops. The
 * producer is idempotent with acks=all; the program exits 0 only when every
 * record was acknowledged, after printing "load: produced N in S s (R/s)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "clock.h"
#include "cairn.h"
#include "kafka.h"

static int failures;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op) {
    (void)rk;
    (void)op;
    if (m->err) {
        failures++;
        fprintf(stderr, "cairn-load: %s\n", rd_kafka_err2str(m->err));
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    char errstr[1024], topic[256], id[256];
    long n = 0;
    double rate = 0;
    const char *type = NULL, *prefix = "load", *input = "{}";
    long buckets = 0;
    char inbuf[64];
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf || cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "cairn-load: %s\n", errstr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            puts("usage: cairn-load --workflows N --type TYPE [--id-prefix P] "
                 "[--rate PER_SEC] [--input JSON | --buckets K]");
            return 0;
        } else if (!v) {
            fprintf(stderr, "cairn-load: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--workflows")) {
            n = atol(v);
        } else if (!strcmp(a, "--type")) {
            type = v;
        } else if (!strcmp(a, "--id-prefix")) {
            prefix = v;
        } else if (!strcmp(a, "--rate")) {
            rate = atof(v);
        } else if (!strcmp(a, "--input")) {
            input = v;
        } else if (!strcmp(a, "--buckets")) {
            buckets = atol(v);
        } else {
            fprintf(stderr, "cairn-load: unknown argument %s\n", a);
            return 2;
        }
        i++;
    }
    if (n <= 0 || !type) {
        fprintf(stderr, "cairn-load: --workflows N (> 0) and --type TYPE are "
                        "required\n");
        return 2;
    }
    rd_kafka_conf_t *kc = cairn_kafka_producer_conf_new(conf, "cairn-load",
                                                        errstr, sizeof(errstr));
    if (!kc || cairn_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                                    sizeof(errstr)) ||
        cairn_kafka_conf_set(kc, "linger.ms", "5", errstr, sizeof(errstr))) {
        fprintf(stderr, "cairn-load: %s\n", errstr);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                  sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "cairn-load: %s\n", errstr);
        return 2;
    }
    cairn_conf_topic(conf, "events", topic, sizeof(topic));
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (rate > 0) {
            double due = t0 + i / rate;
            while (now_s() < due)
                rd_kafka_poll(rk, 1); /* pacing: serves reports meanwhile */
        }
        snprintf(id, sizeof(id), "%s-%ld", prefix, i);
        cairn_event_t ev = {0};
        ev.type = CAIRN_EV_START_WORKFLOW;
        ev.workflow_id = id;
        ev.request_id = id;
        ev.time_ms = cairn_wall_ms();
        ev.workflow_type = (char *)type;
        if (buckets > 0) {
            snprintf(inbuf, sizeof(inbuf), "{\"bucket\":%ld}", i % buckets);
            ev.input = inbuf;
        } else {
            ev.input = (char *)input;
        }
        for (;;) {
            cairn_err_t err = cairn_kafka_produce_event(
                rk, topic, RD_KAFKA_PARTITION_UA, &ev, NULL, NULL, errstr,
                sizeof(errstr));
            if (!err)
                break;
            if (!strstr(errstr, "Queue full")) {
                fprintf(stderr, "cairn-load: %s\n", errstr);
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    int left = rd_kafka_outq_len(rk);
    double dt = now_s() - t0;
    rd_kafka_destroy(rk);
    cairn_conf_destroy(conf);
    if (failures || left) {
        fprintf(stderr, "cairn-load: %d failed, %d undelivered\n", failures,
                left);
        return 1;
    }
    printf("load: produced %ld in %.2f s (%.0f/s)\n", n, dt, n / dt);
    return 0;
}
