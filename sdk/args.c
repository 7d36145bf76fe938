/*
 * args.c — configuration flags. A long option --foo-bar VALUE (or
 * --foo-bar=VALUE) maps to the property foo.bar when the table has it; other
 * arguments are left for the program.
 */
#include "args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_property(const cairn_conf_t *conf, const char *name) {
    char probe[256];
    /* cairn_conf_set with an unknown name fails without side effects, but a
     * known one would be set; so test by name through a scratch conf. */
    cairn_conf_t *scratch = cairn_conf_new();
    int ok = scratch && !cairn_conf_set(scratch, name, "0", probe,
                                        sizeof(probe));
    if (scratch && !ok)
        ok = strstr(probe, "unknown property") == NULL;
    cairn_conf_destroy(scratch);
    (void)conf;
    return ok;
}

int cairn_args_conf(cairn_conf_t *conf, int *argcp, char **argv, char *errstr,
                    size_t errstr_size) {
    int argc = *argcp, out = 1;
    char sub[512], name[256];
    const char *file = NULL;
    /* The file comes first so that the environment and flags override it;
     * --config (a flag) names it in preference to CAIRN_CONFIG. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (!file && getenv("CAIRN_CONFIG") && *getenv("CAIRN_CONFIG"))
        file = getenv("CAIRN_CONFIG");
    if (file && cairn_conf_load_file(conf, file, errstr, errstr_size))
        return -1;
    if (cairn_conf_load_env(conf, errstr, errstr_size))
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        if (!strcmp(a, "--")) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                snprintf(errstr, errstr_size, "--config needs a file name");
                return -1;
            }
            i++;
            continue;
        }
        if (!strncmp(a, "--config=", 9))
            continue;
        if (!strcmp(a, "-X") || !strncmp(a, "-X", 2)) {
            const char *kv = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq || eq == kv) {
                snprintf(errstr, errstr_size,
                         "-X needs name=value, e.g. -X "
                         "bootstrap.servers=127.0.0.1:9092");
                return -1;
            }
            snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
            if (cairn_conf_set(conf, name, eq + 1, sub, sizeof(sub))) {
                snprintf(errstr, errstr_size, "-X %s", sub);
                return -1;
            }
            continue;
        }
        if (!strncmp(a, "--", 2) && a[2]) {
            size_t n = 0;
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            for (size_t k = 0; k < len && n + 1 < sizeof(name); k++)
                name[n++] = a[2 + k] == '-' ? '.' : a[2 + k];
            name[n] = '\0';
            if (is_property(conf, name)) {
                value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!value) {
                    snprintf(errstr, errstr_size, "%s needs a value", a);
                    return -1;
                }
                if (cairn_conf_set(conf, name, value, sub, sizeof(sub))) {
                    snprintf(errstr, errstr_size, "%s: %s", a, sub);
                    return -1;
                }
                continue;
            }
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argcp = out;
    return 0;
}
