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
#include <stdint.h>

#include "engine.h"

typedef struct cairn_wfmap_s cairn_wfmap_t;

/*
 * A closed workflow at rest: the bytes of its encoded state (what
 * cairn_wf_encode() gave, and cairn_wf_decode() turns back into the same
 * workflow) and the one fact a shard reads without decoding it. About a
 * tenth of the memory of the decoded workflow (docs/ARCHITECTURE.md).
 */
typedef struct {
    int64_t updated_ms;
    size_t len;
    char data[]; /* NUL-terminated */
} cairn_frozen_t;

/* A copy of data[0..len). NULL on out-of-memory. Released with free(). */
cairn_frozen_t *cairn_frozen_new(const char *data, size_t len,
                                 int64_t updated_ms);

cairn_wfmap_t *cairn_wfmap_new(void);
/* A map that does not own its values (a set of ids, or an index). */
cairn_wfmap_t *cairn_wfmap_new_borrowed(void);
/*
 * A map that owns cairn_frozen_t values: use the _frozen accessors below
 * with it, and the others (has, del, count, clear, destroy) as with any map.
 */
cairn_wfmap_t *cairn_wfmap_new_frozen(void);
cairn_frozen_t *cairn_wfmap_get_frozen(const cairn_wfmap_t *map,
                                       const char *id);
/* Stores f under id, freeing a different previous value. 0 or -1 (oom). */
int cairn_wfmap_put_frozen(cairn_wfmap_t *map, const char *id,
                           cairn_frozen_t *f);
cairn_frozen_t *cairn_wfmap_next_frozen(const cairn_wfmap_t *map,
                                        size_t *pos, const char **id);
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
