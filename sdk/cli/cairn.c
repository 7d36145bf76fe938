/*
 * cairn.c — the command-line client.
 *
 * Every command is a thin layer over libcairn (cairn.h): parse, call, print.
 * Output is a table for people or, with --output json, one JSON document on
 * stdout; errors always go to stderr as one sentence that says what to do.
 * Exit codes are part of the interface (README, docs/CLI.md, `cairn --help`):
 *   0 ok · 1 runtime error (Kafka/Redis unreachable, refused) · 2 bad usage
 *   3 not found · 4 timed out · 5 workflow ended without completing
 *   6 invalid workflow definition · 7 replay diverged
 *
 * Configuration: defaults < the config file (--config FILE, else the file
 * named by CAIRN_CONFIG) < the environment (CAIRN_*) < flags (-X name=value
 * and the long options of properties), applied in that order by args.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "clock.h"
#include "cairn.h"
#include "eventjson.h"
#include "log.h"

enum {
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 2,
    EXIT_NOTFOUND = 3,
    EXIT_TIMEOUT = 4,
    EXIT_NOTCOMPLETED = 5,
    EXIT_DEFINITION = 6,
    EXIT_DIVERGED = 7
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
"  signal-with-start TYPE --id ID --signal NAME [--payload JSON]\n"
"        [--input JSON] [--version N] [--request-id R]\n"
"        [--signal-request-id R]      start the workflow unless it exists,\n"
"                                     then signal it\n"
"  cancel ID [--reason TEXT]          ask a workflow to cancel (runs its\n"
"                                     cancel path)\n"
"  terminate ID [--reason TEXT]       end a workflow at once\n"
"  describe ID                        status, state and result\n"
"  history ID                         the ordered events of a workflow\n"
"  list [--status S] [--type T] [--since 1h|30m|2d] [--limit N]\n"
"                                     workflows, newest first (S: running,\n"
"                                     completed, failed, canceled,\n"
"                                     terminated, continued_as_new)\n"
"  await ID [--timeout SECONDS]       wait until a workflow ends (default\n"
"                                     60 s)\n"
"  replay ID [--definition FILE]      re-run the history through the engine\n"
"                                     with the published definition (or\n"
"                                     FILE) and report the first divergence\n"
"  definitions put FILE...            validate and publish JSON definitions\n"
"  definitions list                   list published type@version\n"
"  config-doc                         print docs/CONFIGURATION.md\n"
"\n"
"Global flags (anywhere on the line):\n"
"  --output table|json                output format (default table)\n"
"  --bootstrap-servers H:P            Kafka (env CAIRN_BOOTSTRAP_SERVERS)\n"
"  --redis-url redis://H:P            Redis (env CAIRN_REDIS_URL)\n"
"  --partitions N                     the cluster's partition count\n"
"  --topic-prefix P                   topic prefix (default cairn.)\n"
"  --config FILE                      a file of name = value lines\n"
"  -X name=value                      any property of docs/CONFIGURATION.md\n"
"  -h, --help                         this text\n"
"\n"
"Configuration precedence, highest first: flags, the environment\n"
"(CAIRN_<NAME>), the config file (--config, else $CAIRN_CONFIG), defaults.\n"
"\n"
"Exit status:\n"
"  0  ok\n"
"  1  runtime error: Kafka or Redis unreachable, request refused\n"
"  2  bad usage: the message says what to do\n"
"  3  not found: no such workflow, history or definition\n"
"  4  timed out (await, --await)\n"
"  5  the workflow ended without completing (failed, canceled, terminated)\n"
"  6  invalid workflow definition\n"
"  7  replay diverged from the recorded history\n");
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
    case CAIRN_ERR_CONFIG:
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
        if (!strcmp(a, "--"))
            break;
        if (!strcmp(a, name)) {
            if (i + 1 >= *argc) {
                fprintf(stderr,
                        "%s: %s needs a value\nRun 'cairn --help' for "
                        "usage.\n",
                        prog, name);
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

/*
 * After options are taken, anything left that starts with - is unknown and
 * at most max_pos positional arguments may remain ("--" ends options).
 */
static int check_leftovers(int *argc, char **argv, int from, int max_pos) {
    int pos = 0, options = 1;
    for (int i = from; i < *argc; i++) {
        if (options && !strcmp(argv[i], "--")) {
            memmove(&argv[i], &argv[i + 1],
                    (size_t)(*argc - i) * sizeof(char *));
            (*argc)--;
            i--;
            options = 0;
            continue;
        }
        if (options && argv[i][0] == '-' && argv[i][1])
            return fail_usage("unknown option \"%s\" for this command",
                              argv[i]);
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

/* "90s", "30m", "1h", "2d", "1w" -> ms; -1 if malformed. */
static int64_t parse_duration(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > 100000000LL || !end[0] || end[1])
        return -1;
    switch (*end) {
    case 's': return v * 1000;
    case 'm': return v * 60 * 1000;
    case 'h': return v * 3600 * 1000;
    case 'd': return v * 86400 * 1000;
    case 'w': return v * 7 * 86400 * 1000;
    default: return -1;
    }
}

/* Prints v as JSON and drops the reference. */
static void print_json(json_t *v) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(v);
}

/* A JSON text from the library as a value (a string if it does not parse). */
static json_t *json_or_string(const char *text) {
    if (!text)
        return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

static void fmt_time(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

static char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!fp)
        return NULL;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb)
                goto err;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(fp))
        goto err;
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
err:
    free(buf);
    fclose(fp);
    return NULL;
}

/* Prints a workflow's end; 0 if it completed, else EXIT_NOTCOMPLETED. */
static int print_outcome(const char *id, const char *status,
                         const char *result) {
    if (json_output)
        print_json(json_pack("{s:s, s:s, s:o}", "workflow_id", id, "status",
                             status, "result", json_or_string(result)));
    else
        printf("%s %s %s\n", id, status, result ? result : "null");
    return strcmp(status, "completed") ? EXIT_NOTCOMPLETED : 0;
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
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s", "start needs a workflow TYPE, e.g. cairn "
                                "start order --id order-1 --input '{}'");
    if (!id)
        return fail_usage("%s", "start needs --id ID (the workflow id), e.g. "
                                "cairn start order --id order-1");
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
            print_json(json_pack("{s:s, s:s, s:b}", "workflow_id", id, "type",
                                 argv[2], "started", 1));
        else
            printf("started %s (%s)\n", id, argv[2]);
        return 0;
    }
    char *status = NULL, *result = NULL;
    err = cairn_client_await(cl, id, (int)await_s * 1000, &status, &result,
                             errstr, sizeof(errstr));
    if (err)
        return report(err, errstr);
    rc = print_outcome(id, status, result);
    free(status);
    free(result);
    return rc;
}

static int cmd_signal(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    int bad = 0;
    const char *payload = take_opt(&argc, argv, 2, "--payload", &bad);
    const char *rid = take_opt(&argc, argv, 2, "--request-id", &bad);
    if (bad)
        return EXIT_USAGE;
    int rc = check_leftovers(&argc, argv, 2, 2);
    if (rc)
        return rc;
    if (argc < 4)
        return fail_usage("%s", "signal needs ID and NAME, e.g. cairn signal "
                                "order-1 approve --payload '{\"ok\":true}'");
    cairn_err_t err = cairn_client_signal(cl, argv[2], argv[3], payload, rid,
                                          errstr, sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (json_output)
        print_json(json_pack("{s:s, s:s, s:b}", "workflow_id", argv[2],
                             "signal", argv[3], "sent", 1));
    else
        printf("signaled %s: %s\n", argv[2], argv[3]);
    return 0;
}

static int cmd_signal_with_start(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    int bad = 0;
    const char *id = take_opt(&argc, argv, 2, "--id", &bad);
    const char *signal = take_opt(&argc, argv, 2, "--signal", &bad);
    const char *payload = take_opt(&argc, argv, 2, "--payload", &bad);
    const char *input = take_opt(&argc, argv, 2, "--input", &bad);
    const char *ver = take_opt(&argc, argv, 2, "--version", &bad);
    const char *rid = take_opt(&argc, argv, 2, "--request-id", &bad);
    const char *srid = take_opt(&argc, argv, 2, "--signal-request-id", &bad);
    long version = 0;
    if (bad)
        return EXIT_USAGE;
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s", "signal-with-start needs a workflow TYPE, "
                                "e.g. cairn signal-with-start approval --id "
                                "a-1 --signal approve --payload '{}'");
    if (!id)
        return fail_usage("%s", "signal-with-start needs --id ID (the "
                                "workflow id)");
    if (!signal)
        return fail_usage("%s", "signal-with-start needs --signal NAME (the "
                                "signal to send)");
    if (ver && parse_int(ver, 1, 1000000, &version))
        return fail_usage("--version must be a positive integer, not \"%s\"",
                          ver);
    cairn_start_opts_t opts = {(int)version, rid, NULL};
    cairn_err_t err = cairn_client_signal_with_start(
        cl, argv[2], id, input, &opts, signal, payload, srid, errstr,
        sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (json_output)
        print_json(json_pack("{s:s, s:s, s:s, s:b}", "workflow_id", id, "type",
                             argv[2], "signal", signal, "sent", 1));
    else
        printf("signaled %s: %s (started as %s unless it existed)\n", id,
               signal, argv[2]);
    return 0;
}

static int cmd_end(cairn_client_t *cl, int argc, char **argv, int terminate) {
    char errstr[1024];
    int bad = 0;
    const char *reason = take_opt(&argc, argv, 2, "--reason", &bad);
    if (bad)
        return EXIT_USAGE;
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s needs a workflow ID, e.g. cairn %s order-1 "
                          "--reason 'customer asked'",
                          argv[1]);
    cairn_err_t err =
        terminate
            ? cairn_client_terminate(cl, argv[2], reason, errstr, sizeof(errstr))
            : cairn_client_cancel(cl, argv[2], reason, errstr, sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (json_output)
        print_json(json_pack("{s:s, s:s}", "workflow_id", argv[2], "requested",
                             terminate ? "terminate" : "cancel"));
    else
        printf("%s requested for %s\n", terminate ? "terminate" : "cancel",
               argv[2]);
    return 0;
}

static int cmd_describe(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024], *json = NULL;
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s", "describe needs a workflow ID, e.g. cairn "
                                "describe order-1");
    cairn_err_t err = cairn_client_describe(cl, argv[2], &json, errstr,
                                            sizeof(errstr));
    if (err)
        return report(err, errstr);
    json_t *o = json_loads(json, 0, NULL);
    free(json);
    if (!o)
        return report(CAIRN_ERR_INTERNAL, "describe returned malformed JSON");
    if (json_output) {
        print_json(o);
        return 0;
    }
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
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s", "history needs a workflow ID, e.g. cairn "
                                "history order-1");
    cairn_err_t err = cairn_client_history(cl, argv[2], &evs, &n, errstr,
                                           sizeof(errstr));
    if (err)
        return report(err, errstr);
    if (json_output) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, cairn_event_to_json(&evs[i]));
        print_json(arr);
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

static int cmd_list(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024], *json = NULL;
    int bad = 0;
    const char *status = take_opt(&argc, argv, 2, "--status", &bad);
    const char *type = take_opt(&argc, argv, 2, "--type", &bad);
    const char *since = take_opt(&argc, argv, 2, "--since", &bad);
    const char *limit = take_opt(&argc, argv, 2, "--limit", &bad);
    long lim = 100;
    int64_t since_ms = 0;
    if (bad)
        return EXIT_USAGE;
    int rc = check_leftovers(&argc, argv, 2, 0);
    if (rc)
        return rc;
    if (since && (since_ms = parse_duration(since)) < 0)
        return fail_usage("--since takes a duration such as 90s, 30m, 1h, 2d "
                          "or 1w, not \"%s\"",
                          since);
    if (limit && parse_int(limit, 1, 100000, &lim))
        return fail_usage("--limit takes a number of rows (1..100000), not "
                          "\"%s\"",
                          limit);
    cairn_list_opts_t opts = {status, type,
                              since ? cairn_wall_ms() - since_ms : 0, (size_t)lim};
    cairn_err_t err = cairn_client_list(cl, &opts, &json, errstr,
                                        sizeof(errstr));
    if (err)
        return report(err, errstr);
    json_t *arr = json_loads(json, 0, NULL);
    free(json);
    if (!arr)
        return report(CAIRN_ERR_INTERNAL, "list returned malformed JSON");
    if (json_output) {
        print_json(arr);
        return 0;
    }
    size_t i, wid = 2, wtype = 4;
    json_t *row;
    json_array_foreach(arr, i, row) {
        size_t a = strlen(json_string_value(json_object_get(row,
                                                            "workflow_id")));
        size_t b = strlen(json_string_value(json_object_get(row, "type")));
        wid = a > wid ? a : wid;
        wtype = b > wtype ? b : wtype;
    }
    printf("%-*s  %-*s  %-16s  %s\n", (int)wid, "ID", (int)wtype, "TYPE",
           "STATUS", "STARTED");
    json_array_foreach(arr, i, row) {
        char tb[64];
        fmt_time(json_integer_value(json_object_get(row, "started_ms")), tb,
                 sizeof(tb));
        printf("%-*s  %-*s  %-16s  %s\n", (int)wid,
               json_string_value(json_object_get(row, "workflow_id")),
               (int)wtype, json_string_value(json_object_get(row, "type")),
               json_string_value(json_object_get(row, "status")), tb);
    }
    json_decref(arr);
    return 0;
}

static int cmd_await(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024], *status = NULL, *result = NULL;
    int bad = 0;
    long secs = 60;
    const char *t = take_opt(&argc, argv, 2, "--timeout", &bad);
    if (bad)
        return EXIT_USAGE;
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s", "await needs a workflow ID, e.g. cairn await "
                                "order-1 --timeout 30");
    if (t && parse_int(t, 1, 86400 * 7, &secs))
        return fail_usage("--timeout takes seconds (1..604800), not \"%s\"",
                          t);
    cairn_err_t err = cairn_client_await(cl, argv[2], (int)secs * 1000,
                                         &status, &result, errstr,
                                         sizeof(errstr));
    if (err)
        return report(err, errstr);
    rc = print_outcome(argv[2], status, result);
    free(status);
    free(result);
    return rc;
}

static int cmd_replay(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024], *def = NULL;
    int bad = 0;
    size_t len;
    cairn_replay_result_t res;
    const char *file = take_opt(&argc, argv, 2, "--definition", &bad);
    if (bad)
        return EXIT_USAGE;
    int rc = check_leftovers(&argc, argv, 2, 1);
    if (rc)
        return rc;
    if (argc < 3)
        return fail_usage("%s", "replay needs a workflow ID, e.g. cairn "
                                "replay order-1 [--definition order-v2.json]");
    if (file && !(def = read_file(file, &len)))
        return fail_usage("cannot read the definition file \"%s\"; check "
                          "the path",
                          file);
    cairn_err_t err = cairn_client_replay(cl, argv[2], def, &res, errstr,
                                          sizeof(errstr));
    free(def);
    if (err)
        return report(err, errstr);
    if (json_output) {
        json_t *o = json_pack("{s:s, s:I, s:b}", "workflow_id", argv[2],
                              "events", (json_int_t)res.events, "matches",
                              res.diverged_seq == 0);
        if (res.diverged_seq) {
            json_object_set_new(o, "diverged_seq",
                                json_integer(res.diverged_seq));
            json_object_set_new(o, "detail", json_string(res.detail));
        }
        print_json(o);
    } else if (!res.diverged_seq) {
        printf("replay: %s matches %zu events\n", argv[2], res.events);
    } else {
        printf("replay: %s diverges at seq %lld: %s\n", argv[2],
               (long long)res.diverged_seq, res.detail);
    }
    return res.diverged_seq ? EXIT_DIVERGED : 0;
}

static int cmd_definitions(cairn_client_t *cl, int argc, char **argv) {
    char errstr[1024];
    if (argc < 3)
        return fail_usage("%s", "definitions needs put FILE... or list, e.g. "
                                "cairn definitions put order.json");
    if (!strcmp(argv[2], "list")) {
        char *json = NULL;
        int rc = check_leftovers(&argc, argv, 3, 0);
        if (rc)
            return rc;
        cairn_err_t err = cairn_client_list_definitions(cl, &json, errstr,
                                                        sizeof(errstr));
        if (err)
            return report(err, errstr);
        json_t *arr = json_loads(json, 0, NULL);
        free(json);
        if (!arr)
            return report(CAIRN_ERR_INTERNAL,
                          "definitions list returned malformed JSON");
        if (json_output) {
            print_json(arr);
            return 0;
        }
        size_t i;
        json_t *v;
        printf("%-32s  %s\n", "TYPE", "VERSION");
        json_array_foreach(arr, i, v) {
            printf("%-32s  %lld\n",
                   json_string_value(json_object_get(v, "type")),
                   (long long)json_integer_value(json_object_get(v, "version")));
        }
        json_decref(arr);
        return 0;
    }
    if (strcmp(argv[2], "put"))
        return fail_usage("unknown definitions command \"%s\" (use put "
                          "FILE... or list)",
                          argv[2]);
    int rc = check_leftovers(&argc, argv, 3, 1000);
    if (rc)
        return rc;
    if (argc < 4)
        return fail_usage("%s", "definitions put needs one or more FILEs, "
                                "e.g. cairn definitions put order.json");
    json_t *done = json_array();
    for (int i = 3; i < argc; i++) {
        size_t len;
        char *json = read_file(argv[i], &len), *key = NULL;
        if (!json) {
            json_decref(done);
            return fail_usage("cannot read \"%s\"; check the path", argv[i]);
        }
        cairn_err_t err = cairn_client_put_definition(cl, json, len, &key,
                                                      errstr, sizeof(errstr));
        free(json);
        if (err) {
            json_decref(done);
            fprintf(stderr, "%s: %s: %s\n", prog, argv[i], errstr);
            return exit_for(err);
        }
        if (json_output)
            json_array_append_new(done, json_pack("{s:s, s:s}", "file",
                                                  argv[i], "definition", key));
        else
            printf("published %s from %s\n", key, argv[i]);
        free(key);
    }
    if (json_output)
        print_json(done);
    else
        json_decref(done);
    return 0;
}

/* ---- main --------------------------------------------------------------- */

typedef int (*cmd_fn)(cairn_client_t *cl, int argc, char **argv);

static int cmd_cancel(cairn_client_t *cl, int argc, char **argv) {
    return cmd_end(cl, argc, argv, 0);
}

static int cmd_terminate(cairn_client_t *cl, int argc, char **argv) {
    return cmd_end(cl, argc, argv, 1);
}

static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {"start", cmd_start},         {"signal", cmd_signal},
    {"signal-with-start", cmd_signal_with_start},
    {"cancel", cmd_cancel},       {"terminate", cmd_terminate},
    {"describe", cmd_describe},   {"history", cmd_history},
    {"list", cmd_list},           {"await", cmd_await},
    {"replay", cmd_replay},       {"definitions", cmd_definitions},
};

int main(int argc, char **argv) {
    char errstr[1024];
    int rc = EXIT_USAGE, bad = 0;
    cairn_conf_t *conf = NULL;
    cairn_client_t *cl = NULL;
    cmd_fn fn = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) /* no global flag after -- */
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
            (i == 1 && !strcmp(argv[i], "help"))) {
            usage(stdout);
            return 0;
        }
    }
    if (!(conf = cairn_conf_new())) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = EXIT_RUNTIME;
        goto out;
    }
    const char *output = take_opt(&argc, argv, 1, "--output", &bad);
    if (bad)
        goto out;
    if (output) {
        if (!strcmp(output, "json")) {
            json_output = 1;
        } else if (strcmp(output, "table")) {
            rc = fail_usage("--output must be table or json, not \"%s\"",
                            output);
            goto out;
        }
    }
    if (cairn_args_conf(conf, &argc, argv, errstr, sizeof(errstr))) {
        rc = fail_usage("%s", errstr);
        goto out;
    }
    if (argc < 2) {
        usage(stderr);
        goto out;
    }
    /* The CLI reports errors itself; the library logs only on request. */
    cairn_log_init("cairn", getenv("CAIRN_LOG_LEVEL")
                                ? cairn_conf_str(conf, "log.level")
                                : "none");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "config-doc")) {
        cairn_conf_write_markdown(stdout);
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(cmd, commands[i].name))
            fn = commands[i].fn;
    if (!fn) {
        rc = fail_usage("unknown command \"%s\"", cmd);
        goto out;
    }
    if (!(cl = cairn_client_new(conf, errstr, sizeof(errstr)))) {
        rc = fail_usage("%s", errstr);
        goto out;
    }
    rc = fn(cl, argc, argv);
out:
    cairn_client_destroy(cl);
    cairn_conf_destroy(conf);
    return rc;
}
