#!/bin/sh
# make_golden.sh - writes tests/golden/*.nnz and MANIFEST ONCE, with the
# writer of the day (tests/golden/README.md). The tests never run this:
# they decode the committed blobs and compare with the committed hashes,
# so a later change that breaks writer and reader alike still fails.
#   sh tests/golden/make_golden.sh [BUILD [BLOB]]   (BLOB: write that one alone,
#   adding its lines to MANIFEST: a new feature's blob; never the others)
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
make -s all >/dev/null
PKGS="libprotobuf-c zlib openblas lapacke libcjson"
SRC_INC=$(for d in src/*/; do printf -- '-I%s ' "${d%/}"; done)
cc -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -Iruntime $SRC_INC -I"$BUILD/gen" \
    $(pkg-config --cflags $PKGS) tests/golden/make_golden.c "$BUILD/obj/libnnzip.a" \
    $(pkg-config --libs $PKGS) -lm -o "$BUILD/make_golden"
"$BUILD/make_golden" tests/golden ${2:-}
