#!/bin/sh
# kafka_takeover.sh — a real Kafka broker takes over libklog's partition
# directories. A one-node KRaft Kafka creates topic t with 5 partitions and
# stops; each partition's Kafka segment files are replaced by those of a
# libklog log (partition.metadata and leader-epoch-checkpoint stay Kafka's):
#   t-0 uncompressed, rolled          t-1 gzip, truncated and appended again
#   t-2 snappy, kill -9 + torn tail + recovered, appended again
#   t-3 lz4, follower appends (leader epoch 0, idempotent producer id)
#   t-4 zstd, default configuration
# Then, twice:
#   1. as a moved directory (Kafka's clean-shutdown marker in place): Kafka
#      trusts libklog's segments and indexes as they are;
#   2. the same files again with no marker and an empty recovery-point
#      checkpoint: Kafka recovers every segment (re-reads each batch with its
#      CRC, rebuilds the indexes), and its log must report nothing to repair
#      for any t-N (no truncation, invalid or corrupt data, deleted segment,
#      warning);
# and each time kcat and Kafka's Java consumer read every record back with
# the offset, timestamp, key, value and headers libklog wrote. The indexes
# Kafka rebuilt equal libklog's byte for byte (sealed segments; see below
# for the two segments where appends resumed mid-segment).
NAME=kafka_takeover
. "$(dirname "$0")/kafka_common.sh"
command -v kcat > /dev/null 2>&1 || skip_all "kcat not installed"

L=$TMP/libklog
mkdir -p "$L" || exit 1
# build_partition N: write libklog partition N's log in $L/pN (topic t,
# partition 0) and its expected records, in canon and kcat form, in
# $TMP/expN.canon and $TMP/expN.kcat.
ranges() { # FIRST COUNT GEN ... -> expected records of those ranges
    fmt=$1
    shift
    while [ $# -ge 3 ]; do
        "$GEN" expect "$1" "$2" "$3" -F "$fmt" || return 1
        shift 3
    done
}
build_partition() {
    d=$L/p$1
    case $1 in
    0) "$GEN" write "$d" t 0 0 1500 0 -s 16384 -i 1024 > /dev/null && set -- 0 1500 0 ;;
    1) "$GEN" write "$d" t 0 0 1500 0 -z gzip -s 16384 -i 1024 > /dev/null &&
        "$GEN" truncate "$d" t 0 798 &&
        "$GEN" write "$d" t 0 798 400 1 > /dev/null && set -- 0 798 0 798 400 1 ;;
    2) "$GEN" write "$d" t 0 0 700 0 -z snappy -s 16384 -i 1024 > /dev/null
        "$GEN" write "$d" t 0 700 300 0 -K > /dev/null 2>&1
        [ $? -eq 137 ] || return 1
        truncate -s -25 "$(ls "$d"/t-0/*.log | tail -1)" &&
            "$GEN" open "$d" 2> /dev/null &&
            "$GEN" write "$d" t 0 994 300 2 > /dev/null && set -- 0 994 0 994 300 2 ;;
    3) "$GEN" write "$d" t 0 0 900 0 -f -e 0 -P 77 -z lz4 -s 16384 -i 1024 > /dev/null &&
        set -- 0 900 0 ;;
    4) "$GEN" write "$d" t 0 0 3000 0 -z zstd -b 40 > /dev/null && set -- 0 3000 0 ;;
    esac || return 1
    ranges canon "$@" > "$TMP/exp$p.canon" && ranges kcat "$@" > "$TMP/exp$p.kcat"
}

P=5
ok=1
p=0
while [ $p -lt $P ]; do
    build_partition $p || { fail "libklog partition $p: oracle_gen"; ok=0; }
    p=$((p + 1))
done
[ $ok -eq 1 ] || finish

K=$TMP/kafka
if ! kafka_setup "$K" || ! kafka_start; then
    fail "start Kafka $KAFKA_VERSION (KRaft, one node)"
    show "$K/logs/server.log"
    finish
fi
if ! kafka_topics --create --topic t --partitions $P --replication-factor 1 \
    --config index.interval.bytes=1024 > "$TMP/create.out" 2>&1 ||
    ! kafka_wait_partitions t $P; then
    fail "create topic t"
    show "$TMP/create.out"
    finish
fi
kafka_stop
[ -f "$K/data/.kafka_cleanshutdown" ] || fail "Kafka did not shut down cleanly"

# The move: Kafka-format files only (.log, .index, .timeindex); libklog's own
# (.seal, klog.state, klog.topics, its checkpoints) stay behind.
place_files() {
    p=0
    while [ $p -lt $P ]; do
        kd=$K/data/t-$p
        rm -f "$kd"/*.log "$kd"/*.index "$kd"/*.timeindex "$kd"/*.snapshot
        cp "$L/p$p"/t-0/*.log "$L/p$p"/t-0/*.index "$L/p$p"/t-0/*.timeindex "$kd"/ || return 1
        p=$((p + 1))
    done
}
# consume_all TAG: every partition with kcat and with the Java consumer.
consume_all() {
    p=0
    while [ $p -lt $P ]; do
        n=$(wc -l < "$TMP/exp$p.kcat")
        timeout 120 kcat -b "$KB" -C -t t -p $p -o beginning -e -q -X check.crcs=true \
            -f '%o %T %K %k %S %s %h\n' > "$TMP/kcat$p.out" 2> "$TMP/kcat$p.err"
        rc=$?
        if [ $rc -eq 0 ] && cmp -s "$TMP/exp$p.kcat" "$TMP/kcat$p.out"; then
            pass "$1: kcat reads t-$p: $n records identical"
        else
            fail "$1: kcat reads t-$p (exit $rc, $(wc -l < "$TMP/kcat$p.out") of $n records)"
            { diff "$TMP/exp$p.kcat" "$TMP/kcat$p.out" | head -6; cat "$TMP/kcat$p.err"; } | show /dev/stdin
        fi
        oracle_client consume "$KB" t $p > "$TMP/java$p.out" 2> "$TMP/java$p.err"
        rc=$?
        if [ $rc -eq 0 ] && cmp -s "$TMP/exp$p.canon" "$TMP/java$p.out"; then
            pass "$1: Java consumer reads t-$p: $n records identical"
        else
            fail "$1: Java consumer reads t-$p (exit $rc, $(wc -l < "$TMP/java$p.out") of $n records)"
            { diff "$TMP/exp$p.canon" "$TMP/java$p.out" | head -6; head -5 "$TMP/java$p.err"; } | show /dev/stdin
        fi
        p=$((p + 1))
    done
}
# 1. A directory moved as it is, with the clean-shutdown marker: Kafka
# trusts libklog's segments and indexes without re-reading them, and serves
# fetches through libklog's offset indexes.
place_files || fail "copy libklog's files into Kafka's partition directories"
[ -f "$K/data/.kafka_cleanshutdown" ] || fail "Kafka did not shut down cleanly"
if kafka_start; then
    consume_all "moved, clean"
    kafka_stop
else
    fail "Kafka starts on libklog's files (clean shutdown marker)"
    show "$K/logs/server.log"
    finish
fi

# 2. The same files, without the marker: Kafka recovers every segment.
place_files || fail "copy libklog's files again"
# Recovery point 0 for every partition (the empty checkpoint), so Kafka
# recovers all segments, not just those past the point the clean run wrote.
rm -f "$K/data/.kafka_cleanshutdown"
printf '0\n0\n' > "$K/data/recovery-point-offset-checkpoint"
mark=$(wc -l < "$K/logs/server.log")
if ! kafka_start; then
    fail "Kafka restarts on libklog's files"
    tail -n +$((mark + 1)) "$K/logs/server.log" | grep -i 'error\|exception' | show /dev/stdin
    finish
fi
tail -n +$((mark + 1)) "$K/logs/server.log" > "$TMP/recovery.log"

# What Kafka's log recovery said about t-N.
grep -E '(t-[0-9]+|topic=t,? |partition=t-)' "$TMP/recovery.log" > "$TMP/recovery.t"
if grep -v 'rebuilding producer state' "$TMP/recovery.t" |
    grep -iE ' warn |truncat|invalid|corrupt|delet|rebuild|error|exception|mismatch|overflow' > "$TMP/repairs"; then
    fail "Kafka's log recovery repaired libklog's files"
    show "$TMP/repairs"
else
    pass "Kafka's log recovery reports nothing to repair"
fi
nrec=$(grep -c 'Recovering unflushed segment' "$TMP/recovery.t")
nseg=$(ls "$L"/p*/t-0/*.log | wc -l)
if [ "$nrec" -eq "$nseg" ]; then
    pass "Kafka recovered (re-read and re-indexed) all $nrec libklog segments"
else
    fail "Kafka recovered $nrec segments, not all $nseg"
    show "$TMP/recovery.t"
fi

consume_all "after recovery"
kafka_stop

# The indexes Kafka rebuilt in recovery against libklog's, for sealed
# segments (every one but the last of a partition). Kafka's recovery puts an
# entry after each `index.interval.bytes` counted from the previous entry;
# its append path (and libklog's) counts from where appending resumed after
# the log was reopened, truncated or recovered. So the segments where
# appends resumed (t-1 at 798 after the truncation; t-2 at 700 after a clean
# reopen, unless the crash came before that segment was sealed and libklog's
# recovery rebuilt it by Kafka's rule, and at 994 after the recovery) may
# differ: both indexes are valid (kafka_dumplog.sh verifies libklog's).
resumed_at() { case $1 in 1) echo 798 ;; 2) echo 700 994 ;; *) echo ;; esac; }
same=0
diffs=
expected=
p=0
while [ $p -lt $P ]; do
    r=$(resumed_at $p)
    bases=$(ls "$L/p$p"/t-0/*.log | sed 's:.*/0*\([0-9][0-9]*\)\.log$:\1:; s:.*/0*\.log$:0:')
    last=$(echo "$bases" | tail -1)
    for b in $bases; do
        [ "$b" = "$last" ] && continue
        nxt=$(echo "$bases" | awk -v b="$b" '$1 > b { print; exit }')
        f=$(printf '%020d' "$b")
        for sfx in index timeindex; do
            if cmp -s "$L/p$p/t-0/$f.$sfx" "$K/data/t-$p/$f.$sfx"; then
                same=$((same + 1))
            elif (for x in $r; do [ "$x" -ge "$b" ] && [ "$x" -lt "$nxt" ] && exit 0; done; exit 1); then
                expected="$expected t-$p/$f.$sfx"
            else
                diffs="$diffs t-$p/$f.$sfx"
            fi
        done
    done
    p=$((p + 1))
done
if [ -z "$diffs" ] && [ $same -gt 0 ]; then
    pass "$same sealed-segment indexes Kafka rebuilt are byte-identical to libklog's${expected:+ (differing as expected, appends resumed inside:$expected)}"
else
    fail "indexes Kafka rebuilt differ from libklog's:$diffs ($same identical)"
fi
finish
