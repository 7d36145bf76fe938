/*
 * eventjson.c — driven by the per-type field lists of event.h.
 */
#include "eventjson.h"

#include <string.h>

static int is_json_field(const char *name) {
    return !strcmp(name, "input") || !strcmp(name, "payload") ||
           !strcmp(name, "result") || !strcmp(name, "data");
}

static void put_str(json_t *o, const char *name, const char *v) {
    if (!v)
        return;
    json_t *j = NULL;
    if (is_json_field(name))
        j = json_loads(v, JSON_DECODE_ANY, NULL);
    json_object_set_new(o, name, j ? j : json_string(v));
}


/* Kind of each dictionary field, to pick the writer in the type lists. */
#define KIND_OF(f, kind, doc) KIND_##f = CAIRN_K_##kind,
enum { CAIRN_K_STR, CAIRN_K_LONG, CAIRN_K_INT };
enum { CAIRN_EVENT_FIELDS(KIND_OF) };
#undef KIND_OF

static void put_field(json_t *o, const cairn_event_t *ev, const char *name,
                      int kind, int opt, size_t off) {
    const char *base = (const char *)ev;
    if (kind == CAIRN_K_STR) {
        put_str(o, name, *(char *const *)(base + off));
    } else if (kind == CAIRN_K_LONG) {
        int64_t v = *(const int64_t *)(base + off);
        if (v || !opt)
            json_object_set_new(o, name, json_integer(v));
    } else {
        int32_t v = *(const int32_t *)(base + off);
        if (v || !opt)
            json_object_set_new(o, name, json_integer(v));
    }
}

#define FIELD(f, req)                                                          \
    put_field(o, ev, #f, KIND_##f, !strcmp(#req, "OPT"),                       \
              offsetof(cairn_event_t, f));

json_t *cairn_event_to_json(const cairn_event_t *ev) {
    json_t *o = json_object();
    const char *name = cairn_event_type_name(ev->type);
    if (!o)
        return NULL;
    json_object_set_new(o, "type", json_string(name ? name : "?"));
    switch (ev->type) {
    case CAIRN_EV_START_WORKFLOW:
        CAIRN_FIELDS_StartWorkflow(FIELD) break;
    case CAIRN_EV_SIGNAL_WORKFLOW:
        CAIRN_FIELDS_SignalWorkflow(FIELD) break;
    case CAIRN_EV_CANCEL_WORKFLOW:
        CAIRN_FIELDS_CancelWorkflow(FIELD) break;
    case CAIRN_EV_TERMINATE_WORKFLOW:
        CAIRN_FIELDS_TerminateWorkflow(FIELD) break;
    case CAIRN_EV_WORKFLOW_STARTED:
        CAIRN_FIELDS_WorkflowStarted(FIELD) break;
    case CAIRN_EV_ACTIVITY_SCHEDULED:
        CAIRN_FIELDS_ActivityScheduled(FIELD) break;
    case CAIRN_EV_ACTIVITY_TASK:
        CAIRN_FIELDS_ActivityTask(FIELD) break;
    case CAIRN_EV_ACTIVITY_COMPLETED:
        CAIRN_FIELDS_ActivityCompleted(FIELD) break;
    case CAIRN_EV_ACTIVITY_FAILED:
        CAIRN_FIELDS_ActivityFailed(FIELD) break;
    case CAIRN_EV_ACTIVITY_HEARTBEAT:
        CAIRN_FIELDS_ActivityHeartbeat(FIELD) break;
    case CAIRN_EV_ACTIVITY_TIMED_OUT:
        CAIRN_FIELDS_ActivityTimedOut(FIELD) break;
    case CAIRN_EV_TIMER_STARTED:
        CAIRN_FIELDS_TimerStarted(FIELD) break;
    case CAIRN_EV_TIMER_FIRED:
        CAIRN_FIELDS_TimerFired(FIELD) break;
    case CAIRN_EV_TIMER_CANCELED:
        CAIRN_FIELDS_TimerCanceled(FIELD) break;
    case CAIRN_EV_SIGNAL_RECEIVED:
        CAIRN_FIELDS_SignalReceived(FIELD) break;
    case CAIRN_EV_WORKFLOW_COMPLETED:
        CAIRN_FIELDS_WorkflowCompleted(FIELD) break;
    case CAIRN_EV_WORKFLOW_FAILED:
        CAIRN_FIELDS_WorkflowFailed(FIELD) break;
    case CAIRN_EV_WORKFLOW_CANCELED:
        CAIRN_FIELDS_WorkflowCanceled(FIELD) break;
    case CAIRN_EV_WORKFLOW_TERMINATED:
        CAIRN_FIELDS_WorkflowTerminated(FIELD) break;
    case CAIRN_EV_WORKFLOW_CONTINUED_AS_NEW:
        CAIRN_FIELDS_WorkflowContinuedAsNew(FIELD) break;
    case CAIRN_EV_REJECTED:
        CAIRN_FIELDS_Rejected(FIELD) break;
    case CAIRN_EV_WORKFLOW_STATE:
        CAIRN_FIELDS_WorkflowState(FIELD) break;
    default:
        break;
    }
    return o;
}
