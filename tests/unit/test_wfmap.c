/*
 * test_wfmap.c — the shard's workflow map: put/get/replace/delete across
 * growth, backward-shift deletion keeping probes intact, borrowed maps, and
 * maps of closed workflows at rest (their encoded state, decoded again on
 * demand into the very same workflow).
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

/* A closed workflow's state, as cairn_wf_encode() writes it. */
static const char CLOSED[] =
    "{\"acts\":[],\"canceling\":0,\"format\":1,\"id\":\"%s\","
    "\"input\":{\"n\":%d},\"request_ids\":[\"r-%d\"],\"run\":1,"
    "\"run_seq\":1,\"runs\":{\"pay\":1},\"saga\":[],\"seq\":6,"
    "\"signals\":[],\"start_request_id\":\"r-%d\",\"started_ms\":1000,"
    "\"state\":\"done\",\"status\":\"completed\",\"timer_gen\":0,"
    "\"timers\":[],\"type\":\"order\",\"updated_ms\":%d,"
    "\"vars\":{\"paid\":true},\"version\":1}";

static void frozen_workflows_decode_to_the_same_state(void **state) {
    (void)state;
    cairn_wfmap_t *m = cairn_wfmap_new_frozen();
    char id[32], text[1024], err[256];
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "wf-%d", i);
        int n = snprintf(text, sizeof(text), CLOSED, id, i, i, i, 2000 + i);
        cairn_wf_t *wf = cairn_wf_decode(text, (size_t)n, err, sizeof(err));
        assert_non_null(wf);
        size_t len;
        char *enc = cairn_wf_encode(wf, &len);
        assert_string_equal(enc, text); /* the fixture is canonical */
        cairn_frozen_t *f = cairn_frozen_new(enc, len, cairn_wf_updated_ms(wf));
        assert_non_null(f);
        assert_int_equal(cairn_wfmap_put_frozen(m, id, f), 0);
        cairn_wf_destroy(wf);
        free(enc);
    }
    /* Replacing and deleting free the old values (valgrind checks). */
    int n = snprintf(text, sizeof(text), CLOSED, "wf-7", 7, 7, 7, 9999);
    assert_int_equal(
        cairn_wfmap_put_frozen(m, "wf-7", cairn_frozen_new(text, (size_t)n, 9999)),
        0);
    cairn_wfmap_del(m, "wf-8");
    assert_int_equal(cairn_wfmap_count(m), N - 1);
    assert_null(cairn_wfmap_get_frozen(m, "wf-8"));

    size_t pos = 0, seen = 0;
    const char *k;
    cairn_frozen_t *f;
    while ((f = cairn_wfmap_next_frozen(m, &pos, &k))) {
        int i = atoi(k + 3);
        int want_ms = i == 7 ? 9999 : 2000 + i;
        assert_int_equal(f->updated_ms, want_ms);
        assert_int_equal(f->len, strlen(f->data));
        cairn_wf_t *wf = cairn_wf_decode(f->data, f->len, err, sizeof(err));
        assert_non_null(wf);
        assert_string_equal(cairn_wf_id(wf), k);
        assert_int_equal(cairn_wf_status(wf), CAIRN_WF_COMPLETED);
        assert_int_equal(cairn_wf_updated_ms(wf), want_ms);
        char *enc = cairn_wf_encode(wf, NULL);
        assert_string_equal(enc, f->data);
        free(enc);
        cairn_wf_destroy(wf);
        seen++;
    }
    assert_int_equal(seen, N - 1);
    cairn_wfmap_clear(m);
    assert_int_equal(cairn_wfmap_count(m), 0);
    cairn_wfmap_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_keys_survive_growth_and_deletes),
        cmocka_unit_test(replace_and_clear),
        cmocka_unit_test(frozen_workflows_decode_to_the_same_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
