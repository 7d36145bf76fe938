/*
 * cases.h — the case list of the workflow conformance suite, one line per
 * case, grouped by the features of the workflow model (issue 5). Each
 * feature's cases live in cf_<feature>.c; conformance.c runs the list in
 * this order and names each case "<feature>: <case>".
 *
 * CASE(feature, function, what it shows)
 */
#ifndef CAIRN_CF_CASES_H
#define CAIRN_CF_CASES_H

#include "cf.h"

#define CF_CASES(CASE)                                                         \
    /* 1. definitions: a versioned FSM, validated with precise errors */      \
    CASE(definitions, cf_def_every_construct_registers,                        \
         "every command and event kind registers and runs")                    \
    CASE(definitions, cf_def_validation_errors,                                \
         "unknown/unreachable state, no terminal, bad guard, strict keys")     \
    CASE(definitions, cf_def_guard_error_offset,                               \
         "a guard syntax error says where")                                    \
    CASE(definitions, cf_def_versions_immutable,                               \
         "type@version is immutable; the same body again is a no-op")          \
    /* 2. two front ends, one FSM; versions pinned */                         \
    CASE(frontends, cf_fe_order_saga_identical,                                \
         "order-saga in C and JSON: byte-identical definitions")               \
    CASE(frontends, cf_fe_approval_identical,                                  \
         "approval in C and JSON: byte-identical definitions")                 \
    CASE(frontends, cf_fe_c_variant_is_new_version,                            \
         "a C-built variant rolls out as a new version")                       \
    CASE(frontends, cf_fe_same_runs,                                           \
         "the same inputs give the same outputs in both front ends")           \
    CASE(versions, cf_ver_pinned_while_new_rolls_out,                          \
         "running instances stay on their version; new starts take the "      \
         "newest")                                                             \
    CASE(versions, cf_ver_unknown_version_rejected,                            \
         "an unknown type or version is rejected to the DLQ")                  \
    CASE(versions, cf_ver_missing_pinned_definition,                           \
         "a node without the pinned definition leaves the workflow alone")     \
    CASE(versions, cf_ver_continue_as_new_keeps_version,                       \
         "continue-as-new stays on the run's version")                         \
    /* 3. activities */                                                        \
    CASE(activities, cf_act_retry_backoff_on_durable_timers,                   \
         "retry with capped exponential backoff on durable timers; one "      \
         "idempotency key")                                                    \
    CASE(activities, cf_act_non_retryable,                                     \
         "non_retryable_error_types and the worker's non_retryable flag")      \
    CASE(activities, cf_act_start_to_close_timeout,                            \
         "start_to_close: ActivityTimedOut, retried; late results ignored")    \
    CASE(activities, cf_act_schedule_to_close_timeout,                         \
         "schedule_to_close bounds all attempts")                              \
    CASE(activities, cf_act_idempotency_key_per_execution,                     \
         "each execution of an activity id has its own key")                   \
    CASE(activities, cf_act_policy_inheritance,                                \
         "definition retry replaces defaults, activity overrides per key")     \
    CASE(activities, cf_act_invalid_result,                                    \
         "a result that is not JSON fails the attempt for good")               \
    CASE(activities, cf_act_heartbeat_timeout,                                 \
         "heartbeat_ms: heartbeats keep an attempt alive; a missed one times " \
         "it out (retried)")                                                   \
    /* 4. signals */                                                           \
    CASE(signals, cf_sig_payload_and_guards,                                   \
         "payload and name reach assignments and guards")                      \
    CASE(signals, cf_sig_buffered_before_wait,                                 \
         "an early signal is buffered and consumed oldest first")              \
    CASE(signals, cf_sig_wait_timeout,                                         \
         "wait_signal with a timeout (human in the loop)")                     \
    CASE(signals, cf_sig_duplicates_and_limits,                                \
         "duplicate requests, buffer limit, reserved names, bad payloads")     \
    /* 5. ending */                                                            \
    CASE(ending, cf_end_cancel_runs_cancel_path,                               \
         "cancel runs the cancel path (compensation)")                         \
    CASE(ending, cf_end_terminate_is_immediate,                                \
         "terminate ends the run at once, no cancel path")                     \
    CASE(ending, cf_end_cancel_without_path,                                   \
         "cancel without on_cancel closes the run")                            \
    CASE(ending, cf_end_execution_timeout,                                     \
         "the workflow execution timeout")                                     \
    CASE(ending, cf_end_requests_after_close,                                  \
         "requests to closed or unknown workflows go to the DLQ")              \
    /* 6. sagas */                                                             \
    CASE(sagas, cf_saga_reverse_order,                                         \
         "compensations run newest first, one at a time")                      \
    CASE(sagas, cf_saga_only_completed_steps,                                  \
         "only completed steps are compensated")                               \
    CASE(sagas, cf_saga_compensation_retries,                                  \
         "compensations retry with their own policy")                          \
    CASE(sagas, cf_saga_compensation_fails,                                    \
         "a compensation that fails for good")                                 \
    /* 7. composition */                                                       \
    CASE(composition, cf_child_completes_parent_notified,                      \
         "a child's completion reaches its parent")                            \
    CASE(composition, cf_child_fails_parent_notified,                          \
         "a child's failure or rejected start reaches its parent")             \
    CASE(composition, cf_child_parent_close_policy,                            \
         "parent-close policies terminate, request_cancel, abandon")           \
    CASE(composition, cf_continue_as_new,                                      \
         "continue-as-new: same id, next run, seq continues")                  \
    CASE(composition, cf_history_limit_clear_failure,                          \
         "the history limit fails the run with a clear error")                 \
    CASE(composition, cf_history_limit_continue_as_new,                        \
         "continue-as-new keeps a long loop under the limit")                  \
    /* 8. determinism */                                                       \
    CASE(determinism, cf_det_replay_finds_divergence,                          \
         "replay reports the first divergence")                                \
    CASE(determinism, cf_det_replay_prefixes,                                  \
         "every prefix of a history replays")                                  \
    CASE(determinism, cf_det_property_identical_outputs,                       \
         "random inputs: byte-identical outputs across replicas, front "      \
         "ends and restores")                                                  \
    /* 9. examples */                                                          \
    CASE(examples, cf_ex_order_saga_paths,                                     \
         "order-saga: every path, JSON and C")                                 \
    CASE(examples, cf_ex_approval_paths, "approval: every path, JSON and C")

#define CF_DECLARE(feature, fn, what) void fn(void **state);
CF_CASES(CF_DECLARE)
#undef CF_DECLARE

#endif
