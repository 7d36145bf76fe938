# timers/: cairn-timers, the Redis sorted-set wakeup service.
TIMERS_SRCS := $(wildcard timers/*.c)
BINS += $(BUILD)/bin/cairn-timers
$(BUILD)/bin/cairn-timers: $(patsubst %.c,$(BUILD)/obj/%.o,$(TIMERS_SRCS)) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
