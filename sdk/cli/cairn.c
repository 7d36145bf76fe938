/*
 * cairn.c — the command-line client.
 *
 * Every command is a thin layer over libcairn (cairn.h). Exit codes are part
 * of the interface (documented in README and `cairn --help`):
 *   0 ok · 1 runtime error (Kafka/Redis unreachable, refused) · 2 bad usage
 *   3 not found · 4 timed out · 5 workflow ended without completing
 *   6 invalid workflow definition
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cairn.h"
#include "eventjson.h"
#include "log.h"

enum {
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 2,
    EXIT_NOTFOUND = 3,
    EXIT_TIMEOUT = 4,
    EXIT_NOTCOMPLETED = 5,
    EXIT_DEFINITION = 6
};

static const char *prog = "cairn";
static int json_output;

static void usage(FILE *fp) {
    fprintf(fp,
"usage: cairn [GLOBAL FLAGS] COMMAND [ARGS]\n"
"\n"
"Commands:\n"
"  start TYPE --id ID [--input JSON] [--version N] [--request-id R]\n"
"        [--policy reject_duplicate|use_existing|terminate_existing]\n"
"        [--await SECONDS]            start a workflow\n"
"  signal ID NAME [--payload JSON] [--request-id R]\n"
"                                     send a signal to a workflow\n"
"  cancel ID [--reason TEXT]          ask a workflow to cancel (runs its\n"
"                                     cancel path)\n"
"  terminate ID [--reason TEXT]       end a workflow at once\n"
"  describe ID                        status, state and result\n"
"  history ID                         the ordered events of a workflow\n"
"  await ID [--timeout SECONDS]       wait until a workflow ends\n"
"  definitions put FILE...            validate and publish JSON definitions\n"
"  definitions list                   list published type@version\n"
"  config-doc                         print docs/CONFIGURATION.md\n"
"\n"
"Global flags:\n"
"  --output table|json                output format (default table)\n"
"  --bootstrap-servers H:P            Kafka (env CAIRN_BOOTSTRAP_SERVERS)\n"
"  --redis-url redis://H:P            Redis (env CAIRN_REDIS_URL)\n"
"  --partitions N                     the cluster's partition count\n"
"  --config FILE, -X name=value       any property of docs/CONFIGURATION.md\n"
"  -h, --help                         this text\n"
"\n"
"Exit status: 0 ok, 1 runtime error (Kafka or Redis unreachable), 2 bad\n"
"usage, 3 not found, 4 timed out, 5 workflow ended without completing,\n"
"6 invalid workflow definition.\n");
}

static int fail_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'cairn --help' for usage.\n");
    return EXIT_USAGE;
}

static int exit_for(cairn_err_t err) {
    switch (err) {
    case CAIRN_ERR_OK:
        return 0;
    case CAIRN_ERR_INVALID_ARG:
        return EXIT_USAGE;
    case CAIRN_ERR_NOT_FOUND:
        return EXIT_NOTFOUND;
    case CAIRN_ERR_TIMEOUT:
        return EXIT_TIMEOUT;
    case CAIRN_ERR_DEFINITION:
        return EXIT_DEFINITION;
    default:
        return EXIT_RUNTIME;
    }
}

static int report(cairn_err_t err, const char *errstr) {
    if (err)
        fprintf(stderr, "%s: %s\n", prog, errstr);
    return exit_for(err);
}

/* Finds --name VALUE / --name=VALUE in argv[from..]; removes both. */
static const char *take_opt(int *argc, char **argv, int from,
                            const char *name, int *bad) {
    size_t n = strlen(name);
    for (int i = from; i < *argc; i++) {
        const char *a = argv[i], *v = NULL;
        int used = 0;
        if (!strcmp(a, name)) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, name);
                *bad = 1;
                return NULL;
            }
            v = argv[i + 1];
            used = 2;
        } else if (!strncmp(a, name, n) && a[n] == '=') {
            v = a + n + 1;
            used = 1;
        } else {
            continue;
        }
        memmove(&argv[i], &argv[i + used],
                (size_t)(*argc - i - used + 1) * sizeof(char *));
        *argc -= used;
        return v;
    }
    return NULL;
}

/* After options are taken, anything left that starts with -- is unknown. */
static int check_leftovers(int argc, char **argv, int from, int max_pos) {
    int pos = 0;
    for (int i = from; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1])
            return fail_usage("unknown option \"%s\"", argv[i]);
        if (++pos > max_pos)
            return fail_usage("unexpected argument \"%s\"", argv[i]);
    }
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void print_json(json_t *v) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (s) {
        puts(s);
        free(s);
    }
}

static void fmt_time(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_start(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    int bad = 0;
    const char *id = take_opt(&argc, argv, 2, "--id", &bad);
    const char *input = take_opt(&argc, argv, 2, "--input", &bad);
    const char *ver = take_opt(&argc, argv, 2, "--version", &bad);
    const char *rid = take_opt(&argc, argv, 2, "--request-id", &bad);
    const char *policy = take_opt(&argc, argv, 2, "--policy", &bad);
    const char *await = take_opt(&argc, argv, 2, "--await", &bad);
    long version = 0, await_s = 0;
    if (bad)
        return EXIT_USAGE;
    if (argc < 3)
        return fail_usage("%s", "start needs a workflow TYPE, e.g. cairn "
                                "start order --id order-1 --input '{}'");
    int rc = check_leftovers(argc, argv, 2, 1);
    if (rc)
        return rc;
    if (!id)
        return fail_usage("%s", "start needs --id ID (the workflow id)");
    if (ver && parse_int(ver, 1, 1000000, &version))
        return fail_usage("--version must be a positive integer, not \"%s\"",
                          ver);
    if (await && parse_int(await, 1, 86400, &await_s))
        return fail_usage("--await takes seconds (1..86400), not \"%s\"",
                          await);
    cairn_start_opts_t opts = {(int)version, rid, policy};
    cairn_err_t err = cairn_client_start(cl, argv[2], id, input, &opts,
                                         errstr, sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (!await) {
        if (json_output)
            printf("{\"workflow_id\":\"%s\",\"started\":true}\n", id);
        else
            printf("started %s (%s)\n", id, argv[2]);
        return 0;
    }
    char *status = NULL, *result = NULL;
    err = cairn_client_await(cl, id, (int)await_s * 1000, &status, &result,
                             errstr, sizeof(errstr));
    if (err)
        return report(err, errstr);
    printf("%s %s %s\n", id, status, result ? result : "null");
    int code = strcmp(status, "completed") ? EXIT_NOTCOMPLETED : 0;
    free(status);
    free(result);
    return code;
}

static int cmd_signal(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    int bad = 0;
    const char *payload = take_opt(&argc, argv, 2, "--payload", &bad);
    const char *rid = take_opt(&argc, argv, 2, "--request-id", &bad);
    if (bad)
        return EXIT_USAGE;
    if (argc < 4)
        return fail_usage("%s", "signal needs ID and NAME, e.g. cairn signal "
                                "order-1 approve --payload '{\"ok\":true}'");
    int rc = check_leftovers(argc, argv, 2, 2);
    if (rc)
        return rc;
    cairn_err_t err = cairn_client_signal(cl, argv[2], argv[3], payload, rid,
                                          errstr, sizeof(errstr));
    if (!err)
        printf("signaled %s: %s\n", argv[2], argv[3]);
    return report(err, errstr);
}

static int cmd_end(cairn_client_t *cl, int argc, char **argv, int terminate) {
    char errstr[1024];
    int bad = 0;
    const char *reason = take_opt(&argc, argv, 2, "--reason", &bad);
    if (bad)
        return EXIT_USAGE;
    if (argc < 3)
        return fail_usage("%s needs a workflow ID", argv[1]);
    int rc = check_leftovers(argc, argv, 2, 1);
    if (rc)
        return rc;
    cairn_err_t err =
        terminate
            ? cairn_client_terminate(cl, argv[2], reason, errstr, sizeof(errstr))
            : cairn_client_cancel(cl, argv[2], reason, errstr, sizeof(errstr));
    if (!err)
        printf("%s requested for %s\n", terminate ? "terminate" : "cancel",
               argv[2]);
    return report(err, errstr);
}

static int cmd_describe(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024], *json = NULL;
    if (argc < 3)
        return fail_usage("%s", "describe needs a workflow ID");
    int rc = check_leftovers(argc, argv, 2, 1);
    if (rc)
        return rc;
    cairn_err_t err = cairn_client_describe(cl, argv[2], &json, errstr,
                                            sizeof(errstr));
    if (err)
        return report(err, errstr);
    json_t *o = json_loads(json, 0, NULL);
    free(json);
    if (!o)
        return EXIT_RUNTIME;
    if (json_output) {
        print_json(o);
    } else {
        const char *key;
        json_t *v;
        char tb[64];
        json_object_foreach(o, key, v) {
            if (json_is_integer(v) && strstr(key, "_ms")) {
                fmt_time(json_integer_value(v), tb, sizeof(tb));
                printf("%-12s %s\n", key, tb);
            } else if (json_is_string(v)) {
                printf("%-12s %s\n", key, json_string_value(v));
            } else {
                char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                printf("%-12s %s\n", key, s ? s : "");
                free(s);
            }
        }
    }
    json_decref(o);
    return 0;
}

/* A one-line summary of the fields that matter for a history row. */
static void details(const cairn_event_t *ev, char *buf, size_t size) {
    json_t *o = cairn_event_to_json(ev);
    const char *drop[] = {"type", "workflow_id", "seq", "time_ms"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        json_object_del(o, drop[i]);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(buf, size, "%s", s ? s : "");
    free(s);
    json_decref(o);
}

static int cmd_history(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    cairn_event_t *evs = NULL;
    size_t n = 0;
    if (argc < 3)
        return fail_usage("%s", "history needs a workflow ID");
    int rc = check_leftovers(argc, argv, 2, 1);
    if (rc)
        return rc;
    cairn_err_t err = cairn_client_history(cl, argv[2], &evs, &n, errstr,
                                           sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (json_output) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, cairn_event_to_json(&evs[i]));
        print_json(arr);
        json_decref(arr);
    } else {
        char tb[64], det[4096];
        printf("%-4s  %-24s  %-22s  %s\n", "SEQ", "TIME", "EVENT", "DETAILS");
        for (size_t i = 0; i < n; i++) {
            fmt_time(evs[i].time_ms, tb, sizeof(tb));
            details(&evs[i], det, sizeof(det));
            printf("%-4lld  %-24s  %-22s  %s\n", (long long)evs[i].seq, tb,
                   cairn_event_type_name(evs[i].type), det);
        }
    }
    cairn_events_free(evs, n);
    return 0;
}

static int cmd_await(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024], *status = NULL, *result = NULL;
    int bad = 0;
    long secs = 60;
    const char *t = take_opt(&argc, argv, 2, "--timeout", &bad);
    if (bad)
        return EXIT_USAGE;
    if (argc < 3)
        return fail_usage("%s", "await needs a workflow ID");
    int rc = check_leftovers(argc, argv, 2, 1);
    if (rc)
        return rc;
    if (t && parse_int(t, 1, 86400 * 7, &secs))
        return fail_usage("--timeout takes seconds, not \"%s\"", t);
    cairn_err_t err = cairn_client_await(cl, argv[2], (int)secs * 1000,
                                         &status, &result, errstr,
                                         sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (json_output)
        printf("{\"workflow_id\":\"%s\",\"status\":\"%s\",\"result\":%s}\n",
               argv[2], status, result ? result : "null");
    else
        printf("%s %s %s\n", argv[2], status, result ? result : "null");
    rc = strcmp(status, "completed") ? EXIT_NOTCOMPLETED : 0;
    free(status);
    free(result);
    return rc;
}

static char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (r == 0)
            break;
    }
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int cmd_definitions(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    if (argc < 3)
        return fail_usage("%s", "definitions needs put FILE... or list");
    if (!strcmp(argv[2], "list")) {
        char *json = NULL;
        int rc = check_leftovers(argc, argv, 3, 0);
        if (rc)
            return rc;
        cairn_err_t err = cairn_client_list_definitions(cl, &json, errstr,
                                                        sizeof(errstr));
        if (err)
            return report(err, errstr);
        json_t *arr = json_loads(json, 0, NULL);
        free(json);
        if (json_output) {
            print_json(arr);
        } else {
            size_t i;
            json_t *v;
            printf("%-32s  %s\n", "TYPE", "VERSION");
            json_array_foreach(arr, i, v) {
                printf("%-32s  %lld\n",
                       json_string_value(json_object_get(v, "type")),
                       (long long)json_integer_value(
                           json_object_get(v, "version")));
            }
        }
        json_decref(arr);
        return 0;
    }
    if (strcmp(argv[2], "put"))
        return fail_usage("unknown definitions command \"%s\" (use put or "
                          "list)",
                          argv[2]);
    if (argc < 4)
        return fail_usage("%s", "definitions put needs one or more FILEs");
    int rc = check_leftovers(argc, argv, 3, 1000);
    if (rc)
        return rc;
    for (int i = 3; i < argc; i++) {
        size_t len;
        char *json = read_file(argv[i], &len), *key = NULL;
        if (!json) {
            fprintf(stderr, "%s: cannot read %s\n", prog, argv[i]);
            return EXIT_USAGE;
        }
        cairn_err_t err = cairn_client_put_definition(cl, json, len, &key,
                                                      errstr, sizeof(errstr));
        free(json);
        if (err) {
            fprintf(stderr, "%s: %s: %s\n", prog, argv[i], errstr);
            return exit_for(err);
        }
        printf("published %s from %s\n", key, argv[i]);
        free(key);
    }
    return 0;
}

int main(int argc, char **argv) {
    char errstr[1024];
    int rc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) /* no global flag after -- */
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
            (i == 1 && !strcmp(argv[i], "help"))) {
            usage(stdout);
            return 0;
        }
    }
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf)
        return EXIT_RUNTIME;
    const char *output = NULL;
    int bad = 0;
    if ((output = take_opt(&argc, argv, 1, "--output", &bad))) {
        if (!strcmp(output, "json"))
            json_output = 1;
        else if (strcmp(output, "table")) {
            cairn_conf_destroy(conf);
            return fail_usage("--output must be table or json, not \"%s\"",
                              output);
        }
    }
    if (bad || cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        if (!bad)
            fprintf(stderr, "%s: %s\n", prog, errstr);
        cairn_conf_destroy(conf);
        return EXIT_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        cairn_conf_destroy(conf);
        return EXIT_USAGE;
    }
    /* The CLI reports errors itself; client library logs only on request. */
    cairn_log_init("cairn", getenv("CAIRN_LOG_LEVEL") ? cairn_conf_str(conf, "log.level") : "none");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "config-doc")) {
        cairn_conf_write_markdown(stdout);
        cairn_conf_destroy(conf);
        return 0;
    }
    static const char *known[] = {"start",    "signal",  "cancel",
                                  "terminate", "describe", "history",
                                  "await",    "definitions"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= !strcmp(cmd, known[i]);
    if (!ok) {
        cairn_conf_destroy(conf);
        return fail_usage("unknown command \"%s\"", cmd);
    }
    cairn_client_t *cl = cairn_client_new(conf, errstr, sizeof(errstr));
    if (!cl) {
        fprintf(stderr, "%s: %s\n", prog, errstr);
        cairn_conf_destroy(conf);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "start"))
        rc = cmd_start(cl, argc, argv);
    else if (!strcmp(cmd, "signal"))
        rc = cmd_signal(cl, argc, argv);
    else if (!strcmp(cmd, "cancel"))
        rc = cmd_end(cl, argc, argv, 0);
    else if (!strcmp(cmd, "terminate"))
        rc = cmd_end(cl, argc, argv, 1);
    else if (!strcmp(cmd, "describe"))
        rc = cmd_describe(cl, argc, argv);
    else if (!strcmp(cmd, "history"))
        rc = cmd_history(cl, argc, argv);
    else if (!strcmp(cmd, "await"))
        rc = cmd_await(cl, argc, argv);
    else
        rc = cmd_definitions(cl, argc, argv);
    cairn_client_destroy(cl);
    cairn_conf_destroy(conf);
    return rc;
}
