# examples/: the demo worker (C SDK) used by make run / make demo.
BINS += $(BUILD)/bin/cairn-worker-demo
$(BUILD)/bin/cairn-worker-demo: $(BUILD)/obj/examples/worker/demo_worker.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# The workflow examples in C (examples/order-saga, examples/approval): each
# builds its definition with the builder API and publishes it.
EXAMPLE_PUBLISH_O := $(BUILD)/obj/examples/publish.o
BINS += $(BUILD)/bin/cairn-example-order-saga $(BUILD)/bin/cairn-example-approval
$(BUILD)/bin/cairn-example-order-saga: $(BUILD)/obj/examples/order-saga/main.o $(BUILD)/obj/examples/order-saga/order_saga.o $(EXAMPLE_PUBLISH_O) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
$(BUILD)/bin/cairn-example-approval: $(BUILD)/obj/examples/approval/main.o $(BUILD)/obj/examples/approval/approval.o $(EXAMPLE_PUBLISH_O) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
