# bench/: load generator and benchmark tools.
BINS += $(BUILD)/bin/cairn-load
$(BUILD)/bin/cairn-load: $(BUILD)/obj/bench/load.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# cairn-bench: the measuring side of `make bench` (bench/run.sh drives it).
BINS += $(BUILD)/bin/cairn-bench
$(BUILD)/bin/cairn-bench: $(BUILD)/obj/bench/bench.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# cairn-bench-micro: per-step CPU cost of the canonical workflow, no Kafka.
BINS += $(BUILD)/bin/cairn-bench-micro
$(BUILD)/bin/cairn-bench-micro: $(BUILD)/obj/bench/micro.o $(BUILD)/obj/shards/wfmap.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
$(BUILD)/obj/bench/micro.o: ALL_CFLAGS += -Ishards
