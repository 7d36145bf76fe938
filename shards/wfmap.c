/*
 * wfmap.c — open-addressing hash map (FNV-1a), load factor <= 0.7.
 */
#include "wfmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *id; /* NULL = empty slot */
    uint64_t hash;
    void *wf; /* a cairn_wf_t, a cairn_frozen_t, or borrowed */
} slot_t;

enum { OWNS_WF, OWNS_FROZEN, BORROWED };

struct cairn_wfmap_s {
    slot_t *slots;
    size_t cap, count; /* cap is a power of two */
    int kind;          /* what a removed value needs: OWNS_WF, ... */
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

cairn_wfmap_t *cairn_wfmap_new(void) {
    cairn_wfmap_t *map = calloc(1, sizeof(*map));
    if (!map)
        return NULL;
    map->cap = 64;
    if (!(map->slots = calloc(map->cap, sizeof(slot_t)))) {
        free(map);
        return NULL;
    }
    return map;
}

static cairn_wfmap_t *new_kind(int kind) {
    cairn_wfmap_t *map = cairn_wfmap_new();
    if (map)
        map->kind = kind;
    return map;
}

cairn_wfmap_t *cairn_wfmap_new_borrowed(void) { return new_kind(BORROWED); }

cairn_wfmap_t *cairn_wfmap_new_frozen(void) { return new_kind(OWNS_FROZEN); }

static void release(cairn_wfmap_t *map, void *v) {
    if (map->kind == OWNS_WF)
        cairn_wf_destroy(v);
    else if (map->kind == OWNS_FROZEN)
        free(v);
}

cairn_frozen_t *cairn_frozen_new(const char *data, size_t len,
                                 int64_t updated_ms) {
    cairn_frozen_t *f = malloc(sizeof(*f) + len + 1);
    if (!f)
        return NULL;
    f->updated_ms = updated_ms;
    f->len = len;
    memcpy(f->data, data, len);
    f->data[len] = '\0';
    return f;
}

void cairn_wfmap_clear(cairn_wfmap_t *map) {
    for (size_t i = 0; i < map->cap; i++) {
        if (map->slots[i].id) {
            free(map->slots[i].id);
            release(map, map->slots[i].wf);
            map->slots[i].id = NULL;
        }
    }
    map->count = 0;
}

void cairn_wfmap_destroy(cairn_wfmap_t *map) {
    if (!map)
        return;
    cairn_wfmap_clear(map);
    free(map->slots);
    free(map);
}

static size_t find_slot(const cairn_wfmap_t *map, const char *id,
                        uint64_t hash) {
    size_t mask = map->cap - 1, i = hash & mask;
    while (map->slots[i].id &&
           (map->slots[i].hash != hash || strcmp(map->slots[i].id, id)))
        i = (i + 1) & mask;
    return i;
}

static void *get(const cairn_wfmap_t *map, const char *id) {
    size_t i = find_slot(map, id, fnv1a(id));
    return map->slots[i].id ? map->slots[i].wf : NULL;
}

cairn_wf_t *cairn_wfmap_get(const cairn_wfmap_t *map, const char *id) {
    return get(map, id);
}

cairn_frozen_t *cairn_wfmap_get_frozen(const cairn_wfmap_t *map,
                                       const char *id) {
    return get(map, id);
}

static int grow(cairn_wfmap_t *map) {
    size_t ncap = map->cap * 2;
    slot_t *ns = calloc(ncap, sizeof(slot_t));
    if (!ns)
        return -1;
    for (size_t i = 0; i < map->cap; i++) {
        slot_t *s = &map->slots[i];
        if (!s->id)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].id)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(map->slots);
    map->slots = ns;
    map->cap = ncap;
    return 0;
}

static int store(cairn_wfmap_t *map, const char *id, void *wf,
                 int destroy_old) {
    uint64_t hash = fnv1a(id);
    size_t i = find_slot(map, id, hash);
    if (map->slots[i].id) {
        if (destroy_old && map->slots[i].wf != wf)
            release(map, map->slots[i].wf);
        map->slots[i].wf = wf;
        return 0;
    }
    if ((map->count + 1) * 10 > map->cap * 7) {
        if (grow(map))
            return -1;
        i = find_slot(map, id, hash);
    }
    if (!(map->slots[i].id = strdup(id)))
        return -1;
    map->slots[i].hash = hash;
    map->slots[i].wf = wf;
    map->count++;
    return 0;
}

int cairn_wfmap_put(cairn_wfmap_t *map, const char *id, cairn_wf_t *wf) {
    return store(map, id, wf, 1);
}

int cairn_wfmap_swap(cairn_wfmap_t *map, const char *id, cairn_wf_t *wf) {
    return store(map, id, wf, 0);
}

int cairn_wfmap_put_frozen(cairn_wfmap_t *map, const char *id,
                           cairn_frozen_t *f) {
    return store(map, id, f, 1);
}

void cairn_wfmap_del(cairn_wfmap_t *map, const char *id) {
    size_t mask = map->cap - 1, i = find_slot(map, id, fnv1a(id));
    if (!map->slots[i].id)
        return;
    free(map->slots[i].id);
    release(map, map->slots[i].wf);
    map->slots[i].id = NULL;
    map->count--;
    /* Backward-shift the following cluster so probes stay unbroken. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!map->slots[j].id)
            break;
        size_t home = map->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            map->slots[i] = map->slots[j];
            map->slots[j].id = NULL;
            i = j;
        }
    }
}

size_t cairn_wfmap_count(const cairn_wfmap_t *map) { return map->count; }

int cairn_wfmap_has(const cairn_wfmap_t *map, const char *id) {
    return map->slots[find_slot(map, id, fnv1a(id))].id != NULL;
}

static void *next(const cairn_wfmap_t *map, size_t *pos, const char **id) {
    while (*pos < map->cap) {
        slot_t *s = &map->slots[(*pos)++];
        if (s->id) {
            if (id)
                *id = s->id;
            return s->wf;
        }
    }
    return NULL;
}

cairn_wf_t *cairn_wfmap_next(const cairn_wfmap_t *map, size_t *pos,
                             const char **id) {
    return next(map, pos, id);
}

cairn_frozen_t *cairn_wfmap_next_frozen(const cairn_wfmap_t *map,
                                        size_t *pos, const char **id) {
    return next(map, pos, id);
}

const char *cairn_wfmap_next_id(const cairn_wfmap_t *map, size_t *pos) {
    while (*pos < map->cap) {
        slot_t *s = &map->slots[(*pos)++];
        if (s->id)
            return s->id;
    }
    return NULL;
}
