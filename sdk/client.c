/*
 * client.c — libcairn's client: requests into Kafka, reads from Redis and
 * Kafka.
 *
 * Writes: one idempotent producer (acks=all) per client; each call waits for
 * its own delivery report, so a returned CAIRN_ERR_OK means the record is in
 * Kafka. Reads: describe and await use the Redis visibility index written by
 * shard owners after each commit (with a fall-back to the state topic when
 * Redis is unreachable or has lost the record); history reads the workflow's
 * records from its history partition at the offsets the index lists.
 */
#include "cairn.h"
#include "clock.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "kafka.h"

struct cairn_client_s {
    cairn_conf_t *conf; /* own copy of the values we need */
    char bootstrap[1024];
    char redis_host[256];
    int redis_port, redis_db;
    int partitions;
    int timeout_ms;
    char t_events[256], t_history[256], t_state[256], t_definitions[256];
    rd_kafka_t *producer; /* used under plock (read); replaced under write */
    pthread_rwlock_t plock;
    pthread_mutex_t mu; /* guards rc and `checked` */
    redisContext *rc;
    int checked; /* broker reachability was verified */
};

typedef struct {
    atomic_int done;
    rd_kafka_resp_err_t err;
} delivery_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    delivery_t *d = m->_private;
    if (!d)
        return;
    d->err = m->err;
    d->done = 1;
}

/* The client's idempotent producer, configured from cl->conf. */
static rd_kafka_t *new_producer(cairn_client_t *cl, char *errstr,
                                size_t errstr_size) {
    char tmo[32];
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *kc;
    snprintf(tmo, sizeof(tmo), "%d", cl->timeout_ms);
    if (!(kc = cairn_kafka_producer_conf_new(cl->conf, "cairn-client", errstr,
                                             errstr_size)))
        return NULL;
    if (cairn_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "acks", "all", errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "linger.ms", "0", errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "message.timeout.ms", tmo, errstr,
                             errstr_size))
        goto err;
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size)))
        goto err;
    return rk;
err:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

cairn_client_t *cairn_client_new(const cairn_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
    cairn_client_t *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cl->mu, NULL);
    pthread_rwlock_init(&cl->plock, NULL);
    snprintf(cl->bootstrap, sizeof(cl->bootstrap), "%s",
             cairn_conf_str(conf, "bootstrap.servers"));
    cairn_conf_redis(conf, cl->redis_host, sizeof(cl->redis_host),
                     &cl->redis_port, &cl->redis_db);
    cl->partitions = (int)cairn_conf_int(conf, "partitions");
    cl->timeout_ms = (int)cairn_conf_int(conf, "request.timeout.ms");
    cairn_conf_topic(conf, "events", cl->t_events, sizeof(cl->t_events));
    cairn_conf_topic(conf, "history", cl->t_history, sizeof(cl->t_history));
    cairn_conf_topic(conf, "state", cl->t_state, sizeof(cl->t_state));
    cairn_conf_topic(conf, "definitions", cl->t_definitions,
                     sizeof(cl->t_definitions));
    /* Keep a private conf for the consumers we create later. */
    if (!(cl->conf = cairn_conf_dup(conf)))
        goto err;
    if (!(cl->producer = new_producer(cl, errstr, errstr_size)))
        goto err;
    return cl;
err:
    cairn_client_destroy(cl);
    return NULL;
}

void cairn_client_destroy(cairn_client_t *cl) {
    if (!cl)
        return;
    if (cl->producer) {
        rd_kafka_flush(cl->producer, cl->timeout_ms);
        rd_kafka_destroy(cl->producer);
    }
    if (cl->rc)
        redisFree(cl->rc);
    cairn_conf_destroy(cl->conf);
    pthread_rwlock_destroy(&cl->plock);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
}

/* Fails fast with a clear message when no broker answers. */
static cairn_err_t check_broker(cairn_client_t *cl, char *errstr,
                                size_t errstr_size) {
    pthread_mutex_lock(&cl->mu);
    int checked = cl->checked;
    pthread_mutex_unlock(&cl->mu);
    if (checked)
        return CAIRN_ERR_OK;
    const struct rd_kafka_metadata *md = NULL;
    int tmo = cl->timeout_ms < 5000 ? cl->timeout_ms : 5000;
    pthread_rwlock_rdlock(&cl->plock);
    rd_kafka_resp_err_t err = rd_kafka_metadata(cl->producer, 0, NULL, &md,
                                                tmo);
    pthread_rwlock_unlock(&cl->plock);
    if (err)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                             "cannot reach Kafka at %s (%s); is it running? "
                             "Set bootstrap.servers (--bootstrap-servers, "
                             "CAIRN_BOOTSTRAP_SERVERS)",
                             cl->bootstrap, rd_kafka_err2str(err));
    rd_kafka_metadata_destroy(md);
    pthread_mutex_lock(&cl->mu);
    cl->checked = 1;
    pthread_mutex_unlock(&cl->mu);
    return CAIRN_ERR_OK;
}

/* Polls until d has its report, for at most ms; 1 if it has. */
static int wait_report(cairn_client_t *cl, delivery_t *d, int64_t ms) {
    int64_t deadline = cairn_mono_ms() + ms;
    while (!d->done && cairn_mono_ms() < deadline)
        rd_kafka_poll(cl->producer, 50);
    return d->done;
}

/* One attempt of produce_wait(); call with plock held for reading. */
static cairn_err_t produce_once(cairn_client_t *cl, const char *topic,
                                int32_t partition, const cairn_event_t *ev,
                                char *errstr, size_t errstr_size) {
    delivery_t d = {0};
    cairn_err_t err = cairn_kafka_produce_event(cl->producer, topic, partition,
                                                ev, NULL, &d, errstr,
                                                errstr_size);
    if (err)
        return err;
    if (!wait_report(cl, &d, cl->timeout_ms + 1000)) {
        /* The report references d on this stack: purge, then wait for the
         * (purged) report so that it can never fire after we return. */
        rd_kafka_purge(cl->producer, RD_KAFKA_PURGE_F_QUEUE |
                                         RD_KAFKA_PURGE_F_INFLIGHT);
        while (!wait_report(cl, &d, 1000))
            ;
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                             "Kafka at %s did not acknowledge within %d ms",
                             cl->bootstrap, cl->timeout_ms);
    }
    if (d.err)
        return cairn__seterr(errstr, errstr_size, cairn_kafka_err(d.err),
                             "Kafka refused the %s record: %s",
                             cairn_event_type_name(ev->type),
                             rd_kafka_err2str(d.err));
    return CAIRN_ERR_OK;
}

/*
 * Replaces a producer that raised a fatal error (librdkafka: an idempotent
 * producer that lost its sequence with the broker cannot be used again).
 * No call is using the producer while the write lock is held.
 */
static void renew_producer(cairn_client_t *cl) {
    char errstr[512];
    pthread_rwlock_wrlock(&cl->plock);
    if (rd_kafka_fatal_error(cl->producer, NULL, 0)) {
        rd_kafka_t *rk = new_producer(cl, errstr, sizeof(errstr));
        if (rk) {
            rd_kafka_purge(cl->producer, RD_KAFKA_PURGE_F_QUEUE |
                                             RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_destroy(cl->producer);
            cl->producer = rk;
        }
    }
    pthread_rwlock_unlock(&cl->plock);
}

/*
 * Produces ev to topic/partition and waits for its delivery report. After a
 * fatal producer error the record is sent once more with a new producer:
 * safe, since every event carries its idempotency key (request id, or
 * activity id and attempt) and the engine ignores a second copy.
 */
static cairn_err_t produce_wait(cairn_client_t *cl, const char *topic,
                                int32_t partition, const cairn_event_t *ev,
                                char *errstr, size_t errstr_size) {
    cairn_err_t err = check_broker(cl, errstr, errstr_size);
    for (int attempt = 0; !err; attempt++) {
        pthread_rwlock_rdlock(&cl->plock);
        err = produce_once(cl, topic, partition, ev, errstr, errstr_size);
        int fatal = err && rd_kafka_fatal_error(cl->producer, NULL, 0);
        pthread_rwlock_unlock(&cl->plock);
        if (!fatal || attempt > 0)
            break;
        renew_producer(cl);
        err = CAIRN_ERR_OK;
    }
    return err;
}

cairn_err_t cairn_client_send(cairn_client_t *cl, const cairn_event_t *ev,
                              char *errstr, size_t errstr_size) {
    return produce_wait(cl, cl->t_events, RD_KAFKA_PARTITION_UA, ev, errstr,
                        errstr_size);
}

static void new_request_id(char *buf, size_t size) {
    unsigned char r[16];
    FILE *fp = fopen("/dev/urandom", "rb");
    if (!fp || fread(r, 1, sizeof(r), fp) != sizeof(r)) {
        uint64_t t = (uint64_t)cairn_wall_ms() ^ ((uint64_t)clock() << 32);
        memcpy(r, &t, 8);
        memcpy(r + 8, &t, 8);
    }
    if (fp)
        fclose(fp);
    r[6] = (r[6] & 0x0f) | 0x40; /* UUID v4 */
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(buf, size,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
             r[11], r[12], r[13], r[14], r[15]);
}

static cairn_err_t check_id(const char *wf_id, char *errstr,
                            size_t errstr_size) {
    if (!wf_id || !*wf_id)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "a workflow id is required");
    if (strlen(wf_id) > 512)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "workflow id longer than 512 bytes");
    return CAIRN_ERR_OK;
}

static cairn_err_t check_json(const char *what, const char *json,
                              char *errstr, size_t errstr_size) {
    if (!json)
        return CAIRN_ERR_OK;
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    if (!v)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "%s is not valid JSON: %s (column %d)", what,
                             je.text, je.column);
    json_decref(v);
    return CAIRN_ERR_OK;
}

cairn_err_t cairn_client_start(cairn_client_t *cl, const char *type,
                               const char *wf_id, const char *input,
                               const cairn_start_opts_t *opts, char *errstr,
                               size_t errstr_size) {
    char rid[64];
    cairn_err_t err;
    if ((err = check_id(wf_id, errstr, errstr_size)) ||
        (err = check_json("input", input, errstr, errstr_size)))
        return err;
    if (!type || !*type)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "a workflow type is required");
    if (opts && opts->start_policy &&
        strcmp(opts->start_policy, "reject_duplicate") &&
        strcmp(opts->start_policy, "use_existing") &&
        strcmp(opts->start_policy, "terminate_existing"))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "start policy \"%s\" is not one of "
                             "reject_duplicate, use_existing, "
                             "terminate_existing",
                             opts->start_policy);
    if (!opts || !opts->request_id)
        new_request_id(rid, sizeof(rid));
    cairn_event_t ev = {0};
    ev.type = CAIRN_EV_START_WORKFLOW;
    ev.workflow_id = (char *)wf_id;
    ev.time_ms = cairn_wall_ms();
    ev.request_id = (opts && opts->request_id) ? (char *)opts->request_id : rid;
    ev.workflow_type = (char *)type;
    ev.version = opts ? opts->version : 0;
    ev.input = (char *)input;
    ev.start_policy = opts ? (char *)opts->start_policy : NULL;
    return cairn_client_send(cl, &ev, errstr, errstr_size);
}

cairn_err_t cairn_client_signal(cairn_client_t *cl, const char *wf_id,
                                const char *name, const char *payload,
                                const char *request_id, char *errstr,
                                size_t errstr_size) {
    char rid[64];
    cairn_err_t err;
    if ((err = check_id(wf_id, errstr, errstr_size)) ||
        (err = check_json("payload", payload, errstr, errstr_size)))
        return err;
    if (!name || !*name)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "a signal name is required");
    if (!request_id)
        new_request_id(rid, sizeof(rid));
    cairn_event_t ev = {0};
    ev.type = CAIRN_EV_SIGNAL_WORKFLOW;
    ev.workflow_id = (char *)wf_id;
    ev.time_ms = cairn_wall_ms();
    ev.request_id = request_id ? (char *)request_id : rid;
    ev.signal_name = (char *)name;
    ev.payload = (char *)payload;
    return cairn_client_send(cl, &ev, errstr, errstr_size);
}

cairn_err_t cairn_client_signal_with_start(
    cairn_client_t *cl, const char *type, const char *wf_id, const char *input,
    const cairn_start_opts_t *opts, const char *name, const char *payload,
    const char *signal_request_id, char *errstr, size_t errstr_size) {
    cairn_err_t err;
    if ((err = check_id(wf_id, errstr, errstr_size)) ||
        (err = check_json("payload", payload, errstr, errstr_size)))
        return err;
    if (!name || !*name)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "a signal name is required");
    if (opts && opts->start_policy &&
        strcmp(opts->start_policy, "use_existing"))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "signal-with-start always uses the start policy "
                             "use_existing, not \"%s\"",
                             opts->start_policy);
    /* The start is acknowledged before the signal is produced, and both are
     * keyed wf_id: the shard sees them in this order. */
    cairn_start_opts_t so = {opts ? opts->version : 0,
                             opts ? opts->request_id : NULL, "use_existing"};
    if ((err = cairn_client_start(cl, type, wf_id, input, &so, errstr,
                                  errstr_size)))
        return err;
    return cairn_client_signal(cl, wf_id, name, payload, signal_request_id,
                               errstr, errstr_size);
}

static cairn_err_t end_request(cairn_client_t *cl, cairn_event_type_t type,
                               const char *wf_id, const char *reason,
                               char *errstr, size_t errstr_size) {
    char rid[64];
    cairn_err_t err = check_id(wf_id, errstr, errstr_size);
    if (err)
        return err;
    new_request_id(rid, sizeof(rid));
    cairn_event_t ev = {0};
    ev.type = type;
    ev.workflow_id = (char *)wf_id;
    ev.time_ms = cairn_wall_ms();
    ev.request_id = rid;
    ev.reason = (char *)reason;
    return cairn_client_send(cl, &ev, errstr, errstr_size);
}

cairn_err_t cairn_client_cancel(cairn_client_t *cl, const char *wf_id,
                                const char *reason, char *errstr,
                                size_t errstr_size) {
    return end_request(cl, CAIRN_EV_CANCEL_WORKFLOW, wf_id, reason, errstr,
                       errstr_size);
}

cairn_err_t cairn_client_terminate(cairn_client_t *cl, const char *wf_id,
                                   const char *reason, char *errstr,
                                   size_t errstr_size) {
    return end_request(cl, CAIRN_EV_TERMINATE_WORKFLOW, wf_id, reason, errstr,
                       errstr_size);
}

/* ---- Redis -------------------------------------------------------------- */

/* Returns a connected context (call with cl->mu held) or NULL. */
static redisContext *redis(cairn_client_t *cl) {
    if (cl->rc && !cl->rc->err)
        return cl->rc;
    if (cl->rc)
        redisFree(cl->rc);
    struct timeval tv = {2, 0};
    cl->rc = redisConnectWithTimeout(cl->redis_host, cl->redis_port, tv);
    if (!cl->rc || cl->rc->err) {
        if (cl->rc)
            redisFree(cl->rc);
        cl->rc = NULL;
        return NULL;
    }
    redisSetTimeout(cl->rc, tv);
    if (cl->redis_db) {
        redisReply *r = redisCommand(cl->rc, "SELECT %d", cl->redis_db);
        if (r)
            freeReplyObject(r);
    }
    return cl->rc;
}

/* HGETALL cairn:wf:<id> into a JSON object; NULL if absent, -1 if down. */
static int index_lookup(cairn_client_t *cl, const char *wf_id, json_t **out) {
    *out = NULL;
    pthread_mutex_lock(&cl->mu);
    redisContext *rc = redis(cl);
    redisReply *r = rc ? redisCommand(rc, "HGETALL cairn:wf:%s", wf_id) : NULL;
    pthread_mutex_unlock(&cl->mu);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        json_t *o = json_object();
        json_object_set_new(o, "workflow_id", json_string(wf_id));
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
            if (!*v && (!strcmp(k, "result") || !strcmp(k, "error")))
                continue; /* written empty for a close without one */
            if (!strcmp(k, "version") || !strcmp(k, "seq") ||
                !strcmp(k, "started_ms") || !strcmp(k, "updated_ms") ||
                !strcmp(k, "partition"))
                json_object_set_new(o, k, json_integer(atoll(v)));
            else if (!strcmp(k, "result")) {
                json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
                json_object_set_new(o, k, j ? j : json_string(v));
            } else
                json_object_set_new(o, k, json_string(v));
        }
        *out = o;
    }
    freeReplyObject(r);
    return 0;
}

/* A consumer assigned to nothing yet, reading committed data only. */
static rd_kafka_t *reader(cairn_client_t *cl, char *errstr,
                          size_t errstr_size) {
    char group[300];
    snprintf(group, sizeof(group), "%sclient-reader",
             cairn_conf_str(cl->conf, "topic.prefix"));
    rd_kafka_conf_t *kc = cairn_kafka_conf_new(cl->conf, "cairn-reader",
                                               errstr, errstr_size);
    if (!kc)
        return NULL;
    if (cairn_kafka_conf_set(kc, "group.id", group, errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                             errstr_size)) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void reader_close(rd_kafka_t *rk) {
    if (!rk)
        return;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static cairn_err_t assign_at(rd_kafka_t *rk, const char *topic, int32_t p,
                             int64_t offset) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return cairn_kafka_err(err);
}

typedef int (*scan_fn)(const rd_kafka_message_t *m, void *arg);

/*
 * Reads topic[p] from `from` to its current end, calling fn for records
 * keyed wf_id (fn returns 1 to stop early).
 */
static cairn_err_t scan_partition(cairn_client_t *cl, const char *topic,
                                  int32_t p, int64_t from, const char *wf_id,
                                  scan_fn fn, void *arg, char *errstr,
                                  size_t errstr_size) {
    cairn_err_t ret = CAIRN_ERR_OK;
    int64_t lo, hi;
    rd_kafka_t *rk = reader(cl, errstr, errstr_size);
    if (!rk)
        return CAIRN_ERR_KAFKA;
    rd_kafka_resp_err_t rerr = rd_kafka_query_watermark_offsets(
        rk, topic, p, &lo, &hi, cl->timeout_ms);
    if (rerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        rerr == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        rerr == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        goto out; /* no topic yet: nothing was ever written */
    if (rerr) {
        ret = cairn__seterr(errstr, errstr_size, cairn_kafka_err(rerr),
                            "cannot read %s at %s: %s", topic, cl->bootstrap,
                            rd_kafka_err2str(rerr));
        goto out;
    }
    if (from < lo)
        from = lo;
    if (from >= hi)
        goto out;
    if ((ret = assign_at(rk, topic, p, from))) {
        cairn__seterr(errstr, errstr_size, ret, "assign %s failed", topic);
        goto out;
    }
    size_t klen = wf_id ? strlen(wf_id) : 0;
    int64_t deadline = cairn_mono_ms() + cl->timeout_ms * 3;
    for (;;) {
        if (cairn_mono_ms() > deadline) {
            ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                                "reading %s[%d] timed out", topic, p);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        int done = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            done = m->offset >= hi;
        else if (!m->err) {
            if (!wf_id || (m->key_len == klen && !memcmp(m->key, wf_id, klen)))
                done = fn(m, arg);
            done = done || m->offset + 1 >= hi;
        }
        rd_kafka_message_destroy(m);
        if (done)
            break;
    }
out:
    reader_close(rk);
    return ret;
}

static int keep_last_state(const rd_kafka_message_t *m, void *arg) {
    cairn_event_t *last = arg, ev;
    if (cairn_kafka_decode(m, &ev, NULL, 0))
        return 0;
    if (ev.type == CAIRN_EV_WORKFLOW_STATE) {
        cairn_event_clear(last);
        *last = ev;
    } else {
        cairn_event_clear(&ev);
    }
    return 0;
}

cairn_err_t cairn_client_describe(cairn_client_t *cl, const char *wf_id,
                                  char **json, char *errstr,
                                  size_t errstr_size) {
    json_t *o = NULL;
    cairn_err_t err = check_id(wf_id, errstr, errstr_size);
    *json = NULL;
    if (err)
        return err;
    if (index_lookup(cl, wf_id, &o) == 0 && o)
        goto done;
    /* Not indexed (or Redis down): the state topic has the truth. */
    if ((err = check_broker(cl, errstr, errstr_size)))
        return err;
    cairn_event_t last = {0};
    int32_t p = cairn_kafka_partition_for(wf_id, strlen(wf_id),
                                          cl->partitions);
    if ((err = scan_partition(cl, cl->t_state, p, 0, wf_id, keep_last_state,
                              &last, errstr, errstr_size)))
        return err;
    if (last.type != CAIRN_EV_WORKFLOW_STATE)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOT_FOUND,
                             "workflow \"%s\" not found", wf_id);
    o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:I, s:i}",
                  "workflow_id", wf_id, "type", last.workflow_type, "version",
                  last.version, "status", last.status, "state",
                  last.fsm_state ? last.fsm_state : "", "seq",
                  (json_int_t)last.seq, "started_ms",
                  (json_int_t)last.started_ms, "updated_ms",
                  (json_int_t)last.time_ms, "partition", p);
    cairn_event_clear(&last);
done:
    *json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *json ? CAIRN_ERR_OK
                 : cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
}

/* ---- history ------------------------------------------------------------ */

typedef struct {
    cairn_event_t *v;
    size_t n, cap;
    int64_t *want; /* sorted offsets to keep, or NULL for every record */
    size_t nwant, next;
} hist_acc_t;

static int collect(const rd_kafka_message_t *m, void *arg) {
    hist_acc_t *acc = arg;
    if (acc->want) {
        while (acc->next < acc->nwant && acc->want[acc->next] < m->offset)
            acc->next++;
        if (acc->next >= acc->nwant)
            return 1;
        if (acc->want[acc->next] != m->offset)
            return 0;
    }
    if (acc->n == acc->cap) {
        size_t ncap = acc->cap ? acc->cap * 2 : 32;
        cairn_event_t *nv = realloc(acc->v, ncap * sizeof(*nv));
        if (!nv)
            return 1;
        acc->v = nv;
        acc->cap = ncap;
    }
    if (cairn_kafka_decode(m, &acc->v[acc->n], NULL, 0) == CAIRN_ERR_OK)
        acc->n++;
    if (acc->want && ++acc->next >= acc->nwant)
        return 1;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_seq(const void *a, const void *b) {
    const cairn_event_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Offsets of wf_id's history records from the index, sorted; -1 if none. */
static int history_offsets(cairn_client_t *cl, const char *wf_id,
                           int64_t **offs, size_t *n) {
    *offs = NULL;
    *n = 0;
    pthread_mutex_lock(&cl->mu);
    redisContext *rc = redis(cl);
    redisReply *r = rc ? redisCommand(rc, "HVALS cairn:hist:%s", wf_id) : NULL;
    pthread_mutex_unlock(&cl->mu);
    if (!r)
        return -1;
    int ret = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        (*offs = malloc(r->elements * sizeof(int64_t)))) {
        for (size_t i = 0; i < r->elements; i++)
            (*offs)[i] = atoll(r->element[i]->str);
        *n = r->elements;
        qsort(*offs, *n, sizeof(int64_t), cmp_i64);
        ret = 0;
    }
    freeReplyObject(r);
    return ret;
}

/* The seq the visibility record reports for wf_id, or 0 if unknown. */
static int64_t indexed_seq(cairn_client_t *cl, const char *wf_id) {
    json_t *o = NULL;
    int64_t seq = 0;
    if (index_lookup(cl, wf_id, &o) == 0 && o)
        seq = json_integer_value(json_object_get(o, "seq"));
    json_decref(o);
    return seq;
}

cairn_err_t cairn_client_history(cairn_client_t *cl, const char *wf_id,
                                 cairn_event_t **events, size_t *count,
                                 char *errstr, size_t errstr_size) {
    hist_acc_t acc = {0};
    cairn_err_t err;
    *events = NULL;
    *count = 0;
    if ((err = check_id(wf_id, errstr, errstr_size)) ||
        (err = check_broker(cl, errstr, errstr_size)))
        return err;
    int32_t p = cairn_kafka_partition_for(wf_id, strlen(wf_id),
                                          cl->partitions);
    int64_t from = 0;
    if (history_offsets(cl, wf_id, &acc.want, &acc.nwant) == 0)
        from = acc.want[0];
    err = scan_partition(cl, cl->t_history, p, from, wf_id, collect, &acc,
                         errstr, errstr_size);
    /* The index is a hint, not the truth: if it is short of what the
     * workflow's record says (or of what was just read), read every record
     * of the workflow from the first indexed offset on. */
    if (!err && acc.want && (int64_t)acc.n < indexed_seq(cl, wf_id)) {
        cairn_events_free(acc.v, acc.n);
        free(acc.want);
        acc = (hist_acc_t){0};
        err = scan_partition(cl, cl->t_history, p, from, wf_id, collect, &acc,
                             errstr, errstr_size);
    }
    free(acc.want);
    if (err) {
        cairn_events_free(acc.v, acc.n);
        return err;
    }
    if (!acc.n) {
        free(acc.v);
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOT_FOUND,
                             "no history for workflow \"%s\"", wf_id);
    }
    /* One record per seq, in seq order. */
    qsort(acc.v, acc.n, sizeof(*acc.v), cmp_seq);
    *events = acc.v;
    *count = acc.n;
    return CAIRN_ERR_OK;
}

void cairn_events_free(cairn_event_t *events, size_t count) {
    for (size_t i = 0; i < count; i++)
        cairn_event_clear(&events[i]);
    free(events);
}

/* ---- await -------------------------------------------------------------- */

static int closed_status(const char *s) {
    return s && strcmp(s, "running") != 0;
}

cairn_err_t cairn_client_await(cairn_client_t *cl, const char *wf_id,
                               int timeout_ms, char **status, char **result,
                               char *errstr, size_t errstr_size) {
    cairn_err_t err = check_id(wf_id, errstr, errstr_size);
    redisContext *sub = NULL;
    json_t *o = NULL;
    if (status)
        *status = NULL;
    if (result)
        *result = NULL;
    if (err)
        return err;
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    struct timeval tv = {2, 0};
    /* Subscribe first, then look: a close between the two is not missed. */
    sub = redisConnectWithTimeout(cl->redis_host, cl->redis_port, tv);
    if (!sub || sub->err) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                            "cannot reach Redis at %s:%d: %s", cl->redis_host,
                            cl->redis_port, sub ? sub->errstr : "oom");
        goto out;
    }
    redisReply *r = redisCommand(sub, "SUBSCRIBE cairn:closed:%s", wf_id);
    if (!r) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                            "redis subscribe failed");
        goto out;
    }
    freeReplyObject(r);
    for (;;) {
        index_lookup(cl, wf_id, &o);
        const char *st = o ? json_string_value(json_object_get(o, "status"))
                           : NULL;
        if (closed_status(st))
            break;
        json_decref(o);
        o = NULL;
        int64_t left = deadline - cairn_mono_ms();
        if (left <= 0) {
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                                "workflow \"%s\" still running after %d ms",
                                wf_id, timeout_ms);
            goto out;
        }
        if (left > 1000)
            left = 1000; /* re-check the index at least once a second */
        struct timeval wait = {left / 1000, (left % 1000) * 1000};
        redisSetTimeout(sub, wait);
        void *reply = NULL;
        if (redisGetReply(sub, &reply) == REDIS_OK) {
            freeReplyObject(reply);
        } else if (sub->err == REDIS_ERR_IO && (errno == EAGAIN ||
                                                 errno == EWOULDBLOCK)) {
            /* timed out: hiredis marks the context unusable; reconnect */
            redisFree(sub);
            sub = redisConnectWithTimeout(cl->redis_host, cl->redis_port, tv);
            if (!sub || sub->err ||
                !(r = redisCommand(sub, "SUBSCRIBE cairn:closed:%s", wf_id))) {
                err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                                    "lost Redis at %s:%d", cl->redis_host,
                                    cl->redis_port);
                goto out;
            }
            freeReplyObject(r);
        } else {
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                                "redis: %s", sub->errstr);
            goto out;
        }
    }
    if (status)
        *status = strdup(json_string_value(json_object_get(o, "status")));
    if (result) {
        json_t *v = json_object_get(o, "result");
        if (!v)
            v = json_object_get(o, "error");
        if (v)
            *result = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    }
out:
    json_decref(o);
    if (sub)
        redisFree(sub);
    return err;
}

/* ---- definitions -------------------------------------------------------- */

/* Produces one definition record and waits for it; plock held (read). */
static cairn_err_t put_record(cairn_client_t *cl, const char *key,
                              const char *canon, char *errstr,
                              size_t errstr_size) {
    const cairn_topic_spec_t spec = {"definitions", 1, 1, 0};
    delivery_t d = {0};
    cairn_err_t err = cairn_kafka_ensure_topics(cl->producer, cl->conf, &spec,
                                                1, cl->timeout_ms, errstr,
                                                errstr_size);
    if (err)
        return err;
    rd_kafka_resp_err_t rerr = rd_kafka_producev(
        cl->producer, RD_KAFKA_V_TOPIC(cl->t_definitions),
        RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)canon, strlen(canon)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("content-type", "application/json", -1),
        RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (rerr)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                             "produce definition: %s", rd_kafka_err2str(rerr));
    if (!wait_report(cl, &d, cl->timeout_ms + 1000)) {
        rd_kafka_purge(cl->producer, RD_KAFKA_PURGE_F_QUEUE |
                                         RD_KAFKA_PURGE_F_INFLIGHT);
        while (!wait_report(cl, &d, 1000))
            ;
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                             "definition %s not acknowledged within %d ms",
                             key, cl->timeout_ms);
    }
    if (d.err)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                             "definition %s refused: %s", key,
                             rd_kafka_err2str(d.err));
    return CAIRN_ERR_OK;
}

/* Keeps a malloc'd copy of the last record value seen (NULL: tombstone). */
static int keep_last_value(const rd_kafka_message_t *m, void *arg) {
    char **last = arg;
    free(*last);
    *last = m->payload ? strndup(m->payload, m->len) : NULL;
    return 0;
}

cairn_err_t cairn_client_put_definition(cairn_client_t *cl, const char *json,
                                        size_t len, char **type_at_version,
                                        char *errstr, size_t errstr_size) {
    char key[512];
    cairn_err_t err;
    if (type_at_version)
        *type_at_version = NULL;
    cairn_def_t *def = cairn_def_from_json(json, len, errstr, errstr_size);
    if (!def)
        return CAIRN_ERR_DEFINITION;
    snprintf(key, sizeof(key), "%s@%d", cairn_def_type(def),
             cairn_def_version(def));
    char *canon = cairn_def_to_json(def);
    cairn_def_destroy(def);
    if (!canon)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
    if ((err = check_broker(cl, errstr, errstr_size)))
        goto out;
    /* Versions are immutable: refuse a different body for a published
     * type@version (an equal body is a harmless re-publish). A topic that
     * does not exist yet has nothing published. */
    char *prev = NULL;
    if (scan_partition(cl, cl->t_definitions, 0, 0, key, keep_last_value,
                       &prev, NULL, 0) == CAIRN_ERR_OK &&
        prev && strcmp(prev, canon)) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_DEFINITION,
                            "%s is already published with a different body; "
                            "published versions are immutable: give the "
                            "changed definition a new version",
                            key);
        free(prev);
        goto out;
    }
    free(prev);
    pthread_rwlock_rdlock(&cl->plock);
    err = put_record(cl, key, canon, errstr, errstr_size);
    pthread_rwlock_unlock(&cl->plock);
    if (!err && type_at_version)
        *type_at_version = strdup(key);
out:
    free(canon);
    return err;
}

/* Calls fn for every record of the definitions topic, oldest first. */
static cairn_err_t read_definitions(cairn_client_t *cl, scan_fn fn, void *arg,
                                    char *errstr, size_t errstr_size) {
    cairn_err_t err = check_broker(cl, errstr, errstr_size);
    if (err)
        return err;
    return scan_partition(cl, cl->t_definitions, 0, 0, NULL, fn, arg, errstr,
                          errstr_size);
}

static int collect_defs(const rd_kafka_message_t *m, void *arg) {
    json_t *seen = arg;
    if (m->key && m->payload) {
        char key[512];
        snprintf(key, sizeof(key), "%.*s", (int)m->key_len,
                 (const char *)m->key);
        json_object_set_new(seen, key, json_true());
    }
    return 0;
}

cairn_err_t cairn_client_list_definitions(cairn_client_t *cl, char **json,
                                          char *errstr, size_t errstr_size) {
    *json = NULL;
    json_t *seen = json_object();
    if (!seen)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
    cairn_err_t err = read_definitions(cl, collect_defs, seen, errstr,
                                       errstr_size);
    if (err)
        goto out;
    json_t *arr = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(seen, key, v) {
        const char *at = strrchr(key, '@');
        if (!at)
            continue;
        json_array_append_new(
            arr, json_pack("{s:s%, s:i}", "type", key, (size_t)(at - key),
                           "version", atoi(at + 1)));
    }
    *json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!*json)
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
out:
    json_decref(seen);
    return err;
}

/* ---- list (visibility) -------------------------------------------------- */

static const char *const statuses[] = {"running",   "completed",
                                       "failed",    "canceled",
                                       "terminated", "continued_as_new"};
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

static int known_status(const char *s) {
    for (size_t i = 0; i < NSTATUSES; i++)
        if (!strcmp(s, statuses[i]))
            return 1;
    return 0;
}

/* Drops a context that failed mid-pipeline (call with cl->mu held). */
static cairn_err_t redis_fail(cairn_client_t *cl, char *errstr,
                              size_t errstr_size) {
    cairn_err_t err = cairn__seterr(
        errstr, errstr_size, CAIRN_ERR_REDIS,
        "cannot reach Redis at %s:%d (%s); is it running? Set redis.url "
        "(--redis-url, CAIRN_REDIS_URL)",
        cl->redis_host, cl->redis_port,
        cl->rc && cl->rc->errstr[0] ? cl->rc->errstr : "connection refused");
    if (cl->rc)
        redisFree(cl->rc);
    cl->rc = NULL;
    return err;
}

typedef struct {
    const char *status, *type; /* filters checked on the record; NULL = any */
    char min[32];              /* ZREVRANGEBYSCORE lower bound */
    size_t limit;
    json_t *rows; /* appended to */
} list_q_t;

/*
 * Walks the zset `key` newest first from the since-bound, keeping ids whose
 * current record (HMGET cairn:wf:<id>) still matches: the sets may be stale
 * (a status changed while Redis was away), the record is authoritative.
 * Appends at most q->limit rows. Call with cl->mu held.
 */
static cairn_err_t list_set(cairn_client_t *cl, redisContext *rc,
                            const char *key, list_q_t *q, char *errstr,
                            size_t errstr_size) {
    size_t page = q->limit * 2 < 50 ? 50 : q->limit * 2 > 1000 ? 1000
                                                               : q->limit * 2;
    size_t found = 0;
    long long offset = 0;
    for (;;) {
        redisReply *r = redisCommand(
            rc, "ZREVRANGEBYSCORE %s +inf %s LIMIT %lld %lld", key, q->min,
            offset, (long long)page);
        if (!r)
            return redis_fail(cl, errstr, errstr_size);
        if (r->type != REDIS_REPLY_ARRAY) {
            cairn_err_t err = cairn__seterr(
                errstr, errstr_size, CAIRN_ERR_REDIS, "ZREVRANGEBYSCORE %s: %s",
                key, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return err;
        }
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++)
            if (redisAppendCommand(rc,
                                   "HMGET cairn:wf:%s type status state "
                                   "started_ms updated_ms",
                                   r->element[i]->str) != REDIS_OK) {
                freeReplyObject(r);
                return redis_fail(cl, errstr, errstr_size);
            }
        for (size_t i = 0; i < n; i++) {
            redisReply *h = NULL;
            if (redisGetReply(rc, (void **)&h) != REDIS_OK) {
                freeReplyObject(r);
                return redis_fail(cl, errstr, errstr_size);
            }
            /* Read every reply of the pipeline even once the page is full. */
            if (found < q->limit && h->type == REDIS_REPLY_ARRAY &&
                h->elements == 5 && h->element[0]->type == REDIS_REPLY_STRING &&
                h->element[1]->type == REDIS_REPLY_STRING &&
                (!q->type || !strcmp(h->element[0]->str, q->type)) &&
                (!q->status || !strcmp(h->element[1]->str, q->status))) {
                json_t *row = json_object();
                json_object_set_new(row, "workflow_id",
                                    json_string(r->element[i]->str));
                json_object_set_new(row, "type",
                                    json_string(h->element[0]->str));
                json_object_set_new(row, "status",
                                    json_string(h->element[1]->str));
                json_object_set_new(
                    row, "state",
                    json_string(h->element[2]->str ? h->element[2]->str : ""));
                json_object_set_new(
                    row, "started_ms",
                    json_integer(h->element[3]->str
                                     ? atoll(h->element[3]->str)
                                     : 0));
                json_object_set_new(
                    row, "updated_ms",
                    json_integer(h->element[4]->str
                                     ? atoll(h->element[4]->str)
                                     : 0));
                json_array_append_new(q->rows, row);
                found++;
            }
            freeReplyObject(h);
        }
        freeReplyObject(r);
        if (found >= q->limit || n < page)
            return CAIRN_ERR_OK;
        offset += (long long)n;
    }
}

/* ZCOUNT key [min, +inf], or -1 on a Redis failure. */
static long long zcount(redisContext *rc, const char *key, const char *min) {
    redisReply *r = redisCommand(rc, "ZCOUNT %s %s +inf", key, min);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Newest first; ties by workflow id so the order is stable. */
static int cmp_rows(const void *a, const void *b) {
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t sx = json_integer_value(json_object_get(x, "started_ms"));
    json_int_t sy = json_integer_value(json_object_get(y, "started_ms"));
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "workflow_id")),
                  json_string_value(json_object_get(y, "workflow_id")));
}

cairn_err_t cairn_client_list(cairn_client_t *cl,
                              const cairn_list_opts_t *opts, char **json,
                              char *errstr, size_t errstr_size) {
    cairn_err_t err = CAIRN_ERR_OK;
    char skey[600], tkey[600];
    list_q_t q = {0};
    *json = NULL;
    q.status = opts && opts->status && *opts->status ? opts->status : NULL;
    q.type = opts && opts->type && *opts->type ? opts->type : NULL;
    q.limit = opts && opts->limit ? opts->limit : 100;
    if (q.status && !known_status(q.status))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "status \"%s\" is not one of running, completed, "
                             "failed, canceled, terminated, continued_as_new",
                             q.status);
    if (q.type && strlen(q.type) > 512)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "workflow type longer than 512 bytes");
    if (opts && opts->since_ms > 0)
        snprintf(q.min, sizeof(q.min), "%lld", (long long)opts->since_ms);
    else
        snprintf(q.min, sizeof(q.min), "-inf");
    if (!(q.rows = json_array()))
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
    snprintf(skey, sizeof(skey), "cairn:idx:status:%s",
             q.status ? q.status : "");
    snprintf(tkey, sizeof(tkey), "cairn:idx:type:%s", q.type ? q.type : "");

    pthread_mutex_lock(&cl->mu);
    redisContext *rc = redis(cl);
    if (!rc) {
        err = redis_fail(cl, errstr, errstr_size);
    } else if (q.status && q.type) {
        /* Walk the smaller set; the record check is the intersection. */
        long long ns = zcount(rc, skey, q.min), nt = zcount(rc, tkey, q.min);
        if (ns < 0 || nt < 0)
            err = redis_fail(cl, errstr, errstr_size);
        else
            err = list_set(cl, rc, ns <= nt ? skey : tkey, &q, errstr,
                           errstr_size);
    } else if (q.status || q.type) {
        err = list_set(cl, rc, q.status ? skey : tkey, &q, errstr,
                       errstr_size);
    } else {
        /* Every workflow is in exactly one status set (checked against its
         * record); the newest `limit` overall are among each set's newest. */
        for (size_t i = 0; i < NSTATUSES && !err; i++) {
            snprintf(skey, sizeof(skey), "cairn:idx:status:%s", statuses[i]);
            q.status = statuses[i];
            err = list_set(cl, rc, skey, &q, errstr, errstr_size);
        }
    }
    pthread_mutex_unlock(&cl->mu);
    if (err)
        goto out;
    size_t n = json_array_size(q.rows);
    json_t **v = n ? malloc(n * sizeof(*v)) : NULL;
    if (n && !v) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(q.rows, i));
    qsort(v, n, sizeof(*v), cmp_rows);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++) {
        if (i < q.limit)
            json_array_append(sorted, v[i]);
        json_decref(v[i]);
    }
    free(v);
    *json = json_dumps(sorted, JSON_COMPACT);
    json_decref(sorted);
    if (!*json)
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
out:
    json_decref(q.rows);
    return err;
}

/* ---- replay ------------------------------------------------------------- */

typedef struct {
    cairn_registry_t *reg;
    int bad; /* definitions that did not validate (foreign producers) */
} defs_acc_t;

static int load_def(const rd_kafka_message_t *m, void *arg) {
    defs_acc_t *acc = arg;
    if (!m->payload)
        return 0;
    cairn_def_t *def = cairn_def_from_json(m->payload, m->len, NULL, 0);
    if (!def || cairn_registry_put(acc->reg, def, NULL, 0)) {
        cairn_def_destroy(def);
        acc->bad++;
    }
    return 0;
}

/*
 * A registry holding `definition` (JSON) once for every type@version the
 * history ran, so that a replay uses it in place of the published one.
 */
static cairn_err_t override_registry(cairn_registry_t *reg,
                                     const char *definition,
                                     const cairn_event_t *evs, size_t n,
                                     char *errstr, size_t errstr_size) {
    char sub[512];
    json_error_t je;
    cairn_err_t err = CAIRN_ERR_OK;
    json_t *doc = json_loads(definition, 0, &je);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DEFINITION,
                             "the definition is not a JSON object: %s",
                             doc ? "wrong type" : je.text);
    }
    const char *type = json_string_value(json_object_get(doc, "type"));
    int used = 0;
    for (size_t i = 0; i < n && !err; i++) {
        const cairn_event_t *ev = &evs[i];
        if (ev->type != CAIRN_EV_WORKFLOW_STARTED || !type ||
            strcmp(ev->workflow_type, type) ||
            cairn_registry_get(reg, type, ev->version))
            continue;
        json_object_set_new(doc, "version", json_integer(ev->version));
        char *text = json_dumps(doc, JSON_COMPACT);
        cairn_def_t *def = text ? cairn_def_from_json(text, strlen(text), sub,
                                                      sizeof(sub))
                                : NULL;
        free(text);
        if (!def)
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_DEFINITION,
                                "invalid definition: %s", sub);
        else if ((err = cairn_registry_put(reg, def, sub, sizeof(sub)))) {
            cairn_def_destroy(def);
            cairn__seterr(errstr, errstr_size, err, "%s", sub);
        }
        used++;
    }
    if (!err && !used)
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                            "the definition's type \"%s\" is not a type this "
                            "workflow ran",
                            type ? type : "(none)");
    json_decref(doc);
    return err;
}

cairn_err_t cairn_client_replay(cairn_client_t *cl, const char *wf_id,
                                const char *definition,
                                cairn_replay_result_t *res, char *errstr,
                                size_t errstr_size) {
    cairn_event_t *evs = NULL;
    size_t n = 0;
    defs_acc_t acc = {0};
    memset(res, 0, sizeof(*res));
    cairn_err_t err = cairn_client_history(cl, wf_id, &evs, &n, errstr,
                                           errstr_size);
    if (err)
        return err;
    if (!(acc.reg = cairn_registry_new())) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
        goto out;
    }
    /* The override first: a published body for the same type@version is
     * then refused by the registry (versions are immutable) and skipped. */
    if ((definition && (err = override_registry(acc.reg, definition, evs, n,
                                                errstr, errstr_size))) ||
        (err = read_definitions(cl, load_def, &acc, errstr, errstr_size)))
        goto out;
    /* Every type@version the history ran must be known. */
    for (size_t i = 0; i < n; i++) {
        if (evs[i].type == CAIRN_EV_WORKFLOW_STARTED &&
            !cairn_registry_get(acc.reg, evs[i].workflow_type,
                                evs[i].version)) {
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOT_FOUND,
                                "definition %s@%d, which workflow \"%s\" ran, "
                                "is not published",
                                evs[i].workflow_type, (int)evs[i].version,
                                wf_id);
            goto out;
        }
    }
    cairn_limits_t lim = {0};
    lim.max_payload_bytes = (size_t)cairn_conf_int(cl->conf,
                                                   "payload.max.bytes");
    lim.max_history_events = (size_t)cairn_conf_int(cl->conf,
                                                    "history.max.events");
    res->events = n;
    err = cairn_engine_replay(acc.reg, &lim, evs, n, NULL, &res->diverged_seq,
                              res->detail, sizeof(res->detail));
    if (err)
        cairn__seterr(errstr, errstr_size, err, "replay failed: %s",
                      res->detail);
    else if (!res->diverged_seq)
        res->detail[0] = '\0';
out:
    cairn_registry_destroy(acc.reg);
    cairn_events_free(evs, n);
    return err;
}
