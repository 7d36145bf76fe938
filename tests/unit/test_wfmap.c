/*
 * test_wfmap.c — the shard's workflow map: put/get/replace/delete across
 * growth (also while a full table hands its entries over to a larger one),
 * backward-shift deletion keeping probes intact, borrowed maps, and
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

/* Checks the whole map against the model: every key's presence and value,
 * the count, and a walk (no stores during it) that sees each key once. */
static void check_model(cairn_wfmap_t *m, const int *val, int nkeys,
                        int present) {
    char id[32];
    for (int k = 0; k < nkeys; k++) {
        snprintf(id, sizeof(id), "k-%d", k);
        if (val[k] >= 0) {
            assert_true(cairn_wfmap_has(m, id));
            assert_ptr_equal(cairn_wfmap_get(m, id), FAKE(val[k]));
        } else {
            assert_false(cairn_wfmap_has(m, id));
        }
    }
    assert_int_equal(cairn_wfmap_count(m), present);
    unsigned char *seen = calloc((size_t)nkeys, 1);
    assert_non_null(seen);
    size_t pos = 0, walked = 0;
    const char *k;
    while (cairn_wfmap_next(m, &pos, &k)) {
        int i = atoi(k + 2);
        assert_true(i >= 0 && i < nkeys && val[i] >= 0);
        assert_int_equal(seen[i]++, 0);
        walked++;
    }
    assert_int_equal(walked, present);
    free(seen);
}

/*
 * Random puts, replacements and deletes against a model, the map growing
 * (and its tables handing over entries a few slots at a time) several times
 * over; after each operation the key it touched and another at random are
 * checked, and the whole map every 1,000 operations (so also while a
 * handover is under way).
 */
static void incremental_growth_matches_a_model(void **state) {
    (void)state;
    enum { NKEYS = 150000, OPS = 300000 };
    cairn_wfmap_t *m = cairn_wfmap_new_borrowed();
    int *val = malloc(NKEYS * sizeof(int));
    assert_non_null(val);
    for (int k = 0; k < NKEYS; k++)
        val[k] = -1;
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    int present = 0;
    char id[32];
    for (int op = 1; op <= OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* mostly puts early (growth), balanced later */
        int k = (int)(x % (uint64_t)(op < OPS / 2 ? NKEYS : NKEYS / 2));
        int del = (x >> 32) % 100 < (op < OPS / 2 ? 15 : 50);
        snprintf(id, sizeof(id), "k-%d", k);
        if (del) {
            cairn_wfmap_del(m, id);
            present -= val[k] >= 0;
            val[k] = -1;
            assert_false(cairn_wfmap_has(m, id));
        } else {
            assert_int_equal(cairn_wfmap_put(m, id, FAKE(op)), 0);
            present += val[k] < 0;
            val[k] = op;
            assert_ptr_equal(cairn_wfmap_get(m, id), FAKE(op));
        }
        /* and one other key, at random */
        int r = (int)((x >> 17) % NKEYS);
        snprintf(id, sizeof(id), "k-%d", r);
        assert_int_equal(cairn_wfmap_has(m, id), val[r] >= 0);
        if (val[r] >= 0)
            assert_ptr_equal(cairn_wfmap_get(m, id), FAKE(val[r]));
        if (op % 1000 == 0)
            check_model(m, val, NKEYS, present);
    }
    check_model(m, val, NKEYS, present);
    cairn_wfmap_clear(m);
    assert_int_equal(cairn_wfmap_count(m), 0);
    snprintf(id, sizeof(id), "k-%d", 1);
    assert_false(cairn_wfmap_has(m, id));
    cairn_wfmap_destroy(m);
    free(val);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_keys_survive_growth_and_deletes),
        cmocka_unit_test(replace_and_clear),
        cmocka_unit_test(incremental_growth_matches_a_model),
        cmocka_unit_test(frozen_workflows_decode_to_the_same_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
