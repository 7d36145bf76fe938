/*
 * cf_definitions.c — feature 1: a workflow type is a versioned FSM, validated
 * at registration with a precise error (unknown state, unreachable state, no
 * terminal state, bad guard, ...); type@version is immutable.
 */
#include "cases.h"

/* Every command kind and every event kind, in one definition. */
static const char *EVERYTHING =
    "{'type':'every','version':1,'initial':'a','on_cancel':'undo',"
    "'execution_timeout_ms':100000,'retry':{'maximum_attempts':2},"
    "'states':["
    "{'name':'a','on_enter':[{'assign':{'n':0}},"
    "{'activity':'work','id':'w','input':'$.vars','compensation':"
    "{'activity':'unwork','input':'$.result'}},"
    "{'timer':{'id':'t','after_ms':10}},{'sleep_ms':20},"
    "{'wait_signal':{'name':'go','timeout_ms':30}},"
    "{'child':{'id':'k','workflow_type':'leaf','parent_close_policy':"
    "'abandon'}}],"
    "'on':[{'event':'activity_completed','activity':'w','target':'b'},"
    "{'event':'activity_failed','target':'undo'},"
    "{'event':'timer_fired','timer':'t','target':'b'},"
    "{'event':'signal_received','signal':'go','when':'$.payload.n > 1 && "
    "!($.vars.n == 5) || $.signal == null','target':'b'},"
    "{'event':'signal_timeout','signal':'go','target':'b'},"
    "{'event':'child_completed','child':'k','target':'b'},"
    "{'event':'child_failed','target':'undo'}]},"
    "{'name':'b','on':[{'event':'always','when':'$.vars.n >= 3',"
    "'target':'c'},{'event':'always','target':'d'}]},"
    "{'name':'c','on_enter':[{'continue_as_new':{'input':{'n':1}}}]},"
    "{'name':'d','on_enter':[{'complete':'$.vars'}]},"
    "{'name':'undo','on_enter':[{'compensate':true}],'on':["
    "{'event':'compensation_completed','target':'gone'},"
    "{'event':'compensation_failed','target':'bad'}]},"
    "{'name':'gone','on_enter':[{'cancel':{'reason':'undone'}}]},"
    "{'name':'bad','on_enter':[{'fail':{'error_type':'Bad'}}]}]}";

void cf_def_every_construct_registers(void **state) {
    (void)state;
    cf_world_t *w = cf_new(NULL);
    cf_def(w, EVERYTHING);
    cf_def(w, "{'type':'leaf','version':1,'initial':'a','states':["
              "{'name':'a','on_enter':[{'sleep_ms':5}],'on':[{'event':"
              "'timer_fired','target':'b'}]},{'name':'b','on_enter':["
              "{'complete':null}]}]}");
    const cairn_def_t *d = cairn_registry_get(w->reg, "every", 0);
    assert_non_null(d);
    assert_int_equal(cairn_def_version(d), 1);
    assert_null(cairn_registry_get(w->reg, "every", 2));
    assert_null(cairn_registry_get(w->reg, "nope", 0));
    /* And it runs: the initial state's commands, in order. */
    cf_start(w, "e1", "every", "{}");
    assert_string_equal(cf_task_names(w), "work");
    /* e1: workflow:timeout, t, a.sleep, signal:go; then the child's. */
    assert_int_equal(cf_count(w, CAIRN_EV_TIMER_STARTED), 5);
    assert_int_equal(cf_count(w, CAIRN_EV_START_WORKFLOW), 1);
    cf_status(w, "e1", CAIRN_WF_RUNNING, "a");
    cf_status(w, "e1:k", CAIRN_WF_RUNNING, "a");
    cf_terminate(w, "e1", NULL);
    cf_status(w, "e1:k", CAIRN_WF_RUNNING, "a"); /* abandoned */
    cf_fire(w, "e1:k", "a.sleep");
    cf_status(w, "e1:k", CAIRN_WF_COMPLETED, "b");
    cf_free(w);
}

static const struct {
    const char *def; /* ' for " */
    const char *want;
} ERRORS[] = {
    /* unknown states */
    {"{'type':'x','version':1,'initial':'nope','states':[{'name':'a',"
     "'on_enter':[{'complete':null}]}]}",
     "initial state 'nope' is not a state"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'sleep_ms':1}],'on':[{'event':'timer_fired',"
     "'target':'dne'}]}]}",
     "state 'a': on[0]: transition target 'dne' is not a state"},
    {"{'type':'x','version':1,'initial':'a','on_cancel':'nope','states':[{"
     "'name':'a','on_enter':[{'complete':null}]}]}",
     "on_cancel 'nope' is not a state"},
    /* unreachable state */
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'complete':null}]},{'name':'b','on_enter':[{'complete':"
     "null}]}]}",
     "state 'b' is unreachable from the initial state 'a'"},
    /* no terminal state */
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'sleep_ms':1}],'on':[{'event':'timer_fired',"
     "'target':'a'}]}]}",
     "no terminal state (a state whose on_enter ends with complete, fail, "
     "cancel or continue_as_new)"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'sleep_ms':1}]}]}",
     "state 'a': state is not terminal and has no transitions (add 'on', or "
     "end on_enter with complete/fail/cancel/continue_as_new)"},
    /* bad guards: syntax (with the offset), roots the context lacks */
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a','on':["
     "{'event':'always','when':'$.vars.a >','target':'b'}]},{'name':'b',"
     "'on_enter':[{'complete':null}]}]}",
     "state 'a': on[0]: bad guard: *"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a','on':["
     "{'event':'always','when':'$.result.ok','target':'b'}]},{'name':'b',"
     "'on_enter':[{'complete':null}]}]}",
     "state 'a': on[0]: bad guard: *"},
    /* strict keys */
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'complete':null}],'onn':[]}]}",
     "state 'a': state: unknown key 'onn'"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'activity':'w','retries':3}],'on':[{'event':"
     "'activity_completed','target':'a'}]}]}",
     "state 'a': on_enter[0]: activity: unknown key 'retries'"},
    /* structure */
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'complete':null}]},{'name':'a','on_enter':[{'complete':"
     "null}]}]}",
     "duplicate state 'a'"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'complete':null}],'on':[{'event':'always','target':"
     "'a'}]}]}",
     "state 'a': a terminal state has no transitions ('on')"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'activity':'w'}],'on':[{'event':'activity_completed',"
     "'activity':'v','target':'a'}]}]}",
     "state 'a': on[0]: transition on activity 'v', which this state does "
     "not start"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'activity':'w','id':'a:b'}],'on':[{'event':"
     "'activity_completed','target':'a'}]}]}",
     "state 'a': on_enter[0]: activity 'w': 'id' value 'a:b' must be 1-128 "
     "characters of [A-Za-z0-9_.-]"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'wait_signal':'cairn.go'}],'on':[{'event':"
     "'signal_received','signal':'cairn.go','target':'a'}]}]}",
     "state 'a': on_enter[0]: wait_signal: signal names starting with "
     "'cairn.' are reserved"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'child':{'id':'k','workflow_type':'y',"
     "'parent_close_policy':'orphan'}}],'on':[{'event':'child_completed',"
     "'target':'a'}]}]}",
     "state 'a': on_enter[0]: child 'k': 'parent_close_policy' must be "
     "terminate, request_cancel or abandon"},
    {"{'type':'x','version':1,'initial':'a','states':[{'name':'a',"
     "'on_enter':[{'complete':'$.payload'}]}]}",
     "state 'a': on_enter[0]: complete: *"},
    {"{'type':'x','initial':'a','states':[{'name':'a','on_enter':["
     "{'complete':null}]}]}",
     "definition: 'version' is required (an integer >= 1)"},
    {"not json", "invalid JSON at line 1 column *"},
};

void cf_def_validation_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(ERRORS) / sizeof(ERRORS[0]); i++)
        cf_refused(ERRORS[i].def, ERRORS[i].want);
}

void cf_def_guard_error_offset(void **state) {
    (void)state;
    char err[512] = "";
    char *json = cf_q("{'type':'x','version':1,'initial':'a','states':[{"
                      "'name':'a','on':[{'event':'always','when':"
                      "'$.vars.a == 1 &&','target':'b'}]},{'name':'b',"
                      "'on_enter':[{'complete':null}]}]}");
    assert_null(cairn_def_from_json(json, strlen(json), err, sizeof(err)));
    /* The message says where in the guard the problem is. */
    if (!strstr(err, "offset") && !strstr(err, "at "))
        fail_msg("guard error without a position: %s", err);
    free(json);
}

void cf_def_versions_immutable(void **state) {
    (void)state;
    char err[512] = "";
    const char *v1 = "{\"type\":\"im\",\"version\":1,\"initial\":\"a\","
                     "\"states\":[{\"name\":\"a\",\"on_enter\":[{"
                     "\"complete\":1}]}]}";
    /* The same body, written differently: a no-op. */
    const char *v1b = "{ \"states\": [ {\"on_enter\": [{\"complete\": 1}], "
                      "\"name\": \"a\"} ], \"initial\": \"a\", "
                      "\"version\": 1, \"type\": \"im\" }";
    const char *v1x = "{\"type\":\"im\",\"version\":1,\"initial\":\"a\","
                      "\"states\":[{\"name\":\"a\",\"on_enter\":[{"
                      "\"complete\":2}]}]}";
    const char *v2 = "{\"type\":\"im\",\"version\":2,\"initial\":\"a\","
                     "\"states\":[{\"name\":\"a\",\"on_enter\":[{"
                     "\"complete\":2}]}]}";
    cairn_registry_t *reg = reg_with(v1);
    char *c1 = cf_canon(v1), *c1b = cf_canon(v1b);
    assert_string_equal(c1, c1b);
    free(c1);
    free(c1b);
    reg_add(reg, v1b);
    assert_int_equal(cairn_registry_count(reg), 1);
    cairn_def_t *d = cairn_def_from_json(v1x, strlen(v1x), err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(cairn_registry_put(reg, d, err, sizeof(err)),
                     CAIRN_ERR_DEFINITION);
    assert_non_null(strstr(err, "im@1"));
    cairn_def_destroy(d); /* ownership stays with the caller on failure */
    reg_add(reg, v2);
    assert_int_equal(cairn_registry_count(reg), 2);
    assert_int_equal(cairn_def_version(cairn_registry_get(reg, "im", 0)), 2);
    assert_int_equal(cairn_def_version(cairn_registry_get(reg, "im", 1)), 1);
    cairn_registry_destroy(reg);
}
