#!/bin/sh
# kafka_mirror.sh — the way out of one machine, against a real Kafka broker
# (one-node KRaft, started here), each direction with kill -9 of the mirror
# process in the middle (README "Moving to Kafka"):
#   mirror out: klogmirror out ships local topic t (its writer still
#     appending) to Kafka topic mo; killed with SIGKILL twice while records
#     flow, restarted each time, then run to the end (-e). Kafka's Java
#     consumer reads every record exactly once, in order, at the offset it
#     had locally, with its timestamp, key, value and headers (plus the
#     mirror's klog.offset header).
#   mirror in: klogmirror in replicates Kafka topic mi (partition 0: an
#     idempotent producer's lz4 batches then kcat's zstd ones; partition 1: a
#     transactional producer's, with aborted transactions and markers);
#     killed with SIGKILL mid-stream, restarted; DeleteRecords on the
#     broker moves partition 0's log start, a stale tail the leader never
#     had is put at the end of the local partition 1 (a diverging replica).
#     After the last run, each local partition's .log bytes equal the
#     broker's, its log start equals the broker's, the stale tail is gone,
#     klogcat verify is clean and libklog reads the records Kafka's consumer
#     reads. A new replica then starts at the leader's log start (its
#     offset 0 is out of range) and reads the same records.
NAME=kafka_mirror
. "$(dirname "$0")/kafka_common.sh"
command -v kcat > /dev/null 2>&1 || skip_all "kcat not installed"
MIRROR=$KLOG_BUILD/klogmirror
[ -x "$MIRROR" ] || skip_all "$MIRROR not built (needs librdkafka-dev)"

K=$TMP/kafka
if ! kafka_setup "$K" || ! kafka_start; then
    fail "start Kafka $KAFKA_VERSION (KRaft, one node)"
    show "$K/logs/server.log"
    finish
fi
for tp in mo:1 mi:2; do
    kafka_topics --create --topic "${tp%:*}" --partitions "${tp#*:}" --replication-factor 1 \
        > "$TMP/create.out" 2>&1 || { fail "create topic ${tp%:*}"; show "$TMP/create.out"; finish; }
done
kafka_wait_partitions mi 2 || { fail "topic mi not created"; finish; }

# kcat_last TOPIC PARTITION: offset of the partition's last record (-1 none).
kcat_last() {
    o=$(timeout 30 kcat -b "$KB" -C -t "$1" -p "$2" -o -1 -c 1 -e -q -f '%o\n' 2> /dev/null)
    echo "${o:--1}"
}
# wait_for CMD...: until CMD succeeds (bounded: 60 s).
wait_for() {
    i=0
    while ! "$@"; do
        i=$((i + 1))
        [ $i -gt 240 ] && return 1
        sleep 0.25
    done
}

# ------------------------------------------------------------ mirror out
S=$TMP/src
"$GEN" write "$S" t 0 0 2000 0 > /dev/null || { fail "mirror out: oracle_gen write"; finish; }
# The application keeps appending while the mirror runs: 40 more appends of
# 150 records (each a separate writer process opening and closing the log).
(
    i=0
    while [ $i -lt 40 ]; do
        "$GEN" write "$S" t 0 $((2000 + i * 150)) 150 0 > /dev/null || exit 1
        sleep 0.1
        i=$((i + 1))
    done
) > "$TMP/writer.out" 2>&1 &
WPID=$!
TOTAL=8000
above() { [ "$(kcat_last mo 0)" -ge "$1" ]; }
kills=0
start=0
for round in 1 2; do
    "$MIRROR" out -d "$S" -b "$KB" -t t -T mo > /dev/null 2>> "$TMP/out.err" &
    MPID=$!
    # SIGKILL once it has shipped something past where this run resumed.
    if wait_for above $((start + 300)); then
        kill -KILL $MPID
        wait $MPID 2> /dev/null
        [ $? -eq 137 ] && kills=$((kills + 1))
    else
        kill -KILL $MPID 2> /dev/null
    fi
    start=$(kcat_last mo 0)
    echo "killed at cluster end $start" >> "$TMP/out.err"
done
wait $WPID || fail "mirror out: the local writer failed"
"$MIRROR" out -d "$S" -b "$KB" -t t -T mo -e 2>> "$TMP/out.err"
rc=$?
resumed=$(grep -c 'resumes at local offset [1-9]' "$TMP/out.err")
if [ $rc -ne 0 ] || [ $kills -ne 2 ] || [ "$resumed" -ne 2 ]; then
    fail "mirror out: last run exit $rc, $kills kill -9 mid-stream, $resumed resumes inside the log"
    show "$TMP/out.err"
else
    pass "mirror out: killed with SIGKILL twice mid-stream (the cluster ending at $(grep -o 'end [0-9]*' "$TMP/out.err" | sed 's/end //' | paste -sd' ')), resumed after the cluster's last record each time"
fi
# Expected: what oracle_gen wrote, each record with klog.offset = its
# offset (decimal ASCII, hex here as canon prints it) as its last header.
"$GEN" expect 0 $TOTAL 0 -F canon | awk '{
    h = "6b6c6f672e6f6666736574:"
    for (i = 1; i <= length($1); i++) h = h "3" substr($1, i, 1)
    sub(/\]$/, ($NF == "[]" ? "" : ",") h "]")
    print }' > "$TMP/mo.exp"
oracle_client consume "$KB" mo 0 > "$TMP/mo.java" 2> "$TMP/mo.java.err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/mo.exp" "$TMP/mo.java"; then
    pass "mirror out: Kafka holds all $TOTAL records exactly once, in order, same offsets, timestamps, keys, values, headers"
else
    fail "mirror out: Kafka's records differ (exit $rc, $(wc -l < "$TMP/mo.java") of $TOTAL)"
    { diff "$TMP/mo.exp" "$TMP/mo.java" | head -6; head -3 "$TMP/mo.java.err"; } | show /dev/stdin
fi

# ------------------------------------------------------------- mirror in
R=$TMP/replica
oracle_client produce "$KB" mi 0 3000 idempotent lz4 > /dev/null 2> "$TMP/p0.err" &&
    oracle_txn_produce "$TMP/p1.err" "$KB" mi 1 900 snappy ||
    { fail "mirror in: Java producer"; show "$TMP/p0.err"; show "$TMP/p1.err"; finish; }
# Small, paced fetches (-B: a batch or so each, -w: 50 ms apart) so the
# kill lands mid-stream.
"$MIRROR" in -d "$R" -b "$KB" -t mi -N 2 -B 2048 -w 50 > /dev/null 2>> "$TMP/in.err" &
MPID=$!
# More records arrive while the mirror runs: kcat, zstd, keys and headers.
awk 'BEGIN { for (i = 0; i < 4000; i++) printf "kk%d\tvalue %d %s\n", i, i, substr("xyzxyzxyzxyzxyzxyzxyz", 1, i % 20) }' |
    timeout 120 kcat -b "$KB" -P -t mi -p 0 -K '	' -z zstd -H src=kcat 2> "$TMP/kcat.err" &
KCPID=$!
local_bytes() { cat "$R"/mi-0/*.log 2> /dev/null | wc -c; }
grown() { [ "$(local_bytes)" -gt 20000 ]; }
if wait_for grown; then
    kill -KILL $MPID
    wait $MPID 2> /dev/null
    krc=$?
else
    kill -KILL $MPID 2> /dev/null
    krc=0
fi
wait $KCPID || fail "mirror in: kcat producer"
at_kill=$(local_bytes)
# Restarted after the kill: catches up with no gap and no duplicate (the
# byte comparison below shows it).
"$MIRROR" in -d "$R" -b "$KB" -t mi -N 2 -e > /dev/null 2>> "$TMP/in.err" ||
    fail "mirror in: catching up after the kill"
# Leader side: DeleteRecords below offset 1000 of partition 0 (the replica
# has it all: a replica that fell behind the leader's log start stops with
# "offset out of range", see README).
printf '{"partitions":[{"topic":"mi","partition":0,"offset":1000}],"version":1}\n' > "$TMP/del.json"
kafka_tool org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$KB" \
    --offset-json-file "$TMP/del.json" > "$TMP/del.out" 2>&1 || { fail "DeleteRecords"; show "$TMP/del.out"; }
# Replica side: a stale tail on partition 1 that the leader never had (as a
# replica of a leader that lost its last writes keeps): 10 records at the
# leader's epoch, past the leader's end.
end1=$("$KLOGCAT" -d "$R" -L -t mi -J 2> /dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
t = d["topics"][0] if "topics" in d else d
print([p for p in t["partitions"] if p["partition"] == 1][0]["log_end"])' 2> "$TMP/json.err")
[ -n "$end1" ] || { fail "klogcat -L -J: no log end for mi/1"; show "$TMP/json.err"; }
"$GEN" write "$R" mi 1 "${end1:-0}" 10 9 -f -e 0 > /dev/null || fail "mirror in: write the stale tail"
"$MIRROR" in -d "$R" -b "$KB" -t mi -N 2 -e 2>> "$TMP/in.err"
rc=$?
if [ $rc -eq 0 ] && [ "$krc" -eq 137 ] && [ "$at_kill" -lt "$(local_bytes)" ] && grep -q "partition 1 diverges from the leader .*truncating $end1\.\." "$TMP/in.err"; then
    pass "mirror in: killed with SIGKILL mid-stream (at $at_kill bytes), resumed; the stale tail $end1.. of mi/1 truncated at the leader's end"
else
    fail "mirror in: exit $rc, kill status $krc, truncation of the stale tail at $end1 not reported"
    show "$TMP/in.err"
fi
for p in 0 1; do
    cat "$K"/data/mi-$p/*.log > "$TMP/broker$p.bytes"
    cat "$R"/mi-$p/*.log > "$TMP/replica$p.bytes"
    kn=$(ls "$K"/data/mi-$p/*.log | sed 's:.*/::' | tr '\n' ' ')
    rn=$(ls "$R"/mi-$p/*.log | sed 's:.*/::' | tr '\n' ' ')
    if cmp -s "$TMP/broker$p.bytes" "$TMP/replica$p.bytes" && [ "$kn" = "$rn" ]; then
        pass "mirror in: mi-$p .log files ($rn) byte-identical to the broker's ($(wc -c < "$TMP/broker$p.bytes") bytes)"
    else
        fail "mirror in: mi-$p .log differs from the broker's (broker $kn $(wc -c < "$TMP/broker$p.bytes") bytes, replica $rn $(wc -c < "$TMP/replica$p.bytes"))"
        cmp "$TMP/broker$p.bytes" "$TMP/replica$p.bytes" | show /dev/stdin
    fi
    oracle_client consume "$KB" mi $p > "$TMP/mi$p.java" 2> "$TMP/mi$p.java.err"
    "$GEN" read "$R" mi $p -F canon > "$TMP/mi$p.klog" 2> "$TMP/mi$p.klog.err"
    if [ -s "$TMP/mi$p.java" ] && cmp -s "$TMP/mi$p.java" "$TMP/mi$p.klog"; then
        pass "mirror in: libklog reads mi-$p's $(wc -l < "$TMP/mi$p.klog") records as Kafka's consumer does (from $(head -1 "$TMP/mi$p.klog" | cut -d' ' -f1))"
    else
        fail "mirror in: records of mi-$p differ from Kafka's consumer's"
        diff "$TMP/mi$p.java" "$TMP/mi$p.klog" | head -6 | show /dev/stdin
    fi
done
grep -q '^1000 ' "$TMP/mi0.klog" && ! grep -q '^999 ' "$TMP/mi0.klog" &&
    pass "mirror in: the replica's log start followed DeleteRecords to 1000" ||
    fail "mirror in: the replica's log start is not the leader's 1000"
"$KLOGCAT" verify "$R" > "$TMP/verify.out" 2>&1 && pass "mirror in: klogcat verify clean" ||
    { fail "mirror in: klogcat verify"; show "$TMP/verify.out"; }

# A new replica after the DeleteRecords: offset 0 of mi-0 is out of range,
# so it starts at the leader's log start 1000.
R2=$TMP/replica2
"$MIRROR" in -d "$R2" -b "$KB" -t mi -N 2 -e 2> "$TMP/in2.err"
rc=$?
"$GEN" read "$R2" mi 0 -F canon > "$TMP/mi0.klog2" 2> /dev/null
if [ $rc -eq 0 ] && grep -q 'mi/0 is behind the leader.s log start 1000' "$TMP/in2.err" &&
    cmp -s "$TMP/mi0.java" "$TMP/mi0.klog2" && "$KLOGCAT" verify "$R2" > "$TMP/verify2.out" 2>&1; then
    pass "mirror in: a new replica starts at the leader's log start 1000 and reads mi-0 as Kafka's consumer does"
else
    fail "mirror in: a new replica behind the leader's log start (exit $rc)"
    { cat "$TMP/in2.err"; diff "$TMP/mi0.java" "$TMP/mi0.klog2" | head -4; cat "$TMP/verify2.out"; } | show /dev/stdin
fi
finish
