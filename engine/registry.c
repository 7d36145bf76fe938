/*
 * registry.c — the set of known definitions, sorted by (type, version).
 *
 * A sorted array: lookups are a binary search, iteration order is the sort
 * order (deterministic). Versions are immutable: re-putting an equal body is
 * a no-op, a different body is refused. On the no-op path the registry still
 * takes ownership of the duplicate and keeps it alive in `spare` until
 * destroy, so a caller may keep using the pointer it passed (defs.c logs it);
 * lookups always return the first one registered.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cairn_registry_s {
    cairn_def_t **v;
    size_t n, cap;
    cairn_def_t **spare;
    size_t nspare, capspare;
};

cairn_registry_t *cairn_registry_new(void) {
    return calloc(1, sizeof(cairn_registry_t));
}

void cairn_registry_destroy(cairn_registry_t *reg) {
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        cairn_def_destroy(reg->v[i]);
    for (size_t i = 0; i < reg->nspare; i++)
        cairn_def_destroy(reg->spare[i]);
    free(reg->v);
    free(reg->spare);
    free(reg);
}

static int cmp(const cairn_def_t *def, const char *type, int version) {
    int c = strcmp(def->type, type);
    if (c)
        return c;
    return (def->version > version) - (def->version < version);
}

/* Index of the first element >= (type, version). */
static size_t lower_bound(const cairn_registry_t *reg, const char *type,
                          int version) {
    size_t lo = 0, hi = reg->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(reg->v[mid], type, version) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int grow(cairn_def_t ***v, size_t n, size_t *cap) {
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    cairn_def_t **nv = realloc(*v, ncap * sizeof(**v));
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

cairn_err_t cairn_registry_put(cairn_registry_t *reg, cairn_def_t *def,
                               char *errstr, size_t errstr_size) {
    if (!reg || !def)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "registry_put: NULL argument");
    size_t i = lower_bound(reg, def->type, def->version);
    if (i < reg->n && !cmp(reg->v[i], def->type, def->version)) {
        if (strcmp(reg->v[i]->canonical, def->canonical))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DEFINITION,
                                 "%s@%d is already registered with a "
                                 "different body (versions are immutable; "
                                 "register a new version)",
                                 def->type, def->version);
        if (grow(&reg->spare, reg->nspare, &reg->capspare))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                                 "out of memory");
        reg->spare[reg->nspare++] = def;
        return CAIRN_ERR_OK;
    }
    if (grow(&reg->v, reg->n, &reg->cap))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                             "out of memory");
    memmove(reg->v + i + 1, reg->v + i, (reg->n - i) * sizeof(*reg->v));
    reg->v[i] = def;
    reg->n++;
    return CAIRN_ERR_OK;
}

const cairn_def_t *cairn_registry_get(const cairn_registry_t *reg,
                                      const char *type, int version) {
    if (!reg || !type)
        return NULL;
    if (version > 0) {
        size_t i = lower_bound(reg, type, version);
        return i < reg->n && !cmp(reg->v[i], type, version) ? reg->v[i] : NULL;
    }
    /* Latest: the element just before the first one past every version. */
    size_t i = lower_bound(reg, type, version < 0 ? version : 0);
    const cairn_def_t *best = NULL;
    for (; i < reg->n && !strcmp(reg->v[i]->type, type); i++)
        best = reg->v[i];
    return best;
}

size_t cairn_registry_count(const cairn_registry_t *reg) {
    return reg ? reg->n : 0;
}

const cairn_def_t *cairn_registry_at(const cairn_registry_t *reg, size_t i) {
    return reg && i < reg->n ? reg->v[i] : NULL;
}
