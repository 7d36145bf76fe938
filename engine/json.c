/*
 * json.c — parsing of user JSON (inputs, payloads, results) that tells bad
 * input from out-of-memory.
 *
 * jansson reports an allocation failure inside its lexer as a syntax error,
 * and the engine must never reject a valid input because memory ran short
 * (a replica with more memory would accept it: divergence). So a failed
 * parse is classified with an allocation-free RFC 8259 syntax check: text
 * that is syntactically valid but was refused for a reason other than a
 * semantic one (duplicate key, numeric overflow, nesting depth, NUL
 * character, invalid UTF-8) failed for lack of memory.
 *
 * The same scanner, strict, is cairn__json_valid(): whether jansson would
 * take a text, decided without building it, for the codec's checks of the
 * JSON a record carries (tests/unit/test_engine_json.c compares the two on
 * hand-picked and on randomly damaged texts).
 *
 * Dumping has the same trap (see dump_jansson()). All canonical JSON the
 * engine writes — states, outputs, definitions — goes through
 * cairn__json_dump(), which writes jansson's exact bytes itself, faster.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

/*
 * The scanner reads [p, end); the text holds no NUL (callers check), so
 * cur() returning 0 at the end stands for the terminator. strict adds what
 * jansson refuses beyond the syntax: a \u0000 escape, an integer outside
 * int64, a real that overflows a double.
 */
typedef struct {
    const unsigned char *p, *start, *end;
    int depth;
    int strict;
    const char *why;           /* the first failure's reason */
    const unsigned char *at;   /* and where */
} scan_t;

static unsigned char cur(const scan_t *s) { return s->p < s->end ? *s->p : 0; }

static int fail(scan_t *s, const char *why) {
    if (!s->why) {
        s->why = why;
        s->at = s->p;
    }
    return 0;
}

static void ws(scan_t *s) {
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int value(scan_t *s);

/* Reads the 4 hex digits of a \\u escape; -1 if malformed. */
static long hex4(scan_t *s) {
    long v = 0;
    for (int i = 0; i < 4; i++, s->p++) {
        unsigned char c = cur(s);
        if (c >= '0' && c <= '9')
            v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + (c - 'A' + 10);
        else
            return -1;
    }
    return v;
}

/* A string; like jansson, refuses unpaired UTF-16 surrogate escapes. */
static int string(scan_t *s) {
    s->p++; /* opening quote */
    for (;;) {
        unsigned char c = cur(s);
        if (!c)
            return fail(s, "unterminated string");
        if (c < 0x20)
            return fail(s, "control character in a string");
        s->p++;
        if (c == '"')
            return 1;
        if (c != '\\')
            continue;
        c = cur(s);
        s->p++;
        if (c == 'u') {
            long u = hex4(s);
            if (u < 0)
                return fail(s, "invalid \\u escape");
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(s, "unpaired surrogate escape");
            if (u == 0 && s->strict)
                return fail(s, "\\u0000 is not allowed");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (cur(s) != '\\' || s->p + 1 >= s->end || s->p[1] != 'u')
                    return fail(s, "unpaired surrogate escape");
                s->p += 2;
                u = hex4(s);
                if (u < 0xDC00 || u > 0xDFFF)
                    return fail(s, "unpaired surrogate escape");
            }
        } else if (!c || !strchr("\"\\/bfnrt", c)) {
            return fail(s, "invalid escape");
        }
    }
}

static int digits(scan_t *s) {
    const unsigned char *start = s->p;
    while (cur(s) >= '0' && cur(s) <= '9')
        s->p++;
    return s->p > start;
}

/* Whether jansson takes the number [b, e) (strict): an integer must fit an
 * int64 (json_strtoint), a real must not overflow a double (strtod). */
static int number_fits(const unsigned char *b, const unsigned char *e,
                       int real) {
    if (!real) {
        int neg = *b == '-';
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
        for (const unsigned char *q = b + neg; q < e; q++) {
            if (v > (lim - (uint64_t)(*q - '0')) / 10)
                return 0;
            v = v * 10 + (uint64_t)(*q - '0');
        }
        return 1;
    }
    char small[64], *buf = small;
    size_t n = (size_t)(e - b);
    if (n >= sizeof(small) && !(buf = malloc(n + 1)))
        return 1; /* cannot tell without memory: the parse will */
    memcpy(buf, b, n);
    buf[n] = '\0';
    errno = 0;
    double d = strtod(buf, NULL);
    int ok = !(errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL));
    if (buf != small)
        free(buf);
    return ok;
}

static int number(scan_t *s) {
    const unsigned char *b = s->p;
    int real = 0;
    if (cur(s) == '-')
        s->p++;
    if (cur(s) == '0')
        s->p++;
    else if (!digits(s))
        return fail(s, "invalid value");
    if (cur(s) == '.') {
        s->p++;
        real = 1;
        if (!digits(s))
            return fail(s, "invalid number");
    }
    if (cur(s) == 'e' || cur(s) == 'E') {
        s->p++;
        real = 1;
        if (cur(s) == '+' || cur(s) == '-')
            s->p++;
        if (!digits(s))
            return fail(s, "invalid number");
    }
    if (s->strict && !number_fits(b, s->p, real)) {
        s->p = b;
        return fail(s, real ? "real number overflow" : "integer too big");
    }
    return 1;
}

static int word(scan_t *s, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
        return fail(s, "invalid value");
    s->p += n;
    return 1;
}

static int container(scan_t *s, char close) {
    if (++s->depth > MAX_DEPTH)
        return fail(s, "nested deeper than 2048");
    s->p++;
    ws(s);
    if (cur(s) == close) {
        s->p++;
        s->depth--;
        return 1;
    }
    for (;;) {
        ws(s);
        if (close == '}') {
            if (cur(s) != '"')
                return fail(s, "string or '}' expected");
            if (!string(s))
                return 0;
            ws(s);
            if (cur(s) != ':')
                return fail(s, "':' expected");
            s->p++;
        }
        if (!value(s))
            return 0;
        ws(s);
        if (cur(s) == ',') {
            s->p++;
            continue;
        }
        if (cur(s) != close)
            return fail(s, close == '}' ? "',' or '}' expected"
                                        : "',' or ']' expected");
        s->p++;
        s->depth--;
        return 1;
    }
}

static int value(scan_t *s) {
    ws(s);
    switch (cur(s)) {
    case '{': return container(s, '}');
    case '[': return container(s, ']');
    case '"': return string(s);
    case 't': return word(s, "true");
    case 'f': return word(s, "false");
    case 'n': return word(s, "null");
    case 0: return fail(s, "unexpected end of input");
    default: return number(s);
    }
}

static int scan(scan_t *s) {
    if (!value(s))
        return 0;
    ws(s);
    return cur(s) == '\0' ? 1 : fail(s, "end of input expected");
}

/*
 * 1 if text is one syntactically valid JSON value (RFC 8259) that jansson's
 * lexer accepts too (paired surrogate escapes).
 */
int cairn__json_syntax_ok(const char *text) {
    size_t n = strlen(text);
    scan_t s = {(const unsigned char *)text, (const unsigned char *)text,
                (const unsigned char *)text + n, 0, 0, NULL, NULL};
    return scan(&s);
}

int cairn__json_valid(const char *text, size_t n, char *why, size_t whysz) {
    scan_t s = {(const unsigned char *)text, (const unsigned char *)text,
                (const unsigned char *)text + n, 0, 1, NULL, NULL};
    if (scan(&s))
        return 1;
    snprintf(why, whysz, "%s (at offset %zu)", s.why,
             (size_t)(s.at - s.start));
    return 0;
}

json_t *cairn__json_parse(const char *text, int *oom, char *why,
                          size_t whysz) {
    json_error_t jerr;
    json_t *v;
    *oom = 0;
    memset(&jerr, 0, sizeof(jerr)); /* not every failure sets the code */
    v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (v)
        return v;
    if (!jerr.text[0]) { /* only allocation failures leave no message */
        *oom = 1;
        return NULL;
    }
    switch (json_error_code(&jerr)) {
    case json_error_duplicate_key:
    case json_error_numeric_overflow:
    case json_error_stack_overflow:
    case json_error_null_character:
    case json_error_invalid_utf8:
    case json_error_null_byte_in_key: break;
    default:
        if (cairn__json_syntax_ok(text)) {
            *oom = 1;
            return NULL;
        }
    }
    if (jerr.text[0])
        snprintf(why, whysz, "%s", jerr.text);
    else
        snprintf(why, whysz, "syntax error");
    return NULL;
}

int cairn__json_refused_for_memory(const char *data, size_t len,
                                   const json_error_t *jerr) {
    char *copy;
    int ok;
    if (!jerr->text[0]) /* zeroed by the caller; only OOM leaves it empty */
        return 1;
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory: return 1;
    case json_error_duplicate_key:
    case json_error_numeric_overflow:
    case json_error_stack_overflow:
    case json_error_null_character:
    case json_error_invalid_utf8:
    case json_error_null_byte_in_key: return 0;
    default: break;
    }
    if (memchr(data, '\0', len))
        return 0;
    if (!(copy = malloc(len + 1)))
        return 1;
    memcpy(copy, data, len);
    copy[len] = '\0';
    ok = cairn__json_syntax_ok(copy);
    free(copy);
    return ok;
}

/* ---- the canonical dump ------------------------------------------------- */

/*
 * The engine's canonical JSON is jansson 2.14's json_dumpb(v, JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY), byte for byte: replicas on older
 * builds, the shards' determinism check and replay compare these bytes.
 * jansson spends most of that dump on a loop-check hash table entry per
 * container, a sort of (key, length) pairs, a callback per run of
 * characters and snprintf, so the same bytes are written here into one
 * buffer. The rules of jansson's dump.c for these flags:
 *  - a string: '"' and '\\' escaped; control characters as \b \f \n \r \t
 *    or \u00XX (upper-case hex); everything else as is ('/', DEL,
 *    non-ASCII), after a UTF-8 check (jansson's utf8_iterate()). Invalid
 *    UTF-8 fails the dump in a value and cuts the string short in a key;
 *  - object members in key order: memcmp over the shorter key, then the
 *    shorter first (strcmp order for keys without NUL bytes);
 *  - integers as "%lld"; reals as jansson writes them (jsonp_dtostr()), by
 *    jansson itself, one value at a time;
 *  - a container that contains itself fails the dump.
 * What is not reproduced here — invalid UTF-8, and nesting deeper than
 * DUMP_MAX_DEPTH (where a cycle ends up) — is dumped by jansson, whole.
 * tests/unit/test_engine_json.c compares both on many documents.
 */

/* Deeper containers go to jansson (2.15 refuses 2048 levels, 2.14 not). */
#define DUMP_MAX_DEPTH 1024
#define DUMP_INLINE 4096    /* output bytes before the buffer goes to heap */
#define DUMP_INLINE_KEYS 64 /* keys of the open objects, likewise */

/* DUMP_FAIL: out of memory, or a value jansson cannot dump either. */
enum { DUMP_OK = 0, DUMP_FAIL = -1, DUMP_JANSSON = -2 };

typedef struct {
    const char *key;
    size_t len;
    const json_t *val;
} member_t;

/*
 * The output, and a stack of the members of every open object (a parent's
 * members stay below its children's; indices, not pointers, survive the
 * stack's growth). Both start in the caller's frame.
 */
typedef struct {
    char *buf;
    size_t n, cap;
    member_t *mem;
    size_t nmem, capmem;
    char ibuf[DUMP_INLINE];
    member_t imem[DUMP_INLINE_KEYS];
} dump_t;

/* Makes room for more bytes. 0 or DUMP_FAIL. */
static int grow(dump_t *d, size_t more) {
    size_t cap = d->cap * 2;
    char *p;
    if (more > SIZE_MAX / 2 - d->n)
        return DUMP_FAIL;
    if (cap < d->n + more)
        cap = d->n + more;
    if (d->buf == d->ibuf) {
        if (!(p = malloc(cap)))
            return DUMP_FAIL;
        memcpy(p, d->buf, d->n);
    } else if (!(p = realloc(d->buf, cap))) {
        return DUMP_FAIL;
    }
    d->buf = p;
    d->cap = cap;
    return DUMP_OK;
}

static inline int room(dump_t *d, size_t more) {
    return d->cap - d->n >= more ? DUMP_OK : grow(d, more);
}

static inline int put(dump_t *d, const void *p, size_t n) {
    if (room(d, n))
        return DUMP_FAIL;
    memcpy(d->buf + d->n, p, n);
    d->n += n;
    return DUMP_OK;
}

/*
 * Bytes of a string jansson writes as they are: 0; a byte to escape: 1; the
 * first byte of a multi-byte UTF-8 sequence (or an invalid byte): 2.
 */
static const unsigned char byte_class[256] = {
    [0x00 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xFF] = 2};

/* jansson's utf8_check_first() and utf8_check_full(), in one. */
size_t cairn__utf8_seq(const unsigned char *p, size_t n) {
    unsigned char u = p[0];
    size_t len;
    uint32_t v;
    if (u >= 0xC2 && u <= 0xDF) {
        len = 2;
        v = u & 0x1F;
    } else if (u >= 0xE0 && u <= 0xEF) {
        len = 3;
        v = u & 0x0F;
    } else if (u >= 0xF0 && u <= 0xF4) {
        len = 4;
        v = u & 0x07;
    } else {
        return 0; /* a continuation byte, 0xC0, 0xC1 or 0xF5.. */
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ||
        (len == 3 && v < 0x800) || (len == 4 && v < 0x10000))
        return 0; /* (a 2-byte sequence cannot be overlong from 0xC2) */
    return len;
}

static int put_string(dump_t *d, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    if (room(d, len + 2))
        return DUMP_FAIL;
    d->buf[d->n++] = '"';
    while (p < end) {
        const unsigned char *run = p;
        for (;;) {
            while (p < end && !byte_class[*p])
                p++;
            if (p == end || byte_class[*p] == 1)
                break;
            size_t k = cairn__utf8_seq(p, (size_t)(end - p));
            if (!k)
                return DUMP_JANSSON;
            p += k;
        }
        if (put(d, run, (size_t)(p - run)))
            return DUMP_FAIL;
        if (p == end)
            break;
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t n = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default: /* another control character */
            esc[1] = 'u';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xF];
            n = 6;
        }
        if (put(d, esc, n))
            return DUMP_FAIL;
        p++;
    }
    if (room(d, 1))
        return DUMP_FAIL;
    d->buf[d->n++] = '"';
    return DUMP_OK;
}

static int put_integer(dump_t *d, json_int_t i) {
    char tmp[24], *q = tmp + sizeof(tmp);
    long long v = i;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
                                 : (unsigned long long)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    return put(d, q, (size_t)(tmp + sizeof(tmp) - q));
}

/* jansson's own text of a real (its %.17g and fix-ups, its locale care). */
static int put_real(dump_t *d, const json_t *v) {
    enum { MAX_REAL = 128 };
    size_t n;
    if (room(d, MAX_REAL))
        return DUMP_FAIL;
    n = json_dumpb(v, d->buf + d->n, MAX_REAL, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!n) /* jansson cannot write it either (or memory ran out) */
        return DUMP_FAIL;
    if (n > MAX_REAL)
        return DUMP_JANSSON;
    d->n += n;
    return DUMP_OK;
}

/* jansson's compare_keys(). */
static inline int member_cmp(const member_t *a, const member_t *b) {
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int member_qsort_cmp(const void *a, const void *b) {
    return member_cmp(a, b);
}

/* Sorts m[0..n): insertion sort (objects are small and often in order). */
static void sort_members(member_t *m, size_t n) {
    if (n > 32) {
        qsort(m, n, sizeof(*m), member_qsort_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        member_t x = m[i];
        size_t j = i;
        while (j > 0 && member_cmp(&x, &m[j - 1]) < 0) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = x;
    }
}

/* Makes room for n more members on the stack. 0 or DUMP_FAIL. */
static int push_members(dump_t *d, size_t n) {
    size_t cap;
    member_t *p;
    if (d->capmem - d->nmem >= n)
        return DUMP_OK;
    cap = d->capmem * 2 > d->nmem + n ? d->capmem * 2 : d->nmem + n;
    if (cap > SIZE_MAX / sizeof(*p))
        return DUMP_FAIL;
    if (d->mem == d->imem) {
        if (!(p = malloc(cap * sizeof(*p))))
            return DUMP_FAIL;
        memcpy(p, d->mem, d->nmem * sizeof(*p));
    } else if (!(p = realloc(d->mem, cap * sizeof(*p)))) {
        return DUMP_FAIL;
    }
    d->mem = p;
    d->capmem = cap;
    return DUMP_OK;
}

static int dump_value(dump_t *d, const json_t *v, int depth);

static int dump_object(dump_t *d, const json_t *obj, int depth) {
    size_t n = json_object_size(obj), base = d->nmem, i = 0;
    int rc;
    if (!n)
        return put(d, "{}", 2);
    if ((rc = push_members(d, n)))
        return rc;
    for (void *it = json_object_iter((json_t *)obj); it && i < n;
         it = json_object_iter_next((json_t *)obj, it), i++) {
        member_t *m = &d->mem[base + i];
        m->key = json_object_iter_key(it);
        m->len = json_object_iter_key_len(it);
        m->val = json_object_iter_value(it);
    }
    if (i != n) /* not reached: the size is the number of members */
        return DUMP_JANSSON;
    d->nmem = base + n;
    sort_members(&d->mem[base], n);
    for (i = 0; i < n; i++) {
        /* d->mem may move while a child object pushes its members. */
        const member_t m = d->mem[base + i];
        if ((rc = put(d, i ? "," : "{", 1)) ||
            (rc = put_string(d, m.key, m.len)) || (rc = put(d, ":", 1)) ||
            (rc = dump_value(d, m.val, depth + 1)))
            break;
    }
    d->nmem = base;
    return rc ? rc : put(d, "}", 1);
}

static int dump_value(dump_t *d, const json_t *v, int depth) {
    int rc;
    if (!v)
        return DUMP_FAIL; /* as jansson does */
    switch (json_typeof(v)) {
    case JSON_NULL: return put(d, "null", 4);
    case JSON_TRUE: return put(d, "true", 4);
    case JSON_FALSE: return put(d, "false", 5);
    case JSON_INTEGER: return put_integer(d, json_integer_value(v));
    case JSON_REAL: return put_real(d, v);
    case JSON_STRING:
        return put_string(d, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (depth >= DUMP_MAX_DEPTH)
            return DUMP_JANSSON;
        if (!n)
            return put(d, "[]", 2);
        for (size_t i = 0; i < n; i++)
            if ((rc = put(d, i ? "," : "[", 1)) ||
                (rc = dump_value(d, json_array_get(v, i), depth + 1)))
                return rc;
        return put(d, "]", 1);
    }
    case JSON_OBJECT:
        if (depth >= DUMP_MAX_DEPTH)
            return DUMP_JANSSON;
        return dump_object(d, v, depth);
    default: return DUMP_JANSSON;
    }
}

/* The dump by jansson itself (see cairn__json_dump()). */
static char *dump_jansson(const json_t *v, size_t *lenp) {
    /*
     * json_dumpb() into a buffer of the right size: its output callback
     * cannot fail, unlike json_dumps(), whose sorted-keys path ignores a
     * failed key write and returns corrupt text under memory pressure.
     */
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    size_t n = json_dumpb(v, NULL, 0, flags), m;
    char *buf;
    if (!n || !(buf = malloc(n + 1)))
        return NULL;
    m = json_dumpb(v, buf, n, flags);
    if (m != n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (lenp)
        *lenp = n;
    return buf;
}

char *cairn__json_dump_fast(const json_t *v, size_t *lenp, int *unsupported) {
    dump_t d;
    char *text = NULL;
    int rc;
    d.buf = d.ibuf;
    d.n = 0;
    d.cap = sizeof(d.ibuf);
    d.mem = d.imem;
    d.nmem = 0;
    d.capmem = DUMP_INLINE_KEYS;
    if ((rc = dump_value(&d, v, 0)) || (rc = room(&d, 1)))
        goto out;
    d.buf[d.n] = '\0';
    if (d.buf == d.ibuf) {
        if ((text = malloc(d.n + 1)))
            memcpy(text, d.buf, d.n + 1);
    } else {
        /* Shrunk to size; if even that fails, the larger block will do. */
        if (!(text = realloc(d.buf, d.n + 1)))
            text = d.buf;
        d.buf = d.ibuf; /* now the text's */
    }
    if (text && lenp)
        *lenp = d.n;
out:
    *unsupported = rc == DUMP_JANSSON;
    if (d.buf != d.ibuf)
        free(d.buf);
    if (d.mem != d.imem)
        free(d.mem);
    return text;
}

char *cairn__json_dump(const json_t *v, size_t *lenp) {
    int unsupported;
    char *text = cairn__json_dump_fast(v, lenp, &unsupported);
    return text || !unsupported ? text : dump_jansson(v, lenp);
}
