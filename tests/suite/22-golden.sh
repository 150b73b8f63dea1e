# 22-golden.sh - the golden blobs (tests/golden): written once by
# make_golden.sh and committed, never regenerated here. The runtime alone
# (a small driver against runtime/nnz.c, none of the writer) decodes every
# tensor whole, block by block and in pieces, in each build variant, to the
# SHA-256 the manifest holds; so a change that breaks the writer and the
# reader the same way still fails.
group "golden blobs"
NNZ_RUNTIME_WARN=$(make -s --no-print-directory print-NNZ_RUNTIME_WARN)
G=tests/golden
W=$T/golden
mkdir -p "$W"
for v in "" "-DNNZ_FAST=0" "-DNNZ_BITBUF_BITS=32" "-DNNZ_HUFF_FAST_BITS=8 -DNNZ_CHUNK=16"; do
    name=$(echo "default $v" | tr -s ' ' | sed 's/ -D/ /g; s/ $//')
    if gcc $NNZ_RUNTIME_WARN -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all $v \
        -Iruntime -Isrc/core $G/check_golden.c runtime/nnz.c src/core/sha256.c \
        -o "$W/check" 2>"$W/cc.err"; then
        check "every golden tensor decodes to its committed sha256 ($name; ASan, UBSan)" \
            "$W/check" $G
    else
        check "the golden checker builds ($name)" false
    fi
done
check "the manifest covers every layout, value map and stream coding" \
    sh -c 'm=$1/MANIFEST
           for w in " raw\$" " graph\$" " dense/" " sparse/" " hashed/" " alias\$" \
                    "/f32 " "/f16 " "/bf16 " "/affine " "/affine-log " "/codebook " "/integer " \
                    "=packed" "=huffman-list-x1" "=huffman-gamma-x1" "=huffman-list-x4" "=huffman-gamma-x4" \
                    "dense/affine blocks=[2-9]" "sparse/affine blocks=[2-9]" "escape=255" \
                    "hashed/affine .*huffman" " 3 [0-9]* [0-9a-f]* " " 4 [0-9]* [0-9a-f]* "; do
               grep -q -- "$w" "$m" || { echo "missing: $w"; exit 1; }
           done
           grep -q "^alias.nnz [0-9]* blocks_[bc] .* alias\$" "$m"' _ $G
# format 2 (a blob of more than 16 entries, entries described by the graph
# and ones that hold their names) with encoding version 5's forms
check "the manifest covers format 2's directory and encoding version 5" \
    sh -c 'm=$1/MANIFEST
           for w in "^format2.nnz 1[6-9] " "^format2.nnz 20 .* alias\$" "^format2_named.nnz 0 " \
                    "dense/affine-log .* v5 scale_bits=9 values=packed" \
                    "dense/affine-log .* v5 scale_bits=9 values=huffman" \
                    "sparse/affine blocks=[2-9] v5 .*positions=huffman" "hashed/affine .* v5 " \
                    "format2.nnz [0-9]* f2_asym .* v5 " "format2.nnz [0-9]* f2_tiny .* graph\$"; do
               grep -q -- "$w" "$m" || { echo "missing: $w"; exit 1; }
           done
           for b in format2 format2_named; do
               [ "$(od -An -tu2 -j8 -N2 "$1/$b.nnz" | tr -d " ")" = 2 ] || { echo "$b: not format 2"; exit 1; }
           done' _ $G
# format 2.1: a compressed graph section (type 6, no graph section), the
# tensors the stored graph would hold as payloads, the expanded graph and
# the rebuilt model (nnz_graph_get, nnz_rebuild) checked by their digests
check "the manifest covers a compressed graph section: its graph, the rebuilt model, tiny tensors inline" \
    sh -c 'm=$1/MANIFEST
           for w in "^graph_packed.nnz 0 @graph 0 " "^graph_packed.nnz 0 @model 0 " \
                    "^graph_packed.nnz 2[45] .* 0 (8|12) .* inline\$" "^graph_packed.nnz 26 .* alias\$"; do
               grep -Eq -- "$w" "$m" || { echo "missing: $w"; exit 1; }
           done
           b=$1/graph_packed.nnz
           [ "$(od -An -tu2 -j8 -N4 "$b" | tr -s " ")" = " 2 1" ] || { echo "not format 2.1"; exit 1; }
           n=$(od -An -tu4 -j24 -N4 "$b" | tr -d " ")
           types=$(for i in $(seq 0 $((n - 1))); do od -An -tu4 -j$((64 + 32 * i)) -N4 "$b"; done | tr -d " " | sort | tr "\n" " ")
           [ "$types" = "1 3 4 6 " ] || { echo "sections: $types"; exit 1; }' _ $G
# shared Huffman tables (encoding version 6): tensors of two widths coded
# with a table in another entry's stream, an alias of such a tensor
check "the manifest covers shared Huffman tables (encoding version 6)" \
    sh -c 'm=$1/MANIFEST
           [ "$(grep -c "^shared.nnz [0-9]* sh_[a-z_]* 0 .* v6 values=huffman-shared-table\$" "$m")" -ge 3 ] &&
           grep -q "^shared.nnz [0-9]* sh_narrow_b 4 .* v6 values=huffman-shared-table\$" "$m" &&
           grep -q "^shared.nnz [0-9]* sh_b_again 0 .* alias\$" "$m"' _ $G
check "each golden blob is small (under 16 KiB)" \
    sh -c 'for f in "$1"/*.nnz; do [ $(wc -c <"$f") -lt 16384 ] || exit 1; done' _ $G
# the checker fails when a tensor's bytes differ from the manifest
sed '0,/^affine.nnz 5 /s/^\(affine.nnz 5 [^ ]* [^ ]* [^ ]* \)./\1x/' $G/MANIFEST >"$W/MANIFEST"
cp $G/*.nnz "$W/"
expect "a wrong digest in the manifest is found" 1 "huff_blocks_u4 out 0: nnz_decode gives status 0" "$W/check" "$W"
