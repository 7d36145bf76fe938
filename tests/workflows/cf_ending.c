/*
 * cf_ending.c — feature 5: cancel (the workflow runs its cancel path, e.g.
 * compensation) versus terminate (immediate); the workflow execution
 * timeout; requests to a closed workflow.
 */
#include "cases.h"

static const char *TRIP =
    "{'type':'trip','version':1,'initial':'book','on_cancel':'undo',"
    "'states':["
    "{'name':'book','on_enter':[{'activity':'book_flight','id':'flight',"
    "'compensation':{'activity':'cancel_flight','input':'$.result'}}],"
    "'on':[{'event':'activity_completed','target':'hotel'}]},"
    "{'name':'hotel','on_enter':[{'activity':'book_hotel','id':'hotel',"
    "'compensation':{'activity':'cancel_hotel'}},"
    "{'timer':{'id':'remind','after_ms':1000}}],"
    "'on':[{'event':'activity_completed','target':'done'},"
    "{'event':'timer_fired','target':'done'}]},"
    "{'name':'done','on_enter':[{'complete':null}]},"
    "{'name':'undo','on_enter':[{'compensate':true}],'on':["
    "{'event':'compensation_completed','target':'canceled'}]},"
    "{'name':'canceled','on_enter':[{'cancel':{'reason':'trip canceled'}}]}"
    "]}";

void cf_end_cancel_runs_cancel_path(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, TRIP);
    cf_start(w, "c", "trip", NULL);
    cf_complete(w, "c", "flight", "{\"pnr\":\"X1\"}");
    cf_clear(w);
    cf_cancel(w, "c", "customer");
    cf_expect(w, "history SignalReceived seq=6 workflow_id=c request_id=req-2 "
                 "signal_name=cairn.cancel payload={\"reason\":\"customer\"}\n"
                 "history TimerCanceled seq=7 workflow_id=c timer_id=remind "
                 "generation=1\n"
                 "history ActivityScheduled seq=8 workflow_id=c "
                 "activity_id=undo:flight activity_name=cancel_flight "
                 "task_queue=default attempt=1 input={\"pnr\":\"X1\"}\n"
                 "task ActivityTask workflow_id=c activity_id=undo:flight "
                 "activity_name=cancel_flight task_queue=default attempt=1 "
                 "idempotency_key=c:undo:flight input={\"pnr\":\"X1\"}\n");
    /* The abandoned hotel booking's result is ignored; a second cancel is
     * refused while the cancel path runs. */
    cairn_event_t late = ev_done("c", "hotel", 1, "{}", 0);
    cf_send(w, &late);
    assert_int_equal(w->nout, 0);
    cf_cancel(w, "c", "again");
    cf_has(w, "reason=cancel already requested; the cancel path is running");
    cf_clear(w);
    cf_complete(w, "c", "undo:flight", NULL);
    cf_status(w, "c", CAIRN_WF_CANCELED, "canceled");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_CANCELED, 0)->reason,
                        "trip canceled");
    cf_free(w);
}

void cf_end_terminate_is_immediate(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, TRIP);
    cf_start(w, "t", "trip", NULL);
    cf_complete(w, "t", "flight", "{\"pnr\":\"X1\"}");
    cf_clear(w);
    cf_terminate(w, "t", "ops");
    /* No cancel path, no compensation: timers go, the run ends. */
    cf_expect(w, "history TimerCanceled seq=6 workflow_id=t timer_id=remind "
                 "generation=1\n"
                 "history WorkflowTerminated seq=7 workflow_id=t "
                 "reason=ops\n");
    cf_status(w, "t", CAIRN_WF_TERMINATED, "hotel");
    assert_int_equal(cairn_wf_timer_count(cf_wf(w, "t")), 0);
    assert_int_equal(cairn_wf_activity_count(cf_wf(w, "t")), 0);
    cairn_event_t late = ev_done("t", "hotel", 1, "{}", 0);
    cf_send(w, &late);
    assert_int_equal(w->nout, 0);
    cf_free(w);
}

void cf_end_cancel_without_path(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, "{'type':'plain','version':1,'initial':'a','states':["
              "{'name':'a','on_enter':[{'sleep_ms':100}],'on':["
              "{'event':'timer_fired','target':'end'}]},"
              "{'name':'end','on_enter':[{'complete':null}]}]}");
    cf_start(w, "p", "plain", NULL);
    cf_clear(w);
    cf_cancel(w, "p", "bye");
    cf_expect(w, "history TimerCanceled seq=3 workflow_id=p "
                 "timer_id=a.sleep generation=1\n"
                 "history WorkflowCanceled seq=4 workflow_id=p reason=bye\n");
    cf_free(w);
}

void cf_end_execution_timeout(void **state) {
    (void)state;
    const char *def =
        "{'type':'slow','version':1,'initial':'a',"
        "'execution_timeout_ms':10000,'states':["
        "{'name':'a','on_enter':[{'sleep_ms':3000}],'on':["
        "{'event':'timer_fired','target':'b'}]},"
        "{'name':'b','on_enter':[{'activity':'work'}],'on':["
        "{'event':'activity_completed','target':'end'}]},"
        "{'name':'end','on_enter':[{'complete':null}]}]}";
    cf_world_t *w = cf_new(NULL);
    cf_def(w, def);
    cf_start(w, "s", "slow", NULL);
    int64_t due;
    assert_true(cf_timer(w, "s", "workflow:timeout", NULL, &due));
    assert_int_equal(due, 10000);
    /* The timeout survives state changes... */
    cf_fire(w, "s", "a.sleep");
    assert_true(cf_timer(w, "s", "workflow:timeout", NULL, &due));
    cf_clear(w);
    cf_fire(w, "s", "workflow:timeout");
    cf_expect(w, "history TimerFired seq=6 workflow_id=s "
                 "timer_id=workflow:timeout generation=1 fire_at_ms=10000\n"
                 "history WorkflowFailed seq=7 workflow_id=s "
                 "error_type=WorkflowTimedOut error_message=execution timeout "
                 "of 10000 ms reached\n");
    /* ...and is canceled when the run ends in time. */
    w->now = 0;
    cf_start(w, "f", "slow", NULL);
    cf_fire(w, "f", "a.sleep");
    cf_clear(w);
    cf_complete(w, "f", "work", NULL);
    cf_has(w, "history TimerCanceled seq=7 workflow_id=f "
              "timer_id=workflow:timeout generation=1\n");
    cf_status(w, "f", CAIRN_WF_COMPLETED, "end");
    assert_int_equal(cairn_wf_timer_count(cf_wf(w, "f")), 0);
    cf_free(w);
}

void cf_end_requests_after_close(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, TRIP);
    cf_start(w, "x", "trip", NULL);
    cf_terminate(w, "x", NULL);
    cf_clear(w);
    cf_cancel(w, "x", NULL);
    cf_terminate(w, "x", NULL);
    cf_signal(w, "x", "hello", NULL);
    cf_expect(w, "dlq Rejected workflow_id=x request_id=req-3 "
                 "rejected_type=CancelWorkflow reason=workflow is closed "
                 "(terminated)\n"
                 "dlq Rejected workflow_id=x request_id=req-4 "
                 "rejected_type=TerminateWorkflow reason=workflow is closed "
                 "(terminated)\n"
                 "dlq Rejected workflow_id=x request_id=req-5 "
                 "rejected_type=SignalWorkflow reason=workflow is closed "
                 "(terminated)\n");
    cf_cancel(w, "nobody", NULL);
    cf_has(w, "reason=workflow 'nobody' does not exist");
    cf_free(w);
}
