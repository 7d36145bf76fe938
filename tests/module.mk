# tests/: unit tests (tests/unit/test_*.c, one cmocka binary each).
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/lib/libcairn.a $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)
include tests/tools/module.mk
include tests/fuzz/module.mk
