/*
 * conf.c — the property table and its loaders.
 *
 * The table below is the single source of truth for every setting of every
 * Cairn program; docs/CONFIGURATION.md is generated from it. Values are kept
 * as strings and, for INT and BOOL properties, also parsed once at set time
 * so getters never fail.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { T_STR, T_INT, T_BOOL } ptype_t;

typedef struct {
    const char *name;
    ptype_t type;
    const char *def;
    int64_t min, max;
    int progs;
    const char *doc;
} prop_t;

#define D CAIRN_PROG_CAIRND
#define TM CAIRN_PROG_TIMERS
#define CL CAIRN_PROG_CLI
#define W CAIRN_PROG_WORKER
#define ALL CAIRN_PROG_ALL

static const prop_t props[] = {
    /* connections */
    {"bootstrap.servers", T_STR, "127.0.0.1:19092", 0, 0, ALL,
     "Kafka bootstrap servers, host:port[,host:port...]."},
    {"redis.url", T_STR, "redis://127.0.0.1:16379", 0, 0, D | TM | CL,
     "Redis holding the timer and visibility indexes: redis://host:port[/db]."},
    {"topic.prefix", T_STR, "cairn.", 0, 0, ALL,
     "Prefix of every Cairn topic (events, history, state, tasks.<queue>, "
     "dlq, definitions)."},
    /* cluster shape */
    {"partitions", T_INT, "12", 1, 10000, D | TM | CL,
     "Partition count P of the events, history and state topics = the number "
     "of shards. Fixed when the cluster is created: a workflow's shard is "
     "murmur2(id) % P. cairnd refuses to start if an existing events topic "
     "has a different count. Nodes scale up to P."},
    {"replication.factor", T_INT, "1", 1, 7, D,
     "Replication factor of topics cairnd creates."},
    {"node.id", T_STR, "", 0, 0, D | TM | W,
     "This node's stable identity, used as the Kafka group.instance.id "
     "(static membership). Empty = the host name."},
    {"group.id", T_STR, "", 0, 0, D,
     "Consumer group of the shard owners. Empty = <topic.prefix>shards."},
    {"session.timeout.ms", T_INT, "10000", 1000, 300000, D | W,
     "Kafka group session timeout: how long a silent node keeps its shards "
     "before they move (the takeover time after a crash)."},
    {"max.poll.interval.ms", T_INT, "300000", 10000, 3600000, D | W,
     "Kafka max.poll.interval.ms of the shard and worker consumers (a "
     "worker polls while its activities run: an activity may take longer)."},
    /* processing */
    {"batch.max.events", T_INT, "1000", 1, 100000, D,
     "Most input events one shard applies in one Kafka transaction."},
    {"batch.max.ms", T_INT, "5", 0, 10000, D,
     "Longest a shard waits to fill a batch once it has one event, when "
     "its previous batch held more than one (a lone event at low load is "
     "applied at once)."},
    {"transaction.timeout.ms", T_INT, "30000", 1000, 900000, D,
     "Kafka transaction timeout of the shard producers."},
    {"history.max.events", T_INT, "10000", 10, 10000000, D,
     "History length limit per workflow run; past it the run fails with "
     "HistoryLimitExceeded unless it continues as new."},
    {"payload.max.bytes", T_INT, "262144", 64, 4194304, D | CL | W,
     "Largest JSON payload (input, result, signal) accepted."},
    {"state.retention.closed.ms", T_INT, "86400000", 0, INT64_MAX / 2, D,
     "How long a closed workflow is kept, in memory and in the state "
     "topic, for describe and duplicate detection before it is evicted: the "
     "shard then writes a tombstone to the state topic, and compaction "
     "removes its snapshot (its history and visibility record stay). Once "
     "its state is written it is held at rest, as those bytes (about the "
     "size of its state JSON): budget that per workflow closed in the "
     "period."},
    {"state.compression", T_STR, "lz4", 0, 0, D,
     "Compression of the state topic's records: none, gzip, snappy, lz4 "
     "or zstd. The topic is compacted, and every compaction pass rewrites "
     "it whole; compressed, it is several times smaller (docs/"
     "ARCHITECTURE.md, \"Compression\"). The other topics follow "
     "kafka.compression.type (librdkafka's default: none)."},
    {"state.snapshot.interval.ms", T_INT, "1000", 0, 3600000, D,
     "How long a changed workflow waits before its shard writes its state "
     "to the state topic (one record, in the transaction of a later batch; "
     "a workflow changed many times in the interval is written once). The "
     "committed offset carries the checkpoint, and a takeover or reload "
     "replays the inputs since it: larger values write less and replay "
     "more. A shard writes everything when idle or released. 0 = every "
     "changed workflow in every batch."},
    {"determinism.check.every", T_INT, "100", 0, 1000000000, D,
     "One engine step in this many runs twice, on a copy of the state, and "
     "the two results are compared byte for byte "
     "(cairn_replay_divergences_total counts differences); 0 = never."},
    {"metrics.port", T_INT, "0", 0, 65535, D | TM | W,
     "HTTP port of the Prometheus /metrics endpoint; 0 = disabled."},
    {"metrics.address", T_STR, "127.0.0.1", 0, 0, D | TM | W,
     "Address the metrics endpoint binds to (0.0.0.0 in containers)."},
    {"log.level", T_STR, "info", 0, 0, ALL,
     "Log level: debug, info, warn, error. Logs go to stderr, one event a "
     "line (logfmt)."},
    {"log.slow.batch.ms", T_INT, "1000", 0, 3600000, D | W,
     "A shard logs a warning for every batch whose work (apply, snapshot, "
     "commit and index; not the wait for its events) takes longer than "
     "this, with the time of each phase, the batch's size and what its "
     "thread did; a worker, at most every 100 ms, how many results took "
     "longer from produce to acknowledgement; 0 = never."},
    /* timers */
    {"timers.lease.ms", T_INT, "10000", 100, 3600000, TM,
     "How long a claimed timer is leased to one cairn-timers instance before "
     "another may claim it again."},
    {"timers.scan.max", T_INT, "500", 1, 100000, TM,
     "Most due timers claimed from one partition in one scan."},
    {"timers.idle.max.ms", T_INT, "1000", 10, 60000, TM,
     "Longest cairn-timers sleeps without looking at Redis (a newly "
     "registered earlier timer also wakes it through pub/sub)."},
    {"timers.inflight.max", T_INT, "20000", 1, 10000000, TM,
     "Most TimerFired records one cairn-timers instance has produced and not "
     "yet seen delivered; it stops claiming at this bound, leaving due "
     "timers to other instances while its Kafka path is slow."},
    {"timers.repair.interval.ms", T_INT, "60000", 1000, 86400000, D,
     "How often a shard re-registers all its pending timers and running "
     "workflows in Redis (repairs drift, e.g. after Redis lost data without "
     "the connection dropping). A pass is spread over the first half of the "
     "interval and costs about four Redis commands per running workflow: "
     "with many waiting workflows, a longer interval keeps Redis quieter."},
    /* workers and clients */
    {"task.queue", T_STR, "default", 0, 0, W,
     "Task queue a worker consumes (topic <topic.prefix>tasks.<queue>)."},
    {"worker.concurrency", T_INT, "4", 1, 1024, W,
     "Most activities a worker runs at once (its runner threads). It "
     "takes tasks ahead of them up to worker.inflight.max, and keeps "
     "polling the consumer meanwhile."},
    {"worker.inflight.max", T_INT, "4096", 1, 65536, W,
     "Most tasks a worker holds (taken and not yet delivered, queued or "
     "running; at least twice worker.concurrency, and 64 MB of task records "
     "at most) before it pauses its partitions; it resumes them at half. "
     "A bound on memory when the activities fall behind (each task held "
     "also costs its decoded event, ~1 KB). Lower values cost throughput: "
     "after a resume librdkafka takes up to ~0.5 s to fetch again (with 256 "
     "a worker managed ~1,200 tasks/s)."},
    {"request.timeout.ms", T_INT, "10000", 100, 600000, CL | W,
     "How long a client call waits for Kafka before it fails."},
};

#define NPROPS (sizeof(props) / sizeof(props[0]))

typedef struct {
    char *name, *value;
} kv_t;

struct cairn_conf_s {
    char *str[NPROPS];
    int64_t num[NPROPS];
    kv_t *kafka;
    size_t nkafka;
    char node_id[256];
};

static int find(const char *name) {
    for (size_t i = 0; i < NPROPS; i++)
        if (!strcmp(props[i].name, name))
            return (int)i;
    return -1;
}

/* redis://host:port[/db] or host:port[/db]; 0, or -1 if malformed. */
static int redis_url_parse(const char *url, char *host, size_t hostsz,
                           int *port, int *db) {
    const char *p = strncmp(url, "redis://", 8) ? url : url + 8;
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    char *end;
    size_t hostlen = colon   ? (size_t)(colon - p)
                     : slash ? (size_t)(slash - p)
                             : strlen(p);
    if (!hostlen || hostlen >= hostsz || strchr(p, '@'))
        return -1;
    memcpy(host, p, hostlen);
    host[hostlen] = '\0';
    *port = 6379;
    *db = 0;
    if (colon) {
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
    }
    if (slash && slash[1]) {
        long v = strtol(slash + 1, &end, 10);
        if (*end || v < 0 || v > 65535)
            return -1;
        *db = (int)v;
    }
    return 0;
}

static cairn_err_t parse_value(const prop_t *p, const char *value,
                               int64_t *out, char *errstr, size_t errstr_size) {
    char host[256];
    int port, db;
    if (p->type == T_STR) {
        if (!strcmp(p->name, "redis.url") &&
            redis_url_parse(value, host, sizeof(host), &port, &db))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                                 "redis.url: expected redis://host:port[/db], "
                                 "got \"%s\"",
                                 value);
        if (!strcmp(p->name, "log.level") && strcmp(value, "debug") &&
            strcmp(value, "info") && strcmp(value, "warn") &&
            strcmp(value, "error"))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                                 "log.level: expected debug, info, warn or "
                                 "error, got \"%s\"",
                                 value);
        return CAIRN_ERR_OK;
    }
    if (p->type == T_BOOL) {
        if (!strcmp(value, "true") || !strcmp(value, "1"))
            *out = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0"))
            *out = 0;
        else
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                                 "%s: expected true or false, got \"%s\"",
                                 p->name, value);
        return CAIRN_ERR_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                             "%s: expected an integer, got \"%s\"", p->name,
                             value);
    if (v < p->min || v > p->max)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                             "%s: %lld is out of range [%lld, %lld]", p->name,
                             v, (long long)p->min, (long long)p->max);
    *out = v;
    return CAIRN_ERR_OK;
}

cairn_conf_t *cairn_conf_new(void) {
    cairn_conf_t *conf = calloc(1, sizeof(*conf));
    if (!conf)
        return NULL;
    for (size_t i = 0; i < NPROPS; i++) {
        if (!(conf->str[i] = strdup(props[i].def)))
            goto err;
        if (parse_value(&props[i], props[i].def, &conf->num[i], NULL, 0))
            abort(); /* a default outside its own range is a table bug */
    }
    return conf;
err:
    cairn_conf_destroy(conf);
    return NULL;
}

static cairn_err_t set_kafka(cairn_conf_t *conf, const char *name,
                             const char *value);

cairn_conf_t *cairn_conf_dup(const cairn_conf_t *src) {
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf)
        return NULL;
    for (size_t i = 0; i < NPROPS; i++) {
        char *v = strdup(src->str[i]);
        if (!v)
            goto err;
        free(conf->str[i]);
        conf->str[i] = v;
        conf->num[i] = src->num[i];
    }
    for (size_t i = 0; i < src->nkafka; i++)
        if (set_kafka(conf, src->kafka[i].name, src->kafka[i].value))
            goto err;
    return conf;
err:
    cairn_conf_destroy(conf);
    return NULL;
}

void cairn_conf_destroy(cairn_conf_t *conf) {
    if (!conf)
        return;
    for (size_t i = 0; i < NPROPS; i++)
        free(conf->str[i]);
    for (size_t i = 0; i < conf->nkafka; i++) {
        free(conf->kafka[i].name);
        free(conf->kafka[i].value);
    }
    free(conf->kafka);
    free(conf);
}

static cairn_err_t set_kafka(cairn_conf_t *conf, const char *name,
                             const char *value) {
    for (size_t i = 0; i < conf->nkafka; i++) {
        if (!strcmp(conf->kafka[i].name, name)) {
            char *v = strdup(value);
            if (!v)
                return CAIRN_ERR_NOMEM;
            free(conf->kafka[i].value);
            conf->kafka[i].value = v;
            return CAIRN_ERR_OK;
        }
    }
    kv_t *nk = realloc(conf->kafka, (conf->nkafka + 1) * sizeof(*nk));
    if (!nk)
        return CAIRN_ERR_NOMEM;
    conf->kafka = nk;
    nk[conf->nkafka].name = strdup(name);
    nk[conf->nkafka].value = strdup(value);
    if (!nk[conf->nkafka].name || !nk[conf->nkafka].value) {
        free(nk[conf->nkafka].name);
        free(nk[conf->nkafka].value);
        return CAIRN_ERR_NOMEM;
    }
    conf->nkafka++;
    return CAIRN_ERR_OK;
}

cairn_err_t cairn_conf_set(cairn_conf_t *conf, const char *name,
                           const char *value, char *errstr,
                           size_t errstr_size) {
    if (!strncmp(name, "kafka.", 6) && name[6]) {
        if (set_kafka(conf, name + 6, value))
            return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                                 "out of memory");
        return CAIRN_ERR_OK;
    }
    int i = find(name);
    if (i < 0)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                             "unknown property \"%s\" (see "
                             "docs/CONFIGURATION.md; librdkafka properties "
                             "take the prefix kafka.)",
                             name);
    int64_t num = 0;
    cairn_err_t err = parse_value(&props[i], value, &num, errstr, errstr_size);
    if (err)
        return err;
    char *v = strdup(value);
    if (!v)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                             "out of memory");
    free(conf->str[i]);
    conf->str[i] = v;
    conf->num[i] = num;
    return CAIRN_ERR_OK;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

cairn_err_t cairn_conf_load_file(cairn_conf_t *conf, const char *path,
                                 char *errstr, size_t errstr_size) {
    FILE *fp = fopen(path, "r");
    if (!fp)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                             "cannot open config file %s: %s", path,
                             strerror(errno));
    char line[4096], sub[512];
    int lineno = 0;
    cairn_err_t err = CAIRN_ERR_OK;
    while (fgets(line, sizeof(line), fp)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_CONFIG,
                                "%s:%d: expected name = value", path, lineno);
            break;
        }
        *eq = '\0';
        if ((err = cairn_conf_set(conf, trim(s), trim(eq + 1), sub,
                                  sizeof(sub)))) {
            cairn__seterr(errstr, errstr_size, err, "%s:%d: %s", path, lineno,
                          sub);
            break;
        }
    }
    fclose(fp);
    return err;
}

/* CAIRN_BOOTSTRAP_SERVERS <-> bootstrap.servers */
static void env_name(const char *name, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "CAIRN_");
    for (const char *p = name; *p && n + 1 < size; p++)
        buf[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

cairn_err_t cairn_conf_load_env(cairn_conf_t *conf, char *errstr,
                                size_t errstr_size) {
    char env[256], sub[512];
    for (size_t i = 0; i < NPROPS; i++) {
        env_name(props[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (!v)
            continue;
        cairn_err_t err = cairn_conf_set(conf, props[i].name, v, sub,
                                         sizeof(sub));
        if (err)
            return cairn__seterr(errstr, errstr_size, err, "%s: %s", env, sub);
    }
    return CAIRN_ERR_OK;
}

cairn_err_t cairn_conf_load_defaults(cairn_conf_t *conf, char *errstr,
                                     size_t errstr_size) {
    const char *file = getenv("CAIRN_CONFIG");
    cairn_err_t err;
    if (file && *file &&
        (err = cairn_conf_load_file(conf, file, errstr, errstr_size)))
        return err;
    return cairn_conf_load_env(conf, errstr, errstr_size);
}

const char *cairn_conf_str(const cairn_conf_t *conf, const char *name) {
    int i = find(name);
    if (i < 0)
        abort();
    return conf->str[i];
}

int64_t cairn_conf_int(const cairn_conf_t *conf, const char *name) {
    int i = find(name);
    if (i < 0 || props[i].type == T_STR)
        abort();
    return conf->num[i];
}

size_t cairn_conf_kafka_count(const cairn_conf_t *conf) {
    return conf->nkafka;
}

void cairn_conf_kafka_at(const cairn_conf_t *conf, size_t i, const char **name,
                         const char **value) {
    *name = conf->kafka[i].name;
    *value = conf->kafka[i].value;
}

void cairn_conf_redis(const cairn_conf_t *conf, char *host, size_t host_size,
                      int *port, int *db) {
    if (redis_url_parse(cairn_conf_str(conf, "redis.url"), host, host_size,
                        port, db))
        abort(); /* validated when set: a bug */
}

const char *cairn_conf_node_id(cairn_conf_t *conf) {
    const char *id = cairn_conf_str(conf, "node.id");
    if (*id)
        return id;
    if (!conf->node_id[0]) {
        if (gethostname(conf->node_id, sizeof(conf->node_id) - 1))
            snprintf(conf->node_id, sizeof(conf->node_id), "cairn-node");
        conf->node_id[sizeof(conf->node_id) - 1] = '\0';
    }
    return conf->node_id;
}

void cairn_conf_topic(const cairn_conf_t *conf, const char *suffix, char *buf,
                      size_t size) {
    snprintf(buf, size, "%s%s", cairn_conf_str(conf, "topic.prefix"), suffix);
}

static const char *prog_names(int progs, char *buf, size_t size) {
    static const char *names[] = {"cairnd", "cairn-timers", "cairn",
                                  "workers"};
    size_t n = 0;
    buf[0] = '\0';
    for (int b = 0; b < 4; b++)
        if (progs & (1 << b))
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
                                  names[b]);
    return buf;
}

void cairn_conf_write_markdown(FILE *fp) {
    char env[256], used[128];
    fprintf(fp, "# Configuration\n\n"
                "<!-- Generated by `cairn config-doc` from the table in "
                "sdk/conf.c; do not edit. -->\n\n"
                "Every Cairn program reads the same properties. Precedence, "
                "lowest first: the defaults below, the file named by "
                "`CAIRN_CONFIG` (`name = value` lines, `#` comments), "
                "environment variables (`CAIRN_` + the name in upper case "
                "with dots as underscores), then command-line flags "
                "(`-X name=value`, or the long options each program lists "
                "in `--help`).\n\n"
                "Properties named `kafka.<name>` pass through to librdkafka "
                "as `<name>` (see librdkafka's CONFIGURATION.md), e.g. "
                "`-X kafka.security.protocol=ssl`.\n\n"
                "| property | environment | type | default | range | used "
                "by | description |\n"
                "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < NPROPS; i++) {
        const prop_t *p = &props[i];
        char range[64] = "";
        env_name(p->name, env, sizeof(env));
        if (p->type == T_INT)
            snprintf(range, sizeof(range), "%lld..%lld", (long long)p->min,
                     (long long)p->max);
        fprintf(fp, "| `%s` | `%s` | %s | `%s` | %s | %s | %s |\n", p->name,
                env, p->type == T_INT ? "int" : p->type == T_BOOL ? "bool"
                                                                   : "string",
                p->def, range, prog_names(p->progs, used, sizeof(used)),
                p->doc);
    }
}
