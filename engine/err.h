/*
 * err.h — Cairn's error codes, defined once.
 *
 * Every function that can fail returns a cairn_err_t (or NULL plus an errstr)
 * and never only logs the reason. Adapters convert librdkafka, hiredis and
 * avro-c errors into these codes at their boundary; `retriable` tells a caller
 * whether trying the same operation again can succeed.
 */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

#include <stddef.h>

/* X(NAME, message, retriable) */
#define CAIRN_ERRORS(X)                                                        \
    X(OK, "success", 0)                                                        \
    X(INVALID_ARG, "invalid argument", 0)                                      \
    X(NOMEM, "out of memory", 0)                                               \
    X(DECODE, "malformed event", 0)                                            \
    X(UNKNOWN_EVENT, "unknown event type", 0)                                  \
    X(SCHEMA_MISMATCH, "schema fingerprint does not match", 0)                 \
    X(NOT_FOUND, "not found", 0)                                               \
    X(DEFINITION, "invalid workflow definition", 0)                            \
    X(UNKNOWN_WORKFLOW_TYPE, "unknown workflow type", 0)                       \
    X(DUPLICATE, "duplicate request", 0)                                       \
    X(WORKFLOW_CLOSED, "workflow is closed", 0)                                \
    X(LIMIT, "limit exceeded", 0)                                              \
    X(CONFIG, "invalid configuration", 0)                                      \
    X(KAFKA, "Kafka error", 1)                                                 \
    X(REDIS, "Redis error", 1)                                                 \
    X(TIMEOUT, "timed out", 1)                                                 \
    X(FENCED, "fenced by a newer owner", 0)                                    \
    X(IO, "I/O error", 1)                                                      \
    X(INTERNAL, "internal error", 0)

typedef enum {
#define CAIRN_ERR_ENUM(name, msg, retriable) CAIRN_ERR_##name,
    CAIRN_ERRORS(CAIRN_ERR_ENUM)
#undef CAIRN_ERR_ENUM
        CAIRN_ERR__COUNT
} cairn_err_t;

/* Returns a static string such as "malformed event"; never NULL. */
const char *cairn_err2str(cairn_err_t err);
/* Returns the code's symbolic name, e.g. "DECODE"; never NULL. */
const char *cairn_err2name(cairn_err_t err);
/* Returns 1 if repeating the failed operation may succeed. */
int cairn_err_is_retriable(cairn_err_t err);

/* snprintf into errstr if errstr is non-NULL; returns err for tail calls. */
cairn_err_t cairn__seterr(char *errstr, size_t errstr_size, cairn_err_t err,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
