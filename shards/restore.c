/*
 * restore.c — read one state partition to its end.
 *
 * The end is the high watermark read after fencing. Under read_committed
 * the last offsets may be transaction markers that are never delivered, so
 * "done" is decided by the partition-EOF event (which librdkafka raises at
 * the last stable offset, past control records), not by the last message.
 */
#include "restore.h"
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"

static void apply(const rd_kafka_message_t *m, cairn_wfmap_t *map,
                  int partition) {
    char errstr[512], id[1024];
    cairn_event_t ev;
    if (!m->payload) { /* tombstone: the workflow was evicted */
        if (m->key && m->key_len < sizeof(id)) {
            memcpy(id, m->key, m->key_len);
            id[m->key_len] = '\0';
            cairn_wfmap_del(map, id);
        }
        return;
    }
    if (cairn_kafka_decode(m, &ev, errstr, sizeof(errstr))) {
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
    } else if (cairn_wfmap_put(map, ev.workflow_id, wf)) {
        cairn_wf_destroy(wf);
        cairn_log(CAIRN_LOG_ERROR, partition, ev.workflow_id,
                  "out of memory restoring state");
    }
    cairn_event_clear(&ev);
}

cairn_err_t cairn_restore_shard(const cairn_conf_t *conf, const char *topic,
                                int partition, cairn_wfmap_t *map,
                                long *records, int timeout_ms, char *errstr,
                                size_t errstr_size) {
    cairn_err_t ret = CAIRN_ERR_OK;
    rd_kafka_t *rk = NULL;
    char group[300], cid[64];
    int64_t lo = 0, hi = 0;
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    *records = 0;

    snprintf(group, sizeof(group), "%srestore",
             cairn_conf_str(conf, "topic.prefix"));
    snprintf(cid, sizeof(cid), "cairnd-restore-%d", partition);
    rd_kafka_conf_t *kc = cairn_kafka_conf_new(conf, cid, errstr, errstr_size);
    if (!kc || cairn_kafka_conf_set(kc, "group.id", group, errstr,
                                    errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "fetch.wait.max.ms", "50", errstr,
                             errstr_size)) {
        ret = CAIRN_ERR_CONFIG;
        goto out;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size))) {
        ret = CAIRN_ERR_KAFKA;
        goto out;
    }
    kc = NULL;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_resp_err_t rerr = rd_kafka_query_watermark_offsets(
        rk, topic, partition, &lo, &hi, timeout_ms);
    if (rerr) {
        ret = cairn__seterr(errstr, errstr_size, cairn_kafka_err(rerr),
                            "restore %s[%d]: watermarks: %s", topic, partition,
                            rd_kafka_err2str(rerr));
        goto out;
    }
    if (hi <= lo)
        goto out; /* empty */
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rerr = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (rerr) {
        ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                            "restore: assign: %s", rd_kafka_err2str(rerr));
        goto out;
    }
    for (;;) {
        if (cairn_mono_ms() > deadline) {
            ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                                "restore %s[%d] did not reach offset %lld "
                                "within %d ms",
                                topic, partition, (long long)hi, timeout_ms);
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int done = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            done = m->offset >= hi;
        else if (m->err)
            cairn_log(CAIRN_LOG_WARN, partition, NULL, "restore: %s",
                      rd_kafka_message_errstr(m));
        else {
            apply(m, map, partition);
            (*records)++;
            done = m->offset + 1 >= hi;
        }
        rd_kafka_message_destroy(m);
        if (done)
            break;
    }
out:
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return ret;
}
