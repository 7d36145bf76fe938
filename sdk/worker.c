/*
 * worker.c — libcairn's activity worker.
 *
 * At-least-once: a task's offset is committed only after the results of
 * every task before it in the partition were delivered to the events topic
 * (idempotent producer, acks=all). A crash in between re-runs the task; the
 * function gets the same idempotency key, and the engine ignores the second
 * result of the same activity attempt.
 *
 * Tasks are polled in rounds of up to ROUND_MAX records; a round runs on up
 * to worker.concurrency threads, its results are delivered, then its offsets
 * are committed. cairn_worker_stop() lets the round in flight finish and
 * commits it synchronously before the consumer closes.
 *
 * Heartbeats: cairn_activity_heartbeat(), called by an activity function on
 * its own thread, produces an ActivityHeartbeat through the worker's
 * producer (thread-safe) while the run loop waits for the round. The
 * producer is only replaced between rounds, when no function runs. A
 * heartbeat that is not delivered is logged but does not count as a lost
 * result (the round is not re-run for it).
 */
#include "cairn.h"
#include "clock.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kafka.h"
#include "log.h"
#include "metrics.h"

typedef struct {
    char *name;
    cairn_activity_fn fn;
    void *opaque;
} reg_t;

struct cairn_worker_s {
    cairn_conf_t *conf;
    char queue[256], t_tasks[512], t_events[256], t_dlq[256];
    int concurrency;
    int64_t slow_us; /* log.slow.batch.ms, in us: a slower round is logged */
    rd_kafka_t *consumer, *producer;
    reg_t *regs;
    size_t nregs;
    atomic_int stop;
    atomic_int failed_deliveries;
    /* /metrics when metrics.port is set; handles are NULL otherwise, and
     * updates on NULL handles are no-ops. */
    cairn_metrics_t *metrics;
    cairn_metric_t *sched_to_start, *completed, *failed, *invalid;
};

typedef struct {
    cairn_worker_t *w;
    rd_kafka_message_t *msg;
    cairn_event_t task;
    cairn_event_t result;
    int decoded;
} job_t;

/* The delivery-report opaque of heartbeat records. */
static char heartbeat_marker;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    cairn_worker_t *w = opaque;
    (void)rk;
    if (m->err && m->_private == &heartbeat_marker) {
        LOG_WARN("heartbeat not delivered: %s", rd_kafka_err2str(m->err));
        return;
    }
    if (m->err) {
        w->failed_deliveries++;
        LOG_ERROR("result not delivered: %s", rd_kafka_err2str(m->err));
    }
}

/* The worker's idempotent producer of results, configured from w->conf. */
static rd_kafka_t *new_producer(cairn_worker_t *w, char *errstr,
                                size_t errstr_size) {
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *pc = cairn_kafka_producer_conf_new(
        w->conf, "cairn-worker", errstr, errstr_size);
    if (!pc)
        return NULL;
    if (cairn_kafka_conf_set(pc, "enable.idempotence", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(pc, "acks", "all", errstr, errstr_size) ||
        cairn_kafka_conf_set(pc, "linger.ms", "1", errstr, errstr_size))
        goto err;
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_conf_set_opaque(pc, w);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, errstr_size)))
        goto err;
    return rk;
err:
    rd_kafka_conf_destroy(pc);
    return NULL;
}

/* Schedule-to-start latency and outcomes, served on metrics.port. */
static int serve_metrics(cairn_worker_t *w, const cairn_conf_t *conf,
                         char *errstr, size_t errstr_size) {
    static const double secs[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,  0.5,   1,    2.5,   5,    10,
                                  30,    60,    300};
    char labels[300];
    snprintf(labels, sizeof(labels), "task_queue=\"%s\"", w->queue);
    if (!(w->metrics = cairn_metrics_new())) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "out of memory");
        return -1;
    }
    w->sched_to_start = cairn_metrics_histogram(
        w->metrics, "cairn_activity_schedule_to_start_seconds",
        "Task record timestamp (the shard's commit) to the activity "
        "function starting on this worker.",
        labels, secs, sizeof(secs) / sizeof(secs[0]));
    w->completed = cairn_metrics_counter(w->metrics,
                                         "cairn_worker_activities_completed_total",
                                         "Activity attempts that completed.",
                                         labels);
    w->failed = cairn_metrics_counter(w->metrics,
                                      "cairn_worker_activities_failed_total",
                                      "Activity attempts that failed.", labels);
    w->invalid = cairn_metrics_counter(
        w->metrics, "cairn_worker_results_invalid_total",
        "Activity attempts whose result could not be recorded (not JSON, "
        "not UTF-8, too large): reported as failed, InvalidResult.",
        labels);
    cairn_metrics_add_process(w->metrics);
    return cairn_metrics_serve(w->metrics,
                               cairn_conf_str(conf, "metrics.address"),
                               (int)cairn_conf_int(conf, "metrics.port"),
                               errstr, errstr_size)
               ? -1
               : 0;
}

cairn_worker_t *cairn_worker_new(const cairn_conf_t *conf,
                                 const char *task_queue, char *errstr,
                                 size_t errstr_size) {
    cairn_worker_t *w = calloc(1, sizeof(*w));
    rd_kafka_conf_t *cc = NULL;
    char suffix[300], group[600], num[32];
    if (!w) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!task_queue || !*task_queue)
        task_queue = cairn_conf_str(conf, "task.queue");
    snprintf(w->queue, sizeof(w->queue), "%s", task_queue);
    snprintf(suffix, sizeof(suffix), "tasks.%s", w->queue);
    cairn_conf_topic(conf, suffix, w->t_tasks, sizeof(w->t_tasks));
    cairn_conf_topic(conf, "events", w->t_events, sizeof(w->t_events));
    cairn_conf_topic(conf, "dlq", w->t_dlq, sizeof(w->t_dlq));
    w->concurrency = (int)cairn_conf_int(conf, "worker.concurrency");
    w->slow_us = cairn_conf_int(conf, "log.slow.batch.ms") * 1000;
    if (!(w->conf = cairn_conf_dup(conf)))
        goto err;
    if (!(w->producer = new_producer(w, errstr, errstr_size)))
        goto err;
    if (cairn_conf_int(conf, "metrics.port") && serve_metrics(w, conf, errstr,
                                                               errstr_size))
        goto err;

    snprintf(group, sizeof(group), "%sworkers.%s",
             cairn_conf_str(conf, "topic.prefix"), w->queue);
    snprintf(num, sizeof(num), "%lld",
             (long long)cairn_conf_int(conf, "session.timeout.ms"));
    if (!(cc = cairn_kafka_conf_new(conf, "cairn-worker", errstr,
                                    errstr_size)) ||
        cairn_kafka_conf_set(cc, "group.id", group, errstr, errstr_size) ||
        cairn_kafka_conf_set(cc, "isolation.level", "read_committed", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(cc, "enable.auto.commit", "false", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(cc, "auto.offset.reset", "earliest", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(cc, "session.timeout.ms", num, errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(cc, "heartbeat.interval.ms", "1000", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(cc, "partition.assignment.strategy", "range",
                             errstr, errstr_size) ||
        cairn_kafka_conf_set(cc, "fetch.wait.max.ms", "10", errstr,
                             errstr_size))
        goto err;
    if (!(w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr,
                                     errstr_size)))
        goto err;
    cc = NULL;
    rd_kafka_poll_set_consumer(w->consumer);
    return w;
err:
    if (cc)
        rd_kafka_conf_destroy(cc);
    cairn_worker_destroy(w);
    return NULL;
}

void cairn_worker_destroy(cairn_worker_t *w) {
    if (!w)
        return;
    cairn_metrics_destroy(w->metrics);
    if (w->consumer)
        rd_kafka_destroy(w->consumer);
    if (w->producer) {
        rd_kafka_flush(w->producer, 10000);
        rd_kafka_destroy(w->producer);
    }
    for (size_t i = 0; i < w->nregs; i++)
        free(w->regs[i].name);
    free(w->regs);
    cairn_conf_destroy(w->conf);
    free(w);
}

cairn_err_t cairn_worker_register(cairn_worker_t *w, const char *name,
                                  cairn_activity_fn fn, void *opaque) {
    if (!name || !fn)
        return CAIRN_ERR_INVALID_ARG;
    reg_t *nr = realloc(w->regs, (w->nregs + 1) * sizeof(*nr));
    if (!nr)
        return CAIRN_ERR_NOMEM;
    w->regs = nr;
    if (!(nr[w->nregs].name = strdup(name)))
        return CAIRN_ERR_NOMEM;
    nr[w->nregs].fn = fn;
    nr[w->nregs].opaque = opaque;
    w->nregs++;
    return CAIRN_ERR_OK;
}

void cairn_worker_stop(cairn_worker_t *w) { w->stop = 1; }

static const reg_t *lookup(cairn_worker_t *w, const char *name) {
    for (size_t i = 0; i < w->nregs; i++)
        if (!strcmp(w->regs[i].name, name))
            return &w->regs[i];
    return NULL;
}

/* Runs one task and fills job->result (ActivityCompleted or Failed). */
static void *run_job(void *arg) {
    job_t *job = arg;
    cairn_event_t *t = &job->task, *r = &job->result;
    char *result = NULL, *etype = NULL, *emsg = NULL;
    int non_retryable = 0;
    cairn_err_t err;
    const reg_t *reg = lookup(job->w, t->activity_name);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(job->msg, &tstype);
    if (ts > 0)
        cairn_metric_observe(job->w->sched_to_start,
                             (cairn_wall_ms() - ts) / 1000.0);
    if (!reg) {
        err = CAIRN_ERR_NOT_FOUND;
        etype = strdup("UnknownActivity");
        if (asprintf(&emsg, "no function registered for activity \"%s\" on "
                            "task queue \"%s\"",
                     t->activity_name, job->w->queue) < 0)
            emsg = NULL;
    } else {
        cairn_activity_t act = {t->workflow_id,     t->activity_id,
                                t->activity_name,   t->idempotency_key,
                                t->attempt,         t->input,
                                (const void *)job->w};
        err = reg->fn(&act, reg->opaque, &result, &etype, &emsg,
                      &non_retryable);
    }
    r->workflow_id = strdup(t->workflow_id);
    r->activity_id = strdup(t->activity_id);
    r->attempt = t->attempt;
    r->time_ms = cairn_wall_ms();
    if (err == CAIRN_ERR_OK) {
        r->type = CAIRN_EV_ACTIVITY_COMPLETED;
        r->result = result;
        free(etype);
        free(emsg);
    } else {
        r->type = CAIRN_EV_ACTIVITY_FAILED;
        r->error_type = etype ? etype : strdup(cairn_err2name(err));
        r->error_message = emsg;
        r->non_retryable = non_retryable;
        free(result);
    }
    return NULL;
}

cairn_err_t cairn_activity_heartbeat(const cairn_activity_t *act,
                                     const char *details_json, char *errstr,
                                     size_t errstr_size) {
    cairn_worker_t *w;
    cairn_event_t ev;
    json_error_t jerr;
    if (!act || !act->_worker || !act->workflow_id || !act->activity_id)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "heartbeat: not an activity run by a worker");
    w = (cairn_worker_t *)act->_worker;
    if (details_json) {
        json_t *j = json_loads(details_json, JSON_DECODE_ANY, &jerr);
        if (!j)
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                                 "heartbeat details are not valid JSON: %s",
                                 jerr.text);
        json_decref(j);
    }
    memset(&ev, 0, sizeof(ev));
    ev.type = CAIRN_EV_ACTIVITY_HEARTBEAT;
    ev.workflow_id = (char *)act->workflow_id;
    ev.time_ms = cairn_wall_ms();
    ev.activity_id = (char *)act->activity_id;
    ev.attempt = act->attempt;
    ev.payload = (char *)details_json;
    /* Keyed by workflow id (the produce helper keys every event so). */
    return cairn_kafka_produce_event(w->producer, w->t_events,
                                     RD_KAFKA_PARTITION_UA, &ev, NULL,
                                     &heartbeat_marker, errstr, errstr_size);
}

/*
 * Turns a result that cannot be recorded (not JSON, not UTF-8, larger than
 * an event or a Kafka message may be) into ActivityFailed "InvalidResult",
 * non-retryable, with the reason in ASCII: otherwise the round would never
 * be delivered, and run again and again.
 */
static void replace_with_invalid(cairn_worker_t *w, cairn_event_t *ev,
                                 const char *why) {
    char msg[600];
    snprintf(msg, sizeof(msg), "the activity's result cannot be recorded: %s",
             why);
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
            *c = '?'; /* the reason may quote the bad bytes */
    LOG_WARN("activity %s of %s: %s; reported as InvalidResult",
             ev->activity_id, ev->workflow_id, msg);
    free(ev->result);
    free(ev->error_type);
    free(ev->error_message);
    ev->result = NULL;
    ev->type = CAIRN_EV_ACTIVITY_FAILED;
    ev->error_type = strdup("InvalidResult");
    ev->error_message = strdup(msg);
    ev->non_retryable = 1;
    cairn_metric_inc(w->invalid, 1);
}

static void produce_result(cairn_worker_t *w, cairn_event_t *ev) {
    char errstr[512];
    int replaced = 0;
    for (;;) {
        cairn_err_t err = cairn_kafka_produce_event(
            w->producer, w->t_events, RD_KAFKA_PARTITION_UA, ev, NULL, NULL,
            errstr, sizeof(errstr));
        if (!err) {
            cairn_metric_inc(ev->type == CAIRN_EV_ACTIVITY_COMPLETED
                                 ? w->completed
                                 : w->failed,
                             1);
            return;
        }
        if (strstr(errstr, "Queue full")) {
            rd_kafka_poll(w->producer, 50);
            continue;
        }
        /* The event itself is refused (codec or message size): no retry
         * can deliver it. */
        if (!replaced && (err == CAIRN_ERR_INVALID_ARG ||
                          err == CAIRN_ERR_LIMIT)) {
            replace_with_invalid(w, ev, errstr);
            replaced = 1;
            continue;
        }
        w->failed_deliveries++;
        LOG_ERROR("%s", errstr);
        return;
    }
}

/* A task record that does not decode: DLQ with the reason, then skip. */
static void dlq(cairn_worker_t *w, const rd_kafka_message_t *m,
                const char *reason) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "cairn.reason", -1, reason, -1);
    rd_kafka_header_add(h, "cairn.source.topic", -1, w->t_tasks, -1);
    if (rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->t_dlq),
                          RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_VALUE(m->payload, m->len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) {
        rd_kafka_headers_destroy(h);
        w->failed_deliveries++;
    }
    LOG_WARN("task at %s[%d]@%lld sent to %s: %s", w->t_tasks, m->partition,
             (long long)m->offset, w->t_dlq, reason);
}

/*
 * A producer with a fatal error (an idempotent producer that lost its
 * sequence with the broker) can never deliver again: replace it. Only the
 * run loop produces, and it calls this between rounds.
 */
static void renew_producer(cairn_worker_t *w) {
    char errstr[512];
    if (!rd_kafka_fatal_error(w->producer, NULL, 0))
        return;
    rd_kafka_t *rk = new_producer(w, errstr, sizeof(errstr));
    if (!rk) {
        LOG_ERROR("cannot replace the failed result producer: %s", errstr);
        return;
    }
    rd_kafka_purge(w->producer, RD_KAFKA_PURGE_F_QUEUE |
                                    RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(w->producer);
    w->producer = rk;
    LOG_WARN("result producer replaced after a fatal error");
}

#define ROUND_MAX 256 /* tasks polled, run and committed together */

typedef struct {
    job_t *jobs;
    int n;
    atomic_int next;
} round_t;

static void *round_worker(void *arg) {
    round_t *rd = arg;
    int i;
    while ((i = atomic_fetch_add(&rd->next, 1)) < rd->n)
        if (rd->jobs[i].decoded)
            run_job(&rd->jobs[i]);
    return NULL;
}

cairn_err_t cairn_worker_run(cairn_worker_t *w, char *errstr,
                             size_t errstr_size) {
    cairn_err_t err;
    char suffix[300];
    snprintf(suffix, sizeof(suffix), "tasks.%s", w->queue);
    const cairn_topic_spec_t spec = {suffix, 0, 0, 0};
    if ((err = cairn_kafka_ensure_topics(w->consumer, w->conf, &spec, 1, 15000,
                                         errstr, errstr_size)))
        return err;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, w->t_tasks, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(w->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (rerr)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                             "subscribe %s: %s", w->t_tasks,
                             rd_kafka_err2str(rerr));
    LOG_INFO("worker on %s with %zu activities, concurrency %d", w->t_tasks,
             w->nregs, w->concurrency);
    job_t *jobs = calloc(ROUND_MAX, sizeof(*jobs));
    pthread_t *th = calloc((size_t)w->concurrency, sizeof(*th));
    if (!jobs || !th) {
        free(jobs);
        free(th);
        return CAIRN_ERR_NOMEM;
    }
    while (!w->stop) {
        int n = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 100);
        while (m) {
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    LOG_WARN("worker consumer: %s",
                             rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
            } else {
                char why[512];
                job_t *j = &jobs[n++];
                memset(j, 0, sizeof(*j));
                j->w = w;
                j->msg = m;
                if (cairn_kafka_decode(m, &j->task, why, sizeof(why)) ||
                    j->task.type != CAIRN_EV_ACTIVITY_TASK) {
                    dlq(w, m, j->task.type ? "not an ActivityTask" : why);
                    cairn_event_clear(&j->task);
                } else {
                    j->decoded = 1;
                }
            }
            m = n < ROUND_MAX ? rd_kafka_consumer_poll(w->consumer, 0) : NULL;
        }
        if (!n)
            continue;
        int64_t t_run = cairn_mono_us();
        /* Run the round on up to `concurrency` threads pulling jobs. */
        round_t rd = {jobs, n, 0};
        int nth = n < w->concurrency ? n : w->concurrency, started = 0;
        for (int i = 1; i < nth; i++)
            if (!pthread_create(&th[started], NULL, round_worker, &rd))
                started++;
        round_worker(&rd);
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        int64_t t_flush = cairn_mono_us();
        for (int i = 0; i < n; i++)
            if (jobs[i].decoded)
                produce_result(w, &jobs[i].result);
        /* Deliver every result of the round before committing its offsets. */
        int before = w->failed_deliveries;
        rd_kafka_flush(w->producer, 30000);
        int64_t t_done = cairn_mono_us();
        /* Only delivery counts: the run is the activities' own time. */
        if (w->slow_us && t_done - t_flush > w->slow_us)
            LOG_WARN("slow round: %.1f ms (run %.1f, produce and flush "
                     "%.1f ms), %d tasks",
                     (double)(t_done - t_run) / 1000.0,
                     (double)(t_flush - t_run) / 1000.0,
                     (double)(t_done - t_flush) / 1000.0, n);
        int ok = w->failed_deliveries == before &&
                 rd_kafka_outq_len(w->producer) == 0;
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++) {
            /* ok: highest offset + 1 per partition; else the lowest. */
            int32_t p = jobs[i].msg->partition;
            int64_t o = jobs[i].msg->offset + (ok ? 1 : 0);
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(l, w->t_tasks, p);
            if (!tp)
                rd_kafka_topic_partition_list_add(l, w->t_tasks, p)->offset = o;
            else if (ok ? o > tp->offset : o < tp->offset)
                tp->offset = o;
        }
        if (ok) {
            /* Async while running; the last round before a stop waits, so
             * a finished task is never handed to the next worker. */
            rd_kafka_resp_err_t cerr = rd_kafka_commit(w->consumer, l,
                                                       w->stop ? 0 : 1);
            if (cerr)
                LOG_WARN("commit of %d task offset(s) failed: %s; they may "
                         "run again",
                         n, rd_kafka_err2str(cerr));
        } else {
            /* Results lost: rewind so the round runs again. */
            rd_kafka_seek_partitions(w->consumer, l, 5000);
            LOG_WARN("results of %d task(s) not delivered; re-running them", n);
            renew_producer(w);
        }
        rd_kafka_topic_partition_list_destroy(l);
        for (int i = 0; i < n; i++) {
            cairn_event_clear(&jobs[i].task);
            cairn_event_clear(&jobs[i].result);
            rd_kafka_message_destroy(jobs[i].msg);
        }
    }
    free(jobs);
    free(th);
    rd_kafka_consumer_close(w->consumer);
    return CAIRN_ERR_OK;
}
