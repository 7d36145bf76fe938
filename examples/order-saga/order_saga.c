/*
 * order_saga.c — order-saga in C: charge the card, reserve the inventory,
 * ask a human to approve orders over 1000 (with a timeout), ship; on a
 * failure, a rejection, a timeout or a cancel, undo what was done in
 * reverse order (release the inventory, then refund the card).
 *
 * Read it next to order-saga.json: each call writes one key of that file,
 * in the same order. The only thing C adds is that a few numbers are
 * parameters (order_saga_opts_t), which the end-to-end tests use to publish
 * a variant with a short approval timeout on a task queue of their own.
 */
#include "order_saga.h"

#include <stddef.h>

cairn_wfb_t *order_saga_definition(const order_saga_opts_t *opts) {
    static const order_saga_opts_t defaults = {0, NULL, 0};
    cairn_wfb_t *b;
    cairn_wfb_state_t *s;
    cairn_wfb_act_t *a, *undo;
    cairn_wfb_retry_t *r;
    cairn_wfb_trans_t *t;

    if (!opts)
        opts = &defaults;
    if (!(b = cairn_wfb_new("order-saga", opts->version ? opts->version : 1)))
        return NULL;
    cairn_wfb_description(b, "Charge, reserve, wait for approval of large "
                             "orders, ship; compensate in reverse order on "
                             "failure or cancel.");
    cairn_wfb_task_queue(b, opts->task_queue ? opts->task_queue : "default");
    cairn_wfb_initial(b, "charge");
    cairn_wfb_on_cancel(b, "cancel_compensate");
    cairn_wfb_execution_timeout(b, 86400000);
    r = cairn_wfb_retry(b);
    cairn_wfb_retry_initial_interval(r, 500);
    cairn_wfb_retry_backoff(r, 2.0);
    cairn_wfb_retry_maximum_interval(r, 10000);
    cairn_wfb_retry_maximum_attempts(r, 3);

    /* Payment: on its own task queue; a declined card is final. */
    s = cairn_wfb_state(b, "charge");
    a = cairn_wfb_activity(s, "charge_card", "charge");
    cairn_wfb_act_input(a, "{\"order\": \"$.vars.order_id\", "
                           "\"amount\": \"$.vars.amount\"}");
    cairn_wfb_act_task_queue(a, "payments");
    cairn_wfb_retry_non_retryable(cairn_wfb_act_retry(a), "CardDeclined");
    cairn_wfb_act_start_to_close(a, 10000);
    undo = cairn_wfb_act_compensation(a, "refund_card");
    cairn_wfb_act_task_queue(undo, "payments");
    cairn_wfb_act_input(undo, "{\"payment\": \"$.result.payment_id\"}");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "charge", "reserve");
    cairn_wfb_trans_assign(t, "payment", "$.result");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED, "charge", "payment_failed");
    cairn_wfb_trans_assign(t, "error", "$.error");

    /* Inventory. */
    s = cairn_wfb_state(b, "reserve");
    a = cairn_wfb_activity(s, "reserve_inventory", "reserve");
    cairn_wfb_act_input(a, "{\"order\": \"$.vars.order_id\", "
                           "\"items\": \"$.vars.items\"}");
    undo = cairn_wfb_act_compensation(a, "release_inventory");
    cairn_wfb_act_input(undo,
                        "{\"reservation\": \"$.result.reservation_id\"}");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "reserve", "route");
    cairn_wfb_trans_assign(t, "reservation", "$.result");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED, "reserve", "compensate");
    cairn_wfb_trans_assign(t, "error", "$.error");

    /* A choice state: large orders need a human. */
    s = cairn_wfb_state(b, "route");
    t = cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "approval");
    cairn_wfb_trans_when(t, "$.vars.amount > 1000");
    cairn_wfb_on(s, CAIRN_WFB_ALWAYS, NULL, "ship");

    /* Human in the loop: the approve signal, or a timeout. */
    s = cairn_wfb_state(b, "approval");
    cairn_wfb_wait_signal(s, "approve",
                          opts->approval_timeout_ms
                              ? opts->approval_timeout_ms
                              : 3600000);
    t = cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "approve", "ship");
    cairn_wfb_trans_when(t, "$.payload.approved == true");
    cairn_wfb_trans_assign(t, "approved_by", "$.payload.by");
    t = cairn_wfb_on(s, CAIRN_WFB_SIGNAL_RECEIVED, "approve", "compensate");
    cairn_wfb_trans_assign(t, "error", "{\"type\": \"Rejected\", "
                                       "\"message\": \"$.payload.reason\"}");
    t = cairn_wfb_on(s, CAIRN_WFB_SIGNAL_TIMEOUT, "approve", "compensate");
    cairn_wfb_trans_assign(t, "error", "{\"type\": \"ApprovalTimedOut\"}");

    /* Shipping: more patience than the default policy. */
    s = cairn_wfb_state(b, "ship");
    a = cairn_wfb_activity(s, "ship_order", "ship");
    cairn_wfb_act_input(a, "{\"order\": \"$.vars.order_id\", "
                           "\"address\": \"$.vars.address\"}");
    cairn_wfb_retry_maximum_attempts(cairn_wfb_act_retry(a), 5);
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "ship", "done");
    cairn_wfb_trans_assign(t, "shipment", "$.result");
    t = cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_FAILED, "ship", "compensate");
    cairn_wfb_trans_assign(t, "error", "$.error");

    /* The saga, newest step first; and the cancel path. */
    s = cairn_wfb_state(b, "compensate");
    cairn_wfb_compensate(s);
    cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_COMPLETED, NULL, "rolled_back");
    cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_FAILED, NULL,
                 "compensation_failed");
    s = cairn_wfb_state(b, "cancel_compensate");
    cairn_wfb_compensate(s);
    cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_COMPLETED, NULL, "canceled");
    cairn_wfb_on(s, CAIRN_WFB_COMPENSATION_FAILED, NULL,
                 "compensation_failed");

    /* Terminal states. */
    cairn_wfb_complete(cairn_wfb_state(b, "done"),
                       "{\"order\": \"$.vars.order_id\", "
                       "\"payment\": \"$.vars.payment\", "
                       "\"shipment\": \"$.vars.shipment\"}");
    cairn_wfb_fail(cairn_wfb_state(b, "payment_failed"), "PaymentFailed",
                   "$.vars.error.message");
    cairn_wfb_fail(cairn_wfb_state(b, "rolled_back"), "OrderRolledBack",
                   "$.vars.error");
    cairn_wfb_fail(cairn_wfb_state(b, "compensation_failed"),
                   "CompensationFailed", "$.vars.error");
    cairn_wfb_cancel(cairn_wfb_state(b, "canceled"),
                     "order canceled and compensated");
    return b;
}
