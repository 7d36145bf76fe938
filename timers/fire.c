/*
 * fire.c — TimerFired production and delivery reports.
 *
 * Ownership: a produced record's opaque is a pending_t (partition, member,
 * due time) owned by librdkafka until its delivery report, where dr_cb moves
 * the member to the ack list (delivered) or frees it (failed). The count of
 * outstanding records is exact because every produced record gets exactly
 * one report, including purged ones at destroy.
 *
 * Outages are logged once: the first failed delivery (or broker-down error)
 * logs a warning; the next successful delivery logs the recovery.
 */
#include "fire.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "kafka.h"
#include "log.h"

typedef struct pending_s {
    int partition;
    int64_t due_ms;
    char *member;
    struct pending_s *next; /* chain in the held set */
} pending_t;

struct cairn_timers_fire_s {
    rd_kafka_t *rk;
    char topic[512];
    int pipefd[2];
    int timeout_ms;
    int64_t outstanding;
    int failing;  /* in a delivery outage (logged) */
    int fatal;
    pending_t **held; /* the outstanding records by member (chained) */
    size_t nheld, nbuckets;
    cairn_timers_acks_t *acks;
    cairn_timers_metrics_t *m;
};

int cairn_timers_member_split(char *member, int64_t *generation,
                              char **timer_id, char **workflow_id) {
    char *end;
    char *bar1 = strchr(member, '|');
    if (!bar1 || bar1 == member)
        return -1;
    char *bar2 = strchr(bar1 + 1, '|');
    if (!bar2 || bar2 == bar1 + 1 || !bar2[1])
        return -1;
    errno = 0;
    long long g = strtoll(member, &end, 10);
    if (errno || end != bar1 || g < 0)
        return -1;
    *bar1 = *bar2 = '\0';
    *generation = g;
    *timer_id = bar1 + 1;
    *workflow_id = bar2 + 1;
    return 0;
}

static size_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

void cairn__timers_oom(void) {
    LOG_ERROR("out of memory");
    abort();
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (!p)
        cairn__timers_oom();
    return p;
}

static void held_add(cairn_timers_fire_t *f, pending_t *p) {
    if (f->nheld >= f->nbuckets) {
        size_t nb = f->nbuckets ? f->nbuckets * 2 : 1024;
        pending_t **b = xcalloc(nb, sizeof(*b));
        for (size_t i = 0; i < f->nbuckets; i++) {
            for (pending_t *q = f->held[i], *next; q; q = next) {
                next = q->next;
                size_t k = hash(q->member) & (nb - 1);
                q->next = b[k];
                b[k] = q;
            }
        }
        free(f->held);
        f->held = b;
        f->nbuckets = nb;
    }
    size_t k = hash(p->member) & (f->nbuckets - 1);
    p->next = f->held[k];
    f->held[k] = p;
    f->nheld++;
}

static void held_del(cairn_timers_fire_t *f, pending_t *p) {
    pending_t **pp = &f->held[hash(p->member) & (f->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            f->nheld--;
            return;
        }
    }
}

int cairn_timers_fire_holds(const cairn_timers_fire_t *f, const char *member) {
    if (!f->nheld)
        return 0;
    for (pending_t *q = f->held[hash(member) & (f->nbuckets - 1)]; q;
         q = q->next)
        if (!strcmp(q->member, member))
            return 1;
    return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                  void *opaque) {
    cairn_timers_fire_t *f = opaque;
    pending_t *p = msg->_private;
    (void)rk;
    if (!p)
        return;
    held_del(f, p);
    f->outstanding--;
    CAIRN_TM_SET(f->m, outstanding, f->outstanding);
    if (msg->err) {
        CAIRN_TM_INC(f->m, delivery_failures, 1);
        if (!f->failing && msg->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
            msg->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
            f->failing = 1;
            cairn_log(CAIRN_LOG_WARN, p->partition, NULL,
                      "TimerFired delivery to %s failed: %s; claimed timers "
                      "stay inflight and are claimed again when their lease "
                      "expires",
                      f->topic, rd_kafka_err2str(msg->err));
        }
        free(p->member);
        goto out;
    }
    if (f->failing) {
        f->failing = 0;
        LOG_INFO("TimerFired deliveries to %s succeed again", f->topic);
    }
    CAIRN_TM_INC(f->m, fired, 1);
    cairn_timers_hist_observe(&f->m->late_delivered, cairn_wall_ms() - p->due_ms);
    if (cairn_timers_acks_push(f->acks, p->partition, p->member))
        cairn__timers_oom();
out:
    free(p);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
    cairn_timers_fire_t *f = opaque;
    char why[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, why, sizeof(why));
        LOG_ERROR("fatal producer error: %s; recreating the producer "
                  "(claimed timers stay inflight)",
                  why);
        f->fatal = 1;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!f->failing)
            LOG_WARN("kafka: %s; claimed timers stay inflight until "
                     "their TimerFired is delivered (by this or another "
                     "instance)",
                     reason);
        f->failing = 1;
        return;
    }
    LOG_DEBUG("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* 1 if the user set kafka.<name> (then we leave it alone). */
static int user_set(const cairn_conf_t *conf, const char *name) {
    for (size_t i = 0; i < cairn_conf_kafka_count(conf); i++) {
        const char *n, *v;
        cairn_conf_kafka_at(conf, i, &n, &v);
        if (!strcmp(n, name))
            return 1;
    }
    return 0;
}

cairn_timers_fire_t *cairn_timers_fire_new(cairn_conf_t *conf,
                                           cairn_timers_acks_t *acks,
                                           cairn_timers_metrics_t *metrics,
                                           char *errstr, size_t errstr_size) {
    char client_id[300], tmo[32], why[512];
    rd_kafka_conf_t *kc = NULL;
    cairn_timers_fire_t *f = calloc(1, sizeof(*f));
    if (!f) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->pipefd[0] = f->pipefd[1] = -1;
    f->acks = acks;
    f->m = metrics;
    cairn_conf_topic(conf, "events", f->topic, sizeof(f->topic));
    if (pipe2(f->pipefd, O_NONBLOCK | O_CLOEXEC)) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_IO, "pipe: %s",
                      strerror(errno));
        goto err;
    }
    snprintf(client_id, sizeof(client_id), "cairn-timers-%s",
             cairn_conf_node_id(conf));
    if (!(kc = cairn_kafka_producer_conf_new(conf, client_id, errstr,
                                             errstr_size)))
        goto err;
    /* Required for the guarantees of fire.h, whatever kafka.* says. */
    if (cairn_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "acks", "all", errstr, errstr_size))
        goto err;
    /* The events topic is cairnd's to create, with the right count. */
    if (!user_set(conf, "allow.auto.create.topics") &&
        cairn_kafka_conf_set(kc, "allow.auto.create.topics", "false", errstr,
                             errstr_size))
        goto err;
    if (!user_set(conf, "message.timeout.ms")) {
        int64_t lease = cairn_conf_int(conf, "timers.lease.ms");
        int64_t t = lease * 3 / 4;
        if (t < 50)
            t = 50;
        snprintf(tmo, sizeof(tmo), "%lld", (long long)t);
        if (cairn_kafka_conf_set(kc, "message.timeout.ms", tmo, errstr,
                                 errstr_size))
            goto err;
    }
    size_t sz = sizeof(tmo);
    if (rd_kafka_conf_get(kc, "message.timeout.ms", tmo, &sz) !=
        RD_KAFKA_CONF_OK)
        snprintf(tmo, sizeof(tmo), "300000");
    f->timeout_ms = atoi(tmo);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    rd_kafka_conf_set_opaque(kc, f);
    if (!(f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, why, sizeof(why)))) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                      "kafka producer: %s", why);
        goto err;
    }
    kc = NULL; /* rd_kafka_new took it */
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(f->rk);
    rd_kafka_queue_io_event_enable(q, f->pipefd[1], "1", 1);
    rd_kafka_queue_destroy(q);
    return f;
err:
    if (kc)
        rd_kafka_conf_destroy(kc);
    cairn_timers_fire_destroy(f);
    return NULL;
}

void cairn_timers_fire_destroy(cairn_timers_fire_t *f) {
    if (!f)
        return;
    if (f->rk) {
        /* Reports for purged records free their pending_t. */
        rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE |
                                  RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_flush(f->rk, 1000);
        rd_kafka_poll(f->rk, 0);
        if (f->outstanding)
            LOG_WARN("%lld TimerFired records unreported at exit; they stay "
                     "inflight",
                     (long long)f->outstanding);
        rd_kafka_destroy(f->rk);
    }
    if (f->pipefd[0] >= 0)
        close(f->pipefd[0]);
    if (f->pipefd[1] >= 0)
        close(f->pipefd[1]);
    CAIRN_TM_SET(f->m, outstanding, 0);
    free(f->held);
    free(f);
}

cairn_err_t cairn_timers_fire_produce(cairn_timers_fire_t *f, int partition,
                                      cairn_timers_item_t *it, int64_t now_ms,
                                      char *errstr, size_t errstr_size) {
    cairn_err_t err;
    cairn_event_t ev;
    char ids[1024], *timer_id, *wf_id;
    pending_t *p = NULL;
    size_t len = strlen(it->member);

    if (len >= sizeof(ids)) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                            "timer member of %zu bytes is too long", len);
        goto err;
    }
    memcpy(ids, it->member, len + 1);
    memset(&ev, 0, sizeof(ev));
    if (cairn_timers_member_split(ids, &ev.generation, &timer_id, &wf_id)) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                            "timer member \"%s\" is not "
                            "generation|timer_id|workflow_id",
                            it->member);
        goto err;
    }
    if (!(p = calloc(1, sizeof(*p)))) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "out of memory");
        goto err;
    }
    p->partition = partition;
    p->due_ms = it->due_ms;
    p->member = it->member;
    ev.type = CAIRN_EV_TIMER_FIRED;
    ev.workflow_id = wf_id;
    ev.timer_id = timer_id;
    ev.time_ms = now_ms;
    ev.fire_at_ms = it->due_ms;
    if ((err = cairn_kafka_produce_event(f->rk, f->topic,
                                         RD_KAFKA_PARTITION_UA, &ev, NULL, p,
                                         errstr, errstr_size)))
        goto err;
    it->member = NULL;
    held_add(f, p);
    f->outstanding++;
    CAIRN_TM_SET(f->m, outstanding, f->outstanding);
    CAIRN_TM_INC(f->m, produced, 1);
    cairn_timers_hist_observe(&f->m->late_produce, cairn_wall_ms() - p->due_ms);
    return CAIRN_ERR_OK;
err:
    free(p);
    if (err == CAIRN_ERR_KAFKA || err == CAIRN_ERR_TIMEOUT)
        CAIRN_TM_INC(f->m, produce_errors, 1);
    return err;
}

void cairn_timers_fire_poll(cairn_timers_fire_t *f, int timeout_ms) {
    char buf[256];
    while (read(f->pipefd[0], buf, sizeof(buf)) > 0)
        ;
    rd_kafka_poll(f->rk, timeout_ms);
    while (rd_kafka_poll(f->rk, 0) > 0)
        ;
}

void cairn_timers_fire_flush(cairn_timers_fire_t *f, int timeout_ms) {
    rd_kafka_flush(f->rk, timeout_ms);
    cairn_timers_fire_poll(f, 0);
}

int64_t cairn_timers_fire_outstanding(const cairn_timers_fire_t *f) {
    return f->outstanding;
}

int cairn_timers_fire_fd(const cairn_timers_fire_t *f) {
    return f->pipefd[0];
}

int cairn_timers_fire_fatal(const cairn_timers_fire_t *f) {
    return f->fatal;
}

rd_kafka_t *cairn_timers_fire_rk(cairn_timers_fire_t *f) { return f->rk; }

const char *cairn_timers_fire_topic(const cairn_timers_fire_t *f) {
    return f->topic;
}

int cairn_timers_fire_timeout_ms(const cairn_timers_fire_t *f) {
    return f->timeout_ms;
}
