# shards/: cairnd, the shard owner daemon.
SHARDS_SRCS := $(wildcard shards/*.c)
BINS += $(BUILD)/bin/cairnd
# cairnd allocates and frees a workflow's JSON tree at every step from
# several threads: with jemalloc instead of glibc's malloc its CPU per
# workflow fell by 25-30 % in short runs at saturation (full sweeps are
# too noisy to tell), and an idle workflow costs 13 % less memory
# (docs/BENCHMARKS.md). Only the daemon links it; libcairn leaves the
# allocator to the applications that embed it.
CAIRND_LIBS := $(shell pkg-config --libs jemalloc 2>/dev/null || echo -ljemalloc)
$(BUILD)/bin/cairnd: $(patsubst %.c,$(BUILD)/obj/%.o,$(SHARDS_SRCS)) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(CAIRND_LIBS) $(LDLIBS)
# The map test links the shard's map directly (it is not in libcairn).
$(BUILD)/tests/test_wfmap: tests/unit/test_wfmap.c $(BUILD)/obj/shards/wfmap.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ishards -o $@ $< $(BUILD)/obj/shards/wfmap.o $(BUILD)/lib/libcairn.a $(LDLIBS) -lcmocka
$(BUILD)/tests/test_resp: tests/unit/test_resp.c $(BUILD)/obj/shards/resp.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ishards -o $@ $< $(BUILD)/obj/shards/resp.o $(BUILD)/lib/libcairn.a $(LDLIBS) -lcmocka
