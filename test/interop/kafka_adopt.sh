#!/bin/sh
# kafka_adopt.sh — libklog takes over a directory Apache Kafka wrote
# (klog_adopt, `klogcat adopt`). A one-node KRaft Kafka is given:
#   k_<codec>   kcat (librdkafka) producing keyed records with headers, one
#               topic per codec (none, gzip, snappy, lz4, zstd)
#   j_idem      the Java client, idempotent producer, lz4
#   j_txn       the Java client, transactional producer (every third
#               transaction aborted), snappy
#   j_zstd      the Java client, plain producer (acks=1), zstd
#   c_compact   a compacted topic (rolled by segment.ms, cleaned by Kafka's
#               log cleaner: offset gaps, tombstones)
# Kafka's Java consumer reads each topic back (read_uncommitted, as libklog
# keeps aborted records too); Kafka is stopped; a copy of its log directory
# is adopted by `klogcat adopt -c server.properties`; then libklog reads
# every partition and must return exactly what Kafka's consumer returned
# (offset, timestamp, key, value, headers; transaction markers are control
# records, which no Kafka consumer returns either), and `klogcat verify`
# finds no problem. Finally adopting the adopted copy again is refused.
NAME=kafka_adopt
. "$(dirname "$0")/kafka_common.sh"
command -v kcat > /dev/null 2>&1 || skip_all "kcat not installed"

K=$TMP/kafka
# (kafka_setup turns time retention off; -c passes that on to the adopted
# topics.)
if ! kafka_setup "$K" log.cleaner.backoff.ms=300 ||
    ! kafka_start; then
    fail "start Kafka $KAFKA_VERSION"
    show "$K/logs/server.log"
    finish
fi
CODECS="none gzip snappy lz4 zstd"
TOPICS=
create() { # TOPIC [--config K=V]...
    t=$1
    shift
    if kafka_topics --create --topic "$t" --partitions 1 --replication-factor 1 "$@" \
        > "$TMP/create_$t" 2>&1 && kafka_wait_partitions "$t" 1; then
        TOPICS="$TOPICS $t"
        return 0
    fi
    fail "create topic $t"
    show "$TMP/create_$t"
    return 1
}

# --- kcat (librdkafka), every codec, keys, headers, empty and null values
awk 'BEGIN { for (i = 0; i < 4000; i++) {
        v = sprintf("value %d ", i); for (j = 0; j < i % 97; j++) v = v substr("klogkafka", 1 + j % 9, 1)
        printf "key-%d\t%s\n", i % 1300, (i % 50 == 7) ? "" : v } }' > "$TMP/kcat.in"
for z in $CODECS; do
    create "k_$z" || continue
    timeout 120 kcat -b "$KB" -P -t "k_$z" -p 0 -K '	' -z $z -H h1=v1 -H trace=abc \
        -X linger.ms=5 -X message.timeout.ms=30000 < "$TMP/kcat.in" 2> "$TMP/kp_$z.err" ||
        { fail "kcat produce k_$z"; show "$TMP/kp_$z.err"; }
done

# --- the Java client: idempotent, transactional, plain zstd
create j_idem && { oracle_client produce "$KB" j_idem 0 3000 idempotent lz4 > /dev/null 2> "$TMP/jp1.err" ||
    { fail "Java idempotent producer"; show "$TMP/jp1.err"; }; }
create j_txn && { oracle_txn_produce "$TMP/jp2.err" "$KB" j_txn 0 600 snappy ||
    { fail "Java transactional producer"; show "$TMP/jp2.err"; }; }
create j_zstd && { oracle_client produce "$KB" j_zstd 0 3000 plain zstd > /dev/null 2> "$TMP/jp3.err" ||
    { fail "Java plain producer"; show "$TMP/jp3.err"; }; }

# --- a compacted topic: three rounds over 200 keys (tombstones for some in
# the last), a segment roll between rounds, then Kafka's cleaner.
if create c_compact --config cleanup.policy=compact --config segment.ms=1000 \
    --config min.cleanable.dirty.ratio=0.01 --config min.compaction.lag.ms=0; then
    for round in 1 2 3; do
        awk -v r=$round 'BEGIN { for (i = 0; i < 1000; i++) printf "ck-%d\tround %d value %d\n", i % 200, r, i }' |
            timeout 60 kcat -b "$KB" -P -t c_compact -p 0 -K '	' -z lz4 2> "$TMP/kc.err" ||
            fail "kcat produce c_compact round $round"
        sleep 1.3
    done
    printf 'ck-3\nck-4\nck-5\n' | timeout 60 kcat -b "$KB" -P -t c_compact -p 0 -K '	' -Z 2>> "$TMP/kc.err"
    i=0
    while [ $i -lt 120 ] && ! grep -q 'Swapping in cleaned segment.*c_compact-0' "$K/logs/server.log"; do
        sleep 0.5
        i=$((i + 1))
    done
    if grep -q 'Swapping in cleaned segment.*c_compact-0' "$K/logs/server.log"; then
        COMPACTED=1
    else
        fail "Kafka's log cleaner did not compact c_compact within 60 s"
    fi
fi

# --- what Kafka's consumer reads: the reference
for t in $TOPICS; do
    oracle_client consume "$KB" "$t" 0 > "$TMP/ref_$t" 2> "$TMP/ref_$t.err" ||
        { fail "Java consumer reads $t from Kafka"; show "$TMP/ref_$t.err"; }
done
if [ -n "$COMPACTED" ]; then
    n=$(wc -l < "$TMP/ref_c_compact")
    first=$(head -1 "$TMP/ref_c_compact" | cut -d' ' -f1)
    if [ "$n" -lt 3003 ]; then
        pass "Kafka's log cleaner compacted c_compact: $n of 3003 records left, first offset $first"
    else
        fail "c_compact: cleaner ran but $n of 3003 records are left"
    fi
fi
kafka_stop
[ -f "$K/data/.kafka_cleanshutdown" ] || fail "Kafka did not shut down cleanly"

# --- adopt a copy
A=$TMP/adopted
cp -a "$K/data" "$A" || { fail "copy Kafka's log directory"; finish; }
if "$KLOGCAT" adopt "$A" -c "$K/server.properties" -v > "$TMP/adopt.out" 2> "$TMP/adopt.err"; then
    nt=$(grep -c '^adopted topic ' "$TMP/adopt.out")
    ntopics=$(echo $TOPICS | wc -w)
    if [ "$nt" -eq "$ntopics" ]; then
        pass "klogcat adopt: $nt topics adopted (Kafka's internal topics left out)"
        if "$KLOGCAT" dump "$A/klog.topics" 2>&1 | grep -q 'retention.ms[ =:]*-1'; then
            pass "klogcat adopt -c: the broker's log.retention.ms=-1 is the adopted topics' retention.ms"
        else
            fail "klogcat adopt -c: retention.ms from server.properties not in klog.topics"
            "$KLOGCAT" dump "$A/klog.topics" 2>&1 | show /dev/stdin
        fi
    else
        fail "klogcat adopt: $nt topics adopted, expected $ntopics"
        show "$TMP/adopt.out"
    fi
    if grep -q 'truncated' "$TMP/adopt.err" && ! grep -q ' 0 truncated' "$TMP/adopt.err"; then
        fail "libklog's recovery cut Kafka's data while adopting"
        show "$TMP/adopt.err"
    fi
else
    fail "klogcat adopt"
    show "$TMP/adopt.err"
    finish
fi
for t in $TOPICS; do
    n=$(wc -l < "$TMP/ref_$t")
    if ! "$GEN" read "$A" "$t" 0 -F canon > "$TMP/got_$t" 2> "$TMP/got_$t.err"; then
        fail "libklog reads adopted $t"
        show "$TMP/got_$t.err"
    elif [ "$n" -gt 0 ] && cmp -s "$TMP/ref_$t" "$TMP/got_$t"; then
        pass "adopted $t: libklog reads the $n records Kafka's consumer read, identical$(sed -n 's/^oracle_gen: \(.*\) skipped$/ (\1 skipped)/p' "$TMP/got_$t.err")"
    else
        fail "adopted $t: libklog read $(wc -l < "$TMP/got_$t") records, Kafka's consumer $n"
        diff "$TMP/ref_$t" "$TMP/got_$t" | head -6 | show /dev/stdin
    fi
done
# verify may warn only about the directories of Kafka's internal topics,
# which were not adopted.
if "$KLOGCAT" verify "$A" > "$TMP/verify.out" 2>&1 &&
    grep -q ': 0 problem(s)' "$TMP/verify.out" &&
    ! grep 'warning' "$TMP/verify.out" | grep -v '^verify: ' | grep -qv '/__[a-z_]*-[0-9]*:.*not a partition of a topic'; then
    pass "klogcat verify on the adopted directory: $(tail -1 "$TMP/verify.out" | sed 's/^verify: //')"
else
    fail "klogcat verify on the adopted directory"
    show "$TMP/verify.out"
fi
if "$KLOGCAT" adopt "$A" > /dev/null 2> "$TMP/again.err"; then
    fail "adopting an adopted directory again succeeded"
elif grep -q 'already a libklog directory\|File exists' "$TMP/again.err"; then
    pass "adopting an adopted directory again is refused"
else
    fail "adopting again failed for another reason"
    show "$TMP/again.err"
fi
finish
