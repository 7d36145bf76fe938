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

typedef struct cairn_shard_s cairn_shard_t;
typedef struct cairn_defs_s cairn_defs_t;

typedef struct {
    atomic_llong events;        /* input events applied */
    atomic_llong batches;       /* transactions committed */
    atomic_llong aborts;        /* transactions aborted */
    atomic_llong dlq;           /* records sent to the DLQ */
    atomic_llong restored;      /* workflows restored */
    atomic_llong restore_ms;    /* total restore time */
    atomic_llong commit_us;     /* total commit latency */
    atomic_llong redis_errors;  /* failed index flushes */
    atomic_llong owned;         /* shards owned now */
} cairn_node_stats_t;

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
    cairn_node_stats_t stats;
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
