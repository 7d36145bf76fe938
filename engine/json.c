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
 * Dumping has the same trap (see cairn__json_dump()); all canonical JSON the
 * engine writes — states, outputs, definitions — goes through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

typedef struct {
    const unsigned char *p;
    int depth;
} scan_t;

static void ws(scan_t *s) {
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
        s->p++;
}

static int value(scan_t *s);

/* Reads the 4 hex digits of a \\u escape; -1 if malformed. */
static long hex4(scan_t *s) {
    long v = 0;
    for (int i = 0; i < 4; i++, s->p++) {
        unsigned char c = *s->p;
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
        unsigned char c = *s->p;
        if (!c || c < 0x20)
            return 0;
        s->p++;
        if (c == '"')
            return 1;
        if (c != '\\')
            continue;
        c = *s->p++;
        if (c == 'u') {
            long u = hex4(s);
            if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return 0;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (s->p[0] != '\\' || s->p[1] != 'u')
                    return 0;
                s->p += 2;
                u = hex4(s);
                if (u < 0xDC00 || u > 0xDFFF)
                    return 0;
            }
        } else if (!c || !strchr("\"\\/bfnrt", c)) {
            return 0;
        }
    }
}

static int digits(scan_t *s) {
    const unsigned char *start = s->p;
    while (*s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static int number(scan_t *s) {
    if (*s->p == '-')
        s->p++;
    if (*s->p == '0')
        s->p++;
    else if (!digits(s))
        return 0;
    if (*s->p == '.') {
        s->p++;
        if (!digits(s))
            return 0;
    }
    if (*s->p == 'e' || *s->p == 'E') {
        s->p++;
        if (*s->p == '+' || *s->p == '-')
            s->p++;
        if (!digits(s))
            return 0;
    }
    return 1;
}

static int word(scan_t *s, const char *w) {
    size_t n = strlen(w);
    if (strncmp((const char *)s->p, w, n))
        return 0;
    s->p += n;
    return 1;
}

static int container(scan_t *s, char close) {
    if (++s->depth > MAX_DEPTH)
        return 0;
    s->p++;
    ws(s);
    if (*s->p == close) {
        s->p++;
        s->depth--;
        return 1;
    }
    for (;;) {
        ws(s);
        if (close == '}') {
            if (*s->p != '"' || !string(s))
                return 0;
            ws(s);
            if (*s->p++ != ':')
                return 0;
        }
        if (!value(s))
            return 0;
        ws(s);
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p++ != close)
            return 0;
        s->depth--;
        return 1;
    }
}

static int value(scan_t *s) {
    ws(s);
    switch (*s->p) {
    case '{': return container(s, '}');
    case '[': return container(s, ']');
    case '"': return string(s);
    case 't': return word(s, "true");
    case 'f': return word(s, "false");
    case 'n': return word(s, "null");
    default: return number(s);
    }
}

/*
 * 1 if text is one syntactically valid JSON value (RFC 8259) that jansson's
 * lexer accepts too (paired surrogate escapes).
 */
int cairn__json_syntax_ok(const char *text) {
    scan_t s = {(const unsigned char *)text, 0};
    if (!value(&s))
        return 0;
    ws(&s);
    return *s.p == '\0';
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

char *cairn__json_dump(const json_t *v, size_t *lenp) {
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
