/*
 * replay.c — re-runs the engine over a recorded history and reports the
 * first divergence (the core of `cairn replay ID`).
 *
 * The history of a workflow holds every accepted input in some form, so the
 * inputs can be rebuilt from it:
 *   WorkflowStarted      -> StartWorkflow (terminate_existing for a later run)
 *   SignalReceived       -> SignalWorkflow, or CancelWorkflow for the
 *                           reserved signal "cairn.cancel"
 *   ActivityCompleted, ActivityFailed, ActivityHeartbeat, TimerFired
 *                     -> themselves (seq cleared)
 *   WorkflowTerminated, WorkflowCanceled (when not produced by the replay,
 *                        possibly after the TimerCanceled records the
 *                        request caused) -> TerminateWorkflow / CancelWorkflow
 *   Rejected             -> skipped: it only occupies a seq
 * Every history event the replayed steps produce must equal the recorded one
 * at the same position, field by field. Pure: no I/O; the caller reads the
 * history (in seq order) and owns it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "outputs.h"

/* 1 if equal; else 0 with the first differing field's name in *field. */
static int ev_equal(const cairn_event_t *a, const cairn_event_t *b,
                    const char **field) {
    if (a->type != b->type) {
        *field = "type";
        return 0;
    }
#define CMP_STR(f)                                                             \
    if ((a->f == NULL) != (b->f == NULL) ||                                    \
        (a->f && strcmp(a->f, b->f))) {                                        \
        *field = #f;                                                           \
        return 0;                                                              \
    }
#define CMP_NUM(f)                                                             \
    if (a->f != b->f) {                                                        \
        *field = #f;                                                           \
        return 0;                                                              \
    }
#define CMP_LONG(f) CMP_NUM(f)
#define CMP_INT(f) CMP_NUM(f)
#define CMP(f, kind, doc) CMP_##kind(f)
    CAIRN_EVENT_FIELDS(CMP)
#undef CMP
#undef CMP_STR
#undef CMP_NUM
#undef CMP_LONG
#undef CMP_INT
    return 1;
}

/*
 * Builds in *in the input that produced the recorded event h. Returns 1 if
 * h is an input record, 0 if it is not (in untouched), -1 on out-of-memory.
 */
static int input_of(const cairn_event_t *h, const cairn_wf_t *wf,
                    cairn_event_t *in) {
    char rid[64];
    json_t *p;
    memset(in, 0, sizeof(*in));
    snprintf(rid, sizeof(rid), "replay:%lld", (long long)h->seq);
    switch (h->type) {
    case CAIRN_EV_WORKFLOW_STARTED:
        in->type = CAIRN_EV_START_WORKFLOW;
        if (cairn_event_set(&in->workflow_id, h->workflow_id) ||
            cairn_event_set(&in->request_id, h->request_id) ||
            cairn_event_set(&in->workflow_type, h->workflow_type) ||
            cairn_event_set(&in->input, h->input) ||
            cairn_event_set(&in->parent_workflow_id, h->parent_workflow_id) ||
            (wf && cairn_event_set(&in->start_policy, "terminate_existing")))
            goto err;
        in->version = h->version;
        break;
    case CAIRN_EV_SIGNAL_RECEIVED:
        if (h->signal_name && !strcmp(h->signal_name, "cairn.cancel")) {
            in->type = CAIRN_EV_CANCEL_WORKFLOW;
            p = h->payload ? json_loads(h->payload, 0, NULL) : NULL;
            int rc = cairn_event_set(
                &in->reason, json_string_value(json_object_get(p, "reason")));
            json_decref(p);
            if (rc || cairn_event_set(&in->workflow_id, h->workflow_id) ||
                cairn_event_set(&in->request_id, h->request_id))
                goto err;
            break;
        }
        in->type = CAIRN_EV_SIGNAL_WORKFLOW;
        if (cairn_event_set(&in->workflow_id, h->workflow_id) ||
            cairn_event_set(&in->request_id, h->request_id) ||
            cairn_event_set(&in->signal_name, h->signal_name) ||
            cairn_event_set(&in->payload, h->payload))
            goto err;
        break;
    case CAIRN_EV_ACTIVITY_COMPLETED:
    case CAIRN_EV_ACTIVITY_FAILED:
    case CAIRN_EV_ACTIVITY_HEARTBEAT:
    case CAIRN_EV_TIMER_FIRED:
        if (cairn_event_copy(in, h))
            goto err;
        in->seq = 0;
        break;
    case CAIRN_EV_WORKFLOW_TERMINATED:
    case CAIRN_EV_WORKFLOW_CANCELED:
        in->type = h->type == CAIRN_EV_WORKFLOW_TERMINATED
                       ? CAIRN_EV_TERMINATE_WORKFLOW
                       : CAIRN_EV_CANCEL_WORKFLOW;
        if (cairn_event_set(&in->workflow_id, h->workflow_id) ||
            cairn_event_set(&in->request_id, rid) ||
            cairn_event_set(&in->reason, h->reason))
            goto err;
        break;
    default: return 0;
    }
    in->time_ms = h->time_ms;
    return 1;
err:
    cairn_event_clear(in);
    return -1;
}

static const char *tname(cairn_event_type_t t) {
    const char *s = cairn_event_type_name(t);
    return s ? s : "?";
}

cairn_err_t cairn_engine_replay(const cairn_registry_t *reg,
                                const cairn_limits_t *limits,
                                const cairn_event_t *history, size_t n,
                                cairn_wf_t **wfp, int64_t *diverged_seq,
                                char *errstr, size_t errstr_size) {
    cairn_outputs_t out;
    cairn_wf_t *wf = NULL;
    cairn_event_t in;
    cairn_err_t err = CAIRN_ERR_OK;
    size_t next = 0; /* next produced output to match */
    const char *field;
    *diverged_seq = 0;
    cairn_outputs_init(&out);
    for (size_t i = 0; i < n && !*diverged_seq; i++) {
        const cairn_event_t *h = &history[i];
        /* Skip produced outputs that history does not hold. */
        while (next < out.n && out.v[next].dest != CAIRN_OUT_HISTORY)
            next++;
        if (next < out.n) {
            if (!ev_equal(&out.v[next].ev, h, &field)) {
                *diverged_seq = h->seq ? h->seq : (int64_t)i + 1;
                cairn__seterr(errstr, errstr_size, CAIRN_ERR_OK,
                              "seq %lld: recorded %s, replay produced %s "
                              "(first difference: %s)",
                              (long long)h->seq, tname(h->type),
                              tname(out.v[next].ev.type), field);
            }
            next++;
            continue;
        }
        if (h->type == CAIRN_EV_REJECTED && wf &&
            h->seq == cairn_wf_seq(wf) + 1) {
            if (json_object_set_new(wf->doc, "seq", json_integer(h->seq))) {
                err = CAIRN_ERR_NOMEM;
                break;
            }
            continue;
        }
        int rc = input_of(h, wf, &in);
        if (rc == 0) {
            /* A terminate/cancel request records its timer cancellations
             * before the closing event: find that event. */
            for (size_t k = i + 1; k < n; k++) {
                cairn_event_type_t t = history[k].type;
                if (t == CAIRN_EV_WORKFLOW_TERMINATED ||
                    t == CAIRN_EV_WORKFLOW_CANCELED)
                    rc = input_of(&history[k], wf, &in);
                if (t != CAIRN_EV_TIMER_CANCELED)
                    break;
            }
        }
        if (rc < 0) {
            err = CAIRN_ERR_NOMEM;
            break;
        }
        if (rc == 0) {
            *diverged_seq = h->seq ? h->seq : (int64_t)i + 1;
            cairn__seterr(errstr, errstr_size, CAIRN_ERR_OK,
                          "seq %lld: recorded %s, which the replay did not "
                          "produce",
                          (long long)h->seq, tname(h->type));
            break;
        }
        cairn_outputs_reset(&out);
        next = 0;
        err = cairn_engine_step(reg, limits, &wf, &in, &out, errstr,
                                errstr_size);
        cairn_event_clear(&in);
        if (err)
            break;
        size_t nhist = 0;
        for (size_t k = 0; k < out.n; k++)
            nhist += out.v[k].dest == CAIRN_OUT_HISTORY;
        if (nhist) {
            i--; /* match h against what the step produced */
        } else {
            /* The input was not accepted: it cannot match anything. */
            *diverged_seq = h->seq ? h->seq : (int64_t)i + 1;
            cairn__seterr(errstr, errstr_size, CAIRN_ERR_OK,
                          "seq %lld: the replayed %s was not accepted",
                          (long long)h->seq, tname(h->type));
        }
    }
    if (!err && !*diverged_seq) {
        while (next < out.n && out.v[next].dest != CAIRN_OUT_HISTORY)
            next++;
        if (next < out.n) {
            *diverged_seq = out.v[next].ev.seq;
            cairn__seterr(errstr, errstr_size, CAIRN_ERR_OK,
                          "seq %lld: replay produced %s, which is not "
                          "recorded",
                          (long long)out.v[next].ev.seq,
                          tname(out.v[next].ev.type));
        }
    }
    cairn_outputs_free(&out);
    if (err || !wfp)
        cairn_wf_destroy(wf);
    else
        *wfp = wf;
    return err;
}
