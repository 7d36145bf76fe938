/*
 * wfmap.c — open-addressing hash map (FNV-1a), load factor <= 0.7, grown
 * incrementally.
 *
 * Growing a table in one go stalls its shard: at 366,000 workflows the new
 * table is 12 MB of fresh pages and every entry a cache miss, 63-80 ms in
 * one batch (docs/BENCHMARKS.md, "Fifth session"), and it doubles with the
 * map. So a full table hands over to one twice its size and its entries
 * move a few slots at a time: every store moves the entries of MIGRATE_STEP
 * old slots, in slot order, each removed from the old table by
 * backward-shift deletion so that the rest stay reachable. Until the old
 * table is empty a key lives in exactly one of the two; lookups try the new
 * table, then the old. The new table has room for 0.7 x its old size more
 * keys before it is full, and the move is done after old size / 64 stores.
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
    size_t cap, count; /* cap is a power of two; count over both tables */
    slot_t *old;       /* the table being emptied into slots, or NULL */
    size_t ocap, mig;  /* its size; its slots below mig are empty */
    int kind;          /* what a removed value needs: OWNS_WF, ... */
};

enum { MIGRATE_STEP = 64 };

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

static void clear_table(cairn_wfmap_t *map, slot_t *t, size_t cap) {
    for (size_t i = 0; i < cap; i++) {
        if (t[i].id) {
            free(t[i].id);
            release(map, t[i].wf);
            t[i].id = NULL;
        }
    }
}

void cairn_wfmap_clear(cairn_wfmap_t *map) {
    clear_table(map, map->slots, map->cap);
    if (map->old) {
        clear_table(map, map->old, map->ocap);
        free(map->old);
        map->old = NULL;
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

/* The slot of id in table t, or the empty slot where its probe ends. */
static size_t find_in(const slot_t *t, size_t cap, const char *id,
                      uint64_t hash) {
    size_t mask = cap - 1, i = hash & mask;
    while (t[i].id && (t[i].hash != hash || strcmp(t[i].id, id)))
        i = (i + 1) & mask;
    return i;
}

/* id's slot in either table, or NULL; *table and *cap (if asked) say
 * which table holds it. */
static slot_t *locate_in(const cairn_wfmap_t *map, const char *id,
                         uint64_t hash, slot_t **table, size_t *cap) {
    slot_t *t = map->slots;
    size_t n = map->cap, i = find_in(t, n, id, hash);
    if (!t[i].id && map->old) {
        t = map->old;
        n = map->ocap;
        i = find_in(t, n, id, hash);
    }
    if (!t[i].id)
        return NULL;
    if (table) {
        *table = t;
        *cap = n;
    }
    return &t[i];
}

static slot_t *locate(const cairn_wfmap_t *map, const char *id,
                      uint64_t hash) {
    return locate_in(map, id, hash, NULL, NULL);
}

static void *get(const cairn_wfmap_t *map, const char *id) {
    slot_t *s = locate(map, id, fnv1a(id));
    return s ? s->wf : NULL;
}

cairn_wf_t *cairn_wfmap_get(const cairn_wfmap_t *map, const char *id) {
    return get(map, id);
}

cairn_frozen_t *cairn_wfmap_get_frozen(const cairn_wfmap_t *map,
                                       const char *id) {
    return get(map, id);
}

/*
 * Empties slot i of table t by backward shift: each later entry of its
 * cluster that may move closer to its home does, so that no probe crosses
 * an empty slot before reaching its key. The slot's key and value are the
 * caller's.
 */
static void shift_out(slot_t *t, size_t cap, size_t i) {
    size_t mask = cap - 1, j = i;
    t[i].id = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (!t[j].id)
            break;
        size_t home = t[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t[i] = t[j];
            t[j].id = NULL;
            i = j;
        }
    }
}

/* Moves the entries of up to `steps` old slots (all: SIZE_MAX) into the
 * new table, and frees the old one once it is empty. */
static void migrate(cairn_wfmap_t *map, size_t steps) {
    while (map->old && steps--) {
        if (map->mig == map->ocap) {
            free(map->old);
            map->old = NULL;
            break;
        }
        slot_t *o = &map->old[map->mig];
        while (o->id) { /* the shift may bring in the next of its cluster */
            size_t j = find_in(map->slots, map->cap, o->id, o->hash);
            map->slots[j] = *o;
            shift_out(map->old, map->ocap, map->mig);
        }
        map->mig++;
    }
}

/* Starts moving into a table twice the size (finishing a move under way
 * first: it cannot be, as a move ends long before the new table fills). */
static int grow(cairn_wfmap_t *map) {
    migrate(map, SIZE_MAX);
    slot_t *ns = calloc(map->cap * 2, sizeof(slot_t));
    if (!ns)
        return -1;
    map->old = map->slots;
    map->ocap = map->cap;
    map->mig = 0;
    map->slots = ns;
    map->cap *= 2;
    return 0;
}

static int store(cairn_wfmap_t *map, const char *id, void *wf,
                 int destroy_old) {
    uint64_t hash = fnv1a(id);
    migrate(map, MIGRATE_STEP);
    slot_t *s = locate(map, id, hash);
    if (s) {
        if (destroy_old && s->wf != wf)
            release(map, s->wf);
        s->wf = wf;
        return 0;
    }
    if ((map->count + 1) * 10 > map->cap * 7 && grow(map))
        return -1;
    char *copy = strdup(id);
    if (!copy)
        return -1;
    s = &map->slots[find_in(map->slots, map->cap, id, hash)];
    s->id = copy;
    s->hash = hash;
    s->wf = wf;
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
    slot_t *t;
    size_t cap;
    slot_t *s = locate_in(map, id, fnv1a(id), &t, &cap);
    if (!s)
        return;
    free(s->id);
    release(map, s->wf);
    shift_out(t, cap, (size_t)(s - t));
    map->count--;
}

size_t cairn_wfmap_count(const cairn_wfmap_t *map) { return map->count; }

int cairn_wfmap_has(const cairn_wfmap_t *map, const char *id) {
    return locate(map, id, fnv1a(id)) != NULL;
}

/* Positions run over the new table, then the old one: an entry moves only
 * from the old to the new, so a walk without stores in between sees every
 * entry once, and one with stores between its steps may miss or repeat
 * some (as a walk across any store always could). */
static slot_t *next_slot(const cairn_wfmap_t *map, size_t *pos) {
    size_t end = map->cap + (map->old ? map->ocap : 0);
    while (*pos < end) {
        size_t p = (*pos)++;
        slot_t *s = p < map->cap ? &map->slots[p] : &map->old[p - map->cap];
        if (s->id)
            return s;
    }
    return NULL;
}

static void *next(const cairn_wfmap_t *map, size_t *pos, const char **id) {
    slot_t *s = next_slot(map, pos);
    if (s && id)
        *id = s->id;
    return s ? s->wf : NULL;
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
    slot_t *s = next_slot(map, pos);
    return s ? s->id : NULL;
}
