/*
 * bench.c — cairn-bench: the measuring side of `make bench`.
 *
 *   cairn-bench workflows [--type T] [--input JSON] [--concurrency C |
 *                          --rate R] [--duration S] [--warmup S] [--drain S]
 *                          [--linger MS] [--watch NAME=PID]...
 *   cairn-bench kafka-txn [--records N] [--size B] [--txn N] [--producers K]
 *   cairn-bench kafka-latency [--records N]
 *   cairn-bench idle      [--type T] [--workflows K] [--pid PID]
 *
 * workflows: a closed loop keeps C workflows in flight (start one as soon as
 * one completes), or with --rate an open loop starts R per second. The
 * latency of a workflow runs from just before its StartWorkflow is handed to
 * the producer to the moment a read_committed consumer of <prefix>history
 * receives its WorkflowCompleted: the client-visible, durable end to end
 * time. Only completions inside the window [warmup, warmup + duration] count
 * for the rate and the percentiles; afterwards the loop stops starting and
 * waits up to --drain seconds for the rest, so a lost workflow shows up as
 * `unfinished`. --watch samples the CPU time of other processes over the
 * window (from /proc/PID/stat), so the report says where the cores went.
 * Every 100 ms the loop also samples the box (/proc/stat, /proc/vmstat):
 * busy and iowait share, kilobytes written to disk, dirty page cache, and
 * the CPU of each watched process. The timeline file carries them beside
 * the completions, so a dip can be matched with who was busy, and the
 * report counts the slow completions in or just after a writeback burst.
 *
 * kafka-txn: the broker's transactional ceiling on this box. K producers
 * (own transactional.id each) write N records of B bytes in transactions of
 * --txn records to <prefix>bench.txn while a read_committed consumer reads
 * them back; the rate is N over first produce to last record consumed.
 *
 * kafka-latency: N transactions of one record each, one after the other:
 * commit time and produce-to-visible time under read_committed, the floor
 * under every hop of a workflow.
 *
 * idle: starts K workflows that stay running (the bench_idle definition
 * waits for a signal), waits for their K WorkflowStarted records, and
 * reports the growth of cairnd's VmRSS (--pid) per workflow.
 *
 * One thread drives each side; the tool prints its own CPU use so a reader
 * can see it was not the bottleneck. Every result line starts with "bench:".
 */
#include <ctype.h>
#include <inttypes.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "codec.h"
#include "kafka.h"

#define MAX_WATCH 8

typedef struct {
    const char *mode;
    const char *type, *input, *prefix;
    long concurrency;
    double rate, duration, warmup, drain;
    int linger_ms;
    long records, txn, workflows;
    int size, producers;
    long pid;
    const char *timeline; /* workflows: per-100 ms completions file */
    int nwatch;
    char *watch_name[MAX_WATCH];
    long watch_pid[MAX_WATCH];
} opts_t;

static cairn_conf_t *conf;
static char errstr[1024];

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a process in seconds, or -1. */
static double proc_cpu_s(long pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy, total and (if asked) iowait jiffies of the whole box, from
 * /proc/stat. */
static void box_jiffies(double *busy, double *total, double *iowait) {
    unsigned long long v[8] = {0};
    FILE *fp = fopen("/proc/stat", "r");
    *busy = *total = 0;
    if (iowait)
        *iowait = 0;
    if (!fp)
        return;
    if (fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            *total += (double)v[i];
        *busy = *total - (double)v[3] - (double)v[4]; /* less idle, iowait */
        if (iowait)
            *iowait = (double)v[4];
    }
    fclose(fp);
}

/* One sample of the box: jiffies busy, in iowait and in all, kilobytes
 * written to block devices and dirty page cache (both from /proc/vmstat). */
typedef struct {
    double busy, iowait, total;
    long long written_kb, dirty_kb;
    int64_t at_us;
    double self_s;           /* this tool's CPU time so far */
    double cpu_s[MAX_WATCH]; /* each watched process's */
} box_sample_t;

static void box_sample(const opts_t *o, box_sample_t *b) {
    char key[64];
    long long x;
    FILE *fp;
    memset(b, 0, sizeof(*b));
    b->at_us = now_us();
    b->self_s = self_cpu_s();
    for (int w = 0; w < o->nwatch; w++)
        b->cpu_s[w] = proc_cpu_s(o->watch_pid[w]);
    box_jiffies(&b->busy, &b->total, &b->iowait);
    if (!(fp = fopen("/proc/vmstat", "r")))
        return;
    while (fscanf(fp, "%63s %lld", key, &x) == 2) {
        if (!strcmp(key, "nr_dirty"))
            b->dirty_kb = x * (sysconf(_SC_PAGESIZE) / 1024);
        else if (!strcmp(key, "pgpgout"))
            b->written_kb = x;
    }
    fclose(fp);
}

/* A 100 ms bucket that wrote at least this much to disk is a writeback
 * burst: the kernel flushing the page cache Kafka's log dirtied ~30 s ago
 * (vm.dirty_expire_centisecs) in one go. */
#define BURST_KB (16 * 1024)

static long vmrss_kb(long pid) {
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    while (fgets(line, sizeof(line), fp))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    fclose(fp);
    return kb;
}

static void die(const char *what) {
    fprintf(stderr, "cairn-bench: %s%s%s\n", what, *errstr ? ": " : "",
            errstr);
    exit(1);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v (nearest rank), in ms. */
static double pct_ms(const int64_t *v, size_t n, double q) {
    if (!n)
        return 0;
    size_t i = (size_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1000.0;
}

/* ---- Kafka clients ------------------------------------------------------- */

static atomic_long delivery_failures;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op) {
    (void)rk;
    (void)op;
    if (m->err) {
        atomic_fetch_add(&delivery_failures, 1);
        fprintf(stderr, "cairn-bench: delivery: %s\n", rd_kafka_err2str(m->err));
    }
}


static rd_kafka_t *new_producer(const char *cid, const char *txn_id,
                                int linger_ms) {
    char num[32];
    rd_kafka_conf_t *kc = cairn_kafka_producer_conf_new(conf, cid, errstr,
                                                        sizeof(errstr));
    snprintf(num, sizeof(num), "%d", linger_ms);
    if (!kc ||
        cairn_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                             sizeof(errstr)) ||
        cairn_kafka_conf_set(kc, "linger.ms", num, errstr, sizeof(errstr)) ||
        (txn_id && cairn_kafka_conf_set(kc, "transactional.id", txn_id, errstr,
                                        sizeof(errstr))))
        die("producer configuration");
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                  sizeof(errstr));
    if (!rk)
        die("producer");
    return rk;
}

/* A read_committed consumer assigned to every partition of topic at its
 * current end (the high watermark), so it sees only what comes next. */
static rd_kafka_t *new_tail_consumer(const char *topic, int *partitions) {
    rd_kafka_conf_t *kc = cairn_kafka_conf_new(conf, "cairn-bench", errstr,
                                               sizeof(errstr));
    if (!kc ||
        cairn_kafka_conf_set(kc, "group.id", "cairn-bench", errstr,
                             sizeof(errstr)) ||
        cairn_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                             sizeof(errstr)) ||
        cairn_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                             sizeof(errstr)) ||
        cairn_kafka_conf_set(kc, "fetch.wait.max.ms", "5", errstr,
                             sizeof(errstr)) ||
        cairn_kafka_conf_set(kc, "fetch.error.backoff.ms", "5", errstr,
                             sizeof(errstr)))
        die("consumer configuration");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                  sizeof(errstr));
    if (!rk)
        die("consumer");
    rd_kafka_poll_set_consumer(rk);
    int n = cairn_kafka_partition_count(rk, topic, 10000, errstr,
                                        sizeof(errstr));
    if (n <= 0)
        die("partition count");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err;
        /* A topic created a moment ago may not have a leader yet. */
        for (int tries = 0; tries < 50; tries++) {
            err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                   10000);
            if (!err || tries == 49)
                break;
            usleep(200 * 1000); /* retry backoff */
        }
        if (err) {
            snprintf(errstr, sizeof(errstr), "%s", rd_kafka_err2str(err));
            die("watermarks");
        }
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
    }
    if (rd_kafka_assign(rk, l))
        die("assign");
    rd_kafka_topic_partition_list_destroy(l);
    if (partitions)
        *partitions = n;
    return rk;
}

/* The cairn.type header of a record into buf ("" if none). */
static void type_of(const rd_kafka_message_t *m, char *buf, size_t size) {
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) ||
        rd_kafka_header_get_last(h, CAIRN_HDR_TYPE, &v, &len))
        return;
    if (len >= size)
        len = size - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
}

/* Index i of a key "<prefix>-<i>", or -1 if the key is not ours. */
static long key_index(const rd_kafka_message_t *m, const char *prefix,
                      size_t plen) {
    const char *k = m->key;
    if (!k || m->key_len <= plen + 1 || memcmp(k, prefix, plen) ||
        k[plen] != '-')
        return -1;
    long i = 0;
    for (size_t j = plen + 1; j < m->key_len; j++) {
        if (!isdigit((unsigned char)k[j]))
            return -1;
        i = i * 10 + (k[j] - '0');
    }
    return i;
}

static void start_workflow(rd_kafka_t *rk, const char *topic,
                           const opts_t *o, long i) {
    char id[256];
    snprintf(id, sizeof(id), "%s-%ld", o->prefix, i);
    cairn_event_t ev = {0};
    ev.type = CAIRN_EV_START_WORKFLOW;
    ev.workflow_id = id;
    ev.request_id = id;
    ev.time_ms = wall_ms();
    ev.workflow_type = (char *)o->type;
    ev.input = (char *)o->input;
    for (;;) {
        if (!cairn_kafka_produce_event(rk, topic, RD_KAFKA_PARTITION_UA, &ev,
                                       NULL, NULL, errstr, sizeof(errstr)))
            return;
        if (!strstr(errstr, "Queue full"))
            die("produce");
        rd_kafka_poll(rk, 5);
    }
}

/* ---- workflows ------------------------------------------------------------ */

typedef struct {
    int64_t *t0;   /* start time (us) per workflow index */
    char *state;   /* 0 free, 1 in flight, 2 done */
    size_t cap;
} slots_t;

static void slots_grow(slots_t *s, size_t need) {
    if (need <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 65536;
    while (cap < need)
        cap *= 2;
    s->t0 = realloc(s->t0, cap * sizeof(*s->t0));
    s->state = realloc(s->state, cap);
    if (!s->t0 || !s->state) {
        snprintf(errstr, sizeof(errstr), "out of memory");
        die("slots");
    }
    memset(s->state + s->cap, 0, cap - s->cap);
    s->cap = cap;
}

/* One 100 ms bucket of a run: the completions in it, the slowest, how many
 * took over 250 ms, and what the box did meanwhile (box_sample_t deltas;
 * sampled is 0 until the loop has seen the bucket end). */
typedef struct {
    long n, slow;
    int64_t max;
    int sampled;
    double busy_pct, iowait_pct;
    long long written_kb, dirty_kb;
    double tool_pct, cpu_pct[MAX_WATCH]; /* CPU, % of one core */
} bucket_t;

/* Writes the timeline file (if asked) and prints where the window's slow
 * completions fell: the three 100 ms buckets holding most of them, and how
 * many fell in a writeback burst or the 300 ms after one. */
static void write_timeline(const opts_t *o, const char *label, int64_t wall0,
                           int64_t win0_us, int64_t win1_us,
                           const bucket_t *bk, size_t nbk) {
    long total = 0, near = 0, bursts = 0;
    long long written = 0, burst_max = 0;
    double iow_max = 0;
    size_t top[3];
    int ntop = 0;
    /* the window's buckets: [b0, b1) */
    size_t b0 = (size_t)((win0_us + 99999) / 100000);
    size_t b1 = (size_t)(win1_us / 100000);
    if (b1 > nbk)
        b1 = nbk;
    for (size_t b = b0; b < b1; b++) {
        total += bk[b].slow;
        written += bk[b].written_kb;
        if (bk[b].written_kb > burst_max)
            burst_max = bk[b].written_kb;
        if (bk[b].iowait_pct > iow_max)
            iow_max = bk[b].iowait_pct;
        bursts += bk[b].written_kb >= BURST_KB;
        int hit = 0;
        for (size_t k = b >= 3 ? b - 3 : 0; k <= b; k++)
            hit |= bk[k].written_kb >= BURST_KB;
        near += hit ? bk[b].slow : 0;
    }
    for (; ntop < 3; ntop++) { /* the three buckets with most slow ones */
        size_t best = nbk;
        for (size_t b = b0; b < b1; b++) {
            int taken = 0;
            for (int k = 0; k < ntop; k++)
                taken |= top[k] == b;
            if (!taken && bk[b].slow &&
                (best == nbk || bk[b].slow > bk[best].slow))
                best = b;
        }
        if (best == nbk)
            break;
        top[ntop] = best;
    }
    printf("bench:   detail tail %s over_250ms=%ld", label, total);
    for (int k = 0; k < ntop; k++)
        printf(" at_%+.1fs=%ld",
               (double)((int64_t)top[k] * 100000 - win0_us) / 1e6,
               bk[top[k]].slow);
    printf("\n");
    printf("bench:   detail disk %s written_mb=%.0f writeback_bursts=%ld "
           "largest_burst_mb=%.0f iowait_max=%.0f%% "
           "over_250ms_in_or_after_burst=%ld\n",
           label, (double)written / 1024, bursts, (double)burst_max / 1024,
           iow_max, near);
    if (!o->timeline)
        return;
    FILE *fp = fopen(o->timeline, "w");
    if (!fp) {
        fprintf(stderr, "cairn-bench: %s: %s\n", o->timeline, strerror(errno));
        return;
    }
    fprintf(fp, "# %s: 100 ms buckets since the first start; wall_ms, "
                "seconds from the window's start, completions, slowest ms, "
                "over 250 ms, box busy and iowait in %% of all cores, MB "
                "written to disk, dirty page cache MB, then the CPU of "
                "the tool",
            label);
    for (int w = 0; w < o->nwatch; w++)
        fprintf(fp, ", %s", o->watch_name[w]);
    fprintf(fp, " in %% of one core (in steps of one clock tick, 10 ms)\n");
    for (size_t b = 0; b < nbk; b++) {
        if (!bk[b].n && !bk[b].sampled)
            continue;
        fprintf(fp, "%lld %.1f %ld %.1f %ld %.0f %.0f %.1f %.0f",
                (long long)(wall0 + (int64_t)b * 100),
                (double)((int64_t)b * 100000 - win0_us) / 1e6, bk[b].n,
                (double)bk[b].max / 1000.0, bk[b].slow, bk[b].busy_pct,
                bk[b].iowait_pct, (double)bk[b].written_kb / 1024,
                (double)bk[b].dirty_kb / 1024);
        fprintf(fp, " %.0f", bk[b].tool_pct);
        for (int w = 0; w < o->nwatch; w++)
            fprintf(fp, " %.0f", bk[b].cpu_pct[w]);
        fprintf(fp, "\n");
    }
    fclose(fp);
}

/* Closes bucket b with what the box did since the previous sample. */
static void bucket_sample(const opts_t *o, bucket_t *bk, box_sample_t *prev) {
    box_sample_t cur;
    box_sample(o, &cur);
    double wall_s = (double)(cur.at_us - prev->at_us) / 1e6;
    if (wall_s > 0)
        bk->tool_pct = 100.0 * (cur.self_s - prev->self_s) / wall_s;
    for (int w = 0; w < o->nwatch; w++)
        if (wall_s > 0 && cur.cpu_s[w] >= 0 && prev->cpu_s[w] >= 0)
            bk->cpu_pct[w] = 100.0 * (cur.cpu_s[w] - prev->cpu_s[w]) / wall_s;
    double dt = cur.total - prev->total;
    if (dt > 0) {
        bk->busy_pct = 100.0 * (cur.busy - prev->busy) / dt;
        bk->iowait_pct = 100.0 * (cur.iowait - prev->iowait) / dt;
    }
    bk->written_kb = cur.written_kb - prev->written_kb;
    bk->dirty_kb = cur.dirty_kb;
    bk->sampled = 1;
    *prev = cur;
}

static void run_workflows(const opts_t *o) {
    char events[256], history[256], type[64];
    cairn_conf_topic(conf, "events", events, sizeof(events));
    cairn_conf_topic(conf, "history", history, sizeof(history));
    rd_kafka_t *cons = new_tail_consumer(history, NULL);
    rd_kafka_t *prod = new_producer("cairn-bench", NULL, o->linger_ms);
    size_t plen = strlen(o->prefix);
    slots_t s = {0};
    size_t lcap = 1 << 16, nlat = 0;
    int64_t *lat = malloc(lcap * sizeof(*lat));
    long started = 0, inflight = 0, done = 0, failed = 0, in_window = 0;
    double cpu_watch0[MAX_WATCH], box_busy0 = 0, box_total0 = 0;

    /* Let the consumer's first fetch settle before the clock starts. */
    rd_kafka_message_t *m0 = rd_kafka_consumer_poll(cons, 500);
    if (m0)
        rd_kafka_message_destroy(m0);

    int64_t t_start = now_us();
    int64_t t_win0 = t_start + (int64_t)(o->warmup * 1e6);
    int64_t t_win1 = t_win0 + (int64_t)(o->duration * 1e6);
    int64_t t_drain = t_win1 + (int64_t)(o->drain * 1e6);
    /* The timeline: completions per 100 ms since t_start, the slowest of
     * them, and how many took longer than 250 ms. A p99 decided by one
     * stall shows as a few buckets holding most of the slow ones. */
    size_t nbk = (size_t)((t_drain - t_start) / 100000) + 2, cur_b = 0;
    bucket_t *bk = calloc(nbk, sizeof(*bk));
    if (!bk)
        die("out of memory");
    box_sample_t box_prev;
    box_sample(o, &box_prev);
    int64_t wall0 = wall_ms();
    double cpu0 = 0;
    int window_open = 0;

    for (;;) {
        int64_t now = now_us();
        size_t nb = (size_t)((now - t_start) / 100000);
        if (nb != cur_b && cur_b < nbk) { /* a bucket ended: sample the box */
            bucket_sample(o, &bk[cur_b], &box_prev);
            cur_b = nb;
        }
        if (!window_open && now >= t_win0) {
            window_open = 1;
            cpu0 = self_cpu_s();
            box_jiffies(&box_busy0, &box_total0, NULL);
            for (int w = 0; w < o->nwatch; w++)
                cpu_watch0[w] = proc_cpu_s(o->watch_pid[w]);
        }
        if (now >= t_win1 && (!inflight || now >= t_drain))
            break;
        if (now < t_win1) {
            if (o->rate > 0) { /* open loop: catch up with the schedule */
                long due = (long)((double)(now - t_start) / 1e6 * o->rate);
                while (started < due) {
                    slots_grow(&s, (size_t)started + 1);
                    s.t0[started] = now_us();
                    s.state[started] = 1;
                    start_workflow(prod, events, o, started);
                    started++;
                    inflight++;
                }
            } else {
                while (inflight < o->concurrency) {
                    slots_grow(&s, (size_t)started + 1);
                    s.t0[started] = now_us();
                    s.state[started] = 1;
                    start_workflow(prod, events, o, started);
                    started++;
                    inflight++;
                }
            }
        }
        rd_kafka_poll(prod, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 1);
        while (m) {
            if (!m->err) {
                long i = key_index(m, o->prefix, plen);
                if (i >= 0 && i < started && s.state[i] == 1) {
                    type_of(m, type, sizeof(type));
                    int fin = !strcmp(type, "WorkflowCompleted");
                    int bad = !strcmp(type, "WorkflowFailed") ||
                              !strcmp(type, "WorkflowCanceled") ||
                              !strcmp(type, "WorkflowTerminated") ||
                              !strcmp(type, "Rejected");
                    if (fin || bad) {
                        int64_t t1 = now_us();
                        s.state[i] = 2;
                        inflight--;
                        done += fin;
                        failed += bad;
                        size_t b = (size_t)((t1 - t_start) / 100000);
                        if (b >= nbk)
                            b = nbk - 1;
                        bk[b].n++;
                        if (t1 - s.t0[i] > bk[b].max)
                            bk[b].max = t1 - s.t0[i];
                        bk[b].slow += t1 - s.t0[i] > 250000;
                        if (fin && t1 >= t_win0 && t1 < t_win1) {
                            if (nlat == lcap) {
                                lcap *= 2;
                                lat = realloc(lat, lcap * sizeof(*lat));
                                if (!lat)
                                    die("out of memory");
                            }
                            lat[nlat++] = t1 - s.t0[i];
                            in_window++;
                        }
                    }
                }
            }
            rd_kafka_message_destroy(m);
            m = rd_kafka_consumer_poll(cons, 0);
        }
    }
    double cpu = self_cpu_s() - cpu0;
    qsort(lat, nlat, sizeof(*lat), cmp_i64);
    double rate = (double)in_window / o->duration;
    char label[64];
    if (o->rate > 0)
        snprintf(label, sizeof(label), "open_rate=%.0f", o->rate);
    else
        snprintf(label, sizeof(label), "concurrency=%ld", o->concurrency);
    printf("bench: %s workflows_per_sec=%.0f p50_ms=%.1f p99_ms=%.1f\n", label,
           rate, pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.99));
    printf("bench:   detail %s started=%ld completed=%ld failed=%ld "
           "unfinished=%ld window_s=%.0f p90_ms=%.1f p999_ms=%.1f max_ms=%.1f "
           "min_ms=%.1f tool_cpu=%.0f%%",
           label, started, done, failed, inflight, o->duration,
           pct_ms(lat, nlat, 0.90), pct_ms(lat, nlat, 0.999),
           nlat ? (double)lat[nlat - 1] / 1000.0 : 0,
           nlat ? (double)lat[0] / 1000.0 : 0, 100.0 * cpu / o->duration);
    /* CPU over the window and the drain, in % of one core; "others" is
     * what the box spent on processes not watched (other people's work). */
    double el = (double)(now_us() - t_win0) / 1e6, b1, t1;
    double watched = self_cpu_s() - cpu0; /* this tool */
    for (int w = 0; w < o->nwatch; w++) {
        double c1 = proc_cpu_s(o->watch_pid[w]);
        if (cpu_watch0[w] >= 0 && c1 >= 0) {
            printf(" %s_cpu=%.0f%%", o->watch_name[w],
                   100.0 * (c1 - cpu_watch0[w]) / el);
            watched += c1 - cpu_watch0[w];
        }
    }
    box_jiffies(&b1, &t1, NULL);
    if (t1 > box_total0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        double box = 100.0 * (double)ncpu * (b1 - box_busy0) /
                     (t1 - box_total0);
        printf(" box_cpu=%.0f%%/%ld00%% others_cpu=%.0f%%", box, ncpu,
               box - 100.0 * watched / el);
    }
    printf("\n");
    write_timeline(o, label, wall0, t_win0 - t_start, t_win1 - t_start, bk,
                   nbk);
    free(bk);
    fflush(stdout);
    rd_kafka_flush(prod, 10000);
    rd_kafka_destroy(prod);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    free(lat);
    free(s.t0);
    free(s.state);
    if (delivery_failures || (inflight && o->rate <= 0))
        exit(1);
}

/* ---- kafka-txn ------------------------------------------------------------ */

typedef struct {
    const opts_t *o;
    const char *topic;
    int index;
    long records; /* this producer's share */
    int64_t commit_us;
    long commits;
} txn_producer_t;

static atomic_llong first_produce_us;

static void *txn_produce(void *arg) {
    txn_producer_t *tp = arg;
    char id[64], txn_id[128];
    snprintf(id, sizeof(id), "cairn-bench-txn-%d", tp->index);
    snprintf(txn_id, sizeof(txn_id), "%sbench-txn-%d",
             cairn_conf_str(conf, "topic.prefix"), tp->index);
    rd_kafka_t *rk = new_producer(id, txn_id, 5);
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    if (e) {
        snprintf(errstr, sizeof(errstr), "%s", rd_kafka_error_string(e));
        die("init_transactions");
    }
    char *value = malloc((size_t)tp->o->size);
    memset(value, 'x', (size_t)tp->o->size);
    long long zero = 0;
    atomic_compare_exchange_strong(&first_produce_us, &zero, now_us());
    for (long i = 0; i < tp->records;) {
        if ((e = rd_kafka_begin_transaction(rk))) {
            snprintf(errstr, sizeof(errstr), "%s", rd_kafka_error_string(e));
            die("begin_transaction");
        }
        long end = i + tp->o->txn < tp->records ? i + tp->o->txn : tp->records;
        for (; i < end; i++) {
            char key[64];
            int klen = snprintf(key, sizeof(key), "k%d-%ld", tp->index, i);
            for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(tp->topic),
                    RD_KAFKA_V_KEY(key, (size_t)klen),
                    RD_KAFKA_V_VALUE(value, (size_t)tp->o->size),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (!err)
                    break;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    snprintf(errstr, sizeof(errstr), "%s",
                             rd_kafka_err2str(err));
                    die("produce");
                }
                rd_kafka_poll(rk, 5);
            }
            rd_kafka_poll(rk, 0);
        }
        int64_t t0 = now_us();
        if ((e = rd_kafka_commit_transaction(rk, 60000))) {
            snprintf(errstr, sizeof(errstr), "%s", rd_kafka_error_string(e));
            die("commit_transaction");
        }
        tp->commit_us += now_us() - t0;
        tp->commits++;
    }
    free(value);
    rd_kafka_destroy(rk);
    return NULL;
}

static void run_kafka_txn(const opts_t *o) {
    char topic[256];
    cairn_conf_topic(conf, "bench.txn", topic, sizeof(topic));
    /* Create the topic with the cluster's partition count. */
    rd_kafka_conf_t *kc = cairn_kafka_conf_new(conf, "cairn-bench-admin",
                                               errstr, sizeof(errstr));
    if (!kc)
        die("admin configuration");
    rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                     sizeof(errstr));
    if (!admin)
        die("admin");
    cairn_topic_spec_t spec = {"bench.txn", 0, 0, 0};
    if (cairn_kafka_ensure_topics(admin, conf, &spec, 1, 30000, errstr,
                                  sizeof(errstr)))
        die("create topic");
    rd_kafka_destroy(admin);

    int partitions = 0;
    rd_kafka_t *cons = new_tail_consumer(topic, &partitions);
    rd_kafka_message_t *m0 = rd_kafka_consumer_poll(cons, 500);
    if (m0)
        rd_kafka_message_destroy(m0);

    int k = o->producers > 0 ? o->producers : 1;
    txn_producer_t *tp = calloc((size_t)k, sizeof(*tp));
    pthread_t *th = calloc((size_t)k, sizeof(*th));
    double cpu0 = self_cpu_s();
    for (int i = 0; i < k; i++) {
        tp[i].o = o;
        tp[i].topic = topic;
        tp[i].index = i;
        tp[i].records = o->records / k + (i < o->records % k);
        pthread_create(&th[i], NULL, txn_produce, &tp[i]);
    }
    long got = 0;
    int64_t last = 0, deadline = now_us() + 300 * 1000000LL;
    while (got < o->records && now_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
        while (m) {
            if (!m->err) {
                got++;
                last = now_us();
            }
            rd_kafka_message_destroy(m);
            m = got < o->records ? rd_kafka_consumer_poll(cons, 0) : NULL;
        }
    }
    int64_t commit_us = 0;
    long commits = 0;
    for (int i = 0; i < k; i++) {
        pthread_join(th[i], NULL);
        commit_us += tp[i].commit_us;
        commits += tp[i].commits;
    }
    double secs = (double)(last - first_produce_us) / 1e6;
    double cpu = self_cpu_s() - cpu0;
    if (got < o->records) {
        snprintf(errstr, sizeof(errstr), "read back %ld of %ld", got,
                 o->records);
        die("kafka-txn");
    }
    printf("bench: kafka_txn_records_per_sec=%.0f\n", (double)got / secs);
    printf("bench:   detail kafka_txn records=%ld bytes=%d txn=%ld "
           "producers=%d partitions=%d seconds=%.2f commit_avg_ms=%.1f "
           "MB_per_sec=%.1f tool_cpu=%.0f%%\n",
           got, o->size, o->txn, k, partitions, secs,
           commits ? (double)commit_us / commits / 1000.0 : 0,
           (double)got * o->size / secs / 1e6, 100.0 * cpu / secs);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    free(tp);
    free(th);
}

/*
 * kafka-latency: one record per transaction, one at a time: how long a
 * commit takes and how long until a read_committed consumer has the record
 * (from just before produce). The floor of every hop of a workflow.
 */
static void run_kafka_latency(const opts_t *o) {
    char topic[256], id[64], txn_id[128];
    cairn_conf_topic(conf, "bench.txn", topic, sizeof(topic));
    rd_kafka_t *cons = new_tail_consumer(topic, NULL);
    rd_kafka_message_t *m0 = rd_kafka_consumer_poll(cons, 500);
    if (m0)
        rd_kafka_message_destroy(m0);
    snprintf(id, sizeof(id), "cairn-bench-lat");
    snprintf(txn_id, sizeof(txn_id), "%sbench-lat",
             cairn_conf_str(conf, "topic.prefix"));
    rd_kafka_t *rk = new_producer(id, txn_id, 0);
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    if (e) {
        snprintf(errstr, sizeof(errstr), "%s", rd_kafka_error_string(e));
        die("init_transactions");
    }
    long n = o->records;
    int64_t *commit = calloc((size_t)n, sizeof(*commit));
    int64_t *seen = calloc((size_t)n, sizeof(*seen));
    char value[200];
    memset(value, 'x', sizeof(value));
    for (long i = 0; i < n; i++) {
        char key[32];
        int klen = snprintf(key, sizeof(key), "lat-%ld", i);
        int64_t t0 = now_us();
        if ((e = rd_kafka_begin_transaction(rk))) {
            snprintf(errstr, sizeof(errstr), "%s", rd_kafka_error_string(e));
            die("begin_transaction");
        }
        if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(key, (size_t)klen),
                              RD_KAFKA_V_VALUE(value, sizeof(value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END))
            die("produce");
        int64_t t1 = now_us();
        if ((e = rd_kafka_commit_transaction(rk, 30000))) {
            snprintf(errstr, sizeof(errstr), "%s", rd_kafka_error_string(e));
            die("commit_transaction");
        }
        commit[i] = now_us() - t1;
        for (;;) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 1000);
            if (!m) {
                snprintf(errstr, sizeof(errstr), "record %ld not seen", i);
                die("kafka-latency");
            }
            int mine = !m->err && m->key_len == (size_t)klen &&
                       !memcmp(m->key, key, (size_t)klen);
            rd_kafka_message_destroy(m);
            if (mine)
                break;
        }
        seen[i] = now_us() - t0;
    }
    qsort(commit, (size_t)n, sizeof(*commit), cmp_i64);
    qsort(seen, (size_t)n, sizeof(*seen), cmp_i64);
    printf("bench: kafka_txn_commit_p50_ms=%.1f commit_p99_ms=%.1f "
           "visible_p50_ms=%.1f visible_p99_ms=%.1f\n",
           pct_ms(commit, (size_t)n, 0.5), pct_ms(commit, (size_t)n, 0.99),
           pct_ms(seen, (size_t)n, 0.5), pct_ms(seen, (size_t)n, 0.99));
    free(commit);
    free(seen);
    rd_kafka_destroy(rk);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
}

/* ---- idle ------------------------------------------------------------------ */

static void run_idle(const opts_t *o) {
    char events[256], history[256], type[64];
    cairn_conf_topic(conf, "events", events, sizeof(events));
    cairn_conf_topic(conf, "history", history, sizeof(history));
    rd_kafka_t *cons = new_tail_consumer(history, NULL);
    rd_kafka_t *prod = new_producer("cairn-bench", NULL, 5);
    rd_kafka_message_t *m0 = rd_kafka_consumer_poll(cons, 500);
    if (m0)
        rd_kafka_message_destroy(m0);
    size_t plen = strlen(o->prefix);
    char *seen = calloc((size_t)o->workflows, 1);
    long rss0 = o->pid ? vmrss_kb(o->pid) : -1;
    long n = 0, got = 0;
    int64_t t0 = now_us(), deadline = t0 + 600 * 1000000LL;
    while (got < o->workflows && now_us() < deadline) {
        for (int burst = 0; burst < 500 && n < o->workflows; burst++, n++)
            start_workflow(prod, events, o, n);
        rd_kafka_poll(prod, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, n < o->workflows
                                                                 ? 0
                                                                 : 100);
        while (m) {
            if (!m->err) {
                long i = key_index(m, o->prefix, plen);
                if (i >= 0 && i < o->workflows && !seen[i]) {
                    type_of(m, type, sizeof(type));
                    if (!strcmp(type, "WorkflowStarted")) {
                        seen[i] = 1;
                        got++;
                    }
                }
            }
            rd_kafka_message_destroy(m);
            m = rd_kafka_consumer_poll(cons, 0);
        }
    }
    double secs = (double)(now_us() - t0) / 1e6;
    /* Index writes and allocator settling follow the commit closely. */
    sleep(2);
    long rss1 = o->pid ? vmrss_kb(o->pid) : -1;
    rd_kafka_flush(prod, 10000);
    rd_kafka_destroy(prod);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    free(seen);
    if (got < o->workflows) {
        snprintf(errstr, sizeof(errstr), "%ld of %ld started", got,
                 o->workflows);
        die("idle");
    }
    printf("bench:   detail idle workflows=%ld start_rate_per_sec=%.0f "
           "rss_before_kb=%ld rss_after_kb=%ld\n",
           got, (double)got / secs, rss0, rss1);
    if (o->pid && rss0 > 0 && rss1 > 0)
        printf("bench: bytes_per_idle_workflow=%.0f\n",
               (double)(rss1 - rss0) * 1024.0 / (double)got);
}

/* ---- main ------------------------------------------------------------------- */

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: cairn-bench workflows [--type T] [--input JSON]\n"
            "           [--concurrency C | --rate R] [--duration S] "
            "[--warmup S]\n"
            "           [--drain S] [--linger MS] [--id-prefix P] "
            "[--watch NAME=PID]...\n"
            "           [--timeline FILE]\n"
            "       cairn-bench kafka-txn [--records N] [--size B] [--txn N] "
            "[--producers K]\n"
            "       cairn-bench kafka-latency [--records N]\n"
            "       cairn-bench idle [--type T] [--workflows K] [--pid PID] "
            "[--id-prefix P]\n"
            "Kafka and topic prefix come from the usual CAIRN_* settings or "
            "-X name=value.\n");
}

int main(int argc, char **argv) {
    static char prefix[64];
    const char *type = NULL;
    opts_t o = {0};
    o.type = "order";
    o.input = "{\"amount\": 1}";
    o.concurrency = 1;
    o.duration = 15;
    o.warmup = 2;
    o.drain = 30;
    o.linger_ms = 0;
    o.records = 500000;
    o.size = 200;
    o.txn = 1000;
    o.producers = 1;
    o.workflows = 50000;
    snprintf(prefix, sizeof(prefix), "bench%ld-%ld", (long)getpid(),
             (long)time(NULL));
    o.prefix = prefix;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    conf = cairn_conf_new();
    if (!conf || cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "cairn-bench: %s\n", errstr);
        return 2;
    }
    o.mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "cairn-bench: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--type"))
            o.type = type = v;
        else if (!strcmp(a, "--input"))
            o.input = v;
        else if (!strcmp(a, "--id-prefix"))
            o.prefix = v;
        else if (!strcmp(a, "--concurrency"))
            o.concurrency = atol(v);
        else if (!strcmp(a, "--rate"))
            o.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            o.duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            o.warmup = atof(v);
        else if (!strcmp(a, "--drain"))
            o.drain = atof(v);
        else if (!strcmp(a, "--linger"))
            o.linger_ms = atoi(v);
        else if (!strcmp(a, "--records"))
            o.records = atol(v);
        else if (!strcmp(a, "--size"))
            o.size = atoi(v);
        else if (!strcmp(a, "--txn"))
            o.txn = atol(v);
        else if (!strcmp(a, "--producers"))
            o.producers = atoi(v);
        else if (!strcmp(a, "--workflows"))
            o.workflows = atol(v);
        else if (!strcmp(a, "--timeline"))
            o.timeline = v;
        else if (!strcmp(a, "--pid"))
            o.pid = atol(v);
        else if (!strcmp(a, "--watch") && o.nwatch < MAX_WATCH &&
                 strchr(v, '=')) {
            o.watch_name[o.nwatch] = strndup(v, (size_t)(strchr(v, '=') - v));
            o.watch_pid[o.nwatch++] = atol(strchr(v, '=') + 1);
        } else {
            fprintf(stderr, "cairn-bench: unknown argument %s\n", a);
            return 2;
        }
    }
    if (o.concurrency < 1 || o.duration <= 0 || o.records < 1 || o.size < 1 ||
        o.txn < 1 || o.workflows < 1) {
        fprintf(stderr, "cairn-bench: counts and durations must be > 0\n");
        return 2;
    }
    errstr[0] = '\0';
    if (!type && !strcmp(o.mode, "idle"))
        o.type = "bench_idle";
    if (!strcmp(o.mode, "workflows"))
        run_workflows(&o);
    else if (!strcmp(o.mode, "kafka-txn"))
        run_kafka_txn(&o);
    else if (!strcmp(o.mode, "kafka-latency"))
        run_kafka_latency(&o);
    else if (!strcmp(o.mode, "idle"))
        run_idle(&o);
    else {
        usage(stderr);
        return 2;
    }
    for (int w = 0; w < o.nwatch; w++)
        free(o.watch_name[w]);
    cairn_conf_destroy(conf);
    return 0;
}
