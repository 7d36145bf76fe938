/*
 * wf.c — a workflow instance's state, and its deterministic encoding.
 *
 * A cairn_wf_t owns one jansson object, the document below; step.c edits it
 * in place (a failed step leaves it half-changed: the caller discards it).
 * Encoding is compact JSON with sorted keys (cairn__json_dump): keys are
 * sorted and every array is in event order, so equal states encode to equal
 * bytes. Decoding checks the shape fully, so step.c may trust every member.
 *
 *   format       1
 *   id, type     workflow id and type;  version  the pinned definition version
 *   status       "running" | "completed" | ... (cairn_wf_status_name)
 *   state        current FSM state name (kept after close)
 *   seq          last history seq;  run  run number from 1 (terminate_existing
 *                and continue-as-new start a new run);  run_seq  seq of the
 *                run's WorkflowStarted
 *   started_ms, updated_ms;  timer_gen  last timer generation handed out
 *                (never reset, so an old run's timer can never fire a new one)
 *   start_request_id;  parent_id (absent if none)
 *   input        the run's start input (any JSON; null if none)
 *   vars         workflow variables (an object)
 *   acts         pending activities and children, in scheduling order:
 *                {id, def, kind: activity|child|compensation, name, queue,
 *                 attempt, input, backoff: 0|1, first_ms; children also
 *                 child_wf (the child's workflow id) and policy (the
 *                 parent_close_policy)}
 *   timers       pending timers: {id, gen, fire_at}, in start order
 *   signals      buffered signals: {name, request_id, payload, seq}
 *   request_ids  the most recent client request ids, oldest first
 *   runs         def id -> how many times it was scheduled (runtime ids)
 *   saga         compensations of completed activities, oldest first:
 *                {def, input}
 *   canceling    1 once a cancel request moved the run onto its cancel path
 *
 * Accessors return pointers into the document: valid until the workflow is
 * changed (by cairn_engine_step(), in place) or destroyed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const status_names[] = {
    [CAIRN_WF_RUNNING] = "running",
    [CAIRN_WF_COMPLETED] = "completed",
    [CAIRN_WF_FAILED] = "failed",
    [CAIRN_WF_CANCELED] = "canceled",
    [CAIRN_WF_TERMINATED] = "terminated",
    [CAIRN_WF_CONTINUED_AS_NEW] = "continued_as_new",
};
#define N_STATUS ((int)(sizeof(status_names) / sizeof(status_names[0])))

const char *cairn_wf_status_name(cairn_wf_status_t status) {
    if ((int)status <= 0 || (int)status >= N_STATUS)
        return "unknown";
    return status_names[status];
}

static cairn_wf_status_t status_from_name(const char *s) {
    for (int i = 1; s && i < N_STATUS; i++)
        if (!strcmp(status_names[i], s))
            return (cairn_wf_status_t)i;
    return 0;
}

const char *cairn__jstr(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

int64_t cairn__jint(const json_t *obj, const char *key) {
    return json_integer_value(json_object_get(obj, key));
}

cairn_wf_t *cairn__wf_wrap(json_t *doc) {
    cairn_wf_t *wf;
    if (!doc)
        return NULL;
    if (!(wf = malloc(sizeof(*wf)))) {
        json_decref(doc);
        return NULL;
    }
    wf->doc = doc;
    return wf;
}

/* ---- shape checking ---------------------------------------------------- */

typedef struct {
    const char *key;
    json_type type; /* JSON_TRUE = any; JSON_FALSE = string or null */
    int optional;
} field_t;

static int check_fields(const json_t *obj, const field_t *f, const char *what,
                        char *err, size_t errsz) {
    if (!json_is_object(obj)) {
        snprintf(err, errsz, "%s: not an object", what);
        return -1;
    }
    for (; f->key; f++) {
        const json_t *v = json_object_get(obj, f->key);
        int ok;
        if (!v) {
            if (f->optional)
                continue;
            snprintf(err, errsz, "%s: missing '%s'", what, f->key);
            return -1;
        }
        if (f->type == JSON_TRUE)
            ok = 1;
        else if (f->type == JSON_FALSE)
            ok = json_is_string(v) || json_is_null(v);
        else
            ok = json_typeof(v) == f->type;
        if (!ok) {
            snprintf(err, errsz, "%s: '%s' has the wrong type", what, f->key);
            return -1;
        }
    }
    return 0;
}

static int check_array(const json_t *doc, const char *key, const field_t *f,
                       char *err, size_t errsz) {
    size_t i;
    json_t *v;
    char what[64];
    json_array_foreach(json_object_get(doc, key), i, v) {
        snprintf(what, sizeof(what), "%s[%zu]", key, i);
        if (f ? check_fields(v, f, what, err, errsz) : !json_is_string(v)) {
            if (!f)
                snprintf(err, errsz, "%s: not a string", what);
            return -1;
        }
    }
    return 0;
}

int cairn__wf_check(const json_t *doc, char *err, size_t errsz) {
    static const field_t top[] = {
        {"format", JSON_INTEGER, 0},    {"id", JSON_STRING, 0},
        {"type", JSON_STRING, 0},       {"version", JSON_INTEGER, 0},
        {"status", JSON_STRING, 0},     {"state", JSON_FALSE, 0},
        {"seq", JSON_INTEGER, 0},       {"run", JSON_INTEGER, 0},
        {"run_seq", JSON_INTEGER, 0},   {"started_ms", JSON_INTEGER, 0},
        {"updated_ms", JSON_INTEGER, 0}, {"timer_gen", JSON_INTEGER, 0},
        {"start_request_id", JSON_STRING, 0},
        {"parent_id", JSON_STRING, 1},  {"input", JSON_TRUE, 0},
        {"vars", JSON_OBJECT, 0},       {"acts", JSON_ARRAY, 0},
        {"timers", JSON_ARRAY, 0},      {"signals", JSON_ARRAY, 0},
        {"request_ids", JSON_ARRAY, 0}, {"runs", JSON_OBJECT, 0},
        {"saga", JSON_ARRAY, 0},        {"canceling", JSON_INTEGER, 0},
        {NULL, 0, 0}};
    static const field_t act[] = {
        {"id", JSON_STRING, 0},      {"def", JSON_STRING, 0},
        {"kind", JSON_STRING, 0},    {"name", JSON_STRING, 0},
        {"queue", JSON_STRING, 0},   {"attempt", JSON_INTEGER, 0},
        {"input", JSON_TRUE, 0},     {"backoff", JSON_INTEGER, 0},
        {"first_ms", JSON_INTEGER, 0}, {"child_wf", JSON_STRING, 1},
        {"policy", JSON_STRING, 1},  {NULL, 0, 0}};
    static const field_t timer[] = {{"id", JSON_STRING, 0},
                                    {"gen", JSON_INTEGER, 0},
                                    {"fire_at", JSON_INTEGER, 0},
                                    {NULL, 0, 0}};
    static const field_t sig[] = {{"name", JSON_STRING, 0},
                                  {"request_id", JSON_STRING, 0},
                                  {"payload", JSON_TRUE, 0},
                                  {"seq", JSON_INTEGER, 0},
                                  {NULL, 0, 0}};
    static const field_t saga[] = {{"def", JSON_STRING, 0},
                                   {"input", JSON_TRUE, 0},
                                   {NULL, 0, 0}};
    const char *k;
    json_t *v;
    if (check_fields(doc, top, "state", err, errsz))
        return -1;
    if (cairn__jint(doc, "format") != 1) {
        snprintf(err, errsz, "state: unknown format %lld",
                 (long long)cairn__jint(doc, "format"));
        return -1;
    }
    if (!status_from_name(cairn__jstr(doc, "status"))) {
        snprintf(err, errsz, "state: unknown status '%s'",
                 cairn__jstr(doc, "status"));
        return -1;
    }
    if (check_array(doc, "acts", act, err, errsz) ||
        check_array(doc, "timers", timer, err, errsz) ||
        check_array(doc, "signals", sig, err, errsz) ||
        check_array(doc, "saga", saga, err, errsz) ||
        check_array(doc, "request_ids", NULL, err, errsz))
        return -1;
    json_object_foreach((json_t *)json_object_get(doc, "runs"), k, v) {
        if (!json_is_integer(v)) {
            snprintf(err, errsz, "state: runs['%s'] is not an integer", k);
            return -1;
        }
    }
    return 0;
}

/* ---- public ------------------------------------------------------------ */

char *cairn_wf_encode(const cairn_wf_t *wf, size_t *lenp) {
    char *s;
    if (!wf)
        return NULL;
    s = cairn__json_dump(wf->doc, lenp);
    return s;
}

cairn_err_t cairn_wf_load(const char *data, size_t len, cairn_wf_t **wfp,
                          char *errstr, size_t errstr_size) {
    json_error_t jerr;
    char msg[256];
    json_t *doc;
    *wfp = NULL;
    if (!data)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE, "no data");
    memset(&jerr, 0, sizeof(jerr));
    if (!(doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr))) {
        if (cairn__json_refused_for_memory(data, len, &jerr))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                                 "out of memory");
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                             "workflow state: invalid JSON at column %d: %s",
                             jerr.column, jerr.text);
    }
    if (cairn__wf_check(doc, msg, sizeof(msg))) {
        json_decref(doc);
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                             "workflow %s", msg);
    }
    if (!(*wfp = cairn__wf_wrap(doc)))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                             "out of memory");
    return CAIRN_ERR_OK;
}

cairn_wf_t *cairn_wf_decode(const char *data, size_t len, char *errstr,
                            size_t errstr_size) {
    cairn_wf_t *wf;
    cairn_wf_load(data, len, &wf, errstr, errstr_size);
    return wf;
}

cairn_wf_t *cairn_wf_clone(const cairn_wf_t *wf) {
    return wf ? cairn__wf_wrap(json_deep_copy(wf->doc)) : NULL;
}

void cairn_wf_destroy(cairn_wf_t *wf) {
    if (!wf)
        return;
    json_decref(wf->doc);
    free(wf);
}

const char *cairn_wf_id(const cairn_wf_t *wf) {
    return cairn__jstr(wf->doc, "id");
}

const char *cairn_wf_type(const cairn_wf_t *wf) {
    return cairn__jstr(wf->doc, "type");
}

int cairn_wf_version(const cairn_wf_t *wf) {
    return (int)cairn__jint(wf->doc, "version");
}

cairn_wf_status_t cairn_wf_status(const cairn_wf_t *wf) {
    return status_from_name(cairn__jstr(wf->doc, "status"));
}

const char *cairn_wf_fsm_state(const cairn_wf_t *wf) {
    return cairn__jstr(wf->doc, "state");
}

int64_t cairn_wf_seq(const cairn_wf_t *wf) {
    return cairn__jint(wf->doc, "seq");
}

int64_t cairn_wf_started_ms(const cairn_wf_t *wf) {
    return cairn__jint(wf->doc, "started_ms");
}

int64_t cairn_wf_updated_ms(const cairn_wf_t *wf) {
    return cairn__jint(wf->doc, "updated_ms");
}

size_t cairn_wf_timer_count(const cairn_wf_t *wf) {
    return json_array_size(json_object_get(wf->doc, "timers"));
}

void cairn_wf_timer_at(const cairn_wf_t *wf, size_t i, const char **timer_id,
                       int64_t *generation, int64_t *fire_at_ms) {
    const json_t *t = json_array_get(json_object_get(wf->doc, "timers"), i);
    if (timer_id)
        *timer_id = cairn__jstr(t, "id");
    if (generation)
        *generation = cairn__jint(t, "gen");
    if (fire_at_ms)
        *fire_at_ms = cairn__jint(t, "fire_at");
}

const char *cairn_wf_parent_id(const cairn_wf_t *wf) {
    return cairn__jstr(wf->doc, "parent_id");
}

int64_t cairn_wf_run(const cairn_wf_t *wf) {
    return cairn__jint(wf->doc, "run");
}

char *cairn_wf_vars_json(const cairn_wf_t *wf) {
    return cairn__json_dump(json_object_get(wf->doc, "vars"), NULL);
}

size_t cairn_wf_activity_count(const cairn_wf_t *wf) {
    return json_array_size(json_object_get(wf->doc, "acts"));
}

void cairn_wf_activity_at(const cairn_wf_t *wf, size_t i,
                          const char **activity_id, const char **kind,
                          int32_t *attempt) {
    const json_t *a = json_array_get(json_object_get(wf->doc, "acts"), i);
    if (activity_id)
        *activity_id = cairn__jstr(a, "id");
    if (kind)
        *kind = cairn__jstr(a, "kind");
    if (attempt)
        *attempt = (int32_t)cairn__jint(a, "attempt");
}

size_t cairn_wf_signal_count(const cairn_wf_t *wf) {
    return json_array_size(json_object_get(wf->doc, "signals"));
}
