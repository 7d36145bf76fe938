/*
 * fuzz_seeds.c — writes the seed corpus for fuzz_decode into DIR.
 *
 * For every event type, two inputs in fuzz_decode's format (one header byte,
 * then the record): all fields set with the type's fingerprint, and only the
 * required ones (the schema's non-union fields) without one. Values are JSON
 * where the field's doc says "JSON:", so the seeds decode.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"

typedef enum { KIND_STR, KIND_LONG, KIND_INT } kind_t;

static const struct {
    const char *name;
    kind_t kind;
    size_t off;
    const char *doc;
} fields[] = {
#define FIELD_ROW(f, kind, doc)                                                \
    {#f, KIND_##kind, offsetof(cairn_event_t, f), doc},
    CAIRN_EVENT_FIELDS(FIELD_ROW)
#undef FIELD_ROW
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Sets the type's fields, found in its schema; all = 0 skips unions. */
static int fill(cairn_event_t *ev, cairn_event_type_t t, int all) {
    json_t *schema = json_loads(cairn_codec_schema_json(t), 0, NULL), *f;
    size_t k;
    int rc = -1;

    memset(ev, 0, sizeof(*ev));
    ev->type = t;
    json_array_foreach(json_object_get(schema, "fields"), k, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        size_t i = 0;
        char *at;
        if (!all && json_is_array(json_object_get(f, "type")))
            continue;
        while (i < NFIELDS && name && strcmp(fields[i].name, name))
            i++;
        if (i == NFIELDS)
            goto out;
        at = (char *)ev + fields[i].off;
        switch (fields[i].kind) {
        case KIND_STR:
            if (cairn_event_set((char **)at,
                                !strncmp(fields[i].doc, "JSON:", 5)
                                    ? "{\"k\":[1,\"\xc3\xa9\",null]}"
                                    : fields[i].name))
                goto out;
            break;
        case KIND_LONG:
            *(int64_t *)at = 1700000000000;
            break;
        case KIND_INT:
            *(int32_t *)at = 3;
            break;
        }
    }
    rc = schema ? 0 : -1;
out:
    json_decref(schema);
    return rc;
}

int main(int argc, char **argv) {
    char errstr[256] = "out of memory", path[4096];
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    for (int t = 1; t < CAIRN_EV__COUNT; t++) {
        for (int all = 0; all < 2; all++) {
            cairn_event_t ev;
            void *buf = NULL;
            size_t len;
            uint8_t head = (uint8_t)(t | (all ? 1 << 5 : 0));
            FILE *f;
            int ok;

            if (fill(&ev, (cairn_event_type_t)t, all) ||
                cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr))) {
                fprintf(stderr, "fuzz_seeds: %s: %s\n",
                        cairn_event_type_name((cairn_event_type_t)t), errstr);
                cairn_event_clear(&ev);
                goto out;
            }
            snprintf(path, sizeof(path), "%s/%s-%s", argv[1],
                     cairn_event_type_name((cairn_event_type_t)t),
                     all ? "full" : "required");
            ok = (f = fopen(path, "wb")) && fwrite(&head, 1, 1, f) == 1 &&
                 fwrite(buf, 1, len, f) == len;
            if (f && fclose(f))
                ok = 0;
            free(buf);
            cairn_event_clear(&ev);
            if (!ok) {
                perror(path);
                goto out;
            }
        }
    }
    rc = 0;
out:
    return rc;
}
