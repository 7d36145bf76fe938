/*
 * builder.c — the C front end of workflow definitions (cairn_builder.h).
 *
 * The builder holds pieces of the JSON document of docs/WORKFLOWS.md and
 * nothing else: every call writes keys into jansson objects, and
 * cairn_wfb_build() dumps the document and hands it to cairn_def_from_json(),
 * the parser the JSON front end uses. There is no second validator to keep
 * in step with the engine: what the builder accepts and what it refuses is
 * the engine's decision, in the engine's words. The builder itself only
 * refuses what it cannot write down (NULL names, values that are not JSON,
 * a variable assigned twice in one object, a second compensation, an enum
 * value out of range) and out-of-memory.
 *
 * Ownership: the builder owns one jansson tree (the top-level keys in `top`,
 * the states in `states`) and a list of every handle it handed out. A handle
 * points at the object it writes, borrowed from that tree; nothing is ever
 * removed from the tree, so the pointer stays valid until
 * cairn_wfb_destroy(), which frees the handles and the tree.
 *
 * Sticky errors: the first error is kept in b->err; from then on every call
 * is a no-op and build/to_json report it.
 */
#include "cairn_builder.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
/* Only for cairn__json_refused_for_memory(): the builder parses user JSON
 * values exactly as the engine does. */
#include "internal.h"

#define ERR_SIZE 512
#define WHERE_SIZE 320

/* What every handle is: a place in the document, and its builder. */
typedef struct node_s {
    struct node_s *next; /* the builder's list of handles */
    cairn_wfb_t *b;
    json_t *obj;    /* the object this handle writes; NULL until needed
                       for a retry policy */
    json_t *parent; /* retry policy: the object that holds "retry" */
    char where[WHERE_SIZE];
    /* states */
    json_t *last_assign; /* the object of the last command if it is an
                            assign made by cairn_wfb_assign() */
    /* activities */
    int is_compensation, has_compensation;
    struct node_s *retry;
} node_t;

struct cairn_wfb_state_s { node_t n; };
struct cairn_wfb_act_s { node_t n; };
struct cairn_wfb_retry_s { node_t n; };
struct cairn_wfb_child_s { node_t n; };
struct cairn_wfb_trans_s { node_t n; };

struct cairn_wfb_s {
    json_t *top;    /* top-level keys other than states and initial */
    json_t *states; /* the "states" array */
    char *initial;  /* NULL = the first state's name */
    int version;
    node_t *handles;
    node_t *retry;  /* the top-level retry policy handle, once asked for */
    char err[ERR_SIZE];
};

/* ---- errors ------------------------------------------------------------- */

static void berr(cairn_wfb_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void berr(cairn_wfb_t *b, const char *fmt, ...) {
    va_list ap;
    if (b->err[0])
        return; /* the first error wins */
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof(b->err), fmt, ap);
    va_end(ap);
    if (!b->err[0])
        snprintf(b->err, sizeof(b->err), "error");
}

static void oom(cairn_wfb_t *b) { berr(b, "out of memory"); }

/* Writes a position for messages (truncated if long). */
static void at(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void at(char *dst, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* 1 if calls on this handle must do nothing. */
static int dead(const node_t *n) { return !n || n->b->err[0]; }

/* 1 (and a sticky error) if a required string argument is NULL. */
static int missing(node_t *n, const void *arg, const char *what) {
    if (arg)
        return 0;
    berr(n->b, "%s: %s is NULL", n->where, what);
    return 1;
}

/* ---- small JSON helpers -------------------------------------------------- */

/* Sets key to a new reference (stolen); a sticky error on failure. */
static int put(node_t *n, json_t *obj, const char *key, json_t *v) {
    if (!v) {
        berr(n->b, "%s: cannot store '%s' (not UTF-8, or out of memory)",
             n->where, key);
        return -1;
    }
    if (json_object_set_new(obj, key, v)) {
        oom(n->b);
        return -1;
    }
    return 0;
}

static int put_str(node_t *n, json_t *obj, const char *key, const char *s) {
    return put(n, obj, key, json_string(s));
}

/* The object obj[key], created empty if absent; NULL on a sticky error. */
static json_t *sub(node_t *n, json_t *obj, const char *key, int array) {
    json_t *v = json_object_get(obj, key);
    if (v)
        return v;
    v = array ? json_array() : json_object();
    return put(n, obj, key, v) ? NULL : v;
}

/*
 * Parses a `value` argument: text starting with '$' is that path (a JSON
 * string), anything else must be one JSON value. A new reference, or NULL
 * with a sticky error.
 */
static json_t *value(node_t *n, const char *what, const char *text) {
    json_error_t jerr;
    json_t *v;
    if (text[0] == '$') {
        if (!(v = json_string(text)))
            berr(n->b, "%s: %s is not UTF-8 (or out of memory)", n->where,
                 what);
        return v;
    }
    memset(&jerr, 0, sizeof(jerr));
    v = json_loadb(text, strlen(text),
                   JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    /* jansson reports some allocation failures as syntax errors: the
     * engine's allocation-free classifier tells them apart. */
    if (!v && cairn__json_refused_for_memory(text, strlen(text), &jerr))
        oom(n->b);
    else if (!v)
        berr(n->b,
             "%s: %s is neither JSON nor a $ path (column %d: %s): %.80s",
             n->where, what, jerr.column, jerr.text, text);
    return v;
}

/* A new handle of size bytes (node first) for b, linked for freeing. */
static node_t *handle(cairn_wfb_t *b, size_t size, json_t *obj) {
    node_t *n = calloc(1, size);
    if (!n) {
        oom(b);
        return NULL;
    }
    n->b = b;
    n->obj = obj;
    n->next = b->handles;
    b->handles = n;
    return n;
}

/* ---- the definition ------------------------------------------------------ */

cairn_wfb_t *cairn_wfb_new(const char *type, int version) {
    cairn_wfb_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    if (!(b->top = json_object()) || !(b->states = json_array())) {
        cairn_wfb_destroy(b);
        return NULL;
    }
    b->version = version;
    if (!type)
        berr(b, "definition: type is NULL");
    else if (json_object_set_new(b->top, "type", json_string(type)))
        berr(b, "definition: cannot store the type (not UTF-8, or out of "
                "memory)");
    return b;
}

void cairn_wfb_destroy(cairn_wfb_t *b) {
    if (!b)
        return;
    while (b->handles) {
        node_t *n = b->handles;
        b->handles = n->next;
        free(n);
    }
    json_decref(b->top);
    json_decref(b->states);
    free(b->initial);
    free(b);
}

const char *cairn_wfb_error(const cairn_wfb_t *b) {
    return b && b->err[0] ? b->err : NULL;
}

/* A pseudo node to report definition-level errors through. */
static node_t top_node(cairn_wfb_t *b) {
    node_t n;
    memset(&n, 0, sizeof(n));
    n.b = b;
    n.obj = b->top;
    at(n.where, sizeof(n.where), "definition");
    return n;
}

static void top_str(cairn_wfb_t *b, const char *key, const char *s,
                    const char *what) {
    node_t n;
    if (!b || b->err[0])
        return;
    n = top_node(b);
    if (!missing(&n, s, what))
        put_str(&n, b->top, key, s);
}

void cairn_wfb_description(cairn_wfb_t *b, const char *text) {
    top_str(b, "description", text, "description");
}

void cairn_wfb_task_queue(cairn_wfb_t *b, const char *queue) {
    top_str(b, "task_queue", queue, "task queue");
}

void cairn_wfb_on_cancel(cairn_wfb_t *b, const char *state) {
    top_str(b, "on_cancel", state, "on_cancel state");
}

void cairn_wfb_initial(cairn_wfb_t *b, const char *state) {
    node_t n;
    if (!b || b->err[0])
        return;
    n = top_node(b);
    if (missing(&n, state, "initial state"))
        return;
    free(b->initial);
    if (!(b->initial = strdup(state)))
        oom(b);
}

void cairn_wfb_execution_timeout(cairn_wfb_t *b, int64_t ms) {
    node_t n;
    if (!b || b->err[0])
        return;
    n = top_node(b);
    put(&n, b->top, "execution_timeout_ms", json_integer(ms));
}

static node_t *retry_handle(cairn_wfb_t *b, json_t *parent,
                            const char *where) {
    node_t *r = handle(b, sizeof(struct cairn_wfb_retry_s), NULL);
    if (!r)
        return NULL;
    r->parent = parent;
    r->obj = json_object_get(parent, "retry");
    at(r->where, sizeof(r->where), "%s retry", where);
    return r;
}

cairn_wfb_retry_t *cairn_wfb_retry(cairn_wfb_t *b) {
    if (!b || b->err[0])
        return NULL;
    if (!b->retry)
        b->retry = retry_handle(b, b->top, "definition");
    return (cairn_wfb_retry_t *)b->retry;
}

cairn_wfb_state_t *cairn_wfb_state(cairn_wfb_t *b, const char *name) {
    json_t *obj;
    node_t *s;
    if (!b || b->err[0])
        return NULL;
    if (!name) {
        berr(b, "states[%zu]: the state name is NULL",
             json_array_size(b->states));
        return NULL;
    }
    if (!(obj = json_object()) || json_array_append_new(b->states, obj)) {
        oom(b);
        return NULL;
    }
    if (!(s = handle(b, sizeof(struct cairn_wfb_state_s), obj)))
        return NULL;
    at(s->where, sizeof(s->where), "state '%s'", name);
    if (put_str(s, obj, "name", name))
        return NULL;
    return (cairn_wfb_state_t *)s;
}

void cairn_wfb_state_description(cairn_wfb_state_t *st, const char *text) {
    node_t *s = (node_t *)st;
    if (dead(s) || missing(s, text, "description"))
        return;
    put_str(s, s->obj, "description", text);
}

/* ---- output -------------------------------------------------------------- */

/* The whole document (a new reference), keys in documentation order. */
static json_t *document(const cairn_wfb_t *b) {
    static const char *const order[] = {"type", "version", "description",
                                        "task_queue", "initial", "on_cancel",
                                        "execution_timeout_ms", "retry",
                                        "states"};
    json_t *doc = json_object(), *v;
    const char *initial = b->initial;
    if (!doc)
        return NULL;
    if (!initial && json_array_size(b->states))
        initial = json_string_value(
            json_object_get(json_array_get(b->states, 0), "name"));
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *k = order[i];
        if (!strcmp(k, "version")) {
            v = json_integer(b->version);
        } else if (!strcmp(k, "initial")) {
            if (!initial)
                continue;
            v = json_string(initial);
        } else if (!strcmp(k, "states")) {
            v = json_incref(b->states);
        } else if (!(v = json_incref(json_object_get(b->top, k)))) {
            continue;
        }
        if (!v || json_object_set_new(doc, k, v)) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* Dumps the document with flags; NULL with errstr set on failure. */
static char *dump(const cairn_wfb_t *b, size_t flags, char *errstr,
                  size_t errstr_size) {
    json_t *doc;
    char *text;
    if (!b) {
        snprintf(errstr, errstr_size, "no builder");
        return NULL;
    }
    if (b->err[0]) {
        snprintf(errstr, errstr_size, "%s", b->err);
        return NULL;
    }
    /* Into a buffer of the right size (json_dumpb's output cannot fail
     * half-way, json_dumps' can: see engine/json.c). */
    size_t len = (doc = document(b)) ? json_dumpb(doc, NULL, 0, flags) : 0;
    if (!len || !(text = malloc(len + 1)) ||
        json_dumpb(doc, text, len, flags) != len) {
        if (len)
            free(text);
        json_decref(doc);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    text[len] = '\0';
    json_decref(doc);
    return text;
}

char *cairn_wfb_to_json(const cairn_wfb_t *b, char *errstr,
                        size_t errstr_size) {
    return dump(b, JSON_INDENT(2), errstr, errstr_size);
}

cairn_def_t *cairn_wfb_build(const cairn_wfb_t *b, char *errstr,
                             size_t errstr_size) {
    char *text = dump(b, JSON_COMPACT, errstr, errstr_size);
    cairn_def_t *def;
    if (!text)
        return NULL;
    def = cairn_def_from_json(text, strlen(text), errstr, errstr_size);
    free(text);
    return def;
}

/* ---- commands ------------------------------------------------------------ */

/* Appends a command object (stolen) to the state; its handle's where. */
static json_t *add_cmd(node_t *s, json_t *cmd, char *where, size_t size) {
    json_t *cmds;
    if (!cmd) {
        oom(s->b);
        return NULL;
    }
    if (!(cmds = sub(s, s->obj, "on_enter", 1)) ||
        json_array_append_new(cmds, cmd)) {
        if (!cmds)
            json_decref(cmd);
        else
            oom(s->b);
        return NULL;
    }
    s->last_assign = NULL;
    if (where)
        at(where, size, "%s: on_enter[%zu]", s->where,
                 json_array_size(cmds) - 1);
    return cmd;
}

cairn_wfb_act_t *cairn_wfb_activity(cairn_wfb_state_t *st,
                                    const char *activity, const char *id) {
    node_t *s = (node_t *)st, *a;
    char where[WHERE_SIZE];
    json_t *cmd;
    if (dead(s) || missing(s, activity, "activity name"))
        return NULL;
    if (!(cmd = add_cmd(s, json_object(), where, sizeof(where))))
        return NULL;
    if (!(a = handle(s->b, sizeof(struct cairn_wfb_act_s), cmd)))
        return NULL;
    at(a->where, sizeof(a->where), "%s: activity '%.128s'", where,
             id ? id : activity);
    if (put_str(a, cmd, "activity", activity) ||
        (id && put_str(a, cmd, "id", id)))
        return NULL;
    return (cairn_wfb_act_t *)a;
}

void cairn_wfb_act_input(cairn_wfb_act_t *act, const char *v) {
    node_t *a = (node_t *)act;
    if (dead(a) || missing(a, v, "input"))
        return;
    json_t *j = value(a, "input", v);
    if (j)
        put(a, a->obj, "input", j);
}

void cairn_wfb_act_task_queue(cairn_wfb_act_t *act, const char *queue) {
    node_t *a = (node_t *)act;
    if (dead(a) || missing(a, queue, "task queue"))
        return;
    put_str(a, a->obj, "task_queue", queue);
}

static void act_timeout(node_t *a, const char *key, int64_t ms) {
    json_t *t;
    if (dead(a) || !(t = sub(a, a->obj, "timeouts", 0)))
        return;
    put(a, t, key, json_integer(ms));
}

void cairn_wfb_act_start_to_close(cairn_wfb_act_t *a, int64_t ms) {
    act_timeout((node_t *)a, "start_to_close_ms", ms);
}

void cairn_wfb_act_schedule_to_close(cairn_wfb_act_t *a, int64_t ms) {
    act_timeout((node_t *)a, "schedule_to_close_ms", ms);
}

void cairn_wfb_act_heartbeat(cairn_wfb_act_t *a, int64_t ms) {
    act_timeout((node_t *)a, "heartbeat_ms", ms);
}

cairn_wfb_retry_t *cairn_wfb_act_retry(cairn_wfb_act_t *act) {
    node_t *a = (node_t *)act;
    if (dead(a))
        return NULL;
    if (!a->retry)
        a->retry = retry_handle(a->b, a->obj, a->where);
    return (cairn_wfb_retry_t *)a->retry;
}

cairn_wfb_act_t *cairn_wfb_act_compensation(cairn_wfb_act_t *act,
                                            const char *activity) {
    node_t *a = (node_t *)act, *c;
    json_t *obj;
    if (dead(a) || missing(a, activity, "compensation activity name"))
        return NULL;
    if (a->is_compensation) {
        berr(a->b, "%s: a compensation cannot have a compensation", a->where);
        return NULL;
    }
    if (a->has_compensation) {
        berr(a->b, "%s: already has a compensation", a->where);
        return NULL;
    }
    if (!(obj = json_object()) || put(a, a->obj, "compensation", obj))
        return NULL;
    if (!(c = handle(a->b, sizeof(struct cairn_wfb_act_s), obj)))
        return NULL;
    a->has_compensation = 1;
    c->is_compensation = 1;
    at(c->where, sizeof(c->where), "%s: compensation '%.128s'",
             a->where, activity);
    if (put_str(c, obj, "activity", activity))
        return NULL;
    return (cairn_wfb_act_t *)c;
}

/* ---- retry policies -------------------------------------------------------- */

/* The policy's object, created in its parent on first use. */
static json_t *retry_obj(node_t *r) {
    if (dead(r))
        return NULL;
    if (!r->obj)
        r->obj = sub(r, r->parent, "retry", 0);
    return r->obj;
}

void cairn_wfb_retry_initial_interval(cairn_wfb_retry_t *rp, int64_t ms) {
    node_t *r = (node_t *)rp;
    json_t *o = retry_obj(r);
    if (o)
        put(r, o, "initial_interval_ms", json_integer(ms));
}

void cairn_wfb_retry_backoff(cairn_wfb_retry_t *rp, double coefficient) {
    node_t *r = (node_t *)rp;
    json_t *o = retry_obj(r);
    if (o)
        put(r, o, "backoff_coefficient", json_real(coefficient));
}

void cairn_wfb_retry_maximum_interval(cairn_wfb_retry_t *rp, int64_t ms) {
    node_t *r = (node_t *)rp;
    json_t *o = retry_obj(r);
    if (o)
        put(r, o, "maximum_interval_ms", json_integer(ms));
}

void cairn_wfb_retry_maximum_attempts(cairn_wfb_retry_t *rp, int32_t n) {
    node_t *r = (node_t *)rp;
    json_t *o = retry_obj(r);
    if (o)
        put(r, o, "maximum_attempts", json_integer(n));
}

void cairn_wfb_retry_non_retryable(cairn_wfb_retry_t *rp,
                                   const char *error_type) {
    node_t *r = (node_t *)rp;
    json_t *o, *list, *s;
    if (dead(r) || missing(r, error_type, "error type") || !(o = retry_obj(r)) ||
        !(list = sub(r, o, "non_retryable_error_types", 1)))
        return;
    if (!(s = json_string(error_type))) {
        berr(r->b, "%s: cannot store error type (not UTF-8, or out of "
                   "memory)",
             r->where);
        return;
    }
    if (json_array_append_new(list, s))
        oom(r->b);
}

/* ---- the other commands ---------------------------------------------------- */

void cairn_wfb_timer(cairn_wfb_state_t *st, const char *id, int64_t after_ms) {
    node_t *s = (node_t *)st;
    json_t *t;
    if (dead(s) || missing(s, id, "timer id"))
        return;
    t = json_pack("{s:s, s:I}", "id", id, "after_ms", (json_int_t)after_ms);
    add_cmd(s, t ? json_pack("{s:o}", "timer", t) : NULL, NULL, 0);
}

void cairn_wfb_sleep(cairn_wfb_state_t *st, int64_t ms, const char *id) {
    node_t *s = (node_t *)st;
    if (dead(s))
        return;
    add_cmd(s,
            id ? json_pack("{s:I, s:s}", "sleep_ms", (json_int_t)ms, "id", id)
               : json_pack("{s:I}", "sleep_ms", (json_int_t)ms),
            NULL, 0);
}

void cairn_wfb_wait_signal(cairn_wfb_state_t *st, const char *name,
                           int64_t timeout_ms) {
    node_t *s = (node_t *)st;
    json_t *w;
    if (dead(s) || missing(s, name, "signal name"))
        return;
    w = timeout_ms ? json_pack("{s:s, s:I}", "name", name, "timeout_ms",
                               (json_int_t)timeout_ms)
                   : json_string(name);
    add_cmd(s, w ? json_pack("{s:o}", "wait_signal", w) : NULL, NULL, 0);
}

/* Adds var: value to an assign object; a variable once per object. */
static void assign_to(node_t *n, json_t *obj, const char *var,
                      const char *v) {
    json_t *j;
    if (missing(n, var, "variable name") || missing(n, v, "assigned value"))
        return;
    if (json_object_get(obj, var)) {
        berr(n->b, "%s: variable '%s' is assigned twice in one assign",
             n->where, var);
        return;
    }
    if ((j = value(n, "assigned value", v)))
        put(n, obj, var, j);
}

void cairn_wfb_assign(cairn_wfb_state_t *st, const char *var,
                      const char *v) {
    node_t *s = (node_t *)st;
    json_t *obj;
    if (dead(s))
        return;
    if (!s->last_assign) {
        if (!(obj = json_object()) ||
            !add_cmd(s, json_pack("{s:o}", "assign", obj), NULL, 0))
            return;
        s->last_assign = obj;
    }
    assign_to(s, s->last_assign, var, v);
}

cairn_wfb_child_t *cairn_wfb_child(cairn_wfb_state_t *st, const char *id,
                                   const char *workflow_type) {
    node_t *s = (node_t *)st, *c;
    char where[WHERE_SIZE];
    json_t *obj;
    if (dead(s) || missing(s, id, "child id") ||
        missing(s, workflow_type, "child workflow type"))
        return NULL;
    if (!(obj = json_pack("{s:s, s:s}", "id", id, "workflow_type",
                          workflow_type))) {
        berr(s->b, "%s: cannot store child '%s' (not UTF-8, or out of "
                   "memory)",
             s->where, id);
        return NULL;
    }
    if (!add_cmd(s, json_pack("{s:o}", "child", obj), where, sizeof(where)))
        return NULL;
    if (!(c = handle(s->b, sizeof(struct cairn_wfb_child_s), obj)))
        return NULL;
    at(c->where, sizeof(c->where), "%s: child '%.128s'", where, id);
    return (cairn_wfb_child_t *)c;
}

void cairn_wfb_child_version(cairn_wfb_child_t *ch, int version) {
    node_t *c = (node_t *)ch;
    if (!dead(c))
        put(c, c->obj, "version", json_integer(version));
}

void cairn_wfb_child_input(cairn_wfb_child_t *ch, const char *v) {
    node_t *c = (node_t *)ch;
    json_t *j;
    if (dead(c) || missing(c, v, "input"))
        return;
    if ((j = value(c, "input", v)))
        put(c, c->obj, "input", j);
}

void cairn_wfb_child_workflow_id(cairn_wfb_child_t *ch, const char *v) {
    node_t *c = (node_t *)ch;
    json_t *j;
    if (dead(c) || missing(c, v, "workflow id"))
        return;
    if ((j = value(c, "workflow_id", v)))
        put(c, c->obj, "workflow_id", j);
}

void cairn_wfb_child_parent_close(cairn_wfb_child_t *ch,
                                  cairn_wfb_parent_close_t policy) {
    node_t *c = (node_t *)ch;
    const char *p = policy == CAIRN_WFB_PARENT_CLOSE_TERMINATE ? "terminate"
                    : policy == CAIRN_WFB_PARENT_CLOSE_REQUEST_CANCEL
                        ? "request_cancel"
                    : policy == CAIRN_WFB_PARENT_CLOSE_ABANDON ? "abandon"
                                                               : NULL;
    if (dead(c))
        return;
    if (!p) {
        berr(c->b, "%s: unknown parent close policy %d", c->where,
             (int)policy);
        return;
    }
    put_str(c, c->obj, "parent_close_policy", p);
}

void cairn_wfb_compensate(cairn_wfb_state_t *st) {
    node_t *s = (node_t *)st;
    if (!dead(s))
        add_cmd(s, json_pack("{s:b}", "compensate", 1), NULL, 0);
}

void cairn_wfb_complete(cairn_wfb_state_t *st, const char *v) {
    node_t *s = (node_t *)st;
    json_t *j;
    if (dead(s))
        return;
    if (!(j = v ? value(s, "complete value", v) : json_null()))
        return;
    add_cmd(s, json_pack("{s:o}", "complete", j), NULL, 0);
}

/* {"key": {}} or {"key": {inner: text}} for fail/cancel/continue_as_new. */
static json_t *with_optional(node_t *s, const char *inner, json_t *v) {
    json_t *o = json_object();
    if (!o) {
        json_decref(v);
        oom(s->b);
        return NULL;
    }
    if (v && put(s, o, inner, v)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void cairn_wfb_fail(cairn_wfb_state_t *st, const char *error_type,
                    const char *text) {
    node_t *s = (node_t *)st;
    json_t *o;
    if (dead(s) || missing(s, error_type, "error type"))
        return;
    if (!(o = json_object())) {
        oom(s->b);
        return;
    }
    if (put_str(s, o, "error_type", error_type) ||
        (text && put_str(s, o, "error_message", text))) {
        json_decref(o);
        return;
    }
    add_cmd(s, json_pack("{s:o}", "fail", o), NULL, 0);
}

void cairn_wfb_cancel(cairn_wfb_state_t *st, const char *text) {
    node_t *s = (node_t *)st;
    json_t *o, *reason = NULL;
    if (dead(s))
        return;
    if (text && !(reason = json_string(text))) {
        berr(s->b, "%s: cancel reason is not UTF-8 (or out of memory)",
             s->where);
        return;
    }
    if ((o = with_optional(s, "reason", reason)))
        add_cmd(s, json_pack("{s:o}", "cancel", o), NULL, 0);
}

void cairn_wfb_continue_as_new(cairn_wfb_state_t *st, const char *v) {
    node_t *s = (node_t *)st;
    json_t *o, *in = NULL;
    if (dead(s))
        return;
    if (v && !(in = value(s, "continue_as_new input", v)))
        return;
    if ((o = with_optional(s, "input", in)))
        add_cmd(s, json_pack("{s:o}", "continue_as_new", o), NULL, 0);
}

/* ---- transitions ---------------------------------------------------------- */

static const struct {
    const char *name, *ref_key; /* ref_key NULL: the event takes none */
} events[] = {
    [CAIRN_WFB_ACTIVITY_COMPLETED] = {"activity_completed", "activity"},
    [CAIRN_WFB_ACTIVITY_FAILED] = {"activity_failed", "activity"},
    [CAIRN_WFB_TIMER_FIRED] = {"timer_fired", "timer"},
    [CAIRN_WFB_SIGNAL_RECEIVED] = {"signal_received", "signal"},
    [CAIRN_WFB_SIGNAL_TIMEOUT] = {"signal_timeout", "signal"},
    [CAIRN_WFB_CHILD_COMPLETED] = {"child_completed", "child"},
    [CAIRN_WFB_CHILD_FAILED] = {"child_failed", "child"},
    [CAIRN_WFB_COMPENSATION_COMPLETED] = {"compensation_completed", NULL},
    [CAIRN_WFB_COMPENSATION_FAILED] = {"compensation_failed", NULL},
    [CAIRN_WFB_ALWAYS] = {"always", NULL},
};

cairn_wfb_trans_t *cairn_wfb_on(cairn_wfb_state_t *st, cairn_wfb_event_t event,
                                const char *ref, const char *target) {
    node_t *s = (node_t *)st, *t;
    json_t *list, *obj;
    int ev = (int)event;
    if (dead(s))
        return NULL;
    if (ev <= 0 || ev >= (int)(sizeof(events) / sizeof(events[0]))) {
        berr(s->b, "%s: unknown transition event %d", s->where, ev);
        return NULL;
    }
    if (ref && !events[ev].ref_key) {
        berr(s->b, "%s: event '%s' takes no reference (got '%s')", s->where,
             events[ev].name, ref);
        return NULL;
    }
    if (missing(s, target, "transition target") ||
        !(list = sub(s, s->obj, "on", 1)))
        return NULL;
    if (!(obj = json_pack("{s:s, s:s}", "event", events[ev].name, "target",
                          target))) {
        berr(s->b, "%s: cannot store target '%s' (not UTF-8, or out of "
                   "memory)",
             s->where, target);
        return NULL;
    }
    if (json_array_append_new(list, obj)) {
        oom(s->b);
        return NULL;
    }
    if (!(t = handle(s->b, sizeof(struct cairn_wfb_trans_s), obj)))
        return NULL;
    at(t->where, sizeof(t->where), "%s: on[%zu]", s->where,
             json_array_size(list) - 1);
    if (ref && put_str(t, obj, events[ev].ref_key, ref))
        return NULL;
    return (cairn_wfb_trans_t *)t;
}

void cairn_wfb_trans_when(cairn_wfb_trans_t *tr, const char *guard) {
    node_t *t = (node_t *)tr;
    if (dead(t) || missing(t, guard, "guard"))
        return;
    put_str(t, t->obj, "when", guard);
}

void cairn_wfb_trans_assign(cairn_wfb_trans_t *tr, const char *var,
                            const char *v) {
    node_t *t = (node_t *)tr;
    json_t *obj;
    if (dead(t) || !(obj = sub(t, t->obj, "assign", 0)))
        return;
    assign_to(t, obj, var, v);
}
