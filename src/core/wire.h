/* wire.h - a check of protobuf wire bytes before protobuf-c unpacks them.
 *
 * protobuf-c trusts its input's shape: it recurses once per nesting level
 * and allocates per message without limit. This walk, driven by the same
 * descriptors, refuses what it would choke on (nesting too deep, groups,
 * lengths past the end, known fields of the wrong wire type) and estimates
 * the memory the unpack will take so a hostile file cannot ask for more. */
#ifndef NNZ_CORE_WIRE_H
#define NNZ_CORE_WIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Read a base-128 varint at *p (< end); advances *p. -1 when truncated or
 * longer than 10 bytes. */
int nnz_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Check `len` bytes as a message of type `desc`. On success *mem is the
 * estimated bytes protobuf-c will allocate to unpack it. */
int nnz_wire_check(const uint8_t *buf, size_t len,
                   const ProtobufCMessageDescriptor *desc, uint64_t *mem,
                   nnz_error *e);

#endif
