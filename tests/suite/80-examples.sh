# 80-examples.sh - the example app that embeds the runtime builds (make
# examples) and works on a real blob.
group "examples"
W=$T/ex
mkdir -p "$W"
$NNZIP -q compress "$FIX/digits_mlp.onnx" -o "$W/mlp.nnz"
check "nnz_dump lists the tensors of a blob, the small ones left in the graph too" sh -c "$BUILD/examples/nnz_dump '$W/mlp.nnz' | grep -q '^6 tensors'"
check "nnz_dump decodes a tensor that stayed in the graph (fc3.bias, 40 bytes)" sh -c "$BUILD/examples/nnz_dump '$W/mlp.nnz' fc3.bias | grep -q '^decoded fc3.bias:'"
check "nnz_dump decodes a tensor by name" sh -c "$BUILD/examples/nnz_dump '$W/mlp.nnz' fc1.weight | grep -q '^decoded fc1.weight:'"
expect "nnz_dump reports a missing tensor" 1 "no such tensor" $BUILD/examples/nnz_dump "$W/mlp.nnz" nope
check "make test-install: installs into a scratch DESTDIR and builds the example with pkg-config" \
    sh -c "make -s --no-print-directory test-install BUILD=$BUILD | grep -q 'test-install: ok'"
