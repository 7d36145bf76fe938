/*
 * main.c — cairn-example-order-saga: builds order-saga with the C builder
 * (order_saga.c) and publishes it to the definitions topic, like
 * `cairn definitions put examples/order-saga/order-saga.json` does for the
 * JSON form (with no options the two publish the same body, so running both
 * is harmless: the second put is a no-op).
 *
 *   cairn-example-order-saga [--version N] [--default-queue Q]
 *                            [--approval-timeout-ms MS] [--print]
 *                            [--bootstrap-servers H:P] [-X name=value]...
 */
#include <stdio.h>
#include <string.h>

#include "../publish.h"
#include "args.h"
#include "order_saga.h"

static const char *prog = "cairn-example-order-saga";

static int usage(FILE *fp, int rc) {
    fprintf(fp,
            "usage: %s [--version N] [--default-queue Q] "
            "[--approval-timeout-ms MS] [--print] [-X name=value]...\n"
            "Builds the order-saga workflow in C and publishes it (or prints "
            "its JSON with --print).\n",
            prog);
    return rc;
}

int main(int argc, char **argv) {
    char errstr[1024];
    order_saga_opts_t opts = {0, NULL, 0};
    int print = 0, rc;
    long long v;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout, 0);
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf || cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "%s: %s\n", prog, conf ? errstr : "out of memory");
        cairn_conf_destroy(conf);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--print")) {
            print = 1;
        } else if (!strcmp(a, "--version") && (v = example_number(val)) >= 1 &&
                   v <= 1000000) {
            opts.version = (int)v, i++;
        } else if (!strcmp(a, "--default-queue") && val) {
            opts.task_queue = val, i++;
        } else if (!strcmp(a, "--approval-timeout-ms") &&
                   (v = example_number(val)) >= 1) {
            opts.approval_timeout_ms = v, i++;
        } else {
            fprintf(stderr, "%s: bad argument \"%s\"\n", prog, a);
            cairn_conf_destroy(conf);
            return usage(stderr, 2);
        }
    }
    cairn_wfb_t *b = order_saga_definition(&opts);
    rc = example_publish(prog, b, conf, print);
    cairn_wfb_destroy(b);
    cairn_conf_destroy(conf);
    return rc;
}
