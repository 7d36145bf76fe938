/*
 * node.h — one cairnd process: the shard consumer, its shards, and what they
 * share (configuration, the definition registry, topic names).
 *
 * Threads: the main thread polls the group consumer, serves rebalances and
 * hands records to shard threads; each owned partition has one shard thread
 * (shard.c) with its own transactional producer; a definitions thread
 * (defs.c) follows the compacted definitions topic into the registry.
 */
#ifndef CAIRN_NODE_H
#define CAIRN_NODE_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "conf.h"
#include "engine.h"
#include "metrics.h"

typedef struct cairn_shard_s cairn_shard_t;
typedef struct cairn_defs_s cairn_defs_t;

/* Where a shard thread's time goes (cairn_shard_seconds_total{phase}). */
enum {
    CAIRN_PH_WAIT,     /* waiting for records, and to fill a batch */
    CAIRN_PH_APPLY,    /* decode, engine steps, producing outputs */
    CAIRN_PH_SNAPSHOT, /* state records and eviction tombstones */
    CAIRN_PH_COMMIT,   /* offsets to the transaction and its commit */
    CAIRN_PH_INDEX,    /* the Redis index after the commit, and repairs */
    CAIRN_PHASES
};

/* The node's metrics (served at metrics.port; docs/ARCHITECTURE.md lists
 * them under "Metrics and logs"). */
typedef struct {
    cairn_metric_t *events;         /* input events applied */
    cairn_metric_t *batches;        /* transactions committed */
    cairn_metric_t *aborts;         /* transactions aborted */
    cairn_metric_t *dlq;            /* records sent to the DLQ */
    cairn_metric_t *restored;       /* workflows restored */
    cairn_metric_t *restore_s;      /* restore duration per shard */
    cairn_metric_t *commit_s;       /* transaction commit latency */
    cairn_metric_t *batch_size;     /* input events per transaction */
    cairn_metric_t *step_s;         /* record timestamp -> its commit */
    cairn_metric_t *redis_errors;   /* failed index flushes */
    cairn_metric_t *act_completed, *act_failed, *act_timed_out;
    cairn_metric_t *act_retries;    /* ActivityScheduled with attempt > 1 */
    cairn_metric_t *signals;        /* SignalReceived */
    cairn_metric_t *timers_started; /* TimerStarted */
    cairn_metric_t *timers_fired;   /* TimerFired accepted */
    cairn_metric_t *wf_started, *wf_completed, *wf_failed;
    cairn_metric_t *continued;      /* WorkflowContinuedAsNew */
    cairn_metric_t *evicted;        /* closed workflows evicted */
    cairn_metric_t *snapshots;      /* WorkflowState records written */
    cairn_metric_t *divergences;    /* sampled steps that re-ran differently */
    cairn_metric_t *phase[CAIRN_PHASES]; /* shard thread seconds by phase */
    atomic_long owned;              /* shards owned now */
    atomic_long live;               /* workflows in memory now */
    atomic_long at_rest;            /* of which closed, at rest */
} cairn_node_metrics_t;

typedef struct cairn_node_s {
    cairn_conf_t *conf;
    const char *node_id;
    char group[300];
    char t_events[256], t_history[256], t_state[256], t_dlq[256],
        t_definitions[256];
    int partitions;
    cairn_limits_t limits;

    rd_kafka_t *consumer;
    cairn_defs_t *defs; /* registry, guarded inside defs.c */

    pthread_mutex_t lock; /* guards shards[] and task topic cache */
    cairn_shard_t **shards; /* indexed by partition, NULL if not owned */
    cairn_shard_t **parked; /* revoked, state kept until the next assign */
    char **task_topics;
    size_t ntask_topics;

    atomic_int stopping;
    cairn_metrics_t *metrics;
    cairn_node_metrics_t m;
} cairn_node_t;

/* Creates the node's consumer and helpers; does not join the group yet. */
cairn_node_t *cairn_node_new(cairn_conf_t *conf, char *errstr,
                             size_t errstr_size);
/* Polls until cairn_node_stop(); then commits, leaves and returns. */
cairn_err_t cairn_node_run(cairn_node_t *node);
void cairn_node_stop(cairn_node_t *node); /* async-signal-safe */
void cairn_node_destroy(cairn_node_t *node);

/* Makes sure the topic tasks.<queue> exists (cached). */
cairn_err_t cairn__node_ensure_task_topic(cairn_node_t *node,
                                          const char *queue, char *topic,
                                          size_t topic_size, char *errstr,
                                          size_t errstr_size);

#endif
