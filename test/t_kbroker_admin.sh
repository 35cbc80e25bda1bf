#!/bin/sh
# t_kbroker_admin.sh — topic administration on kbroker through kafka-python's
# admin client and raw requests (test/interop/kbroker_admin.py): create and
# delete topics, add partitions, describe/alter configs, incremental
# config changes, delete records, describe the cluster; --topic-default.
. "$(dirname "$0")/interop/kbroker_common.sh"

pick_python kafka || skip "$PY_WHY"
start_broker --topic-default retention.ms=7200000
timeout 120 "$PY" test/interop/kbroker_admin.py 127.0.0.1 "$PORT" || fail "admin"
stop_broker
echo "t_kbroker_admin: all passed"
