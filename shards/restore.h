/*
 * restore.h — rebuilds a shard's live workflows from the compacted state
 * topic.
 *
 * Called by a new owner after init_transactions() fenced the previous one,
 * so no transaction of the old owner is still open: the state partition is
 * read under read_committed from the beginning up to the high watermark taken
 * at the start. Cost grows with live workflows (compaction keeps one record
 * per workflow), not with history length.
 */
#ifndef CAIRN_RESTORE_H
#define CAIRN_RESTORE_H

#include "conf.h"
#include "err.h"
#include "wfmap.h"

/*
 * Loads partition's records into map (existing entries are replaced).
 * *records counts the records read. A record that does not decode is logged
 * and skipped (it cannot be repaired by stopping). Blocks up to timeout_ms.
 */
cairn_err_t cairn_restore_shard(const cairn_conf_t *conf, const char *topic,
                                int partition, cairn_wfmap_t *map,
                                long *records, int timeout_ms, char *errstr,
                                size_t errstr_size);

#endif
