/*
 * demo_worker.c — cairn-worker-demo: the activities of the demo workflows,
 * written with the C SDK. Each activity returns at once with a small JSON
 * result that names the idempotency key it was given, so a test can see that
 * the key is stable across attempts.
 *
 *   cairn-worker-demo [--task-queue Q] [--fail ACTIVITY[:N]]...
 *                     [--bad-result ACTIVITY]...
 *
 * --fail makes ACTIVITY fail its first N attempts (default: always), to show
 * retries and compensation. --bad-result makes ACTIVITY return a result
 * that is not JSON, as a buggy activity might: the worker reports it as an
 * ActivityFailed InvalidResult instead.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cairn.h"
#include "log.h"

typedef struct {
    char name[128];
    int attempts; /* fail attempts <= attempts; 0 = always */
} failspec_t;

static failspec_t fails[16];
static int nfails;
static cairn_worker_t *the_worker;

static void on_signal(int sig) {
    (void)sig;
    if (the_worker)
        cairn_worker_stop(the_worker);
}

/*
 * heartbeat_demo: a long activity that stays alive by heartbeating. Input
 * {"ms": total run time, "every": heartbeat period}; it sleeps in steps of
 * `every` ms (the work being simulated) and heartbeats after each step.
 */
static cairn_err_t heartbeat_demo(const cairn_activity_t *act, char **result,
                                  char **error_type, char **error_message) {
    json_t *in = act->input ? json_loads(act->input, 0, NULL) : NULL;
    long total = in ? (long)json_integer_value(json_object_get(in, "ms")) : 0;
    long every = in ? (long)json_integer_value(json_object_get(in, "every"))
                    : 0;
    json_decref(in);
    if (every <= 0)
        every = 100;
    int beats = 0;
    char errstr[256], details[64];
    for (long done = 0; done < total; done += every) {
        struct timespec ts = {every / 1000, (every % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* the simulated work */
        snprintf(details, sizeof(details), "{\"done_ms\":%ld}", done + every);
        if (cairn_activity_heartbeat(act, details, errstr, sizeof(errstr))) {
            *error_type = strdup("HeartbeatFailed");
            *error_message = strdup(errstr);
            return CAIRN_ERR_KAFKA;
        }
        beats++;
    }
    json_t *out = json_pack("{s:b, s:i}", "ok", 1, "heartbeats", beats);
    *result = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    return CAIRN_ERR_OK;
}

/* --bad-result ACTIVITY: that activity returns a result that is not JSON. */
static char bad[16][128];
static int nbad;

static cairn_err_t activity(const cairn_activity_t *act, void *opaque,
                            char **result, char **error_type,
                            char **error_message, int *non_retryable) {
    (void)opaque;
    (void)non_retryable;
    for (int i = 0; i < nfails; i++) {
        if (strcmp(fails[i].name, act->activity_name))
            continue;
        if (!fails[i].attempts || act->attempt <= fails[i].attempts) {
            *error_type = strdup("DemoFailure");
            *error_message = strdup("failing on purpose (--fail)");
            return CAIRN_ERR_INTERNAL;
        }
    }
    for (int i = 0; i < nbad; i++)
        if (!strcmp(bad[i], act->activity_name)) {
            /* What a buggy activity might return: not JSON. */
            *result = strdup("{not json");
            return *result ? CAIRN_ERR_OK : CAIRN_ERR_NOMEM;
        }
    if (!strcmp(act->activity_name, "heartbeat_demo"))
        return heartbeat_demo(act, result, error_type, error_message);
    json_t *out = json_pack("{s:b, s:s, s:s, s:i}", "ok", 1, "activity",
                            act->activity_name, "idempotency_key",
                            act->idempotency_key, "attempt", act->attempt);
    *result = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    return CAIRN_ERR_OK;
}

static const char *names[] = {
    "charge_card",   "reserve_inventory", "ship_order",  "refund_card",
    "release_inventory", "send_email",    "notify",      "echo",
    "validate",      "provision",         "approve_request", "archive",
    "send_approval_request", "send_reminder", "process_page",
    "heartbeat_demo",
};

int main(int argc, char **argv) {
    char errstr[1024];
    const char *queue = NULL;
    cairn_conf_t *conf = cairn_conf_new();
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: cairn-worker-demo [--task-queue Q] "
                   "[--fail ACTIVITY[:N]]... [--bad-result ACTIVITY]... "
                   "[-X name=value]...\n");
            return 0;
        }
    if (!conf || cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "cairn-worker-demo: %s\n", errstr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fail") && i + 1 < argc && nfails < 16) {
            const char *spec = argv[++i], *colon = strchr(spec, ':');
            snprintf(fails[nfails].name, sizeof(fails[nfails].name), "%.*s",
                     colon ? (int)(colon - spec) : (int)strlen(spec), spec);
            fails[nfails].attempts = colon ? atoi(colon + 1) : 0;
            nfails++;
        } else if (!strcmp(argv[i], "--bad-result") && i + 1 < argc &&
                   nbad < 16) {
            snprintf(bad[nbad++], sizeof(bad[0]), "%s", argv[++i]);
        } else {
            fprintf(stderr,
                    "cairn-worker-demo: unexpected argument \"%s\" (see "
                    "--help)\n",
                    argv[i]);
            return 2;
        }
    }
    queue = cairn_conf_str(conf, "task.queue");
    cairn_log_init("worker", cairn_conf_str(conf, "log.level"));
    cairn_worker_t *w = cairn_worker_new(conf, queue, errstr, sizeof(errstr));
    if (!w) {
        fprintf(stderr, "cairn-worker-demo: %s\n", errstr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cairn_worker_register(w, names[i], activity, NULL);
    the_worker = w;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    cairn_err_t err = cairn_worker_run(w, errstr, sizeof(errstr));
    if (err)
        fprintf(stderr, "cairn-worker-demo: %s\n", errstr);
    the_worker = NULL;
    cairn_worker_destroy(w);
    cairn_conf_destroy(conf);
    return err ? 1 : 0;
}
