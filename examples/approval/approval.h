/*
 * approval.h — the approval workflow built with the C builder API; the same
 * definition as examples/approval/approval.json (with the default options,
 * cairn_def_to_json() of the two is byte-identical: tested).
 */
#ifndef CAIRN_EXAMPLE_APPROVAL_H
#define CAIRN_EXAMPLE_APPROVAL_H

#include <stdint.h>

#include "cairn_builder.h"

typedef struct {
    int version;                   /* 0 = 1 */
    int64_t timeout_ms;            /* first wait; 0 = one day */
    int64_t escalation_timeout_ms; /* wait after escalating; 0 = two days */
} approval_opts_t;

/*
 * A new builder holding approval (opts NULL = all defaults); the caller
 * destroys it with cairn_wfb_destroy(). NULL if memory ran out.
 */
cairn_wfb_t *approval_definition(const approval_opts_t *opts);

#endif
