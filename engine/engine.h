/*
 * engine.h — the pure core of Cairn: workflow definitions, workflow state and
 * step().
 *
 * Invariants (see ../shared/DESIGN.md):
 *  - No I/O, no clock, no randomness, no iteration over unordered containers.
 *    Time comes from the input event (in->time_ms, which the shard adapter
 *    sets from the Kafka record timestamp).
 *  - The same registry, state and event give byte-identical outputs and a
 *    byte-identical encoded state (cairn_wf_encode()).
 *  - step() never fails on bad input: a request it cannot apply becomes a
 *    Rejected output (into history if the workflow is running, else to the
 *    DLQ: a closed run's history ends with its terminal event); a duplicate
 *    or stale input becomes no output at all (docs/WORKFLOWS.md has the
 *    table). Only CAIRN_ERR_NOMEM (or INTERNAL) is returned as an error;
 *    the outputs are then unchanged but the workflow may be half-changed
 *    and must be discarded (see cairn_engine_step()).
 */
#ifndef CAIRN_ENGINE_H
#define CAIRN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

/* ---- definitions -------------------------------------------------------- */

/* A compiled, validated, immutable workflow definition (type@version). */
typedef struct cairn_def_s cairn_def_t;

/*
 * Parses and validates a JSON definition (format: docs/WORKFLOWS.md).
 * Returns a new definition (caller destroys) or NULL with a precise reason in
 * errstr, e.g. "state 'ship': transition target 'done2' is not a state".
 */
cairn_def_t *cairn_def_from_json(const char *json, size_t len, char *errstr,
                                 size_t errstr_size);
/* Canonical JSON of the definition (malloc'd, caller frees), or NULL. */
char *cairn_def_to_json(const cairn_def_t *def);
const char *cairn_def_type(const cairn_def_t *def);
int cairn_def_version(const cairn_def_t *def);
void cairn_def_destroy(cairn_def_t *def);

/* The set of known definitions, keyed by type@version. */
typedef struct cairn_registry_s cairn_registry_t;

cairn_registry_t *cairn_registry_new(void);
void cairn_registry_destroy(cairn_registry_t *reg);
/*
 * Adds def; ownership passes to the registry on success only. Putting the
 * same type@version again replaces it only if the canonical JSON is equal
 * (a no-op); a different body for an existing type@version is refused with
 * CAIRN_ERR_DEFINITION (versions are immutable).
 */
cairn_err_t cairn_registry_put(cairn_registry_t *reg, cairn_def_t *def,
                               char *errstr, size_t errstr_size);
/* version 0 = the highest registered version. NULL if unknown. */
const cairn_def_t *cairn_registry_get(const cairn_registry_t *reg,
                                      const char *type, int version);
/* Number of definitions, and the i-th in (type, version) order. */
size_t cairn_registry_count(const cairn_registry_t *reg);
const cairn_def_t *cairn_registry_at(const cairn_registry_t *reg, size_t i);

/* ---- workflow state ------------------------------------------------------ */

/* One workflow instance's full state. */
typedef struct cairn_wf_s cairn_wf_t;

typedef enum {
    CAIRN_WF_RUNNING = 1,
    CAIRN_WF_COMPLETED,
    CAIRN_WF_FAILED,
    CAIRN_WF_CANCELED,
    CAIRN_WF_TERMINATED,
    CAIRN_WF_CONTINUED_AS_NEW,
} cairn_wf_status_t;

/* "running", "completed", ... */
const char *cairn_wf_status_name(cairn_wf_status_t status);

/*
 * Deterministic serialisation (compact JSON, sorted keys) for the state
 * topic's WorkflowState.data. Returns malloc'd bytes (caller frees) or NULL.
 */
char *cairn_wf_encode(const cairn_wf_t *wf, size_t *lenp);
/* Inverse of cairn_wf_encode(). NULL with errstr on malformed input. */
cairn_wf_t *cairn_wf_decode(const char *data, size_t len, char *errstr,
                            size_t errstr_size);
/*
 * cairn_wf_decode() that tells why: CAIRN_ERR_OK (*wfp set, caller
 * destroys), CAIRN_ERR_DECODE (malformed: the record is bad) or
 * CAIRN_ERR_NOMEM (the record may be fine; retry), with *wfp NULL.
 */
cairn_err_t cairn_wf_load(const char *data, size_t len, cairn_wf_t **wfp,
                          char *errstr, size_t errstr_size);
cairn_wf_t *cairn_wf_clone(const cairn_wf_t *wf);
void cairn_wf_destroy(cairn_wf_t *wf);

const char *cairn_wf_id(const cairn_wf_t *wf);
const char *cairn_wf_type(const cairn_wf_t *wf);
int cairn_wf_version(const cairn_wf_t *wf);
cairn_wf_status_t cairn_wf_status(const cairn_wf_t *wf);
const char *cairn_wf_fsm_state(const cairn_wf_t *wf);
int64_t cairn_wf_seq(const cairn_wf_t *wf);        /* last history seq */
int64_t cairn_wf_started_ms(const cairn_wf_t *wf);
int64_t cairn_wf_updated_ms(const cairn_wf_t *wf);
/* Pending timers, for re-registering a shard's timers after takeover. */
size_t cairn_wf_timer_count(const cairn_wf_t *wf);
void cairn_wf_timer_at(const cairn_wf_t *wf, size_t i, const char **timer_id,
                       int64_t *generation, int64_t *fire_at_ms);
/* The parent workflow id of a child workflow, or NULL. */
const char *cairn_wf_parent_id(const cairn_wf_t *wf);
/* Run number from 1; terminate_existing and continue-as-new start a new run. */
int64_t cairn_wf_run(const cairn_wf_t *wf);
/* The workflow variables as compact JSON with sorted keys (caller frees). */
char *cairn_wf_vars_json(const cairn_wf_t *wf);
/* Pending activities and children (kind "activity", "compensation",
 * "child"), in scheduling order; activity_id is the runtime id. */
size_t cairn_wf_activity_count(const cairn_wf_t *wf);
void cairn_wf_activity_at(const cairn_wf_t *wf, size_t i,
                          const char **activity_id, const char **kind,
                          int32_t *attempt);
/* Signals received but not yet consumed by a state. */
size_t cairn_wf_signal_count(const cairn_wf_t *wf);

/* ---- step ---------------------------------------------------------------- */

/* Where an output goes; the shard adapter maps this to a topic. */
typedef enum {
    CAIRN_OUT_HISTORY = 1, /* <prefix>history, key workflow_id */
    CAIRN_OUT_TASK,        /* <prefix>tasks.<task_queue>, key workflow_id */
    CAIRN_OUT_EVENTS,      /* <prefix>events (e.g. a child's StartWorkflow) */
    CAIRN_OUT_DLQ,         /* <prefix>dlq, reason in ev.reason */
} cairn_out_dest_t;

typedef struct {
    cairn_out_dest_t dest;
    cairn_event_t ev; /* owned by the outputs list */
} cairn_output_t;

typedef struct {
    cairn_output_t *v;
    size_t n, cap;
    int state_changed; /* 1 if *wf changed and a WorkflowState must be written */
} cairn_outputs_t;

void cairn_outputs_init(cairn_outputs_t *out);
/* Clears every event and resets n to 0 (keeps the allocation). */
void cairn_outputs_reset(cairn_outputs_t *out);
void cairn_outputs_free(cairn_outputs_t *out);

/* Engine limits (invariant 7); 0 fields take the defaults. */
typedef struct {
    size_t max_payload_bytes;     /* default 256 KiB: input/result/payload */
    size_t max_history_events;    /* default 10000 */
    size_t max_pending_activities;/* default 100 */
    size_t max_pending_timers;    /* default 100 */
    size_t max_buffered_signals;  /* default 100 */
    size_t request_id_memory;     /* default 64 recent request ids kept */
} cairn_limits_t;

/*
 * Applies one input event to one workflow.
 *
 * *wf is the workflow's current state, or NULL if the shard has none for
 * in->workflow_id. The step edits *wf in place; pointers returned by the
 * cairn_wf_*() accessors may be invalidated by it, and in must not borrow
 * strings from *wf. Outputs are appended to out (history events carry
 * consecutive seq numbers after cairn_wf_seq()); out->state_changed is set
 * if the state changed (a WorkflowState must be written). limits may be
 * NULL for the defaults.
 *
 * Returns CAIRN_ERR_OK: *wf is the new state, the caller owns it; it is the
 * same pointer as before, or a new workflow if *wf was NULL (which stays
 * NULL if the step created none).
 *
 * Or CAIRN_ERR_NOMEM / CAIRN_ERR_INTERNAL: out is untouched, but the
 * workflow may be partially changed. *wf is still the caller's (the same
 * pointer; NULL if it was NULL): the caller must not use its contents, only
 * destroy it and rebuild the workflow from durable state (a shard aborts
 * its transaction and reloads). A caller that needs the old state after a
 * failure takes a cairn_wf_clone() before the step.
 */
cairn_err_t cairn_engine_step(const cairn_registry_t *reg,
                              const cairn_limits_t *limits, cairn_wf_t **wf,
                              const cairn_event_t *in, cairn_outputs_t *out,
                              char *errstr, size_t errstr_size);

/*
 * Re-runs the engine over one workflow's recorded history (history[0..n),
 * in seq order, as read from the history topic) and compares every history
 * event the replay produces with the recorded one, field by field. The
 * inputs are rebuilt from the history (docs/WORKFLOWS.md, "Replay").
 *
 * Returns CAIRN_ERR_OK with *diverged_seq = 0 if the replay reproduced the
 * history exactly, or with *diverged_seq = the seq of the first recorded
 * event that differs (and a description in errstr). If wfp is non-NULL it
 * receives the rebuilt state (caller destroys; may be NULL). Errors: NOMEM,
 * INTERNAL.
 */
cairn_err_t cairn_engine_replay(const cairn_registry_t *reg,
                                const cairn_limits_t *limits,
                                const cairn_event_t *history, size_t n,
                                cairn_wf_t **wfp, int64_t *diverged_seq,
                                char *errstr, size_t errstr_size);

#endif
