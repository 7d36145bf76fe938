/*
 * kafka.c — librdkafka adapter: client configuration, topic creation, event
 * records. Nothing here keeps state between calls.
 */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

cairn_err_t cairn_kafka_err(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return CAIRN_ERR_OK;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return CAIRN_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
        return CAIRN_ERR_FENCED;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return CAIRN_ERR_INVALID_ARG;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return CAIRN_ERR_LIMIT;
    default:
        return CAIRN_ERR_KAFKA;
    }
}

cairn_err_t cairn_kafka_conf_set(rd_kafka_conf_t *kc, const char *name,
                                 const char *value, char *errstr,
                                 size_t errstr_size) {
    char why[512];
    if (rd_kafka_conf_set(kc, name, value, why, sizeof(why)) !=
        RD_KAFKA_CONF_OK)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                             "%s=%s: %s", name, value, why);
    return CAIRN_ERR_OK;
}

/* librdkafka's own logs, as structured lines. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
    cairn_log_level_t l = level <= 3   ? CAIRN_LOG_ERROR
                          : level <= 4 ? CAIRN_LOG_WARN
                          : level <= 6 ? CAIRN_LOG_INFO
                                       : CAIRN_LOG_DEBUG;
    if (cairn_log_enabled(l))
        cairn_log(l, -1, NULL, "kafka %s %s: %s", rk ? rd_kafka_name(rk) : "",
                  fac, buf);
}

rd_kafka_conf_t *cairn_kafka_producer_conf_new(const cairn_conf_t *conf,
                                               const char *client_id,
                                               char *errstr,
                                               size_t errstr_size) {
    rd_kafka_conf_t *kc = cairn_kafka_conf_new(conf, client_id, errstr,
                                               errstr_size);
    if (kc && cairn_kafka_conf_set(kc, "partitioner", "murmur2_random", errstr,
                                   errstr_size)) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    return kc;
}

rd_kafka_topic_conf_t *cairn_kafka_topic_conf_compression(const char *codec,
                                                          char *errstr,
                                                          size_t errstr_size) {
    rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
    if (rd_kafka_topic_conf_set(tc, "compression.codec", codec, errstr,
                                errstr_size) != RD_KAFKA_CONF_OK) {
        rd_kafka_topic_conf_destroy(tc);
        return NULL;
    }
    return tc;
}

rd_kafka_conf_t *cairn_kafka_conf_new(const cairn_conf_t *conf,
                                      const char *client_id, char *errstr,
                                      size_t errstr_size) {
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (cairn_kafka_conf_set(kc, "bootstrap.servers",
                             cairn_conf_str(conf, "bootstrap.servers"), errstr,
                             errstr_size) ||
        cairn_kafka_conf_set(kc, "client.id", client_id, errstr,
                             errstr_size))
        goto err;
    rd_kafka_conf_set_log_cb(kc, log_cb);
    for (size_t i = 0; i < cairn_conf_kafka_count(conf); i++) {
        const char *name, *value;
        cairn_conf_kafka_at(conf, i, &name, &value);
        if (cairn_kafka_conf_set(kc, name, value, errstr, errstr_size))
            goto err;
    }
    return kc;
err:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

int cairn_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                                int timeout_ms, char *errstr,
                                size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    int n = -1;
    rd_kafka_topic_destroy(rkt);
    if (err) {
        cairn__seterr(errstr, errstr_size, cairn_kafka_err(err),
                      "metadata for %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    if (md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    else
        cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOT_FOUND,
                      "topic %s: %s", topic,
                      md->topic_cnt ? rd_kafka_err2str(md->topics[0].err)
                                    : "not found");
    rd_kafka_metadata_destroy(md);
    return n;
}

cairn_err_t cairn_kafka_ensure_topics(rd_kafka_t *rk, const cairn_conf_t *conf,
                                      const cairn_topic_spec_t *specs,
                                      size_t nspecs, int timeout_ms,
                                      char *errstr, size_t errstr_size) {
    cairn_err_t ret = CAIRN_ERR_OK;
    rd_kafka_NewTopic_t **nts = calloc(nspecs ? nspecs : 1, sizeof(*nts));
    size_t nnew = 0;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    char name[512], why[512];
    int want_default = (int)cairn_conf_int(conf, "partitions");
    int rf = (int)cairn_conf_int(conf, "replication.factor");

    if (!nts)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM, "oom");
    for (size_t i = 0; i < nspecs; i++) {
        int want = specs[i].partitions > 0 ? specs[i].partitions : want_default;
        cairn_conf_topic(conf, specs[i].suffix, name, sizeof(name));
        int have = cairn_kafka_partition_count(rk, name, timeout_ms, why,
                                               sizeof(why));
        if (have > 0) {
            if (specs[i].check_partitions && have != want) {
                ret = cairn__seterr(
                    errstr, errstr_size, CAIRN_ERR_CONFIG,
                    "topic %s has %d partitions but partitions=%d is "
                    "configured; the partition count is fixed when a Cairn "
                    "cluster is created (a workflow's shard is "
                    "murmur2(id) %% partitions): set partitions=%d, or use a "
                    "new topic.prefix for a new cluster",
                    name, have, want, have);
                goto out;
            }
            continue;
        }
        nts[nnew] = rd_kafka_NewTopic_new(name, want, rf, why, sizeof(why));
        if (!nts[nnew]) {
            ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                                "topic %s: %s", name, why);
            goto out;
        }
        if (specs[i].compacted) {
            /* Compaction only cleans closed segments: roll them often
             * enough that a restore reads about one record per workflow. */
            rd_kafka_NewTopic_set_config(nts[nnew], "cleanup.policy",
                                         "compact");
            rd_kafka_NewTopic_set_config(nts[nnew], "segment.ms", "600000");
            rd_kafka_NewTopic_set_config(nts[nnew], "segment.bytes",
                                         "67108864");
        }
        if (!strcmp(specs[i].suffix, "history")) /* the audit log: kept */
            rd_kafka_NewTopic_set_config(nts[nnew], "retention.ms", "-1");
        nnew++;
    }
    if (!nnew)
        goto out;

    q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why,
                                                sizeof(why));
    rd_kafka_CreateTopics(rk, nts, nnew, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_TIMEOUT,
                            "creating topics timed out after %d ms; is Kafka "
                            "reachable at %s?",
                            timeout_ms,
                            cairn_conf_str(conf, "bootstrap.servers"));
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_KAFKA,
                            "creating topics: %s",
                            rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
        rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        /* A concurrent creator (another node) is fine. */
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            ret = cairn__seterr(errstr, errstr_size, cairn_kafka_err(e),
                                "creating topic %s: %s",
                                rd_kafka_topic_result_name(res[i]),
                                rd_kafka_topic_result_error_string(res[i]));
            goto out;
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < nnew; i++)
        rd_kafka_NewTopic_destroy(nts[i]);
    free(nts);
    return ret;
}

cairn_err_t cairn_kafka_produce_event(rd_kafka_t *rk, const char *topic,
                                      int32_t partition,
                                      const cairn_event_t *ev,
                                      const rd_kafka_headers_t *extra_hdrs,
                                      void *opaque, char *errstr,
                                      size_t errstr_size) {
    return cairn_kafka_produce_event_flags(rk, topic, partition, ev, 0,
                                           extra_hdrs, opaque, errstr,
                                           errstr_size);
}

cairn_err_t cairn_kafka_produce_event_flags(
    rd_kafka_t *rk, const char *topic, int32_t partition,
    const cairn_event_t *ev, int codec_flags,
    const rd_kafka_headers_t *extra_hdrs, void *opaque, char *errstr,
    size_t errstr_size) {
    void *buf = NULL;
    size_t len = 0;
    cairn_err_t err = cairn_codec_encode_flags(ev, codec_flags, &buf, &len,
                                               errstr, errstr_size);
    if (err)
        return err;
    rd_kafka_headers_t *hdrs =
        extra_hdrs ? rd_kafka_headers_copy(extra_hdrs) : rd_kafka_headers_new(2);
    const char *tname = cairn_event_type_name(ev->type);
    rd_kafka_header_add(hdrs, CAIRN_HDR_TYPE, -1, tname, -1);
    rd_kafka_header_add(hdrs, CAIRN_HDR_FINGERPRINT, -1,
                        cairn_codec_fingerprint(ev->type), -1);
    const char *key = ev->workflow_id ? ev->workflow_id : "";
    rd_kafka_resp_err_t rerr = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(buf, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (rerr) {
        /* On failure neither the payload nor the headers were taken. */
        free(buf);
        rd_kafka_headers_destroy(hdrs);
        return cairn__seterr(errstr, errstr_size, cairn_kafka_err(rerr),
                             "produce %s to %s: %s", tname, topic,
                             rd_kafka_err2str(rerr));
    }
    return CAIRN_ERR_OK;
}

cairn_err_t cairn_kafka_decode(const rd_kafka_message_t *msg,
                               cairn_event_t *out, char *errstr,
                               size_t errstr_size) {
    return cairn_kafka_decode_flags(msg, 0, out, errstr, errstr_size);
}

cairn_err_t cairn_kafka_decode_flags(const rd_kafka_message_t *msg,
                                     int codec_flags, cairn_event_t *out,
                                     char *errstr, size_t errstr_size) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t sz;
    char type[64] = "", fp[32] = "";
    int have_fp = 0;
    memset(out, 0, sizeof(*out));
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (!rd_kafka_header_get_last(hdrs, CAIRN_HDR_TYPE, &val, &sz) && val &&
            sz < sizeof(type)) {
            memcpy(type, val, sz);
            type[sz] = '\0';
        }
        if (!rd_kafka_header_get_last(hdrs, CAIRN_HDR_FINGERPRINT, &val, &sz) &&
            val && sz < sizeof(fp)) {
            memcpy(fp, val, sz);
            fp[sz] = '\0';
            have_fp = 1;
        }
    }
    if (!type[0])
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_UNKNOWN_EVENT,
                             "record has no %s header", CAIRN_HDR_TYPE);
    if (!msg->payload)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                             "record has no value");
    cairn_err_t err = cairn_codec_decode_flags(type, have_fp ? fp : NULL,
                                               msg->payload, msg->len,
                                               codec_flags, out, errstr,
                                               errstr_size);
    if (err)
        return err;
    /* The record key is the workflow id; a value that disagrees is bad. */
    if (msg->key_len != strlen(out->workflow_id) ||
        memcmp(msg->key, out->workflow_id, msg->key_len)) {
        cairn_event_clear(out);
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_DECODE,
                             "record key does not equal workflow_id");
    }
    return CAIRN_ERR_OK;
}

/* Kafka's Java murmur2 (seed 0x9747b28c), as in Utils.murmur2. */
static uint32_t murmur2(const unsigned char *data, size_t len) {
    const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
                     (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)data[i + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[i + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[i];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t cairn_kafka_partition_for(const char *key, size_t keylen,
                                  int32_t partitions) {
    return (int32_t)((murmur2((const unsigned char *)key, keylen) &
                      0x7fffffff) %
                     (uint32_t)partitions);
}
