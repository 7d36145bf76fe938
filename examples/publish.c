/*
 * publish.c — see publish.h.
 */
#include "publish.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int example_publish(const char *prog, const cairn_wfb_t *b,
                    const cairn_conf_t *conf, int print) {
    char errstr[1024], *json = NULL, *key = NULL;
    cairn_client_t *cl = NULL;
    cairn_def_t *def;
    int rc = 1;
    if (!b) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    /* The builder's sticky error or the engine's own validation message. */
    if (!(def = cairn_wfb_build(b, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%s: invalid definition: %s\n", prog, errstr);
        return 6;
    }
    cairn_def_destroy(def);
    if (!(json = cairn_wfb_to_json(b, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%s: %s\n", prog, errstr);
        return 1;
    }
    if (print) {
        printf("%s\n", json);
        rc = 0;
        goto out;
    }
    if (!(cl = cairn_client_new(conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%s: %s\n", prog, errstr);
        goto out;
    }
    cairn_err_t err = cairn_client_put_definition(cl, json, strlen(json), &key,
                                                  errstr, sizeof(errstr));
    if (err) {
        fprintf(stderr, "%s: %s\n", prog, errstr);
        rc = err == CAIRN_ERR_DEFINITION ? 6 : 1;
        goto out;
    }
    printf("published %s\n", key);
    rc = 0;
out:
    free(key);
    free(json);
    cairn_client_destroy(cl);
    return rc;
}

long long example_number(const char *s) {
    char *end;
    long long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return -1;
    return v;
}
