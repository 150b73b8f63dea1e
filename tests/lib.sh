# lib.sh - the shell test harness: counts checks, prints one line per
# failure (and per pass with TEST_VERBOSE=1), and the summary at the end.
#
#   check NAME CMD...            passes when CMD exits 0
#   expect NAME CODE PATTERN CMD...
#                                passes when CMD exits CODE and its stderr
#                                matches the extended regex PATTERN ('' = any)
#   skip NAME WHY                counted apart, printed always
#
# Every command's stdout/stderr land in $T/out and $T/err for inspection.

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=""
T=$(mktemp -d /tmp/nnzip-test.XXXXXX)
trap 'rm -rf "$T"' EXIT

pass() {
    PASSED=$((PASSED + 1))
    [ -n "${TEST_VERBOSE:-}" ] && echo "ok    $1"
    return 0
}

fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES="$FAILED_NAMES
  $1"
    echo "FAIL  $1${2:+: $2}"
    return 0
}

skip() {
    SKIPPED=$((SKIPPED + 1))
    echo "skip  $1: $2"
}

check() {
    name=$1
    shift
    if "$@" >"$T/out" 2>"$T/err"; then
        pass "$name"
    else
        fail "$name" "exit $? from: $*; stderr: $(head -c 600 "$T/err")"
    fi
}

expect() {
    name=$1 code=$2 pattern=$3
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" != "$code" ]; then
        fail "$name" "exit $rc, expected $code; stderr: $(head -c 600 "$T/err")"
    elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$T/err"; then
        fail "$name" "stderr does not match /$pattern/: $(head -c 600 "$T/err")"
    elif grep -q "Sanitizer\|runtime error:" "$T/err"; then
        fail "$name" "sanitizer report: $(grep -m3 "Sanitizer\|runtime error:" "$T/err")"
    else
        pass "$name"
    fi
}

# group TITLE: a heading in the log
group() {
    echo "== $1"
}

summary() {
    if [ "$FAILED" -gt 0 ]; then
        echo "failed:$FAILED_NAMES"
    fi
    echo "$PASSED passed, $FAILED failed${SKIPPED:+, $SKIPPED skipped}"
    [ "$FAILED" -eq 0 ]
}
