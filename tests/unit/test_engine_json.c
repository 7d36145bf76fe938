/*
 * test_engine_json.c — cairn__json_dump(), the engine's canonical JSON, is
 * byte for byte jansson's json_dumpb(JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY), which wrote every state before it: hand-picked values
 * (every control character, escapes, UTF-8 of every length and its
 * boundaries, integer and real edge cases, nested empties, keys that sort
 * by bytes, large objects), seeded random documents, and every state of
 * random walks over the shipped example definitions. Where the fast writer
 * leaves a value to jansson (invalid UTF-8, very deep nesting, a cycle) the
 * result must still be jansson's; everywhere else the fast writer must have
 * written it itself, so that the comparison is not vacuous.
 *
 * CAIRN_JSON_DOCS (default 20000) and CAIRN_JSON_SEED (default 1) control
 * the random documents; a failure prints the seed and document number.
 */
#include <float.h>
#include <math.h>

#include "internal.h"
#include "test_engine_helpers.h"


/* jansson's text of v (malloc'd) or NULL if jansson cannot dump it. */
static char *ref_dump(const json_t *v, size_t *lenp) {
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    size_t n = json_dumpb(v, NULL, 0, flags);
    char *buf;
    *lenp = 0;
    if (!n)
        return NULL;
    buf = malloc(n + 1);
    assert_non_null(buf);
    assert_int_equal(json_dumpb(v, buf, n, flags), n);
    buf[n] = '\0';
    *lenp = n;
    return buf;
}

/* Prints up to 300 bytes of s with non-printable bytes as \xNN. */
static const char *show(const char *s, size_t n) {
    static char out[2][1300];
    static int k;
    char *o = out[k ^= 1];
    size_t w = 0;
    if (!s)
        return "(null)";
    for (size_t i = 0; i < n && i < 300; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F)
            o[w++] = (char)c;
        else
            w += (size_t)snprintf(o + w, 5, "\\x%02X", c);
    }
    o[w] = '\0';
    return o;
}

/* Who must write a value: the fast writer, jansson, or nobody (both fail). */
enum { FAST, JANSSON, NEITHER };

/*
 * Asserts that cairn__json_dump(v) gives jansson's bytes (or fails where
 * jansson fails), and that the fast writer did the work itself (FAST), left
 * v to jansson (JANSSON) or failed as jansson does (NEITHER).
 */
static void same(const json_t *v, int path, const char *what) {
    size_t rlen, len = 0, flen = 0;
    int unsupported = -1;
    char *ref = ref_dump(v, &rlen);
    char *got = cairn__json_dump(v, &len);
    char *fast = cairn__json_dump_fast(v, &flen, &unsupported);
    if (path == FAST && !fast)
        fail_msg("%s: the fast writer refused it (unsupported=%d); "
                 "jansson: %s",
                 what, unsupported, show(ref, rlen));
    if (path == JANSSON && (fast || unsupported != 1))
        fail_msg("%s: expected the fast writer to leave it to jansson", what);
    if (path == NEITHER && (fast || unsupported != 0 || ref))
        fail_msg("%s: expected every writer to fail", what);
    if (!ref) {
        if (got)
            fail_msg("%s: jansson fails, cairn__json_dump gave %s", what,
                     show(got, len));
    } else if (!got || len != rlen || memcmp(got, ref, rlen) ||
               got[len] != '\0') {
        fail_msg("%s: differs\n  jansson: %s\n  cairn:   %s", what,
                 show(ref, rlen), show(got, len));
    }
    if (fast && (!ref || flen != rlen || memcmp(fast, ref, rlen)))
        fail_msg("%s: fast writer differs\n  jansson: %s\n  fast:    %s",
                 what, show(ref, rlen), show(fast, flen));
    free(ref);
    free(got);
    free(fast);
}

/* same() of a value built for the call (reference stolen). */
static void same_new(json_t *v, int path, const char *what) {
    assert_non_null(v);
    same(v, path, what);
    json_decref(v);
}

/* Appends the UTF-8 encoding of cp to buf at *n. */
static void utf8_put(char *buf, size_t *n, uint32_t cp) {
    unsigned char *p = (unsigned char *)buf + *n;
    if (cp < 0x80) {
        p[0] = (unsigned char)cp;
        *n += 1;
    } else if (cp < 0x800) {
        p[0] = (unsigned char)(0xC0 | (cp >> 6));
        p[1] = (unsigned char)(0x80 | (cp & 0x3F));
        *n += 2;
    } else if (cp < 0x10000) {
        p[0] = (unsigned char)(0xE0 | (cp >> 12));
        p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (unsigned char)(0x80 | (cp & 0x3F));
        *n += 3;
    } else {
        p[0] = (unsigned char)(0xF0 | (cp >> 18));
        p[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        p[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        p[3] = (unsigned char)(0x80 | (cp & 0x3F));
        *n += 4;
    }
}

static const uint32_t BOUNDARY_CPS[] = {
    0x00,   0x01,   0x08,    0x09,    0x0A,    0x0C,    0x0D,   0x1F,
    0x20,   0x22,   0x2F,    0x5C,    0x7E,    0x7F,    0x80,   0xA0,
    0xE9,   0xFF,   0x7FF,   0x800,   0x2028,  0x2029,  0xD7FF, 0xE000,
    0xFEFF, 0xFFFD, 0xFFFE,  0xFFFF,  0x10000, 0x1D11E, 0x1F600,
    0xFFFFF, 0x100000, 0x10FFFF};
#define N_BOUNDARY (sizeof(BOUNDARY_CPS) / sizeof(BOUNDARY_CPS[0]))

/* A random valid code point, weighted towards what needs care. */
static uint32_t random_cp(void) {
    uint32_t cp;
    switch (pick(8)) {
    case 0: return (uint32_t)pick(0x20);                   /* control */
    case 1: return "\"\\/\x7f"[pick(4)];                   /* specials */
    case 2: return BOUNDARY_CPS[pick((int)N_BOUNDARY)];
    case 3: return 0x80 + (uint32_t)pick(0x800 - 0x80);    /* 2 bytes */
    case 4:
        do
            cp = 0x800 + (uint32_t)pick(0x10000 - 0x800); /* 3 bytes */
        while (cp >= 0xD800 && cp <= 0xDFFF);
        return cp;
    case 5: return 0x10000 + (uint32_t)pick(0x100000);     /* 4 bytes */
    default: return 0x20 + (uint32_t)pick(0x5F);           /* printable */
    }
}

/*
 * Writes the UTF-8 of up to max random code points into buf (4 * max + 1
 * bytes) and returns its length. Keys mostly use a small alphabet, so that
 * they share prefixes.
 */
static size_t random_text(char *buf, int max, int key_like) {
    size_t n = 0;
    int len = pick(max + 1);
    for (int i = 0; i < len; i++) {
        uint32_t cp = key_like && pick(4) ? (uint32_t)"ab\x7f"[pick(3)]
                                          : random_cp();
        utf8_put(buf, &n, cp);
    }
    buf[n] = '\0';
    return n;
}

static json_int_t random_int(void) {
    static const json_int_t edge[] = {
        0,          1,           -1,          9,           10,
        -10,        99,          100,         12345,       -98765,
        INT32_MAX,  INT32_MIN,   (json_int_t)INT32_MAX + 1,
        INT64_MAX,  INT64_MIN,   INT64_MIN + 1,           INT64_MAX - 1,
        1000000000000000000LL,   -1000000000000000000LL,
        999999999999999999LL,    9007199254740993LL};
    switch (pick(3)) {
    case 0: return edge[pick((int)(sizeof(edge) / sizeof(edge[0])))];
    case 1: return (json_int_t)next_rand();
    default: return (json_int_t)(next_rand() % 2000) - 1000;
    }
}

static double random_real(void) {
    static const double edge[] = {
        0.0,  -0.0,   0.1,   0.5,    1.0,     -1.0,     2.5,   100.0,
        1e15, 1e16,   1e17,  1e21,   1e22,    1e-5,     1e-7,  123.456,
        1.0 / 3.0,    2.0 / 3.0,     DBL_MAX, -DBL_MAX, DBL_MIN, 5e-324,
        9007199254740993.0,          0.30000000000000004, 1e300, -1e-300};
    double d;
    switch (pick(3)) {
    case 0: return edge[pick((int)(sizeof(edge) / sizeof(edge[0])))];
    case 1:
        do {
            uint64_t bits = next_rand();
            memcpy(&d, &bits, sizeof(d));
        } while (!isfinite(d));
        return d;
    default: return (double)((int64_t)(next_rand() % 200000) - 100000) / 64.0;
    }
}

static json_t *random_value(int depth) {
    char buf[256];
    size_t n;
    int kind = pick(depth >= 5 ? 6 : 9);
    switch (kind) {
    case 0: return json_null();
    case 1: return json_true();
    case 2: return json_false();
    case 3: return json_integer(random_int());
    case 4: return json_real(random_real());
    case 5:
        n = random_text(buf, 12, 0);
        return json_stringn(buf, n);
    case 6: {
        json_t *a = json_array();
        int len = pick(6);
        for (int i = 0; i < len; i++)
            assert_int_equal(json_array_append_new(a, random_value(depth + 1)),
                             0);
        return a;
    }
    default: {
        json_t *o = json_object();
        int len = pick(10) == 0 ? 33 + pick(40) : pick(9);
        for (int i = 0; i < len; i++) {
            n = random_text(buf, pick(3) ? 4 : 10, pick(3));
            if (!pick(20)) { /* a key with a NUL byte inside */
                buf[n++] = '\0';
                buf[n++] = 'x';
            }
            assert_int_equal(
                json_object_setn_new(o, buf, n, random_value(depth + 1)), 0);
        }
        return o;
    }
    }
}

/* ---- hand-picked values ------------------------------------------------ */

static void test_scalars(void **state) {
    (void)state;
    char what[64];
    same_new(json_null(), FAST, "null");
    same_new(json_true(), FAST, "true");
    same_new(json_false(), FAST, "false");
    same(NULL, NEITHER, "NULL value");
    rng = 7;
    for (int i = 0; i < 2000; i++) {
        json_int_t v = random_int();
        snprintf(what, sizeof(what), "integer %lld", (long long)v);
        same_new(json_integer(v), FAST, what);
    }
    for (int k = 0; k < 19; k++) {
        json_int_t p = 1;
        for (int j = 0; j < k; j++)
            p *= 10;
        json_int_t v[] = {p, p - 1, -p, -(p - 1), p + 1};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            snprintf(what, sizeof(what), "integer %lld", (long long)v[i]);
            same_new(json_integer(v[i]), FAST, what);
        }
    }
    for (int i = 0; i < 5000; i++) {
        double d = random_real();
        snprintf(what, sizeof(what), "real %.17g", d);
        same_new(json_real(d), FAST, what);
    }
}

static void test_strings(void **state) {
    (void)state;
    char buf[1024], what[64];
    size_t n = 0;
    /* Every byte below 0x80 alone, then all of them in one string. */
    for (int c = 0; c < 0x80; c++) {
        char s[1] = {(char)c};
        snprintf(what, sizeof(what), "string of byte 0x%02X", c);
        same_new(json_stringn(s, 1), FAST, what);
        buf[n++] = (char)c;
    }
    same_new(json_stringn(buf, n), FAST, "bytes 0x00-0x7F");
    same_new(json_string(""), FAST, "empty string");
    same_new(json_string("a/b\\c\"d\b\f\n\r\te\x1f\x7f"), FAST, "escapes");
    /* Code points at every boundary, alone and together. */
    n = 0;
    for (size_t i = 0; i < N_BOUNDARY; i++) {
        size_t m = 0;
        char one[8];
        utf8_put(one, &m, BOUNDARY_CPS[i]);
        snprintf(what, sizeof(what), "U+%04X", (unsigned)BOUNDARY_CPS[i]);
        same_new(json_stringn(one, m), FAST, what);
        utf8_put(buf, &n, BOUNDARY_CPS[i]);
    }
    same_new(json_stringn(buf, n), FAST, "boundary code points");
    same_new(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xe6\x97"
                         "\xa5\xe6\x9c\xac"),
             FAST, "mixed UTF-8");
    /* Longer than the writer's first buffer, with escapes throughout. */
    size_t big = 200000;
    char *s = malloc(big);
    assert_non_null(s);
    for (size_t i = 0; i < big; i++)
        s[i] = "ab\"\\\n\x01/\xc3\xa9"[i % 9];
    s[big - 1] = 'x'; /* not half of a sequence */
    s[big - 2] = 'x';
    json_t *v = json_stringn(s, big);
    same(v, FAST, "200 kB string");
    json_t *arr = json_pack("[O,O,{s:O}]", v, v, "k", v);
    same_new(arr, FAST, "the 200 kB string three times");
    json_decref(v);
    free(s);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    static const char *const bad[] = {
        "\xff",         "\x80",         "a\xbf",         "\xc0\x80",
        "\xc1\xbf",     "\xc2",         "\xc2\x41",      "\xe0\x80\x80",
        "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",  "\xe2\x82",
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "ok\xfe"};
    char what[64];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(what, sizeof(what), "invalid UTF-8 #%zu value", i);
        /* jansson fails the dump: so must we. */
        json_t *v = json_stringn_nocheck(bad[i], strlen(bad[i]));
        same(v, JANSSON, what);
        json_t *o = json_pack("{s:i, s:O}", "a", 1, "b", v);
        same_new(o, JANSSON, what);
        json_decref(v);
        /* In a key jansson writes a cut string and goes on: so must we. */
        snprintf(what, sizeof(what), "invalid UTF-8 #%zu key", i);
        o = json_pack("{s:i, s:i}", "a", 1, "zz", 2);
        assert_int_equal(
            json_object_set_new_nocheck(o, bad[i], json_string("v")), 0);
        same_new(o, JANSSON, what);
    }
}

static void test_containers(void **state) {
    (void)state;
    same_new(json_array(), FAST, "[]");
    same_new(json_object(), FAST, "{}");
    same_new(json_pack("[[],{},[[]],[{}],{s:{}},{s:[[],{},[]]}]", "a", "b"),
             FAST, "nested empties");
    same_new(json_pack("{s:[], s:{}, s:{s:{s:[]}}}", "", "x", "y", "z", "w"),
             FAST, "empty containers under keys");
    /* Keys ordered by bytes (unsigned), prefixes first, NUL bytes inside. */
    json_t *o = json_object();
    static const char *const keys[] = {
        "b",  "a",   "ab",  "aa",   "",     "A",      "Z",    "_",
        "\x7f", "\xc3\xa9", "z", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "a b",
        "a\"", "a\\", "a\n", "\x01", "\x1f", "/"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(json_object_set_new(o, keys[i], json_integer((int)i)),
                         0);
    assert_int_equal(json_object_setn_new(o, "a\0b", 3, json_integer(100)), 0);
    assert_int_equal(json_object_setn_new(o, "a\0", 2, json_integer(101)), 0);
    assert_int_equal(json_object_setn_new(o, "\0", 1, json_integer(102)), 0);
    same_new(o, FAST, "keys by bytes");
    /* Objects of 1..200 keys in random insertion order (both sorts). */
    rng = 99;
    for (int n = 1; n <= 200; n += n < 40 ? 1 : 23) {
        char key[32], what[64];
        o = json_object();
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "k%d", pick(1000));
            json_object_set_new(o, key, json_integer(i));
        }
        snprintf(what, sizeof(what), "object of %d inserts", n);
        same_new(o, FAST, what);
    }
    /* An object whose members are in order already, and in reverse. */
    o = json_object();
    json_t *r = json_object();
    for (int i = 0; i < 64; i++) {
        char key[8];
        snprintf(key, sizeof(key), "%02d", i);
        json_object_set_new(o, key, json_integer(i));
        snprintf(key, sizeof(key), "%02d", 63 - i);
        json_object_set_new(r, key, json_integer(i));
    }
    same_new(o, FAST, "sorted insertion");
    same_new(r, FAST, "reversed insertion");
    /* The same value twice (not a cycle). */
    json_t *shared = json_pack("{s:[i,i]}", "x", 1, 2);
    same_new(json_pack("[O,O,{s:O,s:O}]", shared, shared, "a", shared, "b",
                       shared),
             FAST, "shared value");
    json_decref(shared);
}

static void test_depth_and_cycles(void **state) {
    (void)state;
    /* Deep, but within the fast writer's depth: done by it. */
    json_t *v = json_integer(1);
    for (int i = 0; i < 1000; i++)
        v = i % 2 ? json_pack("[o]", v) : json_pack("{s:o}", "k", v);
    same(v, FAST, "1000 levels");
    /* Deeper: left to jansson, same bytes. */
    for (int i = 0; i < 1100; i++)
        v = i % 2 ? json_pack("[o]", v) : json_pack("{s:o}", "k", v);
    same_new(v, JANSSON, "2100 levels");
    /* A cycle: jansson fails, so must we. */
    json_t *a = json_array(), *o = json_object();
    json_array_append(a, o);
    json_object_set(o, "a", a);
    same(a, JANSSON, "cycle");
    same(o, JANSSON, "cycle from the object");
    json_object_del(o, "a"); /* break it, to free both */
    json_decref(o);
    json_decref(a);
}

/* ---- random documents ---------------------------------------------------- */

static void test_random_documents(void **state) {
    (void)state;
    const char *e = getenv("CAIRN_JSON_DOCS");
    int docs = e ? atoi(e) : 20000;
    e = getenv("CAIRN_JSON_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 10) : 1;
    size_t bytes = 0;
    for (int i = 0; i < docs; i++) {
        char what[96];
        rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
        json_t *v = random_value(pick(4) ? 0 : 4);
        snprintf(what, sizeof(what), "seed %llu document %d",
                 (unsigned long long)seed, i);
        same(v, FAST, what);
        bytes += json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS |
                                            JSON_ENCODE_ANY);
        json_decref(v);
    }
    print_message("random documents: %d, %zu bytes\n", docs, bytes);
}

/* ---- the validator (cairn__json_valid) ------------------------------------ */

/* Whether jansson's parser, as the codec used it, takes text[0..n). */
static int jansson_takes(const char *text, size_t n) {
    json_error_t jerr;
    json_t *v = json_loadb(text, n, JSON_DECODE_ANY, &jerr);
    json_decref(v);
    return v != NULL;
}

static void agree(const char *text, size_t n, const char *what) {
    char why[200] = "";
    int mine = cairn__json_valid(text, n, why, sizeof(why));
    if (mine != jansson_takes(text, n))
        fail_msg("%s: validator says %d (%s), jansson %d: %s", what, mine,
                 why, !mine, show(text, n));
    if (!mine)
        assert_non_null(strstr(why, "at offset"));
}

static void test_validator_cases(void **state) {
    (void)state;
    static const char *const cases[] = {
        "0", "-0", "1", "-1", "01", "1.", ".5", "1.5", "1e5", "1E+5", "1e-5",
        "1e", "-", "+1", "1.5e400", "-1e400", "1e-400", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "123456789012345678901234567890",
        "123456789012345678901234567890.5", "true", "false", "null", "tru",
        "nul", "truex", "\"\"", "\"a\"", "\"\\u0000\"", "\"\\u0041\"",
        "\"\\uD83D\\uDE00\"", "\"\\uD83D\"", "\"\\uDE00\"",
        "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"", "\"\\u12\"", "\"\\x\"",
        "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", "\"\x01\"", "\"\x7f\"",
        "\"unterminated", "[]", "[1,2]", "[1,]", "[,1]", "[1 2]", "{}",
        "{\"a\":1}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":}", "{1:2}",
        "{\"a\":1,\"a\":2}", "{\"\\u0000\":1}", " \t\n\r1 \n", "1 2",
        "[1]]", "", " ", "[", "{", "\"", "[\"a\",{\"b\":[null,true]}]",
        "\xc3\xa9", "\"\xc3\xa9\"", "\"\xe2\x82\xac\"",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[32];
        snprintf(what, sizeof(what), "case %zu", i);
        agree(cases[i], strlen(cases[i]), what);
    }
    /* Nesting: jansson's limit is 2048 levels. */
    for (int depth = 2046; depth <= 2050; depth++) {
        char *t = malloc(2 * (size_t)depth + 1);
        assert_non_null(t);
        memset(t, '[', (size_t)depth);
        memset(t + depth, ']', (size_t)depth);
        agree(t, 2 * (size_t)depth, "deep array");
        free(t);
    }
    /* The length bounds the text: what follows it is never read. */
    char why[200];
    assert_int_equal(cairn__json_valid("[1]xyz", 3, why, sizeof(why)), 1);
    assert_int_equal(cairn__json_valid("tru", 3, why, sizeof(why)), 0);
    assert_int_equal(cairn__json_valid("\"ab\"", 3, why, sizeof(why)), 0);
}

/* Random documents, dumped and then damaged at ASCII bytes with ASCII
 * bytes (so that the text stays UTF-8 without NUL, as the codec hands it
 * over): the validator and jansson take the same texts. */
static void test_validator_mutations(void **state) {
    (void)state;
    static const char *const bits[] = {
        "{", "}", "[", "]", "\"", ":", ",", ".", "-", "+", "e", "E", "0", "1",
        "9", " ", "\n", "\\", "\\u", "\\u0000", "\\uD800", "\\uDC00",
        "\\n", "t", "true", "null", "1e999", "-1e999", "99999999999999999999",
        "\x01", "x",
    };
    const char *e = getenv("CAIRN_JSON_DOCS");
    int docs = e ? atoi(e) : 20000;
    size_t taken = 0, refused = 0;
    for (int i = 0; i < docs; i++) {
        char what[64];
        rng = 0xC0FFEEull * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
        json_t *v = random_value(pick(3) ? 1 : 4);
        char *t = json_dumps(v, JSON_ENCODE_ANY |
                                    (pick(2) ? JSON_COMPACT : JSON_INDENT(1)));
        json_decref(v);
        if (!t)
            continue; /* jansson cannot dump it (a NUL in a key) */
        size_t n = strlen(t), cap = n + 64;
        t = realloc(t, cap);
        assert_non_null(t);
        snprintf(what, sizeof(what), "document %d as dumped", i);
        agree(t, n, what);
        int k = pick(4);
        for (int m = 0; m < k && n; m++) {
            size_t at = (size_t)pick((int)n);
            if ((unsigned char)t[at] >= 0x80)
                continue;
            const char *b = bits[pick((int)(sizeof(bits) / sizeof(bits[0])))];
            size_t bl = strlen(b);
            switch (pick(3)) {
            case 0: /* delete */
                memmove(t + at, t + at + 1, n - at);
                n--;
                break;
            case 1: /* replace one byte */
                if (n + bl >= cap)
                    break;
                memmove(t + at + bl, t + at + 1, n - at);
                memcpy(t + at, b, bl);
                n += bl - 1;
                break;
            default: /* insert */
                if (n + bl >= cap)
                    break;
                memmove(t + at + bl, t + at, n - at + 1);
                memcpy(t + at, b, bl);
                n += bl;
            }
            t[n] = '\0';
        }
        snprintf(what, sizeof(what), "document %d after %d changes", i, k);
        agree(t, n, what);
        if (jansson_takes(t, n))
            taken++;
        else
            refused++;
        free(t);
    }
    /* Both kinds must be plentiful for the comparison to mean anything. */
    assert_true(taken > (size_t)docs / 10);
    assert_true(refused > (size_t)docs / 10);
    print_message("validator: %zu texts taken, %zu refused, all as jansson\n",
                  taken, refused);
}

/* ---- engine states --------------------------------------------------------- */


/* User JSON with everything the state must carry exactly. */
static const char *const VALUES[] = {
    NULL,
    "{}",
    "{\"order_id\":\"o-1\",\"amount\":20,\"items\":[\"sku-1\"],"
    "\"address\":\"Oslo\"}",
    "{\"order_id\":\"o-2\",\"amount\":5000,\"items\":[],\"address\":"
    "\"Troms\\u00f8 \\u2603 \\ud834\\udd1e\"}",
    "{\"ok\":true,\"n\":1.5,\"s\":\"caf\\u00e9 \\\"q\\\" \\\\ / "
    "\\u0001\\u001f\\t\\n\\u007f\"}",
    "{\"big\":9223372036854775807,\"neg\":-9223372036854775808,"
    "\"r\":1e300,\"z\":-0.0,\"t\":0.1,\"e\":[],\"o\":{}}",
    "[1,2.25,\"x\",null,true,false,{\"b\":1,\"a\":2,\"\":3,\"\\u0000\":4}]",
    "\"just a string\"",
    "{\"approved\":true,\"by\":\"boss\",\"reason\":\"\\u00e9\"}",
    "{\"approved\":false,\"by\":\"b\\\\oss\",\"reason\":\"busy\"}",
    "{\"payment_id\":\"p1\",\"reservation_id\":\"r1\",\"tracking\":\"T\"}",
    "{\"items\":[{\"sku\":\"a\",\"n\":1},{\"sku\":\"b\",\"n\":2}],"
    "\"done\":false,\"more\":true}",
    "12345678901234567",
    "-0.000001"};
#define N_VALUES ((int)(sizeof(VALUES) / sizeof(VALUES[0])))

static const char *const SIGNALS[] = {"approve", "decision", "reject", "go",
                                      "other"};

static cairn_event_t walk_input(const cairn_wf_t *wf, const char *id,
                                const char *type, int64_t t,
                                char bufs[3][256]) {
    cairn_event_t in = {0};
    int r = pick(100);
    in.workflow_id = S(id);
    in.time_ms = t;
    if (cairn_wf_activity_count(wf) && r < 55) {
        const char *aid, *kind;
        int32_t attempt;
        cairn_wf_activity_at(wf, (size_t)pick((int)cairn_wf_activity_count(wf)),
                             &aid, &kind, &attempt);
        snprintf(bufs[0], 256, "%s", aid);
        in.activity_id = bufs[0];
        in.attempt = attempt;
        if (pick(5)) {
            in.type = CAIRN_EV_ACTIVITY_COMPLETED;
            in.result = S(VALUES[pick(N_VALUES)]);
        } else {
            in.type = CAIRN_EV_ACTIVITY_FAILED;
            in.error_type = S("E\xc3\xa9");
            in.error_message = S("m \"q\" \\ \n");
            in.non_retryable = pick(3) == 0;
        }
        return in;
    }
    if (cairn_wf_timer_count(wf) && r < 75) {
        const char *tid;
        int64_t gen, at;
        cairn_wf_timer_at(wf, (size_t)pick((int)cairn_wf_timer_count(wf)),
                          &tid, &gen, &at);
        snprintf(bufs[1], 256, "%s", tid);
        in.type = CAIRN_EV_TIMER_FIRED;
        in.timer_id = bufs[1];
        in.generation = gen;
        in.fire_at_ms = at;
        in.time_ms = at > t ? at : t;
        return in;
    }
    snprintf(bufs[2], 256, "q%d", pick(1000));
    in.request_id = bufs[2];
    r = pick(100);
    if (r < 80) {
        in.type = CAIRN_EV_SIGNAL_WORKFLOW;
        in.signal_name = S(SIGNALS[pick(5)]);
        in.payload = S(VALUES[pick(N_VALUES)]);
    } else if (r < 88) {
        in.type = CAIRN_EV_START_WORKFLOW;
        in.workflow_type = S(type);
        in.start_policy = S("terminate_existing");
        in.input = S(VALUES[pick(N_VALUES)]);
    } else if (r < 95) {
        in.type = CAIRN_EV_CANCEL_WORKFLOW;
        in.reason = S("r\xc3\xa9");
    } else {
        in.type = CAIRN_EV_TERMINATE_WORKFLOW;
    }
    return in;
}

/* The state, the variables and the JSON texts of the outputs. */
static void check_step(const cairn_wf_t *wf, const cairn_outputs_t *out,
                       const char *what) {
    same(wf->doc, FAST, what);
    same(json_object_get(wf->doc, "vars"), FAST, what);
    char *vars = cairn_wf_vars_json(wf);
    size_t rlen;
    char *ref = ref_dump(json_object_get(wf->doc, "vars"), &rlen);
    assert_non_null(vars);
    assert_string_equal(vars, ref);
    free(vars);
    free(ref);
    /* Texts the engine dumps: as jansson would re-dump them. */
    for (size_t i = 0; i < out->n; i++) {
        const cairn_event_t *ev = &out->v[i].ev;
        const char *text = ev->type == CAIRN_EV_ACTIVITY_TASK ? ev->input
                           : ev->type == CAIRN_EV_WORKFLOW_COMPLETED
                               ? ev->result
                               : NULL;
        if (!text)
            continue;
        json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        ref = ref_dump(v, &rlen);
        if (!ref || strcmp(ref, text))
            fail_msg("%s: output %s is not canonical: %s", what,
                     cairn_event_type_name(ev->type), text);
        free(ref);
        json_decref(v);
    }
}

static void test_engine_states(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(NULL);
    for (const char *const *f = EXAMPLE_DEFS; *f; f++) {
        char *json = slurp(*f);
        reg_add(reg, json);
        free(json);
    }
    size_t steps = 0;
    for (size_t d = 0; d < cairn_registry_count(reg); d++) {
        const cairn_def_t *def = cairn_registry_at(reg, d);
        const char *type = cairn_def_type(def);
        /* The canonical definition text is a dump too. */
        char *canon = cairn_def_to_json(def);
        json_t *cv = json_loads(canon, 0, NULL);
        size_t rlen;
        char *ref = ref_dump(cv, &rlen);
        assert_string_equal(canon, ref);
        free(ref);
        free(canon);
        json_decref(cv);
        for (int w = 0; w < 40; w++) {
            cairn_wf_t *wf = NULL;
            cairn_outputs_t out;
            char id[64], bufs[3][256], what[128];
            int64_t t = 1700000000000;
            rng = (uint64_t)(d + 1) * 7919 + (uint64_t)w + 1;
            snprintf(id, sizeof(id), "w-%d-\xc3\xa9", w);
            cairn_outputs_init(&out);
            cairn_event_t in = ev_start(id, "start", type,
                                        VALUES[pick(N_VALUES)], t);
            for (int s = 0; s < 40; s++) {
                step_ok(reg, &wf, &in, &out);
                steps++;
                if (!wf)
                    break;
                snprintf(what, sizeof(what), "%s walk %d step %d", type, w,
                         s);
                check_step(wf, &out, what);
                t += 1 + pick(5000);
                in = walk_input(wf, id, type, t, bufs);
                if (in.time_ms > t)
                    t = in.time_ms;
            }
            cairn_outputs_free(&out);
            cairn_wf_destroy(wf);
        }
    }
    print_message("engine states: %zu steps over %zu definitions\n", steps,
                  cairn_registry_count(reg));
    cairn_registry_destroy(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_depth_and_cycles),
        cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_validator_cases),
        cmocka_unit_test(test_validator_mutations),
        cmocka_unit_test(test_engine_states),
    };
    return cmocka_run_group_tests_name("engine_json", tests, NULL, NULL);
}
