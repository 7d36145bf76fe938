/*
 * kafka.h — the librdkafka adapter shared by every Cairn program.
 *
 * Converts librdkafka errors to cairn_err_t at this boundary, builds client
 * configurations from a cairn_conf_t (bootstrap servers, kafka.* pass-through,
 * partitioner=murmur2_random so that any Kafka client in any language puts a
 * workflow id on the same partition), creates topics, and moves events in
 * and out of Kafka records with the cairn.type / cairn.fingerprint headers.
 */
#ifndef CAIRN_KAFKA_H
#define CAIRN_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "err.h"
#include "event.h"

/*
 * A new rd_kafka_conf_t with bootstrap.servers, client.id, structured
 * logging and every kafka.* property applied. NULL with errstr on a bad property.
 * The caller owns the result (rd_kafka_new takes it on success).
 */
rd_kafka_conf_t *cairn_kafka_conf_new(const cairn_conf_t *conf,
                                      const char *client_id, char *errstr,
                                      size_t errstr_size);
/* The same plus partitioner=murmur2_random, for producers. */
rd_kafka_conf_t *cairn_kafka_producer_conf_new(const cairn_conf_t *conf,
                                               const char *client_id,
                                               char *errstr,
                                               size_t errstr_size);
/*
 * A topic configuration whose records are compressed with codec (none,
 * gzip, snappy, lz4, zstd); NULL with librdkafka's message on another value.
 */
rd_kafka_topic_conf_t *cairn_kafka_topic_conf_compression(const char *codec,
                                                          char *errstr,
                                                          size_t errstr_size);
/* rd_kafka_conf_set that reports "name=value: reason" into errstr. */
cairn_err_t cairn_kafka_conf_set(rd_kafka_conf_t *kc, const char *name,
                                 const char *value, char *errstr,
                                 size_t errstr_size);

/* Topic kinds for cairn_kafka_ensure_topics. */
typedef struct {
    const char *suffix;  /* "events", "tasks.default", ... */
    int partitions;      /* <= 0: the configured partition count */
    int compacted;       /* cleanup.policy=compact */
    int check_partitions;/* refuse if it exists with another count */
} cairn_topic_spec_t;

/*
 * Creates the missing topics among specs (replication from the conf) and
 * verifies partition counts where check_partitions is set: a mismatch is
 * CAIRN_ERR_CONFIG with a message telling what to do. Blocks up to
 * timeout_ms. rk may be any client handle.
 */
cairn_err_t cairn_kafka_ensure_topics(rd_kafka_t *rk, const cairn_conf_t *conf,
                                      const cairn_topic_spec_t *specs,
                                      size_t nspecs, int timeout_ms,
                                      char *errstr, size_t errstr_size);

/* Partition count of a topic, or -1 with errstr if it does not exist. */
int cairn_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                                int timeout_ms, char *errstr,
                                size_t errstr_size);

/*
 * Encodes ev and produces it to topic with key ev->workflow_id, the cairn
 * headers, and partition (RD_KAFKA_PARTITION_UA = by key). extra_hdrs may add
 * more headers (ownership stays with the caller; they are copied). opaque is
 * passed to the delivery report. Returns CAIRN_ERR_KAFKA with the reason on
 * failure (e.g. queue full), CAIRN_ERR_INVALID_ARG if ev does not encode.
 */
cairn_err_t cairn_kafka_produce_event(rd_kafka_t *rk, const char *topic,
                                      int32_t partition,
                                      const cairn_event_t *ev,
                                      const rd_kafka_headers_t *extra_hdrs,
                                      void *opaque, char *errstr,
                                      size_t errstr_size);

/* The same with codec flags (CAIRN_CODEC_JSON_TRUSTED for engine output). */
cairn_err_t cairn_kafka_produce_event_flags(
    rd_kafka_t *rk, const char *topic, int32_t partition,
    const cairn_event_t *ev, int codec_flags,
    const rd_kafka_headers_t *extra_hdrs, void *opaque, char *errstr,
    size_t errstr_size);

/* Decodes a consumed record into *out (caller clears). */
cairn_err_t cairn_kafka_decode(const rd_kafka_message_t *msg,
                               cairn_event_t *out, char *errstr,
                               size_t errstr_size);
/* The same with codec flags (CAIRN_CODEC_JSON_UNCHECKED for a shard). */
cairn_err_t cairn_kafka_decode_flags(const rd_kafka_message_t *msg,
                                     int codec_flags, cairn_event_t *out,
                                     char *errstr, size_t errstr_size);

/* Java-compatible murmur2 partition of key, as Kafka's default partitioner. */
int32_t cairn_kafka_partition_for(const char *key, size_t keylen,
                                  int32_t partitions);

/* Maps an rd_kafka_resp_err_t to a cairn code. */
cairn_err_t cairn_kafka_err(rd_kafka_resp_err_t err);

#endif
