# kafka_common.sh — shared by test/interop/kafka_*.sh (sourced, POSIX sh):
# Apache Kafka as libklog's oracle. Resolves the pinned Kafka jars with Maven
# (test/interop/kafka/pom.xml; the jars stay in the Maven cache, ~/.m2, and
# nothing of Kafka's is in the repository), runs Kafka's tools, and counts
# checks: each check prints one PASS/FAIL/SKIP line, and `finish` prints the
# closing line `interop: N passed, N failed, N skipped` and exits 1 if any
# check failed.
#
# After sourcing: $KLOG_BUILD, $GEN (build/test/oracle_gen), $KLOGCAT,
# $TMP (scratch, removed at exit), $CP (Kafka's classpath), $KAFKA_VERSION,
# $PY (python3).

cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
KLOG_BUILD=${KLOG_BUILD:-build}
case $KLOG_BUILD in /*) ;; *) KLOG_BUILD=$ROOT/$KLOG_BUILD ;; esac
PY=${PYTHON:-/usr/bin/python3}
GEN=$KLOG_BUILD/test/oracle_gen
KLOGCAT=$KLOG_BUILD/klogcat
KBROKER=$KLOG_BUILD/kbroker
POM=$ROOT/test/interop/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
N_PASS=0
N_FAIL=0
N_SKIP=0
CLEANUPS=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/klog-interop.XXXXXX") || exit 1

# at_exit CMD: run CMD (a shell command string) at exit, newest first.
at_exit() {
    CLEANUPS="$1; $CLEANUPS"
}
cleanup() {
    eval "$CLEANUPS"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() {
    N_PASS=$((N_PASS + 1))
    echo "PASS $*"
}
fail() {
    N_FAIL=$((N_FAIL + 1))
    echo "FAIL $*"
}
skip() {
    N_SKIP=$((N_SKIP + 1))
    echo "SKIP $*"
}
# show FILE: the first lines of a file that explains a failure, indented.
show() {
    [ -s "$1" ] && sed -n '1,25s/^/    /p' "$1"
    return 0
}
finish() {
    echo "interop: $N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
    [ "$N_FAIL" -eq 0 ]
    exit $?
}

# Whole script skipped (java or mvn missing): say why, count one skip.
skip_all() {
    skip "$NAME: $1"
    finish
}

command -v java > /dev/null 2>&1 || skip_all "java not installed"
command -v mvn > /dev/null 2>&1 || skip_all "mvn not installed"
[ -x "$GEN" ] || skip_all "$GEN not built (make $GEN)"

# The classpath of the pinned Kafka broker, tools and client, resolved by
# Maven into its cache once; kept in build/interop/ beside a checksum of the
# pom so later runs do not even start Maven.
kafka_classpath() {
    cpdir=$KLOG_BUILD/interop
    mkdir -p "$cpdir" || return 1
    sum=$(cksum < "$POM" | cut -d' ' -f1)
    if [ -s "$cpdir/classpath.$sum" ]; then
        ok=1
        for j in $(tr ':' ' ' < "$cpdir/classpath.$sum"); do
            [ -f "$j" ] || ok=0
        done
        [ $ok -eq 1 ] && { cat "$cpdir/classpath.$sum"; return 0; }
    fi
    (cd "$ROOT/test/interop/kafka" &&
        timeout 600 mvn -B -q dependency:build-classpath \
            -Dmdep.outputFile="$cpdir/classpath.tmp" > "$cpdir/mvn.log" 2>&1) || {
        echo "mvn failed resolving Kafka $KAFKA_VERSION (log: $cpdir/mvn.log):" >&2
        tail -20 "$cpdir/mvn.log" >&2
        return 1
    }
    mv "$cpdir/classpath.tmp" "$cpdir/classpath.$sum" && cat "$cpdir/classpath.$sum"
}
CP=$(kafka_classpath) || { fail "$NAME: resolve Kafka $KAFKA_VERSION jars with Maven"; finish; }
[ -n "$CP" ] || { fail "$NAME: empty Kafka classpath"; finish; }

# kafka_tool CLASS ARGS...: run one of Kafka's command-line classes with the
# tools' quiet logging, bounded in time.
kafka_tool() {
    timeout 300 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$ROOT/test/interop/kafka/log4j2-tools.properties" \
        -cp "$CP" "$@"
}

# files_of DIR SUFFIX: the files DIR/*SUFFIX joined by commas (for --files).
files_of() {
    ls "$1"/*"$2" 2> /dev/null | tr '\n' ',' | sed 's/,$//'
}
