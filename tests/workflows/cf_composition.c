/*
 * cf_composition.c — feature 7: child workflows with parent notification and
 * a parent-close policy; continue-as-new; the history-length limit with a
 * documented rule and a clear failure.
 */
#include "cases.h"

static const char *KID =
    "{'type':'kid','version':1,'initial':'a','on_cancel':'bye',"
    "'retry':{'maximum_attempts':1},'states':["
    "{'name':'a','on_enter':[{'activity':'pack'}],'on':["
    "{'event':'activity_completed','target':'end'}]},"
    "{'name':'end','on_enter':[{'complete':{'eta':'2d','to':'$.input.to'}}]},"
    "{'name':'bye','on_enter':[{'cancel':{'reason':'parent gone'}}]}]}";

/* A parent of type parent-<policy> (or of a child type that may not exist). */
static void add_parent(cf_world_t *w, const char *type, const char *kid,
                       const char *policy) {
    char def[2048];
    snprintf(def, sizeof(def),
             "{'type':'%s','version':1,'initial':'run','states':["
             "{'name':'run','on_enter':[{'child':{'id':'ship',"
             "'workflow_type':'%s','input':{'to':'$.vars.to'},"
             "'parent_close_policy':'%s'}}],'on':["
             "{'event':'child_completed','child':'ship',"
             "'assign':{'shipped':'$.result'},'target':'done'},"
             "{'event':'child_failed','child':'ship',"
             "'assign':{'why':'$.error.type'},'target':'failed'}]},"
             "{'name':'done','on_enter':[{'complete':'$.vars'}]},"
             "{'name':'failed','on_enter':[{'fail':{'error_type':"
             "'ChildBroke','error_message':'$.vars.why'}}]}]}",
             type, kid, policy);
    cf_def(w, def);
}

void cf_child_completes_parent_notified(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, KID);
    add_parent(w, "parent", "kid", "terminate");
    cf_start(w, "p", "parent", "{\"to\":\"Oslo\"}");
    /* The parent records the child like an activity and starts it through
     * the events topic; the child knows its parent. */
    cf_has(w, "history ActivityScheduled seq=2 workflow_id=p "
              "activity_id=child:p:ship activity_name=kid "
              "task_queue=cairn.child attempt=1 input={\"to\":\"Oslo\"}\n"
              "events StartWorkflow workflow_id=p:ship request_id=p:ship "
              "workflow_type=kid input={\"to\":\"Oslo\"} "
              "start_policy=reject_duplicate parent_workflow_id=p\n"
              "history WorkflowStarted seq=1 workflow_id=p:ship "
              "request_id=p:ship workflow_type=kid version=1 "
              "input={\"to\":\"Oslo\"} parent_workflow_id=p\n");
    assert_string_equal(cairn_wf_parent_id(cf_wf(w, "p:ship")), "p");
    cf_clear(w);
    cf_complete(w, "p:ship", "pack", NULL);
    cf_has(w, "events ActivityCompleted workflow_id=p "
              "activity_id=child:p:ship attempt=1 "
              "result={\"eta\":\"2d\",\"to\":\"Oslo\"}\n");
    cf_status(w, "p:ship", CAIRN_WF_COMPLETED, "end");
    cf_status(w, "p", CAIRN_WF_COMPLETED, "done");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 1)->result,
                        "{\"shipped\":{\"eta\":\"2d\",\"to\":\"Oslo\"},"
                        "\"to\":\"Oslo\"}");
    cf_free(w);
}

void cf_child_fails_parent_notified(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, KID);
    add_parent(w, "parent", "kid", "terminate");
    add_parent(w, "orphan", "no-such-type", "terminate");
    cf_start(w, "p", "parent", NULL);
    cf_fail(w, "p:ship", "pack", "Torn", "box", 0);
    cf_status(w, "p:ship", CAIRN_WF_FAILED, "a");
    cf_status(w, "p", CAIRN_WF_FAILED, "failed");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 1)->error_message,
                        "ChildFailed");
    /* A child that cannot start is a failure the parent hears about. */
    cf_clear(w);
    cf_start(w, "q", "orphan", NULL);
    assert_null(cf_wf(w, "q:ship"));
    cf_has(w, "error_type=ChildStartRejected error_message=unknown workflow "
              "type 'no-such-type'");
    cf_status(w, "q", CAIRN_WF_FAILED, "failed");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "ChildStartRejected");
    cf_free(w);
}

void cf_child_parent_close_policy(void **state) {
    (void)state;
    static const struct {
        const char *policy;
        cairn_wf_status_t child;
    } cases[] = {{"terminate", CAIRN_WF_TERMINATED},
                 {"request_cancel", CAIRN_WF_CANCELED},
                 {"abandon", CAIRN_WF_RUNNING}};
    cf_world_t *w = cf_new(NULL);
    cf_def(w, KID);
    for (size_t i = 0; i < 3; i++) {
        char type[64], id[64], kid[80];
        snprintf(type, sizeof(type), "parent-%s", cases[i].policy);
        snprintf(id, sizeof(id), "p%zu", i);
        snprintf(kid, sizeof(kid), "%s:ship", id);
        add_parent(w, type, "kid", cases[i].policy);
        cf_start(w, id, type, NULL);
        cf_terminate(w, id, "closing the parent");
        cf_status(w, id, CAIRN_WF_TERMINATED, "run");
        cf_status(w, kid, cases[i].child, NULL);
    }
    /* request_cancel ran the child's cancel path; abandon left it to
     * finish on its own, and its parent no longer listens. */
    cf_status(w, "p1:ship", CAIRN_WF_CANCELED, "bye");
    cf_clear(w);
    cf_complete(w, "p2:ship", "pack", NULL);
    cf_status(w, "p2:ship", CAIRN_WF_COMPLETED, "end");
    cf_status(w, "p2", CAIRN_WF_TERMINATED, "run");
    cf_free(w);
}

static const char *PAGES =
    "{'type':'pages','version':1,'initial':'page','states':["
    "{'name':'page','on_enter':[{'activity':'fetch','input':{'cursor':"
    "'$.vars.cursor'}}],'on':["
    "{'event':'activity_completed','when':'$.result.next == null',"
    "'target':'done'},"
    "{'event':'activity_completed','assign':{'cursor':'$.result.next'},"
    "'target':'next'}]},"
    "{'name':'next','on_enter':[{'continue_as_new':{'input':{'cursor':"
    "'$.vars.cursor'}}}]},"
    "{'name':'done','on_enter':[{'complete':{'last':'$.vars.cursor'}}]}]}";

void cf_continue_as_new(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, PAGES);
    cf_start(w, "b", "pages", "{\"cursor\":0}");
    cf_clear(w);
    cf_complete(w, "b", "fetch", "{\"next\":1}");
    /* One step closes run 1 and starts run 2: same id, seq continues, the
     * new input, fresh runtime ids. */
    cf_expect(w, "history ActivityCompleted seq=3 workflow_id=b "
                 "activity_id=fetch attempt=1 result={\"next\":1}\n"
                 "history WorkflowContinuedAsNew seq=4 workflow_id=b "
                 "workflow_type=pages version=1 input={\"cursor\":1}\n"
                 "history WorkflowStarted seq=5 workflow_id=b "
                 "request_id=continue-as-new:2 workflow_type=pages "
                 "version=1 input={\"cursor\":1}\n"
                 "history ActivityScheduled seq=6 workflow_id=b "
                 "activity_id=fetch#2 activity_name=fetch "
                 "task_queue=default attempt=1 input={\"cursor\":1}\n"
                 "task ActivityTask workflow_id=b activity_id=fetch#2 "
                 "activity_name=fetch task_queue=default attempt=1 "
                 "idempotency_key=b:fetch#2 input={\"cursor\":1}\n");
    assert_int_equal(cairn_wf_run(cf_wf(w, "b")), 2);
    char *vars = cairn_wf_vars_json(cf_wf(w, "b"));
    assert_string_equal(vars, "{\"cursor\":1}");
    free(vars);
    cf_complete(w, "b", "fetch#2", "{\"next\":2}");
    cf_complete(w, "b", "fetch#3", "{\"next\":null}");
    assert_int_equal(cairn_wf_run(cf_wf(w, "b")), 3);
    cf_status(w, "b", CAIRN_WF_COMPLETED, "done");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"last\":2}");
    cf_free(w);
}

static const char *LOOP =
    "{'type':'loop','version':1,'initial':'a','states':["
    "{'name':'a','on_enter':[{'activity':'w'}],'on':["
    "{'event':'activity_completed','when':'$.result.stop == true',"
    "'target':'end'},"
    "{'event':'activity_completed','when':'$.result.i >= 10',"
    "'target':'roll'},"
    "{'event':'activity_completed','target':'a'}]},"
    "{'name':'roll','on_enter':[{'continue_as_new':{}}]},"
    "{'name':'end','on_enter':[{'complete':null}]}]}";

/* The step that brings a run's history to max_history_events fails it with
 * HistoryLimitExceeded; the failing step's own events and the closing one
 * are still written. */
void cf_history_limit_clear_failure(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, LOOP);
    w->lim.max_history_events = 40;
    cf_start(w, "h", "loop", NULL);
    /* Each round adds ActivityCompleted + ActivityScheduled: seq 2 + 2k. */
    for (int k = 1; k < 19; k++) {
        cf_complete_pending(w, "h", "{\"i\":0}");
        cf_status(w, "h", CAIRN_WF_RUNNING, "a");
    }
    assert_int_equal(cairn_wf_seq(cf_wf(w, "h")), 38);
    cf_clear(w);
    cf_complete_pending(w, "h", "{\"i\":0}");
    const cairn_event_t *f = cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0);
    assert_string_equal(f->error_type, "HistoryLimitExceeded");
    assert_string_equal(f->error_message,
                        "the run reached 40 history events "
                        "(max_history_events); use continue_as_new for "
                        "long-running workflows");
    assert_int_equal(f->seq, 41);
    cf_status(w, "h", CAIRN_WF_FAILED, "a");
    cf_free(w);
}

/* With continue_as_new every 10 rounds, the same loop runs far past the
 * limit: each run has its own budget. */
void cf_history_limit_continue_as_new(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, LOOP);
    w->lim.max_history_events = 40;
    cf_start(w, "h", "loop", NULL);
    int64_t run = 1;
    int i = 0;
    for (int k = 0; k < 150; k++) {
        char result[32];
        if (cairn_wf_run(cf_wf(w, "h")) != run) {
            run = cairn_wf_run(cf_wf(w, "h"));
            i = 0;
        }
        snprintf(result, sizeof(result), "{\"i\":%d}", ++i);
        cf_complete_pending(w, "h", result);
        cf_status(w, "h", CAIRN_WF_RUNNING, "a");
        cf_clear(w);
    }
    cf_complete_pending(w, "h", "{\"stop\":true}");
    cf_status(w, "h", CAIRN_WF_COMPLETED, "end");
    assert_true(cairn_wf_run(cf_wf(w, "h")) >= 13);
    assert_true(cairn_wf_seq(cf_wf(w, "h")) > 7 * 40);
    cf_free(w);
}
