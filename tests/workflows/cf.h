/*
 * cf.h — the harness of the workflow conformance suite (tests/workflows).
 *
 * A "world" is the engine core with the plumbing of a cluster and none of
 * its I/O: a registry, the states of many workflows, and the events topic
 * as a FIFO queue. cf_send() applies one input with cairn_engine_step()
 * (through the unit tests' step_lim(), which checks determinism, the state
 * encoding round trip and gap-free history seq on every step), then
 * delivers what the step put on the events topic (a child's StartWorkflow,
 * a parent's notification, a TerminateWorkflow...) in order, as cairnd
 * would. Every history record is kept per workflow, and cf_free() replays
 * each workflow's history (cairn_engine_replay()) and requires no
 * divergence and the same final state: every case is also a replay test.
 * "The same state" leaves out the request-id memory (dedupe): the ids of
 * TerminateWorkflow/CancelWorkflow requests (the events record none) and
 * of rejected requests are not in the history, so a replay cannot know
 * them; everything else must be byte-identical.
 *
 * Time is explicit: w->now is the time of the next input; cf_fire() moves
 * it to the fired timer's due time.
 *
 * The outputs of everything since the last cf_clear() are kept in order
 * (w->out); cf_lines() renders them one per line in the unit tests' format
 * ("history ActivityScheduled seq=2 workflow_id=..."), for exact checks.
 */
#ifndef CAIRN_CF_H
#define CAIRN_CF_H

#include "cairn_builder.h"
#include "test_engine_helpers.h"

#define CF_MAX_WFS 64
#define CF_MAX_HIST 2048
#define CF_MAX_QUEUE 256

typedef struct {
    char *id;
    cairn_wf_t *wf;
    cairn_event_t *hist; /* every history record, in seq order */
    size_t nhist;
    size_t *bounds; /* nhist after each step that wrote history */
    size_t nbounds;
} cf_wf_t;

typedef struct {
    cairn_registry_t *reg;
    cairn_limits_t lim;
    int64_t now;
    cf_wf_t wfs[CF_MAX_WFS];
    size_t nwfs;
    cairn_output_t *out; /* everything since the last cf_clear() */
    size_t nout, capout;
    int requests;        /* request ids handed out */
} cf_world_t;

/* A world with the given JSON definitions (NULL-terminated; may be NULL). */
cf_world_t *cf_new(const char *const *defs);
/* Replays every workflow's history (must not diverge), frees the world. */
void cf_free(cf_world_t *w);
void cf_add_json(cf_world_t *w, const char *json);
/* JSON written with ' for " (readable in C); caller frees. */
char *cf_q(const char *squoted);
/* cf_add_json(w, cf_q(squoted)). */
void cf_def(cf_world_t *w, const char *squoted);
/* Adds a builder's definition (built here; the builder stays the caller's). */
void cf_add_builder(cf_world_t *w, const cairn_wfb_t *b);
/* The canonical JSON of a definition text (must be valid); caller frees. */
char *cf_canon(const char *json);
/* Expects the definition (' for ") to be refused with exactly want, or,
 * if want ends with '*', with a message starting with it. */
void cf_refused(const char *squoted, const char *want);

/* Applies one input (its time_ms is set to w->now) and delivers the
 * events it produced. The input's strings are borrowed. */
void cf_send(cf_world_t *w, cairn_event_t *in);

/* Shorthands for the inputs clients, workers and timers produce. */
void cf_start(cf_world_t *w, const char *id, const char *type,
              const char *input);
void cf_start_v(cf_world_t *w, const char *id, const char *type, int version,
                const char *input);
void cf_signal(cf_world_t *w, const char *id, const char *name,
               const char *payload);
void cf_cancel(cf_world_t *w, const char *id, const char *reason);
void cf_terminate(cf_world_t *w, const char *id, const char *reason);
/* Completes/fails the pending activity with runtime id act (its current
 * attempt; the case fails if it is not pending). */
void cf_complete(cf_world_t *w, const char *id, const char *act,
                 const char *result);
void cf_fail(cf_world_t *w, const char *id, const char *act,
             const char *etype, const char *msg, int non_retryable);
/* Completes the one pending activity of id, whatever its runtime id. */
void cf_complete_pending(cf_world_t *w, const char *id, const char *result);
/* Fires the pending timer timer of id at its due time (w->now moves). */
void cf_fire(cf_world_t *w, const char *id, const char *timer);

/* The workflow's state (NULL if it does not exist). */
cairn_wf_t *cf_wf(const cf_world_t *w, const char *id);
const cf_wf_t *cf_rec(const cf_world_t *w, const char *id);
/* Fails the case unless id is in status (and, if state, that FSM state). */
void cf_status(const cf_world_t *w, const char *id, cairn_wf_status_t status,
               const char *state);
/* Pending timer of id: 1 and its generation/due time, or 0. */
int cf_timer(const cf_world_t *w, const char *id, const char *timer,
             int64_t *gen, int64_t *due);
/* Runtime id and attempt of id's pending activity named name, or NULL. */
const char *cf_pending(const cf_world_t *w, const char *id, const char *name,
                       int32_t *attempt);

/* The outputs since cf_clear(): how many of type; the n-th (0-based) of
 * type (or the case fails); all as text (caller frees). */
size_t cf_count(const cf_world_t *w, cairn_event_type_t type);
const cairn_event_t *cf_nth(const cf_world_t *w, cairn_event_type_t type,
                            size_t n);
char *cf_lines(const cf_world_t *w);
/* Asserts the outputs since cf_clear() are exactly want, then clears. */
void cf_expect(cf_world_t *w, const char *want);
/* Asserts some output line contains needle. */
void cf_has(const cf_world_t *w, const char *needle);
void cf_clear(cf_world_t *w);

/* Activity names of the ActivityTask outputs since cf_clear(), joined by
 * spaces (a static buffer). */
const char *cf_task_names(const cf_world_t *w);

#endif
