/*
 * wfmap.h — a shard's live workflows: workflow id -> cairn_wf_t*.
 *
 * Open addressing with linear probing and backward-shift deletion. The map
 * owns the workflows it holds (destroyed on remove/replace/destroy). Not
 * thread-safe: one shard thread owns its map. Iteration order is the slot
 * order — used only for I/O side tasks (timer re-registration), never for
 * anything that reaches the engine.
 */
#ifndef CAIRN_WFMAP_H
#define CAIRN_WFMAP_H

#include <stddef.h>

#include "engine.h"

typedef struct cairn_wfmap_s cairn_wfmap_t;

cairn_wfmap_t *cairn_wfmap_new(void);
/* A map that does not own its values (a set of ids, or an index). */
cairn_wfmap_t *cairn_wfmap_new_borrowed(void);
/* Removes every entry (destroying owned values); keeps the table. */
void cairn_wfmap_clear(cairn_wfmap_t *map);
/* 1 if id is a key (its value may be NULL). */
int cairn_wfmap_has(const cairn_wfmap_t *map, const char *id);
void cairn_wfmap_destroy(cairn_wfmap_t *map);
cairn_wf_t *cairn_wfmap_get(const cairn_wfmap_t *map, const char *id);
/* Stores wf under id, destroying a different previous value. 0 or -1 (oom). */
int cairn_wfmap_put(cairn_wfmap_t *map, const char *id, cairn_wf_t *wf);
/*
 * Stores wf under id without destroying a previous value, which the caller
 * has already released or still owns (a shard stores a workflow that
 * cairn_engine_step() created).
 */
int cairn_wfmap_swap(cairn_wfmap_t *map, const char *id, cairn_wf_t *wf);
/* Removes and destroys. */
void cairn_wfmap_del(cairn_wfmap_t *map, const char *id);
size_t cairn_wfmap_count(const cairn_wfmap_t *map);
/* Iteration: *pos starts at 0; returns NULL at the end. */
cairn_wf_t *cairn_wfmap_next(const cairn_wfmap_t *map, size_t *pos,
                             const char **id);
/* The same over keys alone (for sets, whose values are all NULL). */
const char *cairn_wfmap_next_id(const cairn_wfmap_t *map, size_t *pos);

#endif
