#!/bin/sh
# t_kbroker_cgroups.sh — consumer groups of the new protocol (KIP-848) on
# kbroker, spoken raw (test/interop/kbroker_cgroups_raw.py): epochs,
# fencing, revocation before reassignment, rebalance and session timeouts,
# leave and static leave, assignors, the classic/consumer clash,
# ConsumerGroupDescribe and OffsetCommit/OffsetFetch v9. The Java client's
# view (group.protocol=consumer) is test/interop/kafka_kbroker_java.sh.
. "$(dirname "$0")/interop/kbroker_common.sh"

start_broker -N 4 --group-consumer-session-timeout 1500 --group-consumer-heartbeat-interval 500
timeout 120 "$PY" test/interop/kbroker_cgroups_raw.py 127.0.0.1 "$PORT" 1500 ||
    fail "consumer-protocol group rules (raw)"
stop_broker
echo "t_kbroker_cgroups: all passed"
