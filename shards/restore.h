/*
 * restore.h — rebuilds a shard's live workflows: the compacted state topic,
 * then the input events committed since the last snapshot.
 *
 * Called by a new owner after init_transactions() fenced the previous one,
 * so no transaction of the old owner is still open. A shard writes its
 * workflows' snapshots lazily (state.snapshot.interval.ms): each commit
 * records, in its consumer offset's metadata, the input offset up to which
 * the state topic is complete (the checkpoint). A restore reads the state
 * partition under read_committed from the beginning to the high watermark
 * taken at the start, then reads the events partition from the checkpoint
 * to the committed offset and gives each record to the caller, which runs
 * it through the engine again without producing anything (the engine is
 * deterministic: the same events on the same states give the same states).
 * Cost grows with live workflows (compaction keeps one record per
 * workflow) plus at most one snapshot interval of input events.
 */
#ifndef CAIRN_RESTORE_H
#define CAIRN_RESTORE_H

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "err.h"
#include "wfmap.h"

/* A non-negative decimal offset spelled by n bytes (header value, offset
 * metadata), or -1 if they are anything else. */
int64_t cairn_offset_parse(const void *bytes, size_t n);

typedef struct cairn_reader_s cairn_reader_t;

/* A read_committed reader for one shard's restores (no group offsets). */
cairn_reader_t *cairn_reader_new(const cairn_conf_t *conf, int partition,
                                 char *errstr, size_t errstr_size);
void cairn_reader_destroy(cairn_reader_t *r);
/* Reads below give up (CAIRN_ERR_TIMEOUT) as soon as cancel(arg) is true. */
void cairn_reader_set_cancel(cairn_reader_t *r, int (*cancel)(void *arg),
                             void *arg);

/*
 * Loads the state partition's records into map, running workflows, and
 * closed, closed ones at rest (cairn_wfmap_new_frozen(); an id is in one of
 * the two: a later record replaces an earlier one, tombstones remove) and,
 * into the borrowed map asof, each
 * workflow's 1 + the offset of its last record's cairn.asof header (state
 * records and tombstones; absent on records written before snapshots were
 * lazy). *records counts the records read. A record
 * that does not decode is logged and skipped (it cannot be repaired by
 * stopping). Blocks until deadline_ms (cairn_mono_ms()).
 */
cairn_err_t cairn_restore_state(cairn_reader_t *r, const char *topic,
                                int partition, cairn_wfmap_t *map,
                                cairn_wfmap_t *closed, cairn_wfmap_t *asof,
                                long *records,
                                int64_t deadline_ms, char *errstr,
                                size_t errstr_size);

/*
 * Calls fn for every committed record of topic[partition] with an offset in
 * [from, to), in order. *records counts them. Blocks until deadline_ms.
 */
cairn_err_t cairn_restore_range(cairn_reader_t *r, const char *topic,
                                int partition, int64_t from, int64_t to,
                                void (*fn)(rd_kafka_message_t *m, void *arg),
                                void *arg, long *records, int64_t deadline_ms,
                                char *errstr, size_t errstr_size);

#endif
