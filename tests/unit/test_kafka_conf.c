/*
 * test_kafka_conf.c — the librdkafka configuration every Cairn client is
 * built from (sdk/kafka.c): kafka.* properties pass through (compression
 * among them), the state topic's codec (state.compression) is checked and
 * set, and a bad kafka.* property is an error that names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "kafka.h"

/* The value of name in a producer configuration built from `sets`
 * (name=value pairs applied to a fresh conf), copied into out. */
static void producer_value(const char *const *sets, size_t nsets,
                           const char *name, char *out, size_t outsz) {
    char err[256];
    cairn_conf_t *conf = cairn_conf_new();
    assert_non_null(conf);
    for (size_t i = 0; i + 1 < nsets; i += 2)
        assert_int_equal(cairn_conf_set(conf, sets[i], sets[i + 1], err,
                                        sizeof(err)),
                         CAIRN_ERR_OK);
    rd_kafka_conf_t *kc =
        cairn_kafka_producer_conf_new(conf, "test", err, sizeof(err));
    assert_non_null(kc);
    size_t n = outsz;
    assert_int_equal(rd_kafka_conf_get(kc, name, out, &n), RD_KAFKA_CONF_OK);
    rd_kafka_conf_destroy(kc);
    cairn_conf_destroy(conf);
}

static void kafka_properties_pass_through(void **state) {
    (void)state;
    char v[64];
    producer_value(NULL, 0, "partitioner", v, sizeof(v));
    assert_string_equal(v, "murmur2_random");
    producer_value(NULL, 0, "compression.codec", v, sizeof(v));
    assert_string_equal(v, "none"); /* librdkafka's default */
    const char *type[] = {"kafka.compression.type", "zstd"};
    producer_value(type, 2, "compression.codec", v, sizeof(v));
    assert_string_equal(v, "zstd");
    const char *other[] = {"kafka.linger.ms", "7"};
    producer_value(other, 2, "linger.ms", v, sizeof(v));
    assert_string_equal(v, "7");
}

static void the_state_topic_codec(void **state) {
    (void)state;
    char err[256], v[64];
    const char *ok[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        rd_kafka_topic_conf_t *tc =
            cairn_kafka_topic_conf_compression(ok[i], err, sizeof(err));
        assert_non_null(tc);
        size_t n = sizeof(v);
        assert_int_equal(rd_kafka_topic_conf_get(tc, "compression.codec", v,
                                                 &n),
                         RD_KAFKA_CONF_OK);
        assert_string_equal(v, ok[i]);
        rd_kafka_topic_conf_destroy(tc);
    }
    err[0] = '\0';
    assert_null(cairn_kafka_topic_conf_compression("brotli", err, sizeof(err)));
    assert_non_null(strstr(err, "brotli"));
    /* the default */
    cairn_conf_t *conf = cairn_conf_new();
    assert_non_null(conf);
    assert_string_equal(cairn_conf_str(conf, "state.compression"), "lz4");
    cairn_conf_destroy(conf);
}

static void a_bad_kafka_property_is_an_error(void **state) {
    (void)state;
    char err[256] = "";
    cairn_conf_t *conf = cairn_conf_new();
    assert_non_null(conf);
    assert_int_equal(cairn_conf_set(conf, "kafka.no.such.property", "1", err,
                                    sizeof(err)),
                     CAIRN_ERR_OK);
    assert_null(cairn_kafka_producer_conf_new(conf, "test", err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property"));
    cairn_conf_destroy(conf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kafka_properties_pass_through),
        cmocka_unit_test(the_state_topic_codec),
        cmocka_unit_test(a_bad_kafka_property_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
