/*
 * test_builder.c — the C builder API (sdk/builder.c, cairn_builder.h): every
 * command, transition and option builds the same FSM as its JSON form
 * (byte-identical cairn_def_to_json()); validation errors are the engine's,
 * word for word the same as the JSON front end's; builder errors are sticky
 * and reported at build; NULL handles are no-ops; allocation failures are
 * reported, never crash or yield a wrong definition.
 */
#include <jansson.h>

#include "cairn_builder.h"
#include "test_engine_helpers.h"

/* Canonical JSON of a JSON definition (must be valid). Caller frees. */
static char *canon_json(const char *json) {
    char err[512] = "";
    cairn_def_t *def = cairn_def_from_json(json, strlen(json), err,
                                           sizeof(err));
    if (!def)
        fail_msg("JSON definition refused: %s", err);
    char *c = cairn_def_to_json(def);
    cairn_def_destroy(def);
    assert_non_null(c);
    return c;
}

/* Canonical JSON of a builder's definition (must be valid). Caller frees. */
static char *canon_built(const cairn_wfb_t *b) {
    char err[512] = "";
    cairn_def_t *def = cairn_wfb_build(b, err, sizeof(err));
    if (!def)
        fail_msg("built definition refused: %s", err);
    char *c = cairn_def_to_json(def);
    cairn_def_destroy(def);
    assert_non_null(c);
    return c;
}

/* Asserts the builder's and the JSON's canonical forms are equal. */
static void same_fsm(const cairn_wfb_t *b, const char *json) {
    char *a = canon_built(b), *j = canon_json(json);
    if (strcmp(a, j))
        fail_msg("builder and JSON differ\n--- builder:\n%s\n--- JSON:\n%s",
                 a, j);
    /* to_json is the same document too. */
    char err[256] = "", *text = cairn_wfb_to_json(b, err, sizeof(err));
    if (!text)
        fail_msg("to_json: %s", err);
    char *t = canon_json(text);
    assert_string_equal(t, j);
    free(t);
    free(text);
    free(a);
    free(j);
}

/* ---- every construct ------------------------------------------------------ */

static const char *ALL_JSON =
    "{\"type\":\"all\",\"version\":3,\"description\":\"every construct\","
    "\"task_queue\":\"q1\",\"initial\":\"start\",\"on_cancel\":\"undo\","
    "\"execution_timeout_ms\":60000,"
    "\"retry\":{\"initial_interval_ms\":100,\"backoff_coefficient\":1.5,"
    "\"maximum_interval_ms\":1000,\"maximum_attempts\":4,"
    "\"non_retryable_error_types\":[\"Fatal\",\"Bad\"]},"
    "\"states\":["
    "{\"name\":\"start\",\"description\":\"first\",\"on_enter\":["
    "{\"assign\":{\"a\":1,\"b.c\":\"$.input.x\"}},"
    "{\"activity\":\"work\",\"id\":\"w\",\"input\":{\"k\":\"$.vars.a\","
    "\"lit\":\"$$x\"},\"task_queue\":\"q2\",\"retry\":{\"maximum_attempts\":0},"
    "\"timeouts\":{\"start_to_close_ms\":500,\"schedule_to_close_ms\":5000},"
    "\"compensation\":{\"activity\":\"unwork\",\"input\":\"$.result\","
    "\"task_queue\":\"q3\",\"retry\":{\"maximum_attempts\":2},"
    "\"timeouts\":{\"start_to_close_ms\":700}}},"
    "{\"activity\":\"plain\"},"
    "{\"timer\":{\"id\":\"t\",\"after_ms\":1000}},"
    "{\"sleep_ms\":50},"
    "{\"sleep_ms\":60,\"id\":\"nap\"},"
    "{\"wait_signal\":\"go\"},"
    "{\"wait_signal\":{\"name\":\"stop\",\"timeout_ms\":9000}},"
    "{\"child\":{\"id\":\"kid\",\"workflow_type\":\"other\",\"version\":2,"
    "\"input\":{\"n\":\"$.vars.a\"},\"workflow_id\":\"$.vars.kid_id\","
    "\"parent_close_policy\":\"abandon\"}},"
    "{\"child\":{\"id\":\"kid2\",\"workflow_type\":\"other\","
    "\"parent_close_policy\":\"request_cancel\"}},"
    "{\"child\":{\"id\":\"kid3\",\"workflow_type\":\"other\","
    "\"parent_close_policy\":\"terminate\"}},"
    "{\"assign\":{\"z\":[1,2]}}],"
    "\"on\":["
    "{\"event\":\"activity_completed\",\"activity\":\"w\","
    "\"when\":\"$.result.ok == true\",\"assign\":{\"r\":\"$.result\","
    "\"n\":null},\"target\":\"next\"},"
    "{\"event\":\"activity_completed\",\"target\":\"next\"},"
    "{\"event\":\"activity_failed\",\"activity\":\"w\","
    "\"assign\":{\"e\":\"$.error\"},\"target\":\"undo\"},"
    "{\"event\":\"activity_failed\",\"target\":\"undo\"},"
    "{\"event\":\"timer_fired\",\"timer\":\"t\",\"target\":\"next\"},"
    "{\"event\":\"timer_fired\",\"target\":\"next\"},"
    "{\"event\":\"signal_received\",\"signal\":\"go\","
    "\"assign\":{\"p\":\"$.payload\",\"s\":\"$.signal\"},\"target\":\"next\"},"
    "{\"event\":\"signal_received\",\"signal\":\"stop\",\"target\":\"undo\"},"
    "{\"event\":\"signal_timeout\",\"signal\":\"stop\",\"target\":\"undo\"},"
    "{\"event\":\"child_completed\",\"child\":\"kid\",\"target\":\"next\"},"
    "{\"event\":\"child_failed\",\"target\":\"undo\"}]},"
    "{\"name\":\"next\",\"on\":["
    "{\"event\":\"always\",\"when\":\"$.vars.a > 5\",\"target\":\"again\"},"
    "{\"event\":\"always\",\"when\":\"$.vars.a > 4\",\"target\":\"fresh\"},"
    "{\"event\":\"always\",\"when\":\"$.vars.a > 3\",\"target\":\"quit\"},"
    "{\"event\":\"always\",\"when\":\"$.vars.a > 2\",\"target\":\"nothing\"},"
    "{\"event\":\"always\",\"when\":\"$.vars.a > 1\",\"target\":\"bare\"},"
    "{\"event\":\"always\",\"target\":\"end\"}]},"
    "{\"name\":\"again\",\"on_enter\":[{\"continue_as_new\":"
    "{\"input\":{\"a\":\"$.vars.a\"}}}]},"
    "{\"name\":\"fresh\",\"on_enter\":[{\"continue_as_new\":{}}]},"
    "{\"name\":\"quit\",\"on_enter\":[{\"cancel\":{}}]},"
    "{\"name\":\"nothing\",\"on_enter\":[{\"complete\":null}]},"
    "{\"name\":\"undo\",\"on_enter\":[{\"compensate\":true}],\"on\":["
    "{\"event\":\"compensation_completed\",\"target\":\"gone\"},"
    "{\"event\":\"compensation_failed\",\"assign\":{\"e\":\"$.error\"},"
    "\"target\":\"failed\"}]},"
    "{\"name\":\"gone\",\"on_enter\":[{\"cancel\":{\"reason\":\"$.vars.e\"}}]},"
    "{\"name\":\"end\",\"on_enter\":[{\"assign\":{\"done\":true}},"
    "{\"complete\":\"$.vars\"}]},"
    "{\"name\":\"failed\",\"on_enter\":[{\"fail\":{\"error_type\":\"Broken\","
    "\"error_message\":\"compensation failed\"}}]},"
    "{\"name\":\"bare\",\"on_enter\":[{\"fail\":{\"error_type\":\"Bare\"}}]}"
    "]}";

/* ALL_JSON in C, except the last state (added by the callers). */
static cairn_wfb_t *all_builder(void) {
    cairn_wfb_t *b = cairn_wfb_new("all", 3);
    cairn_wfb_state_t *s;
    cairn_wfb_act_t *a, *c;
    cairn_wfb_retry_t *r;
    cairn_wfb_child_t *k;
    cairn_wfb_trans_t *t;
    /* Top-level keys in another order than the JSON: order is irrelevant
     * in objects. */
    cairn_wfb_execution_timeout(b, 60000);
    cairn_wfb_on_cancel(b, "undo");
    cairn_wfb_description(b, "every construct");
    cairn_wfb_task_queue(b, "q1");
    cairn_wfb_initial(b, "start");
    r = cairn_wfb_retry(b);
    if (r != cairn_wfb_retry(b)) /* one handle per policy */
        fail_msg("two handles for the default retry policy");
    cairn_wfb_retry_initial_interval(r, 100);
    cairn_wfb_retry_backoff(r, 1.5);
    cairn_wfb_retry_maximum_interval(r, 1000);
    cairn_wfb_retry_maximum_attempts(r, 4);
    cairn_wfb_retry_non_retryable(r, "Fatal");
    cairn_wfb_retry_non_retryable(r, "Bad");

    s = cairn_wfb_state(b, "start");
    cairn_wfb_state_description(s, "first");
    cairn_wfb_assign(s, "a", "1");
    cairn_wfb_assign(s, "b.c", "$.input.x"); /* the same assign command */
    a = cairn_wfb_activity(s, "work", "w");
    cairn_wfb_act_input(a, "{\"k\": \"$.vars.a\", \"lit\": \"$$x\"}");
    cairn_wfb_act_task_queue(a, "q2");
    cairn_wfb_retry_maximum_attempts(cairn_wfb_act_retry(a), 0);
    cairn_wfb_act_start_to_close(a, 500);
    cairn_wfb_act_schedule_to_close(a, 5000);
    c = cairn_wfb_act_compensation(a, "unwork");
    cairn_wfb_act_input(c, "$.result");
    cairn_wfb_act_task_queue(c, "q3");
    cairn_wfb_retry_maximum_attempts(cairn_wfb_act_retry(c), 2);
    cairn_wfb_act_start_to_close(c, 700);
    cairn_wfb_activity(s, "plain", NULL);
    cairn_wfb_timer(s, "t", 1000);
    cairn_wfb_sleep(s, 50, NULL);
    cairn_wfb_sleep(s, 60, "nap");
    cairn_wfb_wait_signal(s, "go", 0);
    cairn_wfb_wait_signal(s, "stop", 9000);
    k = cairn_wfb_child(s, "kid", "other");
    cairn_wfb_child_version(k, 2);
    cairn_wfb_child_input(k, "{\"n\": \"$.vars.a\"}");
    cairn_wfb_child_workflow_id(k, "$.vars.kid_id");
    cairn_wfb_child_parent_close(k, CAIRN_WFB_PARENT_CLOSE_ABANDON);
    cairn_wfb_child_parent_close(cairn_wfb_child(s, "kid2", "other"),
                                 CAIRN_WFB_PARENT_CLOSE_REQUEST_CANCEL);
    cairn_wfb_child_parent_close(cairn_wfb_child(s, "kid3", "other"),
                                 CAIRN_WFB_PARENT_CLOSE_TERMINATE);
    cairn_wfb_assign(s, "z", "[1, 2]"); /* a new assign command */
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "w", "next");
    cairn_wfb_trans_when(t, "$.result.ok == true");
    cairn_wfb_trans_assign(t, "r", "$.result");
    cairn_wfb_trans_assign(t, "n", "null");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, NULL, "next");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED, "w", "undo");
    cairn_wfb_trans_assign(t, "e", "$.error");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED, NULL, "undo");
    cairn_wfb_on(s, CAIRN_WFB_TIMER_FIRED, "t", "next");
    cairn_wfb_on(s, CAIRN_WFB_TIMER_FIRED, NULL, "next");
    t = cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "go", "next");
    cairn_wfb_trans_assign(t, "p", "$.payload");
    cairn_wfb_trans_assign(t, "s", "$.signal");
    cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "stop", "undo");
    cairn_wfb_on(s, CAIRN_WFB_SIGNAL_TIMEOUT, "stop", "undo");
    cairn_wfb_on(s, CAIRN_WFB_CHILD_COMPLETED, "kid", "next");
    cairn_wfb_on(s, CAIRN_WFB_CHILD_FAILED, NULL, "undo");

    s = cairn_wfb_state(b, "next");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "again"),
                         "$.vars.a > 5");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "fresh"),
                         "$.vars.a > 4");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "quit"),
                         "$.vars.a > 3");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "nothing"),
                         "$.vars.a > 2");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "bare"),
                         "$.vars.a > 1");
    cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "end");
    cairn_wfb_continue_as_new(cairn_wfb_state(b, "again"),
                              "{\"a\": \"$.vars.a\"}");
    cairn_wfb_continue_as_new(cairn_wfb_state(b, "fresh"), NULL);
    cairn_wfb_cancel(cairn_wfb_state(b, "quit"), NULL);
    cairn_wfb_complete(cairn_wfb_state(b, "nothing"), NULL);
    s = cairn_wfb_state(b, "undo");
    cairn_wfb_compensate(s);
    cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_COMPLETED, NULL, "gone");
    t = cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_FAILED, NULL, "failed");
    cairn_wfb_trans_assign(t, "e", "$.error");
    cairn_wfb_cancel(cairn_wfb_state(b, "gone"), "$.vars.e");
    s = cairn_wfb_state(b, "end");
    cairn_wfb_assign(s, "done", "true");
    cairn_wfb_complete(s, "$.vars");
    cairn_wfb_fail(cairn_wfb_state(b, "failed"), "Broken",
                   "compensation failed");
    return b;
}

static void test_every_construct(void **state) {
    (void)state;
    cairn_wfb_t *b = all_builder();
    assert_non_null(b);
    cairn_wfb_fail(cairn_wfb_state(b, "bare"), "Bare", NULL);
    assert_null(cairn_wfb_error(b));
    same_fsm(b, ALL_JSON);
    cairn_wfb_destroy(b);
}

/* The built definition is a working FSM: it registers and runs. */
static void test_built_definition_runs(void **state) {
    (void)state;
    char err[256] = "";
    cairn_wfb_t *b = cairn_wfb_new("hello", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "greet");
    cairn_wfb_act_input(cairn_wfb_activity(s, "echo", "greet"), "$.vars");
    cairn_wfb_trans_assign(
        cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "greet", "done"),
        "greeting", "$.result");
    cairn_wfb_complete(cairn_wfb_state(b, "done"), "$.vars.greeting");
    cairn_def_t *def = cairn_wfb_build(b, err, sizeof(err));
    cairn_wfb_destroy(b); /* the definition does not depend on the builder */
    if (!def)
        fail_msg("%s", err);
    assert_string_equal(cairn_def_type(def), "hello");
    assert_int_equal(cairn_def_version(def), 1);
    cairn_registry_t *reg = cairn_registry_new();
    assert_int_equal(cairn_registry_put(reg, def, err, sizeof(err)),
                     CAIRN_ERR_OK);
    cairn_wf_t *wf = NULL;
    cairn_outputs_t out;
    cairn_outputs_init(&out);
    cairn_event_t in = ev_start("h1", "r1", "hello", "{\"n\":1}", 0);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_ACTIVITY_TASK)->input,
                        "{\"n\":1}");
    in = ev_done("h1", "greet", 1, "\"hi\"", 1);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "\"hi\"");
    cairn_outputs_free(&out);
    cairn_wf_destroy(wf);
    cairn_registry_destroy(reg);
}

/* The side-by-side example at the top of docs/WORKFLOWS.md, verbatim. */
static void test_docs_example(void **state) {
    (void)state;
    cairn_wfb_t *b = cairn_wfb_new("order", 1);
    cairn_wfb_task_queue(b, "default");
    cairn_wfb_initial(b, "charge");

    cairn_wfb_state_t *s = cairn_wfb_state(b, "charge");
    cairn_wfb_act_t *a =
        cairn_wfb_activity(s, "charge_card", "charge");
    cairn_wfb_act_input(a, "$.vars.order");
    cairn_wfb_act_task_queue(a, "payments");
    cairn_wfb_retry_t *r = cairn_wfb_act_retry(a);
    cairn_wfb_retry_initial_interval(r, 1000);
    cairn_wfb_retry_maximum_attempts(r, 5);
    cairn_wfb_trans_t *t = cairn_wfb_on(
        s, CAIRN_WFB_ACTIVITY_COMPLETED, "charge", "done");
    cairn_wfb_trans_assign(t, "payment", "$.result");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED,
                 "charge", "failed");

    cairn_wfb_complete(cairn_wfb_state(b, "done"),
                       "$.vars");
    cairn_wfb_fail(cairn_wfb_state(b, "failed"),
                   "PaymentFailed", NULL);

    same_fsm(b,
             "{\"type\": \"order\", \"version\": 1,"
             " \"task_queue\": \"default\", \"initial\": \"charge\","
             " \"states\": ["
             " {\"name\": \"charge\","
             "  \"on_enter\": [{\"activity\": \"charge_card\", \"id\": \"charge\","
             "   \"input\": \"$.vars.order\", \"task_queue\": \"payments\","
             "   \"retry\": {\"initial_interval_ms\": 1000, \"maximum_attempts\": 5}}],"
             "  \"on\": [{\"event\": \"activity_completed\", \"activity\": \"charge\","
             "   \"assign\": {\"payment\": \"$.result\"}, \"target\": \"done\"},"
             "   {\"event\": \"activity_failed\", \"activity\": \"charge\","
             "    \"target\": \"failed\"}]},"
             " {\"name\": \"done\", \"on_enter\": [{\"complete\": \"$.vars\"}]},"
             " {\"name\": \"failed\", \"on_enter\": [{\"fail\": {"
             "  \"error_type\": \"PaymentFailed\"}}]}]}");
    cairn_wfb_destroy(b);
}

/* ---- values --------------------------------------------------------------- */

static void test_values(void **state) {
    (void)state;
    /* A bare path, a quoted path and JSON literals of every kind. */
    cairn_wfb_t *b = cairn_wfb_new("v", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_assign(s, "p1", "$.vars.x");
    cairn_wfb_assign(s, "p2", "\"$.vars.x\"");
    cairn_wfb_assign(s, "lit", "\"$$5\"");
    cairn_wfb_assign(s, "n", "-2.5e3");
    cairn_wfb_assign(s, "o", " {\"deep\": [true, false, null, \"s\"]} ");
    cairn_wfb_complete(s, "\"text\"");
    same_fsm(b, "{\"type\":\"v\",\"version\":1,\"initial\":\"a\",\"states\":"
                "[{\"name\":\"a\",\"on_enter\":[{\"assign\":{"
                "\"p1\":\"$.vars.x\",\"p2\":\"$.vars.x\",\"lit\":\"$$5\","
                "\"n\":-2.5e3,\"o\":{\"deep\":[true,false,null,\"s\"]}}},"
                "{\"complete\":\"text\"}]}]}");
    cairn_wfb_destroy(b);
}

/* Builds, extends, builds again: the builder is not consumed. */
static void test_build_again(void **state) {
    (void)state;
    char err[512] = "";
    cairn_wfb_t *b = cairn_wfb_new("g", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "z");
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_string_equal(err, "state 'a': on[0]: transition target 'z' is not "
                             "a state");
    assert_null(cairn_wfb_error(b)); /* validation errors are not sticky */
    cairn_wfb_complete(cairn_wfb_state(b, "z"), NULL);
    same_fsm(b, "{\"type\":\"g\",\"version\":1,\"initial\":\"a\",\"states\":"
                "[{\"name\":\"a\",\"on\":[{\"event\":\"always\",\"target\":"
                "\"z\"}]},{\"name\":\"z\",\"on_enter\":[{\"complete\":null}]}"
                "]}");
    cairn_wfb_destroy(b);
}

/* ---- validation errors: the engine's, the same in both front ends -------- */

typedef cairn_wfb_t *(*mistake_fn)(void);

static cairn_wfb_t *bad_target(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_activity(s, "x", NULL);
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "x", "end");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED, "x", "dne");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *unreachable(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_complete(cairn_wfb_state(b, "a"), NULL);
    cairn_wfb_complete(cairn_wfb_state(b, "island"), NULL);
    return b;
}

static cairn_wfb_t *no_transitions(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_sleep(cairn_wfb_state(b, "a"), 5, NULL);
    return b;
}

static cairn_wfb_t *bad_guard(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "end"),
                         "$.vars.x >");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *guard_root(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_trans_when(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "end"),
                         "$.payload.ok");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *dup_state(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_complete(cairn_wfb_state(b, "a"), NULL);
    cairn_wfb_complete(cairn_wfb_state(b, "a"), NULL);
    return b;
}

static cairn_wfb_t *dup_id(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_activity(s, "x", "same");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, NULL, "b");
    s = cairn_wfb_state(b, "b");
    cairn_wfb_timer(s, "same", 10);
    cairn_wfb_on(s, CAIRN_WFB_TIMER_FIRED, NULL, "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *timeout_without_wait(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_wait_signal(s, "go", 0);
    cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "go", "end");
    cairn_wfb_on(s, CAIRN_WFB_SIGNAL_TIMEOUT, "go", "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *wait_without_transition(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_wait_signal(s, "go", 100);
    cairn_wfb_on(s, CAIRN_WFB_SIGNAL_TIMEOUT, "go", "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *bad_version(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 0);
    cairn_wfb_complete(cairn_wfb_state(b, "a"), NULL);
    return b;
}

static cairn_wfb_t *bad_type(void) {
    cairn_wfb_t *b = cairn_wfb_new("has space", 1);
    cairn_wfb_complete(cairn_wfb_state(b, "a"), NULL);
    return b;
}

static cairn_wfb_t *compensate_without_done(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_compensate(s);
    cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_FAILED, NULL, "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *terminal_not_last(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_complete(s, NULL);
    cairn_wfb_sleep(s, 5, NULL);
    return b;
}

static cairn_wfb_t *bad_path(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_act_input(cairn_wfb_activity(s, "x", NULL), "$.result.id");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "x", "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *ref_not_started(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_activity(s, "x", NULL);
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "y", "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static cairn_wfb_t *bad_retry(void) {
    cairn_wfb_t *b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_retry_backoff(
        cairn_wfb_act_retry(cairn_wfb_activity(s, "x", NULL)), 0.5);
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "x", "end");
    cairn_wfb_complete(cairn_wfb_state(b, "end"), NULL);
    return b;
}

static const struct {
    mistake_fn build;
    const char *json; /* the same mistake in JSON */
    const char *want; /* the exact engine message */
} MISTAKES[] = {
    {bad_target,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{\"event\":"
     "\"activity_completed\",\"activity\":\"x\",\"target\":\"end\"},"
     "{\"event\":\"activity_failed\",\"activity\":\"x\",\"target\":\"dne\"}]},"
     "{\"name\":\"end\",\"on_enter\":[{\"complete\":null}]}]}",
     "state 'a': on[1]: transition target 'dne' is not a state"},
    {unreachable,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"complete\":null}]},{\"name\":\"island\","
     "\"on_enter\":[{\"complete\":null}]}]}",
     "state 'island' is unreachable from the initial state 'a'"},
    {bad_guard,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on\":[{\"event\":\"always\",\"when\":\"$.vars.x >\",\"target\":"
     "\"end\"}]},{\"name\":\"end\",\"on_enter\":[{\"complete\":null}]}]}",
     NULL},
    {guard_root,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on\":[{\"event\":\"always\",\"when\":\"$.payload.ok\","
     "\"target\":\"end\"}]},{\"name\":\"end\",\"on_enter\":[{\"complete\":"
     "null}]}]}",
     NULL},
    {dup_state,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"complete\":null}]},{\"name\":\"a\",\"on_enter\":"
     "[{\"complete\":null}]}]}",
     "duplicate state 'a'"},
    {dup_id,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"activity\":\"x\",\"id\":\"same\"}],\"on\":[{"
     "\"event\":\"activity_completed\",\"target\":\"b\"}]},{\"name\":\"b\","
     "\"on_enter\":[{\"timer\":{\"id\":\"same\",\"after_ms\":10}}],\"on\":[{"
     "\"event\":\"timer_fired\",\"target\":\"end\"}]},{\"name\":\"end\","
     "\"on_enter\":[{\"complete\":null}]}]}",
     "state 'b': on_enter[0]: timer id 'same' is already used in state 'a'"},
    {timeout_without_wait,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"wait_signal\":\"go\"}],\"on\":[{\"event\":"
     "\"signal_received\",\"signal\":\"go\",\"target\":\"end\"},{\"event\":"
     "\"signal_timeout\",\"signal\":\"go\",\"target\":\"end\"}]},{\"name\":"
     "\"end\",\"on_enter\":[{\"complete\":null}]}]}",
     "state 'a': on[1]: signal_timeout for 'go' needs a wait_signal command "
     "with timeout_ms in this state"},
    {wait_without_transition,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"wait_signal\":{\"name\":\"go\",\"timeout_ms\":"
     "100}}],\"on\":[{\"event\":\"signal_timeout\",\"signal\":\"go\","
     "\"target\":\"end\"}]},{\"name\":\"end\",\"on_enter\":[{\"complete\":"
     "null}]}]}",
     "state 'a': waits for signal 'go' but has no signal_received transition "
     "for it"},
    {bad_version,
     "{\"type\":\"m\",\"version\":0,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"complete\":null}]}]}",
     "definition: 'version' is required (an integer >= 1)"},
    {bad_type,
     "{\"type\":\"has space\",\"version\":1,\"initial\":\"a\",\"states\":[{"
     "\"name\":\"a\",\"on_enter\":[{\"complete\":null}]}]}",
     NULL},
    {compensate_without_done,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"compensate\":true}],\"on\":[{\"event\":"
     "\"compensation_failed\",\"target\":\"end\"}]},{\"name\":\"end\","
     "\"on_enter\":[{\"complete\":null}]}]}",
     "state 'a': a state that compensates needs a compensation_completed "
     "transition"},
    {terminal_not_last,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"complete\":null},{\"sleep_ms\":5}]}]}",
     "state 'a': on_enter[0]: a terminal command (complete, fail, cancel, "
     "continue_as_new) must be the last command"},
    {bad_path,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"activity\":\"x\",\"input\":\"$.result.id\"}],"
     "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"x\","
     "\"target\":\"end\"}]},{\"name\":\"end\",\"on_enter\":[{\"complete\":"
     "null}]}]}",
     NULL},
    {ref_not_started,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"activity\":\"x\"}],\"on\":[{\"event\":"
     "\"activity_completed\",\"activity\":\"y\",\"target\":\"end\"}]},"
     "{\"name\":\"end\",\"on_enter\":[{\"complete\":null}]}]}",
     "state 'a': on[0]: transition on activity 'y', which this state does "
     "not start"},
    {bad_retry,
     "{\"type\":\"m\",\"version\":1,\"initial\":\"a\",\"states\":[{\"name\":"
     "\"a\",\"on_enter\":[{\"activity\":\"x\",\"retry\":{"
     "\"backoff_coefficient\":0.5}}],\"on\":[{\"event\":"
     "\"activity_completed\",\"activity\":\"x\",\"target\":\"end\"}]},"
     "{\"name\":\"end\",\"on_enter\":[{\"complete\":null}]}]}",
     "state 'a': on_enter[0]: activity 'x' retry: 'backoff_coefficient' "
     "must be a number in [1, 100]"},
};

static void test_validation_is_the_engines(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(MISTAKES) / sizeof(MISTAKES[0]); i++) {
        char e1[512] = "", e2[512] = "";
        cairn_wfb_t *b = MISTAKES[i].build();
        cairn_def_t *d1 = cairn_wfb_build(b, e1, sizeof(e1));
        cairn_def_t *d2 = cairn_def_from_json(
            MISTAKES[i].json, strlen(MISTAKES[i].json), e2, sizeof(e2));
        if (d1 || d2)
            fail_msg("mistake %zu accepted (builder %p, JSON %p)", i,
                     (void *)d1, (void *)d2);
        if (strcmp(e1, e2))
            fail_msg("mistake %zu: builder says '%s', JSON says '%s'", i, e1,
                     e2);
        if (MISTAKES[i].want && strcmp(e1, MISTAKES[i].want))
            fail_msg("mistake %zu: '%s', want '%s'", i, e1, MISTAKES[i].want);
        assert_true(strlen(e1) > 10);
        cairn_wfb_destroy(b);
    }
    /* The guard message names the offset. */
    char err[512];
    cairn_wfb_t *b = bad_guard();
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_non_null(strstr(err, "state 'a': on[0]: bad guard:"));
    cairn_wfb_destroy(b);
    /* A state with no transitions and no terminal command. */
    b = no_transitions();
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_string_equal(err, "state 'a': state is not terminal and has no "
                             "transitions (add 'on', or end on_enter with "
                             "complete/fail/cancel/continue_as_new)");
    cairn_wfb_destroy(b);
    /* No terminal state anywhere. */
    b = cairn_wfb_new("m", 1);
    cairn_wfb_state_t *s = cairn_wfb_state(b, "a");
    cairn_wfb_sleep(s, 5, NULL);
    cairn_wfb_on(s, CAIRN_WFB_TIMER_FIRED, NULL, "a");
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_string_equal(err, "no terminal state (a state whose on_enter ends "
                             "with complete, fail, cancel or "
                             "continue_as_new)");
    cairn_wfb_destroy(b);
    /* No states at all. */
    b = cairn_wfb_new("m", 1);
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_string_equal(err,
                        "definition: 'states' must be an array of 1-1000 "
                        "states");
    cairn_wfb_destroy(b);
}

/* ---- sticky builder errors ------------------------------------------------- */

/* Expects b to hold the sticky error want, reported by build and to_json. */
static void sticky(cairn_wfb_t *b, const char *want) {
    char err[512] = "";
    assert_non_null(cairn_wfb_error(b));
    if (strcmp(cairn_wfb_error(b), want))
        fail_msg("sticky error '%s', want '%s'", cairn_wfb_error(b), want);
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_string_equal(err, want);
    err[0] = '\0';
    assert_null(cairn_wfb_to_json(b, err, sizeof(err)));
    assert_string_equal(err, want);
}

static void test_sticky_errors(void **state) {
    (void)state;
    cairn_wfb_t *b;
    cairn_wfb_state_t *s;
    cairn_wfb_act_t *a;

    /* A value that is not JSON: reported with its place; later calls do
     * nothing and return NULL handles; the first error stays. */
    b = cairn_wfb_new("e", 1);
    s = cairn_wfb_state(b, "a");
    a = cairn_wfb_activity(s, "x", "xid");
    cairn_wfb_act_input(a, "{order: 1}");
    assert_null(cairn_wfb_state(b, "b"));
    assert_null(cairn_wfb_activity(s, "y", NULL));
    assert_null(cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "a"));
    cairn_wfb_act_input(a, "nope either"); /* not the reported one */
    sticky(b, "state 'a': on_enter[0]: activity 'xid': input is neither "
              "JSON nor a $ path (column 6: string or '}' expected near "
              "'order'): {order: 1}");
    cairn_wfb_destroy(b);

    /* NULL required arguments. */
    b = cairn_wfb_new(NULL, 1);
    sticky(b, "definition: type is NULL");
    cairn_wfb_destroy(b);
    b = cairn_wfb_new("e", 1);
    cairn_wfb_complete(cairn_wfb_state(b, "a"), NULL);
    assert_null(cairn_wfb_state(b, NULL));
    sticky(b, "states[1]: the state name is NULL");
    cairn_wfb_destroy(b);
    b = cairn_wfb_new("e", 1);
    s = cairn_wfb_state(b, "a");
    cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, NULL);
    sticky(b, "state 'a': transition target is NULL");
    cairn_wfb_destroy(b);
    b = cairn_wfb_new("e", 1);
    cairn_wfb_fail(cairn_wfb_state(b, "a"), NULL, "x");
    sticky(b, "state 'a': error type is NULL");
    cairn_wfb_destroy(b);

    /* A variable assigned twice in one assign (JSON cannot say it). */
    b = cairn_wfb_new("e", 1);
    s = cairn_wfb_state(b, "a");
    cairn_wfb_assign(s, "x", "1");
    cairn_wfb_assign(s, "x", "2");
    sticky(b, "state 'a': variable 'x' is assigned twice in one assign");
    cairn_wfb_destroy(b);
    b = cairn_wfb_new("e", 1);
    s = cairn_wfb_state(b, "a");
    cairn_wfb_trans_t *t = cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "a");
    cairn_wfb_trans_assign(t, "x", "1");
    cairn_wfb_trans_assign(t, "x", "1");
    sticky(b, "state 'a': on[0]: variable 'x' is assigned twice in one "
              "assign");
    cairn_wfb_destroy(b);

    /* A reference on an event that takes none; an unknown event. */
    b = cairn_wfb_new("e", 1);
    s = cairn_wfb_state(b, "a");
    cairn_wfb_on(s, CAIRN_WFB_ALWAYS, "x", "a");
    sticky(b, "state 'a': event 'always' takes no reference (got 'x')");
    cairn_wfb_destroy(b);
    b = cairn_wfb_new("e", 1);
    cairn_wfb_on(cairn_wfb_state(b, "a"), (cairn_wfb_event_t)99, NULL, "a");
    sticky(b, "state 'a': unknown transition event 99");
    cairn_wfb_destroy(b);

    /* Compensations: once per activity, none of their own. */
    b = cairn_wfb_new("e", 1);
    s = cairn_wfb_state(b, "a");
    a = cairn_wfb_activity(s, "pay", NULL);
    cairn_wfb_act_t *undo = cairn_wfb_act_compensation(a, "refund");
    assert_non_null(undo);
    cairn_wfb_act_compensation(undo, "again");
    sticky(b, "state 'a': on_enter[0]: activity 'pay': compensation "
              "'refund': a compensation cannot have a compensation");
    cairn_wfb_destroy(b);
    b = cairn_wfb_new("e", 1);
    a = cairn_wfb_activity(cairn_wfb_state(b, "a"), "pay", NULL);
    cairn_wfb_act_compensation(a, "refund");
    cairn_wfb_act_compensation(a, "refund");
    sticky(b, "state 'a': on_enter[0]: activity 'pay': already has a "
              "compensation");
    cairn_wfb_destroy(b);

    /* An unknown parent close policy. */
    b = cairn_wfb_new("e", 1);
    cairn_wfb_child_parent_close(
        cairn_wfb_child(cairn_wfb_state(b, "a"), "k", "kid"),
        (cairn_wfb_parent_close_t)0);
    sticky(b, "state 'a': on_enter[0]: child 'k': unknown parent close "
              "policy 0");
    cairn_wfb_destroy(b);

    /* Invalid UTF-8 cannot be stored. */
    b = cairn_wfb_new("e", 1);
    cairn_wfb_state(b, "\xff");
    assert_non_null(strstr(cairn_wfb_error(b), "not UTF-8"));
    cairn_wfb_destroy(b);
}

/* Every function takes NULL handles (a failed call's result) as a no-op. */
static void test_null_handles(void **state) {
    (void)state;
    char err[64] = "";
    cairn_wfb_destroy(NULL);
    assert_null(cairn_wfb_error(NULL));
    assert_null(cairn_wfb_build(NULL, err, sizeof(err)));
    assert_null(cairn_wfb_to_json(NULL, err, sizeof(err)));
    cairn_wfb_description(NULL, "x");
    cairn_wfb_task_queue(NULL, "x");
    cairn_wfb_initial(NULL, "x");
    cairn_wfb_on_cancel(NULL, "x");
    cairn_wfb_execution_timeout(NULL, 1);
    assert_null(cairn_wfb_retry(NULL));
    assert_null(cairn_wfb_state(NULL, "x"));
    cairn_wfb_state_description(NULL, "x");
    assert_null(cairn_wfb_activity(NULL, "x", NULL));
    cairn_wfb_act_input(NULL, "1");
    cairn_wfb_act_task_queue(NULL, "q");
    cairn_wfb_act_start_to_close(NULL, 1);
    cairn_wfb_act_schedule_to_close(NULL, 1);
    cairn_wfb_act_heartbeat(NULL, 1);
    assert_null(cairn_wfb_act_retry(NULL));
    assert_null(cairn_wfb_act_compensation(NULL, "x"));
    cairn_wfb_retry_initial_interval(NULL, 1);
    cairn_wfb_retry_backoff(NULL, 1);
    cairn_wfb_retry_maximum_interval(NULL, 1);
    cairn_wfb_retry_maximum_attempts(NULL, 1);
    cairn_wfb_retry_non_retryable(NULL, "x");
    cairn_wfb_timer(NULL, "t", 1);
    cairn_wfb_sleep(NULL, 1, NULL);
    cairn_wfb_wait_signal(NULL, "s", 0);
    cairn_wfb_assign(NULL, "v", "1");
    assert_null(cairn_wfb_child(NULL, "k", "t"));
    cairn_wfb_child_version(NULL, 1);
    cairn_wfb_child_input(NULL, "1");
    cairn_wfb_child_workflow_id(NULL, "$.vars.x");
    cairn_wfb_child_parent_close(NULL, CAIRN_WFB_PARENT_CLOSE_ABANDON);
    cairn_wfb_compensate(NULL);
    cairn_wfb_complete(NULL, NULL);
    cairn_wfb_fail(NULL, "E", NULL);
    cairn_wfb_cancel(NULL, NULL);
    cairn_wfb_continue_as_new(NULL, NULL);
    assert_null(cairn_wfb_on(NULL, CAIRN_WFB_ALWAYS, NULL, "x"));
    cairn_wfb_trans_when(NULL, "true");
    cairn_wfb_trans_assign(NULL, "v", "1");
}

/* The default initial state is the first one; an explicit one wins. */
static void test_initial_state(void **state) {
    (void)state;
    cairn_wfb_t *b = cairn_wfb_new("i", 1);
    cairn_wfb_on(cairn_wfb_state(b, "first"), CAIRN_WFB_ALWAYS, NULL, "last");
    cairn_wfb_complete(cairn_wfb_state(b, "last"), NULL);
    same_fsm(b, "{\"type\":\"i\",\"version\":1,\"initial\":\"first\","
                "\"states\":[{\"name\":\"first\",\"on\":[{\"event\":"
                "\"always\",\"target\":\"last\"}]},{\"name\":\"last\","
                "\"on_enter\":[{\"complete\":null}]}]}");
    char err[512];
    cairn_wfb_initial(b, "last");
    assert_null(cairn_wfb_build(b, err, sizeof(err)));
    assert_string_equal(err, "state 'first' is unreachable from the initial "
                             "state 'last'");
    cairn_wfb_destroy(b);
}

/* ---- allocation failures ---------------------------------------------------- */

static long alloc_budget = -1; /* allocations left; -1 = unlimited */

static void *budget_malloc(size_t n) {
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(n);
}

/*
 * Builds ALL_JSON in C with jansson failing its n-th allocation, for every
 * n: each run either yields exactly the right FSM or reports "out of
 * memory"; never a crash, a leak (under valgrind) or a wrong definition.
 */
static void test_allocation_failures(void **state) {
    (void)state;
    char *want = canon_json(ALL_JSON);
    int failures = 0, n;
    json_set_alloc_funcs(budget_malloc, free);
    for (n = 0; n < 100000; n++) {
        char err[512] = "";
        alloc_budget = n;
        cairn_wfb_t *b = all_builder(); /* NULL if the first one failed */
        cairn_wfb_fail(cairn_wfb_state(b, "bare"), "Bare", NULL);
        cairn_def_t *def = b ? cairn_wfb_build(b, err, sizeof(err)) : NULL;
        if (!b)
            snprintf(err, sizeof(err), "out of memory");
        int exhausted = alloc_budget == 0;
        alloc_budget = -1;
        cairn_wfb_destroy(b);
        if (def) {
            char *got = cairn_def_to_json(def);
            assert_string_equal(got, want);
            free(got);
            cairn_def_destroy(def);
            if (!exhausted)
                break; /* every allocation succeeded: done */
            continue;
        }
        failures++;
        if (!strstr(err, "out of memory"))
            fail_msg("allocation %d failed with '%s'", n, err);
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(n < 100000);
    assert_true(failures > 100); /* the loop did exercise failures */
    free(want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_construct),
        cmocka_unit_test(test_built_definition_runs),
        cmocka_unit_test(test_docs_example),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_build_again),
        cmocka_unit_test(test_validation_is_the_engines),
        cmocka_unit_test(test_sticky_errors),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_initial_state),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests_name("builder", tests, NULL, NULL);
}
