#!/bin/sh
# t_kbroker_offsets_compact.sh — kbroker keeps committed offsets in
# __consumer_offsets as Kafka does, a compacted topic (cleanup.policy
# compact, no retention): after 300 rounds of commits over 3 partitions in
# 1 KiB segments, libklog's compaction (the same passes as kbroker's
# background cleaner) leaves about one record per group, topic and
# partition, and a restarted broker (also after kill -9) answers the same
# committed offsets from the compacted topic.
. "$(dirname "$0")/interop/kbroker_common.sh"

pick_python kafka || skip "$PY_WHY"
K=$KLOG_BUILD/klogcat
start_broker -N 3 --topic-default segment.bytes=1024
timeout 60 "$PY" -c '
import sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1])
for i in range(30):
    p.send("c", b"x", partition=i % 3)
p.flush()' "$B" || fail "produce"
timeout 120 "$PY" test/interop/kbroker_commits.py 127.0.0.1 "$PORT" commit gc c 3 300 > "$TMP/before" ||
    fail "commits"
grep -q "^2 2102$" "$TMP/before" || fail "last commit of partition 2: $(cat "$TMP/before")"
stop_broker

n_before=$(timeout 60 "$K" -d "$LOGDIR" -C -t __consumer_offsets -e -f '%o\n' | wc -l)
[ "$n_before" -ge 900 ] || fail "only $n_before records in __consumer_offsets before compaction"
timeout 120 "$K" compact "$LOGDIR" -t __consumer_offsets > "$TMP/compact.out" 2>&1 ||
    fail "klogcat compact: $(cat "$TMP/compact.out")"
n_after=$(timeout 60 "$K" -d "$LOGDIR" -C -t __consumer_offsets -e -f '%o\n' | wc -l)
# the active segment is never cleaned (as in Kafka): a few of its records stay
[ "$n_after" -lt 60 ] || fail "$n_after of $n_before records left after compaction"
ok "compaction kept $n_after of $n_before records of __consumer_offsets"

start_broker -N 3 --topic-default segment.bytes=1024
timeout 60 "$PY" test/interop/kbroker_commits.py 127.0.0.1 "$PORT" fetch gc c 3 > "$TMP/after" ||
    fail "fetch"
cmp -s "$TMP/before" "$TMP/after" || fail "committed offsets changed: $(cat "$TMP/before") -> $(cat "$TMP/after")"
ok "a restarted broker answers the same committed offsets from the compacted topic"
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
start_broker -N 3 --topic-default segment.bytes=1024
timeout 60 "$PY" test/interop/kbroker_commits.py 127.0.0.1 "$PORT" fetch gc c 3 > "$TMP/after9" ||
    fail "fetch after kill -9"
cmp -s "$TMP/before" "$TMP/after9" || fail "committed offsets after kill -9: $(cat "$TMP/after9")"
stop_broker
ok "and after kill -9 of the broker"
echo "t_kbroker_offsets_compact: all passed"
