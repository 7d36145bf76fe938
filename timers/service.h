/*
 * service.h — cairn-timers' main loop.
 *
 * One thread. It owns two Redis connections (commands; a subscriber on
 * cairn:timers:wake), the producer (fire.h), the list of delivered members
 * waiting to be acknowledged, and the metrics. Each round: acknowledge what
 * was delivered, claim what is due in every partition (one pipelined round
 * trip), produce TimerFired for each claimed member, then sleep in poll()
 * until the earliest due time or lease expiry seen, capped at
 * timers.idle.max.ms, or until a pub/sub message announces an earlier
 * timer, a delivery report arrives, or a stop is requested.
 */
#ifndef CAIRN_TIMERS_SERVICE_H
#define CAIRN_TIMERS_SERVICE_H

#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "counters.h"

typedef struct cairn_timers_service_s cairn_timers_service_t;

/*
 * Builds the service from conf (borrowed; must outlive it). Checks the
 * partition count against the events topic when Kafka answers (a mismatch
 * is CAIRN_ERR_CONFIG). Does not need Redis. NULL with errstr and *errp.
 */
cairn_timers_service_t *cairn_timers_service_new(cairn_conf_t *conf,
                                                 cairn_err_t *errp,
                                                 char *errstr,
                                                 size_t errstr_size);
void cairn_timers_service_destroy(cairn_timers_service_t *svc);

/*
 * Runs until cairn_timers_service_stop, then stops claiming, waits for the
 * delivery reports of what it produced (up to message.timeout.ms; a second
 * stop cuts this short), acknowledges the delivered entries and returns
 * CAIRN_ERR_OK. Redis and Kafka outages are survived, not returned.
 */
cairn_err_t cairn_timers_service_run(cairn_timers_service_t *svc);

/* Async-signal-safe: asks run() to stop (a second call hurries it). */
void cairn_timers_service_stop(cairn_timers_service_t *svc);

/* The live counters (for a metrics endpoint on another thread). */
const cairn_timers_metrics_t *
cairn_timers_service_metrics(const cairn_timers_service_t *svc);

#endif
