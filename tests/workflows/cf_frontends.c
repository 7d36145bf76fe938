/*
 * cf_frontends.c — feature 2: two front ends, one FSM. The examples built
 * in C (order_saga.c, approval.c: the builder API) and written in JSON
 * (order-saga.json, approval.json) compile to byte-identical definitions,
 * register as the same type@version, and run identically.
 */
#include "../../examples/approval/approval.h"
#include "../../examples/order-saga/order_saga.h"
#include "cases.h"

/* Asserts builder b and JSON file rel give the same canonical definition. */
static void same_definition(cairn_wfb_t *b, const char *rel) {
    char err[512] = "";
    char *json = slurp(rel), *cj = cf_canon(json);
    cairn_def_t *def = cairn_wfb_build(b, err, sizeof(err));
    if (!def)
        fail_msg("%s in C refused: %s", rel, err);
    char *cc = cairn_def_to_json(def);
    if (strcmp(cc, cj))
        fail_msg("%s: C and JSON differ\n--- C:\n%s\n--- JSON:\n%s", rel, cc,
                 cj);
    /* One registry takes both: the second put is a no-op. */
    cairn_registry_t *reg = reg_with(json);
    assert_int_equal(cairn_registry_put(reg, def, err, sizeof(err)),
                     CAIRN_ERR_OK);
    assert_int_equal(cairn_registry_count(reg), 1);
    cairn_registry_destroy(reg);
    free(cc);
    free(cj);
    free(json);
}

void cf_fe_order_saga_identical(void **state) {
    (void)state;
    cairn_wfb_t *b = order_saga_definition(NULL);
    same_definition(b, "examples/order-saga/order-saga.json");
    cairn_wfb_destroy(b);
}

void cf_fe_approval_identical(void **state) {
    (void)state;
    cairn_wfb_t *b = approval_definition(NULL);
    same_definition(b, "examples/approval/approval.json");
    cairn_wfb_destroy(b);
}

/* A variant built in C (another version, queue, timeout) is a new version
 * that rolls out next to the JSON one. */
void cf_fe_c_variant_is_new_version(void **state) {
    (void)state;
    order_saga_opts_t o = {2, "orders-faulty", 2000};
    char *json = slurp("examples/order-saga/order-saga.json");
    cf_world_t *w = cf_new(NULL);
    cf_add_json(w, json);
    cairn_wfb_t *b = order_saga_definition(&o);
    cf_add_builder(w, b);
    cairn_wfb_destroy(b);
    assert_int_equal(cairn_registry_count(w->reg), 2);
    cf_start(w, "o1", "order-saga", "{\"amount\":5000}");
    assert_int_equal(cf_nth(w, CAIRN_EV_WORKFLOW_STARTED, 0)->version, 2);
    cf_complete(w, "o1", "charge", "{\"payment_id\":\"p\"}");
    /* The variant's own default queue and approval timeout. */
    assert_string_equal(cf_nth(w, CAIRN_EV_ACTIVITY_TASK, 1)->task_queue,
                        "orders-faulty");
    cf_complete(w, "o1", "reserve", "{}");
    int64_t due;
    assert_true(cf_timer(w, "o1", "signal:approve", NULL, &due));
    assert_int_equal(due, 2000);
    cf_terminate(w, "o1", NULL);
    cf_free(w);
    free(json);
}

/* The same inputs through a JSON-built and a C-built registry give
 * byte-identical outputs at every step. */
void cf_fe_same_runs(void **state) {
    (void)state;
    char *json = slurp("examples/order-saga/order-saga.json");
    cf_world_t *wj = cf_new(NULL), *wc = cf_new(NULL);
    cf_add_json(wj, json);
    cairn_wfb_t *b = order_saga_definition(NULL);
    cf_add_builder(wc, b);
    cairn_wfb_destroy(b);
    cf_world_t *ws[2] = {wj, wc};
    char *lines[2];
    for (int i = 0; i < 2; i++) {
        cf_world_t *w = ws[i];
        cf_start(w, "o", "order-saga",
                 "{\"order_id\":\"o\",\"amount\":2000,\"items\":[1]}");
        cf_complete(w, "o", "charge", "{\"payment_id\":\"p\"}");
        cf_fail(w, "o", "reserve", "Flaky", "once", 0);
        w->now = 600;
        cf_fire(w, "o", "retry:reserve");
        cf_complete(w, "o", "reserve", "{\"reservation_id\":\"r\"}");
        cf_signal(w, "o", "approve", "{\"approved\":false,\"reason\":\"no\"}");
        cf_complete(w, "o", "undo:reserve", "{}");
        cf_complete(w, "o", "undo:charge", "{}");
        cf_status(w, "o", CAIRN_WF_FAILED, "rolled_back");
        lines[i] = cf_lines(w);
    }
    assert_string_equal(lines[0], lines[1]);
    char *a = encode(cf_wf(wj, "o")), *c = encode(cf_wf(wc, "o"));
    assert_string_equal(a, c);
    free(a);
    free(c);
    free(lines[0]);
    free(lines[1]);
    cf_free(wj);
    cf_free(wc);
    free(json);
}
