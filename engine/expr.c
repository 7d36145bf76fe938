/*
 * expr.c — JSON paths, value templates and guard expressions.
 *
 * A path is "$.<root>" followed by ".name" and "[index]" steps; roots are
 * vars, input, result, payload, error, workflow_id, signal. What a context
 * offers is a bit mask fixed at definition time, so a definition that reads
 * $.result where no result exists is refused when it is registered, not when
 * it runs. A path that does not resolve at run time reads as null.
 *
 * A guard is parsed once into a tree owned by the definition:
 *   expr := and ('||' and)*     and := unary ('&&' unary)*
 *   unary := '!' unary | cmp    cmp := prim (('=='|'!='|'<'|'<='|'>'|'>=') prim)?
 *   prim := '(' expr ')' | path | number | 'string' | "string"
 *         | true | false | null
 * Evaluation is pure; comparisons of two numbers are numeric (exact for two
 * integers), of two strings bytewise; an ordering between other kinds is
 * false. Templates are evaluated by copying, never by sharing the input.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
    const char *name;
    unsigned bit;
} roots[] = {
    {"vars", CAIRN__R_VARS},       {"input", CAIRN__R_INPUT},
    {"result", CAIRN__R_RESULT},   {"payload", CAIRN__R_PAYLOAD},
    {"error", CAIRN__R_ERROR},     {"workflow_id", CAIRN__R_WFID},
    {"signal", CAIRN__R_SIGNAL},
};

static int seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(char *err, size_t errsz, const char *fmt, ...) {
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_name_char(int c) {
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static const json_t *root_value(const cairn__ctx_t *ctx, unsigned bit) {
    switch (bit) {
    case CAIRN__R_VARS:
        return ctx->doc ? json_object_get(ctx->doc, "vars") : ctx->vars;
    case CAIRN__R_INPUT: return ctx->input;
    case CAIRN__R_RESULT: return ctx->result;
    case CAIRN__R_PAYLOAD: return ctx->payload;
    case CAIRN__R_ERROR: return ctx->error;
    case CAIRN__R_WFID: return ctx->workflow_id;
    case CAIRN__R_SIGNAL: return ctx->signal;
    }
    return NULL;
}

/*
 * Parses s[0..len) as a path. With ctx NULL it only validates (against
 * mask); with ctx it also resolves, setting *valp (borrowed, NULL when the
 * path does not resolve). 0 or -1 with err.
 */
static int path_walk(const char *s, size_t len, unsigned mask,
                     const cairn__ctx_t *ctx, const json_t **valp, char *err,
                     size_t errsz) {
    size_t i, st;
    unsigned bit = 0;
    const json_t *v = NULL;
    if (len < 3 || s[0] != '$' || s[1] != '.')
        return seterr(err, errsz, "path '%.*s' must start with '$.'",
                      (int)len, s);
    for (i = st = 2; i < len && is_name_char(s[i]); i++)
        ;
    for (size_t r = 0; r < sizeof(roots) / sizeof(roots[0]); r++)
        if (strlen(roots[r].name) == i - st &&
            !memcmp(roots[r].name, s + st, i - st))
            bit = roots[r].bit;
    if (!bit)
        return seterr(err, errsz,
                      "path '%.*s': unknown root '%.*s' (expected vars, "
                      "input, result, payload, error, workflow_id or signal)",
                      (int)len, s, (int)(i - st), s + st);
    if (!(bit & mask))
        return seterr(err, errsz, "path '%.*s': $.%.*s is not available here",
                      (int)len, s, (int)(i - st), s + st);
    if (ctx)
        v = root_value(ctx, bit);
    while (i < len) {
        if (s[i] == '.') {
            for (st = ++i; i < len && is_name_char(s[i]); i++)
                ;
            if (i == st)
                return seterr(err, errsz, "path '%.*s': empty name at %zu",
                              (int)len, s, st);
            if (ctx)
                v = json_is_object(v) ? json_object_getn(v, s + st, i - st)
                                      : NULL;
        } else if (s[i] == '[') {
            size_t idx = 0;
            for (st = ++i; i < len && isdigit((unsigned char)s[i]); i++) {
                if (idx > 100000000)
                    return seterr(err, errsz, "path '%.*s': index too large",
                                  (int)len, s);
                idx = idx * 10 + (size_t)(s[i] - '0');
            }
            if (i == st || i >= len || s[i] != ']')
                return seterr(err, errsz,
                              "path '%.*s': expected [digits] at %zu",
                              (int)len, s, st - 1);
            i++;
            if (ctx)
                v = json_is_array(v) ? json_array_get(v, idx) : NULL;
        } else {
            return seterr(err, errsz,
                          "path '%.*s': unexpected character '%c' at %zu",
                          (int)len, s, s[i], i);
        }
    }
    if (valp)
        *valp = v;
    return 0;
}

int cairn__path_check(const char *src, unsigned mask, char *err,
                      size_t errsz) {
    return path_walk(src, strlen(src), mask, NULL, NULL, err, errsz);
}

int cairn__tmpl_check(const json_t *tmpl, unsigned mask, char *err,
                      size_t errsz) {
    if (json_is_string(tmpl)) {
        const char *s = json_string_value(tmpl);
        if (s[0] == '$' && s[1] != '$')
            return path_walk(s, json_string_length(tmpl), mask, NULL, NULL,
                             err, errsz);
    } else if (json_is_object(tmpl)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)tmpl, k, v) {
            if (cairn__tmpl_check(v, mask, err, errsz))
                return -1;
        }
    } else if (json_is_array(tmpl)) {
        size_t i;
        json_t *v;
        json_array_foreach(tmpl, i, v) {
            if (cairn__tmpl_check(v, mask, err, errsz))
                return -1;
        }
    }
    return 0;
}

json_t *cairn__tmpl_eval(const json_t *tmpl, const cairn__ctx_t *ctx) {
    json_t *out = NULL, *v;
    if (!tmpl)
        return json_null();
    if (json_is_string(tmpl)) {
        const char *s = json_string_value(tmpl);
        const json_t *val = NULL;
        if (s[0] == '$' && s[1] == '$')
            return json_stringn(s + 1, json_string_length(tmpl) - 1);
        if (s[0] != '$')
            return json_deep_copy(tmpl);
        if (path_walk(s, json_string_length(tmpl), ~0u, ctx, &val, NULL, 0))
            return json_null(); /* unreachable for checked templates */
        /* Shared, not copied: a workflow's document is changed in place
         * only by set_var() in step.c, which copies whatever it is about
         * to change that is held anywhere else (copy-on-write). */
        return val ? json_incref((json_t *)val) : json_null();
    }
    if (json_is_object(tmpl)) {
        const char *k;
        json_t *t;
        if (!(out = json_object()))
            return NULL;
        json_object_foreach((json_t *)tmpl, k, t) {
            if (!(v = cairn__tmpl_eval(t, ctx)) ||
                json_object_set_new(out, k, v))
                goto err;
        }
        return out;
    }
    if (json_is_array(tmpl)) {
        size_t i;
        json_t *t;
        if (!(out = json_array()))
            return NULL;
        json_array_foreach(tmpl, i, t) {
            if (!(v = cairn__tmpl_eval(t, ctx)) || json_array_append_new(out, v))
                goto err;
        }
        return out;
    }
    return json_deep_copy(tmpl);
err:
    json_decref(out);
    return NULL;
}

/* ---- guards ------------------------------------------------------------- */

enum {
    OP_LIT = 1,
    OP_PATH,
    OP_NOT,
    OP_AND,
    OP_OR,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
};

struct cairn__expr_s {
    int op;
    cairn__expr_t *a, *b;
    json_t *lit; /* OP_LIT */
    char *path;  /* OP_PATH */
};

typedef struct {
    const char *src, *p;
    unsigned mask;
    char *err;
    size_t errsz;
    int failed;
    int depth;
} parser_t;

static cairn__expr_t *parse_or(parser_t *ps);

static void skip_ws(parser_t *ps) {
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

static cairn__expr_t *fail(parser_t *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static cairn__expr_t *fail(parser_t *ps, const char *fmt, ...) {
    if (!ps->failed && ps->err && ps->errsz) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(ps->err, ps->errsz, "guard '%s': %s at offset %d", ps->src,
                 msg, (int)(ps->p - ps->src));
    }
    ps->failed = 1;
    return NULL;
}

static cairn__expr_t *node(parser_t *ps, int op, cairn__expr_t *a,
                           cairn__expr_t *b) {
    cairn__expr_t *e = calloc(1, sizeof(*e));
    if (!e) {
        cairn__expr_free(a);
        cairn__expr_free(b);
        return fail(ps, "out of memory");
    }
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

static cairn__expr_t *lit_node(parser_t *ps, json_t *lit) {
    cairn__expr_t *e;
    if (!lit)
        return fail(ps, "out of memory");
    if (!(e = node(ps, OP_LIT, NULL, NULL))) {
        json_decref(lit);
        return NULL;
    }
    e->lit = lit;
    return e;
}

static cairn__expr_t *parse_string(parser_t *ps) {
    char q = *ps->p++;
    const char *start = ps->p;
    char *buf, *w;
    json_t *s;
    while (*ps->p && *ps->p != q) {
        if (*ps->p == '\\' && ps->p[1])
            ps->p++;
        ps->p++;
    }
    if (*ps->p != q)
        return fail(ps, "unterminated string");
    if (!(buf = malloc((size_t)(ps->p - start) + 1)))
        return fail(ps, "out of memory");
    for (w = buf; start < ps->p; start++) {
        if (*start == '\\')
            start++;
        *w++ = *start;
    }
    *w = '\0';
    ps->p++;
    s = json_string(buf);
    free(buf);
    if (!s)
        return fail(ps, "string is not valid UTF-8");
    return lit_node(ps, s);
}

static cairn__expr_t *parse_number(parser_t *ps) {
    const char *start = ps->p;
    int real = 0;
    char buf[64];
    if (*ps->p == '-')
        ps->p++;
    if (!isdigit((unsigned char)*ps->p))
        return fail(ps, "expected a number");
    while (isdigit((unsigned char)*ps->p) || *ps->p == '.' || *ps->p == 'e' ||
           *ps->p == 'E' ||
           ((*ps->p == '+' || *ps->p == '-') &&
            (ps->p[-1] == 'e' || ps->p[-1] == 'E'))) {
        if (!isdigit((unsigned char)*ps->p))
            real = 1;
        ps->p++;
    }
    if ((size_t)(ps->p - start) >= sizeof(buf))
        return fail(ps, "number too long");
    memcpy(buf, start, (size_t)(ps->p - start));
    buf[ps->p - start] = '\0';
    char *end;
    errno = 0;
    if (real) {
        double d = strtod(buf, &end);
        if (*end || errno)
            return fail(ps, "bad number '%s'", buf);
        return lit_node(ps, json_real(d));
    }
    long long ll = strtoll(buf, &end, 10);
    if (*end || errno)
        return fail(ps, "bad number '%s'", buf);
    return lit_node(ps, json_integer(ll));
}

static cairn__expr_t *parse_prim(parser_t *ps) {
    cairn__expr_t *e;
    skip_ws(ps);
    if (++ps->depth > 64)
        return fail(ps, "expression nested too deeply");
    char c = *ps->p;
    if (c == '(') {
        ps->p++;
        if (!(e = parse_or(ps)))
            return NULL;
        skip_ws(ps);
        if (*ps->p != ')') {
            cairn__expr_free(e);
            return fail(ps, "expected ')'");
        }
        ps->p++;
        ps->depth--;
        return e;
    }
    ps->depth--;
    if (c == '$') {
        const char *start = ps->p;
        char perr[256];
        while (is_name_char(*ps->p) || (*ps->p && strchr("$.[]", *ps->p)))
            ps->p++;
        size_t len = (size_t)(ps->p - start);
        if (path_walk(start, len, ps->mask, NULL, NULL, perr, sizeof(perr)))
            return fail(ps, "%s", perr);
        if (!(e = node(ps, OP_PATH, NULL, NULL)))
            return NULL;
        if (!(e->path = strndup(start, len))) {
            free(e);
            return fail(ps, "out of memory");
        }
        return e;
    }
    if (c == '\'' || c == '"')
        return parse_string(ps);
    if (c == '-' || isdigit((unsigned char)c))
        return parse_number(ps);
    if (isalpha((unsigned char)c)) {
        const char *start = ps->p;
        while (isalnum((unsigned char)*ps->p) || *ps->p == '_')
            ps->p++;
        size_t len = (size_t)(ps->p - start);
        if (len == 4 && !memcmp(start, "true", 4))
            return lit_node(ps, json_true());
        if (len == 5 && !memcmp(start, "false", 5))
            return lit_node(ps, json_false());
        if (len == 4 && !memcmp(start, "null", 4))
            return lit_node(ps, json_null());
        ps->p = start;
        return fail(ps, "unknown word '%.*s' (paths start with '$.')",
                    (int)len, start);
    }
    if (!c)
        return fail(ps, "unexpected end");
    return fail(ps, "unexpected '%c'", c);
}

static cairn__expr_t *parse_cmp(parser_t *ps) {
    static const struct {
        const char *tok;
        int op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    cairn__expr_t *a = parse_prim(ps), *b;
    if (!a)
        return NULL;
    skip_ws(ps);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].tok);
        if (!strncmp(ps->p, ops[i].tok, n)) {
            ps->p += n;
            if (!(b = parse_prim(ps))) {
                cairn__expr_free(a);
                return NULL;
            }
            return node(ps, ops[i].op, a, b);
        }
    }
    if (*ps->p == '=') {
        cairn__expr_free(a);
        return fail(ps, "'=' is not an operator (use '==')");
    }
    return a;
}

static cairn__expr_t *parse_unary(parser_t *ps) {
    cairn__expr_t *a;
    skip_ws(ps);
    if (*ps->p == '!' && ps->p[1] != '=') {
        ps->p++;
        if (++ps->depth > 64)
            return fail(ps, "expression nested too deeply");
        if (!(a = parse_unary(ps)))
            return NULL;
        ps->depth--;
        return node(ps, OP_NOT, a, NULL);
    }
    return parse_cmp(ps);
}

static cairn__expr_t *parse_and(parser_t *ps) {
    cairn__expr_t *a = parse_unary(ps), *b;
    if (!a)
        return NULL;
    for (;;) {
        skip_ws(ps);
        if (strncmp(ps->p, "&&", 2))
            return a;
        ps->p += 2;
        if (!(b = parse_unary(ps))) {
            cairn__expr_free(a);
            return NULL;
        }
        if (!(a = node(ps, OP_AND, a, b)))
            return NULL;
    }
}

static cairn__expr_t *parse_or(parser_t *ps) {
    cairn__expr_t *a = parse_and(ps), *b;
    if (!a)
        return NULL;
    for (;;) {
        skip_ws(ps);
        if (strncmp(ps->p, "||", 2))
            return a;
        ps->p += 2;
        if (!(b = parse_and(ps))) {
            cairn__expr_free(a);
            return NULL;
        }
        if (!(a = node(ps, OP_OR, a, b)))
            return NULL;
    }
}

cairn__expr_t *cairn__expr_parse(const char *src, unsigned mask, char *err,
                                 size_t errsz) {
    parser_t ps = {src, src, mask, err, errsz, 0, 0};
    cairn__expr_t *e = parse_or(&ps);
    if (!e)
        return NULL;
    skip_ws(&ps);
    if (*ps.p) {
        cairn__expr_free(e);
        return fail(&ps, "unexpected '%c'", *ps.p);
    }
    return e;
}

void cairn__expr_free(cairn__expr_t *e) {
    if (!e)
        return;
    cairn__expr_free(e->a);
    cairn__expr_free(e->b);
    json_decref(e->lit);
    free(e->path);
    free(e);
}

int cairn__truthy(const json_t *v) {
    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_TRUE: return 1;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_STRING: return json_string_length(v) != 0;
    case JSON_ARRAY: return json_array_size(v) != 0;
    case JSON_OBJECT: return json_object_size(v) != 0;
    default: return 0;
    }
}

/* <0, 0, >0 for ordered kinds; 2 (with *ok = 0) when not comparable. */
static int compare(const json_t *a, const json_t *b, int *ok) {
    *ok = 1;
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_string(a) && json_is_string(b)) {
        int c = strcmp(json_string_value(a), json_string_value(b));
        return (c > 0) - (c < 0);
    }
    *ok = 0;
    return 2;
}

/* Borrowed value of a leaf (NULL = null), or -1 via *oom never needed. */
static const json_t *leaf(const cairn__expr_t *e, const cairn__ctx_t *ctx) {
    const json_t *v = NULL;
    if (e->op == OP_LIT)
        return e->lit;
    if (e->op == OP_PATH &&
        !path_walk(e->path, strlen(e->path), ~0u, ctx, &v, NULL, 0))
        return v;
    return NULL;
}

static int is_leaf(const cairn__expr_t *e) {
    return e->op == OP_LIT || e->op == OP_PATH;
}

int cairn__expr_eval(const cairn__expr_t *e, const cairn__ctx_t *ctx) {
    int x, ok, c;
    switch (e->op) {
    case OP_LIT:
    case OP_PATH: return cairn__truthy(leaf(e, ctx));
    case OP_NOT:
        x = cairn__expr_eval(e->a, ctx);
        return x < 0 ? x : !x;
    case OP_AND:
        x = cairn__expr_eval(e->a, ctx);
        return x <= 0 ? x : cairn__expr_eval(e->b, ctx);
    case OP_OR:
        x = cairn__expr_eval(e->a, ctx);
        return x != 0 ? x : cairn__expr_eval(e->b, ctx);
    default: break;
    }
    /* A comparison: each side is a leaf or a nested boolean. */
    const json_t *a, *b;
    json_t *ta = NULL, *tb = NULL;
    if (is_leaf(e->a)) {
        a = leaf(e->a, ctx);
    } else {
        if ((x = cairn__expr_eval(e->a, ctx)) < 0)
            return -1;
        a = ta = json_boolean(x);
    }
    if (is_leaf(e->b)) {
        b = leaf(e->b, ctx);
    } else {
        if ((x = cairn__expr_eval(e->b, ctx)) < 0)
            return -1;
        b = tb = json_boolean(x);
    }
    json_t *null = json_null();
    if (!a)
        a = null;
    if (!b)
        b = null;
    switch (e->op) {
    case OP_EQ:
    case OP_NE:
        c = compare(a, b, &ok);
        x = ok ? c == 0 : json_equal((json_t *)a, (json_t *)b);
        if (e->op == OP_NE)
            x = !x;
        break;
    default:
        c = compare(a, b, &ok);
        if (!ok)
            x = 0;
        else if (e->op == OP_LT)
            x = c < 0;
        else if (e->op == OP_LE)
            x = c <= 0;
        else if (e->op == OP_GT)
            x = c > 0;
        else
            x = c >= 0;
    }
    json_decref(ta);
    json_decref(tb);
    return x;
}
