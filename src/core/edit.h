/* edit.h - building and changing ModelProto parts that protobuf-c will free:
 * every string, array and message is malloc'ed, as its default allocator
 * expects. Used by the graph rewrites (QDQ output, decompose). */
#ifndef NNZ_CORE_EDIT_H
#define NNZ_CORE_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* A new tensor with a copy of `data` (nbytes) as raw_data. */
Onnx__TensorProto *nnz_edit_tensor(const char *name, int dtype, const int64_t *dims,
                                   int ndims, const void *data, size_t nbytes, nnz_error *e);
/* A new node; inputs/outputs are copied. */
Onnx__NodeProto *nnz_edit_node(const char *op, const char *name, const char *const *inputs,
                               size_t ninputs, const char *const *outputs, size_t noutputs,
                               nnz_error *e);
/* Add an integer / ints attribute to a node. */
int nnz_edit_attr_int(Onnx__NodeProto *n, const char *name, int64_t v, nnz_error *e);
int nnz_edit_attr_ints(Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count,
                       nnz_error *e);
/* Copy an attribute of another node (deep). */
int nnz_edit_attr_copy(Onnx__NodeProto *n, const Onnx__AttributeProto *a, nnz_error *e);

/* Insert a node at position `at` of the graph's node list. */
int nnz_edit_insert_node(Onnx__GraphProto *g, size_t at, Onnx__NodeProto *n, nnz_error *e);
/* Append an initializer. */
int nnz_edit_add_initializer(Onnx__GraphProto *g, Onnx__TensorProto *t, nnz_error *e);
/* Remove node `at` from the graph (freeing it). */
void nnz_edit_remove_node(Onnx__GraphProto *g, size_t at);
/* Remove initializer `t` from the graph (freeing it). */
void nnz_edit_remove_initializer(Onnx__GraphProto *g, const Onnx__TensorProto *t);
/* Replace a string field (freeing the old one). */
int nnz_edit_set_string(char **field, const char *v, nnz_error *e);

/* The default-domain opset version the model imports (0 if none). */
int64_t nnz_model_opset(const nnz_model *m);

/* A name not used by any value, node or initializer of the model:
 * "base", "base_1", ... (the caller frees). The model's names are indexed
 * on the first call and every name given out is added, so a rewrite must
 * name what it adds through here. */
char *nnz_edit_unique_name(nnz_model *m, const char *base, nnz_error *e);
/* Free the name index (nnz_model_free calls it). */
void nnz_edit_forget_names(nnz_model *m);

#endif
