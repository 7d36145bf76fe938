/*
 * main.c — cairn-timers: flags, signals, run the service.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "log.h"
#include "service.h"

static cairn_timers_service_t *the_service;

static void on_signal(int sig) {
    (void)sig;
    if (the_service)
        cairn_timers_service_stop(the_service);
}

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: cairn-timers [--config FILE] [-X name=value]... "
            "[--NAME VALUE]...\n"
            "\n"
            "Runs the Cairn timer service: claims due timers from the Redis\n"
            "sorted sets cairn:timers:{p} (p = 0..partitions-1) with a lease,\n"
            "produces a TimerFired event for each (idempotent producer,\n"
            "acks=all) and removes the entry after its delivery report.\n"
            "Several instances may run against the same Redis. SIGTERM or\n"
            "SIGINT stops claiming, delivers what was claimed and exits (a\n"
            "second signal stops waiting for deliveries).\n"
            "\n"
            "Common settings (every property of docs/CONFIGURATION.md works\n"
            "as -X name=value, --name-with-dashes VALUE, or CAIRN_NAME):\n"
            "  --bootstrap-servers H:P  Kafka (127.0.0.1:19092)\n"
            "  --redis-url URL          Redis (redis://127.0.0.1:16379)\n"
            "  --topic-prefix PREFIX    topic prefix (cairn.)\n"
            "  --partitions N           shard count of the cluster (12)\n"
            "  --timers-lease-ms MS     lease of a claimed timer (10000)\n"
            "  --timers-scan-max N      claims per partition per round (500)\n"
            "  --timers-idle-max-ms MS  longest sleep between looks (1000)\n"
            "  --timers-inflight-max N  most undelivered TimerFired (20000)\n"
            "  --node-id ID             client id suffix (host name)\n"
            "  --metrics-port PORT      Prometheus /metrics, /healthz (0 = off)\n"
            "  --log-level LEVEL        debug, info, warn, error (info)\n"
            "\n"
            "See docs/TIMERS.md. Exit status: 0 after a clean stop, 2 for a\n"
            "bad argument or configuration, 1 for a runtime failure.\n");
}

int main(int argc, char **argv) {
    char errstr[1024];
    cairn_err_t err = CAIRN_ERR_OK;
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            cairn_conf_destroy(conf);
            return 0;
        }
    }
    if (cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "cairn-timers: %s\n", errstr);
        cairn_conf_destroy(conf);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr,
                "cairn-timers: unexpected argument \"%s\" (see cairn-timers "
                "--help)\n",
                argv[1]);
        cairn_conf_destroy(conf);
        return 2;
    }
    cairn_log_init("cairn-timers", cairn_conf_str(conf, "log.level"));
    cairn_timers_service_t *svc =
        cairn_timers_service_new(conf, &err, errstr, sizeof(errstr));
    if (!svc) {
        /* logging is set up: one logfmt line, as everything after */
        cairn_log(CAIRN_LOG_ERROR, -1, NULL, "%s", errstr);
        cairn_conf_destroy(conf);
        return err == CAIRN_ERR_CONFIG ? 2 : 1;
    }
    the_service = svc;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    err = cairn_timers_service_run(svc);
    the_service = NULL;
    cairn_timers_service_destroy(svc);
    cairn_conf_destroy(conf);
    return err ? 1 : 0;
}
