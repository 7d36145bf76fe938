/*
 * test_engine_examples.c — the shipped example definitions
 * (the JSON files in examples/, examples/definitions/ and examples/demo/) validate, and the
 * order saga and approval examples behave as documented on each path.
 * Files are read relative to $CAIRN_SRCDIR (default: the current directory,
 * which is the repository root under `make unit`).
 */
#include "test_engine_helpers.h"

static cairn_registry_t *load(const char *const *files) {
    cairn_registry_t *reg = reg_with(NULL);
    for (; *files; files++) {
        char *json = slurp(*files);
        reg_add(reg, json);
        free(json);
    }
    return reg;
}


static void test_examples_validate(void **state) {
    (void)state;
    cairn_registry_t *reg = load(EXAMPLE_DEFS);
    assert_int_equal(cairn_registry_count(reg), 9);
    cairn_registry_destroy(reg);
}

/* Completes the pending activity (whatever its runtime id) of wf. */
static void complete_pending(const cairn_registry_t *reg, cairn_wf_t **wf,
                             const char *result, int64_t t,
                             cairn_outputs_t *out) {
    const char *id, *kind;
    int32_t attempt;
    char idbuf[256];
    assert_int_equal(cairn_wf_activity_count(*wf), 1);
    cairn_wf_activity_at(*wf, 0, &id, &kind, &attempt);
    snprintf(idbuf, sizeof(idbuf), "%s", id);
    cairn_event_t in = ev_done(cairn_wf_id(*wf), idbuf, attempt, result, t);
    char wid[256];
    snprintf(wid, sizeof(wid), "%s", cairn_wf_id(*wf));
    in.workflow_id = wid;
    step_ok(reg, wf, &in, out);
}

static const char *pending_name(const cairn_outputs_t *out) {
    return find_out(out, CAIRN_EV_ACTIVITY_TASK)->activity_name;
}

#define ORDER_IN(amount)                                                       \
    "{\"order_id\":\"o-1\",\"amount\":" #amount ",\"items\":[\"sku-1\"],"     \
    "\"address\":\"Oslo\"}"

static void test_order_saga_paths(void **state) {
    (void)state;
    cairn_registry_t *reg = load(EXAMPLE_DEFS);
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_wf_t *wf = NULL;
    cairn_outputs_init(&out);

    /* A small order: no approval. */
    in = ev_start("o-1", "r1", "order-saga", ORDER_IN(20), 0);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(pending_name(&out), "charge_card");
    assert_string_equal(find_out(&out, CAIRN_EV_ACTIVITY_TASK)->task_queue,
                        "payments");
    complete_pending(reg, &wf, "{\"payment_id\":\"p1\"}", 1, &out);
    assert_string_equal(pending_name(&out), "reserve_inventory");
    complete_pending(reg, &wf, "{\"reservation_id\":\"res1\"}", 2, &out);
    assert_string_equal(pending_name(&out), "ship_order");
    complete_pending(reg, &wf, "{\"tracking\":\"T\"}", 3, &out);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"order\":\"o-1\",\"payment\":{\"payment_id\":"
                        "\"p1\"},\"shipment\":{\"tracking\":\"T\"}}");
    cairn_wf_destroy(wf);

    /* A large order, approved by signal. */
    wf = NULL;
    in = ev_start("o-2", "r1", "order-saga", ORDER_IN(5000), 0);
    step_ok(reg, &wf, &in, &out);
    complete_pending(reg, &wf, "{\"payment_id\":\"p2\"}", 1, &out);
    complete_pending(reg, &wf, "{\"reservation_id\":\"res2\"}", 2, &out);
    assert_string_equal(cairn_wf_fsm_state(wf), "approval");
    in = ev_signal("o-2", "s1", "approve", "{\"approved\":true,\"by\":\"ann\"}",
                   3);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(pending_name(&out), "ship_order");
    complete_pending(reg, &wf, "{}", 4, &out);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
    cairn_wf_destroy(wf);

    /* A large order whose approval times out: compensation in reverse. */
    wf = NULL;
    in = ev_start("o-3", "r1", "order-saga", ORDER_IN(5000), 0);
    step_ok(reg, &wf, &in, &out);
    complete_pending(reg, &wf, "{\"payment_id\":\"p3\"}", 1, &out);
    complete_pending(reg, &wf, "{\"reservation_id\":\"res3\"}", 2, &out);
    const cairn_event_t *ts = find_out(&out, CAIRN_EV_TIMER_STARTED);
    assert_string_equal(ts->timer_id, "signal:approve");
    in = ev_fired("o-3", "signal:approve", ts->generation, ts->fire_at_ms,
                  ts->fire_at_ms);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(pending_name(&out), "release_inventory");
    assert_string_equal(find_out(&out, CAIRN_EV_ACTIVITY_TASK)->input,
                        "{\"reservation\":\"res3\"}");
    complete_pending(reg, &wf, NULL, 3600003, &out);
    assert_string_equal(pending_name(&out), "refund_card");
    assert_string_equal(find_out(&out, CAIRN_EV_ACTIVITY_TASK)->input,
                        "{\"payment\":\"p3\"}");
    complete_pending(reg, &wf, NULL, 3600004, &out);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_FAILED);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_type,
                        "OrderRolledBack");
    /* The execution timeout timer was canceled at the close. */
    assert_int_equal(cairn_wf_timer_count(wf), 0);
    cairn_wf_destroy(wf);

    /* Canceled while waiting for approval. */
    wf = NULL;
    in = ev_start("o-4", "r1", "order-saga", ORDER_IN(5000), 0);
    step_ok(reg, &wf, &in, &out);
    complete_pending(reg, &wf, "{\"payment_id\":\"p4\"}", 1, &out);
    complete_pending(reg, &wf, "{\"reservation_id\":\"res4\"}", 2, &out);
    in = ev_req(CAIRN_EV_CANCEL_WORKFLOW, "o-4", "c1", "customer", 3);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(pending_name(&out), "release_inventory");
    complete_pending(reg, &wf, NULL, 4, &out);
    complete_pending(reg, &wf, NULL, 5, &out);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_CANCELED);
    cairn_wf_destroy(wf);

    /* A declined card is not retried and nothing is compensated. */
    wf = NULL;
    in = ev_start("o-5", "r1", "order-saga", ORDER_IN(5), 0);
    step_ok(reg, &wf, &in, &out);
    in = ev_failed("o-5", "charge", 1, "CardDeclined", "insufficient funds",
                   1);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(
        find_out(&out, CAIRN_EV_WORKFLOW_FAILED)->error_message,
        "insufficient funds");
    cairn_wf_destroy(wf);

    cairn_outputs_free(&out);
    cairn_registry_destroy(reg);
}

static void test_approval_paths(void **state) {
    (void)state;
    cairn_registry_t *reg = load(EXAMPLE_DEFS);
    cairn_outputs_t out;
    cairn_event_t in;
    cairn_wf_t *wf = NULL;
    cairn_outputs_init(&out);
    in = ev_start("a-1", "r1", "approval-reminders",
                  "{\"approver\":\"boss\",\"subject\":\"leave\"}", 0);
    step_ok(reg, &wf, &in, &out);
    complete_pending(reg, &wf, NULL, 1, &out);
    assert_int_equal(cairn_wf_timer_count(wf), 2);
    /* The reminder fires; the decision comes during last_call. */
    const char *tid;
    int64_t gen, at;
    cairn_wf_timer_at(wf, 0, &tid, &gen, &at);
    assert_string_equal(tid, "remind");
    in = ev_fired("a-1", "remind", gen, at, at);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(pending_name(&out), "send_reminder");
    complete_pending(reg, &wf, NULL, at + 1, &out);
    assert_string_equal(cairn_wf_fsm_state(wf), "last_call");
    in = ev_signal("a-1", "d1", "decision",
                   "{\"approved\":false,\"by\":\"boss\",\"reason\":\"busy\"}",
                   at + 2);
    step_ok(reg, &wf, &in, &out);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"approved\":false,\"by\":\"boss\",\"reason\":"
                        "\"busy\"}");
    cairn_wf_destroy(wf);

    /* batch-loop: two pages via continue-as-new, then done. */
    wf = NULL;
    in = ev_start("b-1", "r1", "batch-loop", "{\"cursor\":0}", 0);
    step_ok(reg, &wf, &in, &out);
    complete_pending(reg, &wf, "{\"next\":1}", 1, &out);
    assert_int_equal(cairn_wf_run(wf), 2);
    complete_pending(reg, &wf, "{\"next\":null}", 2, &out);
    assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
    assert_string_equal(find_out(&out, CAIRN_EV_WORKFLOW_COMPLETED)->result,
                        "{\"last_cursor\":1}");
    cairn_wf_destroy(wf);
    cairn_outputs_free(&out);
    cairn_registry_destroy(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_validate),
        cmocka_unit_test(test_order_saga_paths),
        cmocka_unit_test(test_approval_paths),
    };
    return cmocka_run_group_tests_name("engine_examples", tests, NULL, NULL);
}
