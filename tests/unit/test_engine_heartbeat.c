/*
 * test_engine_heartbeat.c — activity heartbeats: the heartbeat timeout
 * (durable timer "hb:<activity>"), restarted by every accepted
 * ActivityHeartbeat; a missed heartbeat times the attempt out
 * (ActivityTimedOut "heartbeat") and the retry policy applies; stale
 * heartbeats are ignored; completion cancels the timer; the history with
 * heartbeats replays exactly; the definition key is validated.
 */
#include "test_engine_helpers.h"

#define END_OK "{\"name\":\"end\",\"on_enter\":[{\"complete\":\"$.vars\"}]}"

static const char *HB =
    "{\"type\":\"h\",\"version\":1,\"initial\":\"a\",\"states\":["
    "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"work\",\"id\":\"w\","
    "\"retry\":{\"initial_interval_ms\":100,\"maximum_attempts\":3},"
    "\"timeouts\":{\"heartbeat_ms\":50}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"}]},"
    END_OK "]}";

static cairn_event_t ev_hb(const char *id, const char *act, int attempt,
                           const char *details, int64_t t) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_ACTIVITY_HEARTBEAT;
    e.workflow_id = S(id);
    e.activity_id = S(act);
    e.attempt = attempt;
    e.payload = S(details);
    e.time_ms = t;
    return e;
}

typedef struct {
    cairn_event_t v[128];
    size_t n;
} hist_t;

/* step_ok() that also records the history outputs (h may be NULL). */
static void rec(const cairn_registry_t *reg, cairn_wf_t **wf,
                const cairn_event_t *in, cairn_outputs_t *out, hist_t *h) {
    step_ok(reg, wf, in, out);
    for (size_t i = 0; h && i < out->n; i++)
        if (out->v[i].dest == CAIRN_OUT_HISTORY) {
            assert_true(h->n < 128);
            assert_int_equal(cairn_event_copy(&h->v[h->n++], &out->v[i].ev),
                             0);
        }
}

static void hist_free(hist_t *h) {
    for (size_t i = 0; i < h->n; i++)
        cairn_event_clear(&h->v[i]);
    h->n = 0;
}

static void timer_is(const cairn_wf_t *wf, const char *want_id,
                     int64_t want_gen, int64_t want_at) {
    const char *tid;
    int64_t gen, at;
    for (size_t i = 0; i < cairn_wf_timer_count(wf); i++) {
        cairn_wf_timer_at(wf, i, &tid, &gen, &at);
        if (!strcmp(tid, want_id)) {
            assert_int_equal(gen, want_gen);
            assert_int_equal(at, want_at);
            return;
        }
    }
    fail_msg("no pending timer %s", want_id);
}

static void test_heartbeats_keep_alive(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(HB);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    hist_t h = {.n = 0};
    cairn_outputs_init(&out);

    in = ev_start("w1", "r1", "h", NULL, 0);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history WorkflowStarted seq=1 workflow_id=w1 request_id=r1 "
                "workflow_type=h version=1\n"
                "history ActivityScheduled seq=2 workflow_id=w1 "
                "activity_id=w activity_name=work task_queue=default "
                "attempt=1\n"
                "task ActivityTask workflow_id=w1 activity_id=w "
                "activity_name=work task_queue=default attempt=1 "
                "idempotency_key=w1:w\n"
                "history TimerStarted seq=3 workflow_id=w1 timer_id=hb:w "
                "generation=1 fire_at_ms=50\n");
    timer_is(wf, "hb:w", 1, 50);

    /* Each heartbeat restarts the timer: alive well past 50 ms. */
    in = ev_hb("w1", "w", 1, "{\"done\":1}", 40);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history ActivityHeartbeat seq=4 workflow_id=w1 "
                "activity_id=w attempt=1 payload={\"done\":1}\n"
                "history TimerCanceled seq=5 workflow_id=w1 timer_id=hb:w "
                "generation=1\n"
                "history TimerStarted seq=6 workflow_id=w1 timer_id=hb:w "
                "generation=2 fire_at_ms=90\n");
    timer_is(wf, "hb:w", 2, 90);
    in = ev_hb("w1", "w", 1, NULL, 80);
    rec(reg, &wf, &in, &out, &h);
    assert_int_equal(out.n, 3);
    timer_is(wf, "hb:w", 3, 130);

    /* A fire of an older generation is stale. */
    in = ev_fired("w1", "hb:w", 1, 50, 90);
    rec(reg, &wf, &in, &out, &h);
    assert_int_equal(out.n, 0);
    in = ev_hb("w1", "w", 1, NULL, 120);
    rec(reg, &wf, &in, &out, &h);
    timer_is(wf, "hb:w", 4, 170);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_RUNNING);

    /* Completion cancels the heartbeat timer. */
    in = ev_done("w1", "w", 1, "{}", 150);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history ActivityCompleted seq=13 workflow_id=w1 "
                "activity_id=w attempt=1 result={}\n"
                "history TimerCanceled seq=14 workflow_id=w1 timer_id=hb:w "
                "generation=4\n"
                "history WorkflowCompleted seq=15 workflow_id=w1 "
                "result={}\n");
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);

    /* A heartbeat after the close is stale. */
    in = ev_hb("w1", "w", 1, NULL, 160);
    rec(reg, &wf, &in, &out, NULL);
    assert_int_equal(out.n, 0);

    /* The history (with its heartbeats) replays exactly. */
    char err[512] = "";
    int64_t div = -1;
    cairn_wf_t *back = NULL;
    assert_int_equal(cairn_engine_replay(reg, NULL, h.v, h.n, &back, &div,
                                         err, sizeof(err)),
                     CAIRN_ERR_OK);
    if (div)
        fail_msg("diverged at %lld: %s", (long long)div, err);
    assert_non_null(back);
    assert_int_equal(cairn_wf_seq(back), cairn_wf_seq(wf));
    assert_int_equal(cairn_wf_status(back), CAIRN_WF_COMPLETED);
    cairn_wf_destroy(back);

    hist_free(&h);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_missed_heartbeat_retries(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(HB);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    hist_t h = {.n = 0};
    cairn_outputs_init(&out);

    in = ev_start("w1", "r1", "h", NULL, 0);
    rec(reg, &wf, &in, &out, &h);
    in = ev_hb("w1", "w", 1, NULL, 10); /* hb:w gen 2 at 60 */
    rec(reg, &wf, &in, &out, &h);
    in = ev_fired("w1", "hb:w", 2, 60, 61);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history TimerFired seq=7 workflow_id=w1 timer_id=hb:w "
                "generation=2 fire_at_ms=60\n"
                "history ActivityTimedOut seq=8 workflow_id=w1 "
                "activity_id=w attempt=1 timeout_kind=heartbeat\n"
                "history TimerStarted seq=9 workflow_id=w1 timer_id=retry:w "
                "generation=3 fire_at_ms=161\n");
    /* While backing off, heartbeats and results of attempt 1 are stale. */
    in = ev_hb("w1", "w", 1, NULL, 70);
    rec(reg, &wf, &in, &out, &h);
    assert_int_equal(out.n, 0);
    in = ev_done("w1", "w", 1, "{}", 71);
    rec(reg, &wf, &in, &out, &h);
    assert_int_equal(out.n, 0);

    /* Attempt 2 gets a fresh heartbeat timer. */
    in = ev_fired("w1", "retry:w", 3, 161, 161);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history TimerFired seq=10 workflow_id=w1 timer_id=retry:w "
                "generation=3 fire_at_ms=161\n"
                "history ActivityScheduled seq=11 workflow_id=w1 "
                "activity_id=w activity_name=work task_queue=default "
                "attempt=2\n"
                "task ActivityTask workflow_id=w1 activity_id=w "
                "activity_name=work task_queue=default attempt=2 "
                "idempotency_key=w1:w\n"
                "history TimerStarted seq=12 workflow_id=w1 timer_id=hb:w "
                "generation=4 fire_at_ms=211\n");
    /* A stale-attempt heartbeat is ignored; the current one is accepted. */
    in = ev_hb("w1", "w", 1, NULL, 200);
    rec(reg, &wf, &in, &out, &h);
    assert_int_equal(out.n, 0);
    timer_is(wf, "hb:w", 4, 211);
    /* Unknown activity: ignored. */
    in = ev_hb("w1", "nope", 2, NULL, 200);
    rec(reg, &wf, &in, &out, &h);
    assert_int_equal(out.n, 0);
    in = ev_hb("w1", "w", 2, "[1,2]", 205);
    rec(reg, &wf, &in, &out, &h);
    timer_is(wf, "hb:w", 5, 255);

    /* A failure of the attempt cancels the heartbeat timer too (backoff
     * 100 ms * 2^1). */
    in = ev_failed("w1", "w", 2, "E", "m", 210);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history ActivityFailed seq=16 workflow_id=w1 activity_id=w "
                "attempt=2 error_type=E error_message=m\n"
                "history TimerCanceled seq=17 workflow_id=w1 timer_id=hb:w "
                "generation=5\n"
                "history TimerStarted seq=18 workflow_id=w1 timer_id=retry:w "
                "generation=6 fire_at_ms=410\n");
    /* Attempt 3 (the last) misses its heartbeat: the workflow fails. */
    in = ev_fired("w1", "retry:w", 6, 410, 410);
    rec(reg, &wf, &in, &out, &h);
    timer_is(wf, "hb:w", 7, 460);
    in = ev_fired("w1", "hb:w", 7, 460, 460);
    rec(reg, &wf, &in, &out, &h);
    expect_outs(&out,
                "history TimerFired seq=22 workflow_id=w1 timer_id=hb:w "
                "generation=7 fire_at_ms=460\n"
                "history ActivityTimedOut seq=23 workflow_id=w1 "
                "activity_id=w attempt=3 timeout_kind=heartbeat\n"
                "history WorkflowFailed seq=24 workflow_id=w1 "
                "error_type=HeartbeatTimeout error_message=activity 'w' "
                "failed after 3 attempt(s): heartbeat timeout\n");
    assert_int_equal(cairn_wf_timer_count(wf), 0);

    char err[512] = "";
    int64_t div = -1;
    cairn_wf_t *back = NULL;
    assert_int_equal(cairn_engine_replay(reg, NULL, h.v, h.n, &back, &div,
                                         err, sizeof(err)),
                     CAIRN_ERR_OK);
    if (div)
        fail_msg("diverged at %lld: %s", (long long)div, err);
    cairn_wf_destroy(back);

    hist_free(&h);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* With start_to_close too: both timers per attempt; both cancelled. */
static void test_heartbeat_with_start_to_close(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"h\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\",\"timeouts\":{"
        "\"start_to_close_ms\":1000,\"heartbeat_ms\":100}}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"}]},"
        END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("x", "r1", "h", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(cairn_wf_timer_count(wf), 2);
    timer_is(wf, "timeout:w", 1, 1000);
    timer_is(wf, "hb:w", 2, 100);
    in = ev_hb("x", "w", 1, NULL, 50);
    step_ok(reg, &wf, &in, &out);
    timer_is(wf, "timeout:w", 1, 1000);
    timer_is(wf, "hb:w", 3, 150);
    in = ev_done("x", "w", 1, NULL, 60);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* Heartbeats without heartbeat_ms, bad details, and the definition key. */
static void test_heartbeat_edges(void **state) {
    (void)state;
    const char *def =
        "{\"type\":\"n\",\"version\":1,\"initial\":\"a\",\"states\":["
        "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\"}],"
        "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"}]},"
        END_OK "]}";
    cairn_registry_t *reg = reg_with(def);
    reg_add(reg, HB);
    cairn_wf_t *wf = NULL, *wf2 = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_limits_t lim = {0};
    cairn_outputs_init(&out);

    /* No heartbeat timeout configured: heartbeats are ignored. */
    in = ev_start("n1", "r1", "n", NULL, 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_hb("n1", "w", 1, "{}", 5);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    /* Unknown workflow: Rejected to the DLQ like any input. */
    in = ev_hb("zz", "w", 1, NULL, 5);
    step_ok(reg, &wf2, &in, &out);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].dest, CAIRN_OUT_DLQ);
    assert_null(wf2);

    /* Invalid or oversized details: Rejected, timer not restarted. */
    in = ev_start("h1", "r1", "h", NULL, 0);
    step_ok(reg, &wf2, &in, &out);
    in = ev_hb("h1", "w", 1, "{nope", 10);
    step_ok(reg, &wf2, &in, &out);
    expect_outs(&out, "history Rejected seq=4 workflow_id=h1 "
                      "rejected_type=ActivityHeartbeat reason=heartbeat "
                      "details are not valid JSON: string or '}' expected "
                      "near 'nope'\n");
    lim.max_payload_bytes = 4;
    in = ev_hb("h1", "w", 1, "[1,2,3]", 10);
    step_lim(reg, &lim, &wf2, &in, &out);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].ev.type, CAIRN_EV_REJECTED);
    timer_is(wf2, "hb:w", 1, 50);
    in = ev_hb("h1", "", 1, NULL, 10);
    step_ok(reg, &wf2, &in, &out);
    assert_int_equal(out.v[0].ev.type, CAIRN_EV_REJECTED);

    def_refused("{\"type\":\"b\",\"version\":1,\"initial\":\"a\",\"states\":["
                "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\","
                "\"timeouts\":{\"heartbeat_ms\":-1}}]}]}",
                "'heartbeat_ms' must be a non-negative integer");
    def_refused("{\"type\":\"b\",\"version\":1,\"initial\":\"a\",\"states\":["
                "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"w\","
                "\"timeouts\":{\"heartbeat_ms\":\"5\"}}]}]}",
                "'heartbeat_ms' must be a non-negative integer");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_wf_destroy(wf2);
    cairn_registry_destroy(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeats_keep_alive),
        cmocka_unit_test(test_missed_heartbeat_retries),
        cmocka_unit_test(test_heartbeat_with_start_to_close),
        cmocka_unit_test(test_heartbeat_edges),
    };
    return cmocka_run_group_tests_name("engine_heartbeat", tests, NULL, NULL);
}
