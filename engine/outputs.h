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
/* Moves every output of src to the end of dst; src ends empty. 0 or -1. */
int cairn__outputs_move(cairn_outputs_t *dst, cairn_outputs_t *src);

#endif
