# nnzip - top-level Makefile.
#
#   make run       install what is missing, build, compress the sample model
#   make test      install what is missing, build, run every test
#   make           build build/nnzip
#   make bench | fuzz [FUZZ_SECONDS=N] | size | examples | install | uninstall | clean
#
# Objects go to build/obj (release) and build/asan (AddressSanitizer +
# UBSan, for the tests). Quiet unless V=1.

.DEFAULT_GOAL := all
include runtime/runtime.mk

BUILD ?= build
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 60

ifeq ($(V),1)
Q :=
else
Q := @
endif

CC ?= cc
PKGS := libprotobuf-c zlib openblas lapacke libcjson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS ?= -O2 -g
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
PASS_DIRS := src/prune src/quantize src/hashnet src/huffman src/decompose
INCLUDES := -Iruntime -Isrc/core -Isrc/blob $(addprefix -I,$(PASS_DIRS)) -Icli -I$(BUILD)/gen
TOOL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(INCLUDES) $(PKG_CFLAGS)

LIB_SRCS := $(wildcard src/core/*.c src/blob/*.c $(addsuffix /*.c,$(PASS_DIRS))) \
            $(NNZ_RUNTIME_SRCS)
CLI_SRCS := $(wildcard cli/*.c)
GEN_C := $(BUILD)/gen/onnx.pb-c.c
GEN_H := $(BUILD)/gen/onnx.pb-c.h
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

objs = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))
LIB_OBJS = $(call objs,$(1),$(LIB_SRCS)) $(BUILD)/$(1)/gen/onnx.pb-c.o

# ---- generated protobuf code -------------------------------------------------
$(GEN_C) $(GEN_H): proto/onnx.proto
	@mkdir -p $(BUILD)/gen
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/onnx.proto

# ---- one set of rules per build variant ---------------------------------------
# $(1): variant name, $(2): extra compiler flags
define variant
$(BUILD)/$(1)/%.o: %.c | $(GEN_H)
	@mkdir -p $$(@D)
	@$(if $(Q),echo "  CC    $$@")
	$(Q)$(CC) $(TOOL_CFLAGS) $(2) -MMD -MP -c $$< -o $$@
$(BUILD)/$(1)/runtime/%.o: runtime/%.c
	@mkdir -p $$(@D)
	@$(if $(Q),echo "  CC    $$@")
	$(Q)$(CC) $(NNZ_RUNTIME_WARN) $(2) -MMD -MP -c $$< -o $$@
$(BUILD)/$(1)/gen/onnx.pb-c.o: $(GEN_C)
	@mkdir -p $$(@D)
	$(Q)$(CC) -std=c11 -Wall -Wextra -Werror $(PKG_CFLAGS) $(2) -c $$< -o $$@
$(BUILD)/$(1)/libnnzip.a: $(call LIB_OBJS,$(1))
	$(Q)rm -f $$@ && ar rcs $$@ $$^
$(BUILD)/$(1)/nnzip: $(call objs,$(1),$(CLI_SRCS)) $(BUILD)/$(1)/libnnzip.a
	@$(if $(Q),echo "  LD    $$@")
	$(Q)$(CC) $(2) -o $$@ $$^ $(PKG_LIBS)
$(BUILD)/$(1)/tests/unit/%: $(BUILD)/$(1)/tests/unit/%.o $(BUILD)/$(1)/libnnzip.a
	$(Q)$(CC) $(2) -o $$@ $$^ $(PKG_LIBS) $(CMOCKA_LIBS)
$(BUILD)/$(1)/tests/unit/%.o: TOOL_CFLAGS += $(CMOCKA_CFLAGS) -Wno-unused-parameter
endef
$(eval $(call variant,obj,$(CFLAGS)))
$(eval $(call variant,asan,$(SAN_FLAGS)))

UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/$(1)/tests/unit/%,$(UNIT_SRCS))

$(BUILD)/nnzip: $(BUILD)/obj/nnzip
	$(Q)cp $< $@

# ---- main targets -----------------------------------------------------------------
.PHONY: all deps test-deps run test unit bench fuzz size examples install uninstall \
        test-install clean fixtures
all: $(BUILD)/nnzip

deps:
	$(Q)scripts/deps.sh build
test-deps:
	$(Q)scripts/deps.sh test

FIXTURES := $(BUILD)/fixtures/manifest.json
$(FIXTURES): tests/fixtures/gen_fixtures.py
	@echo "  GEN   fixtures"
	$(Q)$(PYTHON) tests/fixtures/gen_fixtures.py $(BUILD)/fixtures >/dev/null
fixtures: $(FIXTURES)

# The README's first command: from a fresh clone to seeing what nnzip does.
run: deps
	$(Q)$(MAKE) --no-print-directory all fixtures
	$(Q)scripts/run-sample.sh $(BUILD)

# The README's second command.
test: test-deps
	$(Q)$(MAKE) --no-print-directory all fixtures examples \
	    $(call UNIT_BINS,obj) $(call UNIT_BINS,asan) $(BUILD)/asan/nnzip fuzz-replay
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run.sh

unit: $(call UNIT_BINS,obj) $(call UNIT_BINS,asan)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
