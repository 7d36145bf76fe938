/*
 * test_resp.c — the shard's own RESP formatting gives, byte for byte, what
 * hiredis's redisFormatCommandArgv gives for the same arguments: strings of
 * every length (empty, binary, with CR LF inside), numbers at the int64
 * limits, many commands in one reused buffer, and concatenated arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "resp.h"

/* Appends hiredis's formatting of argv to *ref (a growing buffer). */
static void ref_cmd(char **ref, size_t *reflen, int argc, const char **argv,
                    const size_t *lens) {
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    assert_true(n > 0);
    *ref = realloc(*ref, *reflen + (size_t)n);
    assert_non_null(*ref);
    memcpy(*ref + *reflen, cmd, (size_t)n);
    *reflen += (size_t)n;
    free(cmd);
}

static void same_bytes_as_hiredis(void **state) {
    (void)state;
    cairn_resp_t b = {0};
    char *ref = NULL;
    size_t reflen = 0;
    const char bin[] = {'a', '\0', '\r', '\n', 'z'};
    const char *argv[] = {"HSET", "cairn:wf:x", "", bin, "seq", "0"};
    size_t lens[] = {4, 10, 0, sizeof(bin), 3, 1};
    cairn_resp_cmd(&b, 6);
    cairn_resp_str(&b, "HSET");
    cairn_resp_str(&b, "cairn:wf:x");
    cairn_resp_str(&b, "");
    cairn_resp_mem(&b, bin, sizeof(bin));
    cairn_resp_str(&b, "seq");
    cairn_resp_int(&b, 0);
    ref_cmd(&ref, &reflen, 6, argv, lens);

    /* Numbers: the decimal text redis parses, at both int64 limits. */
    int64_t nums[] = {1, -1, 9, 10, 1700000000000LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)nums[i]);
        const char *a[] = {"ZADD", "k", num, "m"};
        size_t l[] = {4, 1, strlen(num), 1};
        cairn_resp_cmd(&b, 4);
        cairn_resp_str(&b, "ZADD");
        cairn_resp_str(&b, "k");
        cairn_resp_int(&b, nums[i]);
        cairn_resp_str(&b, "m");
        ref_cmd(&ref, &reflen, 4, a, l);
    }

    /* Long arguments make the buffer grow several times over. */
    size_t big = 100000;
    char *s = malloc(big + 1);
    assert_non_null(s);
    for (size_t i = 0; i < big; i++)
        s[i] = (char)('a' + i % 26);
    s[big] = '\0';
    const char *a2[] = {"PUBLISH", "cairn:closed:wf", s};
    size_t l2[] = {7, 15, big};
    cairn_resp_cmd(&b, 3);
    cairn_resp_str(&b, "PUBLISH");
    cairn_resp_cat(&b, "cairn:closed:", "wf");
    cairn_resp_str(&b, s);
    ref_cmd(&ref, &reflen, 3, a2, l2);
    free(s);

    assert_false(b.failed);
    assert_int_equal(b.len, reflen);
    assert_memory_equal(b.p, ref, reflen);

    /* A reset buffer keeps its memory and starts again from nothing. */
    size_t cap = b.cap;
    cairn_resp_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    cairn_resp_cmd(&b, 1);
    cairn_resp_cat(&b, "", "");
    assert_int_equal(b.len, strlen("*1\r\n$0\r\n\r\n"));
    assert_memory_equal(b.p, "*1\r\n$0\r\n\r\n", b.len);

    free(ref);
    cairn_resp_free(&b);
    assert_null(b.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_bytes_as_hiredis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
