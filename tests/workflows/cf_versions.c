/*
 * cf_versions.c — feature 2 (continued): running instances stay pinned to
 * the type@version they started on while a new version rolls out; a start
 * without a version takes the newest; unknown versions are rejected.
 */
#include "cases.h"

static const char *V1 =
    "{'type':'flow','version':1,'initial':'a','states':["
    "{'name':'a','on_enter':[{'activity':'step_a'}],'on':["
    "{'event':'activity_completed','target':'b'}]},"
    "{'name':'b','on_enter':[{'activity':'old_b'}],'on':["
    "{'event':'activity_completed','target':'end'}]},"
    "{'name':'end','on_enter':[{'complete':{'v':1}}]}]}";
static const char *V2 =
    "{'type':'flow','version':2,'initial':'a','states':["
    "{'name':'a','on_enter':[{'activity':'step_a'}],'on':["
    "{'event':'activity_completed','target':'c'}]},"
    "{'name':'c','on_enter':[{'activity':'new_c'}],'on':["
    "{'event':'activity_completed','target':'end'}]},"
    "{'name':'end','on_enter':[{'complete':{'v':2}}]}]}";

void cf_ver_pinned_while_new_rolls_out(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, V1);
    cf_start(w, "old", "flow", NULL);
    assert_int_equal(cf_nth(w, CAIRN_EV_WORKFLOW_STARTED, 0)->version, 1);
    /* v2 rolls out while "old" is in flight. */
    cf_def(w, V2);
    cf_clear(w);
    cf_start(w, "new", "flow", NULL);
    assert_int_equal(cf_nth(w, CAIRN_EV_WORKFLOW_STARTED, 0)->version, 2);
    cf_start_v(w, "pinned", "flow", 1, NULL);
    assert_int_equal(cf_nth(w, CAIRN_EV_WORKFLOW_STARTED, 1)->version, 1);
    /* Each run follows its own version's states. */
    cf_clear(w);
    cf_complete(w, "old", "step_a", NULL);
    cf_complete(w, "new", "step_a", NULL);
    cf_complete(w, "pinned", "step_a", NULL);
    assert_string_equal(cf_task_names(w), "old_b new_c old_b");
    cf_complete(w, "old", "old_b", NULL);
    cf_complete(w, "new", "new_c", NULL);
    cf_complete(w, "pinned", "old_b", NULL);
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"v\":1}");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 1)->result,
                        "{\"v\":2}");
    assert_int_equal(cairn_wf_version(cf_wf(w, "old")), 1);
    assert_int_equal(cairn_wf_version(cf_wf(w, "new")), 2);
    assert_int_equal(cairn_wf_version(cf_wf(w, "pinned")), 1);
    cf_free(w);
}

void cf_ver_unknown_version_rejected(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, V1);
    cf_start_v(w, "x", "flow", 9, NULL);
    cf_expect(w, "dlq Rejected workflow_id=x request_id=req-1 "
                 "rejected_type=StartWorkflow reason=unknown workflow type "
                 "'flow' version 9\n");
    assert_null(cf_wf(w, "x"));
    cf_start(w, "y", "nope", NULL);
    cf_has(w, "reason=unknown workflow type 'nope'");
    cf_free(w);
}

/* A node that lacks the pinned definition does not guess: the input goes
 * to the DLQ and the workflow is untouched. */
void cf_ver_missing_pinned_definition(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, V1);
    cf_start(w, "x", "flow", NULL);
    cairn_registry_t *only_v2 = cairn_registry_new();
    char *v2 = cf_q(V2);
    reg_add(only_v2, v2);
    free(v2);
    cairn_registry_t *keep = w->reg;
    w->reg = only_v2;
    cf_clear(w);
    cf_complete(w, "x", "step_a", NULL);
    cf_expect(w, "dlq Rejected workflow_id=x rejected_type=ActivityCompleted "
                 "reason=definition of the running workflow is not loaded\n");
    cf_status(w, "x", CAIRN_WF_RUNNING, "a");
    w->reg = keep;
    cairn_registry_destroy(only_v2);
    cf_complete(w, "x", "step_a", NULL);
    cf_status(w, "x", CAIRN_WF_RUNNING, "b");
    cf_free(w);
}

/* continue_as_new starts the next run on the same type@version, even when
 * a newer version exists. */
void cf_ver_continue_as_new_keeps_version(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, "{'type':'loop','version':1,'initial':'a','states':["
              "{'name':'a','on_enter':[{'activity':'tick'}],'on':["
              "{'event':'activity_completed','when':'$.input.n >= 1',"
              "'target':'end'},"
              "{'event':'activity_completed','target':'again'}]},"
              "{'name':'again','on_enter':[{'continue_as_new':{'input':"
              "{'n':1}}}]},"
              "{'name':'end','on_enter':[{'complete':{'v':1}}]}]}");
    cf_start(w, "l", "loop", "{\"n\":0}");
    cf_def(w, "{'type':'loop','version':2,'initial':'a','states':["
              "{'name':'a','on_enter':[{'complete':{'v':2}}]}]}");
    cf_clear(w);
    cf_complete(w, "l", "tick", NULL);
    assert_int_equal(cf_nth(w, CAIRN_EV_WORKFLOW_CONTINUED_AS_NEW, 0)->version,
                     1);
    assert_int_equal(cf_nth(w, CAIRN_EV_WORKFLOW_STARTED, 0)->version, 1);
    assert_int_equal(cairn_wf_run(cf_wf(w, "l")), 2);
    cf_complete(w, "l", "tick#2", NULL);
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"v\":1}");
    cf_free(w);
}
