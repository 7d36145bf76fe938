/*
 * test_engine_property.c — a seeded random walk over many workflows: valid,
 * stale, duplicate and malformed inputs in random order. After every step
 * (via step_lim): the same step on a copy gives byte-identical outputs and
 * state, the state survives encode/decode/clone byte for byte, history seq
 * numbers continue without gaps. After every workflow: its recorded history
 * replays without divergence, the engine never leaves a closed run with
 * pending timers, and every TimerStarted is matched by a TimerFired or
 * TimerCanceled once the run is closed.
 *
 * CAIRN_PROPERTY_RUNS (default 100) and CAIRN_PROPERTY_SEED (default 1)
 * control the walk; a failure prints the seed and workflow number.
 */
#include "internal.h"
#include "test_engine_helpers.h"


static const char *DEF =
    "{\"type\":\"p\",\"version\":1,\"initial\":\"a\",\"on_cancel\":\"undo\","
    "\"execution_timeout_ms\":1000000,"
    "\"retry\":{\"initial_interval_ms\":5,\"maximum_attempts\":3},"
    "\"states\":["
    "{\"name\":\"a\",\"on_enter\":[{\"activity\":\"one\",\"compensation\":{"
    "\"activity\":\"undo_one\",\"input\":\"$.result\"},\"timeouts\":{"
    "\"start_to_close_ms\":40}},{\"activity\":\"two\"},{\"sleep_ms\":500}],"
    "\"on\":[{\"event\":\"activity_completed\",\"activity\":\"one\","
    "\"when\":\"$.result.loop == true\",\"target\":\"a\"},"
    "{\"event\":\"activity_completed\",\"activity\":\"one\","
    "\"assign\":{\"r\":\"$.result\"},\"target\":\"b\"},"
    "{\"event\":\"activity_failed\",\"target\":\"undo\"},"
    "{\"event\":\"timer_fired\",\"target\":\"b\"}]},"
    "{\"name\":\"b\",\"on_enter\":[{\"wait_signal\":{\"name\":\"go\","
    "\"timeout_ms\":100}}],"
    "\"on\":[{\"event\":\"signal_received\",\"signal\":\"go\",\"when\":"
    "\"$.payload.n > 2\",\"target\":\"done\"},"
    "{\"event\":\"signal_received\",\"signal\":\"again\",\"target\":\"a\"},"
    "{\"event\":\"signal_timeout\",\"signal\":\"go\",\"target\":\"more\"}]},"
    "{\"name\":\"more\",\"on\":[{\"event\":\"always\",\"when\":"
    "\"$.vars.r.n >= 5\",\"target\":\"next\"},{\"event\":\"always\","
    "\"target\":\"undo\"}]},"
    "{\"name\":\"next\",\"on_enter\":[{\"continue_as_new\":{\"input\":"
    "\"$.vars.r\"}}]},"
    "{\"name\":\"undo\",\"on_enter\":[{\"compensate\":true}],"
    "\"on\":[{\"event\":\"compensation_completed\",\"target\":\"gone\"},"
    "{\"event\":\"compensation_failed\",\"target\":\"gone\"}]},"
    "{\"name\":\"done\",\"on_enter\":[{\"complete\":\"$.vars\"}]},"
    "{\"name\":\"gone\",\"on_enter\":[{\"cancel\":{}}]}]}";

typedef struct {
    cairn_event_t v[4096];
    size_t n;
} hist_t;

static const char *const RESULTS[] = {
    NULL, "{}", "{\"loop\":true}", "{\"n\":7}", "{\"n\":1}", "[1,2]",
    "\"s\"", "{bad", "{\"n\":\"0123456789012345678901234567890123456789\"}"};
static const char *const PAYLOADS[] = {NULL, "{\"n\":3}", "{\"n\":1}", "{x",
                                       "[]", "0"};
static const char *const SIGNALS[] = {"go", "again", "other", "cairn.x", ""};
static const char *const POLICIES[] = {NULL, "use_existing",
                                       "terminate_existing", "bogus"};

/* Builds a random input for workflow id (strings borrowed or in bufs). */
static cairn_event_t random_input(const cairn_wf_t *wf, const char *id,
                                  int64_t t, char bufs[4][128]) {
    cairn_event_t in = {0};
    int r = pick(100);
    in.workflow_id = S(id);
    in.time_ms = t;
    if (wf && cairn_wf_activity_count(wf) && r < 45) {
        const char *aid, *kind;
        int32_t attempt;
        cairn_wf_activity_at(wf, (size_t)pick((int)cairn_wf_activity_count(wf)),
                             &aid, &kind, &attempt);
        snprintf(bufs[0], 128, "%s", aid);
        in.activity_id = bufs[0];
        in.attempt = attempt + (pick(8) == 0 ? 1 : 0);
        if (pick(3)) {
            in.type = CAIRN_EV_ACTIVITY_COMPLETED;
            in.result = S(RESULTS[pick(9)]);
        } else {
            in.type = CAIRN_EV_ACTIVITY_FAILED;
            in.error_type = S(pick(2) ? "E" : NULL);
            in.error_message = S("m");
            in.non_retryable = pick(4) == 0;
        }
        return in;
    }
    if (wf && cairn_wf_timer_count(wf) && r < 75) {
        const char *tid;
        int64_t gen, at;
        cairn_wf_timer_at(wf, (size_t)pick((int)cairn_wf_timer_count(wf)),
                          &tid, &gen, &at);
        snprintf(bufs[1], 128, "%s", tid);
        in.type = CAIRN_EV_TIMER_FIRED;
        in.timer_id = bufs[1];
        in.generation = gen - (pick(8) == 0);
        in.fire_at_ms = at;
        return in;
    }
    snprintf(bufs[2], 128, "q%d", pick(12));
    in.request_id = bufs[2];
    r = pick(100);
    if (r < 55) {
        in.type = CAIRN_EV_SIGNAL_WORKFLOW;
        in.signal_name = S(SIGNALS[pick(5)]);
        in.payload = S(PAYLOADS[pick(6)]);
    } else if (r < 70) {
        in.type = CAIRN_EV_START_WORKFLOW;
        in.workflow_type = S(pick(6) ? "p" : "unknown");
        in.start_policy = S(POLICIES[pick(4)]);
        in.input = S(PAYLOADS[pick(6)]);
    } else if (r < 85) {
        in.type = CAIRN_EV_CANCEL_WORKFLOW;
        in.reason = S("r");
    } else if (r < 93) {
        in.type = CAIRN_EV_TERMINATE_WORKFLOW;
    } else {
        in.type = CAIRN_EV_ACTIVITY_COMPLETED;
        in.activity_id = S("nope");
        in.attempt = 1;
    }
    return in;
}

static void test_random_walk(void **state) {
    (void)state;
    cairn_registry_t *reg = reg_with(DEF);
    const char *e = getenv("CAIRN_PROPERTY_RUNS");
    int runs = e ? atoi(e) : 100;
    e = getenv("CAIRN_PROPERTY_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 10) : 1;
    static hist_t h;
    cairn_limits_t lim = {0};
    lim.max_payload_bytes = 40;
    lim.max_history_events = 120;
    lim.max_buffered_signals = 3;
    lim.request_id_memory = 5;
    size_t closed = 0, steps = 0;
    for (int w = 0; w < runs; w++) {
        cairn_wf_t *wf = NULL;
        cairn_outputs_t out;
        char id[32], bufs[4][128];
        int64_t t = 0;
        rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)w + 1;
        snprintf(id, sizeof(id), "w%d", w);
        h.n = 0;
        cairn_outputs_init(&out);
        cairn_event_t in = ev_start(id, "start", "p", "{\"n\":1}", t);
        for (int s = 0; s < 60; s++) {
            step_lim(reg, &lim, &wf, &in, &out);
            steps++;
            for (size_t i = 0; i < out.n; i++) {
                if (out.v[i].dest != CAIRN_OUT_HISTORY)
                    continue;
                if (h.n >= sizeof(h.v) / sizeof(h.v[0]))
                    fail_msg("history too long");
                assert_int_equal(cairn_event_copy(&h.v[h.n++], &out.v[i].ev),
                                 0);
            }
            if (wf && cairn_wf_status(wf) != CAIRN_WF_RUNNING &&
                cairn_wf_timer_count(wf))
                fail_msg("seed %llu wf %d: closed run with pending timers",
                         (unsigned long long)seed, w);
            t += 1 + pick(60);
            in = random_input(wf, id, t, bufs);
        }
        if (wf && cairn_wf_status(wf) != CAIRN_WF_RUNNING) {
            /* TimerStarted of the last run all matched. */
            closed++;
            int64_t started = 0, ended = 0;
            for (size_t i = 0; i < h.n; i++) {
                if (h.v[i].type == CAIRN_EV_WORKFLOW_STARTED)
                    started = ended = 0;
                started += h.v[i].type == CAIRN_EV_TIMER_STARTED;
                ended += h.v[i].type == CAIRN_EV_TIMER_FIRED ||
                         h.v[i].type == CAIRN_EV_TIMER_CANCELED;
            }
            if (started != ended)
                fail_msg("seed %llu wf %d: %lld timers started, %lld ended",
                         (unsigned long long)seed, w, (long long)started,
                         (long long)ended);
        }
        if (wf) {
            char err[512] = "";
            int64_t div = -1;
            cairn_wf_t *back = NULL;
            assert_int_equal(cairn_engine_replay(reg, &lim, h.v, h.n, &back,
                                                 &div, err, sizeof(err)),
                             CAIRN_ERR_OK);
            if (div)
                fail_msg("seed %llu wf %d: replay diverged at %lld: %s",
                         (unsigned long long)seed, w, (long long)div, err);
            assert_int_equal(cairn_wf_seq(back), cairn_wf_seq(wf));
            assert_int_equal(cairn_wf_status(back), cairn_wf_status(wf));
            cairn_wf_destroy(back);
        }
        for (size_t i = 0; i < h.n; i++)
            cairn_event_clear(&h.v[i]);
        cairn_outputs_free(&out);
        cairn_wf_destroy(wf);
    }
    print_message("random walk: %d workflows, %zu steps, %zu closed\n", runs,
                  steps, closed);
    assert_true(closed > 0);
    cairn_registry_destroy(reg);
}

/*
 * With memory available, user JSON is never classified as out-of-memory:
 * random short texts over a JSON-ish alphabet (escapes, surrogates, numbers,
 * keywords) are either accepted or refused with a reason.
 */
static void test_json_classifier(void **state) {
    (void)state;
    static const char *const atoms[] = {
        "{", "}", "[", "]", "\"", ",", ":", "\\", "\\u", "d800", "DC00",
        "0041", "0000", "0", "1", "-", "+", ".", "e", "E", "true", "false",
        "null", " ", "\"a\"", "\\n", "\xc3\xa9", "\xff", "9999999999999999999",
        "1e999", "\"k\":"};
    const size_t natoms = sizeof(atoms) / sizeof(atoms[0]);
    size_t accepted = 0;
    rng = 12345;
    for (int i = 0; i < 200000; i++) {
        char text[256] = "";
        int n = 1 + pick(8);
        for (int k = 0; k < n; k++)
            strcat(text, atoms[pick((int)natoms)]);
        int oom = 1;
        char why[200] = "";
        json_t *v = cairn__json_parse(text, &oom, why, sizeof(why));
        if (oom)
            fail_msg("'%s' classified as out of memory", text);
        if (v)
            accepted++;
        else if (!why[0])
            fail_msg("'%s' refused without a reason", text);
        json_decref(v);
    }
    print_message("json classifier: %zu of 200000 accepted\n", accepted);
    assert_true(accepted > 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_walk),
        cmocka_unit_test(test_json_classifier),
    };
    return cmocka_run_group_tests_name("engine_property", tests, NULL, NULL);
}
