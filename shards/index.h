/*
 * index.h — a shard's writes to the Redis indexes, after its transaction
 * committed: timers (cairn:timers:{p}), visibility (cairn:wf:<id> and the
 * status sets) and history offsets (cairn:hist:<id>).
 *
 * Redis holds nothing that Kafka does not: every write here is idempotent
 * and can be redone from the shard's state (cairn_index_repair_*). Commands
 * are pipelined: flush sends them and reads the replies in one round trip,
 * send leaves the replies to be read by the next call. When Redis is
 * unreachable the queued commands are dropped, the index is marked dirty,
 * and the shard repairs it (re-registers every pending timer and workflow)
 * once Redis answers again. The shard never stops because of Redis.
 *
 * Key layout is shared with cairn-timers and the CLI: see docs/PROTOCOL.md.
 */
#ifndef CAIRN_INDEX_H
#define CAIRN_INDEX_H

#include <stdint.h>

#include "conf.h"
#include "engine.h"

typedef struct cairn_index_s cairn_index_t;

/* Never NULL unless out of memory; connects lazily. */
cairn_index_t *cairn_index_new(const cairn_conf_t *conf, int partition);
void cairn_index_destroy(cairn_index_t *ix);

void cairn_index_timer_add(cairn_index_t *ix, const char *wf_id,
                           const char *timer_id, int64_t generation,
                           int64_t fire_at_ms);
void cairn_index_timer_del(cairn_index_t *ix, const char *wf_id,
                           const char *timer_id, int64_t generation);
/*
 * Visibility record; result/error may be NULL. prev_status is the status
 * before this batch, 0 for a workflow new to the index (or one to write
 * whole again, as a repair does): the status and type sets are only touched
 * when it differs. prev_run is the run before this batch: the fields a run
 * keeps (type, version, started_ms, partition) are written only for a
 * record new to the index or a new run; status, state, seq and updated_ms
 * every time. A record that lost fields in Redis meanwhile is written whole
 * again by the next repair: when Redis is back after a failed write, and
 * every timers.repair.interval.ms for running workflows.
 */
void cairn_index_workflow(cairn_index_t *ix, const cairn_wf_t *wf,
                          cairn_wf_status_t prev_status, int64_t prev_run,
                          const char *result, const char *error);
/* History offsets of one workflow: n (seq, offset) pairs, one HSET. */
void cairn_index_history(cairn_index_t *ix, const char *wf_id, size_t n,
                         const int64_t *seqs, const int64_t *offsets);

/*
 * Sends what was queued. Returns 0, or -1 if Redis is unreachable (the index
 * is then dirty and cairn_index_dirty() returns 1 until a repair; a flush
 * after reconnecting returns 0 although the index is still dirty).
 */
int cairn_index_flush(cairn_index_t *ix);
/*
 * Sends what was queued without waiting for Redis to answer: first reads
 * the replies of the previous send, then writes the new commands, whose
 * replies the next send or flush reads. Redis applies them in order either
 * way; the shard's batch loop uses this so that Redis works while the next
 * batch is applied. Returns like cairn_index_flush (a connection that
 * failed after the last send is noticed here or at the next call).
 */
int cairn_index_send(cairn_index_t *ix);
/*
 * Reads the replies of the last send, if any: -1 if the connection failed
 * since (the index is then dirty). An idle shard calls it so that a Redis
 * that lost the last batch's writes is noticed, and repaired, without
 * waiting for the next batch.
 */
int cairn_index_poll(cairn_index_t *ix);
int cairn_index_dirty(const cairn_index_t *ix);
/* Marks the index clean after the caller queued a full repair and flushed. */
void cairn_index_set_clean(cairn_index_t *ix);
/* 1 if a reconnect attempt is due (rate-limited to one a second). */
int cairn_index_should_retry(cairn_index_t *ix);

/* The member string of a timer in cairn:timers:{p}: "gen|timer_id|wf_id". */
int cairn_index_timer_member(char *buf, size_t size, const char *wf_id,
                             const char *timer_id, int64_t generation);

#endif
