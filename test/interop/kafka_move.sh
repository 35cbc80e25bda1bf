#!/bin/sh
# kafka_move.sh — moving a libklog topic's directory to a Kafka broker, by
# exactly the steps of README "Moving to Kafka" (each step below names its
# number there). The libklog topic m (3 partitions, 16 KiB segments, an
# index entry per KiB) is written by oracle_gen; its writer is killed with
# SIGKILL in the middle of appending to partition 2, and the last segment
# is then torn as a power cut leaves it; partition 1 had DeleteRecords
# (log start 250, inside a segment). Then the procedure:
#   1. the writer is stopped (here: it died of SIGKILL);
#   2. klogmirror recover DIR; klogcat verify DIR reports nothing;
#   3. klogcat -L records each partition's log start and end;
#   4. Kafka creates topic m with 3 partitions, stops cleanly;
#   5. each partition's .log/.index/.timeindex replace Kafka's empty ones,
#      partition.metadata and leader-epoch-checkpoint stay Kafka's;
#   6. Kafka starts; kafka-delete-records sets partition 1's log start;
#   7. verify: Kafka's earliest/latest offsets equal libklog's; kcat reads
#      every record libklog reads (offset, timestamp, key, value,
#      headers); a new record lands at libklog's log end.
NAME=kafka_move
. "$(dirname "$0")/kafka_common.sh"
command -v kcat > /dev/null 2>&1 || skip_all "kcat not installed"
MIRROR=$KLOG_BUILD/klogmirror
[ -x "$MIRROR" ] || skip_all "$MIRROR not built (needs librdkafka-dev)"

D=$TMP/app
# The application's log: partition 2 first (oracle_gen creates the topic
# with PART + 1 partitions), then 0 and 1.
"$GEN" write "$D" m 2 0 800 0 -z lz4 -s 16384 -i 1024 > /dev/null &&
    "$GEN" write "$D" m 0 0 1200 0 > /dev/null &&
    "$GEN" write "$D" m 1 0 900 0 -b 3 > /dev/null &&
    "$KLOGCAT" -d "$D" -t m --delete-records -o 250 -p 1 > /dev/null 2>&1 ||
    { fail "write the application's log"; finish; }
# The writer dies of SIGKILL right after appending 800..1099 to partition 2,
# and the tail of that segment is torn (cut inside the last batch).
"$GEN" write "$D" m 2 800 300 0 -K > /dev/null 2>&1
krc=$?
last=$(ls "$D"/m-2/*.log | tail -1)
truncate -s -30 "$last"
[ $krc -eq 137 ] || fail "the writer was not killed (exit $krc)"

# Step 2: recovery, then verification.
if "$MIRROR" recover "$D" > "$TMP/recover.out" 2>&1 &&
    "$KLOGCAT" verify "$D" > "$TMP/verify.out" 2>&1; then
    pass "step 2: recovered after kill -9 and a torn tail ($(grep -c . "$TMP/recover.out") recovery messages), klogcat verify clean"
else
    fail "step 2: recovery or verify"
    show "$TMP/recover.out"
    show "$TMP/verify.out"
    finish
fi
# Step 3: the offsets Kafka must show, and the records it must serve.
"$KLOGCAT" -d "$D" -L -t m -J > "$TMP/offsets.json" || fail "step 3: klogcat -L"
offsets() { # P FIELD
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print([p for p in d["topics"][0]["partitions"] if p["partition"] == int(sys.argv[2])][0][sys.argv[3]])' \
        "$TMP/offsets.json" "$1" "$2"
}
for p in 0 1 2; do
    "$GEN" read "$D" m $p -F kcat > "$TMP/exp$p" || fail "step 3: read m-$p"
done
s1=$(offsets 1 log_start)
e2=$(offsets 2 log_end)
[ "$s1" = 250 ] && [ "$e2" -lt 1100 ] && [ "$e2" -gt 800 ] ||
    fail "step 3: unexpected offsets (m-1 start $s1, m-2 end $e2 after the torn tail)"

# Step 4: the topic in Kafka, created and the broker stopped cleanly.
K=$TMP/kafka
if ! kafka_setup "$K" || ! kafka_start; then
    fail "start Kafka $KAFKA_VERSION (KRaft, one node)"
    show "$K/logs/server.log"
    finish
fi
kafka_topics --create --topic m --partitions 3 --replication-factor 1 \
    --config index.interval.bytes=1024 > "$TMP/create.out" 2>&1 && kafka_wait_partitions m 3 ||
    { fail "step 4: create topic m"; show "$TMP/create.out"; finish; }
kafka_stop
[ -f "$K/data/.kafka_cleanshutdown" ] || fail "step 4: Kafka did not shut down cleanly"

# Step 5: the files.
ok=1
for p in 0 1 2; do
    kd=$K/data/m-$p
    rm -f "$kd"/*.log "$kd"/*.index "$kd"/*.timeindex "$kd"/*.snapshot &&
        cp "$D"/m-$p/*.log "$D"/m-$p/*.index "$D"/m-$p/*.timeindex "$kd"/ || ok=0
    [ -f "$kd/partition.metadata" ] || ok=0
done
[ $ok -eq 1 ] && pass "step 5: libklog's segment files in place, Kafka's partition.metadata kept" ||
    fail "step 5: copying the files"

# Step 6: start; the log start of partition 1 set again.
mark=$(wc -l < "$K/logs/server.log")
if ! kafka_start; then
    fail "step 6: Kafka starts on the moved files"
    tail -n +$((mark + 1)) "$K/logs/server.log" | grep -i 'error\|exception' | show /dev/stdin
    finish
fi
printf '{"partitions":[{"topic":"m","partition":1,"offset":%s}],"version":1}\n' "$s1" > "$TMP/del.json"
kafka_tool org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$KB" \
    --offset-json-file "$TMP/del.json" > "$TMP/del.out" 2>&1 ||
    { fail "step 6: kafka-delete-records"; show "$TMP/del.out"; }
tail -n +$((mark + 1)) "$K/logs/server.log" | grep -E 'm-[0-9]' |
    grep -iE ' warn |truncat|invalid|corrupt|error|exception|mismatch' > "$TMP/complaints"
[ -s "$TMP/complaints" ] && { fail "step 6: Kafka complained about the moved partitions"; show "$TMP/complaints"; } ||
    pass "step 6: Kafka loaded the moved partitions with no warning"

# Step 7: verification.
kafka_tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$KB" --topic m --time -2 \
    > "$TMP/earliest" 2> /dev/null
kafka_tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$KB" --topic m --time -1 \
    > "$TMP/latest" 2> /dev/null
for p in 0 1 2; do
    ks=$(sed -n "s/^m:$p://p" "$TMP/earliest") ke=$(sed -n "s/^m:$p://p" "$TMP/latest")
    ls=$(offsets $p log_start) le=$(offsets $p log_end)
    if [ "$ks" = "$ls" ] && [ "$ke" = "$le" ]; then
        pass "step 7: m-$p earliest/latest offsets $ks/$ke equal libklog's"
    else
        fail "step 7: m-$p Kafka offsets $ks/$ke, libklog's $ls/$le"
    fi
    timeout 120 kcat -b "$KB" -C -t m -p $p -o beginning -e -q -X check.crcs=true \
        -f '%o %T %K %k %S %s %h\n' > "$TMP/kcat$p" 2> "$TMP/kcat$p.err"
    if cmp -s "$TMP/exp$p" "$TMP/kcat$p" && [ -s "$TMP/exp$p" ]; then
        pass "step 7: kcat reads m-$p's $(wc -l < "$TMP/exp$p") records as libklog does"
    else
        fail "step 7: kcat reads m-$p differently ($(wc -l < "$TMP/kcat$p") of $(wc -l < "$TMP/exp$p"))"
        { diff "$TMP/exp$p" "$TMP/kcat$p" | head -6; cat "$TMP/kcat$p.err"; } | show /dev/stdin
    fi
done
printf 'after-move\n' | timeout 60 kcat -b "$KB" -P -t m -p 2 2> "$TMP/p.err"
o=$(timeout 30 kcat -b "$KB" -C -t m -p 2 -o -1 -c 1 -e -q -f '%o %s\n' 2> /dev/null)
[ "$o" = "$e2 after-move" ] && pass "step 7: a new record on m-2 lands at libklog's log end $e2" ||
    fail "step 7: a new record on m-2 landed at '$o', not $e2"
kafka_stop
finish
