# shards/: cairnd, the shard owner daemon.
SHARDS_SRCS := $(wildcard shards/*.c)
BINS += $(BUILD)/bin/cairnd
$(BUILD)/bin/cairnd: $(patsubst %.c,$(BUILD)/obj/%.o,$(SHARDS_SRCS)) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
