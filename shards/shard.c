/*
 * shard.c — apply a partition's events in transactions.
 *
 * Ownership: the shard thread alone touches the producer, the workflow map,
 * the index and the batch; the node's thread only appends to the queue (under
 * mu) and sets `stop`. Records stay owned by the shard until their batch
 * commits, so an aborted batch is retried with the very same records.
 *
 * Transaction loop, per batch:
 *   begin -> for each record: decode (bad -> DLQ) -> engine step -> produce
 *   its outputs -> WorkflowState of the changed workflows whose snapshot
 *   is due (below) -> offsets (+ checkpoint metadata) ->
 *   commit. On an abortable error the transaction is aborted, the workflows
 *   are reloaded (the engine changed them in place) and the batch is applied
 *   again. On a fatal error (fenced: a newer owner ran init_transactions)
 *   the shard stops applying anything and waits for the rebalance that takes
 *   it away.
 *
 * Snapshots are lazy and rolling: a workflow changed by a batch joins a
 * FIFO of changed workflows (once, with the input offset of its first
 * change); each batch writes the state of those that have waited
 * state.snapshot.interval.ms, each record with a cairn.asof header (the
 * input offset its state is complete to); the shard also writes all of
 * them when idle and when it releases the partition. The committed input
 * offset carries, as its metadata, the checkpoint: the first-change offset
 * of the oldest workflow not yet written (or the committed offset itself).
 * A reload reads the state topic, then replays the inputs from the
 * checkpoint to the committed offset through the engine, skipping a
 * workflow's inputs below its record's asof, and discards the outputs
 * (committed long ago; restore.h). Most workflows are snapshotted once or
 * twice in their life instead of at every step, and the work is spread
 * over the batches; interval 0 snapshots every changed workflow in every
 * batch (nothing is then ever replayed).
 */
#include "shard.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "codec.h"
#include "defs.h"
#include "index.h"
#include "kafka.h"
#include "log.h"
#include "restore.h"
#include "wfmap.h"

typedef struct {
    cairn_event_t ev;
    int64_t offset; /* in the history partition, from the delivery report */
} hist_t;

typedef struct {
    char *id;
    int64_t offset; /* input offset of its first change since a snapshot */
    int64_t ms;     /* when that was (monotonic) */
} dirty_t;

typedef struct {
    char *id;
    cairn_wf_status_t prev; /* 0 if the workflow is new in this batch */
    int64_t prev_run;       /* its run before the batch */
    const char *result;     /* its run's result or error if it closed in */
    const char *error;      /* this batch (strings of events in hist[]) */
} touched_t;

struct cairn_shard_s {
    cairn_node_t *node;
    int32_t partition;
    rd_kafka_t *producer;
    rd_kafka_topic_t *rkt_state; /* the producer's state topic: its codec */
    cairn_wfmap_t *wfs;    /* workflows, decoded: running or recently closed */
    cairn_wfmap_t *closed; /* closed workflows at rest (cairn_frozen_t) */
    cairn_index_t *ix;
    pthread_t thread;

    pthread_mutex_t mu; /* guards q*, stop */
    pthread_cond_t cv;
    rd_kafka_message_t **q;
    size_t qhead, qlen, qcap;
    int stop; /* 0 run; 1 finish the batch, commit, exit; 2 abort, exit */

    int64_t next_offset; /* first input offset not yet committed; -1 unknown */
    int fenced;
    int resumed; /* state kept from before a rebalance: may skip restore */
    int state_clean; /* wfs equal the committed state (no batch half-applied) */

    char **evict; /* closed workflows tombstoned in this batch */
    size_t nevict, evictcap;
    struct freeze_s { /* closed workflows snapshotted in this batch */
        char *id, *data;
        size_t len;
    } *freeze;
    size_t nfreeze, freezecap;
    int64_t next_sweep_ms; /* the next eviction pass starts */
    size_t sweep_pos;      /* the pass in progress (sweeping): its place */
    int sweeping;

    rd_kafka_message_t **batch;
    size_t nbatch, batchcap;
    cairn_outputs_t out;
    hist_t *hist;
    size_t nhist, histcap;
    touched_t *touched;
    size_t ntouched, touchedcap;
    cairn_wfmap_t *touched_set; /* ids in touched[], for O(1) lookups */
    rd_kafka_resp_err_t dr_err;
    uint32_t batch_gen; /* tags delivery reports with their attempt */
    long live_reported; /* this shard's share of the node's live gauge */
    long rest_reported; /* and of its at-rest gauge */
    size_t last_batch;  /* records in the previous batch */
    uint64_t steps;      /* engine steps run, for sampling */
    int64_t check_every; /* determinism.check.every */

    cairn_wfmap_t *dirty; /* ids in dq[] */
    dirty_t *dq;          /* changed, not yet snapshotted, oldest first */
    size_t dq_head, dq_len, dq_cap;
    int64_t ckpt;         /* committed checkpoint (input offset); -1 none */
    int64_t snap_every;   /* state.snapshot.interval.ms */
    cairn_wfmap_t *asof;  /* load(): id -> 1 + asof of its state record */
    int replaying;        /* load(): re-applying inputs, outputs discarded */
    int replay_failed;    /* a replayed step ran out of memory */
    int force_snapshot;   /* this batch must write every changed workflow */
    int64_t lap_us;       /* start of the phase being timed (lap()) */
    int64_t cycle_us[CAIRN_PHASES]; /* this cycle's time by phase */
    struct rusage cycle_ru;         /* the thread's usage at its start */
};

/* The committed offset's metadata: "cairn.checkpoint=<input offset>". */
#define CKPT_PREFIX "cairn.checkpoint="

/* Keeps the node's workflows-in-memory gauges equal to the sums of maps. */
static void report_live(cairn_shard_t *shard) {
    long rest = shard->closed ? (long)cairn_wfmap_count(shard->closed) : 0;
    long n = (shard->wfs ? (long)cairn_wfmap_count(shard->wfs) : 0) + rest;
    shard->node->m.live += n - shard->live_reported;
    shard->live_reported = n;
    shard->node->m.at_rest += rest - shard->rest_reported;
    shard->rest_reported = rest;
}

/* Ends the phase being timed: its time goes to cairn_shard_seconds_total. */
static void lap(cairn_shard_t *shard, int phase) {
    int64_t now = cairn_mono_us();
    cairn_metric_inc(shard->node->m.phase[phase],
                     (double)(now - shard->lap_us) / 1e6);
    shard->cycle_us[phase] += now - shard->lap_us;
    shard->lap_us = now;
}

static void *xrealloc(void *p, size_t n) {
    void *np = realloc(p, n);
    if (!np) {
        LOG_ERROR("out of memory");
        abort(); /* daemons abort on OOM through one place */
    }
    return np;
}

/* ---- delivery reports --------------------------------------------------- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    cairn_shard_t *shard = opaque;
    (void)rk;
    if (m->err) {
        shard->dr_err = m->err;
        return;
    }
    /* opaque = attempt generation << 32 | 1-based history index: a late
     * report of an aborted attempt must not set an offset of its retry. */
    uintptr_t tag = (uintptr_t)m->_private;
    uintptr_t idx = tag & 0xffffffffu;
    if (idx && idx <= shard->nhist && (tag >> 32) == shard->batch_gen)
        shard->hist[idx - 1].offset = m->offset;
}

/* ---- producer and restore ----------------------------------------------- */

static rd_kafka_t *new_producer(cairn_shard_t *shard, char *errstr,
                                size_t errstr_size) {
    cairn_node_t *node = shard->node;
    char txn_id[300], cid[64], tmo[32];
    snprintf(txn_id, sizeof(txn_id), "%sshard-%d",
             cairn_conf_str(node->conf, "topic.prefix"), shard->partition);
    snprintf(cid, sizeof(cid), "cairnd-shard-%d", shard->partition);
    snprintf(tmo, sizeof(tmo), "%lld",
             (long long)cairn_conf_int(node->conf, "transaction.timeout.ms"));
    rd_kafka_conf_t *kc = cairn_kafka_producer_conf_new(node->conf, cid,
                                                        errstr, errstr_size);
    if (!kc)
        return NULL;
    if (cairn_kafka_conf_set(kc, "transactional.id", txn_id, errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "transaction.timeout.ms", tmo, errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "linger.ms", "50", errstr, errstr_size) ||
        /* A batch's first AddPartitions/AddOffsets often meets the
         * previous commit's markers still being written
         * (CONCURRENT_TRANSACTIONS): retry after 10 ms, not 100. */
        cairn_kafka_conf_set(kc, "retry.backoff.ms", "10", errstr,
                             errstr_size)) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_opaque(kc, shard);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    /* Fences the previous owner and aborts its open transaction. */
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    if (e) {
        snprintf(errstr, errstr_size, "init_transactions(%s): %s", txn_id,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(rk);
        return NULL;
    }
    /* The state topic's records are compressed (state.compression, checked
     * at start): its handle, made before any record names the topic, is
     * the one the producer uses for it. */
    rd_kafka_topic_conf_t *tc = cairn_kafka_topic_conf_compression(
        cairn_conf_str(node->conf, "state.compression"), errstr, errstr_size);
    if (!tc || !(shard->rkt_state = rd_kafka_topic_new(rk, node->t_state, tc))) {
        if (tc)
            snprintf(errstr, errstr_size, "state topic: %s",
                     rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/*
 * Re-registers the decoded workflows and their pending timers in Redis:
 * all of them (full: repair_all()), or only the running ones (the periodic
 * drift repair, which must stay cheap however many closed workflows are
 * retained; describe falls back to the state topic for a closed one Redis
 * lost). Visits at most budget workflows from *pos on, adds them to
 * *visited, and returns 1 once it reached the end, -1 if Redis is gone,
 * else 0: the periodic repair runs a slice between batches instead of
 * stalling the shard for a pass over every waiting workflow (a map that
 * grows in between may be walked slightly out of order; the next pass
 * catches up).
 */
#define REPAIR_SLICE 2000
static int repair_index(cairn_shard_t *shard, int full, size_t *pos,
                        size_t budget, size_t *visited_out) {
    size_t n = 0, visited = 0;
    const char *id;
    cairn_wf_t *wf;
    int done = 0;
    while (visited < budget) {
        if (!(wf = cairn_wfmap_next(shard->wfs, pos, &id))) {
            done = 1;
            break;
        }
        visited++;
        int running = cairn_wf_status(wf) == CAIRN_WF_RUNNING;
        if (!running && !full)
            continue;
        cairn_index_workflow(shard->ix, wf, 0, 0, NULL, NULL);
        if (running) {
            for (size_t i = 0; i < cairn_wf_timer_count(wf); i++) {
                const char *tid;
                int64_t gen, at;
                cairn_wf_timer_at(wf, i, &tid, &gen, &at);
                cairn_index_timer_add(shard->ix, id, tid, gen, at);
            }
        }
        if (++n % 500 == 0 && cairn_index_flush(shard->ix))
            return -1; /* Redis is gone: the full repair on its return */
    }
    if (visited_out)
        *visited_out += visited;
    if (cairn_index_flush(shard->ix))
        return -1;
    return done;
}

/*
 * The periodic drift repair, paced: a pass starts every
 * timers.repair.interval.ms and is spread over the first half of it, each
 * call visiting the share of the workflows (counted at the pass's start)
 * that the time since then calls for, at most REPAIR_SLICE. Unpaced, a
 * pass went through the map as fast as batches came, 2,000 workflows a
 * batch: with 25,000 waiting workflows on a shard that is ~100,000 Redis
 * commands within a second, once a minute, and Redis's CPU doubled and
 * the workflows in flight waited for their index writes (a dip of ~1.5 s in
 * the benchmark, docs/BENCHMARKS.md, "Seventh session").
 */
typedef struct {
    int on;
    int64_t t0, next; /* this pass's start, the next's (ms, monotonic) */
    size_t pos, total, visited;
} repair_pace_t;

static void repair_paced(cairn_shard_t *shard, repair_pace_t *rp,
                         int64_t every) {
    int64_t now = cairn_mono_ms();
    if (!rp->on) {
        if (now < rp->next)
            return;
        rp->on = 1;
        rp->t0 = now;
        rp->pos = rp->visited = 0;
        rp->total = cairn_wfmap_count(shard->wfs);
    }
    int64_t spread = every / 2, el = now - rp->t0;
    size_t due = el >= spread ? SIZE_MAX
                              : (size_t)((double)rp->total * (double)el /
                                         (double)spread);
    if (due != SIZE_MAX && due <= rp->visited)
        return; /* ahead of the pace */
    size_t budget = due == SIZE_MAX ? REPAIR_SLICE : due - rp->visited;
    if (budget > REPAIR_SLICE)
        budget = REPAIR_SLICE;
    int r = repair_index(shard, 0, &rp->pos, budget, &rp->visited);
    if (r == 0)
        return;
    /* the end (or Redis gone: the full repair on its return) */
    rp->on = 0;
    rp->next = rp->t0 + every > now ? rp->t0 + every : now;
}

/*
 * Every workflow into Redis: after taking the shard, or when Redis is back
 * after an outage. A closed workflow at rest is decoded for its record.
 */
static void repair_all(cairn_shard_t *shard) {
    char errstr[256];
    size_t pos = 0, n = 0;
    const char *id;
    cairn_frozen_t *f;
    if (repair_index(shard, 1, &pos, SIZE_MAX, NULL) < 0)
        return;
    pos = 0;
    while ((f = cairn_wfmap_next_frozen(shard->closed, &pos, &id))) {
        cairn_wf_t *wf = cairn_wf_decode(f->data, f->len, errstr,
                                         sizeof(errstr));
        if (!wf) { /* its own encoding: out of memory */
            cairn_log(CAIRN_LOG_ERROR, shard->partition, id, "repair: %s",
                      errstr);
            return; /* not clean: the next full repair tries again */
        }
        cairn_index_workflow(shard->ix, wf, 0, 0, NULL, NULL);
        cairn_wf_destroy(wf);
        if (++n % 500 == 0 && cairn_index_flush(shard->ix))
            return;
    }
    if (!cairn_index_flush(shard->ix))
        cairn_index_set_clean(shard->ix);
}

/* ---- changed workflows, oldest first ------------------------------------- */

static size_t dirty_count(const cairn_shard_t *shard) {
    return shard->dq_len - shard->dq_head;
}

static void dirty_clear(cairn_shard_t *shard) {
    for (size_t i = shard->dq_head; i < shard->dq_len; i++)
        free(shard->dq[i].id);
    shard->dq_head = shard->dq_len = 0;
    cairn_wfmap_clear(shard->dirty);
}

/* Marks id changed by the input at offset (a no-op if it already is). */
static void dirty_add(cairn_shard_t *shard, const char *id, int64_t offset) {
    if (cairn_wfmap_has(shard->dirty, id))
        return;
    if (shard->dq_len == shard->dq_cap && shard->dq_head) {
        memmove(shard->dq, shard->dq + shard->dq_head,
                dirty_count(shard) * sizeof(dirty_t));
        shard->dq_len -= shard->dq_head;
        shard->dq_head = 0;
    }
    if (shard->dq_len == shard->dq_cap) {
        shard->dq_cap = shard->dq_cap ? shard->dq_cap * 2 : 256;
        shard->dq = xrealloc(shard->dq, shard->dq_cap * sizeof(dirty_t));
    }
    dirty_t *d = &shard->dq[shard->dq_len++];
    if (!(d->id = strdup(id)) || cairn_wfmap_put(shard->dirty, id, NULL))
        abort();
    d->offset = offset;
    d->ms = cairn_mono_ms();
}

/* 1 if the oldest changed workflow has waited state.snapshot.interval.ms. */
static int snapshot_due(const cairn_shard_t *shard) {
    return dirty_count(shard) &&
           shard->dq[shard->dq_head].ms + shard->snap_every <= cairn_mono_ms();
}

/*
 * The group's committed offset of events[p] and its checkpoint (the offset
 * itself when the metadata has none: snapshots were then written with every
 * batch). *off is -1 if nothing was ever committed. 0, or -1 on error.
 */
static int stopping(cairn_shard_t *shard);

static int committed(cairn_shard_t *shard, int64_t *off, int64_t *ckpt) {
    cairn_node_t *node = shard->node;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, node->t_events, shard->partition);
    *off = *ckpt = -1;
    /* Short tries: while the node is revoking this very shard the group
     * cannot answer, and the revocation waits for this thread. */
    rd_kafka_resp_err_t err;
    int64_t give_up = cairn_mono_ms() + 10000;
    while ((err = rd_kafka_committed(node->consumer, l, 500)) ==
               RD_KAFKA_RESP_ERR__TIMED_OUT &&
           !stopping(shard) && cairn_mono_ms() < give_up)
        ;
    if (!err)
        err = l->elems[0].err;
    if (!err && l->elems[0].offset >= 0) {
        const rd_kafka_topic_partition_t *tp = &l->elems[0];
        size_t plen = strlen(CKPT_PREFIX);
        *off = *ckpt = tp->offset;
        /* No metadata: written before snapshots were lazy, or by a tool
         * (offsets may only be reset after a graceful stop, which writes
         * every snapshot): the state topic is complete. A checkpoint that
         * does not parse, or lies past the offset, is an error. */
        if (tp->metadata && tp->metadata_size >= plen &&
            !memcmp(tp->metadata, CKPT_PREFIX, plen)) {
            int64_t v = cairn_offset_parse((const char *)tp->metadata + plen,
                                           tp->metadata_size - plen);
            if (v < 0 || v > *off)
                err = RD_KAFKA_RESP_ERR__BAD_MSG;
            else
                *ckpt = v;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        cairn_log(CAIRN_LOG_WARN, shard->partition, NULL,
                  "committed offset of %s: %s", node->t_events,
                  rd_kafka_err2str(err));
    return err ? -1 : 0;
}

static void apply_one(cairn_shard_t *shard, rd_kafka_message_t *m,
                      int *failed);

static int stopping_cb(void *arg) { return stopping(arg) != 0; }

static void replay_one(rd_kafka_message_t *m, void *arg) {
    cairn_shard_t *shard = arg;
    apply_one(shard, m, &shard->replay_failed);
}

/*
 * Replaces the live workflows with the committed state: the state topic,
 * then the inputs since its checkpoint, replayed. Sets next_offset and
 * ckpt. 0 or -1 (the map is then not clean: call again).
 */
static int load(cairn_shard_t *shard) {
    cairn_node_t *node = shard->node;
    char errstr[512] = "";
    long records = 0, replayed = 0;
    int64_t t0 = cairn_mono_ms(), t1 = t0, deadline = t0 + 120000, off,
            ckpt;
    cairn_err_t err = CAIRN_ERR_NOMEM;
    cairn_wfmap_t *map = NULL, *closed = NULL;
    shard->state_clean = 0;
    if (committed(shard, &off, &ckpt))
        return -1;
    cairn_reader_t *r = cairn_reader_new(node->conf, shard->partition, errstr,
                                         sizeof(errstr));
    if (!r) {
        cairn_log(CAIRN_LOG_ERROR, shard->partition, NULL, "restore: %s",
                  errstr);
        return -1;
    }
    /* A revocation waits for this thread: stop reading when it comes. */
    cairn_reader_set_cancel(r, stopping_cb, shard);
    cairn_wfmap_t *asof = cairn_wfmap_new_borrowed();
    if ((map = cairn_wfmap_new()) && (closed = cairn_wfmap_new_frozen()) &&
        asof)
        err = cairn_restore_state(r, node->t_state, shard->partition, map,
                                  closed, asof, &records, deadline, errstr,
                                  sizeof(errstr));
    if (!err) {
        cairn_wfmap_destroy(shard->wfs);
        cairn_wfmap_destroy(shard->closed);
        shard->wfs = map;
        shard->closed = closed;
        shard->sweeping = 0; /* a pass starts over on the new map */
        map = closed = NULL;
        dirty_clear(shard);
        t1 = cairn_mono_ms();
        if (ckpt >= 0 && ckpt < off) {
            shard->replaying = 1;
            shard->replay_failed = 0;
            shard->asof = asof;
            err = cairn_restore_range(r, node->t_events, shard->partition,
                                      ckpt, off, replay_one, shard, &replayed,
                                      deadline, errstr, sizeof(errstr));
            shard->replaying = 0;
            shard->asof = NULL;
            if (!err && shard->replay_failed)
                err = cairn__seterr(errstr, sizeof(errstr), CAIRN_ERR_NOMEM,
                                    "out of memory replaying inputs");
        }
    }
    cairn_reader_destroy(r);
    cairn_wfmap_destroy(map);
    cairn_wfmap_destroy(closed);
    cairn_wfmap_destroy(asof);
    if (err) {
        cairn_log(CAIRN_LOG_ERROR, shard->partition, NULL, "restore: %s",
                  err == CAIRN_ERR_NOMEM && !*errstr ? "out of memory"
                                                     : errstr);
        return -1;
    }
    shard->next_offset = off;
    shard->ckpt = ckpt;
    shard->state_clean = 1;
    int64_t ms = cairn_mono_ms() - t0;
    size_t nwfs = cairn_wfmap_count(shard->wfs),
           nclosed = cairn_wfmap_count(shard->closed);
    cairn_metric_inc(node->m.restored, (double)(nwfs + nclosed));
    cairn_metric_observe(node->m.restore_s, ms / 1000.0);
    report_live(shard);
    cairn_log(CAIRN_LOG_INFO, shard->partition, NULL,
              "restored %zu workflows from %ld state records in %lld ms "
              "(replayed %ld input events after the checkpoint in %lld ms; "
              "%zu closed, at rest)",
              nwfs + nclosed, records, (long long)ms, replayed,
              (long long)(cairn_mono_ms() - t1), nclosed);
    return 0;
}

/* ---- the batch ---------------------------------------------------------- */

static void produce_retry(cairn_shard_t *shard, const char *topic,
                          int32_t partition, const cairn_event_t *ev,
                          const rd_kafka_headers_t *hdrs, void *opaque,
                          int *failed) {
    char errstr[512];
    for (;;) {
        /* Engine output: its JSON was written by jansson or comes from a
         * decoded, validated input, so the codec need not parse it again. */
        cairn_err_t err = cairn_kafka_produce_event_flags(
            shard->producer, topic, partition, ev, CAIRN_CODEC_JSON_TRUSTED,
            hdrs, opaque, errstr, sizeof(errstr));
        if (!err)
            return;
        if (strstr(errstr, "Queue full")) {
            rd_kafka_poll(shard->producer, 50);
            continue;
        }
        cairn_log(CAIRN_LOG_ERROR, shard->partition, ev->workflow_id, "%s",
                  errstr);
        *failed = 1;
        return;
    }
}

/* Sends a record that could not be applied to the DLQ, bytes unchanged. */
static void dlq_raw(cairn_shard_t *shard, const rd_kafka_message_t *m,
                    const char *reason, int *failed) {
    cairn_node_t *node = shard->node;
    rd_kafka_headers_t *src = NULL, *hdrs;
    char num[32];
    if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(src);
    else
        hdrs = rd_kafka_headers_new(4);
    rd_kafka_header_add(hdrs, CAIRN_HDR_REASON, -1, reason, -1);
    rd_kafka_header_add(hdrs, "cairn.source.topic", -1, node->t_events, -1);
    snprintf(num, sizeof(num), "%d", m->partition);
    rd_kafka_header_add(hdrs, "cairn.source.partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)m->offset);
    rd_kafka_header_add(hdrs, "cairn.source.offset", -1, num, -1);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            shard->producer, RD_KAFKA_V_TOPIC(node->t_dlq),
            RD_KAFKA_V_PARTITION(shard->partition),
            RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(shard->producer, 50);
            continue;
        }
        if (err) {
            rd_kafka_headers_destroy(hdrs);
            cairn_log(CAIRN_LOG_ERROR, shard->partition, NULL, "dlq: %s",
                      rd_kafka_err2str(err));
            *failed = 1;
        }
        break;
    }
    cairn_metric_inc(shard->node->m.dlq, 1);
    /* The record's key is its workflow id, when the producer set one (a
     * malformed record may carry any bytes: shown printable, truncated). */
    char wf[129];
    size_t n = m->key_len < sizeof(wf) - 1 ? m->key_len : sizeof(wf) - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = ((const unsigned char *)m->key)[i];
        wf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    wf[n] = '\0';
    cairn_log(CAIRN_LOG_WARN, shard->partition, n ? wf : NULL,
              "offset %lld sent to %s: %s", (long long)m->offset, node->t_dlq,
              reason);
}

static void touch(cairn_shard_t *shard, const char *id,
                  cairn_wf_status_t prev, int64_t prev_run, int64_t offset) {
    dirty_add(shard, id, offset);
    if (shard->replaying || cairn_wfmap_has(shard->touched_set, id))
        return;
    if (shard->ntouched == shard->touchedcap) {
        shard->touchedcap = shard->touchedcap ? shard->touchedcap * 2 : 64;
        shard->touched = xrealloc(shard->touched,
                                  shard->touchedcap * sizeof(touched_t));
    }
    touched_t *t = &shard->touched[shard->ntouched++];
    /* The set maps an id to its 1-based index in touched[]. */
    if (!(t->id = strdup(id)) ||
        cairn_wfmap_put(shard->touched_set, id,
                        (cairn_wf_t *)(uintptr_t)shard->ntouched))
        abort();
    t->prev = prev;
    t->prev_run = prev_run;
    t->result = t->error = NULL;
}

/* Remembers a workflow's terminal result or error for the index. */
static void note_terminal(cairn_shard_t *shard, const cairn_event_t *e) {
    const char *result = NULL, *error = NULL;
    if (e->type == CAIRN_EV_WORKFLOW_COMPLETED)
        result = e->result ? e->result : "null";
    else if (e->type == CAIRN_EV_WORKFLOW_FAILED)
        error = e->error_type;
    else if ((e->type == CAIRN_EV_WORKFLOW_CANCELED ||
              e->type == CAIRN_EV_WORKFLOW_TERMINATED) &&
             e->reason && *e->reason)
        error = e->reason;
    else
        return;
    uintptr_t i = (uintptr_t)cairn_wfmap_get(shard->touched_set,
                                             e->workflow_id);
    if (i) {
        shard->touched[i - 1].result = result;
        shard->touched[i - 1].error = error;
    }
}

/* Routes one engine output. History events are kept for the index. */
static void route(cairn_shard_t *shard, cairn_output_t *o, int *failed) {
    cairn_node_t *node = shard->node;
    char topic[512], errstr[512];
    switch (o->dest) {
    case CAIRN_OUT_HISTORY:
        if (shard->nhist == shard->histcap) {
            shard->histcap = shard->histcap ? shard->histcap * 2 : 256;
            shard->hist = xrealloc(shard->hist, shard->histcap * sizeof(hist_t));
        }
        shard->hist[shard->nhist].ev = o->ev; /* moved */
        shard->hist[shard->nhist].offset = -1;
        memset(&o->ev, 0, sizeof(o->ev));
        shard->nhist++;
        note_terminal(shard, &shard->hist[shard->nhist - 1].ev);
        produce_retry(shard, node->t_history, shard->partition,
                      &shard->hist[shard->nhist - 1].ev, NULL,
                      (void *)((uintptr_t)shard->batch_gen << 32 |
                               (uintptr_t)shard->nhist),
                      failed);
        break;
    case CAIRN_OUT_TASK:
        if (cairn__node_ensure_task_topic(node, o->ev.task_queue, topic,
                                          sizeof(topic), errstr,
                                          sizeof(errstr))) {
            cairn_log(CAIRN_LOG_ERROR, shard->partition, o->ev.workflow_id,
                      "%s", errstr);
            *failed = 1;
            break;
        }
        produce_retry(shard, topic, RD_KAFKA_PARTITION_UA, &o->ev, NULL, NULL,
                      failed);
        break;
    case CAIRN_OUT_EVENTS:
        produce_retry(shard, node->t_events, RD_KAFKA_PARTITION_UA, &o->ev,
                      NULL, NULL, failed);
        break;
    case CAIRN_OUT_DLQ: {
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, CAIRN_HDR_REASON, -1,
                            o->ev.reason ? o->ev.reason : "rejected", -1);
        produce_retry(shard, node->t_dlq, shard->partition, &o->ev, h, NULL,
                      failed);
        rd_kafka_headers_destroy(h);
        cairn_metric_inc(node->m.dlq, 1);
        cairn_log(CAIRN_LOG_WARN, shard->partition, o->ev.workflow_id,
                  "%s rejected to %s: %s",
                  o->ev.rejected_type ? o->ev.rejected_type : "event",
                  node->t_dlq, o->ev.reason ? o->ev.reason : "");
        break;
    }
    }
}

/* 1 if two outputs encode to the same bytes for the same destination. */
static int same_output(const cairn_output_t *a, const cairn_output_t *b) {
    void *ba = NULL, *bb = NULL;
    size_t la = 0, lb = 0;
    int same = a->dest == b->dest &&
               !cairn_codec_encode(&a->ev, &ba, &la, NULL, 0) &&
               !cairn_codec_encode(&b->ev, &bb, &lb, NULL, 0) && la == lb &&
               !memcmp(ba, bb, la);
    free(ba);
    free(bb);
    return same;
}

/*
 * Runs the step again on a copy of the state it started from (shadow, NULL
 * for a new workflow) and compares the new state and the outputs from
 * shard->out.v[out_from] on with the real run's; a difference is counted as a
 * replay divergence and logged. Takes ownership of shadow.
 */
static void check_determinism(cairn_shard_t *shard,
                              const cairn_registry_t *reg, cairn_wf_t *shadow,
                              const cairn_event_t *ev, const cairn_wf_t *wf,
                              size_t out_from) {
    cairn_outputs_t again;
    cairn_outputs_init(&again);
    int same = cairn_engine_step(reg, &shard->node->limits, &shadow, ev,
                                 &again, NULL, 0) == CAIRN_ERR_OK &&
               again.n == shard->out.n - out_from;
    for (size_t i = 0; same && i < again.n; i++)
        same = same_output(&again.v[i], &shard->out.v[out_from + i]);
    if (same && (wf || shadow)) {
        size_t la = 0, lb = 0;
        char *a = wf ? cairn_wf_encode(wf, &la) : NULL;
        char *b = shadow ? cairn_wf_encode(shadow, &lb) : NULL;
        same = a && b && la == lb && !memcmp(a, b, la);
        free(a);
        free(b);
    }
    if (!same) {
        cairn_metric_inc(shard->node->m.divergences, 1);
        cairn_log(CAIRN_LOG_ERROR, shard->partition, ev->workflow_id,
                  "non-determinism: the same %s on the same state gave "
                  "different outputs or state",
                  cairn_event_type_name(ev->type));
    }
    cairn_outputs_free(&again);
    cairn_wf_destroy(shadow);
}

/* 1 if the definition ev needs (a start's, or its workflow's) is unknown. */
static int def_missing(cairn_node_t *node, const cairn_event_t *ev,
                       const cairn_wf_t *wf) {
    return ev->type == CAIRN_EV_START_WORKFLOW
               ? !cairn_defs_has(node->defs, ev->workflow_type, ev->version)
               : wf && !cairn_defs_has(node->defs, cairn_wf_type(wf),
                                       cairn_wf_version(wf));
}

static void apply_one(cairn_shard_t *shard, rd_kafka_message_t *m,
                      int *failed) {
    cairn_node_t *node = shard->node;
    char errstr[512];
    cairn_event_t ev;
    /* The engine parses every JSON field it uses and rejects bad JSON
     * itself (docs/WORKFLOWS.md): no need for the codec to parse it too. */
    cairn_err_t err = cairn_kafka_decode_flags(m, CAIRN_CODEC_JSON_UNCHECKED,
                                               &ev, errstr, sizeof(errstr));
    if (err && shard->replaying) {
        /* Sent to the DLQ when it was first applied (the same build). */
        cairn_log(CAIRN_LOG_WARN, shard->partition, NULL,
                  "replay: offset %lld skipped: %s", (long long)m->offset,
                  errstr);
        return;
    }
    /* Replaying: the workflow's state record already includes this input
     * (it was written, or evicted, after it). */
    if (!err && shard->replaying && shard->asof) {
        uintptr_t a = (uintptr_t)cairn_wfmap_get(shard->asof, ev.workflow_id);
        if (a && m->offset < (int64_t)(a - 1)) {
            cairn_event_clear(&ev);
            return;
        }
    }
    if (err) {
        char reason[600];
        snprintf(reason, sizeof(reason), "%s: %s", cairn_err2name(err),
                 errstr);
        dlq_raw(shard, m, reason, failed);
        return;
    }
    /* Engine time is the record's time, stored in the log: replayable. */
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    if (ts > 0)
        ev.time_ms = ts;
    cairn_wf_t *wf = cairn_wfmap_get(shard->wfs, ev.workflow_id);
    /* A closed workflow at rest is decoded for the step. It stays at rest
     * if the step leaves it unchanged (a late result, a duplicate start);
     * if not, it is a decoded workflow again. */
    cairn_frozen_t *frozen =
        wf ? NULL : cairn_wfmap_get_frozen(shard->closed, ev.workflow_id);
    if (frozen && !(wf = cairn_wf_decode(frozen->data, frozen->len, errstr,
                                         sizeof(errstr)))) {
        /* Its own encoding: out of memory. Fail the batch (reload, retry). */
        cairn_log(CAIRN_LOG_ERROR, shard->partition, ev.workflow_id,
                  "decoding a closed workflow: %s", errstr);
        *failed = 1;
        cairn_event_clear(&ev);
        return;
    }
    /* A definition published just before its first use may still be on its
     * way through the definitions topic: catch up before judging. */
    if (def_missing(node, &ev, wf)) {
        cairn_defs_sync(node->defs, 10000);
        /* Still missing: the engine rejects the input now, but a replay
         * would find the definition and apply it. Snapshot everything in
         * this transaction so that the checkpoint passes this input and
         * it is never replayed. */
        if (!shard->replaying && def_missing(node, &ev, wf))
            shard->force_snapshot = 1;
    }

    cairn_wf_t *before = wf;
    cairn_wf_status_t prev = wf ? cairn_wf_status(wf) : 0;
    int64_t prev_run = wf ? cairn_wf_run(wf) : 0;
    /* A sample of steps runs twice to catch non-determinism in the engine
     * or a definition: the copy is taken before step() changes `before` in
     * place. */
    int check = !shard->replaying && shard->check_every > 0 &&
                ++shard->steps % (uint64_t)shard->check_every == 0;
    cairn_wf_t *shadow = check && before ? cairn_wf_clone(before) : NULL;
    size_t out_from = shard->out.n;
    const cairn_registry_t *reg = cairn_defs_rdlock(node->defs);
    err = cairn_engine_step(reg, &node->limits, &wf, &ev, &shard->out, errstr,
                            sizeof(errstr));
    if (!err && check && (shadow || !before))
        check_determinism(shard, reg, shadow, &ev, wf, out_from);
    else
        cairn_wf_destroy(shadow);
    cairn_defs_unlock(node->defs);
    if (err == CAIRN_ERR_NOMEM || err == CAIRN_ERR_INTERNAL) {
        /* Not the input's fault, and the step may have half-changed the
         * workflow in place: drop it and fail the batch (abort, reload,
         * retry). */
        cairn_log(CAIRN_LOG_ERROR, shard->partition, ev.workflow_id,
                  "engine: %s", errstr);
        if (frozen)
            cairn_wf_destroy(before);
        else if (before)
            cairn_wfmap_del(shard->wfs, ev.workflow_id);
        *failed = 1;
        cairn_outputs_reset(&shard->out);
        cairn_event_clear(&ev);
        return;
    }
    if (err) {
        char reason[600];
        snprintf(reason, sizeof(reason), "engine: %s: %s",
                 cairn_err2name(err), errstr);
        if (!shard->replaying)
            dlq_raw(shard, m, reason, failed);
        if (frozen)
            cairn_wf_destroy(wf);
        cairn_outputs_reset(&shard->out);
        cairn_event_clear(&ev);
        return;
    }
    /* The step changes a workflow in place; a new one is stored here. */
    if (wf != before && wf && cairn_wfmap_swap(shard->wfs, ev.workflow_id, wf))
        abort();
    if (frozen && shard->out.state_changed) {
        if (cairn_wfmap_put(shard->wfs, ev.workflow_id, wf))
            abort();
        cairn_wfmap_del(shard->closed, ev.workflow_id);
        frozen = NULL;
    }
    if (shard->out.state_changed && wf)
        touch(shard, ev.workflow_id, prev, prev_run, m->offset);
    /* Replaying: these outputs were committed when the input first ran. */
    for (size_t i = 0; !shard->replaying && i < shard->out.n; i++)
        route(shard, &shard->out.v[i], failed);
    if (frozen) /* unchanged: back to rest */
        cairn_wf_destroy(wf);
    cairn_outputs_reset(&shard->out);
    cairn_event_clear(&ev);
}

/*
 * Writes the state of the changed workflows that have waited
 * state.snapshot.interval.ms (all of them if force), oldest first, each
 * with its asof header upto (every input below it is applied). *n counts
 * them.
 */
static void produce_states(cairn_shard_t *shard, int force, int64_t upto,
                           size_t *n, int *failed) {
    char asof[32];
    snprintf(asof, sizeof(asof), "%lld", (long long)upto);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, CAIRN_HDR_ASOF, -1, asof, -1);
    while (dirty_count(shard) &&
           (force || shard->snap_every == 0 || snapshot_due(shard))) {
        dirty_t *d = &shard->dq[shard->dq_head++];
        cairn_wf_t *wf = cairn_wfmap_get(shard->wfs, d->id);
        int kept = 0; /* d->id handed to freeze[] */
        if (wf) {
            size_t len;
            char *data = cairn_wf_encode(wf, &len);
            if (!data)
                abort();
            cairn_event_t st = {0};
            st.type = CAIRN_EV_WORKFLOW_STATE;
            st.workflow_id = d->id;
            st.time_ms = cairn_wf_updated_ms(wf);
            st.seq = cairn_wf_seq(wf);
            st.workflow_type = (char *)cairn_wf_type(wf);
            st.version = cairn_wf_version(wf);
            st.status = (char *)cairn_wf_status_name(cairn_wf_status(wf));
            st.fsm_state = (char *)cairn_wf_fsm_state(wf);
            st.started_ms = cairn_wf_started_ms(wf);
            st.data = data;
            produce_retry(shard, shard->node->t_state, shard->partition, &st,
                          h, NULL, failed);
            (*n)++;
            if (cairn_wf_status(wf) != CAIRN_WF_RUNNING) {
                /* At rest once the batch is committed and indexed. */
                if (shard->nfreeze == shard->freezecap) {
                    shard->freezecap =
                        shard->freezecap ? shard->freezecap * 2 : 64;
                    shard->freeze = xrealloc(
                        shard->freeze, shard->freezecap * sizeof(*shard->freeze));
                }
                struct freeze_s *fz = &shard->freeze[shard->nfreeze++];
                fz->id = d->id;
                fz->data = data;
                fz->len = len;
                data = NULL;
                kept = 1;
            }
            free(data);
        }
        cairn_wfmap_del(shard->dirty, d->id);
        if (!kept)
            free(d->id);
    }
    rd_kafka_headers_destroy(h);
}

/*
 * After the index: the closed workflows this batch snapshotted go to rest,
 * their decoded form replaced by the bytes just written.
 */
static void freeze_closed(cairn_shard_t *shard) {
    for (size_t i = 0; i < shard->nfreeze; i++) {
        struct freeze_s *fz = &shard->freeze[i];
        cairn_wf_t *wf = cairn_wfmap_get(shard->wfs, fz->id);
        cairn_frozen_t *f;
        if (!wf || cairn_wf_status(wf) == CAIRN_WF_RUNNING ||
            cairn_wfmap_has(shard->dirty, fz->id))
            continue; /* changed since its snapshot */
        if (!(f = cairn_frozen_new(fz->data, fz->len,
                                   cairn_wf_updated_ms(wf))) ||
            cairn_wfmap_put_frozen(shard->closed, fz->id, f)) {
            free(f);
            continue; /* out of memory: it stays decoded */
        }
        cairn_wfmap_del(shard->wfs, fz->id);
    }
}

/* After a commit: timers, visibility and history offsets into Redis. */
static void index_batch(cairn_shard_t *shard) {
    cairn_index_t *ix = shard->ix;
    /* Order matters: Redis applies one connection's commands in order, so a
     * reader that sees a workflow's new status (or the close notification)
     * also sees every history offset and timer of the same batch. */
    enum { RUN = 64 };
    int64_t seqs[RUN], offs[RUN];
    size_t n = 0;
    for (size_t i = 0; i < shard->nhist; i++) {
        cairn_event_t *e = &shard->hist[i].ev;
        /* One HSET per run of a workflow's events (a step's are adjacent). */
        if (n && (n == RUN || strcmp(e->workflow_id,
                                     shard->hist[i - 1].ev.workflow_id))) {
            cairn_index_history(ix, shard->hist[i - 1].ev.workflow_id, n,
                                seqs, offs);
            n = 0;
        }
        if (shard->hist[i].offset >= 0) {
            seqs[n] = e->seq;
            offs[n++] = shard->hist[i].offset;
        }
        if (e->type == CAIRN_EV_TIMER_STARTED)
            cairn_index_timer_add(ix, e->workflow_id, e->timer_id,
                                  e->generation, e->fire_at_ms);
        else if (e->type == CAIRN_EV_TIMER_FIRED ||
                 e->type == CAIRN_EV_TIMER_CANCELED)
            cairn_index_timer_del(ix, e->workflow_id, e->timer_id,
                                  e->generation);
    }
    if (n)
        cairn_index_history(ix, shard->hist[shard->nhist - 1].ev.workflow_id,
                            n, seqs, offs);
    for (size_t i = 0; i < shard->ntouched; i++) {
        cairn_wf_t *wf = cairn_wfmap_get(shard->wfs, shard->touched[i].id);
        if (wf)
            cairn_index_workflow(ix, wf, shard->touched[i].prev,
                                 shard->touched[i].prev_run,
                                 shard->touched[i].result,
                                 shard->touched[i].error);
    }
    if (cairn_index_send(ix))
        cairn_metric_inc(shard->node->m.redis_errors, 1);
}

/*
 * Retention of closed workflows: once state.retention.closed.ms has passed
 * since a workflow closed, the batch writes a tombstone for it to the state
 * topic (compaction then drops it, so a restore reads live workflows only)
 * and, after the commit, forgets it. A pass over the workflows at rest
 * starts at most once a minute and goes on over the next batches, looking
 * at SWEEP_SLICE of them and evicting at most EVICT_MAX per batch, so that
 * no batch waits for a walk over every closed workflow (~100 ns each, most
 * of it a cache miss: 30 ms for 300,000). Only workflows at rest: one that
 * closed more recently is still decoded until its snapshot, and not due.
 * An entry moved behind the pass's place meanwhile (a deletion shifts its
 * neighbours back, the map may grow) waits for the next pass. The
 * tombstone carries the asof header like a state record, so that a replay
 * skips the workflow's inputs before it.
 */
#define EVICT_MAX 1000
#define SWEEP_SLICE 20000
static void evict_closed(cairn_shard_t *shard, int64_t upto, int *failed) {
    int64_t now = cairn_mono_ms();
    if (!shard->sweeping) {
        if (now < shard->next_sweep_ms)
            return;
        shard->sweeping = 1;
        shard->sweep_pos = 0;
    }
    int64_t keep = cairn_conf_int(shard->node->conf,
                                  "state.retention.closed.ms");
    int64_t cutoff = cairn_wall_ms() - keep;
    char asof[32];
    int alen = snprintf(asof, sizeof(asof), "%lld", (long long)upto);
    const char *id;
    cairn_frozen_t *f = NULL;
    size_t seen = 0;
    while (shard->nevict < EVICT_MAX && seen++ < SWEEP_SLICE &&
           (f = cairn_wfmap_next_frozen(shard->closed, &shard->sweep_pos,
                                        &id))) {
        if (f->updated_ms > cutoff)
            continue;
        if (shard->nevict == shard->evictcap) {
            shard->evictcap = shard->evictcap ? shard->evictcap * 2 : 64;
            shard->evict = xrealloc(shard->evict,
                                    shard->evictcap * sizeof(char *));
        }
        if (!(shard->evict[shard->nevict] = strdup(id)))
            abort();
        shard->nevict++;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    shard->producer, RD_KAFKA_V_TOPIC(shard->node->t_state),
                    RD_KAFKA_V_PARTITION(shard->partition),
                    RD_KAFKA_V_KEY(id, strlen(id)), RD_KAFKA_V_VALUE(NULL, 0),
                    RD_KAFKA_V_HEADER(CAIRN_HDR_ASOF, asof, (ssize_t)alen),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(shard->producer, 50);
        if (err) {
            cairn_log(CAIRN_LOG_ERROR, shard->partition, id, "tombstone: %s",
                      rd_kafka_err2str(err));
            *failed = 1;
            return;
        }
    }
    if (!f) { /* the end of the map: the pass is over */
        shard->sweeping = 0;
        shard->next_sweep_ms = now + 60000;
    }
}

static void freeze_clear(cairn_shard_t *shard) {
    for (size_t i = 0; i < shard->nfreeze; i++) {
        free(shard->freeze[i].id);
        free(shard->freeze[i].data);
    }
    shard->nfreeze = 0;
}

static void clear_batch_outputs(cairn_shard_t *shard) {
    for (size_t i = 0; i < shard->nevict; i++)
        free(shard->evict[i]);
    shard->nevict = 0;
    freeze_clear(shard);
    for (size_t i = 0; i < shard->nhist; i++)
        cairn_event_clear(&shard->hist[i].ev);
    shard->nhist = 0;
    for (size_t i = 0; i < shard->ntouched; i++)
        free(shard->touched[i].id);
    shard->ntouched = 0;
    if (shard->touched_set)
        cairn_wfmap_clear(shard->touched_set);
    shard->dr_err = 0;
}

typedef enum { TXN_OK, TXN_ABORTED, TXN_FATAL } txn_result_t;

/* Classifies a transactional API error; aborts the transaction if needed. */
static txn_result_t txn_error(cairn_shard_t *shard, rd_kafka_error_t *e,
                              const char *what) {
    txn_result_t r;
    cairn_log(CAIRN_LOG_WARN, shard->partition, NULL, "%s: %s", what,
              rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e)) {
        r = TXN_FATAL;
    } else {
        rd_kafka_error_t *ae = rd_kafka_abort_transaction(shard->producer,
                                                          30000);
        r = TXN_ABORTED;
        if (ae) {
            cairn_log(CAIRN_LOG_ERROR, shard->partition, NULL,
                      "abort_transaction: %s", rd_kafka_error_string(ae));
            if (rd_kafka_error_is_fatal(ae))
                r = TXN_FATAL;
            rd_kafka_error_destroy(ae);
        }
    }
    rd_kafka_error_destroy(e);
    return r;
}

/* Metrics of a committed batch: its inputs and its history events. */
static void count_batch(cairn_shard_t *shard, double commit_s) {
    cairn_node_metrics_t *m = &shard->node->m;
    int64_t now = cairn_wall_ms();
    size_t applied = 0;
    cairn_metric_observe(m->commit_s, commit_s);
    cairn_metric_inc(m->batches, 1);
    for (size_t i = 0; i < shard->nbatch; i++) {
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(shard->batch[i], &tstype);
        if (shard->batch[i]->offset < shard->next_offset)
            continue; /* a re-delivery skipped by this batch */
        applied++;
        if (ts > 0)
            cairn_metric_observe(m->step_s, (now - ts) / 1000.0);
    }
    cairn_metric_inc(m->events, (double)applied);
    cairn_metric_observe(m->batch_size, (double)applied);
    for (size_t i = 0; i < shard->nhist; i++) {
        const cairn_event_t *e = &shard->hist[i].ev;
        switch (e->type) {
        case CAIRN_EV_WORKFLOW_STARTED: cairn_metric_inc(m->wf_started, 1); break;
        case CAIRN_EV_WORKFLOW_COMPLETED: cairn_metric_inc(m->wf_completed, 1); break;
        case CAIRN_EV_WORKFLOW_FAILED: cairn_metric_inc(m->wf_failed, 1); break;
        case CAIRN_EV_WORKFLOW_CONTINUED_AS_NEW: cairn_metric_inc(m->continued, 1); break;
        case CAIRN_EV_ACTIVITY_COMPLETED: cairn_metric_inc(m->act_completed, 1); break;
        case CAIRN_EV_ACTIVITY_FAILED: cairn_metric_inc(m->act_failed, 1); break;
        case CAIRN_EV_ACTIVITY_TIMED_OUT: cairn_metric_inc(m->act_timed_out, 1); break;
        case CAIRN_EV_ACTIVITY_SCHEDULED:
            if (e->attempt > 1)
                cairn_metric_inc(m->act_retries, 1);
            break;
        case CAIRN_EV_SIGNAL_RECEIVED: cairn_metric_inc(m->signals, 1); break;
        case CAIRN_EV_TIMER_STARTED: cairn_metric_inc(m->timers_started, 1); break;
        case CAIRN_EV_TIMER_FIRED: cairn_metric_inc(m->timers_fired, 1); break;
        default: break;
        }
    }
    cairn_metric_inc(m->evicted, (double)shard->nevict);
}

/*
 * One transaction: the batch's inputs and the snapshots that are due; with
 * force, a snapshot of every changed workflow (also with no inputs).
 */
static txn_result_t run_batch(cairn_shard_t *shard, int force) {
    cairn_node_t *node = shard->node;
    rd_kafka_error_t *e;
    int failed = 0;
    int64_t last = -1;

    clear_batch_outputs(shard);
    shard->batch_gen++;
    shard->force_snapshot = 0;
    /* The engine replaces workflows as it goes: until this batch commits
     * (or a reload), the map is ahead of the committed state. */
    shard->state_clean = 0;
    if ((e = rd_kafka_begin_transaction(shard->producer)))
        return txn_error(shard, e, "begin_transaction");
    /* The snapshots that are due go first, as of the batch's start: the
     * state partition then joins the transaction together with the
     * partitions of the first outputs. librdkafka 2.0.2 registers each
     * wave of new partitions after a 1 ms timer that its main thread
     * spins on, so one wave costs less than two (docs/BENCHMARKS.md). */
    size_t snapshots = 0;
    int fresh = 0;
    for (size_t i = 0; i < shard->nbatch && !fresh; i++)
        fresh = shard->batch[i]->offset >= shard->next_offset;
    if (fresh && !force && shard->next_offset >= 0) {
        produce_states(shard, 0, shard->next_offset, &snapshots, &failed);
        lap(shard, CAIRN_PH_SNAPSHOT);
    }
    for (size_t i = 0; i < shard->nbatch && !failed; i++) {
        rd_kafka_message_t *m = shard->batch[i];
        if (shard->next_offset >= 0 && m->offset < shard->next_offset)
            continue; /* already committed (a re-delivery) */
        apply_one(shard, m, &failed);
        last = m->offset;
        if (failed)
            break; /* the transaction will abort: stop working on it */
    }
    lap(shard, CAIRN_PH_APPLY);
    int64_t upto = last >= 0 ? last + 1 : shard->next_offset;
    force = force || shard->force_snapshot;
    if (last < 0 && !(force && upto >= 0 && dirty_count(shard))) {
        /* nothing new: end the empty transaction */
        if ((e = rd_kafka_abort_transaction(shard->producer, 30000)))
            return txn_error(shard, e, "abort empty transaction");
        shard->state_clean = 1; /* nothing was applied */
        return TXN_OK;
    }
    if (force || shard->snap_every == 0) /* all changed, as of the end */
        produce_states(shard, 1, upto, &snapshots, &failed);
    evict_closed(shard, upto, &failed);
    lap(shard, CAIRN_PH_SNAPSHOT);

    int stop;
    pthread_mutex_lock(&shard->mu);
    stop = shard->stop;
    pthread_mutex_unlock(&shard->mu);
    if (failed || stop == 2) {
        if ((e = rd_kafka_abort_transaction(shard->producer, 30000)))
            return txn_error(shard, e, "abort_transaction");
        return stop == 2 ? TXN_FATAL : TXN_ABORTED;
    }

    /* The checkpoint rides on the committed offset, in the same transaction
     * as the snapshots it vouches for: every change below it is in the
     * state topic. */
    int64_t ckpt = dirty_count(shard) ? shard->dq[shard->dq_head].offset
                                      : upto;
    char md[64];
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(offs, node->t_events,
                                          shard->partition);
    tp->offset = upto;
    if (ckpt >= 0) {
        int n = snprintf(md, sizeof(md), CKPT_PREFIX "%lld", (long long)ckpt);
        if (!(tp->metadata = malloc((size_t)n)))
            abort();
        memcpy(tp->metadata, md, (size_t)n);
        tp->metadata_size = (size_t)n;
    }
    rd_kafka_consumer_group_metadata_t *cgmd =
        rd_kafka_consumer_group_metadata(node->consumer);
    e = rd_kafka_send_offsets_to_transaction(shard->producer, offs, cgmd,
                                             30000);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offs);
    if (e)
        return txn_error(shard, e, "send_offsets_to_transaction");

    int64_t t0 = cairn_mono_ms();
    if ((e = rd_kafka_commit_transaction(shard->producer, 30000)))
        return txn_error(shard, e, "commit_transaction");
    rd_kafka_poll(shard->producer, 0); /* any remaining delivery reports */
    count_batch(shard, (cairn_mono_ms() - t0) / 1000.0);
    lap(shard, CAIRN_PH_COMMIT);
    cairn_metric_inc(node->m.snapshots, (double)snapshots);
    shard->next_offset = upto;
    shard->state_clean = 1;
    shard->ckpt = ckpt;
    index_batch(shard);
    lap(shard, CAIRN_PH_INDEX);
    freeze_closed(shard);
    for (size_t i = 0; i < shard->nevict; i++)
        cairn_wfmap_del(shard->closed, shard->evict[i]);
    report_live(shard); /* once the maps are what the batch left */
    return TXN_OK;
}

/* ---- the thread --------------------------------------------------------- */

/* Takes up to batch.max.events records, waiting batch.max.ms to fill. */
static int take_batch(cairn_shard_t *shard) {
    size_t max = (size_t)cairn_conf_int(shard->node->conf, "batch.max.events");
    int64_t wait_ms = cairn_conf_int(shard->node->conf, "batch.max.ms");
    struct timespec ts;
    int stop;

    pthread_mutex_lock(&shard->mu);
    if (!shard->qlen && !shard->stop) {
        ts = cairn_timespec_in(CLOCK_REALTIME, 200);
        pthread_cond_timedwait(&shard->cv, &shard->mu, &ts);
    }
    /* Wait to fill a batch only under load (the last batch held more than
     * one record): a lone event at low load is applied at once. A fixed
     * wait after every batch measured better tails than a shortest
     * interval between batch starts (docs/BENCHMARKS.md). */
    if (shard->qlen && shard->qlen < max && wait_ms > 0 && !shard->stop &&
        shard->last_batch > 1) {
        ts = cairn_timespec_in(CLOCK_REALTIME, wait_ms);
        while (shard->qlen < max && !shard->stop &&
               pthread_cond_timedwait(&shard->cv, &shard->mu, &ts) == 0)
            ;
    }
    if (shard->batchcap < max) {
        shard->batchcap = max;
        shard->batch = xrealloc(shard->batch, max * sizeof(*shard->batch));
    }
    shard->nbatch = 0;
    while (shard->qlen && shard->nbatch < max) {
        shard->batch[shard->nbatch++] = shard->q[shard->qhead];
        shard->qhead = (shard->qhead + 1) % shard->qcap;
        shard->qlen--;
    }
    stop = shard->stop;
    shard->last_batch = shard->nbatch;
    pthread_mutex_unlock(&shard->mu);
    return stop;
}

static void free_batch(cairn_shard_t *shard) {
    for (size_t i = 0; i < shard->nbatch; i++)
        rd_kafka_message_destroy(shard->batch[i]);
    shard->nbatch = 0;
}

static int stopping(cairn_shard_t *shard) {
    pthread_mutex_lock(&shard->mu);
    int s = shard->stop;
    pthread_mutex_unlock(&shard->mu);
    return s;
}

static void backoff_sleep(int64_t *backoff) {
    struct timespec ts = {*backoff / 1000, (*backoff % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* retry backoff, not synchronisation */
    if (*backoff < 5000)
        *backoff *= 2;
}

/*
 * Fence, restore, index: retried until it works or the shard is stopped.
 * A shard resumed after a rebalance that gave it back its own partition
 * keeps its workflows when the group's committed offset shows that nobody
 * committed anything for the partition in between (the offset advances with
 * every committed batch); fencing comes first either way.
 */
static int take_ownership(cairn_shard_t *shard) {
    char errstr[512];
    int64_t backoff = 200, off, ckpt;
    while (!stopping(shard)) {
        if (!shard->producer &&
            !(shard->producer = new_producer(shard, errstr, sizeof(errstr)))) {
            cairn_log(CAIRN_LOG_ERROR, shard->partition, NULL,
                      "cannot take ownership: %s", errstr);
        } else if (cairn_defs_sync(shard->node->defs, 10000)) {
            cairn_log(CAIRN_LOG_WARN, shard->partition, NULL,
                      "definitions topic not loaded yet; waiting");
        } else if (shard->resumed && shard->state_clean &&
                   shard->next_offset >= 0 &&
                   !committed(shard, &off, &ckpt) &&
                   off == shard->next_offset && ckpt == shard->ckpt) {
            cairn_log(CAIRN_LOG_INFO, shard->partition, NULL,
                      "kept %zu workflows across the rebalance (no restore)",
                      cairn_wfmap_count(shard->wfs) +
                          cairn_wfmap_count(shard->closed));
            return 0;
        } else if (load(shard) == 0) {
            repair_all(shard);
            return 0;
        }
        backoff_sleep(&backoff);
    }
    return -1;
}

static int64_t tv_us(struct timeval tv) {
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* log.slow.batch.ms: one warning per batch whose work (all but the wait
 * for its records) took longer, with the phases that made it slow and what
 * the shard's thread did meanwhile: CPU time well below the wall time
 * means it waited (the broker, Redis, a lock, or a CPU given to another
 * process: involuntary context switches). */
static void log_slow_batch(cairn_shard_t *shard, int64_t slow_us,
                           size_t nevents) {
    const int64_t *c = shard->cycle_us;
    int64_t work = c[CAIRN_PH_APPLY] + c[CAIRN_PH_SNAPSHOT] +
                   c[CAIRN_PH_COMMIT] + c[CAIRN_PH_INDEX];
    if (!slow_us || work <= slow_us)
        return;
    struct rusage ru, *r0 = &shard->cycle_ru;
    if (getrusage(RUSAGE_THREAD, &ru))
        memset(&ru, 0, sizeof(ru));
    int64_t user = tv_us(ru.ru_utime) - tv_us(r0->ru_utime);
    int64_t sys = tv_us(ru.ru_stime) - tv_us(r0->ru_stime);
    cairn_log(CAIRN_LOG_WARN, shard->partition, NULL,
              "slow batch: %.1f ms (wait %.1f, apply %.1f, snapshot %.1f, "
              "commit %.1f, index %.1f ms), %zu events; thread cpu %.1f ms "
              "(sys %.1f), %ld voluntary and %ld involuntary context "
              "switches, %ld page faults",
              (double)work / 1000.0, (double)c[CAIRN_PH_WAIT] / 1000.0,
              (double)c[CAIRN_PH_APPLY] / 1000.0,
              (double)c[CAIRN_PH_SNAPSHOT] / 1000.0,
              (double)c[CAIRN_PH_COMMIT] / 1000.0,
              (double)c[CAIRN_PH_INDEX] / 1000.0, nevents,
              (double)(user + sys) / 1000.0, (double)sys / 1000.0,
              ru.ru_nvcsw - r0->ru_nvcsw, ru.ru_nivcsw - r0->ru_nivcsw,
              (ru.ru_minflt - r0->ru_minflt) + (ru.ru_majflt - r0->ru_majflt));
}

static void *run(void *arg) {
    cairn_shard_t *shard = arg;
    int64_t repair_every =
        cairn_conf_int(shard->node->conf, "timers.repair.interval.ms");
    if (take_ownership(shard))
        return NULL;
    cairn_log(CAIRN_LOG_INFO, shard->partition, NULL, "shard owned");
    repair_pace_t rp = {.next = cairn_mono_ms() + repair_every};
    int64_t slow_us =
        cairn_conf_int(shard->node->conf, "log.slow.batch.ms") * 1000;
    shard->lap_us = cairn_mono_us();
    for (;;) {
        memset(shard->cycle_us, 0, sizeof(shard->cycle_us));
        int stop = take_batch(shard);
        lap(shard, CAIRN_PH_WAIT);
        if (slow_us && getrusage(RUSAGE_THREAD, &shard->cycle_ru))
            memset(&shard->cycle_ru, 0, sizeof(shard->cycle_ru));
        if (stop == 2)
            break;
        /* Idle, or released with nothing left to apply: a snapshot batch
         * if workflows changed since the last (so that the next owner, or
         * a reload, has little or nothing to replay). */
        int snap = dirty_count(shard) &&
                   (stop == 1 || (!shard->nbatch && snapshot_due(shard)));
        if (stop == 1 && !shard->nbatch && !snap)
            break;
        /* Redis back after an outage, or the periodic drift repair (Redis
         * may have lost data without the connection dropping). */
        if (cairn_index_should_retry(shard->ix))
            repair_all(shard);
        else
            repair_paced(shard, &rp, repair_every);
        /* Nothing to apply: read the last send's replies meanwhile. */
        int idle = !shard->nbatch && !snap;
        if (idle && cairn_index_poll(shard->ix))
            cairn_metric_inc(shard->node->m.redis_errors, 1);
        lap(shard, CAIRN_PH_INDEX);
        if (idle)
            continue;
        txn_result_t r;
        size_t nevents = shard->nbatch;
        while ((r = run_batch(shard, snap || stop == 1)) == TXN_ABORTED) {
            cairn_metric_inc(shard->node->m.aborts, 1);
            clear_batch_outputs(shard);
            if (stopping(shard) == 2) {
                r = TXN_FATAL;
                break;
            }
            /* The engine mutated workflows in place: reload them. A
             * shard stopped before a reload succeeded must not run the
             * batch again on the half-applied map: it gives up the shard
             * (state_clean stays 0, so it is never kept either). */
            int64_t backoff = 200;
            int loaded;
            while (!(loaded = !load(shard)) && !stopping(shard))
                backoff_sleep(&backoff);
            if (!loaded) {
                r = TXN_FATAL;
                break;
            }
        }
        clear_batch_outputs(shard);
        free_batch(shard);
        lap(shard, CAIRN_PH_APPLY);
        log_slow_batch(shard, slow_us, nevents);
        if (r == TXN_FATAL) {
            shard->fenced = 1;
            cairn_log(CAIRN_LOG_WARN, shard->partition, NULL,
                      "fenced or stopped: this node no longer owns the "
                      "shard and applies nothing more to it");
            break;
        }
        if (stop)
            break;
    }
    return NULL;
}

cairn_shard_t *cairn_shard_start(cairn_node_t *node, int32_t partition,
                                 char *errstr, size_t errstr_size) {
    cairn_shard_t *shard = calloc(1, sizeof(*shard));
    if (!shard)
        return NULL;
    shard->node = node;
    shard->partition = partition;
    shard->next_offset = -1;
    shard->check_every = cairn_conf_int(node->conf, "determinism.check.every");
    shard->snap_every = cairn_conf_int(node->conf, "state.snapshot.interval.ms");
    shard->ckpt = -1;
    shard->dirty = cairn_wfmap_new_borrowed();
    pthread_mutex_init(&shard->mu, NULL);
    pthread_cond_init(&shard->cv, NULL);
    cairn_outputs_init(&shard->out);
    shard->wfs = cairn_wfmap_new();
    shard->closed = cairn_wfmap_new_frozen();
    shard->touched_set = cairn_wfmap_new_borrowed();
    shard->ix = cairn_index_new(node->conf, partition);
    shard->qcap = 1024;
    shard->q = calloc(shard->qcap, sizeof(*shard->q));
    if (!shard->wfs || !shard->closed || !shard->touched_set ||
        !shard->dirty || !shard->ix || !shard->q)
        goto err;
    if (pthread_create(&shard->thread, NULL, run, shard)) {
        snprintf(errstr, errstr_size, "shard %d: cannot start thread",
                 partition);
        goto err;
    }
    return shard;
err:
    cairn_wfmap_destroy(shard->wfs);
    cairn_wfmap_destroy(shard->closed);
    cairn_wfmap_destroy(shard->touched_set);
    cairn_wfmap_destroy(shard->dirty);
    cairn_index_destroy(shard->ix);
    free(shard->q);
    free(shard);
    return NULL;
}

void cairn_shard_enqueue(cairn_shard_t *shard, rd_kafka_message_t *msg) {
    pthread_mutex_lock(&shard->mu);
    if (shard->qlen == shard->qcap) {
        size_t ncap = shard->qcap * 2;
        rd_kafka_message_t **nq = xrealloc(NULL, ncap * sizeof(*nq));
        for (size_t i = 0; i < shard->qlen; i++)
            nq[i] = shard->q[(shard->qhead + i) % shard->qcap];
        free(shard->q);
        shard->q = nq;
        shard->qcap = ncap;
        shard->qhead = 0;
    }
    shard->q[(shard->qhead + shard->qlen) % shard->qcap] = msg;
    shard->qlen++;
    pthread_cond_signal(&shard->cv);
    pthread_mutex_unlock(&shard->mu);
}

size_t cairn_shard_backlog(cairn_shard_t *shard) {
    pthread_mutex_lock(&shard->mu);
    size_t n = shard->qlen;
    pthread_mutex_unlock(&shard->mu);
    return n;
}

/* Stops the thread; the batch in progress commits (or aborts, commit=0). */
static void halt(cairn_shard_t *shard, int commit) {
    pthread_mutex_lock(&shard->mu);
    shard->stop = commit ? 1 : 2;
    pthread_cond_signal(&shard->cv);
    pthread_mutex_unlock(&shard->mu);
    pthread_join(shard->thread, NULL);
    /* Queued records were not applied: the next owner reads them again. */
    while (shard->qlen) {
        rd_kafka_message_destroy(shard->q[shard->qhead]);
        shard->qhead = (shard->qhead + 1) % shard->qcap;
        shard->qlen--;
    }
    free_batch(shard);
    clear_batch_outputs(shard);
    if (shard->producer) {
        /* Nothing is open: every batch ended in commit or abort. */
        rd_kafka_topic_destroy(shard->rkt_state);
        shard->rkt_state = NULL;
        rd_kafka_destroy(shard->producer);
        shard->producer = NULL;
    }
}

void cairn_shard_park(cairn_shard_t *shard) {
    halt(shard, 1);
    cairn_log(CAIRN_LOG_INFO, shard->partition, NULL,
              "shard released (committed; state kept in case it comes back)");
}

cairn_err_t cairn_shard_resume(cairn_shard_t *shard, char *errstr,
                               size_t errstr_size) {
    shard->stop = 0;
    shard->fenced = 0;
    shard->resumed = 1;
    if (pthread_create(&shard->thread, NULL, run, shard))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INTERNAL,
                             "shard %d: cannot start thread",
                             shard->partition);
    return CAIRN_ERR_OK;
}

void cairn_shard_destroy(cairn_shard_t *shard) {
    if (!shard)
        return;
    cairn_wfmap_destroy(shard->wfs);
    cairn_wfmap_destroy(shard->closed);
    shard->wfs = shard->closed = NULL;
    report_live(shard);
    cairn_wfmap_destroy(shard->touched_set);
    dirty_clear(shard);
    cairn_wfmap_destroy(shard->dirty);
    free(shard->dq);
    cairn_index_destroy(shard->ix);
    cairn_outputs_free(&shard->out);
    free(shard->hist);
    free(shard->touched);
    free(shard->evict);
    freeze_clear(shard);
    free(shard->freeze);
    free(shard->batch);
    free(shard->q);
    pthread_mutex_destroy(&shard->mu);
    pthread_cond_destroy(&shard->cv);
    free(shard);
}

void cairn_shard_stop(cairn_shard_t *shard, int commit) {
    if (!shard)
        return;
    halt(shard, commit);
    cairn_log(CAIRN_LOG_INFO, shard->partition, NULL, "shard released (%s)",
              commit ? "committed" : "abandoned");
    cairn_shard_destroy(shard);
}
