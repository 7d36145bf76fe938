/*
 * main.c — cairnd: flags, signals, run the node.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "log.h"
#include "node.h"

static cairn_node_t *the_node;

static void on_signal(int sig) {
    (void)sig;
    if (the_node)
        cairn_node_stop(the_node);
}

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: cairnd [--config FILE] [-X name=value]... [--NAME VALUE]...\n"
            "\n"
            "Runs a Cairn shard owner: joins the shard group, restores and\n"
            "advances the workflows of the partitions it is given, and commits\n"
            "every batch in one Kafka transaction. SIGTERM or SIGINT commits\n"
            "the work in flight and stops.\n"
            "\n"
            "Common settings (every property of docs/CONFIGURATION.md works\n"
            "as -X name=value, as --name-with-dashes VALUE, or as CAIRN_NAME):\n"
            "  --bootstrap-servers H:P   Kafka (default 127.0.0.1:19092)\n"
            "  --redis-url URL           Redis (default redis://127.0.0.1:16379)\n"
            "  --partitions N            shard count, fixed per cluster (12)\n"
            "  --node-id ID              static member id (default host name)\n"
            "  --metrics-port PORT       Prometheus endpoint (0 = off)\n"
            "\n"
            "Exit status: 0 after a clean stop, 2 for a bad argument or\n"
            "configuration, 1 for a runtime failure (e.g. Kafka unreachable).\n");
}

int main(int argc, char **argv) {
    char errstr[1024];
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    }
    if (cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "cairnd: %s\n", errstr);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "cairnd: unexpected argument \"%s\" (see cairnd --help)\n",
                argv[1]);
        return 2;
    }
    cairn_log_init("cairnd", cairn_conf_str(conf, "log.level"));
    cairn_node_t *node = cairn_node_new(conf, errstr, sizeof(errstr));
    if (!node) {
        /* logging is set up: one logfmt line, as everything after */
        cairn_log(CAIRN_LOG_ERROR, -1, NULL, "%s", errstr);
        cairn_conf_destroy(conf);
        return 2;
    }
    the_node = node;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cairn_err_t err = cairn_node_run(node);
    the_node = NULL;
    cairn_node_destroy(node);
    cairn_conf_destroy(conf);
    if (err == CAIRN_ERR_CONFIG)
        return 2;
    return err ? 1 : 0;
}
