/*
 * index.c — pipelined hiredis writes for one shard.
 */
#include "index.h"
#include "clock.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "resp.h"

struct cairn_index_s {
    char host[256];
    int port, db, partition;
    redisContext *rc;
    cairn_resp_t out; /* commands queued since the last send, formatted */
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
    cairn_resp_free(&ix->out);
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
    cairn_resp_reset(&ix->out);
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

/* Starts a command of argc arguments: 0 if Redis is unreachable (then the
 * caller writes no arguments: the command is dropped, a repair owed). */
static int begin(cairn_index_t *ix, int argc) {
    if (!connected(ix))
        return 0;
    cairn_resp_cmd(&ix->out, argc);
    ix->queued++;
    return 1;
}

/*
 * Writes the formatted commands to Redis's socket, then forgets them: -1
 * (dropped, a repair owed) if out of memory or the connection failed.
 * hiredis only reads the replies: its own output buffer would copy the
 * batch's commands into memory allocated afresh for every batch, which
 * costs page faults as well as the copy. Its output buffer is empty here
 * (only SELECT goes through it, synchronously, when connecting).
 */
static int send_out(cairn_index_t *ix) {
    if (ix->out.failed) {
        drop(ix, "out of memory formatting commands");
        return -1;
    }
    size_t off = 0;
    while (off < ix->out.len) {
        ssize_t n = write(ix->rc->fd, ix->out.p + off, ix->out.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            char why[128];
            snprintf(why, sizeof(why), "write: %s",
                     n < 0 ? strerror(errno) : "closed");
            drop(ix, why);
            return -1;
        }
        off += (size_t)n;
    }
    cairn_resp_reset(&ix->out);
    return 0;
}

int cairn_index_timer_member(char *buf, size_t size, const char *wf_id,
                             const char *timer_id, int64_t generation) {
    return snprintf(buf, size, "%lld|%s|%s", (long long)generation, timer_id,
                    wf_id);
}

void cairn_index_timer_add(cairn_index_t *ix, const char *wf_id,
                           const char *timer_id, int64_t generation,
                           int64_t fire_at_ms) {
    char key[64], member[1024];
    snprintf(key, sizeof(key), "cairn:timers:{%d}", ix->partition);
    cairn_index_timer_member(member, sizeof(member), wf_id, timer_id,
                             generation);
    if (!begin(ix, 4))
        return;
    cairn_resp_str(&ix->out, "ZADD");
    cairn_resp_str(&ix->out, key);
    cairn_resp_int(&ix->out, fire_at_ms);
    cairn_resp_str(&ix->out, member);
    if (!ix->wake_at || fire_at_ms < ix->wake_at)
        ix->wake_at = fire_at_ms;
}

/* One wake-up per send for the earliest timer queued: the timer services
 * re-plan their sleep on it (after the ZADDs before it in the pipeline). */
static void publish_wake(cairn_index_t *ix) {
    if (!ix->wake_at)
        return;
    int64_t at = ix->wake_at;
    ix->wake_at = 0;
    if (!begin(ix, 3))
        return;
    cairn_resp_str(&ix->out, "PUBLISH");
    cairn_resp_str(&ix->out, "cairn:timers:wake");
    cairn_resp_int(&ix->out, at);
}

void cairn_index_timer_del(cairn_index_t *ix, const char *wf_id,
                           const char *timer_id, int64_t generation) {
    char key[64], member[1024];
    snprintf(key, sizeof(key), "cairn:timers:{%d}", ix->partition);
    cairn_index_timer_member(member, sizeof(member), wf_id, timer_id,
                             generation);
    if (!begin(ix, 3))
        return;
    cairn_resp_str(&ix->out, "ZREM");
    cairn_resp_str(&ix->out, key);
    cairn_resp_str(&ix->out, member);
}

void cairn_index_workflow(cairn_index_t *ix, const cairn_wf_t *wf,
                          cairn_wf_status_t prev_status, int64_t prev_run,
                          const char *result, const char *error) {
    const char *id = cairn_wf_id(wf);
    cairn_wf_status_t st = cairn_wf_status(wf);
    const char *status = cairn_wf_status_name(st);
    const char *fsm = cairn_wf_fsm_state(wf);
    int64_t started = cairn_wf_started_ms(wf);
    /* type, version, started_ms and partition are a run's own: written
     * when the record is new to the index or a new run began. */
    int full = !prev_status || prev_run != cairn_wf_run(wf);
    if (begin(ix, 2 + 2 * (4 + 4 * full + !!result + !!error))) {
        cairn_resp_t *o = &ix->out;
        cairn_resp_str(o, "HSET");
        cairn_resp_cat(o, "cairn:wf:", id);
        if (full) {
            cairn_resp_str(o, "type");
            cairn_resp_str(o, cairn_wf_type(wf));
            cairn_resp_str(o, "version");
            cairn_resp_int(o, cairn_wf_version(wf));
            cairn_resp_str(o, "started_ms");
            cairn_resp_int(o, started);
            cairn_resp_str(o, "partition");
            cairn_resp_int(o, ix->partition);
        }
        cairn_resp_str(o, "status");
        cairn_resp_str(o, status);
        cairn_resp_str(o, "state");
        cairn_resp_str(o, fsm ? fsm : "");
        cairn_resp_str(o, "seq");
        cairn_resp_int(o, cairn_wf_seq(wf));
        cairn_resp_str(o, "updated_ms");
        cairn_resp_int(o, cairn_wf_updated_ms(wf));
        if (result) {
            cairn_resp_str(o, "result");
            cairn_resp_str(o, result);
        }
        if (error) {
            cairn_resp_str(o, "error");
            cairn_resp_str(o, error);
        }
    }
    if (prev_status == st)
        return;
    /* Status sets, scored by start time, for `cairn list`. */
    if (prev_status) {
        if (begin(ix, 3)) {
            cairn_resp_str(&ix->out, "ZREM");
            cairn_resp_cat(&ix->out, "cairn:idx:status:",
                           cairn_wf_status_name(prev_status));
            cairn_resp_str(&ix->out, id);
        }
    } else if (begin(ix, 4)) {
        cairn_resp_str(&ix->out, "ZADD");
        cairn_resp_cat(&ix->out, "cairn:idx:type:", cairn_wf_type(wf));
        cairn_resp_int(&ix->out, started);
        cairn_resp_str(&ix->out, id);
    }
    if (begin(ix, 4)) {
        cairn_resp_str(&ix->out, "ZADD");
        cairn_resp_cat(&ix->out, "cairn:idx:status:", status);
        cairn_resp_int(&ix->out, started);
        cairn_resp_str(&ix->out, id);
    }
    if (st != CAIRN_WF_RUNNING && begin(ix, 3)) {
        /* Wakes `cairn await` (which re-reads the record after it). */
        cairn_resp_str(&ix->out, "PUBLISH");
        cairn_resp_cat(&ix->out, "cairn:closed:", id);
        cairn_resp_str(&ix->out, status);
    }
}

void cairn_index_history(cairn_index_t *ix, const char *wf_id, size_t n,
                         const int64_t *seqs, const int64_t *offsets) {
    enum { MAX = 64 };
    while (n) {
        size_t k = n < MAX ? n : MAX;
        if (!begin(ix, (int)(2 + 2 * k)))
            return;
        cairn_resp_str(&ix->out, "HSET");
        cairn_resp_cat(&ix->out, "cairn:hist:", wf_id);
        for (size_t i = 0; i < k; i++) {
            cairn_resp_int(&ix->out, seqs[i]);
            cairn_resp_int(&ix->out, offsets[i]);
        }
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
    if (send_out(ix))
        return -1;
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
    if (send_out(ix))
        return -1;
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
