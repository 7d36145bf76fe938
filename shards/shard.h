/*
 * shard.h — one owned partition of the events topic.
 *
 * A shard has its own thread, its own transactional producer
 * (transactional.id = <prefix>shard-<partition>, so the next owner's
 * init_transactions() fences this one and aborts its open transaction), its
 * live workflows, and a queue of records handed over by the node's consumer.
 * Each batch of records is applied and committed — history, tasks, state,
 * DLQ records and the input offset — in one Kafka transaction. Only after the
 * commit are the Redis indexes updated.
 */
#ifndef CAIRN_SHARD_H
#define CAIRN_SHARD_H

#include <librdkafka/rdkafka.h>

#include "node.h"

/* Creates the shard and starts its thread (which fences and restores). */
cairn_shard_t *cairn_shard_start(cairn_node_t *node, int32_t partition,
                                 char *errstr, size_t errstr_size);
/* Hands a record to the shard (ownership passes). */
void cairn_shard_enqueue(cairn_shard_t *shard, rd_kafka_message_t *msg);
/* Records queued and not yet applied (for pausing the partition). */
size_t cairn_shard_backlog(cairn_shard_t *shard);
/*
 * Stops the thread and destroys the shard. commit=1: the batch in progress
 * is committed first (revoke, SIGTERM); commit=0: it is aborted (partition
 * lost, a newer owner exists).
 */
void cairn_shard_stop(cairn_shard_t *shard, int commit);
/*
 * Revocation without loss: stops the thread after committing the batch in
 * progress but keeps the workflows, so that if the very next assignment
 * gives the partition back, cairn_shard_resume() can skip the restore.
 */
void cairn_shard_park(cairn_shard_t *shard);
/* Starts a parked shard's thread again (it fences before anything else). */
cairn_err_t cairn_shard_resume(cairn_shard_t *shard, char *errstr,
                               size_t errstr_size);
/* Frees a parked (or never started) shard. */
void cairn_shard_destroy(cairn_shard_t *shard);

#endif
