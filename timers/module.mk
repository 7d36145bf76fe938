# timers/: cairn-timers, the Redis sorted-set wakeup service.
TIMERS_SRCS := $(wildcard timers/*.c)
BINS += $(BUILD)/bin/cairn-timers
$(BUILD)/bin/cairn-timers: $(patsubst %.c,$(BUILD)/obj/%.o,$(TIMERS_SRCS)) \
                           $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
# The claim test runs the service's own scripts: it links the timer objects
# that need no running service (tests/module.mk's pattern rule would not).
TIMERS_TEST_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,\
                      timers/claim.c timers/fire.c timers/counters.c)
$(BUILD)/tests/test_timers_claim: tests/unit/test_timers_claim.c \
                                  $(TIMERS_TEST_OBJS) $(BUILD)/lib/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itimers -o $@ $< $(TIMERS_TEST_OBJS) \
	    $(BUILD)/lib/libcairn.a $(LDLIBS) -lcmocka
