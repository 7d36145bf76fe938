/*
 * cf_examples.c — feature 9: examples/order-saga and examples/approval
 * behave as their READMEs say on every path, in both front ends: each path
 * runs once on the JSON definition and once on the C-built one.
 */
#include "../../examples/approval/approval.h"
#include "../../examples/order-saga/order_saga.h"
#include "cases.h"

#define SMALL                                                                  \
    "{\"order_id\":\"o-1\",\"amount\":20,\"items\":[\"sku-1\"],"              \
    "\"address\":\"Oslo\"}"
#define LARGE                                                                  \
    "{\"order_id\":\"o-2\",\"amount\":5000,\"items\":[\"sku-1\"],"            \
    "\"address\":\"Oslo\"}"

typedef void (*path_fn)(cf_world_t *w);

/* Every history record of every workflow in w, one per line. */
static char *all_history(const cf_world_t *w) {
    size_t cap = 1 << 20, n = 0;
    char *s = calloc(1, cap);
    assert_non_null(s);
    for (size_t i = 0; i < w->nwfs; i++)
        for (size_t k = 0; k < w->wfs[i].nhist && n + 2 < cap; k++) {
            cairn_output_t o = {CAIRN_OUT_HISTORY, w->wfs[i].hist[k]};
            out_line(&o, s + n, cap - n - 1);
            n += strlen(s + n);
            s[n++] = '\n';
        }
    return s;
}

/* Runs path on a world with the JSON definition, then on one with the C
 * definition; both must record the same histories. */
static void both(const char *json_file, cairn_wfb_t *(*build)(void),
                 path_fn path) {
    char *json = slurp(json_file), *lines[2];
    for (int i = 0; i < 2; i++) {
        cf_world_t *w = cf_new(NULL);
        if (i == 0) {
            cf_add_json(w, json);
        } else {
            cairn_wfb_t *b = build();
            cf_add_builder(w, b);
            cairn_wfb_destroy(b);
        }
        path(w);
        lines[i] = all_history(w);
        cf_free(w);
    }
    assert_string_equal(lines[0], lines[1]);
    free(lines[0]);
    free(lines[1]);
    free(json);
}

static cairn_wfb_t *order_c(void) { return order_saga_definition(NULL); }
static cairn_wfb_t *approval_c(void) { return approval_definition(NULL); }

#define ORDER(path) both("examples/order-saga/order-saga.json", order_c, path)
#define APPROVAL(path) both("examples/approval/approval.json", approval_c, path)

/* ---- order-saga ------------------------------------------------------------ */

static void order_small(cf_world_t *w) {
    cf_start(w, "o", "order-saga", SMALL);
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0)->task_queue,
                        "payments");
    cf_complete(w, "o", "charge", "{\"payment_id\":\"p1\"}");
    cf_complete(w, "o", "reserve", "{\"reservation_id\":\"r1\"}");
    cf_complete(w, "o", "ship", "{\"tracking\":\"T1\"}"); /* no approval */
    cf_status(w, "o", CAIRN_WF_COMPLETED, "done");
    assert_string_equal(cf_task_names(w),
                        "charge_card reserve_inventory ship_order");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"order\":\"o-1\",\"payment\":{\"payment_id\":"
                        "\"p1\"},\"shipment\":{\"tracking\":\"T1\"}}");
}

static void to_approval(cf_world_t *w) {
    cf_start(w, "o", "order-saga", LARGE);
    cf_complete(w, "o", "charge", "{\"payment_id\":\"p2\"}");
    cf_complete(w, "o", "reserve", "{\"reservation_id\":\"r2\"}");
    cf_status(w, "o", CAIRN_WF_RUNNING, "approval");
}

static void order_approved(cf_world_t *w) {
    to_approval(w);
    cf_signal(w, "o", "approve", "{\"approved\":true,\"by\":\"ann\"}");
    cf_complete(w, "o", "ship", "{}");
    cf_status(w, "o", CAIRN_WF_COMPLETED, "done");
}

/* Reverse order: release the inventory, then refund the card. */
static void undo_both(cf_world_t *w) {
    const cairn_event_t *t = cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0);
    assert_string_equal(t->activity_name, "release_inventory");
    assert_string_equal(t->input, "{\"reservation\":\"r2\"}");
    cf_clear(w);
    cf_complete(w, "o", "undo:reserve", NULL);
    t = cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0);
    assert_string_equal(t->activity_name, "refund_card");
    assert_string_equal(t->task_queue, "payments");
    assert_string_equal(t->input, "{\"payment\":\"p2\"}");
    cf_complete(w, "o", "undo:charge", NULL);
}

static void order_rejected(cf_world_t *w) {
    to_approval(w);
    cf_clear(w);
    cf_signal(w, "o", "approve",
              "{\"approved\":false,\"reason\":\"too much\"}");
    undo_both(w);
    cf_status(w, "o", CAIRN_WF_FAILED, "rolled_back");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "{\"message\":\"too much\",\"type\":\"Rejected\"}");
}

static void order_approval_times_out(cf_world_t *w) {
    to_approval(w);
    int64_t due;
    assert_true(cf_timer(w, "o", "signal:approve", NULL, &due));
    assert_int_equal(due, w->now + 3600000);
    cf_clear(w);
    cf_fire(w, "o", "signal:approve");
    undo_both(w);
    cf_status(w, "o", CAIRN_WF_FAILED, "rolled_back");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "{\"type\":\"ApprovalTimedOut\"}");
    assert_int_equal(cairn_wf_timer_count(cf_wf(w, "o")), 0);
}

static void order_canceled(cf_world_t *w) {
    to_approval(w);
    cf_clear(w);
    cf_cancel(w, "o", "customer changed their mind");
    undo_both(w);
    cf_status(w, "o", CAIRN_WF_CANCELED, "canceled");
}

/* Shipping fails five times (retried on durable timers): compensation. */
static void order_ship_fails(cf_world_t *w) {
    to_approval(w);
    cf_signal(w, "o", "approve", "{\"approved\":true,\"by\":\"ann\"}");
    for (int i = 1; i <= 5; i++) {
        int32_t attempt;
        assert_non_null(cf_pending(w, "o", "ship", &attempt));
        assert_int_equal(attempt, i);
        cf_clear(w);
        cf_fail(w, "o", "ship", "DemoFailure", "no truck", 0);
        if (i < 5)
            cf_fire(w, "o", "retry:ship");
    }
    undo_both(w);
    cf_status(w, "o", CAIRN_WF_FAILED, "rolled_back");
}

static void order_card_declined(cf_world_t *w) {
    cf_start(w, "o", "order-saga", SMALL);
    cf_clear(w);
    cf_fail(w, "o", "charge", "CardDeclined", "insufficient funds", 0);
    assert_int_equal(cf_count(w, CAIRN_EV_ACTIVITY_TASK), 0); /* no retry */
    cf_status(w, "o", CAIRN_WF_FAILED, "payment_failed");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_message,
                        "insufficient funds");
}

void cf_ex_order_saga_paths(void **state) {
    (void)state;
    ORDER(order_small);
    ORDER(order_approved);
    ORDER(order_rejected);
    ORDER(order_approval_times_out);
    ORDER(order_canceled);
    ORDER(order_ship_fails);
    ORDER(order_card_declined);
}

/* ---- approval --------------------------------------------------------------- */

#define ASK "{\"approver\":\"boss\",\"escalate_to\":\"ceo\",\"subject\":\"x\"}"

static void approval_approved(cf_world_t *w) {
    cf_start(w, "a", "approval", ASK);
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0)->input,
                        "{\"request\":\"a\",\"subject\":\"x\","
                        "\"to\":\"boss\"}");
    cf_complete(w, "a", "ask", NULL);
    cf_status(w, "a", CAIRN_WF_RUNNING, "waiting");
    cf_signal(w, "a", "approve", "{\"by\":\"boss\"}");
    cf_complete(w, "a", "apply", NULL);
    cf_status(w, "a", CAIRN_WF_COMPLETED, "done");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"approved\":true,\"by\":\"boss\","
                        "\"escalated\":false}");
}

static void approval_rejected(cf_world_t *w) {
    cf_start(w, "a", "approval", ASK);
    cf_complete(w, "a", "ask", NULL);
    cf_signal(w, "a", "reject", "{\"by\":\"boss\",\"reason\":\"no budget\"}");
    cf_status(w, "a", CAIRN_WF_COMPLETED, "rejected");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"approved\":false,\"by\":\"boss\","
                        "\"escalated\":false,\"reason\":\"no budget\"}");
    assert_int_equal(cairn_wf_timer_count(cf_wf(w, "a")), 0);
}

/* The decision arrives before the request email is even sent. */
static void approval_early_decision(cf_world_t *w) {
    cf_start(w, "a", "approval", ASK);
    cf_signal(w, "a", "approve", "{\"by\":\"boss\"}");
    cf_status(w, "a", CAIRN_WF_RUNNING, "request");
    cf_complete(w, "a", "ask", NULL);
    cf_status(w, "a", CAIRN_WF_RUNNING, "approved");
    cf_complete(w, "a", "apply", NULL);
    cf_status(w, "a", CAIRN_WF_COMPLETED, "done");
}

static void approval_escalated_then_approved(cf_world_t *w) {
    cf_start(w, "a", "approval", ASK);
    cf_complete(w, "a", "ask", NULL);
    cf_clear(w);
    cf_fire(w, "a", "signal:approve");
    const cairn_event_t *t = cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 0);
    assert_string_equal(t->activity_name, "notify");
    assert_string_equal(t->input, "{\"subject\":\"x\",\"to\":\"ceo\","
                                  "\"waiting_for\":\"boss\"}");
    cf_complete(w, "a", "escalate", NULL);
    cf_status(w, "a", CAIRN_WF_RUNNING, "escalated");
    int64_t due;
    assert_true(cf_timer(w, "a", "signal:approve", NULL, &due));
    assert_int_equal(due, w->now + 172800000);
    cf_signal(w, "a", "approve", "{\"by\":\"ceo\"}");
    cf_complete(w, "a", "apply", NULL);
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_COMPLETED, 0)->result,
                        "{\"approved\":true,\"by\":\"ceo\","
                        "\"escalated\":true}");
}

static void approval_expired(cf_world_t *w) {
    cf_start(w, "a", "approval", ASK);
    cf_complete(w, "a", "ask", NULL);
    cf_fire(w, "a", "signal:approve");
    cf_complete(w, "a", "escalate", NULL);
    cf_clear(w);
    cf_fire(w, "a", "signal:approve");
    cf_status(w, "a", CAIRN_WF_FAILED, "expired");
    assert_string_equal(cf_nth(w, CAIRN_EV_WORKFLOW_FAILED, 0)->error_type,
                        "ApprovalExpired");
}

void cf_ex_approval_paths(void **state) {
    (void)state;
    APPROVAL(approval_approved);
    APPROVAL(approval_rejected);
    APPROVAL(approval_early_decision);
    APPROVAL(approval_escalated_then_approved);
    APPROVAL(approval_expired);
}
