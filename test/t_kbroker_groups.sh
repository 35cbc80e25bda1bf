#!/bin/sh
# t_kbroker_groups.sh — consumer groups (classic protocol) on kbroker:
#   * kcat -G with 3 members over 12 partitions, one killed (-9) mid-stream:
#     every record is consumed at least once, and every duplicate is a
#     record the killed member had consumed (its uncommitted range);
#   * a restarted group resumes at the committed offsets, also after
#     kill -9 of the broker (offsets are stored in __consumer_offsets);
#   * kafka-python KafkaConsumer(group_id=...): subscribe, commit, restart
#     resumes;
#   * librdkafka's high-level consumer (subscribe, commit, close) resumes;
#   * kafka-python's admin lists and describes groups and their offsets;
#   * the coordinator's rules with raw requests (kbroker_groups_raw.py):
#     MEMBER_ID_REQUIRED, rebalances, fencing, static membership, session
#     timeouts, OffsetDelete/DeleteGroups.
. "$(dirname "$0")/interop/kbroker_common.sh"

command -v kcat > /dev/null 2>&1 || skip "kcat not installed"

MEMBERS=
stop_members() {
    for m in $MEMBERS; do
        kill -TERM "$m" 2> /dev/null
    done
    for m in $MEMBERS; do
        wait "$m" 2> /dev/null
    done
    MEMBERS=
}
trap 'stop_members; cleanup' EXIT

# produce FROM TO: values "v<FROM>" .. "v<TO>", spread over the partitions
produce() {
    awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "k%d:v%d\n", i, i }' |
        kc_produce -t g -K: -X acks=all || fail "produce $1..$2"
}

# the complete lines of the given files: a member killed with -9 may have
# left its last line half written
complete() {
    for f; do
        if [ -s "$f" ] && [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ]; then
            sed '$d' "$f"
        else
            cat "$f" 2> /dev/null
        fi
    done
}

# count distinct values v<N> seen in the given files
distinct() {
    complete "$@" | awk '{ print $3 }' | sort -u | wc -l
}

# the group waits 1.5 s for all three members before its first generation
start_broker -N 12 --group-initial-delay 1500

produce 1 6000
GOPTS="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=200 -X fetch.wait.max.ms=50"
for i in 1 2 3; do
    # kcat itself in the background (not under timeout: kill -9 must reach
    # it); stop_members and the EXIT trap end it
    kcat -b "$B" -G g3 -q $GOPTS -X auto.offset.reset=earliest -u -f '%p %o %s\n' g > "$TMP/m$i.txt" 2> "$TMP/m$i.err" &
    eval "PID$i=\$!"
    MEMBERS="$MEMBERS $!"
done
# (no -o: kcat -G applies -o to every assignment, overriding the committed
# offsets.) Wait until the members have read part of the data, then kill
# member 3
i=0
while { [ "$(distinct "$TMP"/m?.txt)" -lt 3000 ] || [ ! -s "$TMP/m3.txt" ]; } && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ "$(wc -l < "$TMP/m3.txt")" -gt 0 ] || fail "member 3 got no partitions"
kill -KILL "$PID3"
wait "$PID3" 2> /dev/null
MEMBERS="$PID1 $PID2"
produce 6001 12000
i=0
while [ "$(distinct "$TMP"/m?.txt)" -lt 12000 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(distinct "$TMP"/m?.txt)" -eq 12000 ] ||
    fail "3 members, one killed: $(distinct "$TMP"/m?.txt) of 12000 records consumed"
sleep 1 # let auto-commit store the last positions
stop_members
# duplicates: (partition, offset) seen twice must have been seen by member 3
cat "$TMP"/m?.txt | awk '{ print $1, $2 }' | sort | uniq -d > "$TMP/dups.txt"
awk '{ print $1, $2 }' "$TMP/m3.txt" | sort -u > "$TMP/m3.po"
extra=$(comm -23 "$TMP/dups.txt" "$TMP/m3.po" | wc -l)
[ "$extra" -eq 0 ] || fail "$extra duplicates outside the killed member's range: $(comm -23 "$TMP/dups.txt" "$TMP/m3.po" | head -3)"
ok "kcat -G: 3 members over 12 partitions, one killed: all 12000 consumed, $(wc -l < "$TMP/dups.txt") duplicates, all from the killed member"

# restart of the group: only what was produced since
produce 12001 12600
timeout 120 kcat -b "$B" -G g3 -q -e $GOPTS -f '%p %o %s\n' g > "$TMP/r1.txt" 2> "$TMP/r1.err" ||
    fail "restarted group: $(tail -2 "$TMP/r1.err")"
[ "$(distinct "$TMP/r1.txt")" -eq 600 ] && [ "$(wc -l < "$TMP/r1.txt")" -eq 600 ] ||
    fail "restarted group read $(wc -l < "$TMP/r1.txt") records, want the 600 new ones"
awk '{ sub(/^v/, "", $3); if ($3 < 12001) bad++ } END { exit bad > 0 }' "$TMP/r1.txt" ||
    fail "restarted group re-read old records"
ok "restarted kcat group resumes at the committed offsets"

# kill -9 of the broker: the commits survive
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
start_broker -N 12
produce 12601 12900
timeout 120 kcat -b "$B" -G g3 -q -e $GOPTS -f '%p %o %s\n' g > "$TMP/r2.txt" 2> "$TMP/r2.err" ||
    fail "group after broker kill -9: $(tail -2 "$TMP/r2.err")"
[ "$(wc -l < "$TMP/r2.txt")" -eq 300 ] && [ "$(distinct "$TMP/r2.txt")" -eq 300 ] ||
    fail "after kill -9 of the broker the group read $(wc -l < "$TMP/r2.txt") records, want 300"
ok "after kill -9 of the broker the group resumes at its committed offsets"

# librdkafka high-level consumer: two runs of 5000 then the rest
if pkg-config --exists rdkafka 2> /dev/null &&
    cc -std=gnu11 -O1 -Wall -o "$TMP/rdkg" test/interop/kbroker_rdk_group.c \
        $(pkg-config --cflags --libs rdkafka) 2> "$TMP/cc.err"; then
    timeout 120 "$TMP/rdkg" "$B" rg g 5000 > "$TMP/rg1.txt" 2> "$TMP/rg1.err" || fail "rdk group 1: $(cat "$TMP/rg1.err")"
    timeout 120 "$TMP/rdkg" "$B" rg g 7900 > "$TMP/rg2.txt" 2> "$TMP/rg2.err" || fail "rdk group 2: $(cat "$TMP/rg2.err")"
    [ "$(distinct "$TMP/rg1.txt" "$TMP/rg2.txt")" -eq 12900 ] && [ "$(cat "$TMP/rg1.txt" "$TMP/rg2.txt" | wc -l)" -eq 12900 ] ||
        fail "librdkafka group consumer: $(cat "$TMP/rg1.txt" "$TMP/rg2.txt" | wc -l) lines, $(distinct "$TMP/rg1.txt" "$TMP/rg2.txt") distinct of 12900"
    ok "librdkafka high-level consumer: commit, restart resumes, nothing twice"
else
    echo "note: librdkafka consumer part skipped (no librdkafka development files)"
fi

if pick_python kafka; then
    timeout 180 "$PY" - "$B" << 'PYEOF' || fail "kafka-python group consumer"
import sys
from kafka import KafkaConsumer, KafkaAdminClient
b = sys.argv[1]
def consumer():
    return KafkaConsumer("g", bootstrap_servers=b, group_id="pyg", auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=5000,
                         session_timeout_ms=6000, heartbeat_interval_ms=500)
c = consumer()
first = []
for m in c:
    first.append(m.value)
    if len(first) == 4000:
        break
c.commit()
c.close()
c = consumer()
second = [m.value for m in c]
c.commit()
c.close()
both = first + second
if len(both) != 12900 or len(set(both)) != 12900:
    print("FAIL: kafka-python group: %d + %d records, %d distinct" % (len(first), len(second),
                                                                      len(set(both))))
    sys.exit(1)
a = KafkaAdminClient(bootstrap_servers=b)
groups = sorted(g for g, _ in a.list_consumer_groups())
if "pyg" not in groups or "g3" not in groups:
    print("FAIL: list_consumer_groups: %r" % groups)
    sys.exit(1)
offs = a.list_consumer_group_offsets("pyg")
if len(offs) != 12 or sum(o.offset for o in offs.values()) != 12900:
    print("FAIL: list_consumer_group_offsets: %r" % offs)
    sys.exit(1)
d = a.describe_consumer_groups(["pyg"])[0]
if d.state != "Empty" or d.members:
    print("FAIL: describe_consumer_groups: %r" % (d,))
    sys.exit(1)
a.close()
print("ok: kafka-python group consumer: commit, restart resumes; admin lists, describes, fetches offsets")
PYEOF
else
    echo "note: kafka-python part skipped: $PY_WHY"
fi

timeout 120 "$PY" test/interop/kbroker_groups_raw.py 127.0.0.1 "$PORT" || fail "group rules (raw)"

stop_broker
echo "t_kbroker_groups: all passed"
