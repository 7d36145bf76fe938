# Cairn — top-level Makefile. Each folder adds its sources in module.mk;
# everything builds into build/. `make help` lists the targets.

CC       ?= cc
BUILD    := build
PREFIX   ?= /usr/local
PKGS     := rdkafka hiredis avro-c jansson libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) \
             -Iengine -Isdk -Isdk/include -I$(BUILD)/gen $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm
# Debian's python3 carries the python3-* test helper packages.
PYTHON   := /usr/bin/python3

.PHONY: all help deps build run demo test test-e2e test-cluster test-timers bench-timers unit fuzz clean install format-check docs compose-check bench

all: build

help:
	@echo "make deps    install Debian packages and fetch Kafka (idempotent)"
	@echo "make build   build libraries, cairnd, cairn-timers, cairn, workers"
	@echo "make run     start a local cluster, run the demo, stay up until Ctrl-C"
	@echo "make demo    like run, but tear down and exit"
	@echo "make test    every test suite against a real Kafka and Redis"
	@echo "make test-e2e | test-timers | test-cluster | test-interop | test-workflows"
	@echo "             one suite (the long forms of the timer and cluster tests)"
	@echo "make bench   figures on this box (own cluster; docs/BENCHMARKS.md)"
	@echo "make install PREFIX=/usr/local"

# ---- sources -----------------------------------------------------------
ENGINE_SRCS :=
SDK_SRCS    :=
BINS        :=
include engine/module.mk
include sdk/module.mk
include shards/module.mk
include timers/module.mk
include examples/module.mk
include bench/module.mk
include tests/module.mk

ENGINE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(ENGINE_SRCS))
SDK_OBJS    := $(patsubst %.c,$(BUILD)/obj/%.o,$(SDK_SRCS)) $(BUILD)/obj/gen/schemas.o
LIB_A       := $(BUILD)/lib/libcairn.a
LIB_SO      := $(BUILD)/lib/libcairn.so

build: $(LIB_A) $(LIB_SO) $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/schemas.c: sdk/tools/gen_schemas.py $(wildcard sdk/schemas/*.avsc)
	@mkdir -p $(dir $@)
	$(PYTHON) sdk/tools/gen_schemas.py sdk/schemas $@

$(LIB_A): $(ENGINE_OBJS) $(SDK_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(ENGINE_OBJS) $(SDK_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- setup, main job, tests --------------------------------------------
# These re-invoke make after deploy/deps.sh so that a fresh machine (where
# pkg-config found nothing when this Makefile was read) builds correctly.
deps:
	@deploy/deps.sh

run:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@deploy/demo.sh --keep

demo:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@deploy/demo.sh

test:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@tests/run-all.sh

test-e2e:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@tests/run-all.sh e2e

test-cluster:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@CAIRN_CLUSTER_WORKFLOWS=$${CAIRN_CLUSTER_WORKFLOWS:-3000} CAIRN_CLUSTER_SECONDS=$${CAIRN_CLUSTER_SECONDS:-60} tests/run-all.sh cluster

test-timers:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@CAIRN_TIMER_WORKFLOWS=$${CAIRN_TIMER_WORKFLOWS:-20000} tests/run-all.sh timers

bench:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@bench/run.sh

bench-timers:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@bench/timers.sh

compose-check:
	@docker-compose -f docker-compose.yml config -q && echo "compose: docker-compose.yml is valid"

docs: build
	$(BUILD)/bin/cairn config-doc > docs/CONFIGURATION.md
	$(PYTHON) sdk/tools/gen_schemas.py --docs sdk/schemas docs/EVENTS.md

clean:
	rm -rf $(BUILD)

format-check:
	@command -v clang-format >/dev/null || { echo "format-check: clang-format not installed"; exit 1; }
	@clang-format --dry-run -Werror $(shell git ls-files '*.c' '*.h')

# ---- install, interop tests ----------------------------------------------
# make install PREFIX=/usr/local [DESTDIR=...]: libcairn (.so and .a), the
# public headers under include/cairn/ (#include <cairn/cairn.h>), a
# pkg-config file and the programs.
VERSION        ?= 0.1.0
INSTALL_HDRS   := sdk/include/cairn.h sdk/include/cairn_builder.h sdk/conf.h \
                  engine/engine.h engine/err.h engine/event.h
INSTALL_BINS   := cairn cairnd cairn-timers cairn-worker-demo

.PHONY: test-interop

install: build
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/include/cairn
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libcairn.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libcairn.so
	install -m 644 $(INSTALL_HDRS) $(DESTDIR)$(PREFIX)/include/cairn/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    sdk/cairn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cairn.pc
	install -m 755 $(addprefix $(BUILD)/bin/,$(INSTALL_BINS)) $(DESTDIR)$(PREFIX)/bin/

# Starts a local cluster, runs the Python starter, signaller and worker and
# the CLI against it, installs into a temporary prefix and builds a program
# against it; ends with "interop: N passed, M failed".
test-interop:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build
	@tests/interop/run.sh

# ---- workflows: conformance suite + examples end to end -------------------
# tests/workflows/run.sh; ends with "workflows: N passed, M failed".
include tests/workflows/module.mk
.PHONY: test-workflows
test-workflows:
	@deploy/deps.sh
	@$(MAKE) --no-print-directory build $(CF_BIN)
	@tests/workflows/run.sh
