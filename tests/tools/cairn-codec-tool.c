/*
 * cairn-codec-tool — the event codec on stdin/stdout, for tests in other
 * languages (tests/py/test_schemas.py).
 *
 *   cairn-codec-tool encode TYPE        JSON object of fields -> Avro binary
 *   cairn-codec-tool decode TYPE FP     Avro binary -> JSON object of fields
 *   cairn-codec-tool fingerprint TYPE   the cairn.fingerprint header value
 *
 * FP "-" means no fingerprint header. Decode prints the type's fields in
 * schema order, absent optional ones as null. Errors go to stderr as
 * "NAME: reason" with exit status 1; usage errors exit 2.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

typedef enum { KIND_STR, KIND_LONG, KIND_INT } kind_t;

static const struct {
    const char *name;
    kind_t kind;
    size_t off;
} fields[] = {
#define FIELD_ROW(f, kind, doc) {#f, KIND_##kind, offsetof(cairn_event_t, f)},
    CAIRN_EVENT_FIELDS(FIELD_ROW)
#undef FIELD_ROW
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int field_index(const char *name) {
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(fields[i].name, name))
            return (int)i;
    return -1;
}

/* All of stdin in a malloc'd buffer, or NULL. */
static char *read_all(size_t *lenp) {
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap), *bigger;
    while (buf && (n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap) {
            if (!(bigger = realloc(buf, cap * 2))) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    *lenp = len;
    return buf;
}

static int fail(cairn_err_t err, const char *errstr) {
    fprintf(stderr, "%s: %s\n", cairn_err2name(err), errstr);
    return 1;
}

static int encode(cairn_event_type_t type) {
    cairn_event_t ev = {.type = type};
    json_error_t jerr;
    json_t *doc = json_loadf(stdin, 0, &jerr), *value;
    const char *key;
    char errstr[512];
    void *buf = NULL;
    size_t len;
    cairn_err_t err;
    int rc = 1;

    if (!json_is_object(doc)) {
        fprintf(stderr, "INVALID_ARG: stdin is not a JSON object: %s\n",
                jerr.text);
        goto out;
    }
    json_object_foreach(doc, key, value) {
        int i = field_index(key);
        char *at;
        if (i < 0) {
            fprintf(stderr, "INVALID_ARG: no field \"%s\"\n", key);
            goto out;
        }
        at = (char *)&ev + fields[i].off;
        if (json_is_null(value))
            continue;
        if (fields[i].kind == KIND_STR && json_is_string(value)) {
            if (!(*(char **)at = strndup(json_string_value(value),
                                         json_string_length(value))))
                goto out;
        } else if (fields[i].kind == KIND_LONG && json_is_integer(value)) {
            *(int64_t *)at = json_integer_value(value);
        } else if (fields[i].kind == KIND_INT && json_is_integer(value) &&
                   json_integer_value(value) >= INT32_MIN &&
                   json_integer_value(value) <= INT32_MAX) {
            *(int32_t *)at = (int32_t)json_integer_value(value);
        } else {
            fprintf(stderr, "INVALID_ARG: field \"%s\" has the wrong type\n",
                    key);
            goto out;
        }
    }
    if ((err = cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr)))) {
        fail(err, errstr);
        goto out;
    }
    rc = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
out:
    free(buf);
    json_decref(doc);
    cairn_event_clear(&ev);
    return rc;
}

/* The event's fields in schema order as a JSON object; NULL on ENOMEM. */
static json_t *event_json(const cairn_event_t *ev) {
    json_t *schema = json_loads(cairn_codec_schema_json(ev->type), 0, NULL);
    json_t *out = json_object(), *f;
    size_t i;

    if (!schema || !out)
        goto err;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        int k = name ? field_index(name) : -1;
        int opt = json_is_array(json_object_get(f, "type"));
        const char *at = (const char *)ev + (k < 0 ? 0 : fields[k].off);
        json_t *v = NULL;
        if (k < 0)
            goto err;
        switch (fields[k].kind) {
        case KIND_STR:
            v = *(char *const *)at ? json_string(*(char *const *)at)
                                   : json_null();
            break;
        case KIND_LONG:
            v = opt && !*(const int64_t *)at
                    ? json_null()
                    : json_integer(*(const int64_t *)at);
            break;
        case KIND_INT:
            v = opt && !*(const int32_t *)at
                    ? json_null()
                    : json_integer(*(const int32_t *)at);
            break;
        }
        if (json_object_set_new(out, name, v))
            goto err;
    }
    json_decref(schema);
    return out;
err:
    json_decref(schema);
    json_decref(out);
    return NULL;
}

static int decode(const char *type_name, const char *fp) {
    cairn_event_t ev = {0};
    char errstr[512];
    size_t len = 0;
    char *buf = read_all(&len);
    json_t *out = NULL;
    cairn_err_t err;
    int rc = 1;

    if (!buf)
        goto done;
    if ((err = cairn_codec_decode(type_name, strcmp(fp, "-") ? fp : NULL, buf,
                                  len, &ev, errstr, sizeof(errstr)))) {
        fail(err, errstr);
        goto done;
    }
    if (!(out = event_json(&ev)) ||
        json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII))
        goto done;
    rc = puts("") == EOF ? 1 : 0;
done:
    json_decref(out);
    cairn_event_clear(&ev);
    free(buf);
    return rc;
}

int main(int argc, char **argv) {
    cairn_event_type_t type;
    char errstr[512];
    cairn_err_t err;

    if (argc < 3)
        goto usage;
    if ((err = cairn_codec_init(errstr, sizeof(errstr))))
        return fail(err, errstr);
    type = cairn_event_type_from_name(argv[2]);
    if (!strcmp(argv[1], "decode") && argc == 4)
        return decode(argv[2], argv[3]);
    if (!type) {
        fprintf(stderr, "UNKNOWN_EVENT: %s\n", argv[2]);
        return 1;
    }
    if (!strcmp(argv[1], "encode") && argc == 3)
        return encode(type);
    if (!strcmp(argv[1], "fingerprint") && argc == 3)
        return puts(cairn_codec_fingerprint(type)) == EOF;
usage:
    fprintf(stderr, "usage: cairn-codec-tool encode TYPE | decode TYPE FP | "
                    "fingerprint TYPE\n");
    return 2;
}
