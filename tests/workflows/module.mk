# tests/workflows/: the workflow conformance suite (one cmocka program over
# the engine core, cases listed in tests/workflows/cases.h) and the
# end-to-end runs of the examples (tests/workflows/test_examples_e2e.py);
# tests/workflows/run.sh runs both. The examples' definition code is
# compiled in, to compare the C front end with the JSON files.
CF_SRCS := $(wildcard tests/workflows/*.c) examples/order-saga/order_saga.c \
           examples/approval/approval.c
CF_BIN  := $(BUILD)/tests/cairn-conformance
$(CF_BIN): $(CF_SRCS) tests/workflows/cf.h tests/workflows/cases.h \
           tests/unit/test_engine_helpers.h $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $(CF_SRCS) $(BUILD)/lib/libcairn.a $(LDLIBS) -lcmocka
