/*
 * cairn.h — libcairn, the C client and worker library of Cairn.
 *
 * Client: start, signal, cancel and terminate workflows (records produced to
 * <prefix>events with an idempotent producer, acks=all; a call returns once
 * Kafka has the record), describe and await them (from the Redis visibility
 * index), read their history (from <prefix>history).
 *
 * Worker: run activity functions registered by name for one task queue,
 * at least once; results go back to <prefix>events. The idempotency key
 * passed to a function is "workflow_id:activity_id" — the same on every
 * attempt — so the function can make its side effect exactly once.
 *
 * Threads: a cairn_client_t may be used from several threads at once (calls
 * are serialised where they share a connection). A cairn_worker_t is driven
 * by the one thread that calls cairn_worker_run(); cairn_worker_stop() may be
 * called from any thread or a signal handler.
 *
 * Errors: every call returns a cairn_err_t (CAIRN_ERR_OK = 0) and writes a
 * sentence for a person into errstr. Strings returned through out-parameters
 * are malloc'd and the caller frees them.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "event.h"

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

/* ---- worker ------------------------------------------------------------- */

typedef struct cairn_worker_s cairn_worker_t;

typedef struct {
    const char *workflow_id;
    const char *activity_id;
    const char *activity_name;
    const char *idempotency_key; /* workflow_id:activity_id */
    int attempt;                 /* 1, 2, ... */
    const char *input;           /* JSON or NULL */
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

cairn_worker_t *cairn_worker_new(const cairn_conf_t *conf,
                                 const char *task_queue, char *errstr,
                                 size_t errstr_size);
cairn_err_t cairn_worker_register(cairn_worker_t *w, const char *name,
                                  cairn_activity_fn fn, void *opaque);
/* Runs until cairn_worker_stop(); in-flight tasks finish first. */
cairn_err_t cairn_worker_run(cairn_worker_t *w, char *errstr,
                             size_t errstr_size);
void cairn_worker_stop(cairn_worker_t *w); /* async-signal-safe */
void cairn_worker_destroy(cairn_worker_t *w);

#ifdef __cplusplus
}
#endif

#endif
