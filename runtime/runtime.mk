# runtime.mk - the decoder runtime's sources, listed once. Included by the
# top-level Makefile for the tool, the examples, the fuzzers and `make size`.
NNZ_RUNTIME_DIR ?= runtime
NNZ_RUNTIME_SRCS := $(NNZ_RUNTIME_DIR)/nnz.c
NNZ_RUNTIME_HDRS := $(NNZ_RUNTIME_DIR)/nnz.h
# The runtime's own warning set: it must stay clean under all of these.
NNZ_RUNTIME_WARN := -std=c99 -Wall -Wextra -Werror -pedantic -Wshadow -Wconversion \
    -Wsign-conversion -Wstrict-prototypes -Wmissing-prototypes -Wcast-align \
    -Wcast-qual -Wundef -Wvla
