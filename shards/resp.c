/*
 * resp.c — RESP command formatting into a reusable buffer (resp.h).
 */
#include "resp.h"

#include <stdlib.h>
#include <string.h>

void cairn_resp_reset(cairn_resp_t *b) {
    b->len = 0;
    b->failed = 0;
}

void cairn_resp_free(cairn_resp_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

/* Room for n more bytes; 0, or -1 (and failed set) if out of memory. */
static int room(cairn_resp_t *b, size_t n) {
    if (b->failed)
        return -1;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Decimal digits of v into the end of buf; returns where they start. */
static char *digits(char *end, uint64_t v) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* "<c><n>\r\n" for a non-negative n. */
static void header(cairn_resp_t *b, char c, size_t n) {
    char buf[24], *s = digits(buf + sizeof(buf), n);
    size_t k = (size_t)(buf + sizeof(buf) - s);
    if (room(b, k + 3))
        return;
    b->p[b->len++] = c;
    memcpy(b->p + b->len, s, k);
    b->len += k;
    b->p[b->len++] = '\r';
    b->p[b->len++] = '\n';
}

void cairn_resp_cmd(cairn_resp_t *b, int argc) {
    header(b, '*', (size_t)argc);
}

void cairn_resp_mem(cairn_resp_t *b, const void *s, size_t n) {
    header(b, '$', n);
    if (room(b, n + 2))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len++] = '\r';
    b->p[b->len++] = '\n';
}

void cairn_resp_str(cairn_resp_t *b, const char *s) {
    cairn_resp_mem(b, s, strlen(s));
}

void cairn_resp_cat(cairn_resp_t *b, const char *a, const char *s) {
    size_t na = strlen(a), ns = strlen(s);
    header(b, '$', na + ns);
    if (room(b, na + ns + 2))
        return;
    memcpy(b->p + b->len, a, na);
    memcpy(b->p + b->len + na, s, ns);
    b->len += na + ns;
    b->p[b->len++] = '\r';
    b->p[b->len++] = '\n';
}

void cairn_resp_int(cairn_resp_t *b, int64_t v) {
    char buf[24], *s;
    /* The magnitude as unsigned: -INT64_MIN does not fit an int64_t. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    s = digits(buf + sizeof(buf), u);
    if (v < 0)
        *--s = '-';
    cairn_resp_mem(b, s, (size_t)(buf + sizeof(buf) - s));
}
