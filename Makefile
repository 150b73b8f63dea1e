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
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
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
# -pthread: compress runs calibration inputs on worker threads (infer_calib.c)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS ?= -O2 -g
# NNZ_CHECK_STATE: after every stage, values must equal the codes' reconstruction (state.h)
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
             -DNNZ_CHECK_STATE
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
# Every folder of src/ is a library part (core, blob, infer, one per pass):
# a new pass folder needs no line here.
SRC_DIRS := $(patsubst %/,%,$(sort $(dir $(wildcard src/*/*.c))))
INCLUDES := -Iruntime $(addprefix -I,$(SRC_DIRS)) -Icli -I$(BUILD)/gen
TOOL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(INCLUDES) $(PKG_CFLAGS)

LIB_SRCS := $(wildcard src/*/*.c) \
            $(NNZ_RUNTIME_SRCS)
CLI_SRCS := $(wildcard cli/*.c)
GEN_C := $(BUILD)/gen/onnx.pb-c.c
GEN_H := $(BUILD)/gen/onnx.pb-c.h
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_UTIL_SRCS := $(wildcard tests/unit/util_*.c)

objs = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))
LIB_OBJS = $(call objs,$(1),$(LIB_SRCS)) $(BUILD)/$(1)/gen/onnx.pb-c.o

# ---- generated protobuf code -------------------------------------------------
# one run of protoc-c makes both files (a grouped target: not once per file)
$(GEN_C) $(GEN_H) &: proto/onnx.proto
	@mkdir -p $(BUILD)/gen
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/onnx.proto

# ---- one set of rules per build variant ---------------------------------------
# $(1): variant name, $(2): extra compiler flags
define variant
$(BUILD)/$(1)/%.o: %.c | $(GEN_H)
	@mkdir -p $$(@D)
	@$(if $(Q),echo "  CC    $$@")
	$(Q)$(CC) $$(TOOL_CFLAGS) $(2) -MMD -MP -c $$< -o $$@
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
$(BUILD)/$(1)/tests/unit/%: $(BUILD)/$(1)/tests/unit/%.o $(call objs,$(1),$(UNIT_UTIL_SRCS)) $(BUILD)/$(1)/libnnzip.a
	$(Q)$(CC) $(2) -o $$@ $$^ $(PKG_LIBS) $(CMOCKA_LIBS)
$(BUILD)/$(1)/tests/unit/%.o: TOOL_CFLAGS += $(CMOCKA_CFLAGS) -Wno-unused-parameter
endef
$(eval $(call variant,obj,$(CFLAGS)))
# the interpreter's kernels are loops over floats: let the compiler vectorize
# them (same results: no fast-math)
$(BUILD)/obj/src/infer/%.o: TOOL_CFLAGS += -ftree-vectorize -fvect-cost-model=dynamic
$(eval $(call variant,asan,$(SAN_FLAGS)))

UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/$(1)/tests/unit/%,$(UNIT_SRCS))

$(BUILD)/nnzip: $(BUILD)/obj/nnzip
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

# the unit tests' objects come only through the pattern chain: keep them
# (everything else is named as a prerequisite, so nothing is intermediate)
UNIT_OBJS = $(patsubst tests/unit/%.c,$(BUILD)/$(1)/tests/unit/%.o,$(UNIT_SRCS))
.SECONDARY: $(call UNIT_OBJS,obj) $(call UNIT_OBJS,asan)

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
	$(Q)$(MAKE) --no-print-directory all fixtures examples corpus \
	    $(call UNIT_BINS,obj) $(call UNIT_BINS,asan) $(BUILD)/asan/nnzip fuzz-replay
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run.sh

# The shared corpus of real models (../shared/corpus), cached in .corpus/.
# Without network the corpus tests say they were skipped.
CORPUS_FETCH := ../shared/corpus/fetch.sh
.PHONY: corpus
corpus:
	$(Q)if [ -f $(CORPUS_FETCH) ]; then bash $(CORPUS_FETCH) .corpus >/dev/null || \
	    echo "corpus: fetch failed; corpus tests will be skipped"; \
	    else echo "corpus: $(CORPUS_FETCH) not found; corpus tests will be skipped"; fi

unit: $(call UNIT_BINS,obj) $(call UNIT_BINS,asan)

# ---- examples: apps that embed the runtime's two files ----------------------
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c $(NNZ_RUNTIME_SRCS) $(NNZ_RUNTIME_HDRS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(NNZ_RUNTIME_WARN) -O2 -I$(NNZ_RUNTIME_DIR) -o $@ $< $(NNZ_RUNTIME_SRCS)

# ---- fuzzing ------------------------------------------------------------------
# One libFuzzer harness per entry point in tests/fuzz/fuzz_*.c. `make fuzz`
# runs each for FUZZ_SECONDS with clang; `fuzz-replay` builds plain-main
# replayers (gcc, ASan + UBSan) that `make test` runs over the seeds and the
# committed corpus and regression files.
FUZZERS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CC ?= clang
FUZZ_LIB_SRCS = $(filter-out runtime/%,$(LIB_SRCS)) $(GEN_C)
# the runtime harness needs only the runtime; the others link the tool
fuzz_srcs = $(if $(filter runtime,$(1)),$(NNZ_RUNTIME_SRCS),$(LIB_SRCS) $(GEN_C))
ALL_HDRS = $(wildcard src/*/*.h runtime/*.h cli/*.h) $(GEN_H)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRCS) $(GEN_C) $(ALL_HDRS)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE $(INCLUDES) \
	    $(PKG_CFLAGS) -o $@ $< $(call fuzz_srcs,$*) $(if $(filter runtime,$*),,$(PKG_LIBS))
$(BUILD)/asan/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_SRCS) $(GEN_C) $(ALL_HDRS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -std=c11 -D_GNU_SOURCE $(INCLUDES) $(PKG_CFLAGS) -o $@ \
	    $< tests/fuzz/replay.c $(call fuzz_srcs,$*) $(if $(filter runtime,$*),,$(PKG_LIBS))
.PHONY: fuzz-replay fuzz-seeds
fuzz-replay: $(patsubst %,$(BUILD)/asan/fuzz/replay_%,$(FUZZERS))
fuzz-seeds: all fixtures
	$(Q)scripts/fuzz-seeds.sh $(BUILD)
fuzz: fuzz-seeds $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZERS))
	$(Q)for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/fuzz/work_$$f tests/fuzz/corpus/$$f; \
	    echo "fuzz_$$f: $(FUZZ_SECONDS) s"; \
	    $(BUILD)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=tests/fuzz/regress/$$f- $(BUILD)/fuzz/work_$$f \
	        tests/fuzz/corpus/$$f $(BUILD)/fuzz/seeds_$$f 2>&1 | \
	        grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|cov:|ERROR|SUMMARY" | tail -n 6; \
	done

# ---- code size of the runtime on a Cortex-M4 ----------------------------------
# The flags runtime/README.md gives embedders, for a Cortex-M4; the minimal
# build is the README's too (raw, packed affine, dense Huffman, format 2 blobs, one tensor
# at a time, Huffman tables of 2^8 entries: scratch within 2 KiB).
# -fstack-usage and -fcallgraph-info only measure (the code is the same):
# the largest frame, and the deepest stack of a call (scripts/stack-depth.py).
SIZE_CFLAGS := -mcpu=cortex-m4 -mthumb -Os -std=c99
SIZE_MINIMAL := -DNNZ_NO_SPARSE -DNNZ_NO_HASHED -DNNZ_NO_CODEBOOK -DNNZ_NO_ALIAS -DNNZ_NO_SHARED -DNNZ_NO_REBUILD -DNNZ_NO_READER -DNNZ_NO_FORMAT1 -DNNZ_HUFF_FAST_BITS=8
size:
	$(Q)scripts/deps.sh size
	@mkdir -p $(BUILD)/m4
	$(Q)for b in full minimal; do \
	    if [ $$b = full ]; then f=""; budget=10240; else f="$(SIZE_MINIMAL)"; budget=4096; fi; \
	    arm-none-eabi-gcc $(SIZE_CFLAGS) $$f -fstack-usage -fcallgraph-info=su -c $(NNZ_RUNTIME_SRCS) \
	        -o $(BUILD)/m4/nnz_$$b.o || exit 1; \
	    echo "$$b runtime, arm-none-eabi-gcc $(SIZE_CFLAGS) $$f -c nnz.c (budget $$budget bytes):"; \
	    arm-none-eabi-size -A $(BUILD)/m4/nnz_$$b.o | awk -v budget=$$budget '$$1 ~ /^\.(text|rodata|data|bss)/ \
	        { split($$1, a, "."); s[a[2]] += $$2 } END { t = s["text"] + s["rodata"]; \
	        printf "  .text+.rodata %d (code %d + rodata %d)  .data %d  .bss %d  %s\n", \
	        t, s["text"], s["rodata"], s["data"], s["bss"], t <= budget ? "within budget" : "OVER BUDGET by " t - budget }'; \
	    sort -t'	' -k2 -n -r $(BUILD)/m4/nnz_$$b.su | head -1 | \
	        awk -F'	' '{ printf "  largest stack frame %d bytes (%s)\n", $$2, $$1 }'; \
	    $(PYTHON) scripts/stack-depth.py $(BUILD)/m4/nnz_$$b.ci || exit 1; \
	done

# ---- benchmarks ----------------------------------------------------------------
bench: all fixtures
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) bench/bench.sh

# ---- install --------------------------------------------------------------------
VERSION := $(shell sed -n 's/^\#define NNZ_RUNTIME_VERSION "\(.*\)"/\1/p' runtime/nnz.h)
$(BUILD)/obj/libnnz.a: $(BUILD)/obj/runtime/nnz.o
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/nnz.pc: runtime/nnz.pc.in runtime/nnz.h
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(VERSION)|' $< >$@
$(BUILD)/nnzip.bash: $(BUILD)/nnzip
	$(Q)$(BUILD)/nnzip completion bash >$@.tmp && mv -f $@.tmp $@
install: all $(BUILD)/obj/libnnz.a $(BUILD)/nnz.pc $(BUILD)/nnzip.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PREFIX)/share/nnzip/runtime \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(BUILD)/nnzip $(DESTDIR)$(BINDIR)/nnzip
	install -m 644 runtime/nnz.h $(DESTDIR)$(INCLUDEDIR)/nnz.h
	install -m 644 $(BUILD)/obj/libnnz.a $(DESTDIR)$(LIBDIR)/libnnz.a
	install -m 644 $(BUILD)/nnz.pc $(DESTDIR)$(PKGCONFIGDIR)/nnz.pc
	install -m 644 runtime/nnz.c runtime/nnz.h $(DESTDIR)$(PREFIX)/share/nnzip/runtime/
	install -m 644 docs/nnzip.1 $(DESTDIR)$(MANDIR)/man1/nnzip.1
	install -m 644 $(BUILD)/nnzip.bash $(DESTDIR)$(BASHCOMPDIR)/nnzip
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nnzip $(DESTDIR)$(INCLUDEDIR)/nnz.h $(DESTDIR)$(LIBDIR)/libnnz.a \
	    $(DESTDIR)$(PKGCONFIGDIR)/nnz.pc $(DESTDIR)$(MANDIR)/man1/nnzip.1 \
	    $(DESTDIR)$(BASHCOMPDIR)/nnzip
	rm -rf $(DESTDIR)$(PREFIX)/share/nnzip
# install into a scratch DESTDIR and build the example against it with pkg-config
test-install:
	$(Q)rm -rf $(BUILD)/stage && $(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(BUILD)/stage PREFIX=/usr >/dev/null
	$(Q)PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(BUILD)/stage PKG_CONFIG_LIBDIR=$(CURDIR)/$(BUILD)/stage/usr/lib/pkgconfig \
	    sh -c '$(CC) -std=c99 examples/nnz_dump.c $$(pkg-config --cflags --libs nnz) -o $(BUILD)/stage/nnz_dump'
	$(Q)test -s $(BUILD)/stage/usr/share/man/man1/nnzip.1 && \
	    test -s $(BUILD)/stage/usr/share/bash-completion/completions/nnzip
	$(Q)$(BUILD)/stage/usr/bin/nnzip --version >/dev/null && echo "test-install: ok"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# `make print-VAR` shows a variable (the tests read the runtime's flags so).
print-%:
	@echo '$($*)'
