/*
 * cf_activities.c — feature 3: activities. Retry policy (initial_interval,
 * backoff_coefficient, maximum_interval, maximum_attempts,
 * non_retryable_error_types) with the backoff on durable timers; timeouts
 * start_to_close, schedule_to_close and heartbeat; the idempotency key
 * workflow_id:activity_id handed to the worker, the same on every attempt.
 */
#include "cases.h"

static const char *PAY =
    "{'type':'pay','version':1,'initial':'a',"
    "'retry':{'initial_interval_ms':100,'backoff_coefficient':3.0,"
    "'maximum_interval_ms':500,'maximum_attempts':5},'states':["
    "{'name':'a','on_enter':[{'activity':'charge','id':'p','input':{'x':1},"
    "'task_queue':'payments','retry':{'non_retryable_error_types':"
    "['Declined']},'timeouts':{'start_to_close_ms':1000}}],'on':["
    "{'event':'activity_completed','target':'end'},"
    "{'event':'activity_failed','assign':{'err':'$.error'},"
    "'target':'bad'}]},"
    "{'name':'end','on_enter':[{'complete':'$.vars'}]},"
    "{'name':'bad','on_enter':[{'fail':{'error_type':'Failed',"
    "'error_message':'$.vars.err'}}]}]}";

void cf_act_retry_backoff_on_durable_timers(void **state) {
    (void)state;
    static const int64_t fail_at[] = {10, 120, 430, 940, 1450};
    static const int64_t retry_due[] = {110, 420, 930, 1440};
    cf_world_t *w = cf_new(NULL);
    cf_def(w, PAY);
    cf_start(w, "w", "pay", NULL);
    cf_expect(w, "history WorkflowStarted seq=1 workflow_id=w "
                 "request_id=req-1 workflow_type=pay version=1\n"
                 "history ActivityScheduled seq=2 workflow_id=w "
                 "activity_id=p activity_name=charge task_queue=payments "
                 "attempt=1 input={\"x\":1}\n"
                 "task ActivityTask workflow_id=w activity_id=p "
                 "activity_name=charge task_queue=payments attempt=1 "
                 "idempotency_key=w:p input={\"x\":1} timeout_ms=1000\n"
                 "history TimerStarted seq=3 workflow_id=w "
                 "timer_id=timeout:p generation=1 fire_at_ms=1000\n");
    for (int n = 1; n <= 5; n++) {
        w->now = fail_at[n - 1];
        cf_fail(w, "w", "p", "Oops", "boom", 0);
        if (n == 5)
            break;
        /* Backoff min(initial * coefficient^(n-1), maximum) on a durable
         * timer; no new attempt until it fires. */
        const cairn_event_t *t = cf_nth(w, CAIRN_EV_TIMER_STARTED, 0);
        assert_string_equal(t->timer_id, "retry:p");
        assert_int_equal(t->fire_at_ms, retry_due[n - 1]);
        assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_TASK), 0);
        /* A late result of the failed attempt is stale. */
        cairn_event_t late = ev_done("w", "p", n, "{}", 0);
        cf_send(w, &late);
        cf_clear(w);
        cf_fire(w, "w", "retry:p");
        const cairn_event_t *task = cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0);
        assert_int_equal(task->attempt, n + 1);
        assert_string_equal(task->idempotency_key, "w:p"); /* never changes */
        assert_int_equal(cf_nth(w, CAIRN_EV_TIMER_STARTED, 0)->fire_at_ms,
                         retry_due[n - 1] + 1000);
        cf_clear(w);
    }
    /* maximum_attempts reached: the failure transition, with $.error. */
    cf_status(w, "w", CAIRN_WF_FAILED, "bad");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "{\"activity\":\"p\",\"attempt\":5,\"message\":"
                        "\"boom\",\"type\":\"Oops\"}");
    assert_int_equal(cairn_wf_timer_count(cf_wf(w, "w")), 0);
    cf_free(w);
}

void cf_act_non_retryable(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, PAY);
    /* An error type listed in non_retryable_error_types. */
    cf_start(w, "d", "pay", NULL);
    cf_clear(w);
    cf_fail(w, "d", "p", "Declined", "card", 0);
    assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_TASK), 0);
    cf_status(w, "d", CAIRN_WF_FAILED, "bad");
    /* The worker's non_retryable flag. */
    cf_start(w, "n", "pay", NULL);
    cf_clear(w);
    cf_fail(w, "n", "p", "Other", "fatal", 1);
    assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_TASK), 0);
    cf_status(w, "n", CAIRN_WF_FAILED, "bad");
    cf_free(w);
}

void cf_act_start_to_close_timeout(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, PAY);
    cf_start(w, "t", "pay", NULL);
    cf_clear(w);
    cf_fire(w, "t", "timeout:p");
    cf_expect(w, "history TimerFired seq=4 workflow_id=t timer_id=timeout:p "
                 "generation=1 fire_at_ms=1000\n"
                 "history ActivityTimedOut seq=5 workflow_id=t "
                 "activity_id=p attempt=1 timeout_kind=start_to_close\n"
                 "history TimerStarted seq=6 workflow_id=t timer_id=retry:p "
                 "generation=2 fire_at_ms=1100\n");
    /* The timed-out attempt's result, arriving late, is ignored. */
    cairn_event_t late = ev_done("t", "p", 1, "{}", 0);
    cf_send(w, &late);
    assert_int_equal(w->nout, 0);
    cf_fire(w, "t", "retry:p");
    cf_complete(w, "t", "p", "{\"ok\":1}");
    cf_status(w, "t", CAIRN_WF_COMPLETED, "end");
    cf_free(w);
}

void cf_act_schedule_to_close_timeout(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, "{'type':'stc','version':1,'initial':'a','states':["
              "{'name':'a','on_enter':[{'activity':'w','retry':{"
              "'maximum_attempts':0,'initial_interval_ms':50},'timeouts':{"
              "'schedule_to_close_ms':200}}],'on':["
              "{'event':'activity_completed','target':'end'},"
              "{'event':'activity_failed','assign':{'e':'$.error.type'},"
              "'target':'late'}]},"
              "{'name':'end','on_enter':[{'complete':null}]},"
              "{'name':'late','on_enter':[{'fail':{'error_type':'TooLate',"
              "'error_message':'$.vars.e'}}]}]}");
    cf_start(w, "s", "stc", NULL);
    int64_t due;
    assert_true(cf_timer(w, "s", "deadline:w", NULL, &due));
    assert_int_equal(due, 200);
    w->now = 10;
    cf_fail(w, "s", "w", "E", NULL, 0); /* unlimited attempts... */
    cf_fire(w, "s", "retry:w");
    w->now = 70;
    cf_fail(w, "s", "w", "E", NULL, 0);
    cf_clear(w);
    cf_fire(w, "s", "deadline:w"); /* ...but 200 ms in all */
    cf_expect(w, "history TimerFired seq=10 workflow_id=s "
                 "timer_id=deadline:w generation=1 fire_at_ms=200\n"
                 "history ActivityTimedOut seq=11 workflow_id=s "
                 "activity_id=w attempt=2 timeout_kind=schedule_to_close\n"
                 "history TimerCanceled seq=12 workflow_id=s "
                 "timer_id=retry:w generation=3\n"
                 "history WorkflowFailed seq=13 workflow_id=s "
                 "error_type=TooLate error_message=ScheduleToCloseTimeout\n");
    cf_free(w);
}

/* Each execution of an activity id gets its own runtime id, so the
 * idempotency key never repeats for a different execution. */
void cf_act_idempotency_key_per_execution(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, "{'type':'again','version':1,'initial':'a','states':["
              "{'name':'a','on_enter':[{'activity':'w'}],'on':["
              "{'event':'activity_completed','when':'$.result.more == true',"
              "'target':'a'},{'event':'activity_completed','target':'end'}]},"
              "{'name':'end','on_enter':[{'complete':null}]}]}");
    cf_start(w, "i", "again", NULL);
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0)->idempotency_key,
                        "i:w");
    cf_complete(w, "i", "w", "{\"more\":true}");
    cf_complete(w, "i", "w#2", "{\"more\":true}");
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 1)->idempotency_key,
                        "i:w#2");
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 2)->idempotency_key,
                        "i:w#3");
    /* A duplicate result of an earlier execution changes nothing. */
    cf_clear(w);
    cairn_event_t dup = ev_done("i", "w", 1, "{}", 0);
    cf_send(w, &dup);
    assert_int_equal(w->nout, 0);
    cf_complete(w, "i", "w#3", "{}");
    cf_status(w, "i", CAIRN_WF_COMPLETED, "end");
    cf_free(w);
}

/* The definition's retry replaces the built-in defaults; an activity's
 * own retry overrides it key by key. An unmatched final failure fails the
 * workflow with the activity's error type. */
void cf_act_policy_inheritance(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, "{'type':'pol','version':1,'initial':'a','retry':{"
              "'initial_interval_ms':200,'maximum_attempts':2},'states':["
              "{'name':'a','on_enter':[{'activity':'x'},{'activity':'y',"
              "'retry':{'maximum_attempts':3,'backoff_coefficient':1.0}}],"
              "'on':[{'event':'activity_completed','target':'end'}]},"
              "{'name':'end','on_enter':[{'complete':null}]}]}");
    /* x: 200 ms, then the definition's 2 attempts. */
    cf_start(w, "x", "pol", NULL);
    cf_fail(w, "x", "x", "E", "m", 0);
    int64_t due;
    assert_true(cf_timer(w, "x", "retry:x", NULL, &due));
    assert_int_equal(due, 200);
    cf_fire(w, "x", "retry:x");
    cf_clear(w);
    cf_fail(w, "x", "x", "E", "m", 0);
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_type,
                        "E");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "activity 'x' failed after 2 attempt(s): m");
    /* y: the inherited 200 ms, its own coefficient 1 and 3 attempts. */
    w->now = 0;
    cf_start(w, "y", "pol", NULL);
    cf_fail(w, "y", "y", "E", NULL, 0);
    cf_fire(w, "y", "retry:y");
    cf_fail(w, "y", "y", "E", NULL, 0);
    assert_true(cf_timer(w, "y", "retry:y", NULL, &due));
    assert_int_equal(due, 400); /* 200 + 200 * 1.0 */
    cf_fire(w, "y", "retry:y");
    cf_fail(w, "y", "y", "E", NULL, 0);
    cf_status(w, "y", CAIRN_WF_FAILED, "a");
    cf_free(w);
}

/* A result that is not JSON fails the attempt for good (InvalidResult). */
void cf_act_invalid_result(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, PAY);
    cf_start(w, "r", "pay", NULL);
    cf_clear(w);
    cf_complete(w, "r", "p", "{not json");
    cf_has(w, "history Rejected seq=4 workflow_id=r "
              "rejected_type=ActivityCompleted reason=result is not valid "
              "JSON");
    const cairn_event_t *f = cf_nth(w, CAIRN_EV_ACTIVITY_FAILED, 0);
    assert_string_equal(f->error_type, "InvalidResult");
    assert_int_equal(f->non_retryable, 1);
    cf_status(w, "r", CAIRN_WF_FAILED, "bad");
    cf_free(w);
}

/* Heartbeat timeout: each accepted ActivityHeartbeat of the pending
 * attempt restarts the durable timer hb:<activity>; a missed heartbeat
 * times the attempt out (ActivityTimedOut "heartbeat") and the retry policy
 * applies; heartbeats of an older attempt are ignored; completion cancels
 * the timer. The history (heartbeats included) replays exactly (cf_free). */
static cairn_event_t hb(const char *id, const char *act, int attempt,
                        const char *details) {
    cairn_event_t e = {0};
    e.type = CAIRN_EV_ACTIVITY_HEARTBEAT;
    e.workflow_id = S(id);
    e.activity_id = S(act);
    e.attempt = attempt;
    e.payload = S(details);
    return e;
}

void cf_act_heartbeat_timeout(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, "{'type':'hb','version':1,'initial':'a','states':["
              "{'name':'a','on_enter':[{'activity':'w','retry':{"
              "'initial_interval_ms':100},'timeouts':{"
              "'start_to_close_ms':10000,'heartbeat_ms':1000}}],'on':["
              "{'event':'activity_completed','target':'end'}]},"
              "{'name':'end','on_enter':[{'complete':null}]}]}");
    cf_start(w, "h", "hb", NULL);
    int64_t gen, due;
    assert_true(cf_timer(w, "h", "hb:w", &gen, &due));
    assert_int_equal(due, 1000);
    /* Heartbeats keep the attempt alive well past heartbeat_ms. */
    for (int i = 1; i <= 3; i++) {
        w->now = 900 * i;
        cf_clear(w);
        cairn_event_t e = hb("h", "w", 1, "{\"progress\":1}");
        cf_send(w, &e);
        assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_HEARTBEAT), 1);
        assert_int_equal(cf_count(w, CAIRN_EV_TIMER_CANCELED), 1);
        assert_true(cf_timer(w, "h", "hb:w", &gen, &due));
        assert_int_equal(due, 900 * i + 1000);
    }
    /* Then it stops: the attempt times out and is retried. */
    cf_clear(w);
    cf_fire(w, "h", "hb:w");
    cf_has(w, "history ActivityTimedOut seq=15 workflow_id=h activity_id=w "
              "attempt=1 timeout_kind=heartbeat\n");
    assert_true(cf_timer(w, "h", "retry:w", NULL, &due));
    assert_int_equal(due, 3700 + 100);
    assert_false(cf_timer(w, "h", "timeout:w", NULL, NULL));
    /* The timed-out attempt's heartbeats are ignored from now on. */
    cf_clear(w);
    cairn_event_t old = hb("h", "w", 1, NULL);
    cf_send(w, &old);
    assert_int_equal(w->nout, 0);
    cf_fire(w, "h", "retry:w");
    assert_int_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0)->attempt, 2);
    assert_true(cf_timer(w, "h", "hb:w", NULL, &due));
    assert_int_equal(due, 3800 + 1000);
    cf_send(w, &old);
    assert_true(cf_timer(w, "h", "hb:w", NULL, &due));
    assert_int_equal(due, 3800 + 1000);
    /* Completion cancels the heartbeat timer. */
    cf_clear(w);
    cf_complete(w, "h", "w", "{\"ok\":1}");
    cf_has(w, "history TimerCanceled seq=24 workflow_id=h timer_id=hb:w "
              "generation=8\n");
    assert_false(cf_timer(w, "h", "hb:w", NULL, NULL));
    cf_status(w, "h", CAIRN_WF_COMPLETED, "end");
    /* heartbeat_ms is validated like the other timeouts. */
    cf_refused("{'type':'hb2','version':1,'initial':'a','states':["
               "{'name':'a','on_enter':[{'activity':'w','timeouts':{"
               "'heartbeat_ms':-5}}],'on':[{'event':'activity_completed',"
               "'target':'end'}]},{'name':'end','on_enter':[{'complete':"
               "null}]}]}",
               "state 'a': on_enter[0]: activity 'w' timeouts: "
               "'heartbeat_ms' must be a non-negative integer (ms)");
    cf_free(w);
}
