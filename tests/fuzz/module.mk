# tests/fuzz/: libFuzzer targets. `make fuzz` builds fuzz_decode with clang,
# ASan and UBSan straight from the codec's sources (not the gcc-built
# library), seeds a corpus in build/fuzz/ and runs it for CAIRN_FUZZ_SECONDS.
# Crash inputs land in build/fuzz/ as crash-*, leak-*, oom-*.
FUZZ_CC            ?= clang
CAIRN_FUZZ_SECONDS ?= 30
FUZZ_DIR           := $(BUILD)/fuzz
FUZZ_CODEC_SRCS    := engine/event.c engine/err.c engine/json.c sdk/codec.c \
                      $(BUILD)/gen/schemas.c
FUZZ_DEPS          := $(FUZZ_CODEC_SRCS) engine/event.h engine/err.h \
                      engine/internal.h sdk/codec.h
FUZZ_CFLAGS        := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -Iengine -Isdk \
                      $(shell pkg-config --cflags avro-c jansson)
FUZZ_LIBS          := $(shell pkg-config --libs avro-c jansson) -lpthread
FUZZ_SAN           := -fsanitize=fuzzer,address,undefined \
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer

$(FUZZ_DIR)/fuzz_decode: tests/fuzz/fuzz_decode.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< $(FUZZ_CODEC_SRCS) $(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_seeds: tests/fuzz/fuzz_seeds.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_CODEC_SRCS) $(FUZZ_LIBS)

fuzz: $(FUZZ_DIR)/fuzz_decode $(FUZZ_DIR)/fuzz_seeds
	@rm -rf $(FUZZ_DIR)/seeds && mkdir -p $(FUZZ_DIR)/seeds $(FUZZ_DIR)/corpus
	@$(FUZZ_DIR)/fuzz_seeds $(FUZZ_DIR)/seeds
	@echo "fuzz: decode for $(CAIRN_FUZZ_SECONDS)s, log in $(FUZZ_DIR)/decode.log"
	@rc=0; $(FUZZ_DIR)/fuzz_decode -max_total_time=$(CAIRN_FUZZ_SECONDS) \
	    -max_len=4096 -rss_limit_mb=1024 -malloc_limit_mb=64 -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
	    $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds >$(FUZZ_DIR)/decode.log 2>&1 || rc=$$?; \
	n=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/decode.log | tail -n1); \
	if [ $$rc -eq 0 ]; then echo "fuzz: decode ran $${n:-0} execs, 0 crashes"; \
	else tail -n 40 $(FUZZ_DIR)/decode.log; \
	     echo "fuzz: decode FAILED (exit $$rc) after $${n:-?} execs; input in $(FUZZ_DIR)/"; exit 1; fi
