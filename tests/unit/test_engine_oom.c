/*
 * test_engine_oom.c — step() under allocation failure. Every jansson
 * allocation of a step is made to fail in turn (json_set_alloc_funcs); each
 * time the step must either succeed with exactly the outputs and state of an
 * undisturbed run (a swallowed failure must not change results), or return
 * CAIRN_ERR_NOMEM with the output list untouched and the workflow still the
 * caller's (the same pointer, or NULL for a new one), possibly half-changed.
 * Like a shard, the test then destroys that workflow, rebuilds it from the
 * encoded state it started from and runs the step again, which must give
 * the undisturbed run's outputs and state.
 */
#include <jansson.h>

#include "outputs.h"
#include "test_engine_helpers.h"

static long alloc_count, fail_at;

static void *counting_malloc(size_t n) {
    if (++alloc_count == fail_at)
        return NULL;
    return malloc(n);
}

static const char *DEF =
    "{\"type\":\"o\",\"version\":1,\"initial\":\"a\",\"on_cancel\":\"undo\","
    "\"execution_timeout_ms\":100000,\"states\":["
    "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"one\",\"input\":{\"x\":"
    "\"$.vars.x\",\"k\":[1,\"$.input\"]},\"compensation\":{\"activity\":"
    "\"u\",\"input\":\"$.result\"},\"timeouts\":{\"start_to_close_ms\":9}},"
    "{\"sleep_ms\":50}],"
    "\"on\":[{\"event\":\"activity_completed\",\"when\":\"$.result.n > 1\","
    "\"assign\":{\"r\":\"$.result\",\"d.e\":\"$.result.n\"},\"target\":"
    "\"b\"},{\"event\":\"activity_failed\",\"target\":\"undo\"}]},"
    "{\"name\":\"b\",\"on_enter\":[{\"wait_signal\":{\"name\":\"go\","
    "\"timeout_ms\":5}}],\"on\":[{\"event\":\"signal_received\",\"signal\":"
    "\"go\",\"when\":\"$.payload.ok\",\"target\":\"c\"},{\"event\":"
    "\"signal_timeout\",\"signal\":\"go\",\"target\":\"undo\"}]},"
    "{\"name\":\"c\",\"on_enter\":[{\"continue_as_new\":{\"input\":{\"x\":"
    "\"$.vars.r\"}}}]},"
    "{\"name\":\"undo\",\"on_enter\":[{\"compensate\":true}],\"on\":[{"
    "\"event\":\"compensation_completed\",\"target\":\"gone\"}]},"
    "{\"name\":\"gone\",\"on_enter\":[{\"cancel\":{}}]}]}";

/* The workflow rebuilt from its encoded state (NULL for none). */
static cairn_wf_t *rebuild(const char *enc) {
    char err[256];
    cairn_wf_t *wf;
    if (!enc)
        return NULL;
    if (!(wf = cairn_wf_decode(enc, strlen(enc), err, sizeof(err))))
        fail_msg("decode: %s", err);
    return wf;
}

/* Steps run that failed with CAIRN_ERR_NOMEM (the test must see some). */
static long nomem_steps;

/* Runs in on *wf under every single-allocation failure, then for real. */
static void step_oom(const cairn_registry_t *reg, cairn_wf_t **wf,
                     const cairn_event_t *in) {
    char err[256];
    cairn_outputs_t good, out;
    cairn_wf_t *copy = *wf ? cairn_wf_clone(*wf) : NULL, *copy0 = copy;
    char *before = *wf ? encode(*wf) : NULL;
    cairn_outputs_init(&good);
    /* The undisturbed run, counting allocations. */
    alloc_count = 0;
    fail_at = -1;
    json_set_alloc_funcs(counting_malloc, free);
    assert_int_equal(cairn_engine_step(reg, NULL, &copy, in, &good, err,
                                       sizeof(err)),
                     CAIRN_ERR_OK);
    json_set_alloc_funcs(malloc, free);
    if (copy0) /* edited in place */
        assert_ptr_equal(copy, copy0);
    long total = alloc_count;
    char *want_out = outs_text(&good);
    char *want_state = copy ? encode(copy) : NULL;
    cairn_wf_destroy(copy);
    /* (total may be 0: a rejection to the DLQ allocates nothing in jansson) */
    for (long k = 1; k <= total; k++) {
        cairn_wf_t *w = rebuild(before), *w0 = w;
        cairn_outputs_init(&out);
        /* An earlier step's output, which a failed step must leave be. */
        cairn_event_t *prior = cairn__outputs_add(&out, CAIRN_OUT_HISTORY,
                                                  CAIRN_EV_TIMER_FIRED);
        assert_non_null(prior);
        prior->seq = 4242;
        alloc_count = 0;
        fail_at = k;
        json_set_alloc_funcs(counting_malloc, free);
        cairn_err_t rc = cairn_engine_step(reg, NULL, &w, in, &out, err,
                                           sizeof(err));
        json_set_alloc_funcs(malloc, free);
        const char *how = "failed silently";
        if (rc == CAIRN_ERR_NOMEM) {
            nomem_steps++;
            assert_int_equal(out.n, 1);
            assert_int_equal(out.v[0].ev.type, CAIRN_EV_TIMER_FIRED);
            assert_int_equal(out.v[0].ev.seq, 4242);
            assert_false(out.state_changed);
            /* Still the caller's, possibly half-changed: discard it (under
             * valgrind: nothing leaked, nothing freed twice). */
            assert_ptr_equal(w, w0);
            cairn_wf_destroy(w);
            /* Rebuilt from durable state, the step gives the same result. */
            w = w0 = rebuild(before);
            rc = cairn_engine_step(reg, NULL, &w, in, &out, err, sizeof(err));
            how = "failed, then the retry on the rebuilt state differs";
        }
        assert_int_equal(rc, CAIRN_ERR_OK);
        if (w0)
            assert_ptr_equal(w, w0);
        /* The step's outputs come after the earlier one. */
        assert_true(out.n >= 1);
        assert_int_equal(out.v[0].ev.seq, 4242);
        cairn_event_clear(&out.v[0].ev);
        memmove(out.v, out.v + 1, (out.n - 1) * sizeof(*out.v));
        out.n--;
        char *got = outs_text(&out);
        if (strcmp(got, want_out))
            fail_msg("allocation %ld of %ld %s:\n%s\nvs\n%s", k, total, how,
                     got, want_out);
        free(got);
        assert_int_equal(out.state_changed, good.state_changed);
        if (want_state) {
            char *now = encode(w);
            if (strcmp(now, want_state))
                fail_msg("allocation %ld of %ld %s: state\n%s\nvs\n%s", k,
                         total, how, now, want_state);
            free(now);
        } else {
            assert_null(w);
        }
        cairn_outputs_free(&out);
        cairn_wf_destroy(w);
    }
    free(want_out);
    free(want_state);
    free(before);
    cairn_outputs_free(&good);
    /* Advance for real. */
    cairn_outputs_init(&out);
    step_ok(reg, wf, in, &out);
    cairn_outputs_free(&out);
}

static void test_oom_atomic(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(DEF);
    cairn_wf_t *wf = NULL;
    cairn_event_t in;
    in = ev_start("m", "r1", "o", "{\"x\":[1,{\"y\":2}]}", 0);
    step_oom(reg, &wf, &in);
    in = ev_failed("m", "one", 1, "E", "m", 1);
    step_oom(reg, &wf, &in);
    in = ev_fired("m", "retry:one", 4, 1001, 1001);
    step_oom(reg, &wf, &in);
    in = ev_done("m", "one", 2, "{\"n\":5}", 1002);
    step_oom(reg, &wf, &in);
    in = ev_signal("m", "s1", "go", "{\"ok\":false}", 1003);
    step_oom(reg, &wf, &in);
    in = ev_signal("m", "s2", "go", "{\"ok\":true}", 1004);
    step_oom(reg, &wf, &in);
    assert_int_equal(cairn_wf_run(wf), 2);
    /* The new run's saga is empty: the cancel path ends at once. */
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "m", "c1", "x", 1005);
    step_oom(reg, &wf, &in);
    in = ev_req(CAIRN_EV_TERMINATE_WORKFLOW, "m", "t1", "x", 1006);
    step_oom(reg, &wf, &in); /* closed: to the DLQ */
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_CANCELED);
    assert_true(nomem_steps > 0);
    /* Decoding a valid state under allocation failure: NOMEM, never DECODE. */
    char *enc = encode(wf), err[256];
    long total;
    cairn_wf_t *back;
    alloc_count = 0;
    fail_at = -1;
    json_set_alloc_funcs(counting_malloc, free);
    assert_int_equal(cairn_wf_load(enc, strlen(enc), &back, err, sizeof(err)),
                     CAIRN_ERR_OK);
    json_set_alloc_funcs(malloc, free);
    total = alloc_count;
    cairn_wf_destroy(back);
    for (long k = 1; k <= total; k++) {
        alloc_count = 0;
        fail_at = k;
        json_set_alloc_funcs(counting_malloc, free);
        cairn_err_t rc = cairn_wf_load(enc, strlen(enc), &back, err,
                                       sizeof(err));
        json_set_alloc_funcs(malloc, free);
        if (rc != CAIRN_ERR_OK && rc != CAIRN_ERR_NOMEM)
            fail_msg("allocation %ld of %ld: %s", k, total, err);
        cairn_wf_destroy(back);
    }
    free(enc);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_atomic),
    };
    return cmocka_run_group_tests_name("engine_oom", tests, NULL, NULL);
}
