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
# The passes, from the registry (not a list kept here): each lives in
# src/NAME, no pass includes another's header, and the layers below the
# passes (core, blob, infer) include none.
PASSES=$($PYTHON tests/tools/pass_names.py names)
check "the registry lists passes" test -n "$PASSES"
check "every registered pass is defined in its own folder src/NAME" \
    sh -c 'for p in $1; do grep -qs "^const nnz_pass nnz_pass_$p = {" src/$p/*.c ||
             { echo "nnz_pass_$p is not defined in src/$p"; exit 1; }; done' _ "$PASSES"
check "passes do not include each other, core/blob/infer include no pass, nothing includes cli" \
    sh -c 'for d in $1 core blob infer; do
             for o in $1; do
               [ "$d" = "$o" ] && continue
               for h in $(ls src/$o/*.h 2>/dev/null); do
                 if grep -qs "#include \"$(basename $h)\"" src/$d/*.c src/$d/*.h; then echo "src/$d includes $h"; exit 1; fi
               done
             done
           done
           ! grep -rqs "#include \"cli.h\"" src runtime' _ "$PASSES"
check "no pass is named outside its folder (cli, core, infer, Makefile key on none)" \
    $PYTHON tests/tools/pass_names.py named cli/*.c cli/*.h src/core/*.c src/core/*.h \
        src/infer/*.c src/infer/*.h Makefile
