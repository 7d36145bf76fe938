/*
 * test_engine_helpers.h — helpers shared by the tests/unit/test_engine_*.c binaries
 * (header-only: each test binary is one translation unit).
 *
 * step_ok() runs one step and then checks the state invariants every test
 * relies on: the step edited the workflow in place, encode -> decode ->
 * encode is byte-identical, a clone encodes the same, the encoding is
 * jansson's canonical dump of itself, history seq numbers continue from the
 * previous state without gaps, and running the same step again on a copy of
 * the old state gives byte-identical outputs and state (determinism; the
 * copy is a fresh document, the real one has been edited step after step).
 */
#ifndef CAIRN_TEST_ENGINE_HELPERS_H
#define CAIRN_TEST_ENGINE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine.h"

#define S(x) ((char *)(x))
/* Helpers a given test binary may not use. */
#define HELPER static __attribute__((unused))

/* A xorshift generator: walks and documents that a seed reproduces. */
static uint64_t rng;
HELPER uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
HELPER int pick(int n) { return (int)(next_rand() % (uint64_t)n); }

/* Every definition the repository ships, relative to the root. */
static const char *const EXAMPLE_DEFS[] __attribute__((unused)) = {
    "examples/order-saga/order-saga.json",
    "examples/definitions/approval.json",
    "examples/definitions/batch-loop.json",
    "examples/demo/order.json",
    "examples/demo/onboarding.json",
    "examples/demo/greeting.json",
    "examples/demo/longjob.json",
    "examples/approval/approval.json",
    "bench/idle.json",
    NULL};

/*
 * A file of the repository, read relative to $CAIRN_SRCDIR (default: the
 * current directory, the repository root under make). Caller frees.
 */
HELPER char *slurp(const char *rel) {
    char path[1024];
    const char *root = getenv("CAIRN_SRCDIR");
    snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run from the repository root or set "
                 "CAIRN_SRCDIR)",
                 path);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

HELPER cairn_registry_t *reg_with(const char *json) {
    char err[512] = "";
    cairn_registry_t *reg = cairn_registry_new();
    assert_non_null(reg);
    if (json) {
        cairn_def_t *def = cairn_def_from_json(json, strlen(json), err,
                                               sizeof(err));
        if (!def)
            fail_msg("definition refused: %s", err);
        assert_int_equal(cairn_registry_put(reg, def, err, sizeof(err)),
                         CAIRN_ERR_OK);
    }
    return reg;
}

HELPER void reg_add(cairn_registry_t *reg, const char *json) {
    char err[512] = "";
    cairn_def_t *def = cairn_def_from_json(json, strlen(json), err,
                                           sizeof(err));
    if (!def)
        fail_msg("definition refused: %s", err);
    assert_int_equal(cairn_registry_put(reg, def, err, sizeof(err)),
                     CAIRN_ERR_OK);
}

/* Expects the definition to be refused with a reason containing want. */
HELPER void def_refused(const char *json, const char *want) {
    char err[512] = "";
    cairn_def_t *def = cairn_def_from_json(json, strlen(json), err,
                                           sizeof(err));
    if (def) {
        cairn_def_destroy(def);
        fail_msg("definition accepted, expected error '%s': %s", want, json);
    }
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

HELPER char *encode(const cairn_wf_t *wf) {
    size_t len = 0;
    char *s = cairn_wf_encode(wf, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

HELPER void check_roundtrip(const cairn_wf_t *wf) {
    char err[256] = "";
    char *a = encode(wf);
    cairn_wf_t *back = cairn_wf_decode(a, strlen(a), err, sizeof(err));
    if (!back)
        fail_msg("decode failed: %s (%s)", err, a);
    char *b = encode(back);
    assert_string_equal(a, b);
    cairn_wf_t *cl = cairn_wf_clone(back);
    char *c = encode(cl);
    assert_string_equal(a, c);
    /* Canonical: jansson writes the same bytes for the decoded value. */
    json_t *doc = json_loads(a, 0, NULL);
    assert_non_null(doc);
    char *d = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(d);
    assert_string_equal(a, d);
    free(d);
    json_decref(doc);
    cairn_wf_destroy(cl);
    cairn_wf_destroy(back);
    free(a);
    free(b);
    free(c);
}

/* A printable one-line summary of an output, for exact comparisons. */
HELPER void out_line(const cairn_output_t *o, char *buf, size_t n) {
    static const char *dests[] = {"?", "history", "task", "events", "dlq"};
    const cairn_event_t *e = &o->ev;
    int w = snprintf(buf, n, "%s %s", dests[o->dest],
                     cairn_event_type_name(e->type));
#define ADD_STR(f)                                                             \
    if (e->f && (size_t)w < n)                                                 \
        w += snprintf(buf + w, n - (size_t)w, " " #f "=%s", e->f);
#define ADD_NUM(f)                                                             \
    if (e->f && (size_t)w < n)                                                 \
        w += snprintf(buf + w, n - (size_t)w, " " #f "=%lld", (long long)e->f);
    ADD_NUM(seq)
    ADD_STR(workflow_id)
    ADD_STR(request_id)
    ADD_STR(workflow_type)
    ADD_NUM(version)
    ADD_STR(activity_id)
    ADD_STR(activity_name)
    ADD_STR(task_queue)
    ADD_NUM(attempt)
    ADD_STR(idempotency_key)
    ADD_STR(input)
    ADD_NUM(timeout_ms)
    ADD_STR(timeout_kind)
    ADD_STR(result)
    ADD_STR(error_type)
    ADD_STR(error_message)
    ADD_NUM(non_retryable)
    ADD_STR(timer_id)
    ADD_NUM(generation)
    ADD_NUM(fire_at_ms)
    ADD_STR(signal_name)
    ADD_STR(payload)
    ADD_STR(rejected_type)
    ADD_STR(reason)
    ADD_STR(start_policy)
    ADD_STR(parent_workflow_id)
#undef ADD_STR
#undef ADD_NUM
}

HELPER char *outs_text(const cairn_outputs_t *out) {
    size_t cap = 1 << 16, w = 0;
    char *s = calloc(1, cap);
    assert_non_null(s);
    for (size_t i = 0; i < out->n && w < cap; i++) {
        out_line(&out->v[i], s + w, cap - w);
        w += strlen(s + w);
        if (w < cap - 1)
            s[w++] = '\n';
    }
    return s;
}

/*
 * Runs one step with fresh outputs (reset first) and checks determinism,
 * seq continuity and the encoding round trip.
 */
HELPER void step_lim(const cairn_registry_t *reg, const cairn_limits_t *lim,
                     cairn_wf_t **wf, const cairn_event_t *in,
                     cairn_outputs_t *out) {
    char err[256] = "";
    int64_t seq0 = *wf ? cairn_wf_seq(*wf) : 0;
    cairn_wf_t *copy = *wf ? cairn_wf_clone(*wf) : NULL, *before = *wf;
    cairn_outputs_t out2;
    cairn_outputs_reset(out);
    assert_int_equal(cairn_engine_step(reg, lim, wf, in, out, err,
                                       sizeof(err)),
                     CAIRN_ERR_OK);
    if (before) /* edited in place */
        assert_ptr_equal(*wf, before);
    /* Determinism: the same input on the same state, again. */
    cairn_outputs_init(&out2);
    assert_int_equal(cairn_engine_step(reg, lim, &copy, in, &out2, err,
                                       sizeof(err)),
                     CAIRN_ERR_OK);
    char *t1 = outs_text(out), *t2 = outs_text(&out2);
    assert_string_equal(t1, t2);
    assert_int_equal(out->state_changed, out2.state_changed);
    if (*wf) {
        char *a = encode(*wf), *b = encode(copy);
        assert_string_equal(a, b);
        free(a);
        free(b);
        check_roundtrip(*wf);
    }
    /* History seq numbers are consecutive after the previous state's. */
    int64_t next = seq0;
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].dest != CAIRN_OUT_HISTORY)
            continue;
        if (out->v[i].ev.seq != next + 1)
            fail_msg("history seq %lld after %lld:\n%s",
                     (long long)out->v[i].ev.seq, (long long)next, t1);
        next = out->v[i].ev.seq;
    }
    if (*wf)
        assert_int_equal(cairn_wf_seq(*wf), next);
    free(t1);
    free(t2);
    cairn_outputs_free(&out2);
    cairn_wf_destroy(copy);
}

HELPER void step_ok(const cairn_registry_t *reg, cairn_wf_t **wf,
                    const cairn_event_t *in, cairn_outputs_t *out) {
    step_lim(reg, NULL, wf, in, out);
}

/* Asserts the outputs, one line each, equal want (lines joined by \n). */
HELPER void expect_outs(const cairn_outputs_t *out, const char *want) {
    char *got = outs_text(out);
    if (strcmp(got, want))
        fail_msg("outputs differ\n--- got:\n%s--- want:\n%s", got, want);
    free(got);
}

/* ---- event constructors (inputs borrow string literals) ----------------- */

HELPER cairn_event_t ev_start(const char *id, const char *rid,
                              const char *type, const char *input,
                              int64_t t) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_START_WORKFLOW;
    e.workflow_id = S(id);
    e.request_id = S(rid);
    e.workflow_type = S(type);
    e.input = S(input);
    e.time_ms = t;
    return e;
}

HELPER cairn_event_t ev_done(const char *id, const char *act, int attempt,
                             const char *result, int64_t t) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_ACTIVITY_COMPLETED;
    e.workflow_id = S(id);
    e.activity_id = S(act);
    e.attempt = attempt;
    e.result = S(result);
    e.time_ms = t;
    return e;
}

HELPER cairn_event_t ev_failed(const char *id, const char *act, int attempt,
                               const char *etype, const char *msg,
                               int64_t t) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_ACTIVITY_FAILED;
    e.workflow_id = S(id);
    e.activity_id = S(act);
    e.attempt = attempt;
    e.error_type = S(etype);
    e.error_message = S(msg);
    e.time_ms = t;
    return e;
}

HELPER cairn_event_t ev_fired(const char *id, const char *timer, int64_t gen,
                              int64_t fire_at, int64_t t) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_TIMER_FIRED;
    e.workflow_id = S(id);
    e.timer_id = S(timer);
    e.generation = gen;
    e.fire_at_ms = fire_at;
    e.time_ms = t;
    return e;
}

HELPER cairn_event_t ev_signal(const char *id, const char *rid,
                               const char *name, const char *payload,
                               int64_t t) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_SIGNAL_WORKFLOW;
    e.workflow_id = S(id);
    e.request_id = S(rid);
    e.signal_name = S(name);
    e.payload = S(payload);
    e.time_ms = t;
    return e;
}

HELPER cairn_event_t ev_req(cairn_event_type_t type, const char *id,
                            const char *rid, const char *reason, int64_t t) {
    cairn_event_t e = {0};
    e.type = type;
    e.workflow_id = S(id);
    e.request_id = S(rid);
    e.reason = S(reason);
    e.time_ms = t;
    return e;
}

/* Finds the first output of type (or fails); returns it. */
HELPER const cairn_event_t *find_out(const cairn_outputs_t *out,
                                     cairn_event_type_t type) {
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].ev.type == type)
            return &out->v[i].ev;
    char *t = outs_text(out);
    fail_msg("no %s in outputs:\n%s", cairn_event_type_name(type), t);
    free(t);
    return NULL;
}

#endif
