/*
 * test_engine_basic.c — definitions, registry, state encoding and the core
 * step paths: a sequential workflow end to end with exact outputs,
 * duplicates, start policies and every rejection path.
 */
#include "test_engine_helpers.h"

static const char *ORDER =
    "{\"type\":\"order\",\"version\":1,\"task_queue\":\"default\","
    "\"initial\":\"charge\",\"states\":["
    "{\"name\":\"charge\",\"on_enter\":[{\"activity\":\"charge_card\","
    "\"id\":\"charge\",\"input\":\"$.vars.order\",\"task_queue\":"
    "\"payments\"}],\"on\":["
    "{\"event\":\"activity_completed\",\"activity\":\"charge\","
    "\"assign\":{\"payment\":\"$.result\"},\"target\":\"reserve\"},"
    "{\"event\":\"activity_failed\",\"activity\":\"charge\","
    "\"assign\":{\"why\":\"$.error.message\"},\"target\":\"failed\"}]},"
    "{\"name\":\"reserve\",\"on_enter\":[{\"activity\":\"reserve_stock\","
    "\"id\":\"reserve\",\"input\":{\"order\":\"$.vars.order.id\","
    "\"payment\":\"$.vars.payment.id\"}}],"
    "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"reserve\","
    "\"target\":\"ship\"}]},"
    "{\"name\":\"ship\",\"on_enter\":[{\"activity\":\"ship_order\","
    "\"id\":\"ship\",\"input\":\"$.vars.order\"}],"
    "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"ship\","
    "\"assign\":{\"tracking\":\"$.result.tracking\"},\"target\":\"done\"}]},"
    "{\"name\":\"done\",\"on_enter\":[{\"complete\":{\"payment\":"
    "\"$.vars.payment\",\"tracking\":\"$.vars.tracking\"}}]},"
    "{\"name\":\"failed\",\"on_enter\":[{\"fail\":{\"error_type\":"
    "\"PaymentFailed\",\"error_message\":\"$.vars.why\"}}]}]}";

#define INPUT "{\"order\":{\"id\":42,\"amount\":10}}"

/* ---- definitions -------------------------------------------------------- */

static void test_def_parses(void **state) {
    (void)state;
    char err[256];
    cairn_def_t *def = cairn_def_from_json(ORDER, strlen(ORDER), err,
                                           sizeof(err));
    assert_non_null(def);
    assert_string_equal(cairn_def_type(def), "order");
    assert_int_equal(cairn_def_version(def), 1);
    char *canon = cairn_def_to_json(def);
    assert_non_null(canon);
    /* The canonical form parses to an equal definition. */
    cairn_def_t *again = cairn_def_from_json(canon, strlen(canon), err,
                                             sizeof(err));
    assert_non_null(again);
    char *canon2 = cairn_def_to_json(again);
    assert_string_equal(canon, canon2);
    free(canon);
    free(canon2);
    cairn_def_destroy(again);
    cairn_def_destroy(def);
    cairn_def_destroy(NULL);
}

/* A minimal valid skeleton to vary: "a" runs x then goes to "end". */
#define HEAD "{\"type\":\"t\",\"version\":1,\"initial\":\"a\",\"states\":["
#define A_OK                                                                   \
    "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{\"event\":"  \
    "\"activity_completed\",\"target\":\"end\"}]}"
#define END "{\"name\":\"end\",\"on_enter\":[{\"complete\":null}]}"

static void test_def_errors(void **state) {
    (void)state;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{", "invalid JSON"},
        {"[]", "must be a JSON object"},
        {"{\"version\":1,\"initial\":\"a\",\"states\":[" END "]}",
         "'type' is required"},
        {"{\"type\":\"t\",\"initial\":\"end\",\"states\":[" END "]}",
         "'version' is required"},
        {"{\"type\":\"t\",\"version\":1,\"initial\":\"end\",\"states\":[" END
         "],\"bogus\":1}",
         "unknown key 'bogus'"},
        {"{\"type\":\"a b\",\"version\":1,\"initial\":\"end\",\"states\":[" END
         "]}",
         "[A-Za-z0-9_.-]"},
        {HEAD "]}", "'states' must be an array"},
        {HEAD A_OK "," END "," END "]}", "duplicate state 'end'"},
        {"{\"type\":\"t\",\"version\":1,\"initial\":\"zz\",\"states\":[" END
         "]}",
         "initial state 'zz' is not a state"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_completed\",\"target\":\"dne\"}]}," END "]}",
         "state 'a': on[0]: transition target 'dne' is not a state"},
        {HEAD A_OK "," END ",{\"name\":\"orphan\",\"on_enter\":[{\"complete\":"
                          "1}]}]}",
         "state 'orphan' is unreachable"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
              "\"event\":\"activity_completed\",\"target\":\"a\"}]}]}",
         "no terminal state"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_completed\",\"when\":\"$.result.ok ==\","
         "\"target\":\"end\"}]}," END "]}",
         "state 'a': on[0]: bad guard"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_completed\",\"when\":\"$.payload.ok\","
         "\"target\":\"end\"}]}," END "]}",
         "$.payload is not available here"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"},{\"activity\":"
         "\"x\"}],\"on\":[{\"event\":\"activity_completed\",\"target\":"
         "\"end\"}]}," END "]}",
         "activity id 'x' is already used in state 'a'"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_done\",\"target\":\"end\"}]}," END "]}",
         "state 'a': on[0]: unknown event 'activity_done'"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_completed\",\"activity\":\"y\",\"target\":"
         "\"end\"}]}," END "]}",
         "transition on activity 'y', which this state does not start"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}]}," END "]}",
         "state 'a': state is not terminal and has no transitions"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"complete\":1},{\"assign\":{"
              "\"v\":1}}]}]}",
         "must be the last command"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"complete\":1}],\"on\":[{"
              "\"event\":\"always\",\"target\":\"a\"}]}]}",
         "a terminal state has no transitions"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"frobnicate\":1}]}]}",
         "on_enter[0]: a command needs exactly one of"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"fail\":{\"error_type\":\"E\","
              "\"error_message\":\"$.error.message\"}}]}]}",
         "$.error is not available here"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"complete\":\"$.vars[x]\"}]}]}",
         "expected [digits]"},
        {HEAD "{\"name\":\"a\",\"on_enter\":[{\"complete\":\"$.nope\"}]}]}",
         "unknown root 'nope'"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\",\"retry\":{"
         "\"backoff_coefficient\":0.5}}],\"on\":[{\"event\":"
         "\"activity_completed\",\"target\":\"end\"}]}," END "]}",
         "'backoff_coefficient' must be a number in [1, 100]"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"wait_signal\":\"go\"}],\"on\":[{"
         "\"event\":\"timer_fired\",\"target\":\"end\"}]}," END "]}",
         "transition on 'timer_fired', but this state starts no timer"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"wait_signal\":\"go\"}],\"on\":[{"
         "\"event\":\"signal_received\",\"signal\":\"stop\",\"target\":"
         "\"end\"}]}," END "]}",
         "waits for signal 'go' but has no signal_received transition"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"wait_signal\":\"go\"}],\"on\":[{"
         "\"event\":\"signal_received\",\"signal\":\"go\",\"target\":\"end\"},"
         "{\"event\":\"signal_timeout\",\"signal\":\"go\",\"target\":\"end\"}"
         "]}," END "]}",
         "needs a wait_signal command with timeout_ms"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_completed\",\"timer\":\"t\",\"target\":"
         "\"end\"}]}," END "]}",
         "key 'timer' does not apply to event 'activity_completed'"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\",\"id\":\"a:b\"}],"
         "\"on\":[{\"event\":\"activity_completed\",\"target\":\"end\"}]}," END
         "]}",
         "'id' value 'a:b'"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{"
         "\"event\":\"activity_completed\",\"assign\":{\"a..b\":1},"
         "\"target\":\"end\"}]}," END "]}",
         "'a..b' is not a variable name"},
        {HEAD
         "{\"name\":\"a\",\"on_enter\":[{\"compensate\":true}],\"on\":[{"
         "\"event\":\"always\",\"target\":\"end\"}]}," END "]}",
         "needs a compensation_completed transition"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        def_refused(cases[i].json, cases[i].want);
}

static void test_registry(void **state) {
    (void)state;
    char err[256];
    const char *v1 = HEAD A_OK "," END "]}";
    const char *v1_reordered =
        "{\"version\":1,\"type\":\"t\",\"initial\":\"a\",\"states\":[" A_OK
        "," END "]}";
    const char *v1_changed =
        HEAD A_OK "," END "],\"task_queue\":\"other\"}";
    const char *v2 = "{\"type\":\"t\",\"version\":2,\"initial\":\"end\","
                     "\"states\":[" END "]}";
    const char *other = "{\"type\":\"a\",\"version\":7,\"initial\":\"end\","
                        "\"states\":[" END "]}";
    cairn_registry_t *reg = reg_with(v2);
    reg_add(reg, v1);
    reg_add(reg, other);
    /* Equal canonical JSON (keys reordered): a no-op. */
    reg_add(reg, v1_reordered);
    cairn_def_t *def = cairn_def_from_json(v1_changed, strlen(v1_changed),
                                           err, sizeof(err));
    assert_non_null(def);
    assert_int_equal(cairn_registry_put(reg, def, err, sizeof(err)),
                     CAIRN_ERR_DEFINITION);
    assert_non_null(strstr(err, "t@1 is already registered"));
    cairn_def_destroy(def);
    assert_int_equal(cairn_registry_count(reg), 3);
    assert_string_equal(cairn_def_type(cairn_registry_at(reg, 0)), "a");
    assert_int_equal(cairn_def_version(cairn_registry_at(reg, 1)), 1);
    assert_int_equal(cairn_def_version(cairn_registry_at(reg, 2)), 2);
    assert_null(cairn_registry_at(reg, 3));
    assert_int_equal(cairn_def_version(cairn_registry_get(reg, "t", 0)), 2);
    assert_int_equal(cairn_def_version(cairn_registry_get(reg, "t", 1)), 1);
    assert_null(cairn_registry_get(reg, "t", 3));
    assert_null(cairn_registry_get(reg, "zz", 0));
    assert_int_equal(cairn_def_version(cairn_registry_get(reg, "a", 0)), 7);
    cairn_registry_destroy(reg);
    cairn_registry_destroy(NULL);
}

/* ---- the sequential workflow ---------------------------------------------- */

static void test_sequential(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(ORDER);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);

    in = ev_start("o1", "r1", "order", INPUT, 1000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history WorkflowStarted seq=1 workflow_id=o1 request_id=r1 "
                "workflow_type=order version=1 input=" INPUT "\n"
                "history ActivityScheduled seq=2 workflow_id=o1 "
                "activity_id=charge activity_name=charge_card "
                "task_queue=payments attempt=1 input={\"amount\":10,\"id\":42}\n"
                "task ActivityTask workflow_id=o1 activity_id=charge "
                "activity_name=charge_card task_queue=payments attempt=1 "
                "idempotency_key=o1:charge input={\"amount\":10,\"id\":42}\n");
    assert_true(out.state_changed);
    assert_non_null(wf);
    assert_string_equal(cairn_wf_id(wf), "o1");
    assert_string_equal(cairn_wf_type(wf), "order");
    assert_int_equal(cairn_wf_version(wf), 1);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_RUNNING);
    assert_string_equal(cairn_wf_fsm_state(wf), "charge");
    assert_int_equal(cairn_wf_seq(wf), 2);
    assert_int_equal(cairn_wf_started_ms(wf), 1000);
    assert_int_equal(cairn_wf_updated_ms(wf), 1000);
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    assert_int_equal(cairn_wf_activity_count(wf), 1);
    assert_null(cairn_wf_parent_id(wf));
    assert_int_equal(cairn_wf_run(wf), 1);

    in = ev_done("o1", "charge", 1, "{\"id\":\"p-9\"}", 2000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=3 workflow_id=o1 "
                "activity_id=charge attempt=1 result={\"id\":\"p-9\"}\n"
                "history ActivityScheduled seq=4 workflow_id=o1 "
                "activity_id=reserve activity_name=reserve_stock "
                "task_queue=default attempt=1 "
                "input={\"order\":42,\"payment\":\"p-9\"}\n"
                "task ActivityTask workflow_id=o1 activity_id=reserve "
                "activity_name=reserve_stock task_queue=default attempt=1 "
                "idempotency_key=o1:reserve "
                "input={\"order\":42,\"payment\":\"p-9\"}\n");
    assert_string_equal(cairn_wf_fsm_state(wf), "reserve");
    assert_int_equal(cairn_wf_updated_ms(wf), 2000);

    in = ev_done("o1", "reserve", 1, NULL, 3000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=5 workflow_id=o1 "
                "activity_id=reserve attempt=1\n"
                "history ActivityScheduled seq=6 workflow_id=o1 "
                "activity_id=ship activity_name=ship_order "
                "task_queue=default attempt=1 "
                "input={\"amount\":10,\"id\":42}\n"
                "task ActivityTask workflow_id=o1 activity_id=ship "
                "activity_name=ship_order task_queue=default attempt=1 "
                "idempotency_key=o1:ship input={\"amount\":10,\"id\":42}\n");

    in = ev_done("o1", "ship", 1, "{\"tracking\":\"T1\"}", 4000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityCompleted seq=7 workflow_id=o1 "
                "activity_id=ship attempt=1 result={\"tracking\":\"T1\"}\n"
                "history WorkflowCompleted seq=8 workflow_id=o1 "
                "result={\"payment\":{\"id\":\"p-9\"},\"tracking\":\"T1\"}\n");
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
    assert_string_equal(cairn_wf_fsm_state(wf), "done");
    assert_int_equal(cairn_wf_activity_count(wf), 0);
    char *vars = cairn_wf_vars_json(wf);
    assert_string_equal(vars, "{\"order\":{\"amount\":10,\"id\":42},"
                              "\"payment\":{\"id\":\"p-9\"},"
                              "\"tracking\":\"T1\"}");
    free(vars);

    /* A late duplicate after completion: silently stale. */
    in = ev_done("o1", "ship", 1, "{}", 5000);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    assert_false(out.state_changed);

    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_duplicates_ignored(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(ORDER);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("o1", "r1", "order", INPUT, 1000);
    step_ok(reg, &wf, &in, &out);
    char *before = encode(wf);

    /* Same start request again: no-op. */
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    assert_false(out.state_changed);
    /* A result for the wrong attempt, or an unknown activity: ignored. */
    in = ev_done("o1", "charge", 2, "{}", 1100);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    in = ev_done("o1", "nope", 1, "{}", 1100);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    in = ev_fired("o1", "retry:charge", 1, 0, 1100);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    char *after = encode(wf);
    assert_string_equal(before, after);
    free(after);

    /* The real result, then the same result again. */
    in = ev_done("o1", "charge", 1, "{\"id\":1}", 1200);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 3);
    in = ev_done("o1", "charge", 1, "{\"id\":1}", 1300);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    assert_false(out.state_changed);
    assert_string_equal(cairn_wf_fsm_state(wf), "reserve");

    free(before);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

static void test_failure_transition(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(ORDER);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("o1", "r1", "order", INPUT, 1000);
    step_ok(reg, &wf, &in, &out);
    in = ev_failed("o1", "charge", 1, "CardDeclined", "no funds", 1500);
    in.non_retryable = 1;
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history ActivityFailed seq=3 workflow_id=o1 "
                "activity_id=charge attempt=1 error_type=CardDeclined "
                "error_message=no funds non_retryable=1\n"
                "history WorkflowFailed seq=4 workflow_id=o1 "
                "error_type=PaymentFailed error_message=no funds\n");
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_FAILED);
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- start policies ---------------------------------------------------------- */

static void test_start_policies(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(ORDER);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_outputs_init(&out);
    in = ev_start("o1", "r1", "order", INPUT, 1000);
    step_ok(reg, &wf, &in, &out);

    /* A new request id, default policy (reject_duplicate): into history. */
    in = ev_start("o1", "r2", "order", INPUT, 1100);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "history Rejected seq=3 workflow_id=o1 request_id=r2 "
                      "rejected_type=StartWorkflow reason=workflow 'o1' "
                      "already exists (running, run 1)\n");
    assert_true(out.state_changed);
    /* ... and the same rejected request again is still rejected (it was
     * not applied), at the next seq. */
    in.start_policy = S("reject_duplicate");
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].ev.seq, 4);

    /* use_existing: no-op. */
    in = ev_start("o1", "r3", "order", INPUT, 1200);
    in.start_policy = S("use_existing");
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    assert_false(out.state_changed);

    /* An unknown policy. */
    in.start_policy = S("whatever");
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 1);
    assert_non_null(strstr(out.v[0].ev.reason, "unknown start_policy"));

    /* terminate_existing: the old run ends, a new run starts. */
    in = ev_start("o1", "r4", "order", "{\"order\":{\"id\":7}}", 1300);
    in.start_policy = S("terminate_existing");
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out,
                "history WorkflowTerminated seq=6 workflow_id=o1 "
                "reason=terminated by start request 'r4' "
                "(terminate_existing)\n"
                "history WorkflowStarted seq=7 workflow_id=o1 request_id=r4 "
                "workflow_type=order version=1 input={\"order\":{\"id\":7}}\n"
                "history ActivityScheduled seq=8 workflow_id=o1 "
                "activity_id=charge#2 activity_name=charge_card "
                "task_queue=payments attempt=1 input={\"id\":7}\n"
                "task ActivityTask workflow_id=o1 activity_id=charge#2 "
                "activity_name=charge_card task_queue=payments attempt=1 "
                "idempotency_key=o1:charge#2 input={\"id\":7}\n");
    assert_int_equal(cairn_wf_run(wf), 2);
    assert_int_equal(cairn_wf_started_ms(wf), 1300);
    /* The old run's activity result is stale now. */
    in = ev_done("o1", "charge", 1, "{}", 1400);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);
    /* The first run's request id is still remembered: no-op. */
    in = ev_start("o1", "r1", "order", INPUT, 1500);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 0);

    /* Closed workflow: reject_duplicate goes to the DLQ, not history. */
    in = ev_req(CAIRN_EV_TERMINATE_WORKFLOW, "o1", "k1", "stop", 1600);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "history WorkflowTerminated seq=9 workflow_id=o1 "
                      "reason=stop\n");
    in = ev_start("o1", "r5", "order", INPUT, 1700);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].dest, CAIRN_OUT_DLQ);
    assert_int_equal(out.v[0].ev.seq, 0);
    assert_false(out.state_changed);
    /* terminate_existing on a closed workflow: just a new run. */
    in.start_policy = S("terminate_existing");
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.v[0].ev.type, CAIRN_EV_WORKFLOW_STARTED);
    assert_int_equal(out.v[0].ev.seq, 10);
    assert_int_equal(cairn_wf_run(wf), 3);

    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- rejections --------------------------------------------------------------- */

static void test_rejections(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(ORDER);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_limits_t lim = {0};
    cairn_outputs_init(&out);

    in = ev_start("o1", "r1", "nope", INPUT, 1000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "dlq Rejected workflow_id=o1 request_id=r1 "
                      "rejected_type=StartWorkflow reason=unknown workflow "
                      "type 'nope'\n");
    assert_null(wf);
    in.workflow_type = S("order");
    in.version = 9;
    step_ok(reg, &wf, &in, &out);
    assert_non_null(strstr(out.v[0].ev.reason, "version 9"));
    in.version = 0;
    in.input = S("{not json");
    step_ok(reg, &wf, &in, &out);
    assert_non_null(strstr(out.v[0].ev.reason, "input is not valid JSON"));
    in.input = S(INPUT);
    in.request_id = NULL;
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(out.v[0].ev.reason, "missing request_id");
    in.request_id = S("r1");
    in.workflow_id = NULL;
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "dlq Rejected workflow_id= request_id=r1 "
                      "rejected_type=StartWorkflow "
                      "reason=missing workflow_id\n");
    assert_string_equal(out.v[0].ev.workflow_id, "");
    in.workflow_id = S("o1");
    lim.max_payload_bytes = 10;
    step_lim(reg, &lim, &wf, &in, &out);
    assert_non_null(strstr(out.v[0].ev.reason, "exceeds max_payload_bytes"));
    assert_null(wf);

    /* Events for a workflow that does not exist. */
    in = ev_done("zz", "a", 1, "{}", 1000);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "dlq Rejected workflow_id=zz "
                      "rejected_type=ActivityCompleted reason=workflow 'zz' "
                      "does not exist\n");
    in = ev_signal("zz", "s1", "go", NULL, 1000);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.v[0].dest, CAIRN_OUT_DLQ);
    /* A history-only type is not an input. */
    in = ev_req(CAIRN_EV_WORKFLOW_COMPLETED, "zz", NULL, NULL, 1000);
    step_ok(reg, &wf, &in, &out);
    assert_non_null(strstr(out.v[0].ev.reason, "is not an input event"));

    /* A running workflow: bad requests are rejected into its history. */
    in = ev_start("o1", "r1", "order", INPUT, 1000);
    step_ok(reg, &wf, &in, &out);
    in = ev_signal("o1", "s1", "go", "{bad", 1100);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "history Rejected seq=3 workflow_id=o1 request_id=s1 "
                      "rejected_type=SignalWorkflow reason=payload is not "
                      "valid JSON: string or '}' expected near 'bad'\n");
    in = ev_signal("o1", "s2", "cairn.cancel", NULL, 1100);
    step_ok(reg, &wf, &in, &out);
    assert_non_null(strstr(out.v[0].ev.reason, "reserved"));
    in = ev_signal("o1", "s3", "go", "\"0123456789\"", 1100);
    step_lim(reg, &lim, &wf, &in, &out);
    assert_non_null(strstr(out.v[0].ev.reason, "exceeds max_payload_bytes"));
    assert_int_equal(out.v[0].dest, CAIRN_OUT_HISTORY);
    in = ev_signal("o1", NULL, "go", NULL, 1100);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(out.v[0].ev.reason, "missing request_id");

    /* An oversized / malformed activity result fails the activity. */
    in = ev_done("o1", "charge", 1, "{\"id\":\"0123456789\"}", 1200);
    step_lim(reg, &lim, &wf, &in, &out);
    expect_outs(&out,
                "history Rejected seq=7 workflow_id=o1 "
                "rejected_type=ActivityCompleted reason=result of 19 bytes "
                "exceeds max_payload_bytes (10)\n"
                "history ActivityFailed seq=8 workflow_id=o1 "
                "activity_id=charge attempt=1 error_type=InvalidResult "
                "error_message=result of 19 bytes exceeds max_payload_bytes "
                "(10) non_retryable=1\n"
                "history WorkflowFailed seq=9 workflow_id=o1 "
                "error_type=PaymentFailed error_message=result of 19 bytes "
                "exceeds max_payload_bytes (10)\n");

    /* Requests for a closed workflow go to the DLQ. */
    in = ev_signal("o1", "s9", "go", NULL, 1300);
    step_ok(reg, &wf, &in, &out);
    expect_outs(&out, "dlq Rejected workflow_id=o1 request_id=s9 "
                      "rejected_type=SignalWorkflow reason=workflow is "
                      "closed (failed)\n");
    assert_false(out.state_changed);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "o1", "c1", NULL, 1300);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.v[0].dest, CAIRN_OUT_DLQ);
    in = ev_req(CAIRN_EV_TERMINATE_WORKFLOW, "o1", "c2", NULL, 1300);
    step_ok(reg, &wf, &in, &out);
    assert_int_equal(out.v[0].dest, CAIRN_OUT_DLQ);

    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* ---- state encoding ------------------------------------------------------------ */

static void test_decode_errors(void **state) {
    (void)state;
    char err[256];
    static const char *bad[] = {"", "{", "[]", "{}",
                                "{\"format\":2}", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(cairn_wf_decode(bad[i], strlen(bad[i]), err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
    assert_null(cairn_wf_decode(NULL, 0, err, sizeof(err)));
    /* A valid state with one member of the wrong type. */
    cairn_registry_t *reg = reg_with(ORDER);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_event_t in = ev_start("o1", "r1", "order", INPUT, 1000);
    cairn_outputs_init(&out);
    step_ok(reg, &wf, &in, &out);
    char *s = encode(wf);
    char *p = strstr(s, "\"seq\":2");
    assert_non_null(p);
    char bad_seq[4096];
    snprintf(bad_seq, sizeof(bad_seq), "%.*s\"seq\":\"2\"%s", (int)(p - s), s,
             p + 7);
    assert_null(cairn_wf_decode(bad_seq, strlen(bad_seq), err, sizeof(err)));
    if (!strstr(err, "seq"))
        fail_msg("unexpected decode error: %s", err);
    free(s);
    cairn_wf_destroy(wf);
    cairn_wf_destroy(NULL);
    cairn_outputs_free(&out);
    cairn_registry_destroy(reg);
}

static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(cairn_wf_status_name(CAIRN_WF_RUNNING), "running");
    assert_string_equal(cairn_wf_status_name(CAIRN_WF_CONTINUED_AS_NEW),
                        "continued_as_new");
    assert_string_equal(cairn_wf_status_name(0), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_def_parses),
        cmocka_unit_test(test_def_errors),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_duplicates_ignored),
        cmocka_unit_test(test_failure_transition),
        cmocka_unit_test(test_start_policies),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests_name("engine_basic", tests, NULL, NULL);
}
