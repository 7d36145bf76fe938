/*
 * conf.h — configuration as data.
 *
 * One table (conf.c) lists every property: name, type, default, range, which
 * programs read it, and its documentation; docs/CONFIGURATION.md is generated
 * from that table (`cairn config-doc`). Values come from, in increasing
 * precedence: defaults, a config file (key = value lines), the environment
 * (CAIRN_<NAME> with dots as underscores, upper case: CAIRN_BOOTSTRAP_SERVERS),
 * and command-line flags. Properties named kafka.<x> pass through to
 * librdkafka as <x>, unchecked by us but checked by librdkafka when applied.
 *
 * A conf is not thread-safe while being set; once set it is read-only and
 * may be read from any thread.
 */
#ifndef CAIRN_CONF_H
#define CAIRN_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef struct cairn_conf_s cairn_conf_t;

/* Programs, as a mask in the table's "used by" column. */
#define CAIRN_PROG_CAIRND 0x1
#define CAIRN_PROG_TIMERS 0x2
#define CAIRN_PROG_CLI 0x4
#define CAIRN_PROG_WORKER 0x8
#define CAIRN_PROG_ALL 0xf

/* A conf holding every default. NULL only on out-of-memory. */
cairn_conf_t *cairn_conf_new(void);
void cairn_conf_destroy(cairn_conf_t *conf);
/* A deep copy (every value and kafka.* pair); NULL on out-of-memory. */
cairn_conf_t *cairn_conf_dup(const cairn_conf_t *conf);

/* Sets one property from its string form; checks type and range. */
cairn_err_t cairn_conf_set(cairn_conf_t *conf, const char *name,
                           const char *value, char *errstr,
                           size_t errstr_size);
/* Reads `name = value` lines ('#' comments); errors name file and line. */
cairn_err_t cairn_conf_load_file(cairn_conf_t *conf, const char *path,
                                 char *errstr, size_t errstr_size);
/* Applies every CAIRN_* environment variable that names a property. */
cairn_err_t cairn_conf_load_env(cairn_conf_t *conf, char *errstr,
                                size_t errstr_size);

/*
 * Standard loading for a program: file from CAIRN_CONFIG (if set), then the
 * environment. Flags are applied by the caller afterwards with
 * cairn_conf_set() so they win.
 */
cairn_err_t cairn_conf_load_defaults(cairn_conf_t *conf, char *errstr,
                                     size_t errstr_size);

/* Typed getters; the name must be in the table (abort otherwise: a bug). */
const char *cairn_conf_str(const cairn_conf_t *conf, const char *name);
int64_t cairn_conf_int(const cairn_conf_t *conf, const char *name);

/* Number of kafka.* pass-through pairs and the i-th (name without prefix). */
size_t cairn_conf_kafka_count(const cairn_conf_t *conf);
void cairn_conf_kafka_at(const cairn_conf_t *conf, size_t i, const char **name,
                         const char **value);

/* Writes the Markdown reference of the table (docs/CONFIGURATION.md). */
void cairn_conf_write_markdown(FILE *fp);

/* redis.url split into host (NUL-terminated), port and db; it was
 * validated when set, so this cannot fail for a host_size >= 256. */
void cairn_conf_redis(const cairn_conf_t *conf, char *host, size_t host_size,
                      int *port, int *db);

/* The node id: node.id if set, else the host name. Static buffer in conf. */
const char *cairn_conf_node_id(cairn_conf_t *conf);

/* The full topic name for a suffix, e.g. "events" -> "cairn.events". */
void cairn_conf_topic(const cairn_conf_t *conf, const char *suffix, char *buf,
                      size_t size);

#endif
