#!/bin/sh
# kafka_peer.sh — kbroker against the Apache Kafka broker, in one run, on one
# machine, with one client (build/bench/rdk_peer, librdkafka). Run by
# `make bench` / `make bench-quick` beside the bench programs; prints
# RESULT,name,median,unit,min,max,ratio lines (ratio: kbroker / Kafka, medians
# of this run) and a table.
#
# Both brokers run side by side on 127.0.0.1 for the whole run; every
# measurement is taken on one and then the other (which goes first swaps each
# round), on fresh topics (all created at the start) deleted afterwards:
#   produce  COUNT records, 200 B and 1 KiB, acks=1 and acks=all, 1 and 4
#            partitions (round robin), librdkafka's default batching
#   consume  the acks=1 topic read back from offset 0 (assign, all partitions)
#   latency  produce-to-consume p50/p99, 200 B, 1 partition, acks=1, paced
#   cpu      the broker's user+system CPU (/proc/PID/stat) per GB of
#            payload, produce and consume runs separately
#   rss      the broker's peak resident set (VmHWM) at the end
# Kafka is the version pinned in test/interop/kafka/pom.xml (Maven fetches
# it), KRaft, one node, started with kafka-server-start.sh's JVM options
# (KAFKA_PEER_JVM overrides them). Without java or mvn: a note, and the
# kbroker figures only. Without librdkafka (no rdk_peer): a note, no figures.
#
# Usage: bench/kafka_peer.sh [--quick]   (KLOG_BUILD=build by default)
set -u
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
NAME=kafka_peer
KLOG_ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
KAFKA_OPTIONAL=1
KEEP_TMP=${KEEP_TMP:-}
KAFKA_BROKER_JVM=${KAFKA_PEER_JVM:--Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent}
. "$KLOG_ROOT/test/interop/kafka_common.sh"

if [ $QUICK -eq 1 ]; then
    ROUNDS=1 N200=20000 N1K=5000 NLAT=1000 RATE=1000
else
    ROUNDS=3 N200=500000 N1K=100000 NLAT=10000 RATE=1000
fi
RDK=$KLOG_BUILD/bench/rdk_peer
echo "# kafka_peer: kbroker vs Apache Kafka $KAFKA_VERSION with librdkafka, $(date -u '+%Y-%m-%d %H:%M UTC')"
if [ ! -x "$RDK" ]; then
    echo "# kafka_peer: SKIPPED: $RDK not built (librdkafka development files not found: apt-get install librdkafka-dev)"
    exit 0
fi
[ -x "$KBROKER" ] || { echo "kafka_peer: $KBROKER not built"; exit 1; }
echo "# librdkafka $(pkg-config --modversion rdkafka 2> /dev/null); rounds=$ROUNDS; produce/consume: $N200 x 200 B, $N1K x 1 KiB; latency: $NLAT records at $RATE/s"

BROKERS=kbroker
if command -v java > /dev/null 2>&1 && command -v mvn > /dev/null 2>&1; then
    CP=$(kafka_classpath) || { echo "kafka_peer: resolving Kafka $KAFKA_VERSION with Maven failed"; exit 1; }
    BROKERS="kbroker kafka"
else
    echo "# kafka_peer: NOTE: java or mvn not installed: no Apache Kafka broker, kbroker figures only"
fi

VALS=$TMP/vals
mkdir -p "$VALS"
CLK=$(getconf CLK_TCK)
# cpu_ticks PID: user + system clock ticks of a process so far.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"
}
# keep FIGURE VALUE: one run's value of a figure.
keep() {
    echo "$2" >> "$VALS/$1"
}
# field KEY LINE: the value of KEY=... in a line of rdk_peer's output.
field() {
    echo "$2" | tr ' ' '\n' | sed -n "s|^$1=||p"
}

# ------------------------------------------------------------ the brokers
kbroker_start() {
    : > "$TMP/kb.out"
    "$KBROKER" -d "$TMP/kbroker" -l 127.0.0.1:0 --no-auto-create > "$TMP/kb.out" 2> "$TMP/kb.err" &
    KBPID=$!
    at_exit 'kill $KBPID 2> /dev/null; wait $KBPID 2> /dev/null'
    i=0
    while [ $i -lt 200 ] && ! grep -q '^listening on' "$TMP/kb.out"; do
        sleep 0.05
        i=$((i + 1))
    done
    KBADDR=$(sed -n 's/^listening on //p' "$TMP/kb.out")
    [ -n "$KBADDR" ] || { echo "kafka_peer: kbroker did not start"; cat "$TMP/kb.err"; return 1; }
}
kbroker_start || exit 1
if [ "$BROKERS" != kbroker ]; then
    t0=$(date +%s)
    kafka_setup "$TMP/kafka" log.segment.delete.delay.ms=1000 || { echo "kafka_peer: Kafka setup failed"; exit 1; }
    kafka_start || { echo "kafka_peer: Kafka did not start"; tail -20 "$KDIR/logs/server.log"; exit 1; }
    echo "# Apache Kafka $KAFKA_VERSION on $KB, up in $(($(date +%s) - t0)) s (JVM: $KAFKA_BROKER_JVM)"
fi
addr_of() { [ "$1" = kbroker ] && echo "$KBADDR" || echo "$KB"; }
pid_of() { [ "$1" = kbroker ] && echo "$KBPID" || echo "$KPID"; }

# create BROKER TOPIC PARTITIONS: the topic, ready for clients.
create() {
    timeout 60 "$RDK" create "$(addr_of "$1")" "$2" "$3" || return 1
    [ "$1" = kbroker ] || kafka_wait_partitions "$2" "$3"
}
drop() {
    timeout 60 "$RDK" delete "$(addr_of "$1")" "$2" > /dev/null || echo "kafka_peer: deleting $2 on $1 failed"
}
# run_client BROKER FILE ARGS...: rdk_peer's output line into FILE, the
# broker's CPU ticks spent meanwhile into $TICKS.
run_client() {
    rb=$1 rf=$2
    shift 2
    rpid=$(pid_of "$rb")
    c0=$(cpu_ticks "$rpid")
    timeout 600 "$RDK" "$@" > "$rf" 2> "$rf.err" || {
        echo "kafka_peer: $rb: rdk_peer $* failed:"
        cat "$rf.err"
        return 1
    }
    TICKS=$(($(cpu_ticks "$rpid") - c0))
}

# ------------------------------------------------------------ the run
# Every topic of the run is created first, on both brokers (rdk_peer create
# waits for a leader of each partition), so that no timed run starts while
# a broker is still settling a new topic (a producer started right after
# Kafka's CreateTopics can get UNKNOWN_TOPIC_OR_PARTITION); each is deleted
# once measured.
for b in $BROKERS; do
    create "$b" warm 1 && create "$b" warm-lat 1 || { echo "kafka_peer: create warm on $b failed"; exit 1; }
    r=1
    while [ $r -le $ROUNDS ]; do
        for parts in 1 4; do for sz in 200B 1KiB; do for acks in 1 all; do
            create "$b" "p$parts-$sz-acks$acks-r$r" $parts || { echo "kafka_peer: create on $b failed"; exit 1; }
        done; done; done
        create "$b" "lat-r$r" 1 || { echo "kafka_peer: create on $b failed"; exit 1; }
        r=$((r + 1))
    done
done
# Warm-up on each broker, not counted: one produce, consume and latency run
# each (the JVM's JIT; a first latency run on a fresh JVM lags by up to a
# second, on this machine).
for b in $BROKERS; do
    run_client "$b" "$TMP/warm" produce "$(addr_of "$b")" warm 1 "$N200" 200 1 &&
        run_client "$b" "$TMP/warm" consume "$(addr_of "$b")" warm 1 "$N200" 200 &&
        run_client "$b" "$TMP/warm" latency "$(addr_of "$b")" warm-lat $NLAT 200 1 $RATE || exit 1
    drop "$b" warm
    drop "$b" warm-lat
done

r=1
while [ $r -le $ROUNDS ]; do
    order=$BROKERS
    [ $((r % 2)) -eq 0 ] && [ "$BROKERS" != kbroker ] && order="kafka kbroker"
    for b in $order; do
        : > "$VALS/.cpu.$b.$r"
    done
    for parts in 1 4; do
        for size in 200 1024; do
            sz=200B cnt=$N200
            [ $size -eq 1024 ] && sz=1KiB cnt=$N1K
            for b in $order; do
                a=$(addr_of "$b")
                for acks in 1 all; do
                    t=p$parts-$sz-acks$acks-r$r
                    run_client "$b" "$TMP/out" produce "$a" "$t" $parts $cnt $size $acks || exit 1
                    l=$(cat "$TMP/out")
                    keep "peer.$b.produce.acks$acks.${parts}p.$sz" "$(field msgs/s "$l")"
                    echo "produce $TICKS $((cnt * size))" >> "$VALS/.cpu.$b.$r"
                    if [ $acks = 1 ]; then
                        run_client "$b" "$TMP/out" consume "$a" "$t" $parts $cnt $size || exit 1
                        l=$(cat "$TMP/out")
                        keep "peer.$b.consume.${parts}p.$sz" "$(field msgs/s "$l")"
                        echo "consume $TICKS $((cnt * size))" >> "$VALS/.cpu.$b.$r"
                    fi
                    drop "$b" "$t"
                done
            done
        done
    done
    for b in $order; do
        t=lat-r$r
        run_client "$b" "$TMP/out" latency "$(addr_of "$b")" "$t" $NLAT 200 1 $RATE || exit 1
        l=$(cat "$TMP/out")
        keep "peer.$b.latency.p50" "$(field p50_us "$l")"
        keep "peer.$b.latency.p99" "$(field p99_us "$l")"
        drop "$b" "$t"
        # CPU seconds per GB of payload over this round's runs.
        awk -v clk="$CLK" '{ t[$1] += $2; n[$1] += $3 }
            END { printf "%.3f %.3f\n", t["produce"] / clk / (n["produce"] / 1e9), t["consume"] / clk / (n["consume"] / 1e9) }' \
            "$VALS/.cpu.$b.$r" > "$TMP/cpu"
        read -r cp cc < "$TMP/cpu"
        keep "peer.$b.cpu.produce" "$cp"
        keep "peer.$b.cpu.consume" "$cc"
    done
    r=$((r + 1))
done
for b in $BROKERS; do
    keep "peer.$b.rss.peak" "$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$(pid_of "$b")/status")"
done

# ------------------------------------------------------------ the figures
# stat FIGURE: "median min max" of its runs.
stat() {
    sort -g "$VALS/$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s %s %s\n", m, v[1], v[NR] }'
}
unit_of() {
    case $1 in
    latency.*) echo us ;;
    cpu.*) echo s/GB ;;
    rss.*) echo MB ;;
    *) echo msgs/s ;;
    esac
}
printf '\n%-28s %14s %14s %8s\n' "figure (median of $ROUNDS)" kbroker kafka "kb/kafka"
for f in $(cd "$VALS" && ls peer.kbroker.* | sed 's/^peer\.kbroker\.//'); do
    set -- $(stat "peer.kbroker.$f")
    km=$1 klo=$2 khi=$3
    ratio=0 am=-
    if [ -s "$VALS/peer.kafka.$f" ]; then
        set -- $(stat "peer.kafka.$f")
        am=$1
        ratio=$(awk -v a="$km" -v b="$am" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
        echo "RESULT,peer.kafka.$f,$1,$(unit_of "$f"),$2,$3,0"
    fi
    echo "RESULT,peer.kbroker.$f,$km,$(unit_of "$f"),$klo,$khi,$ratio"
    printf '%-28s %14s %14s %8s  %s\n' "$f" "$km" "$am" "$ratio" "$(unit_of "$f")"
done
[ "$BROKERS" = kbroker ] || kafka_stop
kill -TERM "$KBPID"
wait "$KBPID"
