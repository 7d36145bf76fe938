/*
 * main.c — cairn-example-approval: builds the approval workflow with the C
 * builder (approval.c) and publishes it to the definitions topic, like
 * `cairn definitions put examples/approval/approval.json` does for the JSON
 * form (with no options the two publish the same body).
 *
 *   cairn-example-approval [--version N] [--timeout-ms MS]
 *                          [--escalation-timeout-ms MS] [--print]
 *                          [--bootstrap-servers H:P] [-X name=value]...
 */
#include <stdio.h>
#include <string.h>

#include "../publish.h"
#include "approval.h"
#include "args.h"

static const char *prog = "cairn-example-approval";

static int usage(FILE *fp, int rc) {
    fprintf(fp,
            "usage: %s [--version N] [--timeout-ms MS] "
            "[--escalation-timeout-ms MS] [--print] [-X name=value]...\n"
            "Builds the approval workflow in C and publishes it (or prints "
            "its JSON with --print).\n",
            prog);
    return rc;
}

int main(int argc, char **argv) {
    char errstr[1024];
    approval_opts_t opts = {0, 0, 0};
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
        } else if (!strcmp(a, "--timeout-ms") &&
                   (v = example_number(val)) >= 1) {
            opts.timeout_ms = v, i++;
        } else if (!strcmp(a, "--escalation-timeout-ms") &&
                   (v = example_number(val)) >= 1) {
            opts.escalation_timeout_ms = v, i++;
        } else {
            fprintf(stderr, "%s: bad argument \"%s\"\n", prog, a);
            cairn_conf_destroy(conf);
            return usage(stderr, 2);
        }
    }
    cairn_wfb_t *b = approval_definition(&opts);
    rc = example_publish(prog, b, conf, print);
    cairn_wfb_destroy(b);
    cairn_conf_destroy(conf);
    return rc;
}
