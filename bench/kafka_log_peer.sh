#!/bin/sh
# kafka_log_peer.sh — Apache Kafka's log layer alone (UnifiedLog, no broker)
# beside libklog's klog_append, on the 2011 paper's workload, in one run. Run
# by `make bench` / `make bench-quick` beside the bench programs; prints
# RESULT,name,median,unit,min,max,ratio lines (ratio: klog / Kafka, medians
# of this run) and a table.
#
# Each round runs bench/peer/UnifiedLogBench.java (compiled here with javac
# against the Kafka jars of test/interop/kafka/pom.xml; its own JIT warm-up
# first) and build/bench/bench_paper --quick --records N --runs 1 (its
# producer experiment: klog_append of 200-byte records in batches of 1, 10,
# 50, 100, 1000, no fsync, and the record iterator over the batch-50 log;
# its other, quick-sized experiments run too and are not used here); which
# goes first swaps each round. Compared: append at batches 1, 50, 1000
# (klog: open + appends; Kafka: UnifiedLog.create + appendAsLeader; the
# close's / flush's fsync untimed on both) and the read back of the batch-50
# log (klog's iterator vs UnifiedLog.read). Without java or mvn: a note, no
# figures.
#
# Usage: bench/kafka_log_peer.sh [--quick]   (KLOG_BUILD=build by default)
set -u
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
NAME=kafka_log_peer
KLOG_ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
KAFKA_OPTIONAL=1
KEEP_TMP=${KEEP_TMP:-}
. "$KLOG_ROOT/test/interop/kafka_common.sh"

if [ $QUICK -eq 1 ]; then
    ROUNDS=1 N=100000
else
    ROUNDS=3 N=2000000
fi
PAPER=$KLOG_BUILD/bench/bench_paper
SRC=$ROOT/bench/peer/UnifiedLogBench.java
echo "# kafka_log_peer: klog_append vs Apache Kafka $KAFKA_VERSION's UnifiedLog, $(date -u '+%Y-%m-%d %H:%M UTC')"
if ! command -v java > /dev/null 2>&1 || ! command -v javac > /dev/null 2>&1 || ! command -v mvn > /dev/null 2>&1; then
    echo "# kafka_log_peer: SKIPPED: java, javac or mvn not installed"
    exit 0
fi
[ -x "$PAPER" ] || { echo "kafka_log_peer: $PAPER not built"; exit 1; }
CP=$(kafka_classpath) || { echo "kafka_log_peer: resolving Kafka $KAFKA_VERSION with Maven failed"; exit 1; }
CDIR=$KLOG_BUILD/interop/ulog.$(cksum < "$SRC" | cut -d' ' -f1)
if [ ! -f "$CDIR/UnifiedLogBench.class" ]; then
    mkdir -p "$CDIR" && javac -encoding UTF-8 -nowarn -cp "$CP" -d "$CDIR" "$SRC" ||
        { echo "kafka_log_peer: javac failed"; exit 1; }
fi
echo "# $N records of 200 B per case, rounds=$ROUNDS, scratch in $TMP"

VALS=$TMP/vals
mkdir -p "$VALS" "$TMP/ulog" "$TMP/paper"
keep() {
    echo "$2" >> "$VALS/$1"
}
# pick NAME FILE: the median of RESULT line NAME in FILE.
pick() {
    awk -F, -v n="$1" '$1 == "RESULT" && $2 == n { print $3 }' "$2"
}
run_kafka() {
    timeout 1200 java -Xmx1G -Xms1G -XX:+UseG1GC \
        -Dlog4j2.configurationFile="$ROOT/test/interop/kafka/log4j2-tools.properties" \
        -cp "$CDIR:$CP" UnifiedLogBench "$N" 1 "$TMP/ulog" > "$TMP/k.out" 2> "$TMP/k.err" || {
        echo "kafka_log_peer: UnifiedLogBench failed:"
        tail -20 "$TMP/k.err"
        return 1
    }
    for b in 1 50 1000; do
        keep "kafka.append.b$b" "$(pick "kafka.append.b$b" "$TMP/k.out")"
    done
    keep kafka.read.b50 "$(pick kafka.read.b50 "$TMP/k.out")"
}
run_klog() {
    timeout 1200 "$PAPER" --quick --records "$N" --runs 1 --dir "$TMP/paper" > "$TMP/p.out" 2> "$TMP/p.err" || {
        echo "kafka_log_peer: bench_paper failed:"
        tail -20 "$TMP/p.err"
        return 1
    }
    for b in 1 50 1000; do
        keep "klog.append.b$b" "$(pick "paper.append.b$b" "$TMP/p.out")"
    done
    keep klog.read.b50 "$(pick paper.read.iter "$TMP/p.out")"
}

r=1
while [ $r -le $ROUNDS ]; do
    if [ $((r % 2)) -eq 1 ]; then
        run_kafka && run_klog || exit 1
    else
        run_klog && run_kafka || exit 1
    fi
    r=$((r + 1))
done

# stat FIGURE: "median min max" of its runs.
stat() {
    sort -g "$VALS/$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s %s %s\n", m, v[1], v[NR] }'
}
printf '\n%-14s %14s %14s %10s %10s %9s\n' "case (med/$ROUNDS)" "klog rec/s" "Kafka rec/s" "klog MB/s" "Kafka MB/s" "klog/Kafka"
for f in append.b1 append.b50 append.b1000 read.b50; do
    for s in klog kafka; do
        [ -s "$VALS/$s.$f" ] && ! grep -qv '^[0-9][0-9.e+]*$' "$VALS/$s.$f" ||
            { echo "kafka_log_peer: no $s figure for $f"; exit 1; }
    done
    set -- $(stat "kafka.$f")
    km=$1
    echo "RESULT,ulog.kafka.$f,$1,rec/s,$2,$3,0"
    set -- $(stat "klog.$f")
    ratio=$(awk -v a="$1" -v b="$km" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    echo "RESULT,ulog.klog.$f,$1,rec/s,$2,$3,$ratio"
    awk -v f="$f" -v k="$1" -v a="$km" -v r="$ratio" 'BEGIN {
        printf "%-14s %14.0f %14.0f %10.1f %10.1f %9s\n", f, k, a, k * 200 / 1e6, a * 200 / 1e6, r }'
done
