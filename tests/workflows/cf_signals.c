/*
 * cf_signals.c — feature 4: signals with a payload; a signal that arrives
 * before the workflow waits for it is buffered, not lost; wait-for-signal
 * with a timeout (human in the loop); duplicates and limits.
 */
#include "cases.h"

static const char *REVIEW =
    "{'type':'review','version':1,'initial':'prepare','states':["
    "{'name':'prepare','on_enter':[{'activity':'prep'}],'on':["
    "{'event':'activity_completed','target':'wait'}]},"
    "{'name':'wait','on_enter':[{'wait_signal':{'name':'decide',"
    "'timeout_ms':5000}}],'on':["
    "{'event':'signal_received','signal':'decide',"
    "'when':'$.payload.ok == true',"
    "'assign':{'by':'$.payload.by','how':'$.signal'},'target':'yes'},"
    "{'event':'signal_received','signal':'decide',"
    "'assign':{'by':'$.payload.by'},'target':'no'},"
    "{'event':'signal_timeout','signal':'decide','target':'timeout'}]},"
    "{'name':'yes','on_enter':[{'complete':'$.vars'}]},"
    "{'name':'no','on_enter':[{'fail':{'error_type':'Refused',"
    "'error_message':'$.vars.by'}}]},"
    "{'name':'timeout','on_enter':[{'fail':{'error_type':'NoDecision'}}]}]}";

void cf_sig_payload_and_guards(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, REVIEW);
    cf_start(w, "a", "review", "{\"n\":1}");
    cf_complete(w, "a", "prep", NULL);
    cf_status(w, "a", CAIRN_WF_RUNNING, "wait");
    cf_clear(w);
    w->now = 100;
    cf_signal(w, "a", "decide", "{\"ok\":true,\"by\":\"ann\"}");
    cf_expect(w, "history SignalReceived seq=5 workflow_id=a request_id=req-2 "
                 "signal_name=decide payload={\"ok\":true,\"by\":\"ann\"}\n"
                 "history TimerCanceled seq=6 workflow_id=a "
                 "timer_id=signal:decide generation=1\n"
                 "history WorkflowCompleted seq=7 workflow_id=a "
                 "result={\"by\":\"ann\",\"how\":\"decide\",\"n\":1}\n");
    /* The guard picks the other transition for another payload. */
    cf_start(w, "b", "review", NULL);
    cf_complete(w, "b", "prep", NULL);
    cf_signal(w, "b", "decide", "{\"ok\":false,\"by\":\"bob\"}");
    cf_status(w, "b", CAIRN_WF_FAILED, "no");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "bob");
    cf_free(w);
}

void cf_sig_buffered_before_wait(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, REVIEW);
    cf_start(w, "a", "review", NULL);
    /* Two signals while still preparing: recorded and buffered. */
    cf_clear(w);
    cf_signal(w, "a", "decide", "{\"ok\":true,\"by\":\"first\"}");
    cf_signal(w, "a", "decide", "{\"ok\":true,\"by\":\"second\"}");
    assert_int_equal(cf_count(w, CAIRN_EV_SIGNAL_RECEIVED), 2);
    assert_int_equal(w->nout, 2);
    assert_int_equal(cairn_wf_signal_count(cf_wf(w, "a")), 2);
    /* Entering the waiting state consumes the oldest, at once. */
    cf_clear(w);
    cf_complete(w, "a", "prep", NULL);
    cf_status(w, "a", CAIRN_WF_COMPLETED, "yes");
    assert_int_equal(cf_count(w, CAIRN_EV_SIGNAL_RECEIVED), 0);
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"by\":\"first\",\"how\":\"decide\"}");
    cf_free(w);
}

void cf_sig_wait_timeout(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, REVIEW);
    w->now = 1000;
    cf_start(w, "a", "review", NULL);
    w->now = 1500;
    cf_complete(w, "a", "prep", NULL);
    int64_t due;
    assert_true(cf_timer(w, "a", "signal:decide", NULL, &due));
    assert_int_equal(due, 6500); /* entered at 1500, waits 5000 */
    cf_clear(w);
    cf_fire(w, "a", "signal:decide");
    cf_expect(w, "history TimerFired seq=5 workflow_id=a "
                 "timer_id=signal:decide generation=1 fire_at_ms=6500\n"
                 "history WorkflowFailed seq=6 workflow_id=a "
                 "error_type=NoDecision\n");
    /* Too late: the workflow is closed. */
    cf_signal(w, "a", "decide", "{\"ok\":true}");
    cf_expect(w, "dlq Rejected workflow_id=a request_id=req-2 "
                 "rejected_type=SignalWorkflow reason=workflow is closed "
                 "(failed)\n");
    cf_free(w);
}

void cf_sig_duplicates_and_limits(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, REVIEW);
    w->lim.max_buffered_signals = 2;
    cf_start(w, "a", "review", NULL);
    cf_clear(w);
    /* The same request id twice: one signal. */
    cairn_event_t s = ev_signal("a", "same", "decide", "{\"ok\":true}", 0);
    cf_send(w, &s);
    cf_send(w, &s);
    assert_int_equal(cf_count(w, CAIRN_EV_SIGNAL_RECEIVED), 1);
    cf_signal(w, "a", "other", NULL);
    cf_clear(w);
    /* The buffer is full; reserved names; malformed payloads. */
    cf_signal(w, "a", "third", NULL);
    cf_signal(w, "a", "cairn.cancel", NULL);
    cf_signal(w, "a", "decide", "{oops");
    cf_has(w, "history Rejected seq=5 workflow_id=a request_id=req-3 "
              "rejected_type=SignalWorkflow reason=signal 'third' would "
              "exceed max_buffered_signals (2)\n");
    cf_has(w, "history Rejected seq=6 workflow_id=a request_id=req-4 "
              "rejected_type=SignalWorkflow reason=signal names starting "
              "with 'cairn.' are reserved\n");
    cf_has(w, "history Rejected seq=7 workflow_id=a request_id=req-5 "
              "rejected_type=SignalWorkflow reason=payload is not valid "
              "JSON: ");
    assert_int_equal(w->nout, 3);
    assert_int_equal(cairn_wf_signal_count(cf_wf(w, "a")), 2);
    cf_free(w);
}
