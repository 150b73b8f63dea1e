# 20-runtime.sh - the runtime's promises that are about its source: it
# builds alone under the strictest flags with gcc and clang, includes only
# <stdint.h>, <stddef.h> and <string.h>, and calls no allocator or I/O.
group "runtime rules"
NNZ_RUNTIME_WARN=$(make -s --no-print-directory print-NNZ_RUNTIME_WARN)
for cc in gcc clang; do
    if command -v $cc >/dev/null 2>&1; then
        check "runtime builds with $cc $NNZ_RUNTIME_WARN" \
            $cc $NNZ_RUNTIME_WARN -O2 -c runtime/nnz.c -o "$T/nnz_$cc.o"
    else
        skip "runtime builds with $cc" "$cc not installed"
    fi
done
check "runtime includes nothing beyond stdint.h, stddef.h, string.h" \
    sh -c '! grep -hE "^[[:space:]]*#[[:space:]]*include" runtime/nnz.c runtime/nnz.h |
           grep -vE "<(stdint|stddef|string)\.h>|\"nnz\.h\""'
check "runtime object calls no malloc, free, printf or file I/O" \
    sh -c '! nm -u "$1" | grep -E " (malloc|calloc|realloc|free|printf|fprintf|puts|fopen|fwrite|fread|exit|abort)$"' \
    _ "$T/nnz_gcc.o"
check "runtime object has no writable globals" \
    sh -c '! nm "$1" | grep -E " [BbDd] "' _ "$T/nnz_gcc.o"
check "passes and cli do not include each other" \
    sh -c 'for d in src/prune src/quantize src/hashnet src/huffman src/decompose src/fold; do
             for o in src/prune src/quantize src/hashnet src/huffman src/decompose src/fold; do
               [ "$d" = "$o" ] && continue
               for h in $(ls $o/*.h 2>/dev/null); do
                 if grep -qs "#include \"$(basename $h)\"" $d/*.c $d/*.h; then echo "$d includes $h"; exit 1; fi
               done
             done
           done
           ! grep -rqs "#include \"cli.h\"" src runtime'
