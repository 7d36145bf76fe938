# shards/: cairnd, the shard owner daemon.
SHARDS_SRCS := $(wildcard shards/*.c)
BINS += $(BUILD)/bin/cairnd
$(BUILD)/bin/cairnd: $(patsubst %.c,$(BUILD)/obj/%.o,$(SHARDS_SRCS)) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
# The map test links the shard's map directly (it is not in libcairn).
$(BUILD)/tests/test_wfmap: tests/unit/test_wfmap.c $(BUILD)/obj/shards/wfmap.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ishards -o $@ $< $(BUILD)/obj/shards/wfmap.o $(BUILD)/lib/libcairn.a $(LDLIBS) -lcmocka
