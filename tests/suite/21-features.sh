# 21-features.sh - the runtime's feature macros (NNZ_NO_*, runtime/README.md):
# every combination builds under the strictest flags; a reduced build
# decodes every tensor it has the features for to the same bytes as the
# full build (nnz_decode and, when built, nnz_reader), and returns
# NNZ_E_UNSUPPORTED (-8) for every other, never a wrong decode.
group "runtime feature macros"
NNZ_RUNTIME_WARN=$(make -s --no-print-directory print-NNZ_RUNTIME_WARN)
W=$T/features
mkdir -p "$W"
M=$FIX/digits_mlp.onnx
# blobs that need each feature: none, Huffman, sparse, codebook, hashed
$NNZIP -q compress "$M" -o "$W/raw.nnz"
$NNZIP -q compress "$M" -o "$W/q8.nnz" -p "quantize:bits=8"
$NNZIP -q compress "$M" -o "$W/q4h.nnz" -p "quantize:bits=4|huffman"
$NNZIP -q compress "$M" -o "$W/sp.nnz" -p "prune:sparsity=0.9|quantize:kmeans,bits=5|huffman"
$NNZIP -q compress "$M" -o "$W/sp8.nnz" -p "prune:sparsity=0.8|quantize:bits=8"
$NNZIP -q compress "$M" -o "$W/hash.nnz" -p "hashnet:ratio=4|quantize:bits=8"
$NNZIP -q compress "$M" -o "$W/hashh.nnz" -p "hashnet:ratio=4|quantize:bits=6|huffman"
# repeated weights: alias entries, of raw and of codebook tensors
$NNZIP -q compress "$FIX/edge_repeated.onnx" -o "$W/rep.nnz"
$NNZIP -q compress "$FIX/edge_repeated.onnx" -o "$W/repk.nnz" -p "quantize:kmeans,bits=4|huffman"
# a Huffman table one tensor's stream holds and another's uses (shared tables)
$NNZIP -q compress "$FIX/digits_cnn.onnx" -o "$W/shared.nnz" -p "quantize:bits=8|huffman"
BLOBS="raw q8 q4h sp sp8 hash hashh rep repk shared"

build() { # build OUT FLAGS...: the driver with the runtime under those macros
    out=$1; shift
    gcc $NNZ_RUNTIME_WARN -O1 "$@" -Iruntime tests/features/decode_all.c runtime/nnz.c -o "$out"
}
check "the full build of the decoding driver builds" build "$W/full"
for b in $BLOBS; do
    "$W/full" "$W/$b.nnz" >"$W/$b.full" 2>&1
    tail -n +2 "$W/$b.full" >"$W/$b.full.t" # the lines after built=
done
check "the blobs need every feature between them (sparse, hashed, codebook, Huffman, alias, shared tables)" \
    sh -c 'for f in 1 2 4 8 16 32 64; do
             grep -ho "features=[0-9]*" "$@" | cut -d= -f2 | while read n; do [ $((n & f)) -ne 0 ] && echo y; done | grep -q y || exit 1
           done' _ "$W"/*.full
# (int8 and int4 output only where the codes fit: NNZ_E_OUT_TYPE, -25, elsewhere)
check "the full build decodes every tensor of them" \
    sh -c '! grep -h "status=" "$@" | grep -v "status=0 " | grep -v " out[34] .*status=-25 "' _ "$W"/*.full
check "4-bit symmetric tensors decode to int4 and int8 in the full build" \
    sh -c 'grep -q " out4 .*status=0 " "$1" && grep -q " out3 .*status=0 " "$1"' _ "$W/q4h.full"

i=0
for sp in "" -DNNZ_NO_SPARSE; do
for ha in "" -DNNZ_NO_HASHED; do
for cb in "" -DNNZ_NO_CODEBOOK; do
for hu in "" -DNNZ_NO_HUFFMAN; do
    # the reader and rebuild: in, rebuild out, or both out, in turn
    case $((i % 3)) in 0) rr="" ;; 1) rr="-DNNZ_NO_REBUILD" ;; 2) rr="-DNNZ_NO_REBUILD -DNNZ_NO_READER" ;; esac
    # aliases in and out in turn (a pattern that meets every other macro both ways)
    case $((i / 2 % 2)) in 0) al="" ;; 1) al="-DNNZ_NO_ALIAS" ;; esac
    # the graph codec out every fourth build (its blobs' rebuilt model: -8)
    case $((i % 4)) in 3) gc="-DNNZ_NO_GRAPH_CODEC" ;; *) gc="" ;; esac
    # shared tables in and out in turn, on another period than aliases
    case $((i / 3 % 2)) in 0) sh="" ;; 1) sh="-DNNZ_NO_SHARED" ;; esac
    i=$((i + 1))
    flags="$sp $ha $cb $hu $al $sh $rr $gc"
    name=$(echo "$flags" | tr -s ' ' | sed 's/^ //; s/ $//; s/-DNNZ_NO_//g; s/ /+/g')
    [ -n "$name" ] || name=full2
    if build "$W/d_$name" $flags 2>"$W/d_$name.err"; then
        built=$("$W/d_$name" "$W/raw.nnz" | head -1 | cut -d= -f2)
        check "without ${name}: each blob's tensors decode as in the full build or are NNZ_E_UNSUPPORTED" \
            sh -c 'for b in $4; do "$1" "$2/$b.nnz" >"$2/$b.out" && awk -v built="$3" '"'"'NR == FNR { want[FNR] = $0; next }
                FNR == 1 { next }
                { split($3, f, "="); need = f[2] + 0; ok = 1
                  for (bit = 1; bit <= 64; bit *= 2)
                      if (int(need / bit) % 2 == 1 && int(built / bit) % 2 == 0) ok = 0
                  if (ok && $0 != want[FNR]) { print "differs: " $0 " vs " want[FNR]; bad = 1 }
                  if (!ok && $4 != "status=-8") { print "not unsupported: " $0; bad = 1 } }
                END { exit bad }'"'"' "$2/$b.full" "$2/$b.out" || exit 1; done' _ "$W/d_$name" "$W" "$built" "$BLOBS"
    else
        check "the runtime builds with $flags" false
    fi
done; done; done; done
# NNZ_NO_FORMAT1: a build that reads only format 2 blobs decodes them as the
# full build does, and refuses a format 1 blob at open (NNZ_E_UNSUPPORTED)
if build "$W/d_noformat1" -DNNZ_NO_FORMAT1 2>"$W/d_noformat1.err"; then
    check "without FORMAT1: every current blob decodes as in the full build" \
        sh -c 'for b in $3; do "$1" "$2/$b.nnz" | tail -n +2 | cmp -s - "$2/$b.full.t" || exit 1; done' \
        _ "$W/d_noformat1" "$W" "$BLOBS"
    check "without FORMAT1: a format 1.2 blob is refused at open, NNZ_E_UNSUPPORTED" \
        sh -c '! "$1" "$2" >"$3" && grep -qx "open status=-8" "$3"' \
        _ "$W/d_noformat1" tests/old-blobs/depthwise.q8.v1_2_byte_scales.nnz "$W/nof1.out"
    check "the full build still reads that format 1.2 blob" "$W/full" tests/old-blobs/depthwise.q8.v1_2_byte_scales.nnz
else
    check "the runtime builds with -DNNZ_NO_FORMAT1" false
fi
# the reader and rebuild macros with every feature in, too
for rr in "-DNNZ_NO_REBUILD" "-DNNZ_NO_REBUILD -DNNZ_NO_READER"; do
    check "the runtime builds with $rr ($NNZ_RUNTIME_WARN)" gcc $NNZ_RUNTIME_WARN -O2 $rr -c runtime/nnz.c -o "$W/rr.o"
done
expect "NNZ_NO_READER without NNZ_NO_REBUILD is refused at build time" 1 "NNZ_NO_READER needs NNZ_NO_REBUILD" \
    gcc $NNZ_RUNTIME_WARN -DNNZ_NO_READER -c runtime/nnz.c -o "$W/bad.o"
$NNZIP -q compress "$M" -o "$W/rawg.nnz" --graph raw
$NNZIP -q compress "$M" -o "$W/spg.nnz" -p "prune:sparsity=0.9|quantize:kmeans,bits=5|huffman" --graph raw
$NNZIP -q compress "$FIX/edge_repeated.onnx" -o "$W/repkg.nnz" -p "quantize:kmeans,bits=4|huffman" --graph raw
check "the blobs with a compressed graph give a rebuilt model line (the graph codec's)" \
    sh -c 'for b in raw sp repk; do grep -Eq "^\(model\) out0 features=[0-9]+ status=0 " "$1/$b.full" || exit 1; done' _ "$W"
check "info on a blob names the runtime features it needs and the macros that may go" \
    sh -c '$1 info "$2/spg.nnz" | grep -q "runtime features it needs: sparse codebook huffman; .*: -DNNZ_NO_HASHED -DNNZ_NO_ALIAS -DNNZ_NO_GRAPH_CODEC -DNNZ_NO_SHARED -DNNZ_NO_FORMAT1$" &&
           $1 info "$2/rawg.nnz" | grep -q "needs: none; .*-DNNZ_NO_SPARSE -DNNZ_NO_HASHED -DNNZ_NO_CODEBOOK -DNNZ_NO_HUFFMAN -DNNZ_NO_ALIAS -DNNZ_NO_GRAPH_CODEC -DNNZ_NO_SHARED -DNNZ_NO_FORMAT1$" &&
           $1 info "$2/repkg.nnz" | grep -q "needs: codebook alias; .*-DNNZ_NO_SPARSE -DNNZ_NO_HASHED -DNNZ_NO_HUFFMAN -DNNZ_NO_GRAPH_CODEC -DNNZ_NO_SHARED -DNNZ_NO_FORMAT1$" &&
           $1 info "$2/raw.nnz" | grep -q "needs: huffman graph-codec (graph-codec, and huffman for it, only to rebuild the model); .*-DNNZ_NO_SPARSE -DNNZ_NO_HASHED -DNNZ_NO_CODEBOOK -DNNZ_NO_ALIAS -DNNZ_NO_SHARED -DNNZ_NO_FORMAT1$" &&
           $1 info --json "$2/raw.nnz" | grep -q "\"features\":\[\"huffman\",\"graph-codec\"\]" &&
           $1 info "$2/shared.nnz" | grep -q "needs: huffman graph-codec shared-tables (graph-codec, and huffman for it, only to rebuild the model); .*-DNNZ_NO_ALIAS -DNNZ_NO_FORMAT1$" &&
           $1 info tests/old-blobs/depthwise.q8.v1_2.nnz | grep -q "needs: format1; .*-DNNZ_NO_ALIAS -DNNZ_NO_GRAPH_CODEC -DNNZ_NO_SHARED$" &&
           $1 info --json "$2/rep.nnz" | grep -q "\"encoding\":\"alias\",\"encoding_version\":1,\"alias_of\":\"else.weight\"" &&
           $1 info --json "$2/hash.nnz" | grep -q "\"features\":\[\"hashed\",\"huffman\",\"graph-codec\"\]"' _ "$NNZIP" "$W"
