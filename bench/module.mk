# bench/: load generator and benchmark tools.
BINS += $(BUILD)/bin/cairn-load
$(BUILD)/bin/cairn-load: $(BUILD)/obj/bench/load.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
