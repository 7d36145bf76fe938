/*
 * codec.c — Avro binary encoding of cairn_event_t, driven by event.h's tables.
 *
 * Nothing here is written per event type. CAIRN_EVENT_FIELDS gives every
 * field's name, kind and offset in cairn_event_t; CAIRN_FIELDS_<Type> gives
 * each type's field order and optionality. The schemas themselves come from
 * build/gen/schemas.c, which sdk/tools/gen_schemas.py writes from the .avsc
 * files in sdk/schemas.
 *
 * Init (once, pthread_once) parses every embedded schema with avro-c, checks
 * it field for field against the tables, and builds one generic value class
 * per type. Those are read-only afterwards and shared; each encode/decode
 * makes its own avro_value_t, so every call is thread-safe. The classes live
 * as long as the process.
 *
 * Decoding trusts nothing. avro-c sizes its buffers from lengths read off the
 * wire, so before avro-c sees a byte, validate() walks the whole encoding
 * against the field table: every varint at most 10 bytes, ints in range,
 * union branches 0 or 1, string lengths within the bytes left, strings valid
 * UTF-8 without NUL, JSON fields (doc starting "JSON:") parseable by jansson,
 * and no trailing bytes. Only then does avro-c read the value. Encoding
 * applies the same string checks, so whatever encodes also decodes.
 *
 * avro-c (1.11, Debian) keeps its error message in one process-wide buffer,
 * so the happy paths here never make avro-c fail on purpose (e.g. probing
 * for trailing bytes); avro_strerror() text appears only on paths that
 * validation makes unreachable or that mean out of memory.
 *
 * OPT numbers are absent exactly when zero, OPT strings when NULL.
 */
#include "codec.h"
#include "internal.h"

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One row of build/gen/schemas.c; the generator declares the same layout. */
struct cairn__schema {
    const char *name;
    const char *json;
    const char *canonical;
    uint64_t fingerprint;
    const char *fingerprint_hex;
};
extern const struct cairn__schema cairn__schemas[];
extern const size_t cairn__schemas_count;

typedef enum { KIND_STR, KIND_LONG, KIND_INT } kind_t;

enum {
#define FIELD_ID(f, kind, doc) FIELD_##f,
    CAIRN_EVENT_FIELDS(FIELD_ID)
#undef FIELD_ID
        FIELD__COUNT
};

typedef struct {
    const char *name;
    kind_t kind;
    size_t off;
    const char *doc;
} fdef_t;

static const fdef_t fdefs[FIELD__COUNT] = {
#define FIELD_DEF(f, kind, doc)                                                \
    [FIELD_##f] = {#f, KIND_##kind, offsetof(cairn_event_t, f), doc},
    CAIRN_EVENT_FIELDS(FIELD_DEF)
#undef FIELD_DEF
};

typedef struct {
    unsigned char id;
    unsigned char opt;
} fref_t;

#define OPT_OF_REQ 0
#define OPT_OF_OPT 1
#define FIELD_REF(f, req) {FIELD_##f, OPT_OF_##req},

/* event.h names types twice (enum symbol, string); this pairs the enum symbol
 * with the token of its CAIRN_FIELDS_ list. init() checks the names agree. */
#define TYPE_FIELD_LISTS(X)                                                    \
    X(START_WORKFLOW, StartWorkflow)                                           \
    X(SIGNAL_WORKFLOW, SignalWorkflow)                                         \
    X(CANCEL_WORKFLOW, CancelWorkflow)                                         \
    X(TERMINATE_WORKFLOW, TerminateWorkflow)                                   \
    X(WORKFLOW_STARTED, WorkflowStarted)                                       \
    X(ACTIVITY_SCHEDULED, ActivityScheduled)                                   \
    X(ACTIVITY_TASK, ActivityTask)                                             \
    X(ACTIVITY_COMPLETED, ActivityCompleted)                                   \
    X(ACTIVITY_FAILED, ActivityFailed)                                         \
    X(ACTIVITY_HEARTBEAT, ActivityHeartbeat)                                   \
    X(ACTIVITY_TIMED_OUT, ActivityTimedOut)                                    \
    X(TIMER_STARTED, TimerStarted)                                             \
    X(TIMER_FIRED, TimerFired)                                                 \
    X(TIMER_CANCELED, TimerCanceled)                                           \
    X(SIGNAL_RECEIVED, SignalReceived)                                         \
    X(WORKFLOW_COMPLETED, WorkflowCompleted)                                   \
    X(WORKFLOW_FAILED, WorkflowFailed)                                         \
    X(WORKFLOW_CANCELED, WorkflowCanceled)                                     \
    X(WORKFLOW_TERMINATED, WorkflowTerminated)                                 \
    X(WORKFLOW_CONTINUED_AS_NEW, WorkflowContinuedAsNew)                       \
    X(REJECTED, Rejected)                                                      \
    X(WORKFLOW_STATE, WorkflowState)

#define FIELD_LIST(sym, camel)                                                 \
    static const fref_t flist_##camel[] = {CAIRN_FIELDS_##camel(FIELD_REF)};
TYPE_FIELD_LISTS(FIELD_LIST)
#undef FIELD_LIST

typedef struct {
    const char *name;
    const fref_t *fields;
    size_t nfields;
} tdef_t;

static const tdef_t tdefs[CAIRN_EV__COUNT] = {
#define TYPE_DEF(sym, camel)                                                   \
    [CAIRN_EV_##sym] = {#camel, flist_##camel,                                 \
                        sizeof(flist_##camel) / sizeof(flist_##camel[0])},
    TYPE_FIELD_LISTS(TYPE_DEF)
#undef TYPE_DEF
};

#define COUNT_ONE(sym, camel) +1
_Static_assert(0 TYPE_FIELD_LISTS(COUNT_ONE) == CAIRN_EV__COUNT - 1,
               "TYPE_FIELD_LISTS must list every CAIRN_EVENT_TYPES entry");
#undef COUNT_ONE

typedef struct {
    const struct cairn__schema *gen;
    avro_schema_t schema;
    avro_value_iface_t *iface;
} tstate_t;

static tstate_t tstates[CAIRN_EV__COUNT];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static cairn_err_t init_err;
static char init_errstr[512];

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint64_t crc_table[256];

#define CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

static void crc_init(void) {
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & -(fp & 1));
        crc_table[i] = fp;
    }
}

uint64_t cairn_codec_crc64_avro(const void *buf, size_t len) {
    const uint8_t *p = buf;
    uint64_t fp = CRC64_AVRO_EMPTY;
    pthread_once(&crc_once, crc_init);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc_table[(fp ^ p[i]) & 0xff];
    return fp;
}

static int is_json_field(const fdef_t *fd) {
    return !strncmp(fd->doc, "JSON:", 5);
}

static avro_type_t avro_type_of(kind_t kind) {
    switch (kind) {
    case KIND_STR:
        return AVRO_STRING;
    case KIND_LONG:
        return AVRO_INT64;
    case KIND_INT:
        break;
    }
    return AVRO_INT32;
}

/* 0 if the avro-c schema of field i has the table's type and optionality. */
static int field_schema_ok(avro_schema_t fs, const fref_t *fr) {
    avro_type_t want = avro_type_of(fdefs[fr->id].kind);
    if (!fr->opt)
        return is_avro_union(fs) || avro_typeof(fs) != want ? -1 : 0;
    if (!is_avro_union(fs) || avro_schema_union_size(fs) != 2)
        return -1;
    if (!is_avro_null(avro_schema_union_branch(fs, 0)))
        return -1;
    return avro_typeof(avro_schema_union_branch(fs, 1)) == want ? 0 : -1;
}

static cairn_err_t init_type(cairn_event_type_t t) {
    const tdef_t *td = &tdefs[t];
    tstate_t *ts = &tstates[t];
    const char *name = cairn_event_type_name(t);

    if (!td->name || !name || strcmp(td->name, name))
        return cairn__seterr(init_errstr, sizeof(init_errstr),
                             CAIRN_ERR_INTERNAL,
                             "codec: event type %d is \"%s\" in event.h but "
                             "\"%s\" in codec.c",
                             (int)t, name ? name : "?",
                             td->name ? td->name : "?");
    for (size_t i = 0; i < cairn__schemas_count && !ts->gen; i++)
        if (!strcmp(cairn__schemas[i].name, name))
            ts->gen = &cairn__schemas[i];
    if (!ts->gen)
        return cairn__seterr(init_errstr, sizeof(init_errstr),
                             CAIRN_ERR_INTERNAL,
                             "codec: no schema sdk/schemas/%s.avsc", name);
    if (avro_schema_from_json_length(ts->gen->json, strlen(ts->gen->json),
                                     &ts->schema))
        return cairn__seterr(init_errstr, sizeof(init_errstr),
                             CAIRN_ERR_INTERNAL, "codec: schema %s: %s", name,
                             avro_strerror());
    if (!is_avro_record(ts->schema) ||
        avro_schema_record_size(ts->schema) != td->nfields)
        return cairn__seterr(init_errstr, sizeof(init_errstr),
                             CAIRN_ERR_INTERNAL,
                             "codec: schema %s: expected a record of %zu "
                             "fields as in event.h",
                             name, td->nfields);
    for (size_t i = 0; i < td->nfields; i++) {
        const fref_t *fr = &td->fields[i];
        const char *fname = avro_schema_record_field_name(ts->schema, (int)i);
        avro_schema_t fs =
            avro_schema_record_field_get_by_index(ts->schema, (int)i);
        if (!fname || strcmp(fname, fdefs[fr->id].name) ||
            field_schema_ok(fs, fr))
            return cairn__seterr(init_errstr, sizeof(init_errstr),
                                 CAIRN_ERR_INTERNAL,
                                 "codec: schema %s field %zu is not %s (%s) "
                                 "as in event.h",
                                 name, i, fdefs[fr->id].name,
                                 fr->opt ? "OPT" : "REQ");
    }
    if (!(ts->iface = avro_generic_class_from_schema(ts->schema)))
        return cairn__seterr(init_errstr, sizeof(init_errstr),
                             CAIRN_ERR_INTERNAL, "codec: schema %s: %s", name,
                             avro_strerror());
    return CAIRN_ERR_OK;
}

static void init(void) {
    if (cairn__schemas_count != CAIRN_EV__COUNT - 1) {
        init_err = cairn__seterr(init_errstr, sizeof(init_errstr),
                                 CAIRN_ERR_INTERNAL,
                                 "codec: %zu schemas embedded, %d event types",
                                 cairn__schemas_count, CAIRN_EV__COUNT - 1);
        return;
    }
    for (int t = 1; t < CAIRN_EV__COUNT && !init_err; t++)
        init_err = init_type((cairn_event_type_t)t);
}

cairn_err_t cairn_codec_init(char *errstr, size_t errstr_size) {
    pthread_once(&init_once, init);
    if (init_err)
        return cairn__seterr(errstr, errstr_size, init_err, "%s",
                             init_errstr);
    return CAIRN_ERR_OK;
}

static int type_ok(cairn_event_type_t type) {
    return type > CAIRN_EV_NONE && type < CAIRN_EV__COUNT;
}

const char *cairn_codec_fingerprint(cairn_event_type_t type) {
    if (!type_ok(type) || cairn_codec_init(NULL, 0))
        return NULL;
    return tstates[type].gen->fingerprint_hex;
}

const char *cairn_codec_schema_json(cairn_event_type_t type) {
    if (!type_ok(type) || cairn_codec_init(NULL, 0))
        return NULL;
    return tstates[type].gen->json;
}

/* Offset of the first byte that is not well-formed UTF-8, or n. */
static size_t utf8_invalid_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t len = s[i] < 0x80 ? 1 : cairn__utf8_seq(s + i, n - i);
        if (!len)
            return i;
        i += len;
    }
    return n;
}

/* 0 if s[0..n) is acceptable for field fd, else -1 with the reason in why. */
static int check_string(const fdef_t *fd, const char *s, size_t n,
                        int json_trusted, char *why, size_t why_size) {
    const char *nul = memchr(s, '\0', n);
    size_t bad = utf8_invalid_at((const uint8_t *)s, n);
    char jwhy[160];

    if (nul) {
        snprintf(why, why_size, "NUL byte at offset %zu", (size_t)(nul - s));
        return -1;
    }
    if (bad < n) {
        snprintf(why, why_size, "not valid UTF-8 at offset %zu", bad);
        return -1;
    }
    if (!is_json_field(fd) || json_trusted)
        return 0;
    /* What json_loadb would accept, checked without building the value
     * (a worker checked every task's input and result so: a third of its
     * CPU). */
    if (!cairn__json_valid(s, n, jwhy, sizeof(jwhy))) {
        snprintf(why, why_size, "not JSON: %s", jwhy);
        return -1;
    }
    return 0;
}

/*
 * Reads one zig-zag varint of at most 10 bytes; returns the bytes used,
 * 0 if the input ends inside it, -1 if it is longer than 64 bits.
 */
static int read_varint(const uint8_t *p, size_t n, int64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if ((size_t)i >= n)
            return 0;
        if (i == 9 && p[i] > 1)
            return -1;
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return i + 1;
        }
    }
    return -1;
}

/* A printable, bounded copy of an untrusted header value for messages. */
static const char *printable(const char *s, char *buf, size_t size) {
    size_t i = 0;
    if (!s)
        return "(none)";
    for (; s[i] && i + 4 < size && i < 40; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s[i] && i + 4 <= size)
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = '\0';
    return buf;
}

/*
 * Walks buf as the binary encoding of type t without allocating anything
 * sized by the input; CAIRN_ERR_DECODE naming the field on any defect.
 */
static cairn_err_t validate(cairn_event_type_t t, const uint8_t *buf,
                            size_t len, int json_trusted, char *errstr,
                            size_t errstr_size) {
    const tdef_t *td = &tdefs[t];
    size_t pos = 0;
    char why[256];
    const fdef_t *fd = NULL;

    for (size_t i = 0; i < td->nfields; i++) {
        int64_t v;
        int used;
        fd = &fdefs[td->fields[i].id];
        if (td->fields[i].opt) {
            if ((used = read_varint(buf + pos, len - pos, &v)) <= 0)
                goto bad_varint;
            pos += (size_t)used;
            if (v != 0 && v != 1) {
                snprintf(why, sizeof(why),
                         "union branch %" PRId64 " (only 0 and 1 exist)", v);
                goto err;
            }
            if (v == 0)
                continue;
        }
        if ((used = read_varint(buf + pos, len - pos, &v)) <= 0)
            goto bad_varint;
        pos += (size_t)used;
        switch (fd->kind) {
        case KIND_INT:
            if (used > 5 || v < INT32_MIN || v > INT32_MAX) {
                snprintf(why, sizeof(why), "%" PRId64 " is not an Avro int",
                         v);
                goto err;
            }
            break;
        case KIND_LONG:
            break;
        case KIND_STR:
            if (v < 0 || (uint64_t)v > len - pos) {
                snprintf(why, sizeof(why),
                         "string length %" PRId64 " but %zu bytes left", v,
                         len - pos);
                goto err;
            }
            if (check_string(fd, (const char *)buf + pos, (size_t)v,
                             json_trusted, why, sizeof(why)))
                goto err;
            pos += (size_t)v;
            break;
        }
        continue;
    bad_varint:
        snprintf(why, sizeof(why), "%s at offset %zu",
                 used ? "varint longer than 64 bits" : "truncated", pos);
        goto err;
    }
    if (pos != len)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                             "%s: %zu trailing bytes after the last field",
                             td->name, len - pos);
    return CAIRN_ERR_OK;
err:
    return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE, "%s.%s: %s",
                         td->name, fd->name, why);
}

static char **str_field(cairn_event_t *ev, const fdef_t *fd) {
    return (char **)((char *)ev + fd->off);
}

static const char *const *cstr_field(const cairn_event_t *ev,
                                     const fdef_t *fd) {
    return (const char *const *)((const char *)ev + fd->off);
}

static int64_t long_field(const cairn_event_t *ev, const fdef_t *fd) {
    return *(const int64_t *)((const char *)ev + fd->off);
}

static int32_t int_field(const cairn_event_t *ev, const fdef_t *fd) {
    return *(const int32_t *)((const char *)ev + fd->off);
}

/* Fills one avro-c field value from ev; 0 or an avro-c errno. */
static int set_field(avro_value_t *fv, const fdef_t *fd, int opt,
                     const cairn_event_t *ev) {
    avro_value_t branch;
    int present = 1, rc;

    switch (fd->kind) {
    case KIND_STR:
        present = *cstr_field(ev, fd) != NULL;
        break;
    case KIND_LONG:
        present = long_field(ev, fd) != 0;
        break;
    case KIND_INT:
        present = int_field(ev, fd) != 0;
        break;
    }
    if (opt) {
        if ((rc = avro_value_set_branch(fv, present, &branch)))
            return rc;
        if (!present)
            return avro_value_set_null(&branch);
        fv = &branch;
    }
    switch (fd->kind) {
    case KIND_STR: {
        const char *s = *cstr_field(ev, fd);
        avro_wrapped_buffer_t wb;
        if ((rc = avro_wrapped_buffer_new(&wb, s, strlen(s) + 1)))
            return rc;
        return avro_value_give_string_len(fv, &wb);
    }
    case KIND_LONG:
        return avro_value_set_long(fv, long_field(ev, fd));
    case KIND_INT:
        break;
    }
    return avro_value_set_int(fv, int_field(ev, fd));
}

/* Checks ev's fields for type t before encoding; INVALID_ARG naming one. */
static cairn_err_t check_event(const cairn_event_t *ev, int flags,
                               char *errstr, size_t errstr_size) {
    const tdef_t *td = &tdefs[ev->type];
    char why[256];

    for (size_t i = 0; i < td->nfields; i++) {
        const fdef_t *fd = &fdefs[td->fields[i].id];
        const char *s;
        if (fd->kind != KIND_STR)
            continue;
        if (!(s = *cstr_field(ev, fd))) {
            if (td->fields[i].opt)
                continue;
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                                 "%s.%s: required field is NULL", td->name,
                                 fd->name);
        }
        if (check_string(fd, s, strlen(s),
                         (flags & CAIRN_CODEC_JSON_TRUSTED) != 0, why,
                         sizeof(why)))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                                 "%s.%s: %s", td->name, fd->name, why);
    }
    return CAIRN_ERR_OK;
}

cairn_err_t cairn_codec_encode(const cairn_event_t *ev, void **bufp,
                               size_t *lenp, char *errstr,
                               size_t errstr_size) {
    return cairn_codec_encode_flags(ev, 0, bufp, lenp, errstr, errstr_size);
}

cairn_err_t cairn_codec_encode_flags(const cairn_event_t *ev, int flags,
                                     void **bufp, size_t *lenp, char *errstr,
                                     size_t errstr_size) {
    cairn_err_t err;
    avro_value_t val = {NULL, NULL};
    avro_writer_t writer = NULL;
    const tdef_t *td;
    char *buf = NULL;
    size_t size;

    if ((err = cairn_codec_init(errstr, errstr_size)))
        return err;
    if (!ev || !bufp || !lenp)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "codec: encode: NULL argument");
    if (!type_ok(ev->type))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_UNKNOWN_EVENT,
                             "codec: cannot encode event type %d",
                             (int)ev->type);
    if ((err = check_event(ev, flags, errstr, errstr_size)))
        return err;
    td = &tdefs[ev->type];
    if (avro_generic_value_new(tstates[ev->type].iface, &val))
        goto avro_err;
    for (size_t i = 0; i < td->nfields; i++) {
        avro_value_t fv;
        if (avro_value_get_by_index(&val, i, &fv, NULL) ||
            set_field(&fv, &fdefs[td->fields[i].id], td->fields[i].opt, ev))
            goto avro_err;
    }
    if (avro_value_sizeof(&val, &size))
        goto avro_err;
    if (size > CAIRN_CODEC_MAX_BYTES) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_LIMIT,
                            "%s: encoded size %zu exceeds %u bytes", td->name,
                            size, CAIRN_CODEC_MAX_BYTES);
        goto err;
    }
    if (!(buf = malloc(size ? size : 1))) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "%s: cannot allocate %zu bytes", td->name, size);
        goto err;
    }
    if (!(writer = avro_writer_memory(buf, (int64_t)size)) ||
        avro_value_write(writer, &val))
        goto avro_err;
    avro_writer_free(writer);
    avro_value_decref(&val);
    *bufp = buf;
    *lenp = size;
    return CAIRN_ERR_OK;
avro_err:
    err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_INTERNAL,
                        "%s: avro-c: %s", cairn_event_type_name(ev->type),
                        avro_strerror());
err:
    if (writer)
        avro_writer_free(writer);
    if (val.self)
        avro_value_decref(&val);
    free(buf);
    return err;
}

/* Copies field i of the avro-c record into ev; 0 or -1 (ENOMEM/avro-c). */
static int get_field(avro_value_t *rec, size_t i, const fref_t *fr,
                     cairn_event_t *ev) {
    const fdef_t *fd = &fdefs[fr->id];
    avro_value_t fv, branch;
    int disc;

    if (avro_value_get_by_index(rec, i, &fv, NULL))
        return -1;
    if (fr->opt) {
        if (avro_value_get_discriminant(&fv, &disc))
            return -1;
        if (disc == 0)
            return 0;
        if (avro_value_get_current_branch(&fv, &branch))
            return -1;
        fv = branch;
    }
    switch (fd->kind) {
    case KIND_STR: {
        const char *s;
        size_t size;
        char *copy;
        if (avro_value_get_string(&fv, &s, &size) || size == 0 ||
            !(copy = malloc(size)))
            return -1;
        memcpy(copy, s, size - 1);
        copy[size - 1] = '\0';
        *str_field(ev, fd) = copy;
        return 0;
    }
    case KIND_LONG:
        return avro_value_get_long(&fv, (int64_t *)((char *)ev + fd->off))
                   ? -1
                   : 0;
    case KIND_INT:
        break;
    }
    return avro_value_get_int(&fv, (int32_t *)((char *)ev + fd->off)) ? -1
                                                                       : 0;
}

cairn_err_t cairn_codec_decode(const char *type_name, const char *fingerprint,
                               const void *buf, size_t len, cairn_event_t *out,
                               char *errstr, size_t errstr_size) {
    return cairn_codec_decode_flags(type_name, fingerprint, buf, len, 0, out,
                                    errstr, errstr_size);
}

cairn_err_t cairn_codec_decode_flags(const char *type_name,
                                     const char *fingerprint, const void *buf,
                                     size_t len, int flags,
                                     cairn_event_t *out, char *errstr,
                                     size_t errstr_size) {
    cairn_err_t err;
    cairn_event_type_t t;
    avro_value_t val = {NULL, NULL};
    avro_reader_t reader = NULL;
    cairn_event_t ev;
    char shown[48];

    memset(&ev, 0, sizeof(ev));
    if (out)
        memset(out, 0, sizeof(*out));
    if ((err = cairn_codec_init(errstr, errstr_size)))
        return err;
    if (!out || (!buf && len))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "codec: decode: NULL argument");
    if (!(t = cairn_event_type_from_name(type_name)))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_UNKNOWN_EVENT,
                             "codec: unknown event type \"%s\"",
                             printable(type_name, shown, sizeof(shown)));
    if (fingerprint &&
        strcasecmp(fingerprint, tstates[t].gen->fingerprint_hex))
        return cairn__seterr(
            errstr, errstr_size, CAIRN_ERR_SCHEMA_MISMATCH,
            "%s: record fingerprint %s, this build's schema is %s",
            tdefs[t].name, printable(fingerprint, shown, sizeof(shown)),
            tstates[t].gen->fingerprint_hex);
    if (len > CAIRN_CODEC_MAX_BYTES)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                             "%s: %zu bytes exceeds the %u byte limit",
                             tdefs[t].name, len, CAIRN_CODEC_MAX_BYTES);
    if ((err = validate(t, len ? buf : "", len,
                        (flags & CAIRN_CODEC_JSON_UNCHECKED) != 0, errstr,
                        errstr_size)))
        return err;

    if (avro_generic_value_new(tstates[t].iface, &val) ||
        !(reader = avro_reader_memory(buf, (int64_t)len)))
        goto avro_err;
    if (avro_value_read(reader, &val)) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                            "%s: avro-c: %s", tdefs[t].name, avro_strerror());
        goto err;
    }
    ev.type = t;
    for (size_t i = 0; i < tdefs[t].nfields; i++)
        if (get_field(&val, i, &tdefs[t].fields[i], &ev))
            goto avro_err;
    avro_reader_free(reader);
    avro_value_decref(&val);
    *out = ev;
    return CAIRN_ERR_OK;
avro_err:
    err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                        "%s: avro-c: %s", tdefs[t].name, avro_strerror());
err:
    cairn_event_clear(&ev);
    if (reader)
        avro_reader_free(reader);
    if (val.self)
        avro_value_decref(&val);
    return err;
}
