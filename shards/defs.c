/*
 * defs.c — follows the definitions topic into a registry.
 *
 * One reader thread owns the consumer; `loaded` is the offset up to which
 * the topic has been applied. A record whose JSON does not validate is
 * logged and skipped (the CLI validates before it produces, so this only
 * catches foreign producers); it can never stop the node.
 */
#include "defs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

struct cairn_defs_s {
    rd_kafka_t *rk;
    char topic[256];
    pthread_rwlock_t rw;
    cairn_registry_t *reg;
    pthread_t thread;
    atomic_int stop;
    atomic_llong loaded; /* next offset to load */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void apply(cairn_defs_t *defs, const rd_kafka_message_t *m) {
    char errstr[512];
    if (!m->payload)
        return; /* a tombstone: versions are immutable, keep what we have */
    cairn_def_t *def =
        cairn_def_from_json(m->payload, m->len, errstr, sizeof(errstr));
    if (!def) {
        cairn_log(CAIRN_LOG_WARN, -1, NULL,
                  "definitions offset %lld: invalid definition skipped: %s",
                  (long long)m->offset, errstr);
        return;
    }
    pthread_rwlock_wrlock(&defs->rw);
    cairn_err_t err = cairn_registry_put(defs->reg, def, errstr, sizeof(errstr));
    pthread_rwlock_unlock(&defs->rw);
    if (err) {
        cairn_log(CAIRN_LOG_WARN, -1, NULL,
                  "definitions offset %lld: refused: %s", (long long)m->offset,
                  errstr);
        cairn_def_destroy(def);
    } else {
        LOG_INFO("definition %s@%d loaded", cairn_def_type(def),
                 cairn_def_version(def));
    }
}

static void *reader(void *arg) {
    cairn_defs_t *defs = arg;
    while (!defs->stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(defs->rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            defs->loaded = m->offset;
        } else if (m->err) {
            LOG_WARN("definitions reader: %s", rd_kafka_message_errstr(m));
        } else {
            apply(defs, m);
            defs->loaded = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
        pthread_mutex_lock(&defs->mu);
        pthread_cond_broadcast(&defs->cv);
        pthread_mutex_unlock(&defs->mu);
    }
    return NULL;
}

cairn_defs_t *cairn_defs_new(const cairn_conf_t *conf, char *errstr,
                             size_t errstr_size) {
    cairn_defs_t *defs = calloc(1, sizeof(*defs));
    char group[300];
    rd_kafka_conf_t *kc = NULL;
    if (!defs)
        return NULL;
    pthread_rwlock_init(&defs->rw, NULL);
    pthread_mutex_init(&defs->mu, NULL);
    pthread_cond_init(&defs->cv, NULL);
    cairn_conf_topic(conf, "definitions", defs->topic, sizeof(defs->topic));
    if (!(defs->reg = cairn_registry_new()))
        goto err;
    /* An assign()-only consumer: the group id is never joined. */
    snprintf(group, sizeof(group), "%sdefinitions-reader",
             cairn_conf_str(conf, "topic.prefix"));
    if (!(kc = cairn_kafka_conf_new(conf, "cairnd-defs", errstr,
                                    errstr_size)) ||
        cairn_kafka_conf_set(kc, "group.id", group, errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                             errstr_size))
        goto err;
    if (!(defs->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                  errstr_size)))
        goto err;
    kc = NULL;
    rd_kafka_poll_set_consumer(defs->rk);
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, defs->topic, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t rerr = rd_kafka_assign(defs->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (rerr) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                      "definitions: assign: %s", rd_kafka_err2str(rerr));
        goto err;
    }
    if (pthread_create(&defs->thread, NULL, reader, defs)) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_INTERNAL,
                      "definitions: cannot start thread");
        goto err;
    }
    return defs;
err:
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (defs->rk)
        rd_kafka_destroy(defs->rk);
    defs->rk = NULL;
    cairn_registry_destroy(defs->reg);
    free(defs);
    return NULL;
}

void cairn_defs_destroy(cairn_defs_t *defs) {
    if (!defs)
        return;
    defs->stop = 1;
    pthread_join(defs->thread, NULL);
    rd_kafka_consumer_close(defs->rk);
    rd_kafka_destroy(defs->rk);
    cairn_registry_destroy(defs->reg);
    pthread_rwlock_destroy(&defs->rw);
    pthread_mutex_destroy(&defs->mu);
    pthread_cond_destroy(&defs->cv);
    free(defs);
}

const cairn_registry_t *cairn_defs_rdlock(cairn_defs_t *defs) {
    pthread_rwlock_rdlock(&defs->rw);
    return defs->reg;
}

void cairn_defs_unlock(cairn_defs_t *defs) { pthread_rwlock_unlock(&defs->rw); }

int cairn_defs_has(cairn_defs_t *defs, const char *type, int version) {
    pthread_rwlock_rdlock(&defs->rw);
    int has = type && cairn_registry_get(defs->reg, type, version) != NULL;
    pthread_rwlock_unlock(&defs->rw);
    return has;
}

int cairn_defs_sync(cairn_defs_t *defs, int timeout_ms) {
    int64_t lo, hi;
    if (rd_kafka_query_watermark_offsets(defs->rk, defs->topic, 0, &lo, &hi,
                                         timeout_ms))
        return -1;
    struct timespec deadline =
        cairn_timespec_in(CLOCK_REALTIME, timeout_ms); /* condvar clock */
    int rc = 0;
    pthread_mutex_lock(&defs->mu);
    while (defs->loaded < hi && rc == 0)
        rc = pthread_cond_timedwait(&defs->cv, &defs->mu, &deadline);
    pthread_mutex_unlock(&defs->mu);
    return defs->loaded >= hi ? 0 : -1;
}
