#!/bin/sh
# run.sh - run every test group; the last line is the summary.
# Called by `make test` after building; BUILD names the build folder.
#   TEST_VERBOSE=1   print passing checks too
#   TEST_ONLY=name   run the groups whose file name contains `name`
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
NNZIP=$BUILD/nnzip                 # release build, for breadth
NNZIP_SAN=$BUILD/asan/nnzip        # ASan + UBSan, for everything hostile
FIX=$BUILD/fixtures
CORPUS=${CORPUS:-.corpus}
ORACLE="node tests/oracle/compare.js"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
. tests/lib.sh
# ONNX Runtime leaves mat-debug-PID.log files in TMPDIR: keep them in ours
mkdir -p "$T/tmp"
export TMPDIR="$T/tmp"

for g in tests/suite/*.sh; do
    case $g in *"${TEST_ONLY:-}"*) ;; *) continue ;; esac
    . "$g"
done
summary
