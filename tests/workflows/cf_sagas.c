/*
 * cf_sagas.c — feature 6: on failure, the compensations of the completed
 * steps run in reverse order, one at a time, each with its own retries.
 */
#include "cases.h"

#define STEP(name, next, undo)                                                \
    "{'name':'" name "','on_enter':[{'activity':'do_" name "','id':'" name  \
    "'" undo "}],'on':[{'event':'activity_completed','target':'" next "'},"  \
    "{'event':'activity_failed','target':'comp'}]},"

static const char *SAGA =
    "{'type':'saga','version':1,'initial':'a','retry':{'maximum_attempts':1},"
    "'states':["
    STEP("a", "b", ",'compensation':{'activity':'undo_a','input':{'a':"
                   "'$.result.id'}}")
    STEP("b", "n", ",'compensation':{'activity':'undo_b','input':{'b':"
                   "'$.result.id'}}")
    STEP("n", "c", "")
    STEP("c", "d", ",'compensation':{'activity':'undo_c','input':{'c':"
                   "'$.result.id'},'retry':{'maximum_attempts':3,"
                   "'initial_interval_ms':10}}")
    STEP("d", "done", "")
    "{'name':'comp','on_enter':[{'compensate':true}],'on':["
    "{'event':'compensation_completed','target':'rolled_back'},"
    "{'event':'compensation_failed','assign':{'e':'$.error'},"
    "'target':'stuck'}]},"
    "{'name':'done','on_enter':[{'complete':null}]},"
    "{'name':'rolled_back','on_enter':[{'fail':{'error_type':'RolledBack'}}]},"
    "{'name':'stuck','on_enter':[{'fail':{'error_type':'Stuck',"
    "'error_message':'$.vars.e'}}]}]}";

/* Runs a, b, n, c to completion and fails d. */
static void to_failure(cf_world_t *w, const char *id) {
    cf_start(w, id, "saga", NULL);
    cf_complete(w, id, "a", "{\"id\":1}");
    cf_complete(w, id, "b", "{\"id\":2}");
    cf_complete(w, id, "n", NULL);
    cf_complete(w, id, "c", "{\"id\":3}");
    cf_clear(w);
    cf_fail(w, id, "d", "Broken", NULL, 0);
}

void cf_saga_reverse_order(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, SAGA);
    to_failure(w, "s");
    /* Newest first, one at a time, inputs from each step's result. */
    const char *const want[][2] = {{"undo:c", "{\"c\":3}"},
                                   {"undo:b", "{\"b\":2}"},
                                   {"undo:a", "{\"a\":1}"}};
    for (int i = 0; i < 3; i++) {
        const cairn_event_t *t = cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0);
        assert_string_equal(t->activity_id, want[i][0]);
        assert_string_equal(t->input, want[i][1]);
        assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_TASK), 1);
        assert_int_equal(cairn_wf_activity_count(cf_wf(w, "s")), 1);
        cf_clear(w);
        cf_complete(w, "s", want[i][0], NULL);
    }
    cf_status(w, "s", CAIRN_WF_FAILED, "rolled_back");
    cf_free(w);
}

void cf_saga_only_completed_steps(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, SAGA);
    cf_start(w, "s", "saga", NULL);
    cf_complete(w, "s", "a", "{\"id\":1}");
    cf_clear(w);
    cf_fail(w, "s", "b", "Broken", NULL, 0);
    assert_string_equal(cf_task_names(w), "undo_a");
    cf_complete(w, "s", "undo:a", NULL);
    cf_status(w, "s", CAIRN_WF_FAILED, "rolled_back");
    /* Nothing completed, nothing to undo: straight through. */
    cf_start(w, "t", "saga", NULL);
    cf_clear(w);
    cf_fail(w, "t", "a", "Broken", NULL, 0);
    assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_TASK), 0);
    cf_status(w, "t", CAIRN_WF_FAILED, "rolled_back");
    cf_free(w);
}

void cf_saga_compensation_retries(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, SAGA);
    to_failure(w, "s");
    cf_clear(w);
    cf_fail(w, "s", "undo:c", "Busy", NULL, 0);
    int64_t due;
    assert_true(cf_timer(w, "s", "retry:undo:c", NULL, &due));
    assert_int_equal(due, w->now + 10);
    cf_fire(w, "s", "retry:undo:c");
    assert_int_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0)->attempt, 2);
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0)->idempotency_key,
                        "s:undo:c");
    cf_complete(w, "s", "undo:c", NULL);
    cf_complete(w, "s", "undo:b", NULL);
    cf_complete(w, "s", "undo:a", NULL);
    cf_status(w, "s", CAIRN_WF_FAILED, "rolled_back");
    cf_free(w);
}

void cf_saga_compensation_fails(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, SAGA);
    to_failure(w, "s");
    for (int i = 0; i < 3; i++) {
        cf_fail(w, "s", "undo:c", "Busy", "still", 0);
        if (i < 2)
            cf_fire(w, "s", "retry:undo:c");
    }
    /* The compensation_failed transition, with $.error. */
    cf_status(w, "s", CAIRN_WF_FAILED, "stuck");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "{\"activity\":\"c\",\"attempt\":3,\"message\":"
                        "\"still\",\"type\":\"Busy\"}");
    /* Without one, the workflow fails with CompensationFailed. */
    cf_def(w, "{'type':'saga2','version':1,'initial':'a','retry':{"
              "'maximum_attempts':1},'states':["
              "{'name':'a','on_enter':[{'activity':'x','compensation':{"
              "'activity':'undo_x'}}],'on':[{'event':'activity_completed',"
              "'target':'c'}]},"
              "{'name':'c','on_enter':[{'compensate':true}],'on':["
              "{'event':'compensation_completed','target':'end'}]},"
              "{'name':'end','on_enter':[{'complete':null}]}]}");
    cf_start(w, "t", "saga2", NULL);
    cf_complete(w, "t", "x", NULL);
    cf_clear(w);
    cf_fail(w, "t", "undo:x", "No", "way", 0);
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_type,
                        "CompensationFailed");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "compensation of 'x' failed after 1 attempt(s): No: "
                        "way");
    cf_free(w);
}
