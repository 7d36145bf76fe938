/*
 * harness.c — the conformance suite's world (see cf.h).
 */
#include <jansson.h>

#include "cf.h"

cf_world_t *cf_new(const char *const *defs) {
    cf_world_t *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->reg = reg_with(NULL);
    for (; defs && *defs; defs++)
        reg_add(w->reg, *defs);
    return w;
}

void cf_add_json(cf_world_t *w, const char *json) { reg_add(w->reg, json); }

static cf_wf_t *slot(cf_world_t *w, const char *id, int create) {
    for (size_t i = 0; i < w->nwfs; i++)
        if (!strcmp(w->wfs[i].id, id))
            return &w->wfs[i];
    if (!create)
        return NULL;
    assert_true(w->nwfs < CF_MAX_WFS);
    cf_wf_t *r = &w->wfs[w->nwfs++];
    memset(r, 0, sizeof(*r));
    r->id = strdup(id);
    r->hist = calloc(CF_MAX_HIST, sizeof(*r->hist));
    r->bounds = calloc(CF_MAX_HIST, sizeof(*r->bounds));
    assert_non_null(r->id);
    assert_non_null(r->hist);
    assert_non_null(r->bounds);
    return r;
}

static void keep_output(cf_world_t *w, const cairn_output_t *o) {
    if (w->nout == w->capout) {
        w->capout = w->capout ? 2 * w->capout : 64;
        w->out = realloc(w->out, w->capout * sizeof(*w->out));
        assert_non_null(w->out);
    }
    cairn_output_t *dst = &w->out[w->nout++];
    memset(dst, 0, sizeof(*dst));
    dst->dest = o->dest;
    assert_int_equal(cairn_event_copy(&dst->ev, &o->ev), 0);
}

/* One step; appends what goes to the events topic to queue[*qt..]. */
static void apply(cf_world_t *w, const cairn_event_t *in,
                  cairn_event_t *queue, size_t *qt) {
    cf_wf_t *r = in->workflow_id ? slot(w, in->workflow_id, 0) : NULL;
    cairn_wf_t *wf = r ? r->wf : NULL;
    cairn_outputs_t out;
    cairn_outputs_init(&out);
    step_lim(w->reg, &w->lim, &wf, in, &out);
    if (wf && !r)
        r = slot(w, in->workflow_id, 1);
    if (r)
        r->wf = wf;
    for (size_t i = 0; i < out.n; i++) {
        const cairn_output_t *o = &out.v[i];
        keep_output(w, o);
        if (o->dest == CAIRN_OUT_HISTORY) {
            assert_non_null(r);
            assert_string_equal(o->ev.workflow_id, r->id);
            assert_true(r->nhist < CF_MAX_HIST);
            assert_int_equal(cairn_event_copy(&r->hist[r->nhist++], &o->ev),
                             0);
        } else if (o->dest == CAIRN_OUT_EVENTS) {
            assert_true(*qt < CF_MAX_QUEUE);
            assert_int_equal(cairn_event_copy(&queue[*qt], &o->ev), 0);
            queue[(*qt)++].time_ms = w->now;
        }
    }
    if (r && r->nhist && (!r->nbounds || r->bounds[r->nbounds - 1] != r->nhist))
        r->bounds[r->nbounds++] = r->nhist;
    cairn_outputs_free(&out);
}

void cf_send(cf_world_t *w, cairn_event_t *in) {
    cairn_event_t *queue = calloc(CF_MAX_QUEUE, sizeof(*queue));
    size_t qh = 0, qt = 0;
    assert_non_null(queue);
    in->time_ms = w->now;
    apply(w, in, queue, &qt);
    for (; qh < qt; qh++) /* the events topic, in order */
        apply(w, &queue[qh], queue, &qt);
    for (qh = 0; qh < qt; qh++)
        cairn_event_clear(&queue[qh]);
    free(queue);
}

/* The encoded state without its request-id memory (see cf.h). */
static char *state_text(const cairn_wf_t *wf) {
    char *enc = encode(wf), *text;
    json_t *doc = json_loads(enc, 0, NULL);
    assert_non_null(doc);
    json_object_del(doc, "request_ids");
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    json_decref(doc);
    free(enc);
    return text;
}

void cf_free(cf_world_t *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->nwfs; i++) {
        cf_wf_t *r = &w->wfs[i];
        if (r->nhist) {
            char err[512] = "";
            int64_t div = -1;
            cairn_wf_t *back = NULL;
            assert_int_equal(cairn_engine_replay(w->reg, &w->lim, r->hist,
                                                 r->nhist, &back, &div, err,
                                                 sizeof(err)),
                             CAIRN_ERR_OK);
            if (div)
                fail_msg("replay of '%s' diverged at seq %lld: %s", r->id,
                         (long long)div, err);
            assert_non_null(back);
            char *a = state_text(back), *b = state_text(r->wf);
            if (strcmp(a, b))
                fail_msg("replay of '%s' rebuilt another state\n--- "
                         "replayed:\n%s\n--- live:\n%s",
                         r->id, a, b);
            free(a);
            free(b);
            cairn_wf_destroy(back);
        }
        for (size_t k = 0; k < r->nhist; k++)
            cairn_event_clear(&r->hist[k]);
        free(r->hist);
        free(r->bounds);
        cairn_wf_destroy(r->wf);
        free(r->id);
    }
    cf_clear(w);
    free(w->out);
    cairn_registry_destroy(w->reg);
    free(w);
}

/* ---- inputs ------------------------------------------------------------- */

void cf_start_v(cf_world_t *w, const char *id, const char *type, int version,
                const char *input) {
    char rid[32];
    snprintf(rid, sizeof(rid), "req-%d", ++w->requests);
    cairn_event_t in = ev_start(id, rid, type, input, 0);
    in.version = version;
    cf_send(w, &in);
}

void cf_start(cf_world_t *w, const char *id, const char *type,
              const char *input) {
    cf_start_v(w, id, type, 0, input);
}

void cf_signal(cf_world_t *w, const char *id, const char *name,
               const char *payload) {
    char rid[32];
    snprintf(rid, sizeof(rid), "req-%d", ++w->requests);
    cairn_event_t in = ev_signal(id, rid, name, payload, 0);
    cf_send(w, &in);
}

static void request(cf_world_t *w, cairn_event_type_t type, const char *id,
                    const char *reason) {
    char rid[32];
    snprintf(rid, sizeof(rid), "req-%d", ++w->requests);
    cairn_event_t in = ev_req(type, id, rid, reason, 0);
    cf_send(w, &in);
}

void cf_cancel(cf_world_t *w, const char *id, const char *reason) {
    request(w, CAIRN_EV_CANCEL_WORKFLOW, id, reason);
}

void cf_terminate(cf_world_t *w, const char *id, const char *reason) {
    request(w, CAIRN_EV_TERMINATE_WORKFLOW, id, reason);
}

static int32_t attempt_of(const cf_world_t *w, const char *id,
                          const char *act) {
    cairn_wf_t *wf = cf_wf(w, id);
    if (!wf)
        fail_msg("no workflow '%s'", id);
    for (size_t i = 0; i < cairn_wf_activity_count(wf); i++) {
        const char *aid, *kind;
        int32_t attempt;
        cairn_wf_activity_at(wf, i, &aid, &kind, &attempt);
        if (!strcmp(aid, act))
            return attempt;
    }
    fail_msg("activity '%s' is not pending in '%s'", act, id);
    return 0;
}

void cf_complete(cf_world_t *w, const char *id, const char *act,
                 const char *result) {
    cairn_event_t in = ev_done(id, act, attempt_of(w, id, act), result, 0);
    cf_send(w, &in);
}

void cf_fail(cf_world_t *w, const char *id, const char *act,
             const char *etype, const char *msg, int non_retryable) {
    cairn_event_t in =
        ev_failed(id, act, attempt_of(w, id, act), etype, msg, 0);
    in.non_retryable = non_retryable;
    cf_send(w, &in);
}

void cf_complete_pending(cf_world_t *w, const char *id, const char *result) {
    cairn_wf_t *wf = cf_wf(w, id);
    char act[256];
    const char *aid, *kind;
    int32_t attempt;
    if (!wf || cairn_wf_activity_count(wf) != 1)
        fail_msg("'%s' has no single pending activity", id);
    cairn_wf_activity_at(wf, 0, &aid, &kind, &attempt);
    snprintf(act, sizeof(act), "%s", aid);
    cairn_event_t in = ev_done(id, act, attempt, result, 0);
    cf_send(w, &in);
}

void cf_fire(cf_world_t *w, const char *id, const char *timer) {
    int64_t gen, due;
    if (!cf_timer(w, id, timer, &gen, &due))
        fail_msg("timer '%s' is not pending in '%s'", timer, id);
    if (due > w->now)
        w->now = due;
    cairn_event_t in = ev_fired(id, timer, gen, due, 0);
    cf_send(w, &in);
}

/* ---- queries ------------------------------------------------------------ */

cairn_wf_t *cf_wf(const cf_world_t *w, const char *id) {
    const cf_wf_t *r = cf_rec(w, id);
    return r ? r->wf : NULL;
}

const cf_wf_t *cf_rec(const cf_world_t *w, const char *id) {
    for (size_t i = 0; i < w->nwfs; i++)
        if (!strcmp(w->wfs[i].id, id))
            return &w->wfs[i];
    return NULL;
}

void cf_status(const cf_world_t *w, const char *id, cairn_wf_status_t status,
               const char *state) {
    cairn_wf_t *wf = cf_wf(w, id);
    if (!wf)
        fail_msg("no workflow '%s'", id);
    if (cairn_wf_status(wf) != status ||
        (state && strcmp(cairn_wf_fsm_state(wf), state))) {
        char *t = cf_lines(w);
        fail_msg("'%s' is %s in state '%s', want %s in '%s'; outputs:\n%s",
                 id, cairn_wf_status_name(cairn_wf_status(wf)),
                 cairn_wf_fsm_state(wf), cairn_wf_status_name(status),
                 state ? state : "*", t);
        free(t);
    }
}

int cf_timer(const cf_world_t *w, const char *id, const char *timer,
             int64_t *gen, int64_t *due) {
    cairn_wf_t *wf = cf_wf(w, id);
    for (size_t i = 0; wf && i < cairn_wf_timer_count(wf); i++) {
        const char *tid;
        int64_t g, at;
        cairn_wf_timer_at(wf, i, &tid, &g, &at);
        if (!strcmp(tid, timer)) {
            if (gen)
                *gen = g;
            if (due)
                *due = at;
            return 1;
        }
    }
    return 0;
}

const char *cf_pending(const cf_world_t *w, const char *id, const char *name,
                       int32_t *attempt) {
    cairn_wf_t *wf = cf_wf(w, id);
    for (size_t i = 0; wf && i < cairn_wf_activity_count(wf); i++) {
        const char *aid, *kind;
        int32_t a;
        cairn_wf_activity_at(wf, i, &aid, &kind, &a);
        if (!strcmp(aid, name) ||
            (!strncmp(aid, name, strlen(name)) && aid[strlen(name)] == '#')) {
            if (attempt)
                *attempt = a;
            return aid;
        }
    }
    return NULL;
}

size_t cf_count(const cf_world_t *w, cairn_event_type_t type) {
    size_t n = 0;
    for (size_t i = 0; i < w->nout; i++)
        n += w->out[i].ev.type == type;
    return n;
}

const cairn_event_t *cf_nth(const cf_world_t *w, cairn_event_type_t type,
                            size_t n) {
    for (size_t i = 0; i < w->nout; i++)
        if (w->out[i].ev.type == type && n-- == 0)
            return &w->out[i].ev;
    char *t = cf_lines(w);
    fail_msg("no %s in the outputs:\n%s", cairn_event_type_name(type), t);
    free(t);
    return NULL;
}

char *cf_lines(const cf_world_t *w) {
    cairn_outputs_t view = {w->out, w->nout, w->nout, 0};
    return outs_text(&view);
}

void cf_expect(cf_world_t *w, const char *want) {
    char *got = cf_lines(w);
    if (strcmp(got, want))
        fail_msg("outputs differ\n--- got:\n%s--- want:\n%s", got, want);
    free(got);
    cf_clear(w);
}

void cf_has(const cf_world_t *w, const char *needle) {
    char *got = cf_lines(w);
    if (!strstr(got, needle))
        fail_msg("no output contains '%s':\n%s", needle, got);
    free(got);
}

void cf_clear(cf_world_t *w) {
    for (size_t i = 0; i < w->nout; i++)
        cairn_event_clear(&w->out[i].ev);
    w->nout = 0;
}

const char *cf_task_names(const cf_world_t *w) {
    static char buf[4096];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < w->nout && n < sizeof(buf) - 1; i++)
        if (w->out[i].ev.type == CAIRN_EV_ACTIVITY_TASK)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
                                  n ? " " : "",
                                  w->out[i].ev.activity_name);
    return buf;
}

/* ---- definitions ---------------------------------------------------------- */

char *cf_q(const char *squoted) {
    char *s = strdup(squoted);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    return s;
}

void cf_def(cf_world_t *w, const char *squoted) {
    char *json = cf_q(squoted);
    reg_add(w->reg, json);
    free(json);
}

void cf_add_builder(cf_world_t *w, const cairn_wfb_t *b) {
    char err[512] = "";
    cairn_def_t *def = cairn_wfb_build(b, err, sizeof(err));
    if (!def)
        fail_msg("builder refused: %s", err);
    if (cairn_registry_put(w->reg, def, err, sizeof(err))) {
        cairn_def_destroy(def);
        fail_msg("registry refused the built definition: %s", err);
    }
}

char *cf_canon(const char *json) {
    char err[512] = "";
    cairn_def_t *def = cairn_def_from_json(json, strlen(json), err,
                                           sizeof(err));
    if (!def)
        fail_msg("definition refused: %s", err);
    char *c = cairn_def_to_json(def);
    cairn_def_destroy(def);
    assert_non_null(c);
    return c;
}

void cf_refused(const char *squoted, const char *want) {
    char err[512] = "", *json = cf_q(squoted);
    size_t n = strlen(want);
    cairn_def_t *def = cairn_def_from_json(json, strlen(json), err,
                                           sizeof(err));
    if (def) {
        cairn_def_destroy(def);
        fail_msg("accepted, expected '%s': %s", want, json);
    }
    free(json);
    if (n && want[n - 1] == '*' ? strncmp(err, want, n - 1)
                                : strcmp(err, want))
        fail_msg("refused with '%s', want '%s'", err, want);
}
