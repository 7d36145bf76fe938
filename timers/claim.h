/*
 * claim.h — the Redis side of cairn-timers: key names, the two Lua scripts
 * (claim and ack), and the calls that run them.
 *
 * Keys of partition p, all with the hash tag {p} so one script touches one
 * slot (Redis Cluster) and partitions spread over instances:
 *   cairn:timers:{p}           ZSET  member -> due time (ms since the epoch);
 *                              written by the shard owner (shards/index.c)
 *   cairn:timers:{p}:inflight  ZSET  member -> lease expiry (ms)
 *   cairn:timers:{p}:due       HASH  member -> due time, for inflight members
 * A member is "generation|timer_id|workflow_id".
 *
 * The claim script atomically moves up to max due members into the inflight
 * set and re-claims inflight members whose lease expired; nothing is ever
 * popped by the client and pushed back. The ack script removes members whose
 * TimerFired was delivered. Both run through EVALSHA; a NOSCRIPT reply (the
 * script cache was flushed, a failover) is answered by EVAL of the source,
 * which caches it again.
 *
 * These calls neither connect nor reconnect: the caller owns the
 * redisContext and its error policy. All calls pipeline one script run per
 * partition, so a scan of P partitions costs one round trip.
 */
#ifndef CAIRN_TIMERS_CLAIM_H
#define CAIRN_TIMERS_CLAIM_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The Lua sources, exactly what the service runs (the unit test uses them). */
extern const char cairn_timers_claim_lua[];
extern const char cairn_timers_ack_lua[];

/* Key names; buffers of CAIRN_TIMERS_KEY_MAX bytes. */
#define CAIRN_TIMERS_KEY_MAX 64
void cairn_timers_key_due(char *buf, int partition);
void cairn_timers_key_inflight(char *buf, int partition);
void cairn_timers_key_duehash(char *buf, int partition);

/* The channel shard owners PUBLISH a new timer's due time on. */
#define CAIRN_TIMERS_WAKE_CHANNEL "cairn:timers:wake"

/* SHA1s of the loaded scripts; empty until cairn_timers_scripts_load. */
typedef struct {
    char claim_sha[41];
    char ack_sha[41];
} cairn_timers_scripts_t;

/*
 * SCRIPT LOAD of both scripts on rc (once per connection is enough; a
 * later NOSCRIPT falls back to EVAL by itself). CAIRN_ERR_REDIS on failure.
 */
cairn_err_t cairn_timers_scripts_load(redisContext *rc,
                                      cairn_timers_scripts_t *sc,
                                      char *errstr, size_t errstr_size);

/* One claimed timer. */
typedef struct {
    char *member;      /* "generation|timer_id|workflow_id", heap-owned */
    int64_t due_ms;    /* its score in the due set when first claimed */
    int reclaimed;     /* 1: taken over from an expired lease */
} cairn_timers_item_t;

/* What one claim returned for one partition. */
typedef struct {
    int partition;
    size_t n;                   /* claimed items */
    cairn_timers_item_t *items; /* n items, heap-owned */
    size_t merged;  /* due members dropped because already inflight */
    int64_t next_ms; /* earliest due time or lease expiry left in the
                        partition after this claim; -1 if both sets empty */
    int64_t pending;  /* ZCARD of the due set after the claim */
    int64_t inflight; /* ZCARD of the inflight set after the claim */
    int64_t overdue;  /* due members left in the due set after the claim
                       * (past due, not claimed: max reached) */
    char error[160];  /* the script's error reply, or "" (then n = 0) */
} cairn_timers_claim_t;

/* Frees the items; the struct may be reused. */
void cairn_timers_claim_clear(cairn_timers_claim_t *c);

/*
 * Claims, for each of the nparts partitions in parts, up to max members due
 * at now_ms (score <= now_ms) plus expired leases (lease expiry <= now_ms),
 * leasing each until now_ms + lease_ms. out[i] receives the result for
 * parts[i] (cleared first; the caller clears it after use). A script
 * that failed in Redis (e.g. WRONGTYPE, OOM) leaves out[i] empty with its
 * error reply in out[i].error; the other partitions are unaffected.
 * Returns CAIRN_ERR_REDIS when the connection failed (rc->err is set; the
 * context is unusable) or a reply was malformed, CAIRN_ERR_NOMEM; then every
 * out[i] is empty. A member claimed by a script whose reply was lost stays
 * inflight and is claimed again when its lease expires.
 */
cairn_err_t cairn_timers_claim(redisContext *rc, cairn_timers_scripts_t *sc,
                               const int *parts, size_t nparts, int64_t now_ms,
                               int64_t lease_ms, int64_t max,
                               cairn_timers_claim_t *out, char *errstr,
                               size_t errstr_size);

/* Members waiting to be removed from their inflight sets. */
typedef struct {
    int partition;
    char *member; /* heap-owned */
} cairn_timers_ack_t;

typedef struct {
    cairn_timers_ack_t *v;
    size_t n, cap;
} cairn_timers_acks_t;

/* Appends (takes ownership of member on success). CAIRN_ERR_NOMEM. */
cairn_err_t cairn_timers_acks_push(cairn_timers_acks_t *acks, int partition,
                                   char *member);
/* Frees every member and the array. */
void cairn_timers_acks_clear(cairn_timers_acks_t *acks);

/*
 * Removes every member of acks from its inflight set and due hash, whatever
 * its current lease (see docs/TIMERS.md: a delivered TimerFired makes every
 * lease on that member moot). *removed (if not NULL) counts members that
 * were still inflight. A connection failure (rc->err set) or
 * CAIRN_ERR_NOMEM keeps acks for a retry. Otherwise acks is emptied, even
 * when a script replied with an error (CAIRN_ERR_REDIS with its text,
 * rc->err == 0): those entries stay inflight and fire once more after
 * their lease, which the engine ignores as a duplicate.
 */
cairn_err_t cairn_timers_ack(redisContext *rc, cairn_timers_scripts_t *sc,
                             cairn_timers_acks_t *acks, size_t *removed,
                             char *errstr, size_t errstr_size);

#endif
