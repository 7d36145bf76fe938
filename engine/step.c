/*
 * step.c — cairn_engine_step(): one input event applied to one workflow.
 *
 * Atomicity: the step edits *wf's document in place (copying it first
 * would cost more than the step itself) and appends its outputs to out.
 * Allocation failures anywhere set st->oom; at the end either the outputs
 * stay (CAIRN_ERR_OK; *wf is the new state) or out is truncated back to
 * where the step began (CAIRN_ERR_NOMEM, out as it was) and *wf may be
 * half-changed: the caller must destroy it and rebuild it from durable
 * state. A workflow the step created (*wf was NULL) is destroyed on
 * failure, *wf stays NULL.
 *
 * Determinism: only arrays are iterated; assignments are evaluated against
 * the unchanged variables and written in sorted key order; every JSON text
 * the step produces is dumped with sorted keys. Time is in->time_ms. Values
 * taken from a context are shared, not copied (an activity's input may be
 * the variables object itself), and the one place that changes such a
 * value, set_var(), first replaces every object on its path that is held
 * anywhere else by a copy (copy-on-write, by jansson's reference count);
 * values moved between arrays are removed from the first. So a document
 * edited in place over many steps behaves exactly like one decoded afresh
 * before each step (test_shared_values_copy_on_write in
 * tests/unit/test_engine_flow.c runs the two side by side).
 *
 * Run-time ids. An activity command with id "charge" schedules runtime id
 * "charge" the first time, "charge#2" the second (a loop, a later run), so
 * the idempotency key workflow_id:activity_id never repeats for distinct
 * executions. Compensations run as "undo:<id>", children as
 * "child:<child workflow id>". Engine timers are "retry:<activity>",
 * "timeout:<activity>" (start_to_close), "deadline:<activity>"
 * (schedule_to_close), "hb:<activity>" (heartbeat; restarted by every
 * accepted ActivityHeartbeat), "signal:<name>" (wait_signal timeout) and
 * "workflow:timeout"; user timer ids cannot contain ':'.
 *
 * Dispositions (docs/WORKFLOWS.md has the table):
 *   duplicate request id, stale activity result / heartbeat /
 *   timer fire                                                -> no output
 *   request for an unknown workflow, or a closed one          -> Rejected, DLQ
 *   invalid request for a running workflow                    -> Rejected,
 *                                                                history
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "outputs.h"

#define MAX_TRANSITIONS_PER_STEP 100
#define MAX_ERROR_MESSAGE 4096

typedef struct {
    const cairn_registry_t *reg;
    cairn_limits_t lim;
    const cairn_event_t *in;
    int64_t now;
    const cairn_def_t *def; /* the running run's definition */
    cairn_wf_t *wf;         /* the workflow (edited in place), or NULL */
    json_t *doc;            /* wf->doc */
    cairn_outputs_t *out;   /* the caller's list; this step's from out_from */
    size_t out_from;
    int changed;
    int oom;
    int budget;
} st_t;

static void enter(st_t *st, size_t idx);

/* ---- small helpers ---------------------------------------------------- */

static int running(const st_t *st) {
    return st->doc && !st->oom &&
           !strcmp(cairn__jstr(st->doc, "status"), "running");
}

static void dset(st_t *st, json_t *obj, const char *key, json_t *val) {
    if (!val || json_object_set_new(obj, key, val))
        st->oom = 1;
    st->changed = 1;
}

static void dappend(st_t *st, json_t *arr, json_t *val) {
    if (!val || json_array_append_new(arr, val))
        st->oom = 1;
    st->changed = 1;
}

static json_t *dget(const st_t *st, const char *key) {
    return json_object_get(st->doc, key);
}

static void sset(st_t *st, char **field, const char *s) {
    if (cairn_event_set(field, s))
        st->oom = 1;
}

/*
 * Building objects member by member: json_pack parses its format string at
 * every call, and the two it replaced here (a new activity, a new run) were
 * a fifth of the engine step's time at saturation. put() takes val (NULL:
 * out of memory) and records any failure in *bad; obj may be NULL.
 */
static void put(json_t *obj, const char *key, json_t *val, int *bad) {
    if (!val || json_object_set_new_nocheck(obj, key, val))
        *bad = 1; /* json_object_set_new* releases val on failure */
}

/* obj if every put() succeeded, else NULL (obj released). */
static json_t *built(json_t *obj, int bad) {
    if (bad || !obj) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* JSON text of v (malloc'd, caller frees); NULL for NULL v or on oom. */
static char *dump(st_t *st, const json_t *v) {
    char *s;
    if (!v)
        return NULL;
    if (!(s = cairn__json_dump(v, NULL)))
        st->oom = 1;
    return s;
}

/* cairn__json_parse() that records out-of-memory in st. */
static json_t *parse_user_json(st_t *st, const char *text, char *why,
                               size_t whysz) {
    int oom = 0;
    json_t *v = cairn__json_parse(text, &oom, why, whysz);
    if (oom)
        st->oom = 1;
    return v;
}

static const char *wf_id(const st_t *st) {
    if (st->doc)
        return cairn__jstr(st->doc, "id");
    return st->in->workflow_id ? st->in->workflow_id : "";
}

/*
 * A new output with workflow_id and time_ms set; history events also get the
 * next seq. NULL on oom (st->oom set).
 */
static cairn_event_t *emit(st_t *st, cairn_out_dest_t dest,
                           cairn_event_type_t type) {
    cairn_event_t *ev;
    if (st->oom)
        return NULL;
    if (!(ev = cairn__outputs_add(st->out, dest, type))) {
        st->oom = 1;
        return NULL;
    }
    sset(st, &ev->workflow_id, wf_id(st));
    ev->time_ms = st->now;
    if (dest == CAIRN_OUT_HISTORY) {
        ev->seq = cairn__jint(st->doc, "seq") + 1;
        dset(st, st->doc, "seq", json_integer(ev->seq));
    }
    return st->oom ? NULL : ev;
}

static void ctx_init(const st_t *st, cairn__ctx_t *ctx) {
    memset(ctx, 0, sizeof(*ctx));
    ctx->doc = st->doc; /* $.vars: looked up in it at each use */
    ctx->input = dget(st, "input");
    ctx->workflow_id = dget(st, "id");
}

static int cmpstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * obj's member key (an object, borrowed) owned by obj alone: a member also
 * held elsewhere (an activity's input, another variable: templates share
 * values, cairn__tmpl_eval()) is replaced by a copy first. NULL on oom.
 */
static json_t *own(st_t *st, json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!v || v->refcount == 1)
        return v;
    json_t *copy = json_deep_copy(v);
    dset(st, obj, key, copy);
    return st->oom ? NULL : copy;
}

/*
 * Sets vars.<path> (dotted) to val (reference stolen). The only place a
 * step changes a value a template may share, so every object on the path
 * is made the document's own first (own()).
 */
static void set_var(st_t *st, const char *path, json_t *val) {
    json_t *obj = own(st, st->doc, "vars");
    char seg[513];
    const char *p = path;
    if (!obj) {
        json_decref(val);
        return;
    }
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(seg))
            n = sizeof(seg) - 1;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (!dot) {
            dset(st, obj, seg, val);
            return;
        }
        json_t *next = json_object_get(obj, seg);
        if (json_is_object(next) && !(next = own(st, obj, seg))) {
            json_decref(val);
            return;
        }
        if (!json_is_object(next)) {
            next = json_object();
            dset(st, obj, seg, next);
            if (st->oom) {
                json_decref(val);
                return;
            }
        }
        obj = next;
        p = dot + 1;
    }
}

/* Applies an assign object: all values read the unchanged state first. */
static void assign(st_t *st, const json_t *assign_obj,
                   const cairn__ctx_t *ctx) {
    size_t n = json_object_size(assign_obj), i = 0;
    const char **keys;
    json_t **vals;
    const char *k;
    json_t *t;
    if (!n || st->oom)
        return;
    keys = calloc(n, sizeof(*keys));
    vals = calloc(n, sizeof(*vals));
    if (!keys || !vals) {
        st->oom = 1;
        goto out;
    }
    json_object_foreach((json_t *)assign_obj, k, t) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmpstr);
    for (i = 0; i < n; i++)
        if (!(vals[i] = cairn__tmpl_eval(json_object_get(assign_obj, keys[i]),
                                         ctx)))
            st->oom = 1;
    if (st->oom)
        goto out;
    for (i = 0; i < n; i++) {
        set_var(st, keys[i], vals[i]);
        vals[i] = NULL;
    }
out:
    for (i = 0; vals && i < n; i++)
        json_decref(vals[i]);
    free(keys);
    free(vals);
}

/* ---- rejections, request ids --------------------------------------------- */

static void notify_parent_failed(st_t *st, const char *parent,
                                 const char *child_wf, const char *etype,
                                 const char *msg);

/* Rejects the input: into history if the workflow runs, else to the DLQ. */
static void reject(st_t *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reject(st_t *st, const char *fmt, ...) {
    char reason[600];
    va_list ap;
    const cairn_event_t *in = st->in;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    cairn_event_t *ev = emit(st, running(st) ? CAIRN_OUT_HISTORY
                                             : CAIRN_OUT_DLQ,
                             CAIRN_EV_REJECTED);
    if (!ev)
        return;
    sset(st, &ev->request_id, in->request_id);
    sset(st, &ev->rejected_type, cairn_event_type_name(in->type)
                                     ? cairn_event_type_name(in->type)
                                     : "unknown");
    sset(st, &ev->reason, reason);
    if (in->type == CAIRN_EV_START_WORKFLOW && in->parent_workflow_id &&
        in->workflow_id)
        notify_parent_failed(st, in->parent_workflow_id, in->workflow_id,
                             "ChildStartRejected", reason);
}

static int seen_request(const st_t *st, const char *rid) {
    size_t i;
    json_t *v;
    if (!strcmp(cairn__jstr(st->doc, "start_request_id"), rid))
        return 1;
    json_array_foreach(dget(st, "request_ids"), i, v) {
        if (!strcmp(json_string_value(v), rid))
            return 1;
    }
    return 0;
}

static void remember_request(st_t *st, const char *rid) {
    json_t *ids = dget(st, "request_ids");
    dappend(st, ids, json_string(rid));
    while (!st->oom && json_array_size(ids) > st->lim.request_id_memory)
        json_array_remove(ids, 0);
}

/* ---- timers ---------------------------------------------------------------- */

static long find_timer(const st_t *st, const char *id) {
    size_t i;
    json_t *t;
    json_array_foreach(dget(st, "timers"), i, t) {
        if (!strcmp(cairn__jstr(t, "id"), id))
            return (long)i;
    }
    return -1;
}

static void fail_wf(st_t *st, const char *etype, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void start_timer(st_t *st, const char *id, int64_t after_ms) {
    json_t *timers = dget(st, "timers"), *t;
    int64_t gen, fire_at;
    cairn_event_t *ev;
    if (!running(st))
        return;
    if (json_array_size(timers) >= st->lim.max_pending_timers) {
        fail_wf(st, "LimitExceeded",
                "timer '%s' would exceed max_pending_timers (%zu)", id,
                st->lim.max_pending_timers);
        return;
    }
    gen = cairn__jint(st->doc, "timer_gen") + 1;
    fire_at = after_ms > INT64_MAX - st->now ? INT64_MAX : st->now + after_ms;
    dset(st, st->doc, "timer_gen", json_integer(gen));
    int bad = 0;
    t = json_object();
    put(t, "id", json_string(id), &bad);
    put(t, "gen", json_integer(gen), &bad);
    put(t, "fire_at", json_integer(fire_at), &bad);
    t = built(t, bad);
    dappend(st, timers, t);
    if (!(ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_TIMER_STARTED)))
        return;
    sset(st, &ev->timer_id, id);
    ev->generation = gen;
    ev->fire_at_ms = fire_at;
}

/* start_timer() for the id prefix + name. */
static void start_timer2(st_t *st, const char *prefix, const char *name,
                         int64_t after_ms) {
    char full[600];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    start_timer(st, full, after_ms);
}

static void cancel_timer_at(st_t *st, size_t i) {
    json_t *timers = dget(st, "timers");
    json_t *t = json_array_get(timers, i);
    cairn_event_t *ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_TIMER_CANCELED);
    if (!ev)
        return;
    sset(st, &ev->timer_id, cairn__jstr(t, "id"));
    ev->generation = cairn__jint(t, "gen");
    json_array_remove(timers, i);
    st->changed = 1;
}

static void cancel_timer(st_t *st, const char *prefix, const char *id) {
    char full[600];
    snprintf(full, sizeof(full), "%s%s", prefix, id);
    long i = find_timer(st, full);
    if (i >= 0)
        cancel_timer_at(st, (size_t)i);
}

/* ---- activities ------------------------------------------------------------ */

static long find_act(const st_t *st, const char *id) {
    size_t i;
    json_t *a;
    json_array_foreach(dget(st, "acts"), i, a) {
        if (!strcmp(cairn__jstr(a, "id"), id))
            return (long)i;
    }
    return -1;
}

/* The spec an act runs (activity or compensation), or NULL for a child. */
static const cairn__act_spec_t *act_spec(const st_t *st, const json_t *act) {
    const char *kind = cairn__jstr(act, "kind");
    const cairn__act_spec_t *spec =
        cairn__def_activity(st->def, cairn__jstr(act, "def"));
    if (!spec || !strcmp(kind, "child"))
        return NULL;
    return strcmp(kind, "compensation") ? spec : spec->compensation;
}

/* Next runtime id for a def id: "id", then "id#2", ... */
static char *runtime_id(st_t *st, const char *prefix, const char *def_id) {
    json_t *runs = dget(st, "runs");
    char key[600], *id;
    snprintf(key, sizeof(key), "%s%s", prefix, def_id);
    int64_t n = json_integer_value(json_object_get(runs, key)) + 1;
    dset(st, runs, key, json_integer(n));
    if (n == 1)
        id = strdup(key);
    else if (asprintf(&id, "%s#%lld", key, (long long)n) < 0)
        id = NULL;
    if (!id)
        st->oom = 1;
    return id;
}

/* ActivityScheduled + ActivityTask for act's current attempt. */
static void send_attempt(st_t *st, json_t *act, const cairn__act_spec_t *spec) {
    const char *id = cairn__jstr(act, "id");
    char *input = NULL, *key = NULL;
    cairn_event_t *ev;
    if (!json_is_null(json_object_get(act, "input")))
        input = dump(st, json_object_get(act, "input"));
    if ((ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_ACTIVITY_SCHEDULED))) {
        sset(st, &ev->activity_id, id);
        sset(st, &ev->activity_name, cairn__jstr(act, "name"));
        sset(st, &ev->task_queue, cairn__jstr(act, "queue"));
        ev->attempt = (int32_t)cairn__jint(act, "attempt");
        sset(st, &ev->input, input);
    }
    if ((ev = emit(st, CAIRN_OUT_TASK, CAIRN_EV_ACTIVITY_TASK))) {
        if (asprintf(&key, "%s:%s", wf_id(st), id) < 0) {
            key = NULL;
            st->oom = 1;
        }
        sset(st, &ev->activity_id, id);
        sset(st, &ev->activity_name, cairn__jstr(act, "name"));
        sset(st, &ev->task_queue, cairn__jstr(act, "queue"));
        ev->attempt = (int32_t)cairn__jint(act, "attempt");
        sset(st, &ev->idempotency_key, key);
        sset(st, &ev->input, input);
        ev->timeout_ms = spec->start_to_close_ms;
    }
    free(key);
    free(input);
    if (spec->start_to_close_ms)
        start_timer2(st, "timeout:", id, spec->start_to_close_ms);
    if (spec->heartbeat_ms)
        start_timer2(st, "hb:", id, spec->heartbeat_ms);
}

/*
 * Schedules a new activity (kind "activity" or "compensation") for the spec
 * with its evaluated input (reference stolen; NULL = no input).
 */
static void schedule(st_t *st, const char *def_id, const char *kind,
                     const cairn__act_spec_t *spec, json_t *input) {
    json_t *acts = dget(st, "acts"), *act;
    char *id = NULL;
    if (!running(st))
        goto out;
    if (json_array_size(acts) >= st->lim.max_pending_activities) {
        fail_wf(st, "LimitExceeded",
                "activity '%s' would exceed max_pending_activities (%zu)",
                def_id, st->lim.max_pending_activities);
        goto out;
    }
    if (!(id = runtime_id(st, strcmp(kind, "compensation") ? "" : "undo:",
                          def_id)))
        goto out;
    int bad = 0;
    act = json_object();
    put(act, "id", json_string(id), &bad);
    put(act, "def", json_string(def_id), &bad);
    put(act, "kind", json_string(kind), &bad);
    put(act, "name", json_string(spec->name), &bad);
    put(act, "queue", json_string(spec->task_queue), &bad);
    put(act, "attempt", json_integer(1), &bad);
    put(act, "input", input ? json_incref(input) : json_null(), &bad);
    put(act, "backoff", json_integer(0), &bad);
    put(act, "first_ms", json_integer(st->now), &bad);
    act = built(act, bad);
    dappend(st, acts, act);
    if (st->oom)
        goto out;
    send_attempt(st, act, spec);
    if (spec->schedule_to_close_ms)
        start_timer2(st, "deadline:", id, spec->schedule_to_close_ms);
out:
    free(id);
    json_decref(input);
}

/* Starts a child workflow: StartWorkflow to the events topic. */
static void start_child(st_t *st, const cairn__cmd_t *c,
                        const cairn__ctx_t *ctx) {
    json_t *acts = dget(st, "acts"), *act, *input = NULL, *wfid = NULL;
    char *rt = NULL, *child_wf = NULL, *aid = NULL, *rid = NULL, *text = NULL;
    cairn_event_t *ev;
    if (json_array_size(acts) >= st->lim.max_pending_activities) {
        fail_wf(st, "LimitExceeded",
                "child '%s' would exceed max_pending_activities (%zu)", c->id,
                st->lim.max_pending_activities);
        return;
    }
    if (!(rt = runtime_id(st, "", c->id)))
        goto out;
    if (c->child_wfid) {
        if (!(wfid = cairn__tmpl_eval(c->child_wfid, ctx))) {
            st->oom = 1;
            goto out;
        }
        if (json_is_string(wfid) && json_string_length(wfid)) {
            child_wf = strdup(json_string_value(wfid));
        } else {
            fail_wf(st, "InvalidChildWorkflowId",
                    "child '%s': workflow_id did not evaluate to a non-empty "
                    "string",
                    c->id);
            goto out;
        }
    } else if (asprintf(&child_wf, "%s:%s", wf_id(st), rt) < 0) {
        child_wf = NULL;
    }
    if (!child_wf || asprintf(&aid, "child:%s", child_wf) < 0 ||
        asprintf(&rid, "%s:%s", wf_id(st), rt) < 0) {
        st->oom = 1;
        goto out;
    }
    if (find_act(st, aid) >= 0) {
        fail_wf(st, "InvalidChildWorkflowId",
                "child '%s': workflow id '%s' is already a pending child",
                c->id, child_wf);
        goto out;
    }
    if (!(input = c->value ? cairn__tmpl_eval(c->value, ctx) : json_null())) {
        st->oom = 1;
        goto out;
    }
    act = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:O, s:i, s:I, s:s, s:s}",
                    "id", aid, "def", c->id, "kind", "child", "name",
                    c->child_type, "queue", "", "attempt", 1, "input", input,
                    "backoff", 0, "first_ms", (json_int_t)st->now, "child_wf",
                    child_wf, "policy", c->parent_close);
    dappend(st, acts, act);
    text = json_is_null(input) ? NULL : dump(st, input);
    /* Recorded like an activity, on the pseudo queue "cairn.child". */
    if ((ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_ACTIVITY_SCHEDULED))) {
        sset(st, &ev->activity_id, aid);
        sset(st, &ev->activity_name, c->child_type);
        sset(st, &ev->task_queue, "cairn.child");
        ev->attempt = 1;
        sset(st, &ev->input, text);
    }
    if ((ev = emit(st, CAIRN_OUT_EVENTS, CAIRN_EV_START_WORKFLOW))) {
        sset(st, &ev->workflow_id, child_wf);
        sset(st, &ev->request_id, rid);
        sset(st, &ev->workflow_type, c->child_type);
        ev->version = c->child_version;
        sset(st, &ev->input, text);
        sset(st, &ev->start_policy, "reject_duplicate");
        sset(st, &ev->parent_workflow_id, wf_id(st));
    }
out:
    free(rt);
    free(child_wf);
    free(aid);
    free(rid);
    free(text);
    json_decref(input);
    json_decref(wfid);
}

/* Applies a child's parent_close_policy when the parent stops waiting. */
static void release_child(st_t *st, const json_t *act, const char *why) {
    const char *policy = cairn__jstr(act, "policy");
    const char *child_wf = cairn__jstr(act, "child_wf");
    char *rid = NULL;
    cairn_event_t *ev;
    if (!policy || !child_wf || !strcmp(policy, "abandon"))
        return;
    int term = !strcmp(policy, "terminate");
    if (asprintf(&rid, "%s:%s:%s", wf_id(st), cairn__jstr(act, "id"),
                 term ? "terminate" : "cancel") < 0) {
        st->oom = 1;
        return;
    }
    if ((ev = emit(st, CAIRN_OUT_EVENTS,
                   term ? CAIRN_EV_TERMINATE_WORKFLOW
                        : CAIRN_EV_CANCEL_WORKFLOW))) {
        sset(st, &ev->workflow_id, child_wf);
        sset(st, &ev->request_id, rid);
        sset(st, &ev->reason, why);
    }
    free(rid);
}

/* Removes acts[i] and cancels its engine timers. */
static void remove_act(st_t *st, size_t i) {
    json_t *act = json_incref(json_array_get(dget(st, "acts"), i));
    const char *id = cairn__jstr(act, "id");
    cancel_timer(st, "retry:", id);
    cancel_timer(st, "timeout:", id);
    cancel_timer(st, "hb:", id);
    cancel_timer(st, "deadline:", id);
    json_array_remove(dget(st, "acts"), i);
    st->changed = 1;
    json_decref(act);
}

/*
 * Leaves the current state: cancels its timers (all but the workflow
 * timeout), abandons its activities and children (children get their
 * parent_close_policy).
 */
static void leave_state(st_t *st, const char *why) {
    json_t *timers = dget(st, "timers"), *acts = dget(st, "acts");
    size_t i = 0;
    while (!st->oom && i < json_array_size(timers)) {
        if (!strcmp(cairn__jstr(json_array_get(timers, i), "id"),
                    "workflow:timeout"))
            i++;
        else
            cancel_timer_at(st, i);
    }
    for (i = 0; !st->oom && i < json_array_size(acts); i++) {
        const json_t *act = json_array_get(acts, i);
        if (!strcmp(cairn__jstr(act, "kind"), "child"))
            release_child(st, act, why);
    }
    if (json_array_size(acts)) {
        json_array_clear(acts);
        st->changed = 1;
    }
}

/* ---- closing --------------------------------------------------------------- */

static void notify_parent(st_t *st, cairn_event_type_t type, const char *parent,
                          const char *child_wf, const char *result,
                          const char *etype, const char *msg) {
    char *aid = NULL;
    cairn_event_t *ev;
    if (asprintf(&aid, "child:%s", child_wf) < 0) {
        st->oom = 1;
        return;
    }
    if ((ev = emit(st, CAIRN_OUT_EVENTS, type))) {
        sset(st, &ev->workflow_id, parent);
        sset(st, &ev->activity_id, aid);
        ev->attempt = 1;
        sset(st, &ev->result, result);
        sset(st, &ev->error_type, etype);
        sset(st, &ev->error_message, msg);
        ev->non_retryable = type == CAIRN_EV_ACTIVITY_FAILED;
    }
    free(aid);
}

static void notify_parent_failed(st_t *st, const char *parent,
                                 const char *child_wf, const char *etype,
                                 const char *msg) {
    notify_parent(st, CAIRN_EV_ACTIVITY_FAILED, parent, child_wf, NULL, etype,
                  msg);
}

/*
 * Closes the run with status: cancels every timer, releases activities and
 * children, emits the terminal event (type) and notifies a parent. The caller
 * fills the terminal event's own fields through the returned pointer.
 */
static cairn_event_t *close_run(st_t *st, const char *status,
                                cairn_event_type_t type) {
    long i;
    leave_state(st, "parent workflow closed");
    if ((i = find_timer(st, "workflow:timeout")) >= 0)
        cancel_timer_at(st, (size_t)i);
    dset(st, st->doc, "status", json_string(status));
    return emit(st, CAIRN_OUT_HISTORY, type);
}

static void complete_wf(st_t *st, json_t *result) {
    char *text = json_is_null(result) ? NULL : dump(st, result);
    cairn_event_t *ev = close_run(st, "completed", CAIRN_EV_WORKFLOW_COMPLETED);
    const char *parent = cairn__jstr(st->doc, "parent_id");
    if (ev)
        sset(st, &ev->result, text);
    if (parent && !st->oom)
        notify_parent(st, CAIRN_EV_ACTIVITY_COMPLETED, parent, wf_id(st),
                      text, NULL, NULL);
    free(text);
}

/* Closes with status "failed", "canceled" or "terminated". */
static void close_wf(st_t *st, const char *status, const char *etype,
                     const char *msg) {
    cairn_event_type_t type = !strcmp(status, "failed")
                                  ? CAIRN_EV_WORKFLOW_FAILED
                              : !strcmp(status, "canceled")
                                  ? CAIRN_EV_WORKFLOW_CANCELED
                                  : CAIRN_EV_WORKFLOW_TERMINATED;
    const char *parent = cairn__jstr(st->doc, "parent_id");
    char ptype[64], pmsg[MAX_ERROR_MESSAGE + 200];
    cairn_event_t *ev = close_run(st, status, type);
    if (ev && type == CAIRN_EV_WORKFLOW_FAILED) {
        sset(st, &ev->error_type, etype);
        sset(st, &ev->error_message, msg);
    } else if (ev) {
        sset(st, &ev->reason, msg);
    }
    if (!parent || st->oom)
        return;
    snprintf(ptype, sizeof(ptype), "%s",
             type == CAIRN_EV_WORKFLOW_FAILED     ? "ChildFailed"
             : type == CAIRN_EV_WORKFLOW_CANCELED ? "ChildCanceled"
                                                  : "ChildTerminated");
    if (type == CAIRN_EV_WORKFLOW_FAILED)
        snprintf(pmsg, sizeof(pmsg), "%s: %s", etype, msg ? msg : "");
    else
        snprintf(pmsg, sizeof(pmsg), "%s", msg ? msg : "");
    notify_parent_failed(st, parent, wf_id(st), ptype, pmsg);
}

static void fail_wf(st_t *st, const char *etype, const char *fmt, ...) {
    char msg[MAX_ERROR_MESSAGE + 200];
    va_list ap;
    if (!running(st))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    close_wf(st, "failed", etype, msg);
}

/* ---- runs ----------------------------------------------------------------- */

/*
 * Starts a fresh run of def on st (creating the workflow if needed):
 * WorkflowStarted, the execution timeout, the initial state. input is the
 * start input (borrowed; NULL = none), text its JSON text for the event.
 */
static void new_run(st_t *st, const cairn_def_t *def, const json_t *input,
                    const char *text, const char *rid, const char *parent) {
    json_t *old = st->doc, *doc;
    cairn_event_t *ev;
    json_t *vars = json_is_object(input) ? json_deep_copy(input)
                                         : json_object();
    int bad = 0;
    doc = json_object();
    put(doc, "format", json_integer(1), &bad);
    put(doc, "id", json_string(wf_id(st)), &bad);
    put(doc, "type", json_string(def->type), &bad);
    put(doc, "version", json_integer(def->version), &bad);
    put(doc, "status", json_string("running"), &bad);
    put(doc, "state", json_null(), &bad);
    put(doc, "seq", json_integer(old ? cairn__jint(old, "seq") : 0), &bad);
    put(doc, "run", json_integer(old ? cairn__jint(old, "run") + 1 : 1), &bad);
    put(doc, "run_seq", json_integer(0), &bad);
    put(doc, "started_ms", json_integer(st->now), &bad);
    put(doc, "updated_ms", json_integer(st->now), &bad);
    put(doc, "timer_gen",
        json_integer(old ? cairn__jint(old, "timer_gen") : 0), &bad);
    put(doc, "start_request_id", json_string(rid), &bad);
    put(doc, "input", input ? json_deep_copy(input) : json_null(), &bad);
    put(doc, "vars", vars, &bad);
    put(doc, "acts", json_array(), &bad);
    put(doc, "timers", json_array(), &bad);
    put(doc, "signals", json_array(), &bad);
    put(doc, "request_ids",
        old ? json_deep_copy(json_object_get(old, "request_ids"))
            : json_array(),
        &bad);
    put(doc, "runs",
        old ? json_deep_copy(json_object_get(old, "runs")) : json_object(),
        &bad);
    put(doc, "saga", json_array(), &bad);
    put(doc, "canceling", json_integer(0), &bad);
    doc = built(doc, bad);
    if (!doc) {
        st->oom = 1;
        return;
    }
    if (parent && json_object_set_new(doc, "parent_id", json_string(parent))) {
        json_decref(doc);
        st->oom = 1;
        return;
    }
    if (st->wf) {
        json_decref(st->wf->doc);
        st->wf->doc = doc;
    } else if (!(st->wf = cairn__wf_wrap(doc))) {
        st->oom = 1;
        return;
    }
    st->doc = doc;
    st->def = def;
    st->changed = 1;
    remember_request(st, rid);
    if (!(ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_WORKFLOW_STARTED)))
        return;
    dset(st, doc, "run_seq", json_integer(ev->seq));
    sset(st, &ev->request_id, rid);
    sset(st, &ev->workflow_type, def->type);
    ev->version = def->version;
    sset(st, &ev->input, text);
    sset(st, &ev->parent_workflow_id, parent);
    if (def->execution_timeout_ms)
        start_timer(st, "workflow:timeout", def->execution_timeout_ms);
    enter(st, def->initial);
}

/* ---- states and transitions --------------------------------------------- */

/* The first transition of the current state that matches, or NULL. */
static const cairn__trans_t *find_trans(st_t *st, cairn__evk_t evk,
                                        const char *ref,
                                        const cairn__ctx_t *ctx) {
    long si = cairn__def_state(st->def, cairn__jstr(st->doc, "state"));
    if (si < 0 || st->oom)
        return NULL;
    const cairn__state_t *s = &st->def->states[si];
    for (size_t i = 0; i < s->ntrans; i++) {
        const cairn__trans_t *t = &s->trans[i];
        if (t->event != evk || (t->ref && ref && strcmp(t->ref, ref)))
            continue;
        if (t->when) {
            int ok = cairn__expr_eval(t->when, ctx);
            if (ok < 0) {
                st->oom = 1;
                return NULL;
            }
            if (!ok)
                continue;
        }
        return t;
    }
    return NULL;
}

static void take(st_t *st, const cairn__trans_t *t, const cairn__ctx_t *ctx) {
    if (t->assign)
        assign(st, t->assign, ctx);
    leave_state(st, "parent workflow left the state that started the child");
    if (running(st))
        enter(st, t->target);
}

/* Finds and takes a transition; returns 1 if one was taken. */
static int fire(st_t *st, cairn__evk_t evk, const char *ref,
                const cairn__ctx_t *ctx) {
    const cairn__trans_t *t = find_trans(st, evk, ref, ctx);
    if (!t)
        return 0;
    take(st, t, ctx);
    return 1;
}

/* Schedules the newest compensation; 0 if the saga is empty. */
static int next_compensation(st_t *st) {
    json_t *saga = dget(st, "saga");
    size_t n = json_array_size(saga);
    if (!n)
        return 0;
    json_t *top = json_incref(json_array_get(saga, n - 1));
    const cairn__act_spec_t *spec =
        cairn__def_activity(st->def, cairn__jstr(top, "def"));
    json_array_remove(saga, n - 1);
    st->changed = 1;
    if (spec && spec->compensation)
        schedule(st, cairn__jstr(top, "def"), "compensation", spec->compensation,
                 json_incref(json_object_get(top, "input")));
    json_decref(top);
    return 1;
}

static void run_cmd(st_t *st, const cairn__cmd_t *c, int *comp_done) {
    cairn__ctx_t ctx;
    json_t *v = NULL;
    ctx_init(st, &ctx);
    switch (c->kind) {
    case CAIRN__CMD_ACTIVITY:
        if (c->act->input && !(v = cairn__tmpl_eval(c->act->input, &ctx))) {
            st->oom = 1;
            return;
        }
        schedule(st, c->act->id, "activity", c->act, v);
        return;
    case CAIRN__CMD_TIMER: start_timer(st, c->id, c->after_ms); return;
    case CAIRN__CMD_WAIT_SIGNAL:
        if (c->after_ms)
            start_timer2(st, "signal:", c->id, c->after_ms);
        return;
    case CAIRN__CMD_ASSIGN: assign(st, c->value, &ctx); return;
    case CAIRN__CMD_CHILD: start_child(st, c, &ctx); return;
    case CAIRN__CMD_COMPENSATE:
        if (!next_compensation(st))
            *comp_done = 1;
        return;
    case CAIRN__CMD_COMPLETE:
        if (!(v = cairn__tmpl_eval(c->value, &ctx))) {
            st->oom = 1;
            return;
        }
        complete_wf(st, v);
        break;
    case CAIRN__CMD_FAIL:
    case CAIRN__CMD_CANCEL: {
        char *msg = NULL;
        if (c->value) {
            if (!(v = cairn__tmpl_eval(c->value, &ctx))) {
                st->oom = 1;
                return;
            }
            msg = json_is_string(v) ? strdup(json_string_value(v))
                  : json_is_null(v) ? NULL
                                    : dump(st, v);
            if (!msg && !json_is_null(v))
                st->oom = 1;
        }
        if (!st->oom) {
            if (c->kind == CAIRN__CMD_FAIL)
                close_wf(st, "failed", c->error_type, msg);
            else
                close_wf(st, "canceled", NULL, msg);
        }
        free(msg);
        break;
    }
    case CAIRN__CMD_CONTINUE_AS_NEW: {
        char *text, rid[64];
        cairn_event_t *ev;
        if (!(v = c->value ? cairn__tmpl_eval(c->value, &ctx) : json_null())) {
            st->oom = 1;
            return;
        }
        text = json_is_null(v) ? NULL : dump(st, v);
        if ((ev = close_run(st, "continued_as_new",
                            CAIRN_EV_WORKFLOW_CONTINUED_AS_NEW))) {
            sset(st, &ev->workflow_type, st->def->type);
            ev->version = st->def->version;
            sset(st, &ev->input, text);
        }
        snprintf(rid, sizeof(rid), "continue-as-new:%lld",
                 (long long)cairn__jint(st->doc, "run") + 1);
        char *parent = cairn__jstr(st->doc, "parent_id")
                           ? strdup(cairn__jstr(st->doc, "parent_id"))
                           : NULL;
        if (cairn__jstr(st->doc, "parent_id") && !parent)
            st->oom = 1;
        if (!st->oom)
            new_run(st, st->def, v, text, rid, parent);
        free(parent);
        free(text);
        break;
    }
    }
    json_decref(v);
}

/* Enters state idx: on_enter commands, then immediate transitions. */
static void enter(st_t *st, size_t idx) {
    const cairn__state_t *s = &st->def->states[idx];
    cairn__ctx_t ctx;
    int comp_done = 0;
    if (--st->budget < 0) {
        fail_wf(st, "TransitionLoop",
                "more than %d transitions in one step (state '%s')",
                MAX_TRANSITIONS_PER_STEP, s->name);
        return;
    }
    dset(st, st->doc, "state", json_string(s->name));
    for (size_t i = 0; i < s->ncmds && running(st); i++)
        run_cmd(st, &s->cmds[i], &comp_done);
    if (!running(st) || s->terminal)
        return;
    ctx_init(st, &ctx);
    if (comp_done && fire(st, CAIRN__EVK_COMPENSATION_COMPLETED, NULL, &ctx))
        return;
    if (fire(st, CAIRN__EVK_ALWAYS, NULL, &ctx))
        return;
    /* Buffered signals, oldest first. */
    json_t *sigs = dget(st, "signals");
    for (size_t i = 0; i < json_array_size(sigs) && !st->oom; i++) {
        json_t *sig = json_array_get(sigs, i), *name;
        const cairn__trans_t *t;
        ctx.payload = json_object_get(sig, "payload");
        ctx.signal = name = json_object_get(sig, "name");
        t = find_trans(st, CAIRN__EVK_SIGNAL_RECEIVED, json_string_value(name),
                       &ctx);
        if (t) {
            json_incref(sig);
            json_array_remove(sigs, i);
            st->changed = 1;
            take(st, t, &ctx);
            json_decref(sig);
            return;
        }
    }
}

/* ---- activity results --------------------------------------------------- */

static int64_t backoff_ms(const cairn__retry_t *r, int32_t attempt) {
    double d = (double)r->initial_interval_ms *
               pow(r->backoff_coefficient, (double)(attempt - 1));
    if (!(d < (double)r->maximum_interval_ms))
        return r->maximum_interval_ms;
    return (int64_t)d;
}

static int listed(const cairn__retry_t *r, const char *etype) {
    for (size_t i = 0; etype && i < r->n_non_retryable; i++)
        if (!strcmp(r->non_retryable[i], etype))
            return 1;
    return 0;
}

/* acts[i] finished successfully with result (borrowed). */
static void act_completed(st_t *st, size_t i, const json_t *result) {
    json_t *act = json_array_get(dget(st, "acts"), i);
    /* The act goes before the transitions run: its input may share the
     * variables they assign (which would then be copied first). Only its
     * kind and def strings are kept. */
    json_t *kind_j = json_incref(json_object_get(act, "kind"));
    json_t *def_j = json_incref(json_object_get(act, "def"));
    const char *kind = json_string_value(kind_j);
    const char *def_id = json_string_value(def_j);
    cairn__ctx_t ctx;
    remove_act(st, i);
    ctx_init(st, &ctx);
    ctx.result = result;
    if (!strcmp(kind, "compensation")) {
        if (!next_compensation(st))
            fire(st, CAIRN__EVK_COMPENSATION_COMPLETED, NULL, &ctx);
    } else if (!strcmp(kind, "child")) {
        fire(st, CAIRN__EVK_CHILD_COMPLETED, def_id, &ctx);
    } else {
        const cairn__act_spec_t *spec = cairn__def_activity(st->def, def_id);
        if (spec && spec->compensation) {
            json_t *in = spec->compensation->input
                             ? cairn__tmpl_eval(spec->compensation->input, &ctx)
                             : json_null();
            dappend(st, dget(st, "saga"),
                    in ? json_pack("{s:s, s:o}", "def", def_id, "input", in)
                       : NULL);
        }
        if (!st->oom)
            fire(st, CAIRN__EVK_ACTIVITY_COMPLETED, def_id, &ctx);
    }
    json_decref(kind_j);
    json_decref(def_j);
}

/*
 * acts[i]'s current attempt failed: retry after a backoff if the policy
 * allows, else transition on the failure (or fail the workflow).
 */
static void act_failed(st_t *st, size_t i, const char *etype, const char *msg,
                       int non_retryable) {
    json_t *act = json_incref(json_array_get(dget(st, "acts"), i));
    const char *kind = cairn__jstr(act, "kind"), *def_id = cairn__jstr(act, "def");
    const char *id = cairn__jstr(act, "id");
    const cairn__act_spec_t *spec = act_spec(st, act);
    int32_t attempt = (int32_t)cairn__jint(act, "attempt");
    cairn__ctx_t ctx;
    json_t *err = NULL;
    cancel_timer(st, "timeout:", id);
    cancel_timer(st, "hb:", id);
    if (spec && !non_retryable && !listed(&spec->retry, etype) &&
        (!spec->retry.maximum_attempts ||
         attempt < spec->retry.maximum_attempts)) {
        dset(st, act, "backoff", json_integer(1));
        start_timer2(st, "retry:", id, backoff_ms(&spec->retry, attempt));
        goto out;
    }
    remove_act(st, i);
    if (!(err = json_pack("{s:s, s:s?, s:i, s:s}", "type", etype ? etype : "",
                          "message", msg, "attempt", (int)attempt, "activity",
                          def_id))) {
        st->oom = 1;
        goto out;
    }
    ctx_init(st, &ctx);
    ctx.error = err;
    if (!strcmp(kind, "compensation")) {
        if (!fire(st, CAIRN__EVK_COMPENSATION_FAILED, NULL, &ctx))
            fail_wf(st, "CompensationFailed",
                    "compensation of '%s' failed after %d attempt(s): %s: %s",
                    def_id, attempt, etype ? etype : "", msg ? msg : "");
    } else if (!strcmp(kind, "child")) {
        if (!fire(st, CAIRN__EVK_CHILD_FAILED, def_id, &ctx))
            fail_wf(st, etype ? etype : "ChildFailed", "child '%s' failed: %s",
                    def_id, msg ? msg : "");
    } else if (!fire(st, CAIRN__EVK_ACTIVITY_FAILED, def_id, &ctx)) {
        fail_wf(st, etype && *etype ? etype : "ActivityFailed",
                "activity '%s' failed after %d attempt(s): %s", def_id,
                attempt, msg ? msg : "");
    }
out:
    json_decref(err);
    json_decref(act);
}

/* Records the input in history (a copy with the next seq). */
static cairn_event_t *accept(st_t *st) {
    cairn_event_t *ev = emit(st, CAIRN_OUT_HISTORY, st->in->type);
    int64_t seq;
    if (!ev)
        return NULL;
    seq = ev->seq;
    cairn_event_clear(ev);
    if (cairn_event_copy(ev, st->in)) {
        st->oom = 1;
        return NULL;
    }
    ev->seq = seq;
    ev->time_ms = st->now;
    return ev;
}

static void on_activity_result(st_t *st) {
    const cairn_event_t *in = st->in;
    long i;
    json_t *act;
    if (!in->activity_id) {
        reject(st, "%s without activity_id", cairn_event_type_name(in->type));
        return;
    }
    if ((i = find_act(st, in->activity_id)) < 0)
        return; /* stale or duplicate */
    act = json_array_get(dget(st, "acts"), (size_t)i);
    if (cairn__jint(act, "attempt") != in->attempt ||
        cairn__jint(act, "backoff"))
        return; /* an older attempt */
    if (in->type == CAIRN_EV_ACTIVITY_FAILED) {
        cairn_event_t *ev = accept(st);
        if (!ev)
            return;
        if (ev->error_message &&
            strlen(ev->error_message) > MAX_ERROR_MESSAGE)
            ev->error_message[MAX_ERROR_MESSAGE] = '\0';
        if (!ev->error_type)
            sset(st, &ev->error_type, "Error");
        act_failed(st, (size_t)i, ev->error_type, ev->error_message,
                   in->non_retryable);
        return;
    }
    /* Completed: an unusable result fails the attempt, non-retryably. */
    json_t *result = NULL;
    char why[400], jtext[200];
    if (in->result && strlen(in->result) > st->lim.max_payload_bytes) {
        snprintf(why, sizeof(why),
                 "result of %zu bytes exceeds max_payload_bytes (%zu)",
                 strlen(in->result), st->lim.max_payload_bytes);
        goto bad;
    }
    if (in->result &&
        !(result = parse_user_json(st, in->result, jtext, sizeof(jtext)))) {
        if (st->oom)
            return;
        snprintf(why, sizeof(why), "result is not valid JSON: %s", jtext);
        goto bad;
    }
    if (!result)
        result = json_null();
    if (accept(st))
        act_completed(st, (size_t)i, result);
    json_decref(result);
    return;
bad:
    reject(st, "%s", why);
    cairn_event_t *ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_ACTIVITY_FAILED);
    if (!ev)
        return;
    sset(st, &ev->activity_id, in->activity_id);
    ev->attempt = in->attempt;
    sset(st, &ev->error_type, "InvalidResult");
    sset(st, &ev->error_message, why);
    ev->non_retryable = 1;
    act_failed(st, (size_t)i, "InvalidResult", why, 1);
}

/*
 * ActivityHeartbeat from a worker: the pending attempt is alive. Recorded in
 * history (so replay can rebuild it as an input: the TimerCanceled +
 * TimerStarted it causes must be reproducible) and restarts the attempt's
 * heartbeat timer "hb:<activity>" with a new generation. A heartbeat for an
 * unknown or finished activity, an older attempt, an attempt waiting for its
 * retry, or an activity without heartbeat_ms is ignored silently (no output).
 */
static void on_heartbeat(st_t *st) {
    const cairn_event_t *in = st->in;
    const cairn__act_spec_t *spec;
    json_t *act, *details = NULL;
    char jtext[200], tid[600];
    long i;
    if (!in->activity_id || !*in->activity_id) {
        reject(st, "ActivityHeartbeat without activity_id");
        return;
    }
    if ((i = find_act(st, in->activity_id)) < 0)
        return; /* stale: finished, timed out or unknown */
    act = json_array_get(dget(st, "acts"), (size_t)i);
    if (cairn__jint(act, "attempt") != in->attempt ||
        cairn__jint(act, "backoff"))
        return; /* an older attempt */
    spec = act_spec(st, act);
    snprintf(tid, sizeof(tid), "hb:%s", in->activity_id);
    if (!spec || !spec->heartbeat_ms || find_timer(st, tid) < 0)
        return; /* no heartbeat timeout to extend */
    if (in->payload && strlen(in->payload) > st->lim.max_payload_bytes) {
        reject(st, "heartbeat details of %zu bytes exceed max_payload_bytes "
                   "(%zu)",
               strlen(in->payload), st->lim.max_payload_bytes);
        return;
    }
    if (in->payload &&
        !(details = parse_user_json(st, in->payload, jtext, sizeof(jtext)))) {
        if (!st->oom)
            reject(st, "heartbeat details are not valid JSON: %s", jtext);
        return;
    }
    json_decref(details);
    if (!accept(st))
        return;
    cancel_timer(st, "hb:", in->activity_id);
    start_timer2(st, "hb:", in->activity_id, spec->heartbeat_ms);
}

/* ---- timers ------------------------------------------------------------- */

static void on_timer_fired(st_t *st) {
    const cairn_event_t *in = st->in;
    long i, a;
    json_t *t;
    char *id;
    cairn__ctx_t ctx;
    if (!in->timer_id)
        return;
    if ((i = find_timer(st, in->timer_id)) < 0)
        return;
    t = json_array_get(dget(st, "timers"), (size_t)i);
    if (cairn__jint(t, "gen") != in->generation)
        return; /* an older generation */
    if (!accept(st))
        return;
    json_array_remove(dget(st, "timers"), (size_t)i);
    if (!(id = strdup(in->timer_id))) {
        st->oom = 1;
        return;
    }
    char *colon = strchr(id, ':');
    const char *name = colon ? colon + 1 : id;
    if (colon)
        *colon = '\0';
    ctx_init(st, &ctx);
    if (!colon) {
        fire(st, CAIRN__EVK_TIMER_FIRED, id, &ctx);
    } else if (!strcmp(id, "signal")) {
        fire(st, CAIRN__EVK_SIGNAL_TIMEOUT, name, &ctx);
    } else if (!strcmp(id, "workflow")) {
        fail_wf(st, "WorkflowTimedOut",
                "execution timeout of %lld ms reached",
                (long long)st->def->execution_timeout_ms);
    } else if ((a = find_act(st, name)) >= 0) {
        json_t *act = json_array_get(dget(st, "acts"), (size_t)a);
        const cairn__act_spec_t *spec = act_spec(st, act);
        if (!strcmp(id, "retry") && spec) {
            dset(st, act, "attempt",
                 json_integer(cairn__jint(act, "attempt") + 1));
            dset(st, act, "backoff", json_integer(0));
            if (!st->oom)
                send_attempt(st, act, spec);
        } else if (!strcmp(id, "timeout") || !strcmp(id, "deadline") ||
                   !strcmp(id, "hb")) {
            int deadline = !strcmp(id, "deadline"), hb = !strcmp(id, "hb");
            cairn_event_t *ev =
                emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_ACTIVITY_TIMED_OUT);
            if (ev) {
                sset(st, &ev->activity_id, name);
                ev->attempt = (int32_t)cairn__jint(act, "attempt");
                sset(st, &ev->timeout_kind,
                     deadline ? "schedule_to_close"
                     : hb     ? "heartbeat"
                              : "start_to_close");
                act_failed(st, (size_t)a,
                           deadline ? "ScheduleToCloseTimeout"
                           : hb     ? "HeartbeatTimeout"
                                    : "StartToCloseTimeout",
                           deadline ? "schedule_to_close timeout"
                           : hb     ? "heartbeat timeout"
                                    : "start_to_close timeout",
                           deadline);
            }
        }
    }
    free(id);
}

/* ---- client requests ------------------------------------------------------ */

/* Common checks; 1 if the request should be applied. */
static int request_ok(st_t *st) {
    const cairn_event_t *in = st->in;
    if (!in->request_id || !*in->request_id) {
        reject(st, "missing request_id");
        return 0;
    }
    if (!st->doc) {
        reject(st, "workflow '%s' does not exist", wf_id(st));
        return 0;
    }
    if (seen_request(st, in->request_id))
        return 0;
    if (!running(st)) {
        reject(st, "workflow is closed (%s)", cairn__jstr(st->doc, "status"));
        return 0;
    }
    return 1;
}

static void on_signal(st_t *st) {
    const cairn_event_t *in = st->in;
    json_t *payload = NULL;
    char jtext[200];
    cairn__ctx_t ctx;
    cairn_event_t *ev;
    const cairn__trans_t *t;
    if (!request_ok(st))
        return;
    if (!in->signal_name || !*in->signal_name) {
        reject(st, "missing signal_name");
        return;
    }
    if (!strncmp(in->signal_name, "cairn.", 6)) {
        reject(st, "signal names starting with 'cairn.' are reserved");
        return;
    }
    if (in->payload && strlen(in->payload) > st->lim.max_payload_bytes) {
        reject(st, "payload of %zu bytes exceeds max_payload_bytes (%zu)",
               strlen(in->payload), st->lim.max_payload_bytes);
        return;
    }
    if (in->payload &&
        !(payload = parse_user_json(st, in->payload, jtext, sizeof(jtext)))) {
        if (!st->oom)
            reject(st, "payload is not valid JSON: %s", jtext);
        return;
    }
    if (!payload)
        payload = json_null();
    ctx_init(st, &ctx);
    ctx.payload = payload;
    ctx.signal = json_string(in->signal_name);
    if (!ctx.signal) {
        st->oom = 1;
        goto out;
    }
    t = find_trans(st, CAIRN__EVK_SIGNAL_RECEIVED, in->signal_name, &ctx);
    if (!t && !st->oom &&
        json_array_size(dget(st, "signals")) >= st->lim.max_buffered_signals) {
        reject(st, "signal '%s' would exceed max_buffered_signals (%zu)",
               in->signal_name, st->lim.max_buffered_signals);
        goto out;
    }
    remember_request(st, in->request_id);
    if (!(ev = accept(st)))
        goto out;
    ev->type = CAIRN_EV_SIGNAL_RECEIVED;
    if (t)
        take(st, t, &ctx);
    else
        dappend(st, dget(st, "signals"),
                json_pack("{s:s, s:s, s:O, s:I}", "name", in->signal_name,
                          "request_id", in->request_id, "payload", payload,
                          "seq", (json_int_t)ev->seq));
out:
    json_decref((json_t *)ctx.signal);
    json_decref(payload);
}

static void on_cancel(st_t *st) {
    const cairn_event_t *in = st->in;
    cairn_event_t *ev;
    if (!request_ok(st))
        return;
    remember_request(st, in->request_id);
    if (st->def->on_cancel < 0) {
        close_wf(st, "canceled", NULL, in->reason);
        return;
    }
    if (cairn__jint(st->doc, "canceling")) {
        reject(st, "cancel already requested; the cancel path is running");
        return;
    }
    /* Recorded as the reserved signal cairn.cancel (replayable). */
    json_t *p = json_pack("{s:s?}", "reason", in->reason);
    char *text = p ? dump(st, p) : NULL;
    json_decref(p);
    if (!text) {
        st->oom = 1;
        return;
    }
    if ((ev = emit(st, CAIRN_OUT_HISTORY, CAIRN_EV_SIGNAL_RECEIVED))) {
        sset(st, &ev->request_id, in->request_id);
        sset(st, &ev->signal_name, "cairn.cancel");
        sset(st, &ev->payload, text);
    }
    free(text);
    dset(st, st->doc, "canceling", json_integer(1));
    leave_state(st, "parent workflow canceled");
    if (running(st))
        enter(st, (size_t)st->def->on_cancel);
}

static void on_terminate(st_t *st) {
    if (!request_ok(st))
        return;
    remember_request(st, st->in->request_id);
    close_wf(st, "terminated", NULL, st->in->reason);
}

static void on_start(st_t *st) {
    const cairn_event_t *in = st->in;
    const char *policy = in->start_policy ? in->start_policy
                                          : "reject_duplicate";
    const cairn_def_t *def;
    json_t *input = NULL;
    char jtext[200];
    char reason[300];
    if (!in->request_id || !*in->request_id) {
        reject(st, "missing request_id");
        return;
    }
    if (!in->workflow_type || !*in->workflow_type) {
        reject(st, "missing workflow_type");
        return;
    }
    if (st->doc && seen_request(st, in->request_id))
        return;
    if (strcmp(policy, "reject_duplicate") && strcmp(policy, "use_existing") &&
        strcmp(policy, "terminate_existing")) {
        reject(st, "unknown start_policy '%s' (expected reject_duplicate, "
                   "use_existing or terminate_existing)",
               policy);
        return;
    }
    if (st->doc) {
        if (!strcmp(policy, "use_existing"))
            return;
        if (!strcmp(policy, "reject_duplicate")) {
            reject(st, "workflow '%s' already exists (%s, run %lld)",
                   wf_id(st), cairn__jstr(st->doc, "status"),
                   (long long)cairn__jint(st->doc, "run"));
            return;
        }
    }
    if (!(def = cairn_registry_get(st->reg, in->workflow_type, in->version))) {
        if (in->version > 0)
            reject(st, "unknown workflow type '%s' version %d",
                   in->workflow_type, (int)in->version);
        else
            reject(st, "unknown workflow type '%s'", in->workflow_type);
        return;
    }
    if (in->input && strlen(in->input) > st->lim.max_payload_bytes) {
        reject(st, "input of %zu bytes exceeds max_payload_bytes (%zu)",
               strlen(in->input), st->lim.max_payload_bytes);
        return;
    }
    if (in->input &&
        !(input = parse_user_json(st, in->input, jtext, sizeof(jtext)))) {
        if (!st->oom)
            reject(st, "input is not valid JSON: %s", jtext);
        return;
    }
    if (running(st)) {
        snprintf(reason, sizeof(reason),
                 "terminated by start request '%s' (terminate_existing)",
                 in->request_id);
        close_wf(st, "terminated", NULL, reason);
    }
    if (!st->oom)
        new_run(st, def, input, in->input, in->request_id,
                in->parent_workflow_id);
    json_decref(input);
}

/* ---- the step ------------------------------------------------------------ */

static void limits_resolve(cairn_limits_t *l, const cairn_limits_t *in) {
    static const cairn_limits_t dflt = {256 * 1024, 10000, 100, 100, 100, 64};
    *l = in ? *in : dflt;
    if (!l->max_payload_bytes)
        l->max_payload_bytes = dflt.max_payload_bytes;
    if (!l->max_history_events)
        l->max_history_events = dflt.max_history_events;
    if (!l->max_pending_activities)
        l->max_pending_activities = dflt.max_pending_activities;
    if (!l->max_pending_timers)
        l->max_pending_timers = dflt.max_pending_timers;
    if (!l->max_buffered_signals)
        l->max_buffered_signals = dflt.max_buffered_signals;
    if (!l->request_id_memory)
        l->request_id_memory = dflt.request_id_memory;
}

static void dispatch(st_t *st) {
    const cairn_event_t *in = st->in;
    if (!in->workflow_id || !*in->workflow_id) {
        reject(st, "missing workflow_id");
        return;
    }
    if (in->type == CAIRN_EV_START_WORKFLOW) {
        on_start(st);
        return;
    }
    switch (in->type) {
    case CAIRN_EV_SIGNAL_WORKFLOW:
    case CAIRN_EV_CANCEL_WORKFLOW:
    case CAIRN_EV_TERMINATE_WORKFLOW:
    case CAIRN_EV_ACTIVITY_COMPLETED:
    case CAIRN_EV_ACTIVITY_FAILED:
    case CAIRN_EV_ACTIVITY_HEARTBEAT:
    case CAIRN_EV_TIMER_FIRED: break;
    default:
        reject(st, "%s is not an input event",
               cairn_event_type_name(in->type) ? cairn_event_type_name(in->type)
                                               : "an unknown type");
        return;
    }
    if (!st->doc) {
        reject(st, "workflow '%s' does not exist", wf_id(st));
        return;
    }
    if (st->doc && (in->type == CAIRN_EV_ACTIVITY_COMPLETED ||
                    in->type == CAIRN_EV_ACTIVITY_FAILED ||
                    in->type == CAIRN_EV_ACTIVITY_HEARTBEAT ||
                    in->type == CAIRN_EV_TIMER_FIRED) &&
        !running(st))
        return; /* stale: the run is closed */
    if (running(st)) {
        st->def = cairn_registry_get(st->reg, cairn__jstr(st->doc, "type"),
                                     (int)cairn__jint(st->doc, "version"));
        if (!st->def) {
            /* Not bad input: the node lacks the pinned definition. */
            cairn_event_t *ev = emit(st, CAIRN_OUT_DLQ, CAIRN_EV_REJECTED);
            if (ev) {
                sset(st, &ev->request_id, in->request_id);
                sset(st, &ev->rejected_type, cairn_event_type_name(in->type));
                sset(st, &ev->reason, "definition of the running workflow is "
                                      "not loaded");
            }
            return;
        }
    }
    switch (in->type) {
    case CAIRN_EV_SIGNAL_WORKFLOW: on_signal(st); break;
    case CAIRN_EV_CANCEL_WORKFLOW: on_cancel(st); break;
    case CAIRN_EV_TERMINATE_WORKFLOW: on_terminate(st); break;
    case CAIRN_EV_ACTIVITY_COMPLETED:
    case CAIRN_EV_ACTIVITY_FAILED: on_activity_result(st); break;
    case CAIRN_EV_ACTIVITY_HEARTBEAT: on_heartbeat(st); break;
    case CAIRN_EV_TIMER_FIRED: on_timer_fired(st); break;
    default: break;
    }
}

cairn_err_t cairn_engine_step(const cairn_registry_t *reg,
                              const cairn_limits_t *limits, cairn_wf_t **wf,
                              const cairn_event_t *in, cairn_outputs_t *out,
                              char *errstr, size_t errstr_size) {
    st_t st;
    if (!reg || !wf || !in || !out)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "engine_step: NULL argument");
    memset(&st, 0, sizeof(st));
    st.reg = reg;
    limits_resolve(&st.lim, limits);
    st.in = in;
    st.now = in->time_ms;
    st.budget = MAX_TRANSITIONS_PER_STEP;
    st.out = out;
    st.out_from = out->n;
    if ((st.wf = *wf))
        st.doc = st.wf->doc;
    dispatch(&st);
    /* The history limit: fail the run at the step that reaches it. */
    if (running(&st) && st.def &&
        cairn__jint(st.doc, "seq") - cairn__jint(st.doc, "run_seq") + 1 >=
            (int64_t)st.lim.max_history_events)
        fail_wf(&st, "HistoryLimitExceeded",
                "the run reached %zu history events (max_history_events); "
                "use continue_as_new for long-running workflows",
                st.lim.max_history_events);
    if (st.changed && st.doc && !st.oom)
        dset(&st, st.doc, "updated_ms", json_integer(st.now));
    if (st.oom)
        goto nomem;
    *wf = st.wf; /* the same workflow, or the one new_run() created */
    if (st.changed)
        out->state_changed = 1;
    return CAIRN_ERR_OK;
nomem:
    cairn__outputs_truncate(out, st.out_from);
    if (st.wf != *wf) /* created by this step */
        cairn_wf_destroy(st.wf);
    return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                         "out of memory");
}
