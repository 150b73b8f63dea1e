# lib.sh - helpers for the benchmarks. The machines are shared and noisy, so
# every figure is a median of several runs, and comparisons are ratios of
# two commands run alternately in the same loop.

RUNS=${BENCH_RUNS:-5}

# What every bench script reads (each may be set from outside): the build,
# the tool, the corpus cache, Debian's python, the trained fixtures, the
# ONNX Runtime oracle, and a scratch folder BT, removed at exit unless the
# caller (bench/bench.sh) made it.
B=${B:-${BUILD:-build}}
N=${N:-$B/nnzip}
CORPUS=${CORPUS:-.corpus}
PYTHON=${PYTHON:-/usr/bin/python3}
FIX=${FIX:-$B/fixtures}
ORACLE="node tests/oracle/compare.js"
if [ -z "${BT:-}" ]; then
    BT=$(mktemp -d /tmp/nnzip-bench.XXXXXX)
    trap 'rm -rf "$BT"' EXIT
fi

# want SECTION: whether the script's arguments (in $sections) name SECTION
want() { case " $sections " in *" $1 "*) return 0 ;; esac; return 1; }

now() { date +%s.%N; }

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# seconds CMD: one timed run of CMD (output discarded)
seconds() {
    t0=$(now)
    "$@" >/dev/null 2>&1
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

# peak_rss_kib CMD: the peak resident set of one run, KiB (GNU time)
peak_rss_kib() {
    /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1
}

# versus A_CMD -- B_CMD: alternate A and B RUNS times; prints
# "median_a median_b median(a/b)"
versus() {
    a=""
    while [ "$1" != "--" ]; do a="$a '$1'"; shift; done
    shift
    : >"$BT/a" ; : >"$BT/b"; : >"$BT/r"
    i=0
    while [ $i -lt "$RUNS" ]; do
        ta=$(eval seconds $a)
        tb=$(seconds "$@")
        echo "$ta" >>"$BT/a"
        echo "$tb" >>"$BT/b"
        echo "$ta / $tb" | bc -l >>"$BT/r"
        i=$((i + 1))
    done
    echo "$(median <"$BT/a") $(median <"$BT/b") $(median <"$BT/r")"
}
