/*
 * cairn_builder.h — the C front end of workflow definitions.
 *
 * A builder assembles the same JSON document that docs/WORKFLOWS.md
 * describes, call by call, and compiles it with the engine's own parser
 * (cairn_def_from_json()): a definition built in C and the same definition
 * written in JSON are one FSM, with byte-identical cairn_def_to_json().
 * docs/WORKFLOWS.md shows each JSON construct next to the calls that build it.
 *
 *   cairn_wfb_t *b = cairn_wfb_new("order", 1);
 *   cairn_wfb_state_t *s = cairn_wfb_state(b, "charge");
 *   cairn_wfb_act_t *a = cairn_wfb_activity(s, "charge_card", "charge");
 *   cairn_wfb_act_input(a, "$.vars.order");
 *   cairn_wfb_retry_maximum_attempts(cairn_wfb_act_retry(a), 5);
 *   cairn_wfb_on(s, CAIRN_WFB_ACTIVITY_COMPLETED, "charge", "done");
 *   cairn_wfb_complete(cairn_wfb_state(b, "done"), "$.vars");
 *   cairn_def_t *def = cairn_wfb_build(b, errstr, sizeof(errstr));
 *   cairn_wfb_destroy(b);
 *
 * Values. Parameters called `value` are JSON text — any JSON value, whose
 * strings starting with "$" are paths (docs/WORKFLOWS.md, "Values") — or,
 * for convenience, a bare path: text starting with "$" is taken as that
 * path, so "$.vars.order" and "\"$.vars.order\"" are the same value.
 * Parameters called `text` are a string value as is (a path if it starts
 * with "$", else literal text).
 *
 * Errors are sticky. No call fails on its own: an invalid argument (NULL
 * name, value that is not JSON, a variable assigned twice...) or an
 * allocation failure is recorded, every later call does nothing, and
 * cairn_wfb_build() reports the first error. Everything else — unknown
 * targets, unreachable states, bad guards, duplicate ids — is found by the
 * engine's validation at build time, with the engine's message (the same
 * text the JSON front end gives, e.g. "state 'ship': on[1]: transition
 * target 'dne' is not a state"). Every function accepts NULL handles (the
 * result of a failed call) and then does nothing, so a sequence of calls
 * needs no checks in between.
 *
 * Ownership. cairn_wfb_new() returns a builder the caller destroys with
 * cairn_wfb_destroy() (NULL is a no-op). Every other handle (state,
 * activity, retry policy, child, transition) belongs to its builder: it is
 * valid until the builder is destroyed and is never freed by the caller.
 * Strings are copied; the caller keeps its own.
 *
 * Order. States, commands and transitions keep the order of the calls
 * that create them; that order is meaningful (docs/WORKFLOWS.md). A state
 * may be named as a target before it is created.
 *
 * Threads: a builder is used by one thread at a time.
 */
#ifndef CAIRN_BUILDER_H
#define CAIRN_BUILDER_H

#include <stddef.h>
#include <stdint.h>

/* cairn_def_t (a compiled definition), cairn_def_to_json(),
 * cairn_def_destroy(). */
#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_wfb_s cairn_wfb_t;             /* a definition */
typedef struct cairn_wfb_state_s cairn_wfb_state_t; /* one of its states */
typedef struct cairn_wfb_act_s cairn_wfb_act_t;     /* activity/compensation */
typedef struct cairn_wfb_retry_s cairn_wfb_retry_t; /* a retry policy */
typedef struct cairn_wfb_child_s cairn_wfb_child_t; /* a child workflow */
typedef struct cairn_wfb_trans_s cairn_wfb_trans_t; /* a transition */

/* The events a transition can react to ("event" in JSON). */
typedef enum {
    CAIRN_WFB_ACTIVITY_COMPLETED = 1, /* ref: activity id (NULL = any) */
    CAIRN_WFB_ACTIVITY_FAILED,        /* ref: activity id (NULL = any) */
    CAIRN_WFB_TIMER_FIRED,            /* ref: timer id (NULL = any) */
    CAIRN_WFB_SIGNAL_RECEIVED,        /* ref: signal name (required) */
    CAIRN_WFB_SIGNAL_TIMEOUT,         /* ref: signal name (required) */
    CAIRN_WFB_CHILD_COMPLETED,        /* ref: child id (NULL = any) */
    CAIRN_WFB_CHILD_FAILED,           /* ref: child id (NULL = any) */
    CAIRN_WFB_COMPENSATION_COMPLETED, /* ref: NULL */
    CAIRN_WFB_COMPENSATION_FAILED,    /* ref: NULL */
    CAIRN_WFB_ALWAYS,                 /* ref: NULL */
} cairn_wfb_event_t;

/* What happens to a child when its parent leaves the state or closes. */
typedef enum {
    CAIRN_WFB_PARENT_CLOSE_TERMINATE = 1, /* the default */
    CAIRN_WFB_PARENT_CLOSE_REQUEST_CANCEL,
    CAIRN_WFB_PARENT_CLOSE_ABANDON,
} cairn_wfb_parent_close_t;

/* ---- the definition ------------------------------------------------------ */

/*
 * A new, empty definition of type@version ("type", "version"). NULL only if
 * memory ran out. Invalid names or versions are reported by the build.
 */
cairn_wfb_t *cairn_wfb_new(const char *type, int version);
void cairn_wfb_destroy(cairn_wfb_t *b);

void cairn_wfb_description(cairn_wfb_t *b, const char *text);
/* Default task queue of the activities ("task_queue"). */
void cairn_wfb_task_queue(cairn_wfb_t *b, const char *queue);
/* The first state ("initial"); default: the first state created. */
void cairn_wfb_initial(cairn_wfb_t *b, const char *state);
/* The cancel path ("on_cancel"). */
void cairn_wfb_on_cancel(cairn_wfb_t *b, const char *state);
/* "execution_timeout_ms". */
void cairn_wfb_execution_timeout(cairn_wfb_t *b, int64_t ms);
/* The default retry policy of every activity (top-level "retry"). */
cairn_wfb_retry_t *cairn_wfb_retry(cairn_wfb_t *b);

/*
 * Appends a state. Names are unique in a definition (a duplicate is
 * reported by the build).
 */
cairn_wfb_state_t *cairn_wfb_state(cairn_wfb_t *b, const char *name);
void cairn_wfb_state_description(cairn_wfb_state_t *s, const char *text);

/*
 * Compiles and validates the definition. Returns a new definition (the
 * caller destroys it with cairn_def_destroy()), or NULL with the first
 * sticky error or the engine's validation message in errstr. The builder
 * is unchanged: it may be extended and built again.
 */
cairn_def_t *cairn_wfb_build(const cairn_wfb_t *b, char *errstr,
                             size_t errstr_size);

/*
 * The definition as JSON text (indented, keys in the order of the
 * format's documentation): what cairn_client_put_definition() and
 * `cairn definitions put` take. Returns malloc'd text (caller frees), or
 * NULL with the sticky error in errstr. Not validated: build for that.
 */
char *cairn_wfb_to_json(const cairn_wfb_t *b, char *errstr,
                        size_t errstr_size);

/* The first sticky error, or NULL if none. Valid until the next call. */
const char *cairn_wfb_error(const cairn_wfb_t *b);

/* ---- commands (a state's "on_enter", in call order) ---------------------- */

/*
 * {"activity": activity, "id": id}: schedules activity function `activity`;
 * id may be NULL (it then defaults to the activity name and is not
 * written).
 */
cairn_wfb_act_t *cairn_wfb_activity(cairn_wfb_state_t *s,
                                    const char *activity, const char *id);
void cairn_wfb_act_input(cairn_wfb_act_t *a, const char *value);
void cairn_wfb_act_task_queue(cairn_wfb_act_t *a, const char *queue);
/* "timeouts": {"start_to_close_ms"} / {"schedule_to_close_ms"} /
 * {"heartbeat_ms"}. */
void cairn_wfb_act_start_to_close(cairn_wfb_act_t *a, int64_t ms);
void cairn_wfb_act_schedule_to_close(cairn_wfb_act_t *a, int64_t ms);
void cairn_wfb_act_heartbeat(cairn_wfb_act_t *a, int64_t ms);
/* The activity's own "retry" (overrides the defaults key by key). */
cairn_wfb_retry_t *cairn_wfb_act_retry(cairn_wfb_act_t *a);
/*
 * "compensation": the activity that undoes a (saga). Returns its handle,
 * on which input, task queue, timeouts and retry can be set; its input may
 * read $.result. Once per activity; a compensation has none of its own.
 */
cairn_wfb_act_t *cairn_wfb_act_compensation(cairn_wfb_act_t *a,
                                            const char *activity);

/* Retry policy keys; only the keys set are written. */
void cairn_wfb_retry_initial_interval(cairn_wfb_retry_t *r, int64_t ms);
void cairn_wfb_retry_backoff(cairn_wfb_retry_t *r, double coefficient);
void cairn_wfb_retry_maximum_interval(cairn_wfb_retry_t *r, int64_t ms);
/* 0 = unlimited. */
void cairn_wfb_retry_maximum_attempts(cairn_wfb_retry_t *r, int32_t n);
/* Appends to "non_retryable_error_types". */
void cairn_wfb_retry_non_retryable(cairn_wfb_retry_t *r,
                                   const char *error_type);

/* {"timer": {"id": id, "after_ms": ms}} */
void cairn_wfb_timer(cairn_wfb_state_t *s, const char *id, int64_t after_ms);
/* {"sleep_ms": ms} or, with an id, {"sleep_ms": ms, "id": id}. */
void cairn_wfb_sleep(cairn_wfb_state_t *s, int64_t ms, const char *id);
/*
 * {"wait_signal": name} if timeout_ms is 0, else
 * {"wait_signal": {"name": name, "timeout_ms": timeout_ms}}.
 */
void cairn_wfb_wait_signal(cairn_wfb_state_t *s, const char *name,
                           int64_t timeout_ms);
/*
 * {"assign": {var: value}}. Consecutive calls on the same state build one
 * assign command (all its values are computed before any is written);
 * assigning the same variable twice in one command is an error.
 */
void cairn_wfb_assign(cairn_wfb_state_t *s, const char *var,
                      const char *value);
/* {"child": {"id": id, "workflow_type": type}}; see the cairn_wfb_child_*. */
cairn_wfb_child_t *cairn_wfb_child(cairn_wfb_state_t *s, const char *id,
                                   const char *workflow_type);
void cairn_wfb_child_version(cairn_wfb_child_t *c, int version);
void cairn_wfb_child_input(cairn_wfb_child_t *c, const char *value);
void cairn_wfb_child_workflow_id(cairn_wfb_child_t *c, const char *value);
void cairn_wfb_child_parent_close(cairn_wfb_child_t *c,
                                  cairn_wfb_parent_close_t policy);
/* {"compensate": true} */
void cairn_wfb_compensate(cairn_wfb_state_t *s);

/* Terminal commands (the state's last command). */
/* {"complete": value}; value NULL = null. */
void cairn_wfb_complete(cairn_wfb_state_t *s, const char *value);
/* {"fail": {"error_type": ..., "error_message": text}}; text may be NULL. */
void cairn_wfb_fail(cairn_wfb_state_t *s, const char *error_type,
                    const char *text);
/* {"cancel": {"reason": text}}, or {"cancel": {}} if text is NULL. */
void cairn_wfb_cancel(cairn_wfb_state_t *s, const char *text);
/* {"continue_as_new": {"input": value}}, or {} if value is NULL. */
void cairn_wfb_continue_as_new(cairn_wfb_state_t *s, const char *value);

/* ---- transitions (a state's "on", in call order) -------------------------- */

/*
 * {"event": ..., <ref key>: ref, "target": target}. The reference key is
 * the event's ("activity", "timer", "signal" or "child"); ref NULL omits
 * it. Events that take no reference need ref NULL.
 */
cairn_wfb_trans_t *cairn_wfb_on(cairn_wfb_state_t *s, cairn_wfb_event_t event,
                                const char *ref, const char *target);
/* "when": a guard expression. */
void cairn_wfb_trans_when(cairn_wfb_trans_t *t, const char *guard);
/* "assign": {var: value}; each call adds one variable. */
void cairn_wfb_trans_assign(cairn_wfb_trans_t *t, const char *var,
                            const char *value);

#ifdef __cplusplus
}
#endif

#endif
