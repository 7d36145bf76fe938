/*
 * test_engine_flow.c — the workflow model beyond a straight line: retries
 * with backoff on durable timers, activity timeouts, timers and generations,
 * signals (waiting, buffered, timeouts, dedupe), guards, choice states,
 * cancel vs terminate, sagas, child workflows, continue-as-new, execution
 * timeout, and the engine limits.
 */
#include "internal.h"
#include "test_engine_helpers.h"

#define END_OK "{\"name\":\"end\",\"on_enter\":[{\"complete\":\"$.vars\"}]}"

/* ---- retries and activity timeouts --------------------------------------- */

static const char *RETRY =
    "{\"type\":\"r\",\"version\":1,\"initial\":\"a\",\"states\":["
    "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"work\",\"id\":\"w\","
    "\"retry\":{\"initial_interval_ms\":100,\"backoff_coefficient\":2,"
    "\"maximum_interval_ms\":300,\"maximum_attempts\":5,"
    "\"non_retryable_error_types\":[\"Fatal\"]},"
    "\"timeouts\":{\"start_to_close_ms\":50}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"},"
    "{\"event\":\"activity_failed\",\"assign\":{\"err\":\"$.error\"},"
    "\"target\":\"bad\"}]}," END_OK ","
    "{\"name\":\"bad\",\"on_enter\":[{\"fail\":{\"error_type\":\"Failed\","
    "\"error_message\":\"$.vars.err.type\"}}]}]}";

static void test_retry_backoff_timeouts(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(RETRY);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);

    in = ev_start("w1", "r1", "r", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history WorkflowStarted seq=1 workflow_id=w1 request_id=r1 "
                "workflow_type=r version=1\n"
                "history ActivityScheduled seq=2 workflow_id=w1 "
                "activity_id=w activity_name=work task_queue=default "
                "attempt=1\n"
                "task ActivityTask workflow_id=w1 activity_id=w "
                "activity_name=work task_queue=default attempt=1 "
                "idempotency_key=w1:w timeout_ms=50\n"
                "history TimerStarted seq=3 workflow_id=w1 "
                "timer_id=timeout:w generation=1 fire_at_ms=50\n");
    const char *tid;
    int64_t gen, at;
    assert_int_equal(cairn_wf_timer_count(wf), 1);
    cairn_wf_timer_at(wf, 0, &tid, &gen, &at);
    assert_string_equal(tid, "timeout:w");
    assert_int_equal(gen, 1);
    assert_int_equal(at, 50);

    /* Attempt 1 fails: backoff 100 ms on a durable timer. */
    in = ev_failed("w1", "w", 1, "Oops", "boom", 10);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityFailed seq=4 workflow_id=w1 activity_id=w "
                "attempt=1 error_type=Oops error_message=boom\n"
                "history TimerCanceled seq=5 workflow_id=w1 "
                "timer_id=timeout:w generation=1\n"
                "history TimerStarted seq=6 workflow_id=w1 timer_id=retry:w "
                "generation=2 fire_at_ms=110\n");
    /* While backing off, a late result of attempt 1 is stale. */
    in = ev_done("w1", "w", 1, "{}", 20);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);

    in = ev_fired("w1", "retry:w", 2, 110, 110);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history TimerFired seq=7 workflow_id=w1 timer_id=retry:w "
                "generation=2 fire_at_ms=110\n"
                "history ActivityScheduled seq=8 workflow_id=w1 "
                "activity_id=w activity_name=work task_queue=default "
                "attempt=2\n"
                "task ActivityTask workflow_id=w1 activity_id=w "
                "activity_name=work task_queue=default attempt=2 "
                "idempotency_key=w1:w timeout_ms=50\n"
                "history TimerStarted seq=9 workflow_id=w1 "
                "timer_id=timeout:w generation=3 fire_at_ms=160\n");
    /* The same fire again is a duplicate. */
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);

    /* Attempt 2 times out (start_to_close): retried after 200 ms. */
    in = ev_fired("w1", "timeout:w", 3, 160, 161);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history TimerFired seq=10 workflow_id=w1 "
                "timer_id=timeout:w generation=3 fire_at_ms=160\n"
                "history ActivityTimedOut seq=11 workflow_id=w1 "
                "activity_id=w attempt=2 timeout_kind=start_to_close\n"
                "history TimerStarted seq=12 workflow_id=w1 timer_id=retry:w "
                "generation=4 fire_at_ms=361\n");
    in = ev_done("w1", "w", 2, "{}", 170);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);

    /* Attempt 3: backoff is capped at maximum_interval_ms next time. */
    in = ev_fired("w1", "retry:w", 4, 361, 361);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 4);
    assert_int_equal(out.v[1].ev.attempt, 3);
    in = ev_failed("w1", "w", 3, "Oops", NULL, 400);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(find_out(&out, CAIRN_EV_TIMER_STARTED)->fire_at_ms,
                     400 + 300);

    /* Attempt 4 fails with a non-retryable type: the failure transition. */
    in = ev_fired("w1", "retry:w", 6, 700, 700);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.v[1].ev.attempt, 4);
    in = ev_failed("w1", "w", 4, "Fatal", "no", 710);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityFailed seq=22 workflow_id=w1 activity_id=w "
                "attempt=4 error_type=Fatal error_message=no\n"
                "history TimerCanceled seq=23 workflow_id=w1 "
                "timer_id=timeout:w generation=7\n"
                "history WorkflowFailed seq=24 workflow_id=w1 "
                "error_type=Failed error_message=Fatal\n");
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_retry_exhausted_without_transition(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"x\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\",\"retry\":{"
        "\"maximum_attempts\":2,\"initial_interval_ms\":10}}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"}]},"
        END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("x1", "r1", "x", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_failed("x1", "w", 1, "E", "m1", 1);
    step_ok(reg, &wf, &in, &out);
    in = ev_fired("x1", "retry:w", 1, 11, 11);
    step_ok(reg, &wf, &in, &out);
    in = ev_failed("x1", "w", 2, "E", "m2", 12);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityFailed seq=7 workflow_id=x1 activity_id=w "
                "attempt=2 error_type=E error_message=m2\n"
                "history WorkflowFailed seq=8 workflow_id=x1 error_type=E "
                "error_message=activity 'w' failed after 2 attempt(s): m2\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_schedule_to_close(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"x\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\",\"retry\":{"
        "\"maximum_attempts\":0,\"initial_interval_ms\":10},\"timeouts\":{"
        "\"schedule_to_close_ms\":100}}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"},"
        "{\"event\":\"activity_failed\",\"when\":\"$.error.type == "
        "'ScheduleToCloseTimeout'\",\"target\":\"late\"}]}," END_OK ","
        "{\"name\":\"late\",\"on_enter\":[{\"fail\":{\"error_type\":"
        "\"TooLate\"}}]}]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("x1", "r1", "x", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(find_out(&out, CAIRN_EV_TIMER_STARTED)->fire_at_ms, 100);
    in = ev_failed("x1", "w", 1, "E", NULL, 5);
    step_ok(reg, &wf, &in, &out); /* retry:w gen 2 */
    in = ev_fired("x1", "deadline:w", 1, 100, 100);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history TimerFired seq=6 workflow_id=x1 timer_id=deadline:w "
                "generation=1 fire_at_ms=100\n"
                "history ActivityTimedOut seq=7 workflow_id=x1 "
                "activity_id=w attempt=1 timeout_kind=schedule_to_close\n"
                "history TimerCanceled seq=8 workflow_id=x1 "
                "timer_id=retry:w generation=2\n"
                "history WorkflowFailed seq=9 workflow_id=x1 "
                "error_type=TooLate\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- timers and signals ----------------------------------------------------- */

static const char *TIMERS =
    "{\"type\":\"tm\",\"version\":1,\"initial\":\"wait\",\"states\":["
    "{\"name\":\"wait\",\"on_enter\":[{\"sleep_ms\":1000},"
    "{\"timer\":{\"id\":\"t2\",\"after_ms\":5000}},"
    "{\"wait_signal\":{\"name\":\"go\",\"timeout_ms\":3000}}],"
    "\"on\":[{\"event\":\"timer_fired\",\"timer\":\"wait.sleep\","
    "\"target\":\"next\"},"
    "{\"event\":\"signal_received\",\"signal\":\"go\",\"target\":\"end\"},"
    "{\"event\":\"signal_timeout\",\"signal\":\"go\",\"target\":\"end\"},"
    "{\"event\":\"timer_fired\",\"timer\":\"t2\",\"target\":\"end\"}]},"
    "{\"name\":\"next\",\"on_enter\":[{\"wait_signal\":\"go\"}],"
    "\"on\":[{\"event\":\"signal_received\",\"signal\":\"go\","
    "\"assign\":{\"got\":\"$.payload\",\"name\":\"$.signal\"},"
    "\"target\":\"end\"}]}," END_OK "]}";

static void test_timers_generations(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(TIMERS);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("t1", "r1", "tm", "{}", 0);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history WorkflowStarted seq=1 workflow_id=t1 request_id=r1 "
                "workflow_type=tm version=1 input={}\n"
                "history TimerStarted seq=2 workflow_id=t1 "
                "timer_id=wait.sleep generation=1 fire_at_ms=1000\n"
                "history TimerStarted seq=3 workflow_id=t1 timer_id=t2 "
                "generation=2 fire_at_ms=5000\n"
                "history TimerStarted seq=4 workflow_id=t1 "
                "timer_id=signal:go generation=3 fire_at_ms=3000\n");
    assert_int_equal(cairn_wf_timer_count(wf), 3);

    /* A fire of a wrong generation is ignored. */
    in = ev_fired("t1", "wait.sleep", 7, 1000, 1000);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);

    in = ev_fired("t1", "wait.sleep", 1, 1000, 1001);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history TimerFired seq=5 workflow_id=t1 timer_id=wait.sleep "
                "generation=1 fire_at_ms=1000\n"
                "history TimerCanceled seq=6 workflow_id=t1 timer_id=t2 "
                "generation=2\n"
                "history TimerCanceled seq=7 workflow_id=t1 "
                "timer_id=signal:go generation=3\n");
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    assert_string_equal(cairn_wf_fsm_state(wf), "next");
    /* The canceled timers' fires are stale. */
    in = ev_fired("t1", "t2", 2, 5000, 5000);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);

    in = ev_signal("t1", "s1", "go", "{\"ok\":true}", 6000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history SignalReceived seq=8 workflow_id=t1 request_id=s1 "
                "signal_name=go payload={\"ok\":true}\n"
                "history WorkflowCompleted seq=9 workflow_id=t1 "
                "result={\"got\":{\"ok\":true},\"name\":\"go\"}\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_signal_timeout(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(TIMERS);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("t1", "r1", "tm", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_fired("t1", "signal:go", 3, 3000, 3000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history TimerFired seq=5 workflow_id=t1 timer_id=signal:go "
                "generation=3 fire_at_ms=3000\n"
                "history TimerCanceled seq=6 workflow_id=t1 "
                "timer_id=wait.sleep generation=1\n"
                "history TimerCanceled seq=7 workflow_id=t1 timer_id=t2 "
                "generation=2\n"
                "history WorkflowCompleted seq=8 workflow_id=t1 result={}\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static const char *APPROVAL =
    "{\"type\":\"ap\",\"version\":1,\"initial\":\"prepare\",\"states\":["
    "{\"name\":\"prepare\",\"on_enter\":[{\"activity\":\"prep\"}],"
    "\"on\":[{\"event\":\"activity_completed\",\"target\":\"review\"}]},"
    "{\"name\":\"review\",\"on_enter\":[{\"wait_signal\":\"approve\"}],"
    "\"on\":[{\"event\":\"signal_received\",\"signal\":\"approve\","
    "\"when\":\"$.payload.ok == true\",\"assign\":{\"by\":\"$.payload.by\"},"
    "\"target\":\"end\"}]}," END_OK "]}";

static void test_signal_buffered_and_dedupe(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(APPROVAL);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_limits_t lim = {0};
    cairn_outputs_init(&out);
    lim.max_buffered_signals = 2;
    in = ev_start("a1", "r1", "ap", NULL, 0);
    step_lim(reg, &lim, &wf, &in, &out);

    /* Arrives before anyone waits for it: recorded and buffered. */
    in = ev_signal("a1", "s1", "approve", "{\"ok\":false,\"by\":\"x\"}", 10);
    step_lim(reg, &lim, &wf, &in, &out);
    expect_outs(&out, "history SignalReceived seq=3 workflow_id=a1 "
                      "request_id=s1 signal_name=approve "
                      "payload={\"ok\":false,\"by\":\"x\"}\n");
    assert_int_equal(cairn_wf_signal_count(wf), 1);
    /* The same request again: a no-op. */
    step_lim(reg, &lim, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    in = ev_signal("a1", "s2", "approve", "{\"ok\":true,\"by\":\"ann\"}", 11);
    step_lim(reg, &lim, &wf, &in, &out);
    assert_int_equal(cairn_wf_signal_count(wf), 2);
    /* The buffer is full. */
    in = ev_signal("a1", "s3", "other", NULL, 12);
    step_lim(reg, &lim, &wf, &in, &out);
    assert_int_equal(out.v[0].ev.type, CAIRN_EV_REJECTED);
    assert_non_null(strstr(out.v[0].ev.reason, "max_buffered_signals"));

    /* Entering review: the first buffered signal fails the guard, the
     * second one passes and is consumed. */
    in = ev_done("a1", "prep", 1, NULL, 20);
    step_lim(reg, &lim, &wf, &in, &out);
    expect_outs(&out, "history ActivityCompleted seq=6 workflow_id=a1 "
                      "activity_id=prep attempt=1\n"
                      "history WorkflowCompleted seq=7 workflow_id=a1 "
                      "result={\"by\":\"ann\"}\n");
    assert_int_equal(cairn_wf_signal_count(wf), 1);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- guards --------------------------------------------------------------- */

static void test_guard_expressions(void **state) {
    (void)state;
    static const struct {
        const char *src;
        int want;
    } cases[] = {
        {"$.vars.n == 3", 1},
        {"$.vars.n == 3.0", 1},
        {"$.vars.n != 3", 0},
        {"$.vars.n < 4 && $.vars.n >= 3", 1},
        {"$.vars.n > 3 || $.vars.s == 'abc'", 1},
        {"!($.vars.n > 3)", 1},
        {"!$.vars.missing", 1},
        {"$.vars.missing == null", 1},
        {"$.vars.s < \"abd\"", 1},
        {"$.vars.s < 3", 0},
        {"$.vars.flag", 1},
        {"$.vars.list[1] == 'b'", 1},
        {"$.vars.list[9] == null", 1},
        {"$.vars.obj == $.vars.obj2", 1},
        {"$.vars.big == 9007199254740993", 1},
        {"$.vars.big == 9007199254740992", 0},
        {"($.vars.n == 3) == true", 1},
        {"$.input.x == -1.5e0", 1},
        {"$.workflow_id == 'w\\'1'", 1},
        {"true && !false && null == null", 1},
    };
    json_t *vars = json_loads(
        "{\"n\":3,\"s\":\"abc\",\"flag\":true,\"list\":[\"a\",\"b\"],"
        "\"obj\":{\"a\":[1]},\"obj2\":{\"a\":[1]},\"big\":9007199254740993}",
        0, NULL);
    json_t *input = json_loads("{\"x\":-1.5}", 0, NULL);
    json_t *id = json_string("w'1");
    cairn__ctx_t ctx = {0};
    ctx.vars = vars;
    ctx.input = input;
    ctx.workflow_id = id;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        cairn__expr_t *e = cairn__expr_parse(cases[i].src, CAIRN__R_ALWAYS,
                                             err, sizeof(err));
        if (!e)
            fail_msg("'%s' refused: %s", cases[i].src, err);
        if (cairn__expr_eval(e, &ctx) != cases[i].want)
            fail_msg("'%s' should be %d", cases[i].src, cases[i].want);
        cairn__expr_free(e);
    }
    static const char *bad[] = {"",          "$.vars.n =",  "$.vars.n = 1",
                                "(1",        "'open",       "foo",
                                "$.result",  "1 2",         "$vars",
                                "$.vars.a[", "&& 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        cairn__expr_t *e = cairn__expr_parse(bad[i], CAIRN__R_ALWAYS, err,
                                             sizeof(err));
        if (e)
            fail_msg("'%s' should be refused", bad[i]);
        assert_true(err[0] != '\0');
    }
    json_decref(vars);
    json_decref(input);
    json_decref(id);
}

static void test_choice_state(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"ch\",\"version\":1,\"initial\":\"route\",\"states\":["
        "{\"name\":\"route\",\"on\":["
        "{\"event\":\"always\",\"when\":\"$.vars.amount > 100\","
        "\"assign\":{\"path\":\"big\"},\"target\":\"end\"},"
        "{\"event\":\"always\",\"assign\":{\"path\":\"small\",\"x.y\":1},"
        "\"target\":\"end\"}]}," END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("c1", "r1", "ch", "{\"amount\":500}", 0);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"amount\":500,\"path\":\"big\"}");
    cairn_wf_destroy(wf);
    wf = NULL;
    in = ev_start("c2", "r1", "ch", "{\"amount\":5}", 0);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"amount\":5,\"path\":\"small\",\"x\":{\"y\":1}}");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_transition_loop_bounded(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"lp\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on\":[{\"event\":\"always\",\"when\":"
        "\"$.vars.stop\",\"target\":\"end\"},{\"event\":\"always\","
        "\"target\":\"b\"}]},"
        "{\"name\":\"b\",\"on\":[{\"event\":\"always\",\"target\":\"a\"}]},"
        END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("l1", "r1", "lp", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_type,
                        "TransitionLoop");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- cancel, terminate, sagas ------------------------------------------------ */

static const char *SAGA =
    "{\"type\":\"saga\",\"version\":1,\"initial\":\"charge\","
    "\"on_cancel\":\"cancel_comp\",\"retry\":{\"maximum_attempts\":1},"
    "\"states\":["
    "{\"name\":\"charge\",\"on_enter\":[{\"activity\":\"charge_card\","
    "\"id\":\"charge\",\"compensation\":{\"activity\":\"refund\","
    "\"input\":{\"payment\":\"$.result.id\"}}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"target\":\"reserve\"},"
    "{\"event\":\"activity_failed\",\"target\":\"compensate\"}]},"
    "{\"name\":\"reserve\",\"on_enter\":[{\"activity\":\"reserve_stock\","
    "\"id\":\"reserve\",\"compensation\":{\"activity\":\"release\","
    "\"input\":\"$.result\",\"task_queue\":\"stock\"}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"target\":\"ship\"},"
    "{\"event\":\"activity_failed\",\"target\":\"compensate\"}]},"
    "{\"name\":\"ship\",\"on_enter\":[{\"activity\":\"ship\"}],"
    "\"on\":[{\"event\":\"activity_completed\",\"target\":\"done\"},"
    "{\"event\":\"activity_failed\",\"target\":\"compensate\"}]},"
    "{\"name\":\"compensate\",\"on_enter\":[{\"compensate\":true}],"
    "\"on\":[{\"event\":\"compensation_completed\",\"target\":"
    "\"rolled_back\"},{\"event\":\"compensation_failed\",\"target\":"
    "\"stuck\"}]},"
    "{\"name\":\"cancel_comp\",\"on_enter\":[{\"compensate\":{}}],"
    "\"on\":[{\"event\":\"compensation_completed\",\"target\":"
    "\"canceled\"}]},"
    "{\"name\":\"done\",\"on_enter\":[{\"complete\":null}]},"
    "{\"name\":\"canceled\",\"on_enter\":[{\"cancel\":{\"reason\":"
    "\"compensated\"}}]},"
    "{\"name\":\"rolled_back\",\"on_enter\":[{\"fail\":{\"error_type\":"
    "\"OrderRolledBack\"}}]},"
    "{\"name\":\"stuck\",\"on_enter\":[{\"fail\":{\"error_type\":"
    "\"Stuck\",\"error_message\":\"$.vars.e\"}}]}]}";

static void test_saga_reverse_order(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(SAGA);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("s1", "r1", "saga", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_done("s1", "charge", 1, "{\"id\":\"p1\"}", 1);
    step_ok(reg, &wf, &in, &out);
    in = ev_done("s1", "reserve", 1, "{\"sku\":7}", 2);
    step_ok(reg, &wf, &in, &out);
    in = ev_failed("s1", "ship", 1, "NoTruck", NULL, 3);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityFailed seq=7 workflow_id=s1 "
                "activity_id=ship attempt=1 error_type=NoTruck\n"
                "history ActivityScheduled seq=8 workflow_id=s1 "
                "activity_id=undo:reserve activity_name=release "
                "task_queue=stock attempt=1 input={\"sku\":7}\n"
                "task ActivityTask workflow_id=s1 activity_id=undo:reserve "
                "activity_name=release task_queue=stock attempt=1 "
                "idempotency_key=s1:undo:reserve input={\"sku\":7}\n");
    in = ev_done("s1", "undo:reserve", 1, NULL, 4);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=9 workflow_id=s1 "
                "activity_id=undo:reserve attempt=1\n"
                "history ActivityScheduled seq=10 workflow_id=s1 "
                "activity_id=undo:charge activity_name=refund "
                "task_queue=default attempt=1 input={\"payment\":\"p1\"}\n"
                "task ActivityTask workflow_id=s1 activity_id=undo:charge "
                "activity_name=refund task_queue=default attempt=1 "
                "idempotency_key=s1:undo:charge "
                "input={\"payment\":\"p1\"}\n");
    in = ev_done("s1", "undo:charge", 1, NULL, 5);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=11 workflow_id=s1 "
                "activity_id=undo:charge attempt=1\n"
                "history WorkflowFailed seq=12 workflow_id=s1 "
                "error_type=OrderRolledBack\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_cancel_path_and_terminate(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(SAGA);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("s1", "r1", "saga", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_done("s1", "charge", 1, "{\"id\":\"p1\"}", 1);
    step_ok(reg, &wf, &in, &out);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "s1", "c1", "user asked", 2);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history SignalReceived seq=5 workflow_id=s1 request_id=c1 "
                "signal_name=cairn.cancel payload={\"reason\":\"user "
                "asked\"}\n"
                "history ActivityScheduled seq=6 workflow_id=s1 "
                "activity_id=undo:charge activity_name=refund "
                "task_queue=default attempt=1 input={\"payment\":\"p1\"}\n"
                "task ActivityTask workflow_id=s1 activity_id=undo:charge "
                "activity_name=refund task_queue=default attempt=1 "
                "idempotency_key=s1:undo:charge "
                "input={\"payment\":\"p1\"}\n");
    /* The abandoned activity's result is stale; a second cancel is
     * rejected, a repeated one ignored. */
    in = ev_done("s1", "reserve", 1, NULL, 3);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "s1", "c1", "again", 3);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "s1", "c2", NULL, 3);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.v[0].ev.type, CAIRN_EV_REJECTED);
    in = ev_done("s1", "undo:charge", 1, NULL, 4);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=8 workflow_id=s1 "
                "activity_id=undo:charge attempt=1\n"
                "history WorkflowCanceled seq=9 workflow_id=s1 "
                "reason=compensated\n");
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_CANCELED);
    cairn_wf_destroy(wf);

    /* Terminate: immediate, cancels timers. */
    wf = NULL;
    cairn_registry_t *reg2 = reg_with(RETRY);
    in = ev_start("w1", "r1", "r", NULL, 0);
    step_ok(reg2, &wf, &in, &out);
    in = ev_req(CAIRN_EV_TERMINATE_WORKFLOW, "w1", "k1", "ops", 5);
    step_ok(reg2, &wf, &in, &out);
    expect_outs(&out, "history TimerCanceled seq=4 workflow_id=w1 "
                      "timer_id=timeout:w generation=1\n"
                      "history WorkflowTerminated seq=5 workflow_id=w1 "
                      "reason=ops\n");
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_TERMINATED);
    /* Cancel of a workflow without a cancel path: immediate. */
    cairn_wf_destroy(wf);
    wf = NULL;
    in = ev_start("w2", "r1", "r", NULL, 0);
    step_ok(reg2, &wf, &in, &out);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "w2", "c1", NULL, 5);
    step_ok(reg2, &wf, &in, &out);
    expect_outs(&out, "history TimerCanceled seq=4 workflow_id=w2 "
                      "timer_id=timeout:w generation=1\n"
                      "history WorkflowCanceled seq=5 workflow_id=w2\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
    cairn_registry_destroy(reg2);
}

/* ---- child workflows, continue-as-new ----------------------------------------- */

static const char *PARENT =
    "{\"type\":\"parent\",\"version\":1,\"initial\":\"run\",\"states\":["
    "{\"name\":\"run\",\"on_enter\":[{\"child\":{\"id\":\"ship\","
    "\"workflow_type\":\"shipping\",\"input\":{\"to\":\"$.vars.to\"}}}],"
    "\"on\":[{\"event\":\"child_completed\",\"child\":\"ship\","
    "\"assign\":{\"shipped\":\"$.result\"},\"target\":\"end\"},"
    "{\"event\":\"child_failed\",\"assign\":{\"e\":\"$.error.type\"},"
    "\"target\":\"end\"}]}," END_OK "]}";
static const char *CHILD =
    "{\"type\":\"shipping\",\"version\":1,\"initial\":\"go\",\"states\":["
    "{\"name\":\"go\",\"on_enter\":[{\"activity\":\"truck\",\"input\":"
    "\"$.vars.to\"}],\"on\":[{\"event\":\"activity_completed\","
    "\"assign\":{\"eta\":\"$.result\"},\"target\":\"end\"}]}," END_OK "]}";

static void test_child_workflow(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(PARENT);
    reg_add(reg, CHILD);
    cairn_wf_t *parent = NULL, *child = NULL;
    cairn_outputs_t out;
    cairn_event_t in, fwd;
    cairn_outputs_init(&out);
    in = ev_start("p1", "r1", "parent", "{\"to\":\"Oslo\"}", 0);
    step_ok(reg, &parent, &in, &out);
    expect_outs(&out,
                "history WorkflowStarted seq=1 workflow_id=p1 request_id=r1 "
                "workflow_type=parent version=1 input={\"to\":\"Oslo\"}\n"
                "history ActivityScheduled seq=2 workflow_id=p1 "
                "activity_id=child:p1:ship activity_name=shipping "
                "task_queue=cairn.child attempt=1 input={\"to\":\"Oslo\"}\n"
                "events StartWorkflow workflow_id=p1:ship request_id=p1:ship "
                "workflow_type=shipping input={\"to\":\"Oslo\"} "
                "start_policy=reject_duplicate parent_workflow_id=p1\n");
    /* Deliver the StartWorkflow to the child. */
    assert_int_equal(cairn_event_copy(&fwd, &out.v[2].ev), 0);
    fwd.time_ms = 1;
    step_ok(reg, &child, &fwd, &out);
    cairn_event_clear(&fwd);
    assert_string_equal(cairn_wf_parent_id(child), "p1");
    in = ev_done("p1:ship", "truck", 1, "\"2d\"", 2);
    step_ok(reg, &child, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=3 workflow_id=p1:ship "
                "activity_id=truck attempt=1 result=\"2d\"\n"
                "history WorkflowCompleted seq=4 workflow_id=p1:ship "
                "result={\"eta\":\"2d\",\"to\":\"Oslo\"}\n"
                "events ActivityCompleted workflow_id=p1 "
                "activity_id=child:p1:ship attempt=1 "
                "result={\"eta\":\"2d\",\"to\":\"Oslo\"}\n");
    assert_int_equal(cairn_event_copy(&fwd, &out.v[2].ev), 0);
    step_ok(reg, &parent, &fwd, &out);
    cairn_event_clear(&fwd);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"shipped\":{\"eta\":\"2d\",\"to\":\"Oslo\"},"
                        "\"to\":\"Oslo\"}");
    cairn_wf_destroy(parent);
    cairn_wf_destroy(child);

    /* A child that cannot start fails the parent's child step. */
    parent = child = NULL;
    in = ev_start("p2", "r1", "parent", NULL, 0);
    step_ok(reg, &parent, &in, &out);
    assert_int_equal(cairn_event_copy(&fwd, &out.v[2].ev), 0);
    free(fwd.workflow_type);
    fwd.workflow_type = strdup("nope");
    step_ok(reg, &child, &fwd, &out);
    cairn_event_clear(&fwd);
    assert_null(child);
    expect_outs(&out,
                "dlq Rejected workflow_id=p2:ship request_id=p2:ship "
                "rejected_type=StartWorkflow reason=unknown workflow type "
                "'nope'\n"
                "events ActivityFailed workflow_id=p2 "
                "activity_id=child:p2:ship attempt=1 "
                "error_type=ChildStartRejected error_message=unknown "
                "workflow type 'nope' non_retryable=1\n");
    assert_int_equal(cairn_event_copy(&fwd, &out.v[1].ev), 0);
    step_ok(reg, &parent, &fwd, &out);
    cairn_event_clear(&fwd);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"e\":\"ChildStartRejected\"}");
    cairn_wf_destroy(parent);

    /* Terminating the parent terminates the child (default policy). */
    parent = NULL;
    in = ev_start("p3", "r1", "parent", NULL, 0);
    step_ok(reg, &parent, &in, &out);
    in = ev_req(CAIRN_EV_TERMINATE_WORKFLOW, "p3", "k", NULL, 1);
    step_ok(reg, &parent, &in, &out);
    expect_outs(&out,
                "events TerminateWorkflow workflow_id=p3:ship "
                "request_id=p3:child:p3:ship:terminate "
                "reason=parent workflow closed\n"
                "history WorkflowTerminated seq=3 workflow_id=p3\n");
    cairn_outputs_free(&out);
    cairn_wf_destroy(parent);
    cairn_registry_destroy(reg);
}

static void test_continue_as_new(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"loop\",\"version\":1,\"initial\":\"tick\",\"states\":["
        "{\"name\":\"tick\",\"on_enter\":[{\"activity\":\"tick\",\"input\":"
        "\"$.vars.n\"}],\"on\":["
        "{\"event\":\"activity_completed\",\"when\":\"$.result.n >= 2\","
        "\"target\":\"end\"},"
        "{\"event\":\"activity_completed\",\"assign\":{\"n\":\"$.result.n\"},"
        "\"target\":\"again\"}]},"
        "{\"name\":\"again\",\"on_enter\":[{\"continue_as_new\":{\"input\":"
        "{\"n\":\"$.vars.n\"}}}]}," END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("l1", "r1", "loop", "{\"n\":0}", 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_done("l1", "tick", 1, "{\"n\":1}", 1);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=3 workflow_id=l1 "
                "activity_id=tick attempt=1 result={\"n\":1}\n"
                "history WorkflowContinuedAsNew seq=4 workflow_id=l1 "
                "workflow_type=loop version=1 input={\"n\":1}\n"
                "history WorkflowStarted seq=5 workflow_id=l1 "
                "request_id=continue-as-new:2 workflow_type=loop version=1 "
                "input={\"n\":1}\n"
                "history ActivityScheduled seq=6 workflow_id=l1 "
                "activity_id=tick#2 activity_name=tick task_queue=default "
                "attempt=1 input=1\n"
                "task ActivityTask workflow_id=l1 activity_id=tick#2 "
                "activity_name=tick task_queue=default attempt=1 "
                "idempotency_key=l1:tick#2 input=1\n");
    assert_int_equal(cairn_wf_run(wf), 2);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_RUNNING);
    in = ev_done("l1", "tick#2", 1, "{\"n\":2}", 2);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- limits and the execution timeout ----------------------------------------- */

static void test_execution_timeout(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"et\",\"version\":1,\"initial\":\"a\","
        "\"execution_timeout_ms\":1000,\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\"}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"}]},"
        END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("e1", "r1", "et", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_TIMER_STARTED)->timer_id,
                        "workflow:timeout");
    in = ev_fired("e1", "workflow:timeout", 1, 1000, 1000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "history TimerFired seq=4 workflow_id=e1 "
                      "timer_id=workflow:timeout generation=1 "
                      "fire_at_ms=1000\n"
                      "history WorkflowFailed seq=5 workflow_id=e1 "
                      "error_type=WorkflowTimedOut error_message=execution "
                      "timeout of 1000 ms reached\n");
    cairn_wf_destroy(wf);
    /* Completing in time cancels the timeout timer. */
    wf = NULL;
    in = ev_start("e2", "r1", "et", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_done("e2", "w", 1, NULL, 10);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "history ActivityCompleted seq=4 workflow_id=e2 "
                      "activity_id=w attempt=1\n"
                      "history TimerCanceled seq=5 workflow_id=e2 "
                      "timer_id=workflow:timeout generation=1\n"
                      "history WorkflowCompleted seq=6 workflow_id=e2 "
                      "result={}\n");
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_limits(void **state) {
    (void)state;
    const char *two =
        "{\"type\":\"two\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"},{\"activity\":"
        "\"y\"},{\"sleep_ms\":5},{\"sleep_ms\":6,\"id\":\"s2\"}],"
        "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"x\","
        "\"target\":\"a\"},{\"event\":\"timer_fired\",\"target\":\"end\"}]},"
        END_OK "]}";
    cairn_registry_t *reg = reg_with(two);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_limits_t lim = {0};
    cairn_outputs_init(&out);

    lim.max_pending_activities = 1;
    in = ev_start("x1", "r1", "two", NULL, 0);
    step_lim(reg, &lim, &wf, &in, &out);
    assert_non_null(strstr(
        find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_message,
        "max_pending_activities (1)"));
    cairn_wf_destroy(wf);
    wf = NULL;
    lim.max_pending_activities = 0;
    lim.max_pending_timers = 1;
    step_lim(reg, &lim, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_type,
                        "LimitExceeded");
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    cairn_wf_destroy(wf);

    /* History length: a loop through state a grows history each round. */
    wf = NULL;
    memset(&lim, 0, sizeof(lim));
    lim.max_history_events = 20;
    step_lim(reg, &lim, &wf, &in, &out);
    for (int round = 1; round < 10 && cairn_wf_status(wf) ==
                                           CAIRN_WF_RUNNING; round++) {
        char id[16];
        snprintf(id, sizeof(id), round == 1 ? "x" : "x#%d", round);
        in = ev_done("x1", id, 1, NULL, round);
        step_lim(reg, &lim, &wf, &in, &out);
    }
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_FAILED);
    const cairn_event_t *f = find_out(&out, CAIRN_EV_WORKFLOW_FAILED);
    assert_string_equal(f->error_type, "HistoryLimitExceeded");
    /* Soft limit: the failing step's own events and the closing ones. */
    assert_true(f->seq >= 20 && f->seq < 20 + 12);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_child_failure_and_custom_id(void **state) {
    (void)state;
    const char *parent =
        "{\"type\":\"par\",\"version\":1,\"initial\":\"run\",\"states\":["
        "{\"name\":\"run\",\"on_enter\":[{\"child\":{\"id\":\"c\","
        "\"workflow_type\":\"kid\",\"workflow_id\":\"$.vars.cid\","
        "\"parent_close_policy\":\"request_cancel\"}},{\"sleep_ms\":10}],"
        "\"on\":[{\"event\":\"child_completed\",\"target\":\"end\"},"
        "{\"event\":\"timer_fired\",\"target\":\"end\"}]}," END_OK "]}";
    const char *kid =
        "{\"type\":\"kid\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\",\"retry\":{"
        "\"maximum_attempts\":1}}],\"on\":[{\"event\":"
        "\"activity_completed\",\"target\":\"end\"}]}," END_OK "]}";
    cairn_registry_t *reg = reg_with(parent);
    reg_add(reg, kid);
    cairn_wf_t *p = NULL, *k = NULL;
    cairn_outputs_t out;
    cairn_event_t in, fwd;
    cairn_outputs_init(&out);
    in = ev_start("p", "r1", "par", "{\"cid\":\"kid-7\"}", 0);
    step_ok(reg, &p, &in, &out);
    const cairn_event_t *sw = find_out(&out, CAIRN_EV_START_WORKFLOW);
    assert_string_equal(sw->workflow_id, "kid-7");
    assert_int_equal(cairn_event_copy(&fwd, sw), 0);
    step_ok(reg, &k, &fwd, &out);
    cairn_event_clear(&fwd);
    /* The child fails (no retries, no transition): the parent hears it and,
     * with no child_failed transition, fails with the child's error. */
    in = ev_failed("kid-7", "w", 1, "Broken", "gear", 1);
    step_ok(reg, &k, &in, &out);
    expect_outs(&out,
                "history ActivityFailed seq=3 workflow_id=kid-7 activity_id=w "
                "attempt=1 error_type=Broken error_message=gear\n"
                "history WorkflowFailed seq=4 workflow_id=kid-7 "
                "error_type=Broken error_message=activity 'w' failed after 1 "
                "attempt(s): gear\n"
                "events ActivityFailed workflow_id=p activity_id=child:kid-7 "
                "attempt=1 error_type=ChildFailed error_message=Broken: "
                "activity 'w' failed after 1 attempt(s): gear "
                "non_retryable=1\n");
    assert_int_equal(cairn_event_copy(&fwd, &out.v[2].ev), 0);
    step_ok(reg, &p, &fwd, &out);
    cairn_event_clear(&fwd);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_type,
                        "ChildFailed");
    cairn_wf_destroy(p);
    cairn_wf_destroy(k);

    /* Leaving the state releases the child per its policy (cancel). */
    p = NULL;
    in = ev_start("p", "r1", "par", "{\"cid\":\"kid-8\"}", 0);
    step_ok(reg, &p, &in, &out);
    in = ev_fired("p", "run.sleep", 1, 10, 10);
    step_ok(reg, &p, &in, &out);
    expect_outs(&out,
                "history TimerFired seq=4 workflow_id=p timer_id=run.sleep "
                "generation=1 fire_at_ms=10\n"
                "events CancelWorkflow workflow_id=kid-8 "
                "request_id=p:child:kid-8:cancel reason=parent workflow left "
                "the state that started the child\n"
                "history WorkflowCompleted seq=5 workflow_id=p "
                "result={\"cid\":\"kid-8\"}\n");
    cairn_wf_destroy(p);

    /* A workflow_id that is not a string fails the parent. */
    p = NULL;
    in = ev_start("p", "r1", "par", "{\"cid\":5}", 0);
    step_ok(reg, &p, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_type,
                        "InvalidChildWorkflowId");
    cairn_wf_destroy(p);
    cairn_outputs_free(&out);
    cairn_registry_destroy(reg);
}

static void test_compensation_failure(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"cf\",\"version\":1,\"initial\":\"a\","
        "\"retry\":{\"maximum_attempts\":1},\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\","
        "\"compensation\":{\"activity\":\"undo_x\",\"retry\":{"
        "\"maximum_attempts\":2,\"initial_interval_ms\":1}}}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"c\"}]},"
        "{\"name\":\"c\",\"on_enter\":[{\"compensate\":true}],"
        "\"on\":[{\"event\":\"compensation_completed\",\"target\":"
        "\"end\"}]}," END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("f", "r1", "cf", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_done("f", "x", 1, NULL, 1);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_ACTIVITY_TASK)->activity_id,
                        "undo:x");
    /* Compensations retry with their own policy. */
    in = ev_failed("f", "undo:x", 1, "E", "m", 2);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_TIMER_STARTED)->timer_id,
                        "retry:undo:x");
    in = ev_fired("f", "retry:undo:x", 1, 3, 3);
    step_ok(reg, &wf, &in, &out);
    in = ev_failed("f", "undo:x", 2, "E", "m", 4);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_type,
                        "CompensationFailed");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/*
 * Templates share values instead of copying them (an activity's input is
 * the variables object itself, a variable holds the parsed result); the
 * only change in place, an assignment, copies first whatever else holds
 * what it changes. The same inputs applied to one document edited in place
 * and to one decoded afresh before every step (where nothing is shared)
 * must give the same outputs and states: a retry's input, the saga's
 * compensation input and the variables each keep what they held.
 */
static const char *COW =
    "{\"type\":\"cow\",\"version\":1,\"initial\":\"a\","
    "\"retry\":{\"initial_interval_ms\":5,\"maximum_attempts\":3},"
    "\"states\":["
    "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"one\",\"input\":\"$.vars\","
    "\"compensation\":{\"activity\":\"undo_one\",\"input\":\"$.vars\"}},"
    "{\"activity\":\"side\",\"input\":\"$.vars.deep\"},"
    "{\"assign\":{\"k\":1,\"deep.v\":\"$.vars.k\"}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"one\","
    "\"assign\":{\"r\":\"$.result\",\"r2\":\"$.result\",\"k\":2},"
    "\"target\":\"b\"}]},"
    "{\"name\":\"b\",\"on_enter\":[{\"assign\":{\"r.tag\":\"set\","
    "\"deep.v\":\"$.vars.r\"}},{\"activity\":\"two\",\"input\":{\"all\":"
    "\"$.vars\",\"r\":\"$.vars.r\"},\"compensation\":{\"activity\":"
    "\"undo_two\",\"input\":\"$.vars.r\"}},{\"assign\":{\"r.more\":1,"
    "\"deep.v.w\":2}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"two\","
    "\"assign\":{\"r.tag\":\"again\",\"r2.n\":\"$.result\"},"
    "\"target\":\"undo\"}]},"
    "{\"name\":\"undo\",\"on_enter\":[{\"assign\":{\"r.tag\":\"undoing\"}},"
    "{\"compensate\":true}],"
    "\"on\":[{\"event\":\"compensation_completed\",\"target\":\"end\"}]},"
    "{\"name\":\"end\",\"on_enter\":[{\"complete\":\"$.vars\"}]}]}";

/* One step on a (in place) and on a decoded copy of b; both must agree. */
static void step_both(const cairn_registry_t *reg, cairn_wf_t **a,
                      cairn_wf_t **b, const cairn_event_t *in,
                      cairn_outputs_t *oa) {
    char err[256] = "";
    cairn_outputs_t ob;
    if (*b) { /* afresh: no value shared inside the document */
        char *text = encode(*b);
        cairn_wf_destroy(*b);
        *b = cairn_wf_decode(text, strlen(text), err, sizeof(err));
        assert_non_null(*b);
        free(text);
    }
    step_ok(reg, a, in, oa);
    cairn_outputs_init(&ob);
    assert_int_equal(cairn_engine_step(reg, NULL, b, in, &ob, err,
                                       sizeof(err)),
                     CAIRN_ERR_OK);
    char *ta = outs_text(oa), *tb = outs_text(&ob);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    char *sa = encode(*a), *sb = encode(*b);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
    cairn_outputs_free(&ob);
}

static void test_shared_values_copy_on_write(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(COW);
    cairn_wf_t *a = NULL, *b = NULL;
    cairn_outputs_t out;
    cairn_outputs_init(&out);
    cairn_event_t in = ev_start("c-1", "r1", "cow", "{\"deep\":{\"x\":1}}", 0);
    step_both(reg, &a, &b, &in, &out);
    /* one's first attempt fails: the retry sends the input of the first,
     * the variables before the assignment that followed it */
    in = ev_failed("c-1", "one", 1, "E", "boom", 0);
    step_both(reg, &a, &b, &in, &out);
    const cairn_event_t *started = find_out(&out, CAIRN_EV_TIMER_STARTED);
    assert_non_null(started);
    assert_string_equal(started->timer_id, "retry:one");
    in = ev_fired("c-1", "retry:one", started->generation, started->fire_at_ms,
                  started->fire_at_ms);
    step_both(reg, &a, &b, &in, &out);
    const cairn_event_t *task = find_out(&out, CAIRN_EV_ACTIVITY_TASK);
    assert_non_null(task);
    assert_string_equal(task->input, "{\"deep\":{\"x\":1}}");
    in = ev_done("c-1", "one", 2, "{\"id\":7}", 0);
    step_both(reg, &a, &b, &in, &out);
    in = ev_done("c-1", "two", 1, "{\"ok\":true}", 0);
    step_both(reg, &a, &b, &in, &out);
    /* the saga runs two's compensation, then one's, with their inputs as
     * they were when each completed */
    task = find_out(&out, CAIRN_EV_ACTIVITY_TASK);
    assert_non_null(task);
    assert_string_equal(task->activity_name, "undo_two");
    assert_string_equal(task->input, "{\"id\":7,\"more\":1,\"tag\":\"set\"}");
    in = ev_done("c-1", "undo:two", 1, "null", 0);
    step_both(reg, &a, &b, &in, &out);
    task = find_out(&out, CAIRN_EV_ACTIVITY_TASK);
    assert_non_null(task);
    assert_string_equal(task->activity_name, "undo_one");
    assert_string_equal(task->input, "{\"deep\":{\"v\":null,\"x\":1},\"k\":1}");
    in = ev_done("c-1", "undo:one", 1, "null", 0);
    step_both(reg, &a, &b, &in, &out);
    assert_int_equal(cairn_wf_status(a), CAIRN_WF_COMPLETED);
    cairn_outputs_free(&out);
    cairn_wf_destroy(a);
    cairn_wf_destroy(b);
    cairn_registry_destroy(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_backoff_timeouts),
        cmocka_unit_test(test_retry_exhausted_without_transition),
        cmocka_unit_test(test_schedule_to_close),
        cmocka_unit_test(test_timers_generations),
        cmocka_unit_test(test_signal_timeout),
        cmocka_unit_test(test_signal_buffered_and_dedupe),
        cmocka_unit_test(test_guard_expressions),
        cmocka_unit_test(test_choice_state),
        cmocka_unit_test(test_transition_loop_bounded),
        cmocka_unit_test(test_saga_reverse_order),
        cmocka_unit_test(test_cancel_path_and_terminate),
        cmocka_unit_test(test_child_workflow),
        cmocka_unit_test(test_continue_as_new),
        cmocka_unit_test(test_execution_timeout),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_child_failure_and_custom_id),
        cmocka_unit_test(test_compensation_failure),
        cmocka_unit_test(test_shared_values_copy_on_write),
    };
    return cmocka_run_group_tests_name("engine_flow", tests, NULL, NULL);
}
