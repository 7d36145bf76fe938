/*
 * service.c — the cairn-timers loop: claim, fire, acknowledge, sleep.
 *
 * Clocks: due times and leases are wall-clock milliseconds (they are shared
 * with the engine and with other instances through Redis); the summary
 * period and the Redis reconnect backoff are monotonic. The planned wakeup
 * is kept as a wall time (wake_wall) because pub/sub messages announce
 * wall times; each poll() timeout is recomputed from it, capped at
 * timers.idle.max.ms, so a clock step can at worst delay a round by the cap.
 *
 * Redis: a failed round trip drops both connections, logs a warning once
 * for the outage, and reconnects with exponential backoff (100 ms .. 5 s);
 * Kafka delivery reports keep being served meanwhile and their acks wait in
 * memory. After reconnecting, the first round claims immediately: anything
 * registered while the subscriber was gone is seen.
 *
 * Back-pressure: at most timers.inflight.max records await delivery
 * reports; while the bound is reached no claims are made (a delivery report
 * wakes the loop), so a slow Kafka path leaves due timers in Redis for other
 * instances instead of leasing them here.
 */
#include "service.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "claim.h"
#include "fire.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SUMMARY_MS 10000
#define SCRIPT_ERR_LOG_MS 10000
#define REDIS_TIMEOUT_MS 2000

struct cairn_timers_service_s {
    cairn_conf_t *conf;
    char host[256];
    int port, db;
    int nparts;
    int *parts;
    cairn_timers_claim_t *claims; /* one per partition, reused each round */
    int64_t lease_ms, scan_max, idle_max_ms, inflight_max;
    redisContext *rc;  /* commands */
    redisContext *sub; /* SUBSCRIBEd to the wake channel */
    cairn_timers_scripts_t sc;
    int redis_down;      /* in an outage (already logged) */
    int64_t down_since;  /* mono ms */
    int64_t retry_at;    /* mono ms */
    int64_t backoff_ms;
    int64_t wake_wall;   /* wall ms of the next claim round */
    int64_t err_logged;  /* mono ms of the last script-error line */
    cairn_timers_fire_t *fire;
    cairn_timers_acks_t acks; /* delivered, not yet removed from Redis */
    cairn_timers_metrics_t m;
    cairn_metrics_t *metrics; /* the /metrics endpoint, if metrics.port */
    cairn_timers_snapshot_t last;
    int64_t summary_at; /* mono ms */
    volatile sig_atomic_t stop;
    int stopfd[2];
};

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- Redis connections -------------------------------------------------- */

static void redis_close(cairn_timers_service_t *svc) {
    if (svc->rc)
        redisFree(svc->rc);
    if (svc->sub)
        redisFree(svc->sub);
    svc->rc = svc->sub = NULL;
    svc->sc.claim_sha[0] = svc->sc.ack_sha[0] = '\0';
}

/*
 * A round trip failed: close, log once per outage, schedule a retry. why
 * may point into a context's errstr, so it is copied before the close.
 */
static void redis_fail(cairn_timers_service_t *svc, const char *reason) {
    char why[256];
    int64_t now = cairn_mono_ms();
    snprintf(why, sizeof(why), "%s", reason);
    redis_close(svc);
    CAIRN_TM_INC(&svc->m, redis_errors, 1);
    CAIRN_TM_SET(&svc->m, redis_up, 0);
    if (!svc->redis_down) {
        svc->redis_down = 1;
        svc->down_since = now;
        svc->backoff_ms = BACKOFF_MIN_MS;
        CAIRN_TM_INC(&svc->m, redis_outages, 1);
        LOG_WARN("redis %s:%d unreachable (%s); retrying with backoff. "
                 "Timers due meanwhile fire late; none is lost",
                 svc->host, svc->port, why);
    } else {
        svc->backoff_ms *= 2;
        if (svc->backoff_ms > BACKOFF_MAX_MS)
            svc->backoff_ms = BACKOFF_MAX_MS;
    }
    svc->retry_at = now + svc->backoff_ms;
}

/* Connects one context; NULL with why. */
static redisContext *connect_one(cairn_timers_service_t *svc, char *why,
                                 size_t why_size) {
    struct timeval tv = {REDIS_TIMEOUT_MS / 1000,
                         (REDIS_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(svc->host, svc->port, tv);
    if (!c || c->err) {
        snprintf(why, why_size, "%s", c ? c->errstr : "out of memory");
        goto err;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK ||
        redisEnableKeepAlive(c) != REDIS_OK) {
        snprintf(why, why_size, "%s", c->errstr);
        goto err;
    }
    return c;
err:
    if (c)
        redisFree(c);
    return NULL;
}

/* Expects a non-error reply to a command; 0 or -1 with why. */
static int command_ok(redisContext *c, redisReply *r, char *why,
                      size_t why_size) {
    int ret = 0;
    if (!r) {
        snprintf(why, why_size, "%s", c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_size, "%s", r->str);
        ret = -1;
    }
    freeReplyObject(r);
    return ret;
}

/* Both connections, the scripts, the subscription. 0, or -1 (logged). */
static int redis_connect(cairn_timers_service_t *svc) {
    char why[512];
    if (!(svc->rc = connect_one(svc, why, sizeof(why))))
        goto err;
    if (svc->db &&
        command_ok(svc->rc, redisCommand(svc->rc, "SELECT %d", svc->db), why,
                   sizeof(why)))
        goto err;
    if (cairn_timers_scripts_load(svc->rc, &svc->sc, why, sizeof(why)))
        goto err;
    if (!(svc->sub = connect_one(svc, why, sizeof(why))))
        goto err;
    if (command_ok(svc->sub,
                   redisCommand(svc->sub, "SUBSCRIBE %s",
                                CAIRN_TIMERS_WAKE_CHANNEL),
                   why, sizeof(why)))
        goto err;
    if (svc->redis_down)
        LOG_INFO("redis %s:%d is back after %lld ms", svc->host, svc->port,
                 (long long)(cairn_mono_ms() - svc->down_since));
    svc->redis_down = 0;
    svc->backoff_ms = BACKOFF_MIN_MS;
    svc->wake_wall = 0; /* claim now: wakeups may have been missed */
    CAIRN_TM_SET(&svc->m, redis_up, 1);
    return 0;
err:
    redis_fail(svc, why);
    return -1;
}

/* Reads every pub/sub message waiting; 0, or -1 if the connection broke. */
static int read_wakeups(cairn_timers_service_t *svc) {
    redisReply *r = NULL;
    if (redisBufferRead(svc->sub) != REDIS_OK) {
        redis_fail(svc, svc->sub->errstr);
        return -1;
    }
    for (;;) {
        if (redisGetReplyFromReader(svc->sub, (void **)&r) != REDIS_OK) {
            redis_fail(svc, svc->sub->errstr);
            return -1;
        }
        if (!r)
            return 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            !strcmp(r->element[0]->str, "message") &&
            r->element[2]->type == REDIS_REPLY_STRING) {
            char *end;
            double d = strtod(r->element[2]->str, &end);
            if (end != r->element[2]->str && isfinite(d) &&
                (int64_t)d < svc->wake_wall) {
                svc->wake_wall = (int64_t)d;
                CAIRN_TM_INC(&svc->m, wakeups, 1);
            }
        }
        freeReplyObject(r);
    }
}

/* ---- rounds ------------------------------------------------------------- */

/* Removes delivered entries from Redis. */
static void ack_flush(cairn_timers_service_t *svc) {
    char why[512];
    size_t n = svc->acks.n, removed = 0;
    if (!n || !svc->rc)
        return;
    cairn_err_t err =
        cairn_timers_ack(svc->rc, &svc->sc, &svc->acks, &removed, why,
                         sizeof(why));
    if (err && svc->rc->err) {
        redis_fail(svc, why);
        return;
    }
    if (err == CAIRN_ERR_NOMEM)
        cairn__timers_oom();
    if (err)
        LOG_WARN("%s; %zu delivered timers stay inflight and fire once "
                 "more after their lease (a duplicate the engine ignores)",
                 why, n);
    else
        CAIRN_TM_INC(&svc->m, acked, n);
}

/* Claims and fires what is due at wall time now; sets svc->wake_wall. */
static void claim_round(cairn_timers_service_t *svc, int64_t now) {
    char why[512];
    int64_t budget =
        svc->inflight_max - cairn_timers_fire_outstanding(svc->fire);
    int64_t next = now + svc->idle_max_ms, pending = 0, inflight = 0,
            overdue = 0;
    int queue_full = 0;

    if (budget <= 0)
        return; /* a delivery report wakes the loop */
    int64_t per = (budget + svc->nparts - 1) / svc->nparts;
    if (per > svc->scan_max)
        per = svc->scan_max;
    cairn_err_t err = cairn_timers_claim(svc->rc, &svc->sc, svc->parts,
                                         (size_t)svc->nparts, now,
                                         svc->lease_ms, per, svc->claims, why,
                                         sizeof(why));
    if (err == CAIRN_ERR_NOMEM)
        cairn__timers_oom();
    if (err) {
        redis_fail(svc, why);
        return;
    }
    CAIRN_TM_INC(&svc->m, scans, 1);
    for (int i = 0; i < svc->nparts; i++) {
        cairn_timers_claim_t *c = &svc->claims[i];
        if (c->error[0]) {
            CAIRN_TM_INC(&svc->m, redis_errors, 1);
            if (cairn_mono_ms() - svc->err_logged >= SCRIPT_ERR_LOG_MS) {
                svc->err_logged = cairn_mono_ms();
                cairn_log(CAIRN_LOG_WARN, c->partition, NULL,
                          "claim script failed: %s", c->error);
            }
            /* Retry this partition no sooner than the cap. */
            continue;
        }
        pending += c->pending;
        inflight += c->inflight;
        overdue += c->overdue;
        CAIRN_TM_INC(&svc->m, merged, c->merged);
        if (c->next_ms >= 0 && c->next_ms < next)
            next = c->next_ms;
        for (size_t k = 0; k < c->n; k++) {
            cairn_timers_item_t *it = &c->items[k];
            if (it->reclaimed)
                CAIRN_TM_INC(&svc->m, reclaimed, 1);
            else
                CAIRN_TM_INC(&svc->m, claimed, 1);
            if (queue_full)
                continue; /* stays inflight; claimed again after its lease */
            if (cairn_timers_fire_holds(svc->fire, it->member)) {
                CAIRN_TM_INC(&svc->m, held, 1);
                continue; /* its pending report settles it */
            }
            err = cairn_timers_fire_produce(svc->fire, c->partition, it, now,
                                            why, sizeof(why));
            if (!err)
                continue;
            if (err == CAIRN_ERR_DECODE || err == CAIRN_ERR_INVALID_ARG) {
                /* Can never fire: remove it instead of re-leasing forever. */
                CAIRN_TM_INC(&svc->m, malformed, 1);
                cairn_log(CAIRN_LOG_ERROR, c->partition, NULL,
                          "%s; removing it from the timer index", why);
                if (cairn_timers_acks_push(&svc->acks, c->partition,
                                           it->member))
                    cairn__timers_oom();
                it->member = NULL;
            } else if (err == CAIRN_ERR_NOMEM) {
                cairn__timers_oom();
            } else {
                queue_full = 1;
                cairn_log(CAIRN_LOG_WARN, c->partition, NULL,
                          "%s; the rest of this round's timers stay "
                          "inflight until their lease expires",
                          why);
            }
        }
        cairn_timers_claim_clear(c);
    }
    CAIRN_TM_SET(&svc->m, pending, pending);
    CAIRN_TM_SET(&svc->m, inflight, inflight);
    CAIRN_TM_SET(&svc->m, overdue, overdue);
    svc->wake_wall = next;
}

/* ---- lifecycle ---------------------------------------------------------- */

static size_t format_metrics(void *opaque, char *buf, size_t size) {
    return cairn_timers_metrics_format(opaque, buf, size);
}

cairn_timers_service_t *cairn_timers_service_new(cairn_conf_t *conf,
                                                 cairn_err_t *errp,
                                                 char *errstr,
                                                 size_t errstr_size) {
    char why[512];
    cairn_err_t err = CAIRN_ERR_OK;
    cairn_timers_service_t *svc = calloc(1, sizeof(*svc));
    if (!svc) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "out of memory");
        goto err;
    }
    svc->stopfd[0] = svc->stopfd[1] = -1;
    svc->conf = conf;
    cairn_timers_metrics_init(&svc->m);
    cairn_conf_redis(conf, svc->host, sizeof(svc->host), &svc->port,
                     &svc->db);
    svc->nparts = (int)cairn_conf_int(conf, "partitions");
    svc->lease_ms = cairn_conf_int(conf, "timers.lease.ms");
    svc->scan_max = cairn_conf_int(conf, "timers.scan.max");
    svc->idle_max_ms = cairn_conf_int(conf, "timers.idle.max.ms");
    svc->inflight_max = cairn_conf_int(conf, "timers.inflight.max");
    svc->parts = calloc((size_t)svc->nparts, sizeof(*svc->parts));
    svc->claims = calloc((size_t)svc->nparts, sizeof(*svc->claims));
    if (!svc->parts || !svc->claims ||
        pipe2(svc->stopfd, O_NONBLOCK | O_CLOEXEC)) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "out of memory or descriptors");
        goto err;
    }
    for (int i = 0; i < svc->nparts; i++) {
        svc->parts[i] = i;
        svc->claims[i].partition = i;
        svc->claims[i].next_ms = -1;
    }
    if (!(svc->fire = cairn_timers_fire_new(conf, &svc->acks, &svc->m, errstr,
                                            errstr_size))) {
        err = CAIRN_ERR_CONFIG;
        goto err;
    }
    /* Scanning too few partitions would strand timers: check when we can. */
    int have = cairn_kafka_partition_count(cairn_timers_fire_rk(svc->fire),
                                           cairn_timers_fire_topic(svc->fire),
                                           5000, why, sizeof(why));
    if (have > 0 && have != svc->nparts) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                            "topic %s has %d partitions but partitions=%d is "
                            "configured; set partitions=%d",
                            cairn_timers_fire_topic(svc->fire), have,
                            svc->nparts, have);
        goto err;
    }
    if (have <= 0)
        LOG_WARN("cannot check the partition count (%s); scanning "
                 "partitions 0..%d as configured",
                 why, svc->nparts - 1);
    int port = (int)cairn_conf_int(conf, "metrics.port");
    if (port) {
        /* The timer counters render themselves; the registry adds the
         * process metrics and serves /metrics and /healthz. */
        if (!(svc->metrics = cairn_metrics_new()) ||
            cairn_metrics_add_text(svc->metrics, format_metrics, &svc->m) ||
            cairn_metrics_add_process(svc->metrics) ||
            cairn_metrics_serve(svc->metrics,
                                cairn_conf_str(conf, "metrics.address"), port,
                                errstr, errstr_size)) {
            err = CAIRN_ERR_CONFIG;
            goto err;
        }
        LOG_INFO("metrics on http://%s:%d/metrics",
                 cairn_conf_str(conf, "metrics.address"), port);
    }
    return svc;
err:
    if (errp)
        *errp = err;
    cairn_timers_service_destroy(svc);
    return NULL;
}

void cairn_timers_service_destroy(cairn_timers_service_t *svc) {
    if (!svc)
        return;
    cairn_metrics_destroy(svc->metrics);
    cairn_timers_fire_destroy(svc->fire);
    redis_close(svc);
    for (int i = 0; svc->claims && i < svc->nparts; i++)
        cairn_timers_claim_clear(&svc->claims[i]);
    free(svc->claims);
    free(svc->parts);
    cairn_timers_acks_clear(&svc->acks);
    if (svc->stopfd[0] >= 0)
        close(svc->stopfd[0]);
    if (svc->stopfd[1] >= 0)
        close(svc->stopfd[1]);
    free(svc);
}

void cairn_timers_service_stop(cairn_timers_service_t *svc) {
    int saved = errno;
    if (svc->stop < 2)
        svc->stop++;
    if (write(svc->stopfd[1], "s", 1) < 0) {
        /* full pipe: a wakeup is already pending */
    }
    errno = saved;
}

const cairn_timers_metrics_t *
cairn_timers_service_metrics(const cairn_timers_service_t *svc) {
    return &svc->m;
}

static void drain(int fd) {
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* Milliseconds until wall time wake (rounded up), clamped to [0, cap]. */
static int64_t ms_until(int64_t wake_wall_ms, int64_t cap) {
    int64_t d = wake_wall_ms * 1000 - wall_us();
    if (d <= 0)
        return 0;
    d = (d + 999) / 1000;
    return d < cap ? d : cap;
}

static void summary(cairn_timers_service_t *svc, int64_t now_mono) {
    if (now_mono < svc->summary_at)
        return;
    cairn_timers_metrics_log(&svc->m, &svc->last,
                             SUMMARY_MS + (now_mono - svc->summary_at));
    svc->summary_at = now_mono + SUMMARY_MS;
}

/* Recreates the producer after a fatal error; -1 if that fails. */
static int renew_producer(cairn_timers_service_t *svc) {
    char why[512];
    cairn_timers_fire_destroy(svc->fire);
    if (!(svc->fire = cairn_timers_fire_new(svc->conf, &svc->acks, &svc->m,
                                            why, sizeof(why)))) {
        LOG_ERROR("cannot recreate the producer: %s", why);
        return -1;
    }
    return 0;
}

static void shutdown_flush(cairn_timers_service_t *svc) {
    int64_t deadline = cairn_mono_ms() + cairn_timers_fire_timeout_ms(svc->fire) +
                       1000;
    LOG_INFO("stopping: waiting for %lld TimerFired deliveries",
             (long long)cairn_timers_fire_outstanding(svc->fire));
    while (cairn_timers_fire_outstanding(svc->fire) > 0 && svc->stop < 2 &&
           cairn_mono_ms() < deadline)
        cairn_timers_fire_poll(svc->fire, 100);
    if (svc->acks.n && !svc->rc)
        redis_connect(svc);
    ack_flush(svc);
    if (svc->acks.n)
        LOG_WARN("%zu delivered timers could not be removed from Redis; they "
                 "fire once more after their lease (ignored as duplicates)",
                 svc->acks.n);
}

cairn_err_t cairn_timers_service_run(cairn_timers_service_t *svc) {
    cairn_err_t ret = CAIRN_ERR_OK;
    svc->summary_at = cairn_mono_ms() + SUMMARY_MS;
    cairn_timers_metrics_snapshot(&svc->m, &svc->last);
    LOG_INFO("cairn-timers started: redis %s:%d, partitions 0..%d, lease "
             "%lld ms, scan.max %lld, idle.max %lld ms, topic %s",
             svc->host, svc->port, svc->nparts - 1, (long long)svc->lease_ms,
             (long long)svc->scan_max, (long long)svc->idle_max_ms,
             cairn_timers_fire_topic(svc->fire));
    redis_connect(svc);
    while (!svc->stop) {
        if (cairn_timers_fire_fatal(svc->fire) && renew_producer(svc)) {
            ret = CAIRN_ERR_KAFKA;
            break;
        }
        if (!svc->rc && cairn_mono_ms() >= svc->retry_at)
            redis_connect(svc);
        if (svc->rc)
            ack_flush(svc);
        int64_t now = wall_us() / 1000;
        int starved = 0;
        if (svc->rc && now >= svc->wake_wall) {
            if (cairn_timers_fire_outstanding(svc->fire) >= svc->inflight_max)
                starved = 1; /* wait for delivery reports */
            else
                claim_round(svc, now);
        }
        summary(svc, cairn_mono_ms());

        /* Sleep until something is due, announced, reported or asked. */
        int64_t mono = cairn_mono_ms(), timeout = svc->idle_max_ms;
        if (!svc->rc)
            timeout = svc->retry_at > mono ? svc->retry_at - mono : 0;
        else if (!starved)
            timeout = ms_until(svc->wake_wall, svc->idle_max_ms);
        if (svc->summary_at - mono < timeout)
            timeout = svc->summary_at > mono ? svc->summary_at - mono : 0;
        struct pollfd pfd[3] = {
            {svc->stopfd[0], POLLIN, 0},
            {cairn_timers_fire_fd(svc->fire), POLLIN, 0},
            {svc->sub ? svc->sub->fd : -1, POLLIN, 0},
        };
        if (svc->acks.n && svc->rc)
            timeout = 0;
        if (poll(pfd, 3, (int)timeout) < 0 && errno != EINTR) {
            LOG_ERROR("poll: %s", strerror(errno));
            ret = CAIRN_ERR_IO;
            break;
        }
        if (pfd[0].revents)
            drain(svc->stopfd[0]);
        cairn_timers_fire_poll(svc->fire, 0);
        if (svc->sub && pfd[2].revents)
            read_wakeups(svc); /* a broken connection closes both */
    }
    shutdown_flush(svc);
    cairn_timers_metrics_log(&svc->m, &svc->last,
                             cairn_mono_ms() - (svc->summary_at - SUMMARY_MS));
    LOG_INFO("cairn-timers stopped");
    return ret;
}
