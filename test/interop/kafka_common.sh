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
#
# A script that can run without Kafka (bench/kafka_peer.sh) sets
# KAFKA_OPTIONAL=1 and KLOG_ROOT (the repository) before sourcing: then the
# java/mvn checks and the classpath ($CP) are its own to do (kafka_classpath).
# KAFKA_BROKER_JVM replaces the broker's JVM options (kafka_start).

cd "${KLOG_ROOT:-$(dirname "$0")/../..}" || exit 1
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
    [ -n "$KEEP_TMP" ] && { echo "kept $TMP"; TMP=/nonexistent; }
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

if [ -z "${KAFKA_OPTIONAL:-}" ]; then
    command -v java > /dev/null 2>&1 || skip_all "java not installed"
    command -v mvn > /dev/null 2>&1 || skip_all "mvn not installed"
    [ -x "$GEN" ] || skip_all "$GEN not built (make $GEN)"
fi

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
if [ -z "${KAFKA_OPTIONAL:-}" ]; then
    CP=$(kafka_classpath) || { fail "$NAME: resolve Kafka $KAFKA_VERSION jars with Maven"; finish; }
    [ -n "$CP" ] || { fail "$NAME: empty Kafka classpath"; finish; }
fi

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

# ---------------------------------------------------------------- the broker
# A one-node KRaft Kafka (broker + controller) on two free loopback ports,
# small heap, its data in $KDIR/data, metadata in $KDIR/meta, log in
# $KDIR/logs/server.log. kafka_setup KDIR [EXTRA_PROPERTY...] writes the
# configuration and formats the storage; kafka_start / kafka_stop run it
# (bounded waits; the EXIT trap kills a broker still running).
KPID=
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
kafka_setup() {
    KDIR=$1
    shift
    KPORT=$(free_port) && KCPORT=$(free_port) || return 1
    while [ "$KCPORT" = "$KPORT" ]; do KCPORT=$(free_port); done
    KB=127.0.0.1:$KPORT
    mkdir -p "$KDIR/data" "$KDIR/meta" "$KDIR/logs" || return 1
    cat > "$KDIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KCPORT
listeners=PLAINTEXT://127.0.0.1:$KPORT,CONTROLLER://127.0.0.1:$KCPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KPORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KDIR/data
metadata.log.dir=$KDIR/meta
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
log.cleaner.threads=1
# the tests' records carry fixed timestamps from 2023: no time retention
log.retention.ms=-1
PROPS
    for kv in "$@"; do echo "$kv" >> "$KDIR/server.properties"; done
    uuid=$(kafka_tool kafka.tools.StorageTool random-uuid) || return 1
    kafka_tool kafka.tools.StorageTool format -t "$uuid" -c "$KDIR/server.properties" \
        > "$KDIR/logs/format.out" 2>&1 || { cat "$KDIR/logs/format.out" >&2; return 1; }
}
kafka_start() {
    : >> "$KDIR/logs/server.log"
    mark=$(wc -l < "$KDIR/logs/server.log")
    # shellcheck disable=SC2086 # KAFKA_BROKER_JVM is a list of options
    java ${KAFKA_BROKER_JVM:--Xmx384m -Xms128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
        -Dkafka.logs.dir="$KDIR/logs" \
        -Dlog4j2.configurationFile="$ROOT/test/interop/kafka/log4j2-broker.properties" \
        -cp "$CP" kafka.Kafka "$KDIR/server.properties" > "$KDIR/logs/stdout" 2>&1 &
    KPID=$!
    i=0
    while [ $i -lt 240 ]; do
        tail -n +$((mark + 1)) "$KDIR/logs/server.log" | grep -q 'Kafka Server started' && return 0
        kill -0 "$KPID" 2> /dev/null || { KPID=; echo "broker exited at start" >&2; return 1; }
        sleep 0.5
        i=$((i + 1))
    done
    echo "broker did not start in 120 s" >&2
    return 1
}
kafka_stop() {
    [ -n "$KPID" ] || return 0
    kill -TERM "$KPID" 2> /dev/null
    i=0
    while kill -0 "$KPID" 2> /dev/null && [ $i -lt 120 ]; do
        sleep 0.5
        i=$((i + 1))
    done
    kill -KILL "$KPID" 2> /dev/null
    wait "$KPID" 2> /dev/null
    KPID=
}
at_exit 'kafka_stop'
# Kafka's topic tool against the running broker.
kafka_topics() {
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KB" "$@"
}

# The Java client (OracleClient.java), compiled once per source checksum.
oracle_client() {
    cdir=$KLOG_BUILD/interop/classes.$(cksum < "$ROOT/test/interop/kafka/OracleClient.java" | cut -d' ' -f1)
    if [ ! -f "$cdir/OracleClient.class" ]; then
        mkdir -p "$cdir" &&
            javac -encoding UTF-8 -nowarn -cp "$CP" -d "$cdir" "$ROOT/test/interop/kafka/OracleClient.java" || return 1
    fi
    timeout 180 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$ROOT/test/interop/kafka/log4j2-tools.properties" \
        -cp "$cdir:$CP" OracleClient "$@"
}
# oracle_txn_produce ERRFILE BOOTSTRAP TOPIC PARTITION COUNT CODEC: the
# Java client's transactional produce (stderr to ERRFILE), run again, at
# most twice, when Kafka's own client and broker end it with
# InvalidTxnStateException: Kafka 4.1's transaction coordinator sometimes
# refuses a transaction begun just after an abort (seen in a CI run of
# kafka_mirror.sh on 2026-12-04 that passed on the same code minutes
# earlier; libklog is not involved in that exchange). What a failed attempt
# left in the partition (committed and aborted batches, markers) stays
# there: the tests compare the broker's log with libklog's reading of it,
# not with a count of records.
oracle_txn_produce() {
    _otp_err=$1
    shift
    _otp_n=0
    while :; do
        oracle_client produce "$1" "$2" "$3" "$4" transactional "$5" > /dev/null 2> "$_otp_err" && return 0
        _otp_n=$((_otp_n + 1))
        [ $_otp_n -lt 3 ] && grep -q InvalidTxnStateException "$_otp_err" || return 1
        echo "note: Kafka's transactional producer failed with InvalidTxnStateException; again ($_otp_n)" >&2
    done
}
# kafka_wait_partitions TOPIC N: until the broker has created the
# directories (with partition.metadata) of partitions 0..N-1 (bounded).
kafka_wait_partitions() {
    i=0
    while [ $i -lt 120 ]; do
        n=0
        p=0
        while [ $p -lt "$2" ]; do
            [ -f "$KDIR/data/$1-$p/partition.metadata" ] && n=$((n + 1))
            p=$((p + 1))
        done
        [ $n -eq "$2" ] && return 0
        sleep 0.25
        i=$((i + 1))
    done
    return 1
}
