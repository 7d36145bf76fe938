/*
 * fire.h — the Kafka side of cairn-timers: an idempotent producer
 * (enable.idempotence=true, acks=all) that turns claimed timers into
 * TimerFired events on <topic.prefix>events, keyed by workflow id.
 *
 * A timer's inflight entry may be removed only after its TimerFired was
 * delivered; so each produce carries the (partition, member) pair to the
 * delivery report, which appends it to the caller's ack list on success.
 * A failed delivery drops nothing but the local record: the entry stays
 * inflight and is claimed again when its lease expires. message.timeout.ms
 * defaults to 3/4 of timers.lease.ms so that a record is reported (delivered
 * or failed) before its lease can pass to another claimer — for records
 * still queued; one already sent to a broker that vanished is reported only
 * after request.timeout.ms, which is why cairn_timers_fire_holds exists.
 *
 * Single-threaded: every call, and every delivery report (served from
 * cairn_timers_fire_poll / _flush), runs on the caller's thread.
 */
#ifndef CAIRN_TIMERS_FIRE_H
#define CAIRN_TIMERS_FIRE_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "claim.h"
#include "conf.h"
#include "err.h"
#include "counters.h"

typedef struct cairn_timers_fire_s cairn_timers_fire_t;

/* Logs and aborts: cairn-timers' one out-of-memory policy. */
void cairn__timers_oom(void) __attribute__((noreturn));

/*
 * Splits "generation|timer_id|workflow_id" in place (the two separators are
 * overwritten): *timer_id and *workflow_id point into member. The workflow
 * id may itself contain '|'; the timer id may not. 0, or -1 if malformed.
 */
int cairn_timers_member_split(char *member, int64_t *generation,
                              char **timer_id, char **workflow_id);

/*
 * Creates the producer. acks receives delivered members (borrowed: it must
 * outlive the handle); metrics is borrowed too. NULL with errstr on a bad
 * configuration.
 */
cairn_timers_fire_t *cairn_timers_fire_new(cairn_conf_t *conf,
                                           cairn_timers_acks_t *acks,
                                           cairn_timers_metrics_t *metrics,
                                           char *errstr, size_t errstr_size);
/*
 * Purges what is still queued (those entries stay inflight in Redis and are
 * claimed again after their lease) and frees everything. NULL is a no-op.
 */
void cairn_timers_fire_destroy(cairn_timers_fire_t *f);

/*
 * Produces TimerFired for item, claimed from partition, with time_ms =
 * now_ms. On success the item's member passes to the handle (it->member
 * becomes NULL). Errors: CAIRN_ERR_DECODE (the member is malformed) or
 * CAIRN_ERR_INVALID_ARG (its ids do not encode) — such an entry can never
 * fire and should be removed; CAIRN_ERR_KAFKA (e.g. the local queue is
 * full) — the entry stays inflight.
 */
cairn_err_t cairn_timers_fire_produce(cairn_timers_fire_t *f, int partition,
                                      cairn_timers_item_t *it, int64_t now_ms,
                                      char *errstr, size_t errstr_size);

/*
 * 1 if a record for member is outstanding here. A claim that returns such a
 * member (its lease expired while librdkafka still held the record, e.g.
 * in-flight to a vanished broker until request.timeout.ms) must not produce
 * it again: the pending report settles it, and a failure leaves it inflight.
 */
int cairn_timers_fire_holds(const cairn_timers_fire_t *f, const char *member);

/* Serves delivery reports and errors for up to timeout_ms (0 = no wait). */
void cairn_timers_fire_poll(cairn_timers_fire_t *f, int timeout_ms);
/* Waits up to timeout_ms for every outstanding record to be reported. */
void cairn_timers_fire_flush(cairn_timers_fire_t *f, int timeout_ms);
/* Records produced and not yet reported. */
int64_t cairn_timers_fire_outstanding(const cairn_timers_fire_t *f);
/*
 * A descriptor that becomes readable when reports are waiting; read it
 * empty (non-blocking) and call cairn_timers_fire_poll.
 */
int cairn_timers_fire_fd(const cairn_timers_fire_t *f);
/* 1 after a fatal producer error: destroy the handle and make a new one. */
int cairn_timers_fire_fatal(const cairn_timers_fire_t *f);
/* The producer, e.g. for metadata requests. */
rd_kafka_t *cairn_timers_fire_rk(cairn_timers_fire_t *f);
/* The events topic name. */
const char *cairn_timers_fire_topic(const cairn_timers_fire_t *f);
/* The message.timeout.ms in effect. */
int cairn_timers_fire_timeout_ms(const cairn_timers_fire_t *f);

#endif
