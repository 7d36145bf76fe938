# tests/tools/: cairn-codec-tool (the codec on stdin/stdout) and the Python
# schema tests that drive it. Linked from the codec's objects only, so it
# builds even while other parts of libcairn do not.
CODEC_TOOL      := $(BUILD)/tests/tools/cairn-codec-tool
CODEC_TOOL_OBJS := $(BUILD)/obj/engine/event.o $(BUILD)/obj/engine/err.o \
                   $(BUILD)/obj/engine/json.o $(BUILD)/obj/sdk/codec.o \
                   $(BUILD)/obj/gen/schemas.o

$(CODEC_TOOL): tests/tools/cairn-codec-tool.c $(CODEC_TOOL_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CODEC_TOOL_OBJS) $(LDLIBS)

.PHONY: test-schemas
test-schemas: $(CODEC_TOOL)
	CAIRN_CODEC_TOOL=$(CODEC_TOOL) $(PYTHON) -m pytest -q -p no:cacheprovider tests/py/test_schemas.py
