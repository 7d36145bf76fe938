/*
 * order_saga.h — the order-saga workflow built with the C builder API; the
 * same definition as examples/order-saga/order-saga.json (with the default
 * options, cairn_def_to_json() of the two is byte-identical: tested).
 */
#ifndef CAIRN_EXAMPLE_ORDER_SAGA_H
#define CAIRN_EXAMPLE_ORDER_SAGA_H

#include <stdint.h>

#include "cairn_builder.h"

typedef struct {
    int version;                 /* 0 = 1 */
    const char *task_queue;      /* default queue; NULL = "default" */
    int64_t approval_timeout_ms; /* 0 = one hour */
} order_saga_opts_t;

/*
 * A new builder holding order-saga (opts NULL = all defaults). The caller
 * builds or serialises it and destroys it with cairn_wfb_destroy(). NULL if
 * memory ran out.
 */
cairn_wfb_t *order_saga_definition(const order_saga_opts_t *opts);

#endif
