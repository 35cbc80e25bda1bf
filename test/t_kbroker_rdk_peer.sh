#!/bin/sh
# t_kbroker_rdk_peer.sh — the client of the kbroker/Kafka benchmark
# (bench/kafka_peer.sh, build/bench/rdk_peer) against kbroker, small counts,
# no timings judged: each mode succeeds, prints its figures, and checks what
# it reads (sizes, per-partition order, counts); records of the wrong size
# and bad arguments fail.
. "$(dirname "$0")/interop/kbroker_common.sh"
RDK=$KLOG_BUILD/bench/rdk_peer
[ -x "$RDK" ] || skip "$RDK not built (librdkafka development files not found)"
start_broker --no-auto-create

timeout 60 "$RDK" create "$B" t4 4 || fail "create t4 (4 partitions)"
out=$(timeout 60 "$RDK" produce "$B" t4 4 2000 200 all) || fail "produce acks=all"
case $out in "msgs=2000 secs="*" msgs/s="*" MB/s="*) ok "produce acks=all: $out" ;; *) fail "produce output: $out" ;; esac
[ -f "$LOGDIR/t4-3/00000000000000000000.log" ] || fail "partition 3 has no log"
# 2000 records over 4 partitions, each one's sequence numbers growing.
out=$(timeout 60 "$RDK" consume "$B" t4 4 2000 200) || fail "consume 2000 from 4 partitions"
case $out in "msgs=1999 secs="*) ok "consume 4 partitions: $out" ;; *) fail "consume output: $out" ;; esac
timeout 60 "$RDK" create "$B" t1 1 || fail "create t1"
timeout 60 "$RDK" produce "$B" t1 1 1000 1024 1 > /dev/null || fail "produce acks=1"
out=$(timeout 60 "$RDK" consume "$B" t1 1 1000 1024) || fail "consume 1000 of 1 KiB"
ok "produce acks=1 and consume, 1 KiB records: $out"
# A second run of sequence numbers from 0 in the same partition: caught.
timeout 60 "$RDK" produce "$B" t1 1 10 1024 1 > /dev/null || fail "produce again"
timeout 60 "$RDK" consume "$B" t1 1 1010 1024 2> "$TMP/err" && fail "consume accepted sequence numbers going back"
grep -q 'unexpected record at 0/1000' "$TMP/err" || fail "order not checked: $(cat "$TMP/err")"
ok "sequence numbers going back rejected"
# Wrong size: every record is 200 bytes, so expecting 1024 must fail.
timeout 60 "$RDK" consume "$B" t4 4 10 1024 2> "$TMP/err" && fail "consume accepted records of the wrong size"
grep -q 'unexpected record' "$TMP/err" || fail "wrong size not reported: $(cat "$TMP/err")"
ok "records of the wrong size rejected"

timeout 60 "$RDK" create "$B" lat 1 || fail "create lat"
out=$(timeout 60 "$RDK" latency "$B" lat 200 200 1 1000) || fail "latency"
case $out in "n=200 p50_us="*" p99_us="*" max_us="*) ok "latency: $out" ;; *) fail "latency output: $out" ;; esac
timeout 60 "$RDK" delete "$B" t4 || fail "delete t4"
timeout 60 "$RDK" delete "$B" t1 || fail "delete t1"
timeout 60 "$RDK" delete "$B" lat || fail "delete lat"
timeout 60 "$RDK" delete "$B" t4 2> /dev/null && fail "deleting a deleted topic succeeded"
ok "delete"
"$RDK" produce "$B" t4 0 10 200 1 2> /dev/null && fail "0 partitions accepted"
"$RDK" produce "$B" t4 1 10 200 2 2> /dev/null && fail "acks=2 accepted"
"$RDK" bogus 2> /dev/null && fail "unknown mode accepted"
ok "bad arguments rejected"
stop_broker
