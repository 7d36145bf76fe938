/*
 * codec.h — Avro binary encoding of Cairn events (avro-c), the wire contract.
 *
 * Schemas are the files sdk/schemas/<Type>.avsc, compiled into the library at
 * build time (build/gen/schemas.c), so no binary depends on a file path.
 * Each record carries two Kafka headers:
 *   cairn.type         the event type name, e.g. "StartWorkflow"
 *   cairn.fingerprint  16 lowercase hex digits: CRC-64-AVRO (Rabin) of the
 *                      schema's Parsing Canonical Form, big-endian
 * Decoding never crashes on hostile bytes: random, truncated or oversized
 * input returns CAIRN_ERR_DECODE (or UNKNOWN_EVENT / SCHEMA_MISMATCH) with a
 * reason in errstr. All functions are thread-safe.
 */
#ifndef CAIRN_CODEC_H
#define CAIRN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

#define CAIRN_HDR_TYPE "cairn.type"
#define CAIRN_HDR_FINGERPRINT "cairn.fingerprint"
#define CAIRN_HDR_REASON "cairn.reason" /* on dlq records */
/* On state records and tombstones: the input offset their state is
 * complete to (docs/ARCHITECTURE.md, "Snapshots and replay"). */
#define CAIRN_HDR_ASOF "cairn.asof"

/* Largest encoded event accepted by decode (bytes). */
#define CAIRN_CODEC_MAX_BYTES (4u * 1024u * 1024u)

/* Parses the embedded schemas once; called implicitly by the others. */
cairn_err_t cairn_codec_init(char *errstr, size_t errstr_size);

/*
 * Encodes ev (by ev->type) into a malloc'd buffer *bufp of *lenp bytes; the
 * caller frees it. Required string fields that are NULL are an error
 * (CAIRN_ERR_INVALID_ARG naming the field).
 */
cairn_err_t cairn_codec_encode(const cairn_event_t *ev, void **bufp,
                               size_t *lenp, char *errstr, size_t errstr_size);

/*
 * cairn_codec_encode() with flags. CAIRN_CODEC_JSON_TRUSTED skips checking the
 * JSON-carrying fields (input, payload, result, data) — for producers whose
 * JSON was written by jansson or came from a decoded (validated) event, such
 * as a shard's engine outputs; every other check still runs.
 */
#define CAIRN_CODEC_JSON_TRUSTED 0x1
cairn_err_t cairn_codec_encode_flags(const cairn_event_t *ev, int flags,
                                     void **bufp, size_t *lenp, char *errstr,
                                     size_t errstr_size);

/*
 * Decodes buf into *out (overwritten, caller clears). type_name is the
 * cairn.type header value (required); fingerprint is the cairn.fingerprint
 * header value or NULL if absent (then the current schema is assumed).
 */
cairn_err_t cairn_codec_decode(const char *type_name, const char *fingerprint,
                               const void *buf, size_t len, cairn_event_t *out,
                               char *errstr, size_t errstr_size);

/*
 * cairn_codec_decode() with flags. CAIRN_CODEC_JSON_UNCHECKED skips checking
 * the JSON-carrying fields (UTF-8 and everything else is still checked) —
 * for callers that parse every JSON field they use and reject a bad one
 * themselves: a shard's engine (a malformed input, payload or result is
 * Rejected, or fails the activity) and its restore (cairn_wf_decode()).
 */
#define CAIRN_CODEC_JSON_UNCHECKED 0x2
cairn_err_t cairn_codec_decode_flags(const char *type_name,
                                     const char *fingerprint, const void *buf,
                                     size_t len, int flags,
                                     cairn_event_t *out, char *errstr,
                                     size_t errstr_size);

/* The fingerprint header value for a type ("%016" PRIx64), static. */
const char *cairn_codec_fingerprint(cairn_event_type_t type);
/* The schema JSON as in sdk/schemas, static. */
const char *cairn_codec_schema_json(cairn_event_type_t type);

/* CRC-64-AVRO of bytes (exposed for tests). */
uint64_t cairn_codec_crc64_avro(const void *buf, size_t len);

#endif
