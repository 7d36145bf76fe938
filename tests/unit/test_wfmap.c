/*
 * test_wfmap.c — the shard's workflow map: put/get/replace/delete across
 * growth, backward-shift deletion keeping probes intact, borrowed maps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wfmap.h"

/* Borrowed maps never dereference values: fake pointers are fine. */
#define FAKE(i) ((cairn_wf_t *)(uintptr_t)(0x1000 + (i)))

static void many_keys_survive_growth_and_deletes(void **state) {
    (void)state;
    cairn_wfmap_t *m = cairn_wfmap_new_borrowed();
    char id[32];
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "wf-%d", i);
        assert_int_equal(cairn_wfmap_put(m, id, FAKE(i)), 0);
    }
    assert_int_equal(cairn_wfmap_count(m), N);
    for (int i = 0; i < N; i += 2) { /* delete every other key */
        snprintf(id, sizeof(id), "wf-%d", i);
        cairn_wfmap_del(m, id);
    }
    assert_int_equal(cairn_wfmap_count(m), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "wf-%d", i);
        if (i % 2) {
            assert_ptr_equal(cairn_wfmap_get(m, id), FAKE(i));
            assert_true(cairn_wfmap_has(m, id));
        } else {
            assert_null(cairn_wfmap_get(m, id));
            assert_false(cairn_wfmap_has(m, id));
        }
    }
    size_t pos = 0, seen = 0;
    const char *k;
    while (cairn_wfmap_next(m, &pos, &k))
        seen++;
    assert_int_equal(seen, N / 2);
    cairn_wfmap_destroy(m);
}

static void replace_and_clear(void **state) {
    (void)state;
    cairn_wfmap_t *m = cairn_wfmap_new_borrowed();
    assert_int_equal(cairn_wfmap_put(m, "a", FAKE(1)), 0);
    assert_int_equal(cairn_wfmap_swap(m, "a", FAKE(2)), 0);
    assert_ptr_equal(cairn_wfmap_get(m, "a"), FAKE(2));
    assert_int_equal(cairn_wfmap_count(m), 1);
    assert_int_equal(cairn_wfmap_put(m, "b", NULL), 0);
    assert_true(cairn_wfmap_has(m, "b"));
    cairn_wfmap_clear(m);
    assert_int_equal(cairn_wfmap_count(m), 0);
    assert_false(cairn_wfmap_has(m, "a"));
    cairn_wfmap_destroy(m);
    cairn_wfmap_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_keys_survive_growth_and_deletes),
        cmocka_unit_test(replace_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
