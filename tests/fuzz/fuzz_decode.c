/*
 * fuzz_decode.c — libFuzzer target for cairn_codec_decode.
 *
 * Input: byte 0 picks the cairn.type header (low 5 bits: an event type, or
 * an unknown name) and the cairn.fingerprint header (high 3 bits: absent,
 * ours, ours in upper case, another type's, empty, garbage); the rest is
 * the record value. Any decode that succeeds must re-encode, decode again
 * to the same event, and re-encode to the same bytes; anything else aborts.
 * Built with ASan/UBSan by tests/fuzz/module.mk (`make fuzz`); seeds come
 * from fuzz_seeds.c.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

typedef enum { KIND_STR, KIND_LONG, KIND_INT } kind_t;

static const struct {
    kind_t kind;
    size_t off;
} fields[] = {
#define FIELD_ROW(f, kind, doc) {KIND_##kind, offsetof(cairn_event_t, f)},
    CAIRN_EVENT_FIELDS(FIELD_ROW)
#undef FIELD_ROW
};

static int same_event(const cairn_event_t *a, const cairn_event_t *b) {
    if (a->type != b->type)
        return 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *pa = (const char *)a + fields[i].off;
        const char *pb = (const char *)b + fields[i].off;
        const char *sa, *sb;
        switch (fields[i].kind) {
        case KIND_STR:
            sa = *(char *const *)pa;
            sb = *(char *const *)pb;
            if ((!sa || !sb) ? sa != sb : strcmp(sa, sb) != 0)
                return 0;
            break;
        case KIND_LONG:
            if (memcmp(pa, pb, sizeof(int64_t)))
                return 0;
            break;
        case KIND_INT:
            if (memcmp(pa, pb, sizeof(int32_t)))
                return 0;
            break;
        }
    }
    return 1;
}

static const char *pick_fingerprint(cairn_event_type_t t, unsigned variant,
                                    char *upper) {
    const char *ours = cairn_codec_fingerprint(t);
    switch (variant) {
    case 1:
        return ours;
    case 2:
        for (int i = 0; ours && i < 16; i++)
            upper[i] = (char)toupper((unsigned char)ours[i]);
        upper[16] = '\0';
        return upper;
    case 3:
        return cairn_codec_fingerprint(t % (CAIRN_EV__COUNT - 1) + 1);
    case 4:
        return "";
    case 5:
        return "not-a-fingerprint-at-all\x7f";
    default:
        return NULL;
    }
}

static void check_roundtrip(const cairn_event_t *ev) {
    cairn_event_t again;
    void *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    const char *name = cairn_event_type_name(ev->type);

    if (cairn_codec_encode(ev, &buf, &len, NULL, 0))
        abort();
    if (cairn_codec_decode(name, cairn_codec_fingerprint(ev->type), buf, len,
                           &again, NULL, 0))
        abort();
    if (!same_event(ev, &again))
        abort();
    if (cairn_codec_encode(&again, &buf2, &len2, NULL, 0) || len2 != len ||
        memcmp(buf, buf2, len))
        abort();
    cairn_event_clear(&again);
    free(buf);
    free(buf2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *unknown[] = {NULL, "", "Nope", "startworkflow",
                                    "StartWorkflow\n"};
    cairn_event_type_t t;
    const char *name, *fp = NULL;
    char upper[17], errstr[256];
    unsigned variant;
    cairn_event_t ev;
    cairn_err_t err, want = CAIRN_ERR_DECODE;

    if (size < 1)
        return 0;
    t = (cairn_event_type_t)(data[0] & 0x1f);
    variant = data[0] >> 5;
    if (t > CAIRN_EV_NONE && t < CAIRN_EV__COUNT) {
        name = cairn_event_type_name(t);
        fp = pick_fingerprint(t, variant, upper);
        if (variant >= 3 && variant <= 5)
            want = CAIRN_ERR_SCHEMA_MISMATCH;
    } else {
        name = unknown[t % 5];
        t = CAIRN_EV_NONE;
        want = CAIRN_ERR_UNKNOWN_EVENT;
    }

    errstr[0] = '\0';
    err = cairn_codec_decode(name, fp, data + 1, size - 1, &ev, errstr,
                             sizeof(errstr));
    if (err == CAIRN_ERR_OK) {
        if (want != CAIRN_ERR_DECODE || ev.type != t)
            abort();
        check_roundtrip(&ev);
    } else if (err != want || ev.type != CAIRN_EV_NONE || !errstr[0]) {
        abort();
    }
    cairn_event_clear(&ev);
    return 0;
}
