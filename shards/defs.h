/*
 * defs.h — the definition registry of a cairnd node, fed by the compacted
 * definitions topic (key type@version, value the JSON definition).
 *
 * A background thread reads the topic from the beginning and keeps
 * following it. Shard threads run the engine under the read lock; a shard
 * that meets an unknown workflow type first waits (bounded) until the reader
 * has caught up with the topic's current end, so `cairn definitions put`
 * followed by `cairn start` never races.
 */
#ifndef CAIRN_DEFS_H
#define CAIRN_DEFS_H

#include "conf.h"
#include "engine.h"

typedef struct cairn_defs_s cairn_defs_t;

cairn_defs_t *cairn_defs_new(const cairn_conf_t *conf, char *errstr,
                             size_t errstr_size);
void cairn_defs_destroy(cairn_defs_t *defs);

/* Read lock around engine use; returns the registry. */
const cairn_registry_t *cairn_defs_rdlock(cairn_defs_t *defs);
void cairn_defs_unlock(cairn_defs_t *defs);

/*
 * Blocks up to timeout_ms until everything committed to the definitions
 * topic before this call has been loaded. Returns 0 if caught up.
 */
int cairn_defs_sync(cairn_defs_t *defs, int timeout_ms);

/* Whether type (version 0 = any) is known, without waiting. */
int cairn_defs_has(cairn_defs_t *defs, const char *type, int version);

#endif
