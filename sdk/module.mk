# sdk/: codec, client, worker, config, logging — libcairn; the cairn CLI.
SDK_SRCS += $(wildcard sdk/*.c)
BINS += $(BUILD)/bin/cairn
$(BUILD)/bin/cairn: $(BUILD)/obj/sdk/cli/cairn.o $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
