/*
 * event.h — the in-memory form of every Cairn event.
 *
 * One flat struct serves all event types: each type uses the subset of fields
 * named in CAIRN_EVENT_FIELDS_<Type> below, and the Avro schema of that type
 * (sdk/schemas/<Type>.avsc) has exactly those fields, in that order. Fields a
 * type does not use are zero / NULL. Strings are NUL-terminated, heap-owned by
 * the event, freed by cairn_event_clear(). Fields marked OPT in the list are
 * Avro unions ["null", T] with default null: absent means NULL for strings
 * and 0 for numbers. User payloads (input, result, payload, vars) are JSON
 * documents carried as Avro strings.
 *
 * The engine core only reads and fills this struct; encoding to and from Avro
 * lives in sdk/codec.c.
 */
#ifndef CAIRN_EVENT_H
#define CAIRN_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* X(ENUM_SUFFIX, "AvroName") — the order is part of nothing on the wire. */
#define CAIRN_EVENT_TYPES(X)                                                   \
    X(START_WORKFLOW, "StartWorkflow")                                         \
    X(SIGNAL_WORKFLOW, "SignalWorkflow")                                       \
    X(CANCEL_WORKFLOW, "CancelWorkflow")                                       \
    X(TERMINATE_WORKFLOW, "TerminateWorkflow")                                 \
    X(WORKFLOW_STARTED, "WorkflowStarted")                                     \
    X(ACTIVITY_SCHEDULED, "ActivityScheduled")                                 \
    X(ACTIVITY_TASK, "ActivityTask")                                           \
    X(ACTIVITY_COMPLETED, "ActivityCompleted")                                 \
    X(ACTIVITY_FAILED, "ActivityFailed")                                       \
    X(ACTIVITY_HEARTBEAT, "ActivityHeartbeat")                                 \
    X(ACTIVITY_TIMED_OUT, "ActivityTimedOut")                                  \
    X(TIMER_STARTED, "TimerStarted")                                           \
    X(TIMER_FIRED, "TimerFired")                                               \
    X(TIMER_CANCELED, "TimerCanceled")                                         \
    X(SIGNAL_RECEIVED, "SignalReceived")                                       \
    X(WORKFLOW_COMPLETED, "WorkflowCompleted")                                 \
    X(WORKFLOW_FAILED, "WorkflowFailed")                                       \
    X(WORKFLOW_CANCELED, "WorkflowCanceled")                                   \
    X(WORKFLOW_TERMINATED, "WorkflowTerminated")                               \
    X(WORKFLOW_CONTINUED_AS_NEW, "WorkflowContinuedAsNew")                     \
    X(REJECTED, "Rejected")                                                    \
    X(WORKFLOW_STATE, "WorkflowState")

typedef enum {
    CAIRN_EV_NONE = 0,
#define CAIRN_EV_ENUM(sym, name) CAIRN_EV_##sym,
    CAIRN_EVENT_TYPES(CAIRN_EV_ENUM)
#undef CAIRN_EV_ENUM
        CAIRN_EV__COUNT
} cairn_event_type_t;

/*
 * Field dictionary: X(field, KIND, "doc"). KIND is STR (Avro string),
 * LONG (Avro long), INT (Avro int).
 */
#define CAIRN_EVENT_FIELDS(X)                                                  \
    X(workflow_id, STR, "workflow id; the Kafka record key")                  \
    X(time_ms, LONG, "event time, ms since the epoch")                        \
    X(seq, LONG, "per-workflow history sequence number, from 1")              \
    X(request_id, STR, "client request id; a repeated id is a no-op")         \
    X(workflow_type, STR, "workflow type name")                               \
    X(version, INT, "workflow type version; 0 = latest")                      \
    X(start_policy, STR,                                                       \
      "reject_duplicate | use_existing | terminate_existing")                  \
    X(input, STR, "JSON: workflow or activity input")                         \
    X(signal_name, STR, "signal name")                                        \
    X(payload, STR, "JSON: signal payload or heartbeat details")             \
    X(reason, STR, "human-readable reason")                                   \
    X(activity_id, STR, "activity id, unique within the workflow")            \
    X(activity_name, STR, "activity function name")                           \
    X(task_queue, STR, "task queue; topic <prefix>tasks.<queue>")             \
    X(attempt, INT, "activity attempt, from 1")                               \
    X(idempotency_key, STR, "workflow_id:activity_id")                        \
    X(timeout_ms, LONG, "a timeout in ms")                                    \
    X(timeout_kind, STR, "schedule_to_close | start_to_close | heartbeat")    \
    X(result, STR, "JSON: activity or workflow result")                       \
    X(error_type, STR, "error type name")                                     \
    X(error_message, STR, "error message")                                    \
    X(non_retryable, INT, "1 if the failure must not be retried")             \
    X(timer_id, STR, "timer id, unique within the workflow")                  \
    X(generation, LONG, "timer generation; a fire of an older one is ignored")\
    X(fire_at_ms, LONG, "due time, ms since the epoch")                       \
    X(rejected_type, STR, "event type of the rejected request")               \
    X(status, STR, "running | completed | failed | canceled | terminated ...")\
    X(fsm_state, STR, "current FSM state name")                               \
    X(started_ms, LONG, "workflow start time")                                \
    X(data, STR, "JSON: the engine's full snapshot of the workflow")          \
    X(parent_workflow_id, STR, "parent workflow id for a child workflow")

/*
 * Per-type field lists: X(field, REQ|OPT). These are the contract that
 * sdk/schemas/<Type>.avsc must match field for field (a unit test checks).
 */
#define CAIRN_FIELDS_StartWorkflow(X)                                          \
    X(workflow_id, REQ) X(time_ms, REQ) X(request_id, REQ)                     \
    X(workflow_type, REQ) X(version, OPT) X(input, OPT)                        \
    X(start_policy, OPT) X(parent_workflow_id, OPT)
#define CAIRN_FIELDS_SignalWorkflow(X)                                         \
    X(workflow_id, REQ) X(time_ms, REQ) X(request_id, REQ)                     \
    X(signal_name, REQ) X(payload, OPT)
#define CAIRN_FIELDS_CancelWorkflow(X)                                         \
    X(workflow_id, REQ) X(time_ms, REQ) X(request_id, REQ) X(reason, OPT)
#define CAIRN_FIELDS_TerminateWorkflow(X)                                      \
    X(workflow_id, REQ) X(time_ms, REQ) X(request_id, REQ) X(reason, OPT)
#define CAIRN_FIELDS_WorkflowStarted(X)                                        \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(request_id, REQ)         \
    X(workflow_type, REQ) X(version, REQ) X(input, OPT)                        \
    X(parent_workflow_id, OPT)
#define CAIRN_FIELDS_ActivityScheduled(X)                                      \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(activity_id, REQ)        \
    X(activity_name, REQ) X(task_queue, REQ) X(attempt, REQ) X(input, OPT)
#define CAIRN_FIELDS_ActivityTask(X)                                           \
    X(workflow_id, REQ) X(time_ms, REQ) X(activity_id, REQ)                    \
    X(activity_name, REQ) X(task_queue, REQ) X(attempt, REQ)                   \
    X(idempotency_key, REQ) X(input, OPT) X(timeout_ms, OPT)
#define CAIRN_FIELDS_ActivityCompleted(X)                                      \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, OPT) X(activity_id, REQ)        \
    X(attempt, REQ) X(result, OPT)
#define CAIRN_FIELDS_ActivityFailed(X)                                         \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, OPT) X(activity_id, REQ)        \
    X(attempt, REQ) X(error_type, REQ) X(error_message, OPT)                   \
    X(non_retryable, OPT)
#define CAIRN_FIELDS_ActivityHeartbeat(X)                                      \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, OPT) X(activity_id, REQ)        \
    X(attempt, REQ) X(payload, OPT)
#define CAIRN_FIELDS_ActivityTimedOut(X)                                       \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(activity_id, REQ)        \
    X(attempt, REQ) X(timeout_kind, REQ)
#define CAIRN_FIELDS_TimerStarted(X)                                           \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(timer_id, REQ)           \
    X(generation, REQ) X(fire_at_ms, REQ)
#define CAIRN_FIELDS_TimerFired(X)                                             \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, OPT) X(timer_id, REQ)           \
    X(generation, REQ) X(fire_at_ms, REQ)
#define CAIRN_FIELDS_TimerCanceled(X)                                          \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(timer_id, REQ)           \
    X(generation, REQ)
#define CAIRN_FIELDS_SignalReceived(X)                                         \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(request_id, REQ)         \
    X(signal_name, REQ) X(payload, OPT)
#define CAIRN_FIELDS_WorkflowCompleted(X)                                      \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(result, OPT)
#define CAIRN_FIELDS_WorkflowFailed(X)                                         \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(error_type, REQ)         \
    X(error_message, OPT)
#define CAIRN_FIELDS_WorkflowCanceled(X)                                       \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(reason, OPT)
#define CAIRN_FIELDS_WorkflowTerminated(X)                                     \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(reason, OPT)
#define CAIRN_FIELDS_WorkflowContinuedAsNew(X)                                 \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(workflow_type, REQ)      \
    X(version, REQ) X(input, OPT)
#define CAIRN_FIELDS_Rejected(X)                                               \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, OPT) X(request_id, OPT)         \
    X(rejected_type, REQ) X(reason, REQ)
#define CAIRN_FIELDS_WorkflowState(X)                                          \
    X(workflow_id, REQ) X(time_ms, REQ) X(seq, REQ) X(workflow_type, REQ)      \
    X(version, REQ) X(status, REQ) X(fsm_state, OPT) X(started_ms, REQ)        \
    X(data, REQ)

typedef struct cairn_event_s {
    cairn_event_type_t type;
#define CAIRN_EV_FIELD_STR(f) char *f;
#define CAIRN_EV_FIELD_LONG(f) int64_t f;
#define CAIRN_EV_FIELD_INT(f) int32_t f;
#define CAIRN_EV_FIELD(f, kind, doc) CAIRN_EV_FIELD_##kind(f)
    CAIRN_EVENT_FIELDS(CAIRN_EV_FIELD)
#undef CAIRN_EV_FIELD
#undef CAIRN_EV_FIELD_STR
#undef CAIRN_EV_FIELD_LONG
#undef CAIRN_EV_FIELD_INT
} cairn_event_t;

/* "StartWorkflow" etc., or NULL for an out-of-range type. */
const char *cairn_event_type_name(cairn_event_type_t type);
/* CAIRN_EV_NONE if name is not an event type. */
cairn_event_type_t cairn_event_type_from_name(const char *name);
/* Frees every string and zeroes the struct (type becomes CAIRN_EV_NONE). */
void cairn_event_clear(cairn_event_t *ev);
/* Deep copy into *dst (which is overwritten, not freed). 0 or -1 on ENOMEM. */
int cairn_event_copy(cairn_event_t *dst, const cairn_event_t *src);
/* Sets a string field to a heap copy of s (NULL allowed); 0 or -1. */
int cairn_event_set(char **field, const char *s);

#endif
