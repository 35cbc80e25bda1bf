#!/bin/sh
# t_kbroker_topic_ids.sh — topic ids on kbroker (topic_ids.c), with raw
# Metadata v10/v12 requests (test/interop/kbroker_topic_ids.py):
#   * an auto-created topic gets a non-zero id, Kafka's partition.metadata in
#     every partition directory, Metadata by id, UNKNOWN_TOPIC_ID;
#   * the id survives a restart, and `klogcat verify` stays clean;
#   * an id a partition.metadata already holds (as Kafka leaves it) is used;
#   * delete + re-create gives a new id.
. "$(dirname "$0")/interop/kbroker_common.sh"

K=$KLOG_BUILD/klogcat
[ -x "$K" ] || skip "$K not built"
run() {
    timeout 60 python3 test/interop/kbroker_topic_ids.py 127.0.0.1 "$PORT" "$LOGDIR" "$@"
}

start_broker -a -N 3
ID1=$(run new) || fail "new topic: $ID1"
ok "new topic has id $ID1 in its partition.metadata files, Metadata by id works"
stop_broker
"$K" verify "$LOGDIR" > "$TMP/verify.out" 2>&1 || { cat "$TMP/verify.out"; fail "klogcat verify"; }
ok "klogcat verify accepts partition.metadata"

start_broker -a -N 3
run same "$ID1" || fail "id after restart"
ok "same id after a restart"
stop_broker

# The id Kafka left in the files (here: one written while the broker is down).
KID=AAECAwQFBgcICQoLDA0ODw
for p in 0 1 2; do
    printf 'version: 0\ntopic_id: %s' "$KID" > "$LOGDIR/ti-$p/partition.metadata"
done
start_broker -a -N 3
run same "$KID" || fail "id from partition.metadata"
ok "the id partition.metadata holds is used"

run delete || fail "delete"
ID2=$(run new) || fail "re-created topic: $ID2"
[ "$ID2" != "$KID" ] || fail "re-created topic kept the old id"
ok "re-created topic has a new id ($ID2)"
stop_broker
"$K" verify "$LOGDIR" > "$TMP/verify.out" 2>&1 || { cat "$TMP/verify.out"; fail "klogcat verify"; }
exit 0
