/*
 * micro.c — cairn-bench-micro: the CPU cost of each in-process step of the
 * canonical workflow, without Kafka, so that the figures of `make bench`
 * can be split into what Cairn's own code costs and what the log costs.
 *
 *   cairn-bench-micro [--workflows N] [--idle K] [--order FILE]
 *                     [--idle-def FILE]   (run from the repository root)
 *
 * It runs N order workflows (examples/demo/order.json) through exactly the
 * calls a shard and a worker make for them — Avro decode of each input,
 * cairn_engine_step, Avro encode of each output, the state snapshot
 * (cairn_wf_encode + its WorkflowState record), the worker's task decode,
 * activity and result encode — and times each kind of call with the
 * thread's CPU clock, so that other processes on a shared box change the
 * figures little (a few hundred ns per reading, about 2% of the total). Then it decodes every final state as a restore does, and
 * measures the heap held per idle workflow (bench/idle.json after its
 * start) in a workflow map, from mallinfo2().
 *
 * Prints "micro:" lines: microseconds per workflow for each step, records
 * and bytes per workflow by destination, and the implied single-core
 * ceiling of the engine side alone.
 */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "engine.h"
#include "wfmap.h"

enum {
    T_CLIENT_ENCODE, /* StartWorkflow by the client */
    T_DECODE,        /* shard: Avro decode of an input */
    T_STEP,          /* shard: cairn_engine_step */
    T_ENCODE,        /* shard: Avro encode of history/task outputs */
    T_STATE_JSON,    /* shard: cairn_wf_encode (the JSON snapshot) */
    T_STATE_AVRO,    /* shard: Avro encode of the WorkflowState record */
    T_WORKER,        /* worker: decode task, run activity, encode result */
    T_RESTORE,       /* restore: Avro decode + cairn_wf_decode of a state */
    T__N
};

static const char *names[T__N] = {
    "client_encode_start", "shard_avro_decode",  "shard_engine_step",
    "shard_avro_encode",   "shard_state_json",   "shard_state_avro",
    "worker_task_roundtrip", "restore_decode_state"};

static int64_t acc[T__N];
static long records_hist, records_task, records_state, records_in;
static long bytes_hist, bytes_task, bytes_state, bytes_in;

/* CPU time of this thread, ns. */
static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(const char *what, const char *why) {
    fprintf(stderr, "cairn-bench-micro: %s: %s\n", what, why);
    exit(1);
}

static char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail(path, "cannot open");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n)
        fail(path, "cannot read");
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* Codec flags as each side uses them: a shard trusts the JSON of its own
 * outputs and leaves the JSON of its inputs to the engine (and of a state
 * record to cairn_wf_decode); clients and workers check everything. */
static void encode(const cairn_event_t *ev, int flags, void **buf,
                   size_t *len) {
    char errstr[256];
    if (cairn_codec_encode_flags(ev, flags, buf, len, errstr, sizeof(errstr)))
        fail("encode", errstr);
}

static void decode(const cairn_event_t *like, int flags, const void *buf,
                   size_t len, cairn_event_t *out) {
    char errstr[256];
    if (cairn_codec_decode_flags(cairn_event_type_name(like->type),
                                 cairn_codec_fingerprint(like->type), buf, len,
                                 flags, out, errstr, sizeof(errstr)))
        fail("decode", errstr);
}

/* The demo worker's activity: a small JSON result naming the key. */
static char *activity(const cairn_event_t *task) {
    json_t *out = json_pack("{s:b, s:s, s:s, s:i}", "ok", 1, "activity",
                            task->activity_name, "idempotency_key",
                            task->idempotency_key, "attempt", task->attempt);
    char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    return s;
}

/*
 * Applies one encoded input as a shard does; the encoded task outputs are
 * appended to tasks (the caller frees them); *state_out becomes the encoded
 * WorkflowState record.
 */
typedef struct {
    void *buf; /* an encoded ActivityTask, as it sits in tasks.default */
    size_t len;
} task_t;

static void apply(const cairn_registry_t *reg, const cairn_limits_t *lim,
                  cairn_wf_t **wf, const cairn_event_t *like, void *in,
                  size_t inlen, task_t *tasks, size_t *ntasks,
                  char **state_out, size_t *state_len) {
    char errstr[256];
    cairn_outputs_t out;
    cairn_event_t ev;
    cairn_outputs_init(&out);
    int64_t t = now_ns();
    decode(like, CAIRN_CODEC_JSON_UNCHECKED, in, inlen, &ev);
    int64_t t2 = now_ns();
    acc[T_DECODE] += t2 - t;
    records_in++;
    bytes_in += (long)inlen;
    if (cairn_engine_step(reg, lim, wf, &ev, &out, errstr, sizeof(errstr)))
        fail("step", errstr);
    t = now_ns();
    acc[T_STEP] += t - t2;
    for (size_t i = 0; i < out.n; i++) {
        void *buf;
        size_t len;
        encode(&out.v[i].ev, CAIRN_CODEC_JSON_TRUSTED, &buf, &len);
        if (out.v[i].dest == CAIRN_OUT_TASK && *ntasks < 8) {
            records_task++;
            bytes_task += (long)len;
            tasks[*ntasks].buf = buf;
            tasks[(*ntasks)++].len = len;
            continue;
        }
        records_hist += out.v[i].dest == CAIRN_OUT_HISTORY;
        bytes_hist += out.v[i].dest == CAIRN_OUT_HISTORY ? (long)len : 0;
        free(buf);
    }
    t2 = now_ns();
    acc[T_ENCODE] += t2 - t;
    size_t jlen;
    char *json = cairn_wf_encode(*wf, &jlen);
    t = now_ns();
    acc[T_STATE_JSON] += t - t2;
    cairn_event_t st = {0};
    st.type = CAIRN_EV_WORKFLOW_STATE;
    st.workflow_id = (char *)ev.workflow_id;
    st.time_ms = cairn_wf_updated_ms(*wf);
    st.seq = cairn_wf_seq(*wf);
    st.workflow_type = (char *)cairn_wf_type(*wf);
    st.version = cairn_wf_version(*wf);
    st.status = (char *)cairn_wf_status_name(cairn_wf_status(*wf));
    st.fsm_state = (char *)cairn_wf_fsm_state(*wf);
    st.started_ms = cairn_wf_started_ms(*wf);
    st.data = json;
    void *sbuf;
    size_t slen;
    encode(&st, CAIRN_CODEC_JSON_TRUSTED, &sbuf, &slen);
    acc[T_STATE_AVRO] += now_ns() - t;
    records_state++;
    bytes_state += (long)slen;
    free(*state_out);
    *state_out = sbuf;
    *state_len = slen;
    free(json);
    cairn_event_clear(&ev);
    cairn_outputs_free(&out);
}

static cairn_registry_t *registry(const char **files, size_t n) {
    char errstr[512];
    cairn_registry_t *reg = cairn_registry_new();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *json = slurp(files[i], &len);
        cairn_def_t *def = cairn_def_from_json(json, len, errstr,
                                               sizeof(errstr));
        if (!def || cairn_registry_put(reg, def, errstr, sizeof(errstr)))
            fail(files[i], errstr);
        free(json);
    }
    return reg;
}

int main(int argc, char **argv) {
    long n = 20000, idle = 50000;
    const char *files[2] = {"examples/demo/order.json", "bench/idle.json"};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--workflows"))
            n = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle"))
            idle = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--order"))
            files[0] = argv[i + 1];
        else if (!strcmp(argv[i], "--idle-def"))
            files[1] = argv[i + 1];
        else
            fail(argv[i], "unknown argument (--workflows N, --idle K, "
                          "--order FILE, --idle-def FILE)");
    }
    cairn_registry_t *reg = registry(files, 2);
    cairn_limits_t lim = {0};
    char **states = calloc((size_t)n, sizeof(*states));
    size_t *state_lens = calloc((size_t)n, sizeof(*state_lens));
    int64_t t_all = now_ns();

    for (long i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "micro-%ld", i);
        cairn_event_t start = {0};
        start.type = CAIRN_EV_START_WORKFLOW;
        start.workflow_id = id;
        start.request_id = id;
        start.time_ms = 1700000000000 + i;
        start.workflow_type = "order";
        start.input = "{\"amount\": 1}";
        void *buf;
        size_t len;
        int64_t t = now_ns();
        encode(&start, 0, &buf, &len);
        acc[T_CLIENT_ENCODE] += now_ns() - t;

        cairn_wf_t *wf = NULL;
        task_t tasks[8];
        size_t ntasks = 0, done = 0;
        apply(reg, &lim, &wf, &start, buf, len, tasks, &ntasks, &states[i],
              &state_lens[i]);
        free(buf);
        cairn_event_t task_like = {.type = CAIRN_EV_ACTIVITY_TASK};
        while (done < ntasks) {
            task_t *task = &tasks[done++];
            /* The worker: decode its task, run the activity, encode. */
            cairn_event_t dec;
            t = now_ns();
            decode(&task_like, 0, task->buf, task->len, &dec);
            char *result = activity(&dec);
            cairn_event_t r = {0};
            r.type = CAIRN_EV_ACTIVITY_COMPLETED;
            r.workflow_id = dec.workflow_id;
            r.activity_id = dec.activity_id;
            r.attempt = dec.attempt;
            r.time_ms = start.time_ms + 1;
            r.result = result;
            void *rb;
            size_t rl;
            encode(&r, 0, &rb, &rl);
            acc[T_WORKER] += now_ns() - t;
            apply(reg, &lim, &wf, &r, rb, rl, tasks, &ntasks, &states[i],
                  &state_lens[i]);
            free(rb);
            free(task->buf);
            free(result);
            cairn_event_clear(&dec);
        }
        if (cairn_wf_status(wf) != CAIRN_WF_COMPLETED)
            fail(id, "did not complete");
        cairn_wf_destroy(wf);
    }
    double wall_s = (double)(now_ns() - t_all) / 1e9; /* CPU, not wall */

    /* Restore: decode each final state record back into a workflow. */
    cairn_event_t like = {.type = CAIRN_EV_WORKFLOW_STATE};
    int64_t t = now_ns();
    for (long i = 0; i < n; i++) {
        char errstr[256];
        cairn_event_t ev;
        decode(&like, CAIRN_CODEC_JSON_UNCHECKED, states[i], state_lens[i],
               &ev);
        cairn_wf_t *wf = cairn_wf_decode(ev.data, strlen(ev.data), errstr,
                                         sizeof(errstr));
        if (!wf)
            fail("restore", errstr);
        cairn_wf_destroy(wf);
        cairn_event_clear(&ev);
        free(states[i]);
    }
    acc[T_RESTORE] = now_ns() - t;
    free(states);
    free(state_lens);

    double total = 0;
    for (int k = 0; k < T__N; k++) {
        double us = (double)acc[k] / 1000.0 / (double)n;
        if (k != T_RESTORE)
            total += us;
        printf("micro: %-22s %7.2f us/workflow\n", names[k], us);
    }
    double shard = (double)(acc[T_DECODE] + acc[T_STEP] + acc[T_ENCODE] +
                            acc[T_STATE_JSON] + acc[T_STATE_AVRO]) /
                   1000.0 / (double)n;
    printf("micro: shard_total %.2f us/workflow -> %.0f workflows/s per core "
           "(engine side only, no Kafka; a snapshot after every step)\n",
           shard, 1e6 / shard);
    /* A shard snapshots lazily (state.snapshot.interval.ms): under load a
     * short workflow is written once, not after each of its steps. */
    double lazy = shard - (double)(acc[T_STATE_JSON] + acc[T_STATE_AVRO]) *
                              (1.0 - 1.0 / ((double)records_state / n)) /
                              1000.0 / (double)n;
    printf("micro: shard_total_one_snapshot %.2f us/workflow -> %.0f "
           "workflows/s per core (one snapshot per workflow)\n",
           lazy, 1e6 / lazy);
    printf("micro: all_steps %.2f us/workflow; loop cpu %.2f s for %ld\n",
           total, wall_s, n);
    printf("micro: per workflow: inputs=%.1f (%.0f B) history=%.1f (%.0f B) "
           "tasks=%.1f (%.0f B) state=%.1f (%.0f B)\n",
           (double)records_in / n, (double)bytes_in / n,
           (double)records_hist / n, (double)bytes_hist / n,
           (double)records_task / n, (double)bytes_task / n,
           (double)records_state / n, (double)bytes_state / n);

    /* Heap held by idle workflows in a workflow map, as a shard holds them. */
    struct mallinfo2 m0 = mallinfo2();
    cairn_wfmap_t *map = cairn_wfmap_new();
    size_t state_json = 0;
    for (long i = 0; i < idle; i++) {
        char id[64], errstr[256];
        snprintf(id, sizeof(id), "idle-%08ld", i);
        cairn_event_t start = {0};
        start.type = CAIRN_EV_START_WORKFLOW;
        start.workflow_id = id;
        start.request_id = id;
        start.time_ms = 1700000000000 + i;
        start.workflow_type = "bench_idle";
        start.input = "{}";
        cairn_outputs_t out;
        cairn_outputs_init(&out);
        cairn_wf_t *wf = NULL;
        if (cairn_engine_step(reg, &lim, &wf, &start, &out, errstr,
                              sizeof(errstr)) ||
            !wf)
            fail("idle start", errstr);
        if (i == 0) {
            size_t len;
            char *json = cairn_wf_encode(wf, &len);
            state_json = len;
            printf("micro: idle state JSON (%zu B): %s\n", len, json);
            free(json);
        }
        cairn_outputs_free(&out);
        if (cairn_wfmap_put(map, id, wf))
            fail("idle", "wfmap_put");
    }
    struct mallinfo2 m1 = mallinfo2();
    printf("micro: idle heap_bytes_per_workflow=%.0f (state JSON %zu B) over "
           "%ld workflows\n",
           (double)(m1.uordblks - m0.uordblks) / (double)idle, state_json,
           idle);
    cairn_wfmap_destroy(map);
    cairn_registry_destroy(reg);
    return 0;
}
