/*
 * node.c — the shard consumer group member.
 *
 * Eager rebalancing (range assignor; librdkafka 2.0.2's cooperative-sticky
 * has known bugs) with static membership: group.instance.id = node.id, so a
 * node restarted within session.timeout.ms gets its shards back without a
 * rebalance. On assignment every partition gets a shard thread that fences
 * the previous owner and restores before it applies anything; records that
 * arrive meanwhile wait in its queue. On revocation each shard commits its
 * batch in progress (or aborts it if the partitions were lost) before the
 * partitions are released.
 */
#include "node.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defs.h"
#include "kafka.h"
#include "leave.h"
#include "log.h"
#include "shard.h"

#define BACKLOG_PAUSE 20000
#define BACKLOG_RESUME 2000

static void drop_parked(cairn_node_t *node) {
    for (int p = 0; p < node->partitions; p++) {
        cairn_shard_destroy(node->parked[p]);
        node->parked[p] = NULL;
    }
}

/* mode: 0 abandon (lost), 1 commit and free, 2 commit and park. */
static void release_all(cairn_node_t *node, int mode) {
    for (int p = 0; p < node->partitions; p++) {
        cairn_shard_t *shard;
        pthread_mutex_lock(&node->lock);
        shard = node->shards[p];
        node->shards[p] = NULL;
        pthread_mutex_unlock(&node->lock);
        if (!shard)
            continue;
        node->m.owned--;
        if (mode == 2) {
            cairn_shard_park(shard);
            node->parked[p] = shard;
        } else {
            cairn_shard_stop(shard, mode);
        }
    }
    if (mode != 2)
        drop_parked(node);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    cairn_node_t *node = opaque;
    char errstr[512];
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int kept = 0;
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (strcmp(parts->elems[i].topic, node->t_events) || p < 0 ||
                p >= node->partitions)
                continue;
            cairn_shard_t *shard = node->parked[p];
            node->parked[p] = NULL;
            if (shard && cairn_shard_resume(shard, errstr, sizeof(errstr))) {
                cairn_shard_destroy(shard);
                shard = NULL;
            }
            kept += shard != NULL;
            if (!shard &&
                !(shard = cairn_shard_start(node, p, errstr, sizeof(errstr)))) {
                LOG_ERROR("shard %d: %s", p, errstr);
                abort(); /* cannot run a thread: nothing sane is left */
            }
            pthread_mutex_lock(&node->lock);
            node->shards[p] = shard;
            pthread_mutex_unlock(&node->lock);
            node->m.owned++;
        }
        /* Parked shards not given back belong to someone else now. */
        drop_parked(node);
        LOG_INFO("assigned %d shard(s), %d of them kept from before",
                 parts->cnt, kept);
        rd_kafka_assign(rk, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        LOG_INFO("revoking %d shard(s)%s", parts->cnt,
                 lost ? " (lost: aborting in-flight work)" : "");
        release_all(node, lost ? 0 : 2);
        rd_kafka_assign(rk, NULL);
    }
}

static double owned_fn(void *opaque) {
    return (double)((cairn_node_t *)opaque)->m.owned;
}

static double live_fn(void *opaque) {
    return (double)((cairn_node_t *)opaque)->m.live;
}

static double at_rest_fn(void *opaque) {
    return (double)((cairn_node_t *)opaque)->m.at_rest;
}

static int health_fn(void *opaque, char *why, size_t why_size) {
    cairn_node_t *node = opaque;
    if (node->stopping) {
        snprintf(why, why_size, "stopping");
        return 1;
    }
    return 0;
}

/* Registers every metric of the node (a failure leaves a NULL handle,
 * which updates ignore). */
static void register_metrics(cairn_node_t *node) {
    static const double secs[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                  0.1,   0.2,   0.5,   1,    2,    5,
                                  10,    30};
    static const double sizes[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000,
                                   2000, 5000};
    cairn_metrics_t *mx = node->metrics;
    cairn_node_metrics_t *m = &node->m;
#define CTR(field, name, help, labels)                                         \
    m->field = cairn_metrics_counter(mx, name, help, labels)
    CTR(events, "cairn_events_applied_total",
        "Input events applied by this node's shards.", NULL);
    CTR(batches, "cairn_transactions_committed_total",
        "Shard transactions committed.", NULL);
    CTR(aborts, "cairn_transactions_aborted_total",
        "Shard transactions aborted and retried.", NULL);
    CTR(dlq, "cairn_dlq_records_total", "Records sent to the DLQ.", NULL);
    CTR(restored, "cairn_restored_workflows_total",
        "Workflows restored from the state topic.", NULL);
    CTR(redis_errors, "cairn_redis_errors_total",
        "Failed Redis index flushes (the index is repaired later).", NULL);
    CTR(act_completed, "cairn_activity_results_total",
        "Activity results accepted, by outcome.", "outcome=\"completed\"");
    CTR(act_failed, "cairn_activity_results_total",
        "Activity results accepted, by outcome.", "outcome=\"failed\"");
    CTR(act_timed_out, "cairn_activity_results_total",
        "Activity results accepted, by outcome.", "outcome=\"timed_out\"");
    CTR(act_retries, "cairn_activity_retries_total",
        "Activity attempts scheduled after a failure or timeout.", NULL);
    CTR(signals, "cairn_signals_total", "Signals received.", NULL);
    CTR(timers_started, "cairn_timers_started_total", "Timers started.",
        NULL);
    CTR(timers_fired, "cairn_timers_fired_total",
        "Timer fires accepted by workflows.", NULL);
    CTR(wf_started, "cairn_workflows_total", "Workflow runs by outcome.",
        "event=\"started\"");
    CTR(wf_completed, "cairn_workflows_total", "Workflow runs by outcome.",
        "event=\"completed\"");
    CTR(wf_failed, "cairn_workflows_total", "Workflow runs by outcome.",
        "event=\"failed\"");
    CTR(continued, "cairn_continue_as_new_total",
        "Workflow runs continued as new.", NULL);
    CTR(evicted, "cairn_workflows_evicted_total",
        "Closed workflows evicted after state.retention.closed.ms.", NULL);
    CTR(snapshots, "cairn_state_snapshots_total",
        "WorkflowState records written to the state topic (a changed "
        "workflow at most once per state.snapshot.interval.ms).",
        NULL);
    CTR(divergences, "cairn_replay_divergences_total",
        "Sampled steps (one in determinism.check.every) whose re-execution "
        "on the same state and event gave other outputs or state: "
        "non-determinism.",
        NULL);
#undef CTR
    static const char *const phases[CAIRN_PHASES] = {
        "phase=\"wait\"", "phase=\"apply\"", "phase=\"snapshot\"",
        "phase=\"commit\"", "phase=\"index\""};
    for (int i = 0; i < CAIRN_PHASES; i++)
        m->phase[i] = cairn_metrics_counter(
            mx, "cairn_shard_seconds_total",
            "Shard threads' wall time by phase: wait (for records and to "
            "fill a batch), apply (decode, engine, outputs; reloads after "
            "an abort), snapshot, "
            "commit (offsets and commit_transaction), index (Redis).",
            phases[i]);
    m->restore_s = cairn_metrics_histogram(
        mx, "cairn_restore_seconds", "Time to restore one shard.", NULL, secs,
        sizeof(secs) / sizeof(secs[0]));
    m->commit_s = cairn_metrics_histogram(
        mx, "cairn_transaction_commit_seconds",
        "commit_transaction latency (the commit phase of "
        "cairn_shard_seconds_total also counts sending the offsets).",
        NULL, secs, sizeof(secs) / sizeof(secs[0]));
    m->batch_size = cairn_metrics_histogram(
        mx, "cairn_batch_events", "Input events per shard transaction.", NULL,
        sizes, sizeof(sizes) / sizeof(sizes[0]));
    m->step_s = cairn_metrics_histogram(
        mx, "cairn_step_latency_seconds",
        "Workflow step latency: input record timestamp to the commit of its "
        "outputs.",
        NULL, secs, sizeof(secs) / sizeof(secs[0]));
    cairn_metrics_gauge_fn(mx, "cairn_shards_owned",
                           "Shards (partitions) this node owns.", NULL,
                           owned_fn, node);
    cairn_metrics_gauge_fn(mx, "cairn_workflows_in_memory",
                           "Workflows held in memory by this node's shards.",
                           NULL, live_fn, node);
    cairn_metrics_gauge_fn(mx, "cairn_workflows_at_rest",
                           "Of the workflows in memory, the closed ones held "
                           "as their encoded state (state.retention.closed.ms).",
                           NULL, at_rest_fn, node);
    cairn_metrics_add_process(mx);
    cairn_metrics_set_health(mx, health_fn, node);
}

cairn_node_t *cairn_node_new(cairn_conf_t *conf, char *errstr,
                             size_t errstr_size) {
    cairn_node_t *node = calloc(1, sizeof(*node));
    rd_kafka_conf_t *kc = NULL;
    char num[32];
    if (!node)
        return NULL;
    node->conf = conf;
    node->node_id = cairn_conf_node_id(conf);
    node->partitions = (int)cairn_conf_int(conf, "partitions");
    cairn_conf_topic(conf, "events", node->t_events, sizeof(node->t_events));
    cairn_conf_topic(conf, "history", node->t_history,
                     sizeof(node->t_history));
    cairn_conf_topic(conf, "state", node->t_state, sizeof(node->t_state));
    cairn_conf_topic(conf, "dlq", node->t_dlq, sizeof(node->t_dlq));
    cairn_conf_topic(conf, "definitions", node->t_definitions,
                     sizeof(node->t_definitions));
    node->limits.max_payload_bytes =
        (size_t)cairn_conf_int(conf, "payload.max.bytes");
    node->limits.max_history_events =
        (size_t)cairn_conf_int(conf, "history.max.events");
    rd_kafka_topic_conf_t *tc = cairn_kafka_topic_conf_compression(
        cairn_conf_str(conf, "state.compression"), errstr, errstr_size);
    if (!tc) {
        char why[256];
        snprintf(why, sizeof(why), "%s", errstr);
        snprintf(errstr, errstr_size, "state.compression: %s", why);
        free(node);
        return NULL;
    }
    rd_kafka_topic_conf_destroy(tc);
    pthread_mutex_init(&node->lock, NULL);
    if (!(node->metrics = cairn_metrics_new()))
        goto err;
    register_metrics(node);
    if (!(node->shards = calloc((size_t)node->partitions,
                                sizeof(*node->shards))) ||
        !(node->parked = calloc((size_t)node->partitions,
                                sizeof(*node->parked))))
        goto err;

    const char *g = cairn_conf_str(conf, "group.id");
    if (*g)
        snprintf(node->group, sizeof(node->group), "%s", g);
    else
        snprintf(node->group, sizeof(node->group), "%sshards",
                 cairn_conf_str(conf, "topic.prefix"));
    if (!(kc = cairn_kafka_conf_new(conf, "cairnd", errstr, errstr_size)))
        goto err;
    snprintf(num, sizeof(num), "%lld",
             (long long)cairn_conf_int(conf, "session.timeout.ms"));
    if (cairn_kafka_conf_set(kc, "group.id", node->group, errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "group.instance.id", node->node_id, errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "session.timeout.ms", num, errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "heartbeat.interval.ms", "1000", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "partition.assignment.strategy", "range",
                             errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "auto.offset.reset", "earliest", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "fetch.wait.max.ms", "10", errstr,
                             errstr_size))
        goto err;
    snprintf(num, sizeof(num), "%lld",
             (long long)cairn_conf_int(conf, "max.poll.interval.ms"));
    if (cairn_kafka_conf_set(kc, "max.poll.interval.ms", num, errstr,
                             errstr_size))
        goto err;
    rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
    rd_kafka_conf_set_opaque(kc, node);
    if (!(node->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                        errstr_size)))
        goto err;
    kc = NULL;
    rd_kafka_poll_set_consumer(node->consumer);
    return node;
err:
    if (kc)
        rd_kafka_conf_destroy(kc);
    cairn_node_destroy(node);
    return NULL;
}

static cairn_err_t ensure_topics(cairn_node_t *node, char *errstr,
                                 size_t errstr_size) {
    const cairn_topic_spec_t specs[] = {
        {"events", 0, 0, 1},     {"history", 0, 0, 1}, {"state", 0, 1, 1},
        {"dlq", 0, 0, 0},        {"definitions", 1, 1, 0},
        {"tasks.default", 0, 0, 0},
    };
    return cairn_kafka_ensure_topics(node->consumer, node->conf, specs,
                                     sizeof(specs) / sizeof(specs[0]), 15000,
                                     errstr, errstr_size);
}

cairn_err_t cairn__node_ensure_task_topic(cairn_node_t *node,
                                          const char *queue, char *topic,
                                          size_t topic_size, char *errstr,
                                          size_t errstr_size) {
    char suffix[300];
    snprintf(suffix, sizeof(suffix), "tasks.%s", queue ? queue : "default");
    cairn_conf_topic(node->conf, suffix, topic, topic_size);
    pthread_mutex_lock(&node->lock);
    for (size_t i = 0; i < node->ntask_topics; i++) {
        if (!strcmp(node->task_topics[i], topic)) {
            pthread_mutex_unlock(&node->lock);
            return CAIRN_ERR_OK;
        }
    }
    pthread_mutex_unlock(&node->lock);
    cairn_topic_spec_t spec = {suffix, 0, 0, 0};
    cairn_err_t err = cairn_kafka_ensure_topics(node->consumer, node->conf,
                                                &spec, 1, 15000, errstr,
                                                errstr_size);
    if (err)
        return err;
    pthread_mutex_lock(&node->lock);
    char **nt = realloc(node->task_topics,
                        (node->ntask_topics + 1) * sizeof(*nt));
    if (nt) {
        node->task_topics = nt;
        if ((nt[node->ntask_topics] = strdup(topic)))
            node->ntask_topics++;
    }
    pthread_mutex_unlock(&node->lock);
    return CAIRN_ERR_OK;
}

/* Pauses partitions whose shard is far behind; resumes drained ones. */
static void flow_control(cairn_node_t *node, char *paused) {
    for (int p = 0; p < node->partitions; p++) {
        pthread_mutex_lock(&node->lock);
        cairn_shard_t *shard = node->shards[p];
        size_t backlog = shard ? cairn_shard_backlog(shard) : 0;
        pthread_mutex_unlock(&node->lock);
        int want = backlog > BACKLOG_PAUSE ? 1
                   : backlog < BACKLOG_RESUME ? 0 : paused[p];
        if (!shard)
            want = 0;
        if (want == paused[p])
            continue;
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, node->t_events, p);
        if (want)
            rd_kafka_pause_partitions(node->consumer, l);
        else
            rd_kafka_resume_partitions(node->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        paused[p] = (char)want;
    }
}

cairn_err_t cairn_node_run(cairn_node_t *node) {
    char errstr[1024];
    cairn_err_t err = ensure_topics(node, errstr, sizeof(errstr));
    if (err) {
        LOG_ERROR("%s", errstr);
        return err;
    }
    int port = (int)cairn_conf_int(node->conf, "metrics.port");
    if (port) {
        if ((err = cairn_metrics_serve(node->metrics,
                                       cairn_conf_str(node->conf,
                                                      "metrics.address"),
                                       port, errstr, sizeof(errstr)))) {
            LOG_ERROR("metrics: %s", errstr);
            return CAIRN_ERR_CONFIG;
        }
        LOG_INFO("metrics on http://%s:%d/metrics",
                 cairn_conf_str(node->conf, "metrics.address"), port);
    }
    if (!(node->defs = cairn_defs_new(node->conf, errstr, sizeof(errstr)))) {
        LOG_ERROR("%s", errstr);
        return CAIRN_ERR_KAFKA;
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, node->t_events,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(node->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (rerr) {
        LOG_ERROR("subscribe %s: %s", node->t_events, rd_kafka_err2str(rerr));
        return CAIRN_ERR_KAFKA;
    }
    LOG_INFO("node %s joined; %d shards in %s", node->node_id,
             node->partitions, node->t_events);
    char *paused = calloc((size_t)node->partitions, 1);
    if (!paused)
        return CAIRN_ERR_NOMEM;
    unsigned long n = 0;
    while (!node->stopping) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(node->consumer, 100);
        if (m) {
            if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                    char why[512];
                    rd_kafka_fatal_error(node->consumer, why, sizeof(why));
                    LOG_ERROR("fatal consumer error: %s", why);
                    rd_kafka_message_destroy(m);
                    free(paused);
                    release_all(node, 0);
                    return CAIRN_ERR_FENCED;
                }
                LOG_WARN("consumer: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
            } else {
                cairn_shard_t *shard = NULL;
                pthread_mutex_lock(&node->lock);
                if (m->partition >= 0 && m->partition < node->partitions)
                    shard = node->shards[m->partition];
                if (shard)
                    cairn_shard_enqueue(shard, m);
                pthread_mutex_unlock(&node->lock);
                if (!shard)
                    rd_kafka_message_destroy(m);
            }
        }
        if (++n % 64 == 0 || !m)
            flow_control(node, paused);
    }
    free(paused);
    LOG_INFO("stopping: committing in-flight work and leaving the group");
    /* close() runs the revoke callback: shards commit, then we leave. */
    rd_kafka_consumer_close(node->consumer);
    release_all(node, 1);
    /* A static member's close does not leave the group: leave explicitly so
     * the shards move now rather than after session.timeout.ms. */
    if (cairn_leave_group(cairn_conf_str(node->conf, "bootstrap.servers"),
                          node->group, node->node_id, 5000, errstr,
                          sizeof(errstr)))
        LOG_WARN("%s; the shards move after session.timeout.ms instead",
                 errstr);
    else
        LOG_INFO("left group %s", node->group);
    return CAIRN_ERR_OK;
}

void cairn_node_stop(cairn_node_t *node) { node->stopping = 1; }

void cairn_node_destroy(cairn_node_t *node) {
    if (!node)
        return;
    if (node->consumer)
        rd_kafka_destroy(node->consumer);
    cairn_defs_destroy(node->defs);
    cairn_metrics_destroy(node->metrics);
    for (size_t i = 0; i < node->ntask_topics; i++)
        free(node->task_topics[i]);
    free(node->task_topics);
    free(node->shards);
    free(node->parked);
    pthread_mutex_destroy(&node->lock);
    free(node);
}
