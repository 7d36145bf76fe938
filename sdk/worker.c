/*
 * worker.c — libcairn's activity worker.
 *
 * At-least-once: a task's offset is committed only after the results of
 * every task before it in the partition were delivered to the events topic
 * (idempotent producer, acks=all). A crash in between re-runs the task; the
 * function gets the same idempotency key, and the engine ignores the second
 * result of the same activity attempt.
 *
 * A pipeline, not rounds: worker.concurrency runner threads take tasks from
 * a queue the run loop fills. The run loop waits for the tasks of its last
 * poll to run (BATCH_WAIT_MS at most) and produces their results together;
 * the result of a task still running then is produced when it returns (its
 * runner wakes the run loop). Activities that return at once cost a
 * produce request or two per poll, not one each; a slow activity holds up the
 * others' results by BATCH_WAIT_MS at most, and the other runners go on
 * with the next tasks. The run loop polls the consumer all the time, also
 * while every runner is busy (max.poll.interval.ms bounds the time between
 * polls, not an activity's length): past worker.inflight.max tasks or
 * INFLIGHT_BYTES in flight it pauses its partitions instead of not
 * polling. Every COMMIT_MS it commits, per partition, the lowest offset
 * whose result is not delivered yet (or one past the highest it took, when
 * all are): a task is never committed before its result is
 * in Kafka, whatever order they finish in. A result whose delivery failed
 * is produced again, with a growing pause (after replacing a producer that
 * hit a fatal error); one the broker refuses for good (too large, invalid)
 * becomes ActivityFailed InvalidResult. When the group takes partitions
 * away, the worker commits what it can first and forgets them; a task it
 * still runs may then be taken again (here or elsewhere), and the engine
 * ignores the second result. cairn_worker_stop() stops taking tasks,
 * drops the queued ones (uncommitted, they go to the partition's next
 * owner), lets the running ones finish while it goes on polling, delivers
 * their results and commits synchronously before the consumer closes.
 *
 * Heartbeats: cairn_activity_heartbeat(), called by an activity function on
 * its own thread, produces an ActivityHeartbeat through the worker's
 * producer (thread-safe). Producing threads hold the producer's read lock;
 * the run loop takes the write lock to replace it. A heartbeat that is not
 * delivered is logged and not produced again.
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
    int inflight_max; /* worker.inflight.max */
    int64_t slow_us; /* log.slow.batch.ms, in us: slower deliveries logged */
    rd_kafka_t *consumer, *producer;
    pthread_rwlock_t plock; /* the producer pointer: read it to produce */
    reg_t *regs;
    size_t nregs;
    atomic_int stop;
    /* The run queue and every job's state, under mu; runners wait on cv. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job_s *qhead, *qtail;
    struct job_s *ran;  /* results for the run loop to produce */
    /* The jobs of the run loop's last poll it waits for (BATCH_WAIT_MS at
     * most) before producing their results together; bcv wakes it. */
    pthread_cond_t bcv;
    unsigned batch;  /* the batch the run loop waits for, 0 none */
    int batch_left;  /* its jobs whose function has not returned */
    rd_kafka_queue_t *cq; /* the consumer's queue: a yield wakes the loop */
    struct job_s *done; /* delivered, for the run loop to free */
    struct job_s *kept; /* left by a stop with reports due: freed with
                         * the producer */
    int nretry;         /* jobs in J_RETRY */
    int outstanding;    /* records with the producer, unacknowledged */
    int quit; /* runners return once the queue is empty */
    struct loop_s *loop; /* the run loop's state, for the rebalance callback */
    /* /metrics when metrics.port is set; handles are NULL otherwise, and
     * updates on NULL handles are no-ops. */
    cairn_metrics_t *metrics;
    cairn_metric_t *sched_to_start, *completed, *failed, *invalid;
    cairn_metric_t *m_inflight, *m_paused, *m_assigned, *m_taken;
};

/* Where a job is (changes under w->mu). */
enum {
    J_QUEUED,   /* waiting for a runner */
    J_RUNNING,  /* its function runs */
    J_RAN,      /* its function returned: the run loop produces the result */
    J_PRODUCED, /* its record (the result, or the task to the DLQ) is with
                 * the producer, not acknowledged yet */
    J_RETRY,    /* refused or not delivered: to be produced again */
    J_DONE,     /* delivered */
    J_DROPPED   /* never started (stopping): not committed */
};

/* One task record taken from the tasks topic, until its outcome is
 * delivered; the run loop's list of jobs in flight links them. */
typedef struct job_s {
    cairn_worker_t *w;
    rd_kafka_message_t *msg;
    cairn_event_t task;
    cairn_event_t result;
    int decoded; /* else the record goes to the DLQ, with why */
    int state;
    unsigned batch; /* the run loop's poll that took it */
    unsigned gen;   /* the assignment it was taken under */
    int counted;  /* its outcome is in the completed/failed counters */
    int replaced; /* its result became InvalidResult */
    rd_kafka_resp_err_t dr_err; /* the last failed delivery's error */
    char why[256];
    int64_t produced_us; /* first produced: slow deliveries are logged */
    int64_t retry_us, backoff_us; /* when to produce again, the pause */
    struct job_s *prev, *next, *qnext, *dnext;
} job_t;

static void job_free(job_t *job);

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* The delivery-report opaque of heartbeat records. */
static char heartbeat_marker;

/* Served by the run loop's polls of the producer: a job's record was
 * delivered, or must be produced again. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    cairn_worker_t *w = opaque;
    (void)rk;
    if (m->_private == &heartbeat_marker) {
        if (m->err)
            LOG_WARN("heartbeat not delivered: %s", rd_kafka_err2str(m->err));
        return;
    }
    job_t *job = m->_private;
    if (!job)
        return;
    if (m->err)
        LOG_ERROR("%s of %s not delivered: %s; producing it again",
                  job->decoded ? "result" : "task record",
                  job->decoded ? job->task.workflow_id : "?",
                  rd_kafka_err2str(m->err));
    pthread_mutex_lock(&w->mu);
    job->dr_err = m->err;
    w->outstanding--;
    if (m->err) {
        job->state = J_RETRY;
        w->nretry++;
    } else {
        job->state = J_DONE;
        job->dnext = w->done;
        w->done = job;
    }
    pthread_mutex_unlock(&w->mu);
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
        cairn_kafka_conf_set(pc, "linger.ms", "5", errstr, errstr_size))
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
    w->m_inflight = cairn_metrics_gauge(
        w->metrics, "cairn_worker_tasks_in_flight",
        "Tasks taken and not yet delivered (queued for a runner, running, "
        "or their results with the producer).",
        labels);
    w->m_paused = cairn_metrics_gauge(
        w->metrics, "cairn_worker_fetch_paused",
        "1 while the worker holds worker.inflight.max tasks (or 64 MB) and "
        "has paused its partitions, else 0.",
        labels);
    w->m_taken = cairn_metrics_counter(
        w->metrics, "cairn_worker_tasks_taken_total",
        "Task records taken from the tasks topic (a task read again after "
        "a rebalance counts again).",
        labels);
    w->m_assigned = cairn_metrics_gauge(
        w->metrics, "cairn_worker_partitions_assigned",
        "Partitions of the tasks topic the group assigned to this worker.",
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
    w->inflight_max = (int)cairn_conf_int(conf, "worker.inflight.max");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->bcv, &ca);
    pthread_condattr_destroy(&ca);
    /* Writer first: a stream of heartbeats must not keep the run loop
     * from replacing a failed producer. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&w->plock, &ra);
    pthread_rwlockattr_destroy(&ra);
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
    rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    rd_kafka_conf_set_opaque(cc, w);
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
    /* The clients first: a consumer still subscribed (a run that failed
     * early) serves a last revocation, which sets gauges. */
    if (w->consumer)
        rd_kafka_destroy(w->consumer);
    if (w->producer) {
        rd_kafka_flush(w->producer, 10000);
        rd_kafka_destroy(w->producer);
    }
    cairn_metrics_destroy(w->metrics);
    /* No delivery report can name them any more. */
    for (job_t *j = w->kept, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
    for (size_t i = 0; i < w->nregs; i++)
        free(w->regs[i].name);
    free(w->regs);
    cairn_conf_destroy(w->conf);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->bcv);
    pthread_rwlock_destroy(&w->plock);
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
    pthread_rwlock_rdlock(&w->plock);
    cairn_err_t err = cairn_kafka_produce_event(
        w->producer, w->t_events, RD_KAFKA_PARTITION_UA, &ev, NULL,
        &heartbeat_marker, errstr, errstr_size);
    pthread_rwlock_unlock(&w->plock);
    return err;
}

/*
 * Turns a result that cannot be recorded (not JSON, not UTF-8, larger than
 * an event or a Kafka message may be) into ActivityFailed "InvalidResult",
 * non-retryable, with the reason in ASCII: otherwise it could never be
 * delivered, and its task never committed.
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

/* A task record that does not decode: to the DLQ with the reason (the
 * caller holds the producer's read lock). */
static cairn_err_t dlq(cairn_worker_t *w, const rd_kafka_message_t *m,
                       const char *reason, void *opaque, char *errstr,
                       size_t errstr_size) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "cairn.reason", -1, reason, -1);
    rd_kafka_header_add(h, "cairn.source.topic", -1, w->t_tasks, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        w->producer, RD_KAFKA_V_TOPIC(w->t_dlq),
        RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        return cairn__seterr(errstr, errstr_size, cairn_kafka_err(e),
                             "task to %s: %s", w->t_dlq, rd_kafka_err2str(e));
    }
    LOG_WARN("task at %s[%d]@%lld sent to %s: %s", w->t_tasks, m->partition,
             (long long)m->offset, w->t_dlq, reason);
    return CAIRN_ERR_OK;
}


/*
 * Hands the job's record to the producer (its result, or the task record to
 * the DLQ) with the job as the delivery report's opaque. It is J_PRODUCED
 * before the call, so that a report served at once finds it so, and
 * J_RETRY if the producer refuses it. Called by the run loop only.
 */
static void produce_job(cairn_worker_t *w, job_t *job) {
    char errstr[512];
    cairn_err_t err;
    if (!job->produced_us)
        job->produced_us = cairn_mono_us();
    /* Once the record is with the producer its report may free the job at
     * any moment: nothing below touches it after a successful call. */
    pthread_mutex_lock(&w->mu);
    job->state = J_PRODUCED;
    w->outstanding++;
    pthread_mutex_unlock(&w->mu);
    pthread_rwlock_rdlock(&w->plock);
    for (;;) {
        int count = job->decoded && !job->counted;
        cairn_metric_t *ctr = job->result.type == CAIRN_EV_ACTIVITY_COMPLETED
                                  ? w->completed
                                  : w->failed;
        if (count)
            job->counted = 1; /* counted when first handed over */
        if (!job->decoded)
            err = dlq(w, job->msg, job->why, job, errstr, sizeof(errstr));
        else
            err = cairn_kafka_produce_event(w->producer, w->t_events,
                                            RD_KAFKA_PARTITION_UA,
                                            &job->result, NULL, job, errstr,
                                            sizeof(errstr));
        if (!err) {
            if (count)
                cairn_metric_inc(ctr, 1);
            break;
        }
        if (count)
            job->counted = 0;
        if (strstr(errstr, "Queue full")) {
            /* Serve reports here: they make room, and the run loop may be
             * the one waiting (stopping, or producing itself). Bounded:
             * with the broker away, queued records fail after
             * message.timeout.ms (5 minutes by default) and free room. */
            rd_kafka_poll(w->producer, 10);
            continue;
        }
        /* The event itself is refused (codec or message size): no retry
         * can deliver it. */
        if (job->decoded && !job->replaced &&
            (err == CAIRN_ERR_INVALID_ARG || err == CAIRN_ERR_LIMIT)) {
            replace_with_invalid(w, &job->result, errstr);
            job->replaced = 1;
            continue;
        }
        LOG_ERROR("%s", errstr);
        pthread_mutex_lock(&w->mu);
        job->state = J_RETRY;
        w->nretry++;
        w->outstanding--;
        pthread_mutex_unlock(&w->mu);
        break;
    }
    pthread_rwlock_unlock(&w->plock);
}

/* Runner threads: take the next queued job, run it, and hand it back to
 * the run loop to produce its result (waking it if it sleeps in a poll):
 * one thread producing in bursts wakes the producer's broker thread once
 * per burst, not once per result. One job at a time: a job never waits
 * behind a slow one while another runner is free. */
static void *runner(void *arg) {
    cairn_worker_t *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->qhead && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        job_t *job = w->qhead;
        if (!job) { /* quit, and nothing queued */
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        w->qhead = job->qnext;
        if (!w->qhead)
            w->qtail = NULL;
        job->state = J_RUNNING;
        pthread_mutex_unlock(&w->mu);
        run_job(job);
        pthread_mutex_lock(&w->mu);
        int first = !w->ran, wake = 0;
        job->state = J_RAN;
        job->qnext = w->ran;
        w->ran = job;
        if (w->batch && job->batch == w->batch) {
            if (--w->batch_left == 0)
                pthread_cond_signal(&w->bcv);
        } else {
            wake = first; /* a straggler: the run loop may be polling */
        }
        pthread_mutex_unlock(&w->mu);
        if (wake)
            rd_kafka_queue_yield(w->cq);
    }
}

/* Produces the results the runners handed back, oldest first. */
static int produce_ran(cairn_worker_t *w) {
    int n = 0;
    pthread_mutex_lock(&w->mu);
    job_t *r = w->ran, *rev = NULL;
    w->ran = NULL;
    pthread_mutex_unlock(&w->mu);
    while (r) { /* the list is newest first */
        job_t *next = r->qnext;
        r->qnext = rev;
        rev = r;
        r = next;
    }
    for (job_t *j = rev, *next; j; j = next) {
        next = j->qnext; /* read before the job can be freed */
        produce_job(w, j);
        n++;
    }
    return n;
}

/* The bytes of task records taken and not yet delivered past which the
 * partitions pause, as past worker.inflight.max tasks (resuming at half of
 * both or below): a bound on memory when the runners fall behind. */
#define INFLIGHT_BYTES (64 << 20)
/* Longest the run loop waits for a poll's tasks to run before it produces
 * the results of those that did. */
#define BATCH_WAIT_MS 20
/* Longest the run loop waits for a batch's results to be acknowledged. */
#define FLUSH_MS 100
/* How often the offsets of delivered tasks are committed. */
#define COMMIT_MS 100

/* The run loop's bookkeeping of one partition of the tasks topic. */
typedef struct {
    int32_t partition;
    int64_t hi;        /* the highest offset taken */
    int64_t committed; /* the last offset committed, -1 none */
    int64_t low;       /* this pass: lowest undelivered offset, -1 none */
} part_t;

typedef struct loop_s {
    cairn_worker_t *w;
    job_t *head, *tail; /* the jobs in flight, in the order taken */
    job_t *chead, *ctail; /* taken in this poll, not yet queued */
    int nchain;
    int n, max;
    size_t bytes; /* their task records' */
    part_t *parts;
    size_t nparts;
    int paused;
    unsigned batch; /* the last batch enqueued */
    unsigned gen;   /* assignments so far: jobs taken before the last one
                     * hold no commit back */
    int stopping;   /* results waiting out a retry pause go at once */
    int outstanding;       /* sweep(): records with the producer */
    int64_t next_retry_us; /* sweep(): the earliest retry pause's end */
    int64_t slow_max_us; /* slowest delivery over the slow threshold */
    int nslow;
} loop_t;

static part_t *part_of(loop_t *lp, int32_t p) {
    for (size_t i = 0; i < lp->nparts; i++)
        if (lp->parts[i].partition == p)
            return &lp->parts[i];
    part_t *np = realloc(lp->parts, (lp->nparts + 1) * sizeof(*np));
    if (!np)
        abort();
    lp->parts = np;
    np[lp->nparts] = (part_t){p, -1, -1, -1};
    return &np[lp->nparts++];
}

/* Takes one polled task record: into the list, and onto the run queue (or
 * straight to the producer, to the DLQ, if it does not decode). */
static void take(loop_t *lp, rd_kafka_message_t *m) {
    cairn_worker_t *w = lp->w;
    job_t *job = calloc(1, sizeof(*job));
    if (!job)
        abort();
    job->w = w;
    job->msg = m;
    if (cairn_kafka_decode(m, &job->task, job->why, sizeof(job->why)) ||
        job->task.type != CAIRN_EV_ACTIVITY_TASK) {
        if (job->task.type)
            snprintf(job->why, sizeof(job->why), "not an ActivityTask");
        cairn_event_clear(&job->task);
    } else {
        job->decoded = 1;
    }
    job->gen = lp->gen;
    part_t *pt = part_of(lp, m->partition);
    if (m->offset > pt->hi)
        pt->hi = m->offset;
    job->prev = lp->tail;
    if (lp->tail)
        lp->tail->next = job;
    else
        lp->head = job;
    lp->tail = job;
    lp->n++;
    lp->bytes += m->len;
    cairn_metric_inc(w->m_taken, 1);
    if (!job->decoded) {
        produce_job(w, job);
        return;
    }
    job->state = J_QUEUED; /* not shared yet: enqueue() publishes it */
    if (lp->ctail)
        lp->ctail->qnext = job;
    else
        lp->chead = job;
    lp->ctail = job;
    lp->nchain++;
}

/* Hands the jobs taken in one poll to the runners, with one wakeup, as
 * the batch the run loop waits for next. */
static void enqueue(loop_t *lp) {
    cairn_worker_t *w = lp->w;
    if (!lp->chead)
        return;
    if (!++lp->batch)
        lp->batch = 1; /* 0 is "no batch" */
    for (job_t *j = lp->chead; j; j = j->qnext)
        j->batch = lp->batch;
    pthread_mutex_lock(&w->mu);
    w->batch = lp->batch;
    w->batch_left = lp->nchain;
    if (w->qtail)
        w->qtail->qnext = lp->chead;
    else
        w->qhead = lp->chead;
    w->qtail = lp->ctail;
    if (lp->nchain > 1)
        pthread_cond_broadcast(&w->cv);
    else
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    lp->chead = lp->ctail = NULL;
    lp->nchain = 0;
}

/*
 * Waits until every job of the batch enqueue() handed over has run, or
 * BATCH_WAIT_MS passed: activities that return at once then have their
 * results produced together (one produce request, not one each: the
 * broker's CPU per result), and a slow one holds up the others' results
 * by BATCH_WAIT_MS at most; the rest are produced as they return.
 */
static void wait_batch(loop_t *lp) {
    cairn_worker_t *w = lp->w;
    struct timespec until = cairn_timespec_in(CLOCK_MONOTONIC, BATCH_WAIT_MS);
    pthread_mutex_lock(&w->mu);
    while (w->batch && w->batch_left > 0 &&
           pthread_cond_timedwait(&w->bcv, &w->mu, &until) == 0)
        ;
    w->batch = 0; /* what has not run yet is produced as it returns */
    pthread_mutex_unlock(&w->mu);
}

static void job_free(job_t *job) {
    cairn_event_clear(&job->task);
    cairn_event_clear(&job->result);
    if (job->msg)
        rd_kafka_message_destroy(job->msg);
    free(job);
}

/* Frees the jobs delivered since the last call (slow ones counted). */
static void free_delivered(loop_t *lp) {
    cairn_worker_t *w = lp->w;
    pthread_mutex_lock(&w->mu);
    job_t *d = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->mu);
    int64_t now = cairn_mono_us();
    for (job_t *j = d, *next; j; j = next) {
        next = j->dnext;
        int64_t took = now - j->produced_us;
        if (w->slow_us && took > w->slow_us) {
            lp->nslow++;
            if (took > lp->slow_max_us)
                lp->slow_max_us = took;
        }
        *(j->prev ? &j->prev->next : &lp->head) = j->next;
        *(j->next ? &j->next->prev : &lp->tail) = j->prev;
        lp->n--;
        lp->bytes -= j->msg->len;
        job_free(j);
    }
}

/*
 * A producer with a fatal error (an idempotent producer that lost its
 * sequence with the broker) can never deliver again: replace it, under the
 * write lock, so that no thread produces meanwhile. Its undelivered
 * records come back as failed reports (J_RETRY) and are produced again.
 */
static void renew_producer(loop_t *lp) {
    cairn_worker_t *w = lp->w;
    char errstr[512];
    if (!rd_kafka_fatal_error(w->producer, NULL, 0))
        return;
    rd_kafka_t *rk = new_producer(w, errstr, sizeof(errstr));
    if (!rk) {
        LOG_ERROR("cannot replace the failed result producer: %s", errstr);
        return;
    }
    pthread_rwlock_wrlock(&w->plock);
    rd_kafka_t *old = w->producer;
    w->producer = rk;
    pthread_rwlock_unlock(&w->plock);
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    /* The purged records' reports (J_RETRY) before the handle goes. */
    for (int i = 0; i < 500 && rd_kafka_outq_len(old) > 0; i++)
        rd_kafka_poll(old, 10);
    rd_kafka_destroy(old);
    /* A record whose report never came (the wait above is bounded) would
     * hold its partition's commit back for good: none will come now, so
     * it goes again. Only the run loop produces jobs, so none of them is
     * with the new producer yet. */
    int lost = 0;
    pthread_mutex_lock(&w->mu);
    for (job_t *j = lp->head; j; j = j->next)
        if (j->state == J_PRODUCED) {
            j->state = J_RETRY;
            j->dr_err = RD_KAFKA_RESP_ERR__DESTROY;
            w->outstanding--;
            w->nretry++;
            lost++;
        }
    pthread_mutex_unlock(&w->mu);
    LOG_WARN("result producer replaced after a fatal error%s", lost ?
             "; results whose reports it did not serve go again" : "");
}

/*
 * Frees the jobs delivered since the last call and produces again the ones
 * whose delivery failed (each after its pause; at once when stopping).
 * Returns how many records are with the producer or wait to go again;
 * sets lp->outstanding (with the producer) and lp->next_retry_us (the
 * earliest pause to end, 0 none).
 */
static int sweep(loop_t *lp) {
    cairn_worker_t *w = lp->w;
    free_delivered(lp);
    pthread_mutex_lock(&w->mu);
    int retry = w->nretry, waiting = w->outstanding;
    pthread_mutex_unlock(&w->mu);
    int64_t now = cairn_mono_us();
    lp->outstanding = waiting;
    lp->next_retry_us = 0;
    if (!retry)
        return waiting;
    renew_producer(lp);
    for (job_t *j = lp->head; j; j = j->next) {
        pthread_mutex_lock(&w->mu);
        int again = j->state == J_RETRY &&
                    (lp->stopping || now >= j->retry_us);
        if (j->state == J_RETRY && !again &&
            (!lp->next_retry_us || j->retry_us < lp->next_retry_us))
            lp->next_retry_us = j->retry_us;
        rd_kafka_resp_err_t e = j->dr_err;
        if (again)
            w->nretry--;
        pthread_mutex_unlock(&w->mu);
        if (!again)
            continue;
        /* The broker refuses this result for good: report the attempt as
         * failed instead (a task record keeps trying: its DLQ topic is the
         * operator's to fix). */
        if (j->decoded && !j->replaced &&
            (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
             e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
             e == RD_KAFKA_RESP_ERR_INVALID_MSG)) {
            replace_with_invalid(w, &j->result, rd_kafka_err2str(e));
            j->replaced = 1;
        }
        j->backoff_us = j->backoff_us ? j->backoff_us * 2 : 100000;
        if (j->backoff_us > 5000000)
            j->backoff_us = 5000000;
        j->retry_us = now + j->backoff_us;
        produce_job(w, j);
    }
    pthread_mutex_lock(&w->mu);
    lp->outstanding = w->outstanding;
    pthread_mutex_unlock(&w->mu);
    return waiting + retry;
}

/* Per partition, the lowest offset of a job in flight (not delivered). */
static void lows(loop_t *lp) {
    for (size_t i = 0; i < lp->nparts; i++)
        lp->parts[i].low = -1;
    pthread_mutex_lock(&lp->w->mu);
    for (job_t *j = lp->head; j; j = j->next) {
        if (j->state == J_DONE || j->gen != lp->gen)
            continue; /* freed by the next sweep; or taken under an earlier
                       * assignment, whose offset another owner may have
                       * committed past since */
        part_t *pt = part_of(lp, j->msg->partition);
        if (pt->low < 0 || j->msg->offset < pt->low)
            pt->low = j->msg->offset;
    }
    pthread_mutex_unlock(&lp->w->mu);
}

/* Commits, per assigned partition, the lowest offset not delivered (or one
 * past the highest taken) when it moved; sync if asked. */
static void commit(loop_t *lp, int sync) {
    cairn_worker_t *w = lp->w;
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(w->consumer, &asg) || !asg)
        return;
    lows(lp);
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)lp->nparts);
    for (size_t i = 0; i < lp->nparts; i++) {
        part_t *pt = &lp->parts[i];
        int64_t o = pt->low >= 0 ? pt->low : pt->hi + 1;
        if (pt->hi < 0 || (!sync && o <= pt->committed) ||
            !rd_kafka_topic_partition_list_find(asg, w->t_tasks,
                                                pt->partition))
            continue;
        rd_kafka_topic_partition_list_add(l, w->t_tasks, pt->partition)
            ->offset = o;
        pt->committed = o;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t cerr = rd_kafka_commit(w->consumer, l, !sync);
        if (cerr)
            LOG_WARN("commit of task offsets failed: %s; those tasks may "
                     "run again",
                     rd_kafka_err2str(cerr));
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_topic_partition_list_destroy(asg);
    if (lp->nslow) {
        LOG_WARN("slow deliveries: %d result(s) took over %.0f ms from "
                 "produce to acknowledgement (slowest %.1f ms)",
                 lp->nslow, (double)w->slow_us / 1000.0,
                 (double)lp->slow_max_us / 1000.0);
        lp->nslow = 0;
        lp->slow_max_us = 0;
    }
}

/* With lp->max jobs (or INFLIGHT_BYTES) in flight, pauses the assigned
 * partitions (again every time: a rebalance hands out unpaused ones);
 * at half of both or below, resumes them. The consumer is polled either way. */
static void throttle(loop_t *lp) {
    cairn_worker_t *w = lp->w;
    int pause = lp->n >= lp->max || lp->bytes >= INFLIGHT_BYTES;
    if (!pause && !(lp->paused && lp->n <= lp->max / 2 &&
                    lp->bytes <= INFLIGHT_BYTES / 2))
        return;
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(w->consumer, &asg) || !asg)
        return;
    if (pause)
        rd_kafka_pause_partitions(w->consumer, asg);
    else
        rd_kafka_resume_partitions(w->consumer, asg);
    rd_kafka_topic_partition_list_destroy(asg);
    lp->paused = pause;
}

/*
 * Served by the run loop's consumer polls (and its close). Partitions
 * taken away: what is delivered for them is committed while they are
 * still ours, then their bookkeeping is forgotten (the tasks still running
 * finish and deliver; the next owner may run them again, and they hold no
 * commit back). A new assignment starts resumed; throttle() pauses it
 * again if the worker holds too much.
 */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    cairn_worker_t *w = opaque;
    loop_t *lp = w->loop;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        /* In librdkafka 2.0.2 an application's pause outlives the
         * revocation: partitions paused before come back paused. */
        rd_kafka_resume_partitions(rk, parts);
        if (lp)
            lp->gen++;
        cairn_metric_set(w->m_assigned, parts->cnt);
        LOG_INFO("assigned %d partition(s) of %s", parts->cnt, w->t_tasks);
    } else {
        if (lp) {
            sweep(lp);
            commit(lp, 1);
            for (size_t i = 0; i < lp->nparts; i++)
                lp->parts[i].hi = lp->parts[i].committed = -1;
        }
        rd_kafka_assign(rk, NULL);
        cairn_metric_set(w->m_assigned, 0);
        LOG_INFO("partitions of %s revoked", w->t_tasks);
    }
    if (lp)
        lp->paused = 0; /* the gauge follows after the next throttle() */
}

/* Jobs whose function runs now. */
static int running(loop_t *lp) {
    int n = 0;
    pthread_mutex_lock(&lp->w->mu);
    for (job_t *j = lp->head; j; j = j->next)
        n += j->state == J_RUNNING;
    pthread_mutex_unlock(&lp->w->mu);
    return n;
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
    pthread_t *th = calloc((size_t)w->concurrency, sizeof(*th));
    int nth = 0;
    if (!th)
        return CAIRN_ERR_NOMEM;
    w->quit = 0;
    for (int i = 0; i < w->concurrency; i++)
        if (!pthread_create(&th[nth], NULL, runner, w))
            nth++;
    if (!nth) {
        free(th);
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                             "cannot start a runner thread");
    }
    loop_t lp = {.w = w, .max = w->inflight_max};
    if (lp.max < 2 * w->concurrency)
        lp.max = 2 * w->concurrency;
    LOG_INFO("worker on %s with %zu activities, concurrency %d, holding "
             "%d tasks at most",
             w->t_tasks, w->nregs, nth, lp.max);
    w->loop = &lp;
    w->cq = rd_kafka_queue_get_consumer(w->consumer);
    int64_t next_commit = cairn_mono_ms() + COMMIT_MS;
    while (!w->stop) {
        /* Short waits while records await their reports (they free room
         * and advance the commit), or until the next retry's pause ends. */
        int tmo = 100;
        if (lp.outstanding)
            tmo = 5;
        else if (lp.next_retry_us) {
            int64_t left = (lp.next_retry_us - cairn_mono_us()) / 1000 + 1;
            tmo = left < 1 ? 1 : left < tmo ? (int)left : tmo;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, tmo);
        for (int k = 0; m; k++) {
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    LOG_WARN("worker consumer: %s",
                             rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
            } else {
                take(&lp, m);
            }
            m = k < lp.max && lp.n < lp.max
                    ? rd_kafka_consumer_poll(w->consumer, 0)
                    : NULL;
        }
        enqueue(&lp);
        wait_batch(&lp);
        /* The flush sends at once (linger.ms is for heartbeats) and waits
         * for the acknowledgements, FLUSH_MS at most: meanwhile the next
         * tasks gather in the consumer's queue, for the next batch. */
        if (produce_ran(w))
            rd_kafka_flush(w->producer, FLUSH_MS);
        rd_kafka_poll(w->producer, 0); /* delivery reports */
        sweep(&lp);
        throttle(&lp);
        cairn_metric_set(w->m_inflight, lp.n);
        cairn_metric_set(w->m_paused, lp.paused);
        if (cairn_mono_ms() >= next_commit) {
            commit(&lp, 0);
            next_commit = cairn_mono_ms() + COMMIT_MS;
        }
    }
    /* Stopping: the queued jobs are dropped (not committed), the running
     * ones finish while the consumer goes on being polled (paused: what it
     * returns is not taken), every result is delivered, the offsets
     * committed. */
    pthread_mutex_lock(&w->mu);
    for (job_t *j = w->qhead; j; j = j->qnext)
        j->state = J_DROPPED;
    w->qhead = w->qtail = NULL;
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    lp.max = 0; /* throttle() pauses whatever is assigned */
    while (running(&lp)) {
        throttle(&lp);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 100);
        if (m)
            rd_kafka_message_destroy(m);
        produce_ran(w);
        rd_kafka_poll(w->producer, 0);
    }
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    produce_ran(w);
    free(th);
    lp.stopping = 1; /* a result in its retry pause goes now */
    for (int tries = 0; tries < 3 && sweep(&lp); tries++)
        rd_kafka_flush(w->producer, 10000);
    free_delivered(&lp);
    commit(&lp, 1);
    /* What is left was not delivered (or was dropped): not committed, so
     * the next owner runs it. Reports still due name these jobs. */
    rd_kafka_purge(w->producer,
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 100 && rd_kafka_outq_len(w->producer) > 0; i++)
        rd_kafka_poll(w->producer, 10);
    free_delivered(&lp); /* acknowledged before the purge reached them */
    if (lp.n)
        LOG_WARN("stopping with %d task(s) not delivered; they will run "
                 "again",
                 lp.n);
    /* The consumer closes with no message of its held, and without the
     * loop (the revocation it triggers commits nothing new: what was
     * delivered is committed). A report still due would name its job: the
     * jobs are then kept (without their records) until
     * cairn_worker_destroy() has destroyed the producer. */
    int keep = rd_kafka_outq_len(w->producer) > 0;
    w->loop = NULL;
    for (job_t *j = lp.head, *next; j; j = next) {
        next = j->next;
        if (!keep) {
            job_free(j);
            continue;
        }
        rd_kafka_message_destroy(j->msg);
        j->msg = NULL;
        j->next = w->kept;
        w->kept = j;
    }
    lp.head = lp.tail = NULL;
    lp.n = 0;
    rd_kafka_consumer_close(w->consumer);
    rd_kafka_queue_destroy(w->cq);
    w->cq = NULL;
    free(lp.parts);
    return CAIRN_ERR_OK;
}
