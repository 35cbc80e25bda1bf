#!/bin/sh
# t_kbroker_coop.sh — cooperative rebalancing as librdkafka negotiates it
# (partition.assignment.strategy=cooperative-sticky) on kbroker, with
# test/interop/kbroker_rdk_coop.c:
#   * a member alone on a 6-partition topic owns all six; a second member
#     joins: the broker picks the protocol both offer, the first member
#     gives up only some partitions (incremental revocation, never all
#     six), the second gets exactly those, and every record, those produced
#     after the rebalance too, is read exactly once (each committed before
#     the next poll);
#   * wherever a rebalance overtakes a commit (the broker answers a stale
#     generation ILLEGAL_GENERATION, as Kafka does), that record may be
#     read twice, and only such a record;
#   * the protocol is chosen by the members' votes as in Kafka (a leader
#     preferring range, two members preferring roundrobin: roundrobin);
#   * the eager strategy still revokes everything (the same harness with
#     range): the cooperative checks above can tell the two apart.
. "$(dirname "$0")/interop/kbroker_common.sh"

pkg-config --exists rdkafka 2> /dev/null || skip "librdkafka development files not installed"
command -v kcat > /dev/null 2>&1 || skip "kcat not installed"
RDK=$TMP/rdk_coop
cc -std=gnu11 -O1 -Wall -Werror -o "$RDK" test/interop/kbroker_rdk_coop.c \
    $(pkg-config --cflags --libs rdkafka) 2> "$TMP/cc.err" || { cat "$TMP/cc.err"; fail "build kbroker_rdk_coop.c"; }

MEMBERS=
stop_members() {
    for m in $MEMBERS; do kill -TERM "$m" 2> /dev/null; done
    for m in $MEMBERS; do wait "$m" 2> /dev/null; done
    MEMBERS=
}
trap 'stop_members; cleanup' EXIT

# produce TOPIC FROM TO: values v<FROM>..v<TO> keyed to spread them.
produce() {
    awk -v a="$2" -v b="$3" 'BEGIN { for (i = a; i <= b; i++) printf "k%d:v%d\n", i, i }' |
        kc_produce -t "$1" -K: -X acks=all || fail "produce $1 $2..$3"
}
seq_values() {
    awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) print "v" i }' | sort
}
# wait_for FILE PATTERN: until a line of FILE matches (bounded, 60 s).
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2> /dev/null; do
        i=$((i + 1))
        [ $i -lt 600 ] || { cat "$1"; fail "no line '$2' in $(basename "$1") in 60 s"; }
        sleep 0.1
    done
}
# wait_count FILE PATTERN N: until N lines of FILE match (bounded, 60 s).
wait_count() {
    i=0
    while [ "$(grep -c "$2" "$1" 2> /dev/null)" -lt "$3" ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "only $(grep -c "$2" "$1") lines '$2' in $(basename "$1") in 60 s, not $3"
        sleep 0.1
    done
}
# owned FILE [LINES]: the partitions a member owned when it left (or after
# its first LINES lines).
owned() {
    awk -v lim="${2:-0}" 'lim > 0 && NR > lim { exit } $1 == "leaving" { exit } $1 == "assigned" || $1 == "revoked" {
             n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] != "-") own[a[i]] = ($1 == "assigned") }
         END { for (p in own) if (own[p]) print p }' "$1" | sort -n | tr '\n' ' '
}
# member NAME GROUP TOPIC STRATEGY: start one in the background.
member() {
    "$RDK" "$B" "$2" "$3" "$4" 1500 "$TMP/stop.$2" > "$TMP/$1.out" 2> "$TMP/$1.err" &
    MEMBERS="$MEMBERS $!"
    eval "PID_$1=$!"
}
finish_members() {
    touch "$TMP/stop.$1"
    for m in $MEMBERS; do wait "$m" || { cat "$TMP"/*.err; fail "a member exited with an error"; }; done
    MEMBERS=
}

KB_VERBOSE=1 start_broker -N 6

# ---------------------------------------------------------------- cooperative
# a reads (and commits) the first 300 before b joins, and the rest comes
# once b has its partitions: a commit in flight when the generation
# changes gets ILLEGAL_GENERATION (from Kafka too), and librdkafka then
# drops its whole assignment as lost, which would look like an eager
# rebalance here.
produce co 0 299
member a gc co cooperative-sticky
wait_for "$TMP/a.out" '^assigned 0,1,2,3,4,5$'
wait_count "$TMP/a.out" '^rec ' 300
member b gc co cooperative-sticky
wait_for "$TMP/b.out" '^assigned [0-9]'
produce co 300 899
# Both read everything before either leaves (the first to leave hands its
# partitions to the other): the ownership checked is the one at this point.
i=0
until [ "$(cat "$TMP/a.out" "$TMP/b.out" | grep -c '^rec ')" -ge 900 ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || fail "a and b read $(cat "$TMP/a.out" "$TMP/b.out" | grep -c '^rec ') of 900 in 60 s"
    sleep 0.1
done
na=$(wc -l < "$TMP/a.out")
nb=$(wc -l < "$TMP/b.out")
finish_members gc
grep -q '^protocol COOPERATIVE$' "$TMP/a.out" || fail "member a did not rebalance cooperatively: $(grep protocol "$TMP/a.out" | sort -u)"
grep -q 'protocol cooperative-sticky' "$TMP/broker.err" || fail "the broker did not choose cooperative-sticky"
rev=$(awk -v lim="$na" 'NR > lim || $1 == "leaving" { exit } $1 == "revoked" { print $2 }' "$TMP/a.out")
[ -n "$rev" ] || fail "member a gave up nothing when b joined"
case ",$rev," in *",0,1,2,3,4,5,"*) fail "member a revoked all its partitions ($rev): an eager rebalance" ;; esac
oa=$(owned "$TMP/a.out" "$na")
ob=$(owned "$TMP/b.out" "$nb")
[ -n "$oa" ] && [ -n "$ob" ] || fail "a member ended with nothing: a=$oa b=$ob"
[ "$(echo "$oa$ob" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 " ] ||
    fail "the members' partitions overlap or miss some: a=$oa b=$ob"
# parts_of LINES: the partitions in "0,3"-style lines, sorted, one line.
parts_of() {
    tr ',' '\n' | grep -v '^-*$' | sort -n | tr '\n' ' '
}
got_b=$(awk -v lim="$nb" 'NR > lim || $1 == "leaving" { exit } $1 == "assigned" { print $2 }' "$TMP/b.out" | parts_of)
[ "$got_b" = "$(echo "$rev" | parts_of)" ] ||
    fail "member b was assigned $got_b, not what a revoked ($rev)"
seq_values 0 899 > "$TMP/want"
once_or_uncommitted "$TMP/want" "$TMP/a.out" "$TMP/b.out" ||
    fail "records not read exactly once across the rebalance ($(wc -l < "$TMP/got") of 900)"
ok "cooperative-sticky: a kept $oa, gave b $got_b, 900 records read once each ($(wc -l < "$TMP/unc") commits overtaken by the rebalance)"

# ---------------------------------------------------------------- votes
# The protocol is chosen by the members' votes, as Kafka does: the first
# member (the leader) prefers range, the two that join prefer roundrobin.
produce mx 0 59
member c gm mx range,roundrobin
wait_for "$TMP/c.out" '^assigned '
member d gm mx roundrobin,range
member e gm mx roundrobin,range
wait_for "$TMP/d.out" '^assigned [0-9]'
wait_for "$TMP/e.out" '^assigned [0-9]'
finish_members gm
grep -q 'group gm: generation [0-9]*, 3 members, .* protocol roundrobin' "$TMP/broker.err" ||
    { grep 'group gm' "$TMP/broker.err"; fail "two of three members preferring roundrobin did not get it"; }
seq_values 0 59 > "$TMP/want"
once_or_uncommitted "$TMP/want" "$TMP/c.out" "$TMP/d.out" "$TMP/e.out" ||
    fail "voted group: records not read exactly once"
ok "the protocol is the members' vote (roundrobin 2 : range 1), not the leader's first"

# ---------------------------------------------------------------- eager
produce eg 0 59
member e ge eg range
wait_for "$TMP/e.out" '^assigned 0,1,2,3,4,5$'
member f ge eg range
wait_for "$TMP/f.out" '^assigned [0-9]'
finish_members ge
grep -q '^revoked 0,1,2,3,4,5$' "$TMP/e.out" || fail "the eager strategy did not revoke everything"
ok "eager range revokes the whole assignment (the cooperative check can fail)"

stop_broker
echo "t_kbroker_coop: all passed"
