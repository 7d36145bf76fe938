/*
 * resp.h — Redis commands formatted in the protocol's own encoding (RESP:
 * "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" per argument) into one
 * growing buffer that a shard reuses from batch to batch.
 *
 * hiredis formats each command into strings of its own
 * (redisAppendCommandArgv: an sds per argument, sdscatfmt, a copy into its
 * output buffer, which is allocated afresh for every batch): at saturation
 * that was 41 % of a shard's index phase. Here a batch's commands are
 * written once, into memory the shard keeps, and from there to the socket
 * (index.c); hiredis reads the replies. The bytes are the same as
 * hiredis's (tests/unit/test_resp.c compares them).
 */
#ifndef CAIRN_RESP_H
#define CAIRN_RESP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *p;
    size_t len, cap;
    int failed; /* out of memory since the last reset: the buffer is void */
} cairn_resp_t;

/* Empties the buffer, keeping its memory. */
void cairn_resp_reset(cairn_resp_t *b);
void cairn_resp_free(cairn_resp_t *b);

/* A command of argc arguments; exactly argc argument calls must follow. */
void cairn_resp_cmd(cairn_resp_t *b, int argc);
void cairn_resp_str(cairn_resp_t *b, const char *s);
void cairn_resp_mem(cairn_resp_t *b, const void *s, size_t n);
/* One argument made of the two strings a and b, one after the other. */
void cairn_resp_cat(cairn_resp_t *b, const char *a, const char *s);
/* The decimal text of v, as redis expects numbers. */
void cairn_resp_int(cairn_resp_t *b, int64_t v);

#endif
