/*
 * approval.c — approval in C: email the approver, wait for an approve or
 * reject signal; if none comes in time, notify the escalation contact and
 * wait again; if that times out too, fail with ApprovalExpired.
 *
 * Read it next to approval.json: each call writes one key of that file, in
 * the same order. The two waits are the same few calls, so C writes them
 * once (decide()); the timeouts are parameters (approval_opts_t), which the
 * end-to-end tests use to publish a variant that times out in seconds.
 */
#include "approval.h"

#include <stddef.h>

/* A state that waits for approve (with a timeout) or reject. */
static void decide(cairn_wfb_t *b, const char *name, int64_t timeout_ms,
                   const char *on_timeout) {
    cairn_wfb_state_t *s = cairn_wfb_state(b, name);
    cairn_wfb_trans_t *t;
    cairn_wfb_wait_signal(s, "approve", timeout_ms);
    cairn_wfb_wait_signal(s, "reject", 0);
    t = cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "approve", "approved");
    cairn_wfb_trans_assign(t, "decided_by", "$.payload.by");
    t = cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "reject", "rejected");
    cairn_wfb_trans_assign(t, "decided_by", "$.payload.by");
    cairn_wfb_trans_assign(t, "reason", "$.payload.reason");
    cairn_wfb_on(s, CAIRN_WFB_SIGNAL_TIMEOUT, "approve", on_timeout);
}

cairn_wfb_t *approval_definition(const approval_opts_t *opts) {
    static const approval_opts_t defaults = {0, 0, 0};
    cairn_wfb_t *b;
    cairn_wfb_state_t *s;
    cairn_wfb_act_t *a;
    cairn_wfb_trans_t *t;

    if (!opts)
        opts = &defaults;
    if (!(b = cairn_wfb_new("approval", opts->version ? opts->version : 1)))
        return NULL;
    cairn_wfb_description(b, "Ask an approver by email and wait for approve "
                             "or reject; escalate when no decision comes "
                             "within a day; give up two days after that.");
    cairn_wfb_task_queue(b, "default");
    cairn_wfb_initial(b, "request");

    s = cairn_wfb_state(b, "request");
    cairn_wfb_assign(s, "escalated", "false");
    a = cairn_wfb_activity(s, "send_email", "ask");
    cairn_wfb_act_input(a, "{\"to\": \"$.vars.approver\", "
                           "\"subject\": \"$.vars.subject\", "
                           "\"request\": \"$.workflow_id\"}");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "ask", "waiting");

    decide(b, "waiting", opts->timeout_ms ? opts->timeout_ms : 86400000,
           "escalate");

    s = cairn_wfb_state(b, "escalate");
    a = cairn_wfb_activity(s, "notify", "escalate");
    cairn_wfb_act_input(a, "{\"to\": \"$.vars.escalate_to\", "
                           "\"subject\": \"$.vars.subject\", "
                           "\"waiting_for\": \"$.vars.approver\"}");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "escalate", "escalated");
    cairn_wfb_trans_assign(t, "escalated", "true");

    decide(b, "escalated",
           opts->escalation_timeout_ms ? opts->escalation_timeout_ms
                                       : 172800000,
           "expired");

    s = cairn_wfb_state(b, "approved");
    a = cairn_wfb_activity(s, "approve_request", "apply");
    cairn_wfb_act_input(a, "{\"request\": \"$.workflow_id\", "
                           "\"by\": \"$.vars.decided_by\"}");
    cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "apply", "done");

    cairn_wfb_complete(cairn_wfb_state(b, "done"),
                       "{\"approved\": true, \"by\": \"$.vars.decided_by\", "
                       "\"escalated\": \"$.vars.escalated\"}");
    cairn_wfb_complete(cairn_wfb_state(b, "rejected"),
                       "{\"approved\": false, \"by\": \"$.vars.decided_by\", "
                       "\"reason\": \"$.vars.reason\", "
                       "\"escalated\": \"$.vars.escalated\"}");
    cairn_wfb_fail(cairn_wfb_state(b, "expired"), "ApprovalExpired",
                   "no decision, not even after the escalation");
    return b;
}
