/*
 * hello.c — a program outside the tree, built against an installed libcairn
 * with nothing but `pkg-config --cflags --libs cairn` (tests/install). It
 * makes a configuration, a client and a worker without touching the network
 * (librdkafka connects lazily), and checks a few answers of the library.
 */
#include <cairn/cairn.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char errstr[512];
    int rc = 1;
    cairn_client_t *cl = NULL;
    cairn_worker_t *w = NULL;
    cairn_conf_t *conf = cairn_conf_new();
    if (!conf)
        goto out;
    if (cairn_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", errstr,
                       sizeof(errstr)) ||
        cairn_conf_set(conf, "no.such.property", "x", errstr,
                       sizeof(errstr)) != CAIRN_ERR_CONFIG)
        goto out;
    if (!(cl = cairn_client_new(conf, errstr, sizeof(errstr))))
        goto out;
    if (!(w = cairn_worker_new(conf, "hello", errstr, sizeof(errstr))))
        goto out;
    /* Argument checks happen before any I/O. */
    if (cairn_client_start(cl, "order", "", NULL, NULL, errstr,
                           sizeof(errstr)) != CAIRN_ERR_INVALID_ARG)
        goto out;
    printf("hello: %s, %s, retriable=%d\n", cairn_err2name(CAIRN_ERR_TIMEOUT),
           cairn_err2str(CAIRN_ERR_NOT_FOUND),
           cairn_err_is_retriable(CAIRN_ERR_KAFKA));
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "hello: %s\n", errstr);
    cairn_worker_destroy(w);
    cairn_client_destroy(cl);
    cairn_conf_destroy(conf);
    return rc;
}
