#!/bin/sh
# deps.sh - install what building, running or testing nnzip needs, if missing.
#
#   scripts/deps.sh build    libraries and tools to build nnzip and its fixtures
#   scripts/deps.sh test     + what the tests use (clang, ONNX test data, ONNX Runtime)
#   scripts/deps.sh size     + the Cortex-M4 cross compiler for `make size`
#
# Debian packages come from apt-get (run as root, or through sudo); apt-get
# update runs only when something is missing. ONNX Runtime for the test
# oracle comes from npm into tests/oracle/node_modules (git-ignored), with
# --ignore-scripts: its install script downloads, which is blocked here and
# not needed (the CPU library is inside the package). Node and npm are
# expected on the machine already; never apt-get them (Debian's npm conflicts).
set -eu
level=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs="gcc make pkg-config libprotobuf-c-dev protobuf-c-compiler zlib1g-dev
 libopenblas-dev liblapacke-dev libcjson-dev libcmocka-dev
 python3-onnx python3-numpy python3-sklearn time bc"
test_pkgs="clang libclang-rt-14-dev libonnx-testdata zstd xz-utils librsvg2-bin"
size_pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi"

case $level in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs" ;;
size) want="$build_pkgs $size_pkgs" ;;
*) echo "deps.sh: unknown level '$level' (build, test, size)" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps.sh: installing:$missing"
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "deps.sh: need root to install:$missing" >&2
            echo "deps.sh: run: apt-get install -y$missing" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "$level" = test ]; then
    ort="$here/tests/oracle/node_modules/onnxruntime-node/package.json"
    if [ ! -f "$ort" ]; then
        command -v npm >/dev/null 2>&1 || { echo "deps.sh: npm is needed for the test oracle" >&2; exit 1; }
        echo "deps.sh: installing onnxruntime-node (npm, --ignore-scripts)"
        (cd "$here/tests/oracle" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    fi
fi
exit 0
