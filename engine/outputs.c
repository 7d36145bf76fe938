/*
 * outputs.c — the list of events a step produces.
 *
 * The list owns each event's strings (cairn_event_clear() on reset/free).
 * A step appends to the caller's list and, when it fails, truncates it
 * back to where it began (cairn__outputs_truncate()).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "outputs.h"

void cairn_outputs_init(cairn_outputs_t *out) { memset(out, 0, sizeof(*out)); }

void cairn_outputs_reset(cairn_outputs_t *out) {
    for (size_t i = 0; i < out->n; i++)
        cairn_event_clear(&out->v[i].ev);
    out->n = 0;
    out->state_changed = 0;
}

void cairn_outputs_free(cairn_outputs_t *out) {
    if (!out)
        return;
    cairn_outputs_reset(out);
    free(out->v);
    memset(out, 0, sizeof(*out));
}

int cairn__outputs_reserve(cairn_outputs_t *out, size_t extra) {
    if (out->n + extra <= out->cap)
        return 0;
    size_t cap = out->cap ? out->cap : 8;
    while (cap < out->n + extra)
        cap *= 2;
    cairn_output_t *v = realloc(out->v, cap * sizeof(*v));
    if (!v)
        return -1;
    out->v = v;
    out->cap = cap;
    return 0;
}

cairn_event_t *cairn__outputs_add(cairn_outputs_t *out, cairn_out_dest_t dest,
                                  cairn_event_type_t type) {
    if (cairn__outputs_reserve(out, 1))
        return NULL;
    cairn_output_t *o = &out->v[out->n++];
    memset(o, 0, sizeof(*o));
    o->dest = dest;
    o->ev.type = type;
    return &o->ev;
}

void cairn__outputs_truncate(cairn_outputs_t *out, size_t n) {
    while (out->n > n)
        cairn_event_clear(&out->v[--out->n].ev);
}
