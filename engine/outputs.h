/*
 * outputs.h — internal helpers for cairn_outputs_t (engine/ only).
 */
#ifndef CAIRN_ENGINE_OUTPUTS_H
#define CAIRN_ENGINE_OUTPUTS_H

#include "engine.h"

/* Makes room for extra more outputs. 0 or -1 on out-of-memory. */
int cairn__outputs_reserve(cairn_outputs_t *out, size_t extra);
/*
 * Appends a zeroed event of type for dest and returns it (owned by out), or
 * NULL on out-of-memory.
 */
cairn_event_t *cairn__outputs_add(cairn_outputs_t *out, cairn_out_dest_t dest,
                                  cairn_event_type_t type);
/* Drops the outputs from index n on (their events cleared). */
void cairn__outputs_truncate(cairn_outputs_t *out, size_t n);

#endif
