# engine/: the pure core (no I/O). Linked into libcairn.
ENGINE_SRCS += $(wildcard engine/*.c)
