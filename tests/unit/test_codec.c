/*
 * test_codec.c — the Avro wire contract (sdk/codec.c, sdk/schemas).
 *
 * Expectations come from engine/event.h, re-derived here independently of
 * codec.c: every schema must list exactly its type's fields, every type
 * round-trips, and no byte string — truncated, random, mutated or crafted to
 * be hostile — makes decode crash or accept garbage. Run from the repository
 * root (the schema files are compared with what the library embedded).
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec.h"

/* The generator's table (build/gen/schemas.c), linked from libcairn. */
struct cairn__schema {
    const char *name;
    const char *json;
    const char *canonical;
    uint64_t fingerprint;
    const char *fingerprint_hex;
};
extern const struct cairn__schema cairn__schemas[];
extern const size_t cairn__schemas_count;

enum { K_STR, K_LONG, K_INT };

enum {
#define FID(f, kind, doc) F_##f,
    CAIRN_EVENT_FIELDS(FID)
#undef FID
        F__COUNT
};

static const struct {
    const char *name;
    int kind;
    size_t off;
    const char *doc;
} dict[F__COUNT] = {
#define FROW(f, kind, doc)                                                     \
    [F_##f] = {#f, K_##kind, offsetof(cairn_event_t, f), doc},
    CAIRN_EVENT_FIELDS(FROW)
#undef FROW
};

typedef struct {
    int id;
    int opt;
} ref_t;

#define IS_OPT_REQ 0
#define IS_OPT_OPT 1
#define REF(f, req) {F_##f, IS_OPT_##req},

#define TYPES(X)                                                               \
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

#define LIST(sym, camel)                                                       \
    static const ref_t refs_##camel[] = {CAIRN_FIELDS_##camel(REF)};
TYPES(LIST)
#undef LIST

static const struct {
    const char *name;
    const ref_t *refs;
    size_t n;
} types[CAIRN_EV__COUNT] = {
#define TROW(sym, camel)                                                       \
    [CAIRN_EV_##sym] = {#camel, refs_##camel,                                  \
                        sizeof(refs_##camel) / sizeof(refs_##camel[0])},
    TYPES(TROW)
#undef TROW
};

#define FOR_EACH_TYPE(t) for (int t = 1; t < CAIRN_EV__COUNT; t++)

static int is_json(int id) {
    return !strncmp(dict[id].doc, "JSON:", 5);
}

static char **str_at(cairn_event_t *ev, int id) {
    return (char **)((char *)ev + dict[id].off);
}
static int64_t *long_at(cairn_event_t *ev, int id) {
    return (int64_t *)((char *)ev + dict[id].off);
}
static int32_t *int_at(cairn_event_t *ev, int id) {
    return (int32_t *)((char *)ev + dict[id].off);
}

static void set_str(cairn_event_t *ev, int id, const char *s) {
    assert_int_equal(cairn_event_set(str_at(ev, id), s), 0);
}

/*
 * Fills every field of type t. variant 0: unicode and maximum numbers;
 * 1: empty strings (JSON fields: the empty JSON string) and minimum numbers;
 * 2: long strings and small numbers. opt_too = 0 leaves OPT fields absent.
 */
static void fill(cairn_event_t *ev, int t, int variant, int opt_too) {
    static const char *json_v[] = {
        "{\"k\":\"\xc3\xbcn\xc3\xaf\xc2\xa9\xc3\xb8" "d\xc3\xa9 \xe2\x9c\x93 "
        "\xf0\x9f\x98\x80\",\"n\":[1,2.5e-3,null,true,false],\"o\":{}}",
        "\"\"", "[[[[]]]]"};
    static const char *str_v[] = {
        "wf-\xc3\xbc-\xe2\x82\xac-\xf0\x9f\x98\x80-\xf4\x8f\xbf\xbf", "",
        NULL};
    static const int64_t long_v[] = {INT64_MAX, INT64_MIN, -1};
    static const int32_t int_v[] = {INT32_MAX, INT32_MIN, 1};
    char big[1200];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(ev, 0, sizeof(*ev));
    ev->type = (cairn_event_type_t)t;
    for (size_t i = 0; i < types[t].n; i++) {
        int id = types[t].refs[i].id;
        if (types[t].refs[i].opt && !opt_too)
            continue;
        switch (dict[id].kind) {
        case K_STR:
            set_str(ev, id,
                    is_json(id) ? json_v[variant]
                                : (str_v[variant] ? str_v[variant] : big));
            break;
        case K_LONG:
            *long_at(ev, id) = long_v[variant];
            break;
        case K_INT:
            *int_at(ev, id) = int_v[variant];
            break;
        }
    }
}

/* Asserts a and b agree on every field of the dictionary. */
static void assert_event_equal(const cairn_event_t *a, const cairn_event_t *b) {
    assert_int_equal(a->type, b->type);
    for (int id = 0; id < F__COUNT; id++) {
        cairn_event_t *x = (cairn_event_t *)a, *y = (cairn_event_t *)b;
        switch (dict[id].kind) {
        case K_STR:
            if (!*str_at(x, id) || !*str_at(y, id))
                assert_ptr_equal(*str_at(x, id), *str_at(y, id));
            else
                assert_string_equal(*str_at(x, id), *str_at(y, id));
            break;
        case K_LONG:
            assert_true(*long_at(x, id) == *long_at(y, id));
            break;
        case K_INT:
            assert_int_equal(*int_at(x, id), *int_at(y, id));
            break;
        }
    }
}

static void encode_ok(const cairn_event_t *ev, void **buf, size_t *len) {
    char errstr[512] = "";
    cairn_err_t err = cairn_codec_encode(ev, buf, len, errstr, sizeof(errstr));
    if (err)
        print_error("encode %s: %s\n", types[ev->type].name, errstr);
    assert_int_equal(err, CAIRN_ERR_OK);
}

static cairn_err_t decode(int t, const void *buf, size_t len,
                          cairn_event_t *out, char *errstr, size_t size) {
    return cairn_codec_decode(cairn_event_type_name(t),
                              cairn_codec_fingerprint(t), buf, len, out,
                              errstr, size);
}

static void roundtrip(const cairn_event_t *ev) {
    cairn_event_t back;
    char errstr[512] = "";
    void *buf;
    size_t len;

    encode_ok(ev, &buf, &len);
    if (decode(ev->type, buf, len, &back, errstr, sizeof(errstr)))
        fail_msg("decode %s: %s", types[ev->type].name, errstr);
    assert_event_equal(ev, &back);
    cairn_event_clear(&back);
    assert_int_equal(cairn_codec_decode(cairn_event_type_name(ev->type), NULL,
                                        buf, len, &back, NULL, 0),
                     CAIRN_ERR_OK);
    assert_event_equal(ev, &back);
    cairn_event_clear(&back);
    free(buf);
}

/* ---- schemas ----------------------------------------------------------- */

static void test_init(void **state) {
    char errstr[512] = "";
    if (cairn_codec_init(errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    assert_int_equal(cairn__schemas_count, CAIRN_EV__COUNT - 1);
    assert_null(cairn_codec_fingerprint(CAIRN_EV_NONE));
    assert_null(cairn_codec_fingerprint(CAIRN_EV__COUNT));
    assert_null(cairn_codec_schema_json(CAIRN_EV_NONE));
}

static void test_crc64_vectors(void **state) {
    /* Avro's share/test/data/schema-tests.txt, as unsigned. */
    static const struct {
        const char *canonical;
        int64_t fp;
    } v[] = {
        {"\"null\"", 7195948357588979594},
        {"\"boolean\"", -6970731678124411036},
        {"\"int\"", 8247732601305521295},
        {"\"string\"", -8142146995180207161},
        {"[\"int\",\"boolean\"]", 5392556393470105090},
        {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
         1756455273707447556},
        {"{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
         "\"type\":\"boolean\"}]}",
         7843277075252814651},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_true(cairn_codec_crc64_avro(v[i].canonical,
                                           strlen(v[i].canonical)) ==
                    (uint64_t)v[i].fp);
    assert_true(cairn_codec_crc64_avro("", 0) ==
                UINT64_C(0xc15d213aa4d7a795));
}

static const struct cairn__schema *gen_row(const char *name) {
    for (size_t i = 0; i < cairn__schemas_count; i++)
        if (!strcmp(cairn__schemas[i].name, name))
            return &cairn__schemas[i];
    return NULL;
}

static const char *avro_type(int kind) {
    return kind == K_STR ? "string" : kind == K_LONG ? "long" : "int";
}

static void test_fingerprints(void **state) {
    FOR_EACH_TYPE(t) {
        const struct cairn__schema *row = gen_row(types[t].name);
        char hex[17], canon[4096];
        size_t n;
        assert_non_null(row);
        snprintf(hex, sizeof(hex), "%016" PRIx64, row->fingerprint);
        assert_string_equal(hex, row->fingerprint_hex);
        assert_string_equal(cairn_codec_fingerprint(t), row->fingerprint_hex);
        assert_true(cairn_codec_crc64_avro(row->canonical,
                                           strlen(row->canonical)) ==
                    row->fingerprint);
        /* The canonical form, rebuilt from event.h. */
        n = (size_t)snprintf(canon, sizeof(canon),
                             "{\"name\":\"dev.cairn.events.%s\","
                             "\"type\":\"record\",\"fields\":[",
                             types[t].name);
        for (size_t i = 0; i < types[t].n; i++) {
            const ref_t *r = &types[t].refs[i];
            const char *ty = avro_type(dict[r->id].kind);
            n += (size_t)snprintf(canon + n, sizeof(canon) - n,
                                  "%s{\"name\":\"%s\",\"type\":%s%s%s%s}",
                                  i ? "," : "", dict[r->id].name,
                                  r->opt ? "[\"null\",\"" : "\"", ty,
                                  r->opt ? "\"]" : "\"", "");
        }
        snprintf(canon + n, sizeof(canon) - n, "]}");
        assert_string_equal(canon, row->canonical);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, (size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void test_schemas_match_event_h(void **state) {
    const char *dir = getenv("CAIRN_SCHEMA_DIR");
    FOR_EACH_TYPE(t) {
        const char *text = cairn_codec_schema_json(t);
        json_error_t jerr;
        json_t *s = json_loads(text, 0, &jerr), *fields;
        char path[512], *file;

        if (!s)
            fail_msg("%s: %s", types[t].name, jerr.text);
        assert_string_equal(json_string_value(json_object_get(s, "type")),
                            "record");
        assert_string_equal(json_string_value(json_object_get(s, "name")),
                            types[t].name);
        assert_string_equal(
            json_string_value(json_object_get(s, "namespace")),
            "dev.cairn.events");
        fields = json_object_get(s, "fields");
        assert_int_equal(json_array_size(fields), types[t].n);
        for (size_t i = 0; i < types[t].n; i++) {
            const ref_t *r = &types[t].refs[i];
            json_t *f = json_array_get(fields, i);
            json_t *ty = json_object_get(f, "type");
            const char *want = avro_type(dict[r->id].kind);
            assert_string_equal(json_string_value(json_object_get(f, "name")),
                                dict[r->id].name);
            assert_string_equal(json_string_value(json_object_get(f, "doc")),
                                dict[r->id].doc);
            if (r->opt) {
                assert_true(json_is_array(ty));
                assert_int_equal(json_array_size(ty), 2);
                assert_string_equal(json_string_value(json_array_get(ty, 0)),
                                    "null");
                assert_string_equal(json_string_value(json_array_get(ty, 1)),
                                    want);
                assert_true(json_is_null(json_object_get(f, "default")));
            } else {
                assert_string_equal(json_string_value(ty), want);
                assert_null(json_object_get(f, "default"));
            }
        }
        json_decref(s);

        snprintf(path, sizeof(path), "%s/%s.avsc", dir ? dir : "sdk/schemas",
                 types[t].name);
        if (!(file = slurp(path)))
            fail_msg("cannot read %s (run from the repository root)", path);
        /* The build embeds the file without its final newline. */
        assert_int_equal(strncmp(file, text, strlen(text)), 0);
        assert_true(file[strlen(text)] == '\0' ||
                    !strcmp(file + strlen(text), "\n"));
        free(file);
    }
}

static void test_json_fields(void **state) {
    int n = 0;
    for (int id = 0; id < F__COUNT; id++)
        if (is_json(id)) {
            n++;
            assert_int_equal(dict[id].kind, K_STR);
            assert_non_null(strstr(" input payload result data ",
                                   dict[id].name));
        }
    assert_int_equal(n, 4);
}

/* ---- round trips --------------------------------------------------------- */

static void test_roundtrip_all_fields(void **state) {
    FOR_EACH_TYPE(t) {
        for (int variant = 0; variant < 3; variant++) {
            cairn_event_t ev;
            fill(&ev, t, variant, 1);
            roundtrip(&ev);
            cairn_event_clear(&ev);
        }
    }
}

static int in_type(int t, int id) {
    for (size_t i = 0; i < types[t].n; i++)
        if (types[t].refs[i].id == id)
            return 1;
    return 0;
}

static void test_roundtrip_optional_absent(void **state) {
    FOR_EACH_TYPE(t) {
        cairn_event_t ev, back;
        void *buf;
        size_t len;
        fill(&ev, t, 0, 0);
        roundtrip(&ev);
        /* Fields outside the type are neither encoded nor decoded. */
        for (int id = 0; id < F__COUNT; id++) {
            if (in_type(t, id))
                continue;
            if (dict[id].kind == K_STR)
                set_str(&ev, id, is_json(id) ? "1" : "stray");
            else if (dict[id].kind == K_LONG)
                *long_at(&ev, id) = 5;
            else
                *int_at(&ev, id) = 5;
        }
        encode_ok(&ev, &buf, &len);
        assert_int_equal(decode(t, buf, len, &back, NULL, 0), CAIRN_ERR_OK);
        for (int id = 0; id < F__COUNT; id++) {
            if (in_type(t, id))
                continue;
            if (dict[id].kind == K_STR)
                assert_null(*str_at(&back, id));
            else if (dict[id].kind == K_LONG)
                assert_true(*long_at(&back, id) == 0);
            else
                assert_int_equal(*int_at(&back, id), 0);
        }
        cairn_event_clear(&back);
        cairn_event_clear(&ev);
        free(buf);
    }
}

/* The exact bytes of the contract, as any Avro library writes them. */
static void test_golden_bytes(void **state) {
    static const uint8_t want[] = {0x02, 'w', 0x02, 0x02, 'r',  0x02,
                                   't',  0x00, 0x02, 0x04, '{', '}',
                                   0x00, 0x00};
    cairn_event_t ev = {.type = CAIRN_EV_START_WORKFLOW, .time_ms = 1};
    void *buf;
    size_t len;
    set_str(&ev, F_workflow_id, "w");
    set_str(&ev, F_request_id, "r");
    set_str(&ev, F_workflow_type, "t");
    set_str(&ev, F_input, "{}");
    encode_ok(&ev, &buf, &len);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    free(buf);
    cairn_event_clear(&ev);
}

static void test_encode_errors(void **state) {
    char errstr[256];
    void *buf = NULL;
    size_t len;
    cairn_event_t ev;
    char *big;

    FOR_EACH_TYPE(t) {
        for (size_t i = 0; i < types[t].n; i++) {
            int id = types[t].refs[i].id;
            if (types[t].refs[i].opt || dict[id].kind != K_STR)
                continue;
            fill(&ev, t, 0, 1);
            set_str(&ev, id, NULL);
            assert_int_equal(
                cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr)),
                CAIRN_ERR_INVALID_ARG);
            assert_non_null(strstr(errstr, dict[id].name));
            assert_null(buf);
            cairn_event_clear(&ev);
        }
    }
    fill(&ev, CAIRN_EV_START_WORKFLOW, 0, 1);
    set_str(&ev, F_input, "{\"a\":");
    assert_int_equal(
        cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr)),
        CAIRN_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "StartWorkflow.input"));
    set_str(&ev, F_input, NULL);
    set_str(&ev, F_workflow_id, "bad \xc0\xaf utf-8");
    assert_int_equal(
        cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr)),
        CAIRN_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "workflow_id"));
    cairn_event_clear(&ev);

    ev.type = CAIRN_EV__COUNT;
    assert_int_equal(
        cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr)),
        CAIRN_ERR_UNKNOWN_EVENT);
    assert_int_equal(cairn_codec_encode(NULL, &buf, &len, NULL, 0),
                     CAIRN_ERR_INVALID_ARG);

    /* Too big to encode: LIMIT, not a record nobody can decode. */
    big = malloc(CAIRN_CODEC_MAX_BYTES + 3);
    assert_non_null(big);
    memset(big, 'a', CAIRN_CODEC_MAX_BYTES + 2);
    big[0] = big[CAIRN_CODEC_MAX_BYTES + 1] = '"';
    big[CAIRN_CODEC_MAX_BYTES + 2] = '\0';
    fill(&ev, CAIRN_EV_WORKFLOW_COMPLETED, 0, 1);
    free(ev.result);
    ev.result = big;
    assert_int_equal(
        cairn_codec_encode(&ev, &buf, &len, errstr, sizeof(errstr)),
        CAIRN_ERR_LIMIT);
    assert_null(buf);
    cairn_event_clear(&ev);
}

/* ---- hostile input ------------------------------------------------------- */

static void test_truncated(void **state) {
    FOR_EACH_TYPE(t) {
        for (int opt = 0; opt < 2; opt++) {
            cairn_event_t ev, out;
            char errstr[256];
            void *buf;
            size_t len;
            fill(&ev, t, 0, opt);
            encode_ok(&ev, &buf, &len);
            for (size_t cut = 0; cut < len; cut++) {
                /* Exactly cut bytes, so that valgrind sees any overrun. */
                void *part = malloc(cut ? cut : 1);
                memcpy(part, buf, cut);
                errstr[0] = '\0';
                assert_int_equal(decode(t, part, cut, &out, errstr,
                                        sizeof(errstr)),
                                 CAIRN_ERR_DECODE);
                assert_int_equal(out.type, CAIRN_EV_NONE);
                assert_non_null(strstr(errstr, types[t].name));
                free(part);
            }
            free(buf);
            cairn_event_clear(&ev);
        }
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Decodes buf as type t: an error, or an event that round-trips exactly. */
static void decode_any(int t, const uint8_t *buf, size_t len, int *ok) {
    cairn_event_t out;
    char errstr[256];
    cairn_err_t err = decode(t, buf, len, &out, errstr, sizeof(errstr));
    if (err) {
        assert_int_equal(err, CAIRN_ERR_DECODE);
        assert_int_equal(out.type, CAIRN_EV_NONE);
        return;
    }
    ++*ok;
    roundtrip(&out);
    cairn_event_clear(&out);
}

static void test_random_bytes(void **state) {
    uint8_t buf[96];
    int ok = 0;
    rng_state = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        int t = 1 + (int)(rnd() % (CAIRN_EV__COUNT - 1));
        size_t len = rnd() % sizeof(buf);
        for (size_t k = 0; k < len; k++) {
            /* Mostly small bytes: plausible lengths and branches. */
            uint64_t r = rnd();
            buf[k] = (uint8_t)(r & 0x100 ? r >> 24 : (r >> 24) % 8);
        }
        decode_any(t, buf, len, &ok);
    }
    print_message("random: %d of 20000 decoded\n", ok);
}

static void test_mutated(void **state) {
    int ok = 0;
    rng_state = 42;
    FOR_EACH_TYPE(t) {
        cairn_event_t ev;
        void *enc;
        size_t len;
        fill(&ev, t, 2, 1);
        encode_ok(&ev, &enc, &len);
        for (int i = 0; i < 300; i++) {
            uint8_t *m = malloc(len);
            memcpy(m, enc, len);
            for (int k = 0; k < 1 + (int)(rnd() % 4); k++)
                m[rnd() % len] = (uint8_t)rnd();
            decode_any(t, m, len, &ok);
            free(m);
        }
        free(enc);
        cairn_event_clear(&ev);
    }
    print_message("mutated: %d decoded\n", ok);
}

/* A tiny Avro writer for crafting bytes. */
typedef struct {
    uint8_t b[256];
    size_t n;
} wbuf_t;

static void put_raw_varint(wbuf_t *w, uint64_t v) {
    while (v >= 0x80) {
        w->b[w->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->b[w->n++] = (uint8_t)v;
}
static void put_long(wbuf_t *w, int64_t v) {
    put_raw_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
static void put_bytes(wbuf_t *w, const char *s, size_t n) {
    put_long(w, (int64_t)n);
    memcpy(w->b + w->n, s, n);
    w->n += n;
}
static void put_str(wbuf_t *w, const char *s) {
    put_bytes(w, s, strlen(s));
}

/* StartWorkflow: workflow_id, time_ms, request_id, workflow_type, then OPT
 * version, input, start_policy, parent_workflow_id. */
static void start_prefix(wbuf_t *w) {
    w->n = 0;
    put_str(w, "w");
    put_long(w, 1);
    put_str(w, "r");
    put_str(w, "t");
}

static void expect_decode_error(const wbuf_t *w, const char *needle) {
    cairn_event_t out;
    char errstr[256] = "";
    uint8_t *copy = malloc(w->n ? w->n : 1);
    memcpy(copy, w->b, w->n);
    assert_int_equal(decode(CAIRN_EV_START_WORKFLOW, copy, w->n, &out, errstr,
                            sizeof(errstr)),
                     CAIRN_ERR_DECODE);
    if (!strstr(errstr, needle))
        fail_msg("\"%s\" does not mention \"%s\"", errstr, needle);
    free(copy);
}

static void test_hostile(void **state) {
    wbuf_t w;

    /* Baseline: the crafted record is valid. */
    start_prefix(&w);
    put_long(&w, 1), put_long(&w, 7);
    put_long(&w, 1), put_str(&w, "[1]");
    put_long(&w, 0), put_long(&w, 0);
    {
        cairn_event_t out;
        assert_int_equal(decode(CAIRN_EV_START_WORKFLOW, w.b, w.n, &out, NULL,
                                0),
                         CAIRN_ERR_OK);
        assert_int_equal(out.version, 7);
        assert_string_equal(out.input, "[1]");
        cairn_event_clear(&out);
    }
    w.b[w.n++] = 0;
    expect_decode_error(&w, "trailing");

    w.n = 0;
    put_long(&w, INT64_C(1) << 62);
    expect_decode_error(&w, "StartWorkflow.workflow_id: string length");
    w.n = 0;
    put_long(&w, -5);
    expect_decode_error(&w, "StartWorkflow.workflow_id: string length -5");
    w.n = 0;
    put_long(&w, INT64_MAX);
    expect_decode_error(&w, "workflow_id");
    w.n = 0;
    put_str(&w, "w");
    for (int i = 0; i < 11; i++)
        w.b[w.n++] = 0xff;
    w.b[w.n++] = 0x01;
    expect_decode_error(&w, "StartWorkflow.time_ms: varint longer");

    start_prefix(&w);
    put_long(&w, 2);
    expect_decode_error(&w, "StartWorkflow.version: union branch 2");
    start_prefix(&w);
    put_long(&w, -1);
    expect_decode_error(&w, "StartWorkflow.version: union branch -1");
    start_prefix(&w);
    put_long(&w, 1), put_long(&w, INT64_C(1) << 31);
    expect_decode_error(&w, "StartWorkflow.version: 2147483648 is not");
    start_prefix(&w);
    put_long(&w, 1), put_long(&w, 1), put_long(&w, 1), put_str(&w, "{bad");
    put_long(&w, 0), put_long(&w, 0);
    expect_decode_error(&w, "StartWorkflow.input: not JSON");
    start_prefix(&w);
    put_long(&w, 0), put_long(&w, 1), put_str(&w, "");
    put_long(&w, 0), put_long(&w, 0);
    expect_decode_error(&w, "StartWorkflow.input: not JSON");
    /* JSON_UNCHECKED leaves the JSON to the caller (a shard's engine),
     * and still checks everything else. */
    {
        cairn_event_t out;
        char errstr[256] = "";
        start_prefix(&w);
        put_long(&w, 1), put_long(&w, 1), put_long(&w, 1), put_str(&w, "{bad");
        put_long(&w, 0), put_long(&w, 0);
        assert_int_equal(cairn_codec_decode_flags(
                             "StartWorkflow", NULL, w.b, w.n,
                             CAIRN_CODEC_JSON_UNCHECKED, &out, errstr,
                             sizeof(errstr)),
                         CAIRN_ERR_OK);
        assert_string_equal(out.input, "{bad");
        cairn_event_clear(&out);
        start_prefix(&w);
        put_long(&w, 1), put_long(&w, 1), put_long(&w, 1),
            put_bytes(&w, "\xc0\xaf", 2);
        put_long(&w, 0), put_long(&w, 0);
        assert_int_equal(cairn_codec_decode_flags(
                             "StartWorkflow", NULL, w.b, w.n,
                             CAIRN_CODEC_JSON_UNCHECKED, &out, errstr,
                             sizeof(errstr)),
                         CAIRN_ERR_DECODE);
        if (!strstr(errstr, "StartWorkflow.input: not valid UTF-8"))
            fail_msg("\"%s\"", errstr);
    }

    static const struct {
        const char *bytes;
        size_t n;
    } bad_utf8[] = {
        {"a\0b", 3},          {"\xc0\xaf", 2},     {"\xe0\x80\xaf", 3},
        {"\xed\xa0\x80", 3},  {"\xf4\x90\x80\x80", 4}, {"\xff", 1},
        {"\xe2\x82", 2},      {"\x80", 1},
    };
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        w.n = 0;
        put_bytes(&w, bad_utf8[i].bytes, bad_utf8[i].n);
        put_long(&w, 1), put_str(&w, "r"), put_str(&w, "t");
        put_long(&w, 0), put_long(&w, 0), put_long(&w, 0), put_long(&w, 0);
        expect_decode_error(&w, "StartWorkflow.workflow_id: ");
    }
    w.n = 0;
    expect_decode_error(&w, "StartWorkflow.workflow_id: truncated");
}

static void test_headers(void **state) {
    cairn_event_t ev, out;
    char errstr[256] = "", upper[17];
    void *buf, *huge;
    size_t len;

    fill(&ev, CAIRN_EV_SIGNAL_WORKFLOW, 0, 1);
    encode_ok(&ev, &buf, &len);

    assert_int_equal(cairn_codec_decode("SignalWorkflow", "0123456789abcdef",
                                        buf, len, &out, errstr,
                                        sizeof(errstr)),
                     CAIRN_ERR_SCHEMA_MISMATCH);
    assert_non_null(strstr(errstr, "0123456789abcdef"));
    assert_non_null(
        strstr(errstr, cairn_codec_fingerprint(CAIRN_EV_SIGNAL_WORKFLOW)));
    assert_int_equal(cairn_codec_decode("SignalWorkflow",
                                        cairn_codec_fingerprint(
                                            CAIRN_EV_START_WORKFLOW),
                                        buf, len, &out, NULL, 0),
                     CAIRN_ERR_SCHEMA_MISMATCH);
    assert_int_equal(cairn_codec_decode("SignalWorkflow", "", buf, len, &out,
                                        NULL, 0),
                     CAIRN_ERR_SCHEMA_MISMATCH);
    assert_int_equal(cairn_codec_decode("SignalWorkflow", "\x01\xff garbage",
                                        buf, len, &out, errstr,
                                        sizeof(errstr)),
                     CAIRN_ERR_SCHEMA_MISMATCH);
    assert_null(strchr(errstr, '\x01'));
    for (int i = 0; i < 16; i++)
        upper[i] = (char)toupper(
            cairn_codec_fingerprint(CAIRN_EV_SIGNAL_WORKFLOW)[i]);
    upper[16] = '\0';
    assert_int_equal(cairn_codec_decode("SignalWorkflow", upper, buf, len,
                                        &out, NULL, 0),
                     CAIRN_ERR_OK);
    cairn_event_clear(&out);

    assert_int_equal(cairn_codec_decode("NoSuchEvent", NULL, buf, len, &out,
                                        errstr, sizeof(errstr)),
                     CAIRN_ERR_UNKNOWN_EVENT);
    assert_non_null(strstr(errstr, "NoSuchEvent"));
    assert_int_equal(cairn_codec_decode(NULL, NULL, buf, len, &out, NULL, 0),
                     CAIRN_ERR_UNKNOWN_EVENT);
    assert_int_equal(cairn_codec_decode("signalworkflow", NULL, buf, len, &out,
                                        NULL, 0),
                     CAIRN_ERR_UNKNOWN_EVENT);
    assert_int_equal(cairn_codec_decode("SignalWorkflow", NULL, buf, len, NULL,
                                        NULL, 0),
                     CAIRN_ERR_INVALID_ARG);

    assert_int_equal(cairn_codec_decode("SignalWorkflow", NULL, NULL, 0, &out,
                                        NULL, 0),
                     CAIRN_ERR_DECODE);
    assert_int_equal(cairn_codec_decode("SignalWorkflow", NULL, NULL, 1, &out,
                                        NULL, 0),
                     CAIRN_ERR_INVALID_ARG);

    huge = calloc(1, CAIRN_CODEC_MAX_BYTES + 1);
    assert_int_equal(cairn_codec_decode("SignalWorkflow", NULL, huge,
                                        CAIRN_CODEC_MAX_BYTES + 1, &out,
                                        errstr, sizeof(errstr)),
                     CAIRN_ERR_DECODE);
    assert_non_null(strstr(errstr, "limit"));
    free(huge);
    free(buf);
    cairn_event_clear(&ev);
}

/* ---- threads ------------------------------------------------------------- */

static void *hammer(void *arg) {
    intptr_t seed = (intptr_t)arg;
    for (int i = 0; i < 400; i++) {
        int t = 1 + (int)((seed + i) % (CAIRN_EV__COUNT - 1));
        cairn_event_t ev, back;
        void *buf;
        size_t len;
        int bad = 0;
        fill(&ev, t, i % 3, i & 1);
        if (cairn_codec_encode(&ev, &buf, &len, NULL, 0))
            return (void *)1;
        if (decode(t, buf, len, &back, NULL, 0) ||
            (ev.workflow_id && strcmp(ev.workflow_id, back.workflow_id)))
            bad = 1;
        free(buf);
        cairn_event_clear(&ev);
        cairn_event_clear(&back);
        if (bad)
            return (void *)1;
    }
    return NULL;
}

static void test_threads(void **state) {
    pthread_t th[8];
    for (intptr_t i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
    for (int i = 0; i < 8; i++) {
        void *rv;
        assert_int_equal(pthread_join(th[i], &rv), 0);
        assert_null(rv);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_crc64_vectors),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_schemas_match_event_h),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_roundtrip_all_fields),
        cmocka_unit_test(test_roundtrip_optional_absent),
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutated),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
