/*
 * event.c — names, copying and freeing of cairn_event_t.
 */
#include "event.h"

#include <stdlib.h>
#include <string.h>

static const char *names[CAIRN_EV__COUNT] = {
    [CAIRN_EV_NONE] = NULL,
#define CAIRN_EV_NAME(sym, name) [CAIRN_EV_##sym] = name,
    CAIRN_EVENT_TYPES(CAIRN_EV_NAME)
#undef CAIRN_EV_NAME
};

const char *cairn_event_type_name(cairn_event_type_t type) {
    if ((unsigned)type >= CAIRN_EV__COUNT)
        return NULL;
    return names[type];
}

cairn_event_type_t cairn_event_type_from_name(const char *name) {
    if (!name)
        return CAIRN_EV_NONE;
    for (int t = 1; t < CAIRN_EV__COUNT; t++)
        if (!strcmp(names[t], name))
            return (cairn_event_type_t)t;
    return CAIRN_EV_NONE;
}

void cairn_event_clear(cairn_event_t *ev) {
    if (!ev)
        return;
#define F_STR(f) free(ev->f);
#define F_LONG(f)
#define F_INT(f)
#define F(f, kind, doc) F_##kind(f)
    CAIRN_EVENT_FIELDS(F)
#undef F_STR
    memset(ev, 0, sizeof(*ev));
}

int cairn_event_set(char **field, const char *s) {
    char *copy = NULL;
    if (s && !(copy = strdup(s)))
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

int cairn_event_copy(cairn_event_t *dst, const cairn_event_t *src) {
    *dst = *src;
    /* First detach every string from src, so a failure can clear dst. */
#define F_STR(f) dst->f = NULL;
    CAIRN_EVENT_FIELDS(F)
#undef F_STR
#define F_STR(f)                                                               \
    if (src->f && !(dst->f = strdup(src->f)))                                  \
        goto err;
    CAIRN_EVENT_FIELDS(F)
#undef F_STR
    return 0;
err:
    cairn_event_clear(dst);
    return -1;
}
