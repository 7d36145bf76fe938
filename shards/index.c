/*
 * index.c — pipelined hiredis writes for one shard.
 */
#include "index.h"
#include "clock.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct cairn_index_s {
    char host[256];
    int port, db, partition;
    redisContext *rc;
    int queued;      /* commands appended, not yet sent */
    int pending;     /* commands sent whose replies are not read yet */
    int64_t wake_at; /* earliest fire time queued since the last send; 0 none */
    int dirty;       /* a flush failed: a repair is owed */
    int64_t next_try_ms;
};

cairn_index_t *cairn_index_new(const cairn_conf_t *conf, int partition) {
    cairn_index_t *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    cairn_conf_redis(conf, ix->host, sizeof(ix->host), &ix->port, &ix->db);
    ix->partition = partition;
    return ix;
}

void cairn_index_destroy(cairn_index_t *ix) {
    if (!ix)
        return;
    if (ix->rc)
        cairn_index_flush(ix); /* what was sent is read back before closing */
    if (ix->rc)
        redisFree(ix->rc);
    free(ix);
}

static void drop(cairn_index_t *ix, const char *why) {
    if (!ix->dirty)
        cairn_log(CAIRN_LOG_WARN, ix->partition, NULL,
                  "redis %s:%d unreachable (%s); indexes will be repaired "
                  "when it returns",
                  ix->host, ix->port, why);
    if (ix->rc)
        redisFree(ix->rc);
    ix->rc = NULL;
    ix->queued = ix->pending = 0;
    ix->wake_at = 0;
    ix->dirty = 1;
    ix->next_try_ms = cairn_mono_ms() + 1000;
}

static int connected(cairn_index_t *ix) {
    if (ix->rc)
        return 1;
    if (ix->dirty && cairn_mono_ms() < ix->next_try_ms)
        return 0;
    struct timeval tv = {1, 0};
    ix->rc = redisConnectWithTimeout(ix->host, ix->port, tv);
    if (!ix->rc || ix->rc->err) {
        drop(ix, ix->rc ? ix->rc->errstr : "out of memory");
        return 0;
    }
    redisSetTimeout(ix->rc, tv);
    if (ix->db) {
        redisReply *r = redisCommand(ix->rc, "SELECT %d", ix->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            if (r)
                freeReplyObject(r);
            drop(ix, "SELECT failed");
            return 0;
        }
        freeReplyObject(r);
    }
    return 1;
}

static void append(cairn_index_t *ix, int argc, const char **argv) {
    if (!connected(ix))
        return;
    if (redisAppendCommandArgv(ix->rc, argc, argv, NULL) != REDIS_OK) {
        drop(ix, ix->rc->errstr);
        return;
    }
    ix->queued++;
}

int cairn_index_timer_member(char *buf, size_t size, const char *wf_id,
                             const char *timer_id, int64_t generation) {
    return snprintf(buf, size, "%lld|%s|%s", (long long)generation, timer_id,
                    wf_id);
}

void cairn_index_timer_add(cairn_index_t *ix, const char *wf_id,
                           const char *timer_id, int64_t generation,
                           int64_t fire_at_ms) {
    char key[64], score[32], member[1024];
    snprintf(key, sizeof(key), "cairn:timers:{%d}", ix->partition);
    snprintf(score, sizeof(score), "%lld", (long long)fire_at_ms);
    cairn_index_timer_member(member, sizeof(member), wf_id, timer_id,
                             generation);
    const char *argv[] = {"ZADD", key, score, member};
    append(ix, 4, argv);
    if (ix->rc && (!ix->wake_at || fire_at_ms < ix->wake_at))
        ix->wake_at = fire_at_ms;
}

/* One wake-up per send for the earliest timer queued: the timer services
 * re-plan their sleep on it (after the ZADDs before it in the pipeline). */
static void publish_wake(cairn_index_t *ix) {
    if (!ix->wake_at)
        return;
    char score[32];
    snprintf(score, sizeof(score), "%lld", (long long)ix->wake_at);
    ix->wake_at = 0;
    const char *pub[] = {"PUBLISH", "cairn:timers:wake", score};
    append(ix, 3, pub);
}

void cairn_index_timer_del(cairn_index_t *ix, const char *wf_id,
                           const char *timer_id, int64_t generation) {
    char key[64], member[1024];
    snprintf(key, sizeof(key), "cairn:timers:{%d}", ix->partition);
    cairn_index_timer_member(member, sizeof(member), wf_id, timer_id,
                             generation);
    const char *argv[] = {"ZREM", key, member};
    append(ix, 3, argv);
}

void cairn_index_workflow(cairn_index_t *ix, const cairn_wf_t *wf,
                          cairn_wf_status_t prev_status, const char *result,
                          const char *error) {
    char key[1024], ver[16], seq[32], started[32], updated[32], part[16];
    const char *id = cairn_wf_id(wf);
    const char *status = cairn_wf_status_name(cairn_wf_status(wf));
    const char *fsm = cairn_wf_fsm_state(wf);
    snprintf(key, sizeof(key), "cairn:wf:%s", id);
    snprintf(ver, sizeof(ver), "%d", cairn_wf_version(wf));
    snprintf(seq, sizeof(seq), "%lld", (long long)cairn_wf_seq(wf));
    snprintf(started, sizeof(started), "%lld",
             (long long)cairn_wf_started_ms(wf));
    snprintf(updated, sizeof(updated), "%lld",
             (long long)cairn_wf_updated_ms(wf));
    snprintf(part, sizeof(part), "%d", ix->partition);
    const char *argv[20] = {"HSET",        key,
                            "type",        cairn_wf_type(wf),
                            "version",     ver,
                            "status",      status,
                            "state",       fsm ? fsm : "",
                            "seq",         seq,
                            "started_ms",  started,
                            "updated_ms",  updated,
                            "partition",   part};
    int argc = 18;
    if (result) {
        argv[argc++] = "result";
        argv[argc++] = result;
    }
    if (error) {
        argv[argc++] = "error";
        argv[argc++] = error;
    }
    append(ix, argc, argv);
    if (prev_status == cairn_wf_status(wf))
        return;
    /* Status sets, scored by start time, for `cairn list`. */
    char skey[64];
    if (prev_status) {
        snprintf(skey, sizeof(skey), "cairn:idx:status:%s",
                 cairn_wf_status_name(prev_status));
        const char *z[] = {"ZREM", skey, id};
        append(ix, 3, z);
    } else {
        char tkey[512];
        snprintf(tkey, sizeof(tkey), "cairn:idx:type:%s", cairn_wf_type(wf));
        const char *t[] = {"ZADD", tkey, started, id};
        append(ix, 4, t);
    }
    snprintf(skey, sizeof(skey), "cairn:idx:status:%s", status);
    const char *z[] = {"ZADD", skey, started, id};
    append(ix, 4, z);
    if (cairn_wf_status(wf) != CAIRN_WF_RUNNING) {
        /* Wakes `cairn await` (which re-reads the record after it). */
        char chan[1100];
        snprintf(chan, sizeof(chan), "cairn:closed:%s", id);
        const char *pub[] = {"PUBLISH", chan, status};
        append(ix, 3, pub);
    }
}

void cairn_index_history(cairn_index_t *ix, const char *wf_id, size_t n,
                         const int64_t *seqs, const int64_t *offsets) {
    enum { MAX = 64 };
    char key[1024], nums[2 * MAX][24];
    const char *argv[2 + 2 * MAX];
    snprintf(key, sizeof(key), "cairn:hist:%s", wf_id);
    while (n) {
        size_t k = n < MAX ? n : MAX;
        argv[0] = "HSET";
        argv[1] = key;
        for (size_t i = 0; i < k; i++) {
            snprintf(nums[2 * i], sizeof(nums[0]), "%lld", (long long)seqs[i]);
            snprintf(nums[2 * i + 1], sizeof(nums[0]), "%lld",
                     (long long)offsets[i]);
            argv[2 + 2 * i] = nums[2 * i];
            argv[3 + 2 * i] = nums[2 * i + 1];
        }
        append(ix, (int)(2 + 2 * k), argv);
        seqs += k;
        offsets += k;
        n -= k;
    }
}

/* Reads n replies (logging errors); -1 if the connection failed. */
static int read_replies(cairn_index_t *ix, int *n) {
    while (*n > 0) {
        redisReply *r = NULL;
        if (redisGetReply(ix->rc, (void **)&r) != REDIS_OK) {
            drop(ix, ix->rc->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR)
            cairn_log(CAIRN_LOG_WARN, ix->partition, NULL, "redis: %s",
                      r->str);
        freeReplyObject(r);
        (*n)--;
    }
    return 0;
}

int cairn_index_flush(cairn_index_t *ix) {
    /* -1 only for this flush: while the index is dirty (a repair owed)
     * but connected again, the commands do reach Redis, and a repair in
     * progress must see its own flushes succeed. */
    publish_wake(ix);
    if (!ix->rc)
        return ix->dirty ? -1 : 0;
    /* redisGetReply sends the whole output buffer before it reads. */
    ix->pending += ix->queued;
    ix->queued = 0;
    return read_replies(ix, &ix->pending);
}

int cairn_index_send(cairn_index_t *ix) {
    publish_wake(ix);
    if (!ix->rc)
        return ix->dirty ? -1 : 0;
    /* The last batch's replies have had a whole batch to arrive. */
    if (read_replies(ix, &ix->pending))
        return -1;
    int done = 0;
    while (!done)
        if (redisBufferWrite(ix->rc, &done) != REDIS_OK) {
            drop(ix, ix->rc->errstr);
            return -1;
        }
    ix->pending = ix->queued;
    ix->queued = 0;
    return 0;
}

int cairn_index_poll(cairn_index_t *ix) {
    if (!ix->rc || !ix->pending)
        return 0;
    return read_replies(ix, &ix->pending);
}

int cairn_index_dirty(const cairn_index_t *ix) { return ix->dirty; }

void cairn_index_set_clean(cairn_index_t *ix) {
    if (ix->dirty)
        cairn_log(CAIRN_LOG_INFO, ix->partition, NULL,
                  "redis %s:%d is back; indexes repaired", ix->host, ix->port);
    ix->dirty = 0;
}

int cairn_index_should_retry(cairn_index_t *ix) {
    return ix->dirty && cairn_mono_ms() >= ix->next_try_ms;
}
