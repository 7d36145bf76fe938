/*
 * restore.c — read a shard's state partition, then its recent inputs.
 *
 * The end of the state partition is the high watermark read after fencing.
 * Under read_committed the last offsets may be transaction markers that are
 * never delivered, so "done" is decided by the partition-EOF event (which
 * librdkafka raises at the last stable offset, past control records), not
 * by the last message alone.
 */
#include "restore.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "kafka.h"
#include "log.h"

struct cairn_reader_s {
    rd_kafka_t *rk;
    int (*cancel)(void *arg);
    void *cancel_arg;
};

void cairn_reader_set_cancel(cairn_reader_t *r, int (*cancel)(void *arg),
                             void *arg) {
    r->cancel = cancel;
    r->cancel_arg = arg;
}

cairn_reader_t *cairn_reader_new(const cairn_conf_t *conf, int partition,
                                 char *errstr, size_t errstr_size) {
    char group[300], cid[64];
    snprintf(group, sizeof(group), "%srestore",
             cairn_conf_str(conf, "topic.prefix"));
    snprintf(cid, sizeof(cid), "cairnd-restore-%d", partition);
    rd_kafka_conf_t *kc = cairn_kafka_conf_new(conf, cid, errstr, errstr_size);
    if (!kc)
        return NULL;
    if (cairn_kafka_conf_set(kc, "group.id", group, errstr, errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "fetch.wait.max.ms", "50", errstr,
                             errstr_size) ||
        /* An offset out of range is an error, never a silent jump: inputs
         * between the checkpoint and the log start would be missing. */
        cairn_kafka_conf_set(kc, "auto.offset.reset", "error", errstr,
                             errstr_size)) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    cairn_reader_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                     errstr_size))) {
        if (!r)
            snprintf(errstr, errstr_size, "out of memory");
        rd_kafka_conf_destroy(kc);
        free(r);
        return NULL;
    }
    rd_kafka_poll_set_consumer(r->rk);
    return r;
}

void cairn_reader_destroy(cairn_reader_t *r) {
    if (!r)
        return;
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    free(r);
}

cairn_err_t cairn_restore_range(cairn_reader_t *r, const char *topic,
                                int partition, int64_t from, int64_t to,
                                void (*fn)(rd_kafka_message_t *m, void *arg),
                                void *arg, long *records, int64_t deadline_ms,
                                char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = from;
    rd_kafka_resp_err_t rerr = rd_kafka_assign(r->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (rerr)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                             "restore: assign %s[%d]: %s", topic, partition,
                             rd_kafka_err2str(rerr));
    cairn_err_t ret = CAIRN_ERR_OK;
    for (;;) {
        if (r->cancel && r->cancel(r->cancel_arg)) {
            ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                                "restore %s[%d] cancelled", topic, partition);
            break;
        }
        if (cairn_mono_ms() > deadline_ms) {
            ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                                "restore %s[%d] did not reach offset %lld "
                                "in time",
                                topic, partition, (long long)to);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (!m)
            continue;
        int done = 0;
        /* Records of an earlier assignment may still be queued. */
        if (!m->rkt || m->partition != partition ||
            strcmp(rd_kafka_topic_name(m->rkt), topic))
            done = 0;
        else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            done = m->offset >= to;
        else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                 m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
            ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                                "restore %s[%d] from offset %lld: %s", topic,
                                partition, (long long)from,
                                rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            break;
        } else if (m->err)
            cairn_log(CAIRN_LOG_WARN, partition, NULL, "restore: %s",
                      rd_kafka_message_errstr(m));
        else if (m->offset < to) {
            fn(m, arg);
            (*records)++;
            done = m->offset + 1 >= to;
        } else {
            done = 1;
        }
        rd_kafka_message_destroy(m);
        if (done)
            break;
    }
    rd_kafka_assign(r->rk, NULL);
    return ret;
}

typedef struct {
    cairn_wfmap_t *map, *closed, *asof;
    int oom;
} loading_t;

int64_t cairn_offset_parse(const void *bytes, size_t n) {
    char buf[32], *end;
    if (!bytes || !n || n >= sizeof(buf))
        return -1;
    memcpy(buf, bytes, n);
    buf[n] = '\0';
    long long v = strtoll(buf, &end, 10);
    return *end || v < 0 ? -1 : v;
}

/* The cairn.asof header of a state record or tombstone, or -1. */
static int64_t asof_of(rd_kafka_message_t *m) {
    rd_kafka_headers_t *h;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) ||
        rd_kafka_header_get_last(h, CAIRN_HDR_ASOF, &v, &n))
        return -1;
    return cairn_offset_parse(v, n);
}

/* Records the asof of the record just applied for id (none: forget it). */
static void note_asof(loading_t *ld, rd_kafka_message_t *m, const char *id) {
    int64_t a = asof_of(m);
    if (a < 0)
        cairn_wfmap_del(ld->asof, id);
    else if (cairn_wfmap_put(ld->asof, id, (cairn_wf_t *)(uintptr_t)(a + 1)))
        ld->oom = 1;
}

static void apply_state(rd_kafka_message_t *m, void *arg) {
    loading_t *ld = arg;
    int partition = m->partition;
    char errstr[512], id[1024];
    cairn_event_t ev;
    if (!m->payload) { /* tombstone: the workflow was evicted */
        if (m->key && m->key_len < sizeof(id)) {
            memcpy(id, m->key, m->key_len);
            id[m->key_len] = '\0';
            cairn_wfmap_del(ld->map, id);
            cairn_wfmap_del(ld->closed, id);
            note_asof(ld, m, id);
        }
        return;
    }
    /* cairn_wf_decode() parses and checks the snapshot: parse it once. */
    if (cairn_kafka_decode_flags(m, CAIRN_CODEC_JSON_UNCHECKED, &ev, errstr,
                                 sizeof(errstr))) {
        cairn_log(CAIRN_LOG_ERROR, partition, NULL,
                  "state offset %lld skipped: %s", (long long)m->offset,
                  errstr);
        return;
    }
    cairn_wf_t *wf = NULL;
    if (ev.type != CAIRN_EV_WORKFLOW_STATE || !ev.data ||
        !(wf = cairn_wf_decode(ev.data, strlen(ev.data), errstr,
                               sizeof(errstr)))) {
        cairn_log(CAIRN_LOG_ERROR, partition, ev.workflow_id,
                  "state offset %lld skipped: %s", (long long)m->offset,
                  ev.type != CAIRN_EV_WORKFLOW_STATE ? "not a WorkflowState"
                                                     : errstr);
    } else if (cairn_wf_status(wf) != CAIRN_WF_RUNNING) {
        /* Closed: kept at rest, as the bytes just checked. */
        cairn_frozen_t *f = cairn_frozen_new(ev.data, strlen(ev.data),
                                             cairn_wf_updated_ms(wf));
        cairn_wf_destroy(wf);
        if (!f || cairn_wfmap_put_frozen(ld->closed, ev.workflow_id, f)) {
            free(f);
            ld->oom = 1;
        } else {
            cairn_wfmap_del(ld->map, ev.workflow_id);
            note_asof(ld, m, ev.workflow_id);
        }
    } else if (cairn_wfmap_put(ld->map, ev.workflow_id, wf)) {
        cairn_wf_destroy(wf);
        ld->oom = 1;
    } else {
        cairn_wfmap_del(ld->closed, ev.workflow_id);
        note_asof(ld, m, ev.workflow_id);
    }
    cairn_event_clear(&ev);
}

cairn_err_t cairn_restore_state(cairn_reader_t *r, const char *topic,
                                int partition, cairn_wfmap_t *map,
                                cairn_wfmap_t *closed, cairn_wfmap_t *asof,
                                long *records,
                                int64_t deadline_ms, char *errstr,
                                size_t errstr_size) {
    loading_t ld = {map, closed, asof, 0};
    int64_t lo = 0, hi = 0;
    int64_t left = deadline_ms - cairn_mono_ms();
    *records = 0;
    rd_kafka_resp_err_t rerr = rd_kafka_query_watermark_offsets(
        r->rk, topic, partition, &lo, &hi, left > 0 ? (int)left : 1);
    if (rerr)
        return cairn__seterr(errstr, errstr_size, cairn_kafka_err(rerr),
                             "restore %s[%d]: watermarks: %s", topic,
                             partition, rd_kafka_err2str(rerr));
    if (hi <= lo)
        return CAIRN_ERR_OK; /* empty */
    cairn_err_t err = cairn_restore_range(r, topic, partition,
                                          RD_KAFKA_OFFSET_BEGINNING, hi,
                                          apply_state, &ld, records,
                                          deadline_ms, errstr, errstr_size);
    if (!err && ld.oom)
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "restore %s[%d]: out of memory", topic,
                            partition);
    return err;
}
