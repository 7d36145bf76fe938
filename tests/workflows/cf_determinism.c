/*
 * cf_determinism.c — feature 8: replay re-runs the engine over a recorded
 * history and reports the first divergence (the core of `cairn replay ID`);
 * step() gives byte-identical outputs for the same inputs — across
 * replicas, front ends and a restore from the encoded state (property test
 * over random event sequences).
 *
 * Every other case replays its workflows too (cf_free()).
 */
#include "../../examples/order-saga/order_saga.h"
#include "cases.h"

#define ORDER_IN                                                               \
    "{\"order_id\":\"o\",\"amount\":5000,\"items\":[1],\"address\":\"x\"}"

/* Records order-saga's reject path in w (workflow "o"). */
static cf_world_t *recorded_saga(void) {
    char *json = slurp("examples/order-saga/order-saga.json");
    cf_world_t *w = cf_new(NULL);
    cf_add_json(w, json);
    free(json);
    cf_start(w, "o", "order-saga", ORDER_IN);
    cf_complete(w, "o", "charge", "{\"payment_id\":\"p\"}");
    cf_complete(w, "o", "reserve", "{\"reservation_id\":\"r\"}");
    cf_signal(w, "o", "approve", "{\"approved\":false}");
    cf_complete(w, "o", "undo:reserve", NULL);
    cf_complete(w, "o", "undo:charge", NULL);
    cf_status(w, "o", CAIRN_WF_FAILED, "rolled_back");
    return w;
}

/* Copies a recorded history (the caller frees with hist_free_n). */
static cairn_event_t *hist_copy(const cf_wf_t *r) {
    cairn_event_t *h = calloc(r->nhist, sizeof(*h));
    assert_non_null(h);
    for (size_t i = 0; i < r->nhist; i++)
        assert_int_equal(cairn_event_copy(&h[i], &r->hist[i]), 0);
    return h;
}

static void hist_free_n(cairn_event_t *h, size_t n) {
    for (size_t i = 0; i < n; i++)
        cairn_event_clear(&h[i]);
    free(h);
}

void cf_det_replay_finds_divergence(void **state) {
    (void)state;
    cf_world_t *w = recorded_saga();
    const cf_wf_t *r = cf_rec(w, "o");
    char err[512];
    int64_t div;

    /* A different recorded result: the replay differs where the engine
     * first acts on it (the compensation's input). */
    cairn_event_t *h = hist_copy(r);
    size_t k;
    for (k = 0; k < r->nhist; k++)
        if (h[k].type == CAIRN_EV_ACTIVITY_COMPLETED &&
            !strcmp(h[k].activity_id, "reserve"))
            break;
    assert_true(k < r->nhist);
    free(h[k].result);
    h[k].result = strdup("{\"reservation_id\":\"other\"}");
    div = 0;
    assert_int_equal(cairn_engine_replay(w->reg, NULL, h, r->nhist, NULL,
                                         &div, err, sizeof(err)),
                     CAIRN_ERR_OK);
    int64_t want = 0;
    for (size_t i = 0; i < r->nhist; i++)
        if (h[i].type == CAIRN_EV_ACTIVITY_SCHEDULED &&
            !strcmp(h[i].activity_id, "undo:reserve"))
            want = h[i].seq;
    assert_int_equal(div, want);
    assert_non_null(strstr(err, "ActivityScheduled"));
    hist_free_n(h, r->nhist);

    /* A lost event: reported at the first recorded event after the gap. */
    h = hist_copy(r);
    cairn_event_clear(&h[3]);
    memmove(&h[3], &h[4], (r->nhist - 4) * sizeof(*h));
    div = 0;
    assert_int_equal(cairn_engine_replay(w->reg, NULL, h, r->nhist - 1, NULL,
                                         &div, err, sizeof(err)),
                     CAIRN_ERR_OK);
    assert_int_equal(div, h[3].seq);
    assert_int_equal(div, 5);
    hist_free_n(h, r->nhist - 1);

    /* Another definition under the same type@version (which the registry
     * refuses, but a hand-edited topic could hold): caught at the first
     * event it changes. */
    order_saga_opts_t o = {1, NULL, 1000}; /* a 1 s approval timeout */
    cairn_wfb_t *b = order_saga_definition(&o);
    cairn_registry_t *other = cairn_registry_new();
    char e2[512];
    cairn_def_t *d = cairn_wfb_build(b, e2, sizeof(e2));
    assert_non_null(d);
    assert_int_equal(cairn_registry_put(other, d, e2, sizeof(e2)),
                     CAIRN_ERR_OK);
    cairn_wfb_destroy(b);
    div = 0;
    assert_int_equal(cairn_engine_replay(other, NULL, r->hist, r->nhist, NULL,
                                         &div, err, sizeof(err)),
                     CAIRN_ERR_OK);
    for (k = 0; k < r->nhist; k++)
        if (r->hist[k].type == CAIRN_EV_TIMER_STARTED &&
            !strcmp(r->hist[k].timer_id, "signal:approve"))
            break;
    assert_int_equal(div, r->hist[k].seq);
    cairn_registry_destroy(other);
    cf_free(w);
}

/*
 * A step's history records are committed together (one Kafka transaction),
 * so a history read under read_committed ends at a step boundary: every
 * such prefix replays without divergence and rebuilds the state as of that
 * step. A history cut inside a step is reported, at the first event the
 * replay produced that is not recorded.
 */
void cf_det_replay_prefixes(void **state) {
    (void)state;
    cf_world_t *w = recorded_saga();
    const cf_wf_t *r = cf_rec(w, "o");
    size_t b = 0, cut = 0;
    assert_true(r->nbounds > 5);
    for (size_t n = 1; n <= r->nhist; n++) {
        char err[512] = "";
        int64_t div = -1;
        cairn_wf_t *back = NULL;
        int boundary = b < r->nbounds && r->bounds[b] == n;
        assert_int_equal(cairn_engine_replay(w->reg, NULL, r->hist, n, &back,
                                             &div, err, sizeof(err)),
                         CAIRN_ERR_OK);
        if (boundary) {
            b++;
            if (div)
                fail_msg("prefix of %zu events (a step boundary) diverged "
                         "at %lld: %s",
                         n, (long long)div, err);
            assert_non_null(back);
            assert_int_equal(cairn_wf_seq(back), r->hist[n - 1].seq);
        } else {
            cut++;
            assert_int_equal(div, r->hist[n - 1].seq + 1);
            assert_non_null(strstr(err, "not recorded"));
        }
        cairn_wf_destroy(back);
    }
    assert_int_equal(b, r->nbounds);
    assert_true(cut > 0);
    cf_free(w);
}

/* ---- the property test -------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void) { /* xorshift64*: deterministic, seeded */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int rpick(int n) { return (int)(rnd() % (uint64_t)n); }

/* One random input for workflow id given its state (strings in buf). */
static cairn_event_t random_input(const cairn_wf_t *wf, const char *id,
                                  char bufs[4][256], int64_t now) {
    cairn_event_t e = {0};
    static const char *const results[] = {
        NULL, "{}", "{\"payment_id\":\"p\"}", "{\"reservation_id\":7}",
        "[1,2]", "\"s\"", "{bad"};
    static const char *const payloads[] = {
        "{\"approved\":true,\"by\":\"ann\"}", "{\"approved\":false}", "null",
        "{bad", "{\"approved\":\"yes\"}"};
    static const char *const errors[] = {"CardDeclined", "Flaky", NULL};
    e.workflow_id = (char *)id;
    e.time_ms = now;
    int r = rpick(100);
    size_t nacts = wf ? cairn_wf_activity_count(wf) : 0;
    size_t ntimers = wf ? cairn_wf_timer_count(wf) : 0;
    if (!wf || r < 3) {
        e.type = CAIRN_EV_START_WORKFLOW;
        snprintf(bufs[0], 256, "s%d", rpick(3));
        e.request_id = bufs[0];
        e.workflow_type = (char *)"order-saga";
        e.input = (char *)(rpick(2) ? ORDER_IN
                                   : "{\"order_id\":\"o\",\"amount\":10}");
        e.start_policy = (char *)(rpick(2) ? "terminate_existing" : NULL);
    } else if (r < 50 && nacts) {
        const char *aid, *kind;
        int32_t attempt;
        cairn_wf_activity_at(wf, (size_t)rpick((int)nacts), &aid, &kind,
                             &attempt);
        snprintf(bufs[1], 256, "%s", aid);
        e.activity_id = bufs[1];
        e.attempt = attempt - (rpick(10) == 0); /* sometimes stale */
        if (rpick(3)) {
            e.type = CAIRN_EV_ACTIVITY_COMPLETED;
            e.result = (char *)results[rpick(7)];
        } else {
            e.type = CAIRN_EV_ACTIVITY_FAILED;
            e.error_type = (char *)errors[rpick(3)];
            e.error_message = (char *)"m";
            e.non_retryable = rpick(4) == 0;
        }
    } else if (r < 75 && ntimers) {
        const char *tid;
        int64_t gen, at;
        cairn_wf_timer_at(wf, (size_t)rpick((int)ntimers), &tid, &gen, &at);
        snprintf(bufs[2], 256, "%s", tid);
        e.type = CAIRN_EV_TIMER_FIRED;
        e.timer_id = bufs[2];
        e.generation = gen - (rpick(10) == 0);
        e.fire_at_ms = at;
        e.time_ms = at > now ? at : now;
    } else if (r < 92) {
        e.type = CAIRN_EV_SIGNAL_WORKFLOW;
        snprintf(bufs[3], 256, "g%d", rpick(6));
        e.request_id = bufs[3];
        e.signal_name = (char *)(rpick(4) ? "approve" : "other");
        e.payload = (char *)payloads[rpick(5)];
    } else {
        e.type = rpick(2) ? CAIRN_EV_CANCEL_WORKFLOW
                         : CAIRN_EV_TERMINATE_WORKFLOW;
        snprintf(bufs[3], 256, "c%d", rpick(4));
        e.request_id = bufs[3];
        e.reason = (char *)"r";
    }
    return e;
}

/*
 * Random walks over order-saga. Every input goes to three replicas: one
 * whose registry holds the JSON definition, one with the C-built
 * definition, and one restarted from the encoded state before each step (a
 * shard restore). Their outputs and encoded states must be byte-identical
 * at every step. Seed: CAIRN_CF_SEED (default fixed), printed on failure.
 */
void cf_det_property_identical_outputs(void **state) {
    (void)state;
    const char *seed_env = getenv("CAIRN_CF_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20240605;
    char *json = slurp("examples/order-saga/order-saga.json");
    cairn_registry_t *rj = reg_with(json), *rc = cairn_registry_new();
    cairn_wfb_t *b = order_saga_definition(NULL);
    char err[512];
    cairn_def_t *d = cairn_wfb_build(b, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(cairn_registry_put(rc, d, err, sizeof(err)),
                     CAIRN_ERR_OK);
    cairn_wfb_destroy(b);
    free(json);
    rng_state = seed ? seed : 1;
    int steps = 0, closed = 0;
    for (int walk = 0; walk < 150; walk++) {
        cairn_wf_t *a = NULL, *c = NULL, *restored = NULL;
        int64_t now = 0;
        for (int s = 0; s < 40; s++, steps++) {
            char bufs[4][256];
            cairn_event_t in = random_input(a, "o", bufs, now);
            now = in.time_ms + 1;
            cairn_outputs_t oa, oc, orr;
            cairn_outputs_init(&oa);
            cairn_outputs_init(&oc);
            cairn_outputs_init(&orr);
            /* The restarted replica: from the encoded state. */
            cairn_wf_destroy(restored);
            restored = NULL;
            if (a) {
                char *enc = encode(a);
                restored = cairn_wf_decode(enc, strlen(enc), err,
                                           sizeof(err));
                assert_non_null(restored);
                free(enc);
            }
            step_ok(rj, &a, &in, &oa);
            step_ok(rc, &c, &in, &oc);
            step_ok(rj, &restored, &in, &orr);
            char *ta = outs_text(&oa), *tc = outs_text(&oc),
                 *tr = outs_text(&orr);
            if (strcmp(ta, tc) || strcmp(ta, tr))
                fail_msg("seed %llu walk %d step %d: outputs differ\n--- "
                         "JSON:\n%s--- C:\n%s--- restored:\n%s",
                         (unsigned long long)seed, walk, s, ta, tc, tr);
            if (a) {
                char *ea = encode(a), *ec = encode(c), *er = encode(restored);
                if (strcmp(ea, ec) || strcmp(ea, er))
                    fail_msg("seed %llu walk %d step %d: states differ",
                             (unsigned long long)seed, walk, s);
                free(ea);
                free(ec);
                free(er);
            }
            free(ta);
            free(tc);
            free(tr);
            cairn_outputs_free(&oa);
            cairn_outputs_free(&oc);
            cairn_outputs_free(&orr);
        }
        closed += a && cairn_wf_status(a) != CAIRN_WF_RUNNING;
        cairn_wf_destroy(a);
        cairn_wf_destroy(c);
        cairn_wf_destroy(restored);
    }
    /* The walks did reach the ends of the workflow. */
    assert_true(closed > 20);
    assert_int_equal(steps, 150 * 40);
    cairn_registry_destroy(rj);
    cairn_registry_destroy(rc);
}
