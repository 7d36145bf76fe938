# examples/: the demo worker (C SDK) used by make run / make demo.
BINS += $(BUILD)/bin/cairn-worker-demo
$(BUILD)/bin/cairn-worker-demo: $(BUILD)/obj/examples/worker/demo_worker.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
