/*
 * test_engine_replay.c — cairn_engine_replay(): recorded histories of
 * several scenarios replay without divergence and rebuild the same state; a
 * tampered history or a changed definition is caught at the right seq.
 */
#include "test_engine_helpers.h"

typedef struct {
    cairn_event_t v[512];
    size_t n;
} hist_t;

/* Steps and records the history outputs of workflow id into h. */
static void rec(const cairn_registry_t *reg, const cairn_limits_t *lim,
                cairn_wf_t **wf, const cairn_event_t *in, hist_t *h) {
    cairn_outputs_t out;
    cairn_outputs_init(&out);
    step_lim(reg, lim, wf, in, &out);
    for (size_t i = 0; i < out.n; i++)
        if (out.v[i].dest == CAIRN_OUT_HISTORY) {
            assert_true(h->n < 512);
            assert_int_equal(cairn_event_copy(&h->v[h->n++], &out.v[i].ev),
                             0);
        }
    cairn_outputs_free(&out);
}

static void hist_free(hist_t *h) {
    for (size_t i = 0; i < h->n; i++)
        cairn_event_clear(&h->v[i]);
    h->n = 0;
}

/* Replays h and expects no divergence and the same status/seq/state. */
static void replay_ok(const cairn_registry_t *reg, const cairn_limits_t *lim,
                      const hist_t *h, const cairn_wf_t *wf) {
    char err[512] = "";
    int64_t div = -1;
    cairn_wf_t *back = NULL;
    assert_int_equal(cairn_engine_replay(reg, lim, h->v, h->n, &back, &div,
                                         err, sizeof(err)),
                     CAIRN_ERR_OK);
    if (div)
        fail_msg("diverged at %lld: %s", (long long)div, err);
    assert_non_null(back);
    assert_int_equal(cairn_wf_seq(back), cairn_wf_seq(wf));
    assert_int_equal(cairn_wf_status(back), cairn_wf_status(wf));
    assert_string_equal(cairn_wf_fsm_state(back), cairn_wf_fsm_state(wf));
    char *a = cairn_wf_vars_json(back), *b = cairn_wf_vars_json(wf);
    assert_string_equal(a, b);
    free(a);
    free(b);
    cairn_wf_destroy(back);
}

static const char *SAGA =
    "{\"type\":\"saga\",\"version\":1,\"initial\":\"charge\","
    "\"on_cancel\":\"undo\",\"states\":["
    "{\"name\":\"charge\",\"on_enter\":[{\"activity\":\"charge\","
    "\"retry\":{\"initial_interval_ms\":10},"
    "\"compensation\":{\"activity\":\"refund\",\"input\":\"$.result\"}},"
    "{\"sleep_ms\":100000}],"
    "\"on\":[{\"event\":\"activity_completed\",\"assign\":{\"paid\":"
    "\"$.result\"},\"target\":\"approve\"},"
    "{\"event\":\"timer_fired\",\"target\":\"undo\"}]},"
    "{\"name\":\"approve\",\"on_enter\":[{\"wait_signal\":{\"name\":\"ok\","
    "\"timeout_ms\":50}}],\"on\":[{\"event\":\"signal_received\","
    "\"signal\":\"ok\",\"when\":\"$.payload == true\",\"target\":\"done\"},"
    "{\"event\":\"signal_timeout\",\"signal\":\"ok\",\"target\":\"undo\"}]},"
    "{\"name\":\"undo\",\"on_enter\":[{\"compensate\":true}],"
    "\"on\":[{\"event\":\"compensation_completed\",\"target\":\"gone\"}]},"
    "{\"name\":\"done\",\"on_enter\":[{\"complete\":\"$.vars\"}]},"
    "{\"name\":\"gone\",\"on_enter\":[{\"cancel\":{}}]}]}";

static void test_replay_scenarios(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(SAGA);
    cairn_wf_t *wf = NULL;
    cairn_event_t in;
    hist_t h = {.n = 0};

    /* Retry, a signal that fails its guard (buffered), a rejected request,
     * a duplicate, the signal timeout, compensation, cancel. */
    in = ev_start("w", "r1", "saga", "{\"x\":1}", 0);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_failed("w", "charge", 1, "E", "m", 1);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_fired("w", "retry:charge", 2, 11, 11);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_done("w", "charge", 2, "{\"p\":9}", 12);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_signal("w", "s1", "ok", "false", 13);
    rec(reg, NULL, &wf, &in, &h);
    rec(reg, NULL, &wf, &in, &h); /* duplicate: nothing */
    in = ev_signal("w", "s2", "ok", "{bad", 14);
    rec(reg, NULL, &wf, &in, &h); /* Rejected */
    in = ev_fired("w", "signal:ok", 3, 62, 62);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_done("w", "undo:charge", 1, NULL, 70);
    rec(reg, NULL, &wf, &in, &h);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_CANCELED);
    replay_ok(reg, NULL, &h, wf);

    /* terminate_existing, then a run that is canceled via its path. */
    in = ev_start("w", "r2", "saga", NULL, 100);
    in.start_policy = S("terminate_existing");
    rec(reg, NULL, &wf, &in, &h);
    in = ev_start("w", "r3", "saga", NULL, 101);
    in.start_policy = S("terminate_existing");
    rec(reg, NULL, &wf, &in, &h);
    in = ev_done("w", "charge#3", 1, "7", 102);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "w", "c1", "bye", 103);
    rec(reg, NULL, &wf, &in, &h);
    in = ev_done("w", "undo:charge#2", 1, NULL, 104);
    rec(reg, NULL, &wf, &in, &h);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_CANCELED);
    replay_ok(reg, NULL, &h, wf);

    /* Tampering: a different result changes what the replay produces. */
    for (size_t i = 0; i < h.n; i++)
        if (h.v[i].type == CAIRN_EV_ACTIVITY_COMPLETED) {
            free(h.v[i].result);
            h.v[i].result = strdup("{\"p\":10}");
            break;
        }
    char err[512] = "";
    int64_t div = 0;
    assert_int_equal(cairn_engine_replay(reg, NULL, h.v, h.n, NULL, &div, err,
                                         sizeof(err)),
                     CAIRN_ERR_OK);
    assert_true(div > 0);

    /* A changed definition under the same type@version diverges. */
    cairn_registry_t *other = reg_with(
        "{\"type\":\"saga\",\"version\":1,\"initial\":\"charge\",\"states\":"
        "[{\"name\":\"charge\",\"on_enter\":[{\"activity\":\"charge\"}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"done\"}]},"
        "{\"name\":\"done\",\"on_enter\":[{\"complete\":null}]}]}");
    div = 0;
    assert_int_equal(cairn_engine_replay(other, NULL, h.v, h.n, NULL, &div,
                                         err, sizeof(err)),
                     CAIRN_ERR_OK);
    assert_int_equal(div, 3); /* the saga's TimerStarted is missing */
    assert_non_null(strstr(err, "seq 3: recorded TimerStarted"));
    cairn_registry_destroy(other);

    hist_free(&h);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_replay_invalid_result_and_limits(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(SAGA);
    cairn_wf_t *wf = NULL;
    cairn_event_t in;
    cairn_limits_t lim = {0};
    hist_t h = {.n = 0};
    lim.max_payload_bytes = 8;
    in = ev_start("w", "r1", "saga", NULL, 0);
    rec(reg, &lim, &wf, &in, &h);
    in = ev_done("w", "charge", 1, "\"0123456789\"", 1);
    rec(reg, &lim, &wf, &in, &h); /* Rejected + InvalidResult */
    assert_int_equal(h.v[3].type, CAIRN_EV_REJECTED);
    assert_int_equal(h.v[h.n - 1].type, CAIRN_EV_WORKFLOW_FAILED);
    replay_ok(reg, &lim, &h, wf);
    /* Truncated histories replay to their prefix without divergence. */
    char err[256];
    int64_t div = -1;
    cairn_wf_t *back = NULL;
    assert_int_equal(cairn_engine_replay(reg, &lim, h.v, 0, &back, &div, err,
                                         sizeof(err)),
                     CAIRN_ERR_OK);
    assert_int_equal(div, 0);
    assert_null(back);
    hist_free(&h);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_scenarios),
        cmocka_unit_test(test_replay_invalid_result_and_limits),
    };
    return cmocka_run_group_tests_name("engine_replay", tests, NULL, NULL);
}
