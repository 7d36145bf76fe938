/*
 * publish.h — what the example programs (cairn-example-order-saga,
 * cairn-example-approval) share: validate a builder's definition, then
 * print it (--print) or publish it to the definitions topic.
 */
#ifndef CAIRN_EXAMPLE_PUBLISH_H
#define CAIRN_EXAMPLE_PUBLISH_H

#include "cairn.h"
#include "cairn_builder.h"

/*
 * Builds b (reporting the engine's message on stderr if it is invalid);
 * with print, writes the JSON to stdout; otherwise publishes it with
 * cairn_client_put_definition() using conf and prints "published
 * TYPE@VERSION". Returns the exit status: 0, 1 (Kafka unreachable or
 * refused) or 6 (invalid definition). b and conf stay the caller's.
 */
int example_publish(const char *prog, const cairn_wfb_t *b,
                    const cairn_conf_t *conf, int print);

/* Parses a non-negative integer option value; -1 if it is not one. */
long long example_number(const char *s);

#endif
