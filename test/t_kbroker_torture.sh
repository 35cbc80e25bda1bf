#!/bin/sh
# t_kbroker_torture.sh — kbroker tortured as Jepsen would (issue 21 item 14).
# An idempotent librdkafka producer (acks=all) and two group consumers
# (manual commits) reach the broker only through a fault-injecting proxy
# (test/interop/nemesis.py: every chunk delayed, stalls, and connections
# reset at random, often between a request and its response, so clients
# must retry requests whose outcome they cannot know), from the far side
# of a network namespace whose link also delays (3 ms +- 2), drops (0.5 %)
# and reorders (5 %) packets with tc netem where the kernel has it; while
# the broker is killed with SIGKILL and restarted three times and one
# consumer is killed and restarted once.
# Checked afterwards, against the log as klogcat reads it:
#   * every acknowledged record is in the log at the partition and offset
#     its acknowledgement gave (none lost);
#   * every value is in the log exactly once (no duplicate: idempotence)
#     and in production order within its partition;
#   * every record a consumer was given is in the log at that offset, and
#     together the consumers saw every record;
#   * the group's committed offset of each partition, read back from the
#     broker at the end, is one a consumer committed, and never past the
#     records consumers had been given.
# Without root (no network namespace) the clients run on loopback, and
# without netem the proxy is the only network fault; each says so in a
# note. KLOG_TORTURE_COUNT sets the record count.
. "$(dirname "$0")/interop/kbroker_common.sh"

pkg-config --exists rdkafka 2> /dev/null || skip "librdkafka development files not installed"
CLI=$TMP/torture
cc -std=gnu11 -O1 -Wall -o "$CLI" test/interop/kbroker_torture.c \
    $(pkg-config --cflags --libs rdkafka) 2> "$TMP/cc.err" || skip "cannot build the client: $(head -1 "$TMP/cc.err")"

COUNT=${KLOG_TORTURE_COUNT:-20000}
RATE=$((COUNT / 12))  # records per second: production spans the kills
NPART=4
NS=klogt$$
VH=kth$$
VN=ktn$$
NET=
CLIENTS=

NEMESIS=
teardown() {
    for c in $CLIENTS $NEMESIS; do kill -KILL "$c" 2> /dev/null; done
    [ -n "$NET" ] && ip netns del "$NS" 2> /dev/null
    cleanup
}
trap teardown EXIT

# The network namespace, the veth pair and netem on both ends.
setup_net() {
    [ "$(id -u)" = 0 ] || return 1
    command -v ip > /dev/null 2>&1 && command -v tc > /dev/null 2>&1 || return 1
    sub=$(( $$ % 250 + 1 ))
    HOST=10.213.$sub.1
    PEER=10.213.$sub.2
    ip netns add "$NS" 2> /dev/null || return 1
    NET=1
    ip link add "$VH" type veth peer name "$VN" &&
        ip link set "$VN" netns "$NS" &&
        ip addr add "$HOST/30" dev "$VH" && ip link set "$VH" up &&
        ip netns exec "$NS" ip addr add "$PEER/30" dev "$VN" &&
        ip netns exec "$NS" ip link set "$VN" up &&
        ip netns exec "$NS" ip link set lo up || return 1
    modprobe sch_netem 2> /dev/null
    tc qdisc add dev "$VH" root netem delay 3ms 2ms loss 0.5% reorder 5% 2> "$TMP/tc.err" &&
        ip netns exec "$NS" tc qdisc add dev "$VN" root netem delay 3ms 2ms loss 0.5% reorder 5% \
            2>> "$TMP/tc.err" || { NETEM_WHY=$(head -1 "$TMP/tc.err"); return 2; }
    return 0
}

setup_net
case $? in
0) RUN="ip netns exec $NS"; ok "clients in network namespace $NS behind netem (delay, loss, reorder)" ;;
2) RUN="ip netns exec $NS"; echo "note: netem unavailable ($NETEM_WHY): namespace without packet faults" ;;
*) [ -n "$NET" ] && ip netns del "$NS" 2> /dev/null; NET=
   HOST=127.0.0.1 RUN=
   echo "note: no network namespace here (needs root and iproute2): clients over loopback" ;;
esac

free_port() {
    "$PY" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}
PORT=$(free_port "$HOST")
B=$HOST:$PORT                     # the proxy: all clients connect here
RB=127.0.0.1:$(free_port 127.0.0.1) # the broker itself
"$PY" test/interop/nemesis.py "$HOST" "$PORT" 127.0.0.1 "${RB#*:}" $$ > "$TMP/nemesis.out" 2>&1 &
NEMESIS=$!
i=0
until grep -q '^listening' "$TMP/nemesis.out"; do
    kill -0 "$NEMESIS" 2> /dev/null && [ $i -lt 200 ] || fail "the proxy did not start: $(cat "$TMP/nemesis.out")"
    sleep 0.05
    i=$((i + 1))
done

start() {
    : > "$TMP/broker.out"
    "$KB" -d "$LOGDIR" -l "$RB" --advertise "$B" -N $NPART --group-initial-delay 0 \
        > "$TMP/broker.out" 2>> "$TMP/broker.err" &
    BPID=$!
    i=0
    until grep -q "^listening on $RB\$" "$TMP/broker.out"; do
        kill -0 "$BPID" 2> /dev/null || fail "broker exited at start"
        [ $i -lt 400 ] || fail "broker did not start"
        sleep 0.05
        i=$((i + 1))
    done
}

distinct_seen() {
    cat "$TMP"/c*.log 2> /dev/null | awk '$1 != "commit" { print $3 }' | sort -u | wc -l
}

T0=$(date +%s)
since() { echo "$(( $(date +%s) - T0 )) s"; }
start
$RUN "$CLI" produce "$B" t "$COUNT" "$TMP/acks" "$RATE" 2> "$TMP/p.err" &
PPID_=$!
CLIENTS="$PPID_"
for c in 1 2; do
    $RUN "$CLI" consume "$B" g t "$TMP/c$c.log" 2> "$TMP/c$c.err" &
    eval "C$c=\$!"
    CLIENTS="$CLIENTS $!"
done

# Three kill -9s of the broker under load, one of a consumer between them.
for k in 1 2 3; do
    sleep "$(awk -v s=$$ -v k=$k 'BEGIN { srand(s + k); printf "%.1f", 1.5 + rand() * 2 }')"
    kill -KILL "$BPID"
    wait "$BPID" 2> /dev/null
    if [ $k = 2 ]; then
        kill -KILL "$C1"
        wait "$C1" 2> /dev/null
        $RUN "$CLI" consume "$B" g t "$TMP/c3.log" 2> "$TMP/c3.err" &
        C1=$!
        CLIENTS="$CLIENTS $C1"
    fi
    sleep 0.3
    start
done
ok "broker killed with SIGKILL and restarted 3 times, a consumer killed once, under load ($(since))"

i=0
while kill -0 "$PPID_" 2> /dev/null && [ $i -lt 2400 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -0 "$PPID_" 2> /dev/null && fail "producer still running after 240 s"
wait "$PPID_" || fail "producer: $(tail -3 "$TMP/p.err")"
[ "$(wc -l < "$TMP/acks")" -eq "$COUNT" ] || fail "producer acknowledged $(wc -l < "$TMP/acks") of $COUNT"
ok "every one of $COUNT records acknowledged through the kills ($(since))"

i=0
while [ "$(distinct_seen)" -lt "$COUNT" ] && [ $i -lt 1200 ]; do
    sleep 0.1
    i=$((i + 1))
done
echo "consumers saw $(distinct_seen) of $COUNT values ($(since))"
for c in $C1 $C2; do kill -TERM "$c" 2> /dev/null; done
for c in $C1 $C2; do wait "$c" || fail "consumer exited with an error: $(cat "$TMP"/c*.err | tail -3)"; done
CLIENTS=
$RUN timeout 60 "$CLI" committed "$B" g t $NPART > "$TMP/committed" 2> "$TMP/cm.err" ||
    fail "reading committed offsets: $(cat "$TMP/cm.err")"
stop_broker
kill -TERM "$NEMESIS"
wait "$NEMESIS"
NEMESIS=
cuts=$(sed -n 's/^nemesis: .*, \([0-9]*\) cut$/\1/p' "$TMP/nemesis.out")
[ "${cuts:-0}" -gt 0 ] || fail "the proxy cut no connection: $(tail -1 "$TMP/nemesis.out")"
ok "the proxy carried the clients' traffic: $(tail -1 "$TMP/nemesis.out" | sed 's/^nemesis: //')"

timeout 60 "$KLOG_BUILD/klogcat" -d "$LOGDIR" -C -t t -e -f '%p %o %s\n' > "$TMP/final" ||
    fail "klogcat could not read the log"

# None lost: every acknowledgement names a record the log holds there.
sort -u "$TMP/acks" > "$TMP/acks.s"
sort -u "$TMP/final" > "$TMP/final.s"
lost=$(comm -23 "$TMP/acks.s" "$TMP/final.s" | wc -l)
[ "$lost" -eq 0 ] || fail "$lost acknowledged records not in the log where acknowledged, e.g. $(comm -23 "$TMP/acks.s" "$TMP/final.s" | head -3 | tr '\n' ';')"
ok "every acknowledged record is in the log at its acknowledged offset"

# None duplicated, none invented, order kept within each partition.
dups=$(awk '{ print $3 }' "$TMP/final" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups values stored more than once (idempotence), e.g. $(awk '{ print $3 }' "$TMP/final" | sort | uniq -d | head -3 | tr '\n' ' ')"
[ "$(wc -l < "$TMP/final")" -eq "$COUNT" ] || fail "the log holds $(wc -l < "$TMP/final") records, $COUNT were produced"
awk '{ v = substr($3, 2) + 0; if ($1 in last && v <= last[$1]) { bad++ } last[$1] = v } END { exit bad > 0 }' "$TMP/final" ||
    fail "values out of production order within a partition"
ok "each of the $COUNT values stored exactly once, in production order per partition"

# Consumers saw only what the log holds, and together all of it.
cat "$TMP"/c*.log | awk '$1 != "commit"' | sort -u > "$TMP/seen.s"
phantom=$(comm -23 "$TMP/seen.s" "$TMP/final.s" | wc -l)
[ "$phantom" -eq 0 ] || fail "$phantom records consumed that the log does not hold there, e.g. $(comm -23 "$TMP/seen.s" "$TMP/final.s" | head -3 | tr '\n' ';')"
[ "$(distinct_seen)" -eq "$COUNT" ] || fail "the consumers saw $(distinct_seen) of $COUNT values"
ok "consumers were given only records of the log, and every one of them"

# Committed offsets: each one a consumer committed, never past what was given.
while read -r p off; do
    max=$(awk -v p="$p" '$1 == p && $1 != "commit" && $2 + 1 > m { m = $2 + 1 } END { print m + 0 }' "$TMP"/c*.log)
    [ "$off" -le "$max" ] || fail "partition $p: committed offset $off is past the $max records consumers were given"
    if [ "$off" -ge 0 ]; then
        grep -q "^commit $p $off\$" "$TMP"/c*.log || fail "partition $p: committed offset $off is none a consumer committed"
    fi
done < "$TMP/committed"
[ "$(wc -l < "$TMP/committed")" -eq $NPART ] || fail "committed offsets of $(wc -l < "$TMP/committed") partitions"
ok "committed offsets are ones the consumers committed, never ahead of delivery"
echo "torture: $COUNT records, $(grep -c '^commit' "$TMP"/c*.log | awk -F: '{ s += $2 } END { print s }') commits acknowledged"
