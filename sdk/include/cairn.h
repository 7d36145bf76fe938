/*
 * cairn.h — libcairn, the C client and worker library of Cairn.
 *
 * Client: start, signal, signal-with-start, cancel and terminate workflows
 * (records produced to <prefix>events with an idempotent producer,
 * acks=all; a call returns once Kafka has the record; if the producer hits
 * a fatal error it is replaced and the record sent once more, which is safe
 * because every request carries its request id), describe, list and
 * await them (from the Redis visibility index), read their history (from
 * <prefix>history) and replay it through the engine.
 *
 * Worker: run activity functions registered by name for one task queue,
 * at least once; results go back to <prefix>events. The idempotency key
 * passed to a function is "workflow_id:activity_id" — the same on every
 * attempt — so the function can make its side effect exactly once.
 * A long activity reports liveness with cairn_activity_heartbeat(); an
 * activity whose definition sets timeouts.heartbeat_ms is timed out (and
 * retried per its policy) when no heartbeat arrives for that long
 * (docs/WORKFLOWS.md).
 *
 * Threads: a cairn_client_t may be used from several threads at once (the
 * producer is thread-safe and each call waits for its own delivery report;
 * the Redis connection is shared under a mutex; history, replay and
 * definition reads create a consumer per call; await opens its own Redis
 * connection per call). A cairn_worker_t is driven by the one thread that
 * calls cairn_worker_run(), which runs activity functions on up to
 * worker.concurrency threads at once: a function must be thread-safe.
 * cairn_worker_stop() may be called from any thread or a signal handler.
 * A cairn_conf_t is read-only once passed to _new and may be destroyed
 * after it.
 *
 * Errors: every call returns a cairn_err_t (CAIRN_ERR_OK = 0; the codes,
 * their names and retriability are in err.h: cairn_err2str(),
 * cairn_err2name(), cairn_err_is_retriable()) and writes a sentence for a
 * person into errstr. Strings returned through out-parameters are malloc'd
 * and the caller frees them.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "event.h"
#include "cairn_builder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- client ------------------------------------------------------------- */

typedef struct cairn_client_s cairn_client_t;

/* conf is copied where needed; it may be destroyed after this call. */
cairn_client_t *cairn_client_new(const cairn_conf_t *conf, char *errstr,
                                 size_t errstr_size);
void cairn_client_destroy(cairn_client_t *cl);

typedef struct {
    int version;              /* 0 = latest */
    const char *request_id;   /* NULL = a new random id */
    const char *start_policy; /* NULL = reject_duplicate */
} cairn_start_opts_t;

/* Starts workflow wf_id of type with input (a JSON object, or NULL). */
cairn_err_t cairn_client_start(cairn_client_t *cl, const char *type,
                               const char *wf_id, const char *input,
                               const cairn_start_opts_t *opts, char *errstr,
                               size_t errstr_size);
cairn_err_t cairn_client_signal(cairn_client_t *cl, const char *wf_id,
                                const char *name, const char *payload,
                                const char *request_id, char *errstr,
                                size_t errstr_size);
cairn_err_t cairn_client_cancel(cairn_client_t *cl, const char *wf_id,
                                const char *reason, char *errstr,
                                size_t errstr_size);
cairn_err_t cairn_client_terminate(cairn_client_t *cl, const char *wf_id,
                                   const char *reason, char *errstr,
                                   size_t errstr_size);
/*
 * Signal-with-start: starts wf_id (type, input, opts as for
 * cairn_client_start) unless a workflow with that id exists, then delivers
 * the signal `name` with payload. The engine has no combined request, so
 * the client sends two: StartWorkflow with start_policy use_existing (a
 * no-op if the workflow exists), and, once Kafka has acknowledged it,
 * SignalWorkflow. Both are keyed wf_id, so they land on the same partition
 * and the shard applies them in this order. opts->start_policy must be
 * NULL or "use_existing". To retry safely pass opts->request_id and
 * signal_request_id: a repeated request id is a no-op. If the workflow
 * exists but is closed the start is a no-op and the signal is rejected
 * (Rejected in <prefix>dlq), as a plain signal would be — until the shard
 * forgets the closed workflow (state.retention.closed.ms); then a new
 * workflow starts.
 */
cairn_err_t cairn_client_signal_with_start(
    cairn_client_t *cl, const char *type, const char *wf_id, const char *input,
    const cairn_start_opts_t *opts, const char *name, const char *payload,
    const char *signal_request_id, char *errstr, size_t errstr_size);
/* Produces any event to the events topic (for tools and tests). */
cairn_err_t cairn_client_send(cairn_client_t *cl, const cairn_event_t *ev,
                              char *errstr, size_t errstr_size);

/*
 * The visibility record of wf_id as a JSON object (caller frees):
 * {"workflow_id","type","version","status","state","seq","started_ms",
 *  "updated_ms","partition"[,"result"][,"error"]}. CAIRN_ERR_NOT_FOUND if
 * the workflow is unknown.
 */
cairn_err_t cairn_client_describe(cairn_client_t *cl, const char *wf_id,
                                  char **json, char *errstr,
                                  size_t errstr_size);

typedef struct {
    const char *status; /* running, completed, ...; NULL = any */
    const char *type;   /* workflow type; NULL = any */
    int64_t since_ms;   /* started at or after (ms since the epoch); 0 = any */
    size_t limit;       /* most rows; 0 = 100 */
} cairn_list_opts_t;

/*
 * Workflows from the visibility index, newest start first, as a JSON array
 * (caller frees) of {"workflow_id","type","status","state","started_ms",
 * "updated_ms"}. Reads the zsets cairn:idx:status:<status> and
 * cairn:idx:type:<type> (scored by start time) from the since-bound; with
 * both filters it walks the smaller set. Each candidate's current record
 * cairn:wf:<id> is checked against the filters, because the sets may be
 * stale. CAIRN_ERR_INVALID_ARG for an unknown status, CAIRN_ERR_REDIS if
 * Redis is unreachable.
 */
cairn_err_t cairn_client_list(cairn_client_t *cl,
                              const cairn_list_opts_t *opts, char **json,
                              char *errstr, size_t errstr_size);

/*
 * The ordered history of wf_id. *events is an array of *count events
 * (free with cairn_events_free). Reads only the workflow's own records when
 * the Redis index has their offsets; otherwise scans its partition.
 */
cairn_err_t cairn_client_history(cairn_client_t *cl, const char *wf_id,
                                 cairn_event_t **events, size_t *count,
                                 char *errstr, size_t errstr_size);
void cairn_events_free(cairn_event_t *events, size_t count);

/*
 * Waits until wf_id is closed or timeout_ms passes (CAIRN_ERR_TIMEOUT).
 * On success *status is "completed", "failed", ... and *result the result
 * JSON or error (either may be NULL to ignore).
 */
cairn_err_t cairn_client_await(cairn_client_t *cl, const char *wf_id,
                               int timeout_ms, char **status, char **result,
                               char *errstr, size_t errstr_size);

/* Validates a JSON definition and publishes it to <prefix>definitions. */
cairn_err_t cairn_client_put_definition(cairn_client_t *cl, const char *json,
                                        size_t len, char **type_at_version,
                                        char *errstr, size_t errstr_size);
/* All published definitions as a JSON array of {type, version}. */
cairn_err_t cairn_client_list_definitions(cairn_client_t *cl, char **json,
                                          char *errstr, size_t errstr_size);

typedef struct {
    size_t events;        /* history events replayed */
    int64_t diverged_seq; /* 0: the replay reproduced the history */
    char detail[512];     /* the first divergence, for a person */
} cairn_replay_result_t;

/*
 * Reads wf_id's history and replays it through the engine with the
 * definitions it ran (from <prefix>definitions), or with `definition` (a
 * JSON definition, NULL = the published ones) standing in for every
 * version of its type the workflow ran — to check that a changed
 * definition still replays old histories. A divergence is not an error:
 * CAIRN_ERR_OK with res->diverged_seq set. Errors: NOT_FOUND (no history,
 * or a definition it ran is not published), DEFINITION (bad `definition`),
 * KAFKA, TIMEOUT.
 */
cairn_err_t cairn_client_replay(cairn_client_t *cl, const char *wf_id,
                                const char *definition,
                                cairn_replay_result_t *res, char *errstr,
                                size_t errstr_size);

/* ---- worker ------------------------------------------------------------- */

typedef struct cairn_worker_s cairn_worker_t;

typedef struct {
    const char *workflow_id;
    const char *activity_id;
    const char *activity_name;
    const char *idempotency_key; /* workflow_id:activity_id */
    int attempt;                 /* 1, 2, ... */
    const char *input;           /* JSON or NULL */
    const void *_worker;         /* private: the worker running it */
} cairn_activity_t;

/*
 * An activity function. Return CAIRN_ERR_OK with *result set to a malloc'd
 * JSON document (or NULL for null), or any other code with *error_type (and
 * optionally *error_message) malloc'd; set *non_retryable to 1 to fail the
 * activity without retries.
 */
typedef cairn_err_t (*cairn_activity_fn)(const cairn_activity_t *act,
                                         void *opaque, char **result,
                                         char **error_type,
                                         char **error_message,
                                         int *non_retryable);

/*
 * Records a heartbeat of the running activity attempt: produces
 * ActivityHeartbeat {workflow_id, time_ms, activity_id, attempt,
 * payload=details_json} to <prefix>events, keyed by the workflow id,
 * through the worker's producer. Call it from inside the activity function
 * (on the thread running it; concurrent calls from several activities are
 * safe), with act as passed to the function; details_json is a JSON
 * document (NULL for none) recorded in the workflow history. Each accepted
 * heartbeat restarts the attempt's heartbeat timeout
 * (timeouts.heartbeat_ms); heartbeats of an activity without one, of an
 * older attempt or after the activity finished are ignored by the engine.
 * Every accepted heartbeat adds three events to the history (counted by
 * max_history_events): heartbeat at a fraction of heartbeat_ms, not in a
 * tight loop. Returns once the record is queued (delivery is asynchronous
 * and not retried: a lost heartbeat is covered by the next one).
 * INVALID_ARG if act was not passed by a worker or details_json is not
 * JSON, KAFKA if the record cannot be queued (e.g. queue full; retriable).
 */
cairn_err_t cairn_activity_heartbeat(const cairn_activity_t *act,
                                     const char *details_json, char *errstr,
                                     size_t errstr_size);

cairn_worker_t *cairn_worker_new(const cairn_conf_t *conf,
                                 const char *task_queue, char *errstr,
                                 size_t errstr_size);
cairn_err_t cairn_worker_register(cairn_worker_t *w, const char *name,
                                  cairn_activity_fn fn, void *opaque);
/*
 * Runs until cairn_worker_stop(). worker.concurrency functions run at
 * once, each on its own runner thread; each result is produced as soon as
 * its function returns, and the consumer is polled all along (a function
 * may run longer than max.poll.interval.ms). Offsets are committed per
 * partition below the oldest task whose result is not delivered yet. On
 * stop, tasks not started are dropped (left uncommitted, for the next
 * worker), the running functions finish, their results are delivered and
 * the offsets committed synchronously before this returns, so no finished
 * task runs again; a task whose result could not be delivered is left
 * uncommitted and runs again on the next worker of the queue (at least
 * once).
 */
cairn_err_t cairn_worker_run(cairn_worker_t *w, char *errstr,
                             size_t errstr_size);
void cairn_worker_stop(cairn_worker_t *w); /* async-signal-safe */
void cairn_worker_destroy(cairn_worker_t *w);

#ifdef __cplusplus
}
#endif

#endif
