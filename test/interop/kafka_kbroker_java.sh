#!/bin/sh
# kafka_kbroker_java.sh — Apache Kafka's Java client (the pinned 4.x
# kafka-clients, test/interop/kafka/KbrokerClient.java) against kbroker:
#   - the admin client: describe the cluster, create topics (with a config,
#     and an existing one refused), add partitions, describe and
#     incrementally alter configs, delete records, delete topics;
#   - a classic-protocol group consumer (subscribe): one member reads and
#     commits part of a 4-partition topic and leaves, a second one resumes
#     at the committed offsets: together every record exactly once; the
#     committed offsets survive kill -9 of the broker;
#   - zstd: a zstd producer, a group consumer reading every record, and
#     Kafka's DumpLogSegments seeing zstd batches in kbroker's segments;
#   - cooperative rebalancing (CooperativeStickyAssignor): a second member
#     joining takes partitions from the first without the first giving up
#     the ones it keeps, and records produced meanwhile are read once;
#   - every producer above is idempotent (the 4.x default); transactions:
#     a transactional producer commits and aborts alternately, a
#     read_committed consumer reads exactly the committed records, the
#     offsets sent to the transactions are the committed ones' (also after
#     kill -9 of kbroker); a second producer with the same transactional.id
#     fences the first; Kafka's DumpLogSegments decodes kbroker's
#     __transaction_state and the transactional batches and markers of
#     __consumer_offsets;
#   - KIP-848 groups (group.protocol=consumer, KbrokerCgroup.java): three
#     members over a 12-partition topic, one closed after 150 records, one
#     killed -9: every record read at least once, no partition owned by two
#     members at once (their rebalance callbacks, timestamped), the
#     restarted group resumes at the committed offsets, also after kill -9
#     of kbroker; the "range" assignor gives two members 0-5 and 6-11, and
#     Admin.describeConsumerGroups reports them through
#     ConsumerGroupDescribe.
NAME=kafka_kbroker_java
. "$(dirname "$0")/kafka_common.sh"

[ -x "$KBROKER" ] || { fail "$NAME: $KBROKER not built"; finish; }

# The Java program, compiled once per source checksum.
kb_client() {
    src=$ROOT/test/interop/kafka/KbrokerClient.java
    cdir=$KLOG_BUILD/interop/kbclasses.$(cksum < "$src" | cut -d' ' -f1)
    if [ ! -f "$cdir/KbrokerClient.class" ]; then
        mkdir -p "$cdir" && javac -encoding UTF-8 -nowarn -cp "$CP" -d "$cdir" "$src" || return 1
    fi
    timeout 240 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$ROOT/test/interop/kafka/log4j2-tools.properties" \
        -cp "$cdir:$CP" KbrokerClient "$@"
}

BPID=
BDIR=$TMP/kb
kb_start() {
    : > "$TMP/kb.out"
    "$KBROKER" -d "$BDIR" -l 127.0.0.1:0 -N 4 "$@" > "$TMP/kb.out" 2>> "$TMP/kb.err" &
    BPID=$!
    i=0
    while [ $i -lt 200 ]; do
        KPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/kb.out")
        [ -n "$KPORT" ] && break
        kill -0 "$BPID" 2> /dev/null || { BPID=; return 1; }
        sleep 0.05
        i=$((i + 1))
    done
    [ -n "$KPORT" ] || return 1
    KB=127.0.0.1:$KPORT
}
kb_kill() {
    [ -n "$BPID" ] || return 0
    kill -"${1:-TERM}" "$BPID" 2> /dev/null
    wait "$BPID" 2> /dev/null
    BPID=
}
at_exit 'kb_kill KILL'

kb_start || { fail "$NAME: kbroker did not start"; show "$TMP/kb.err"; finish; }

# ------------------------------------------------------------ admin client
kb_client admin "$KB" jadm > "$TMP/admin.out" 2> "$TMP/admin.err"
rc=$?
while read -r what step rest; do
    case $what in
    ok) pass "admin: $step" ;;
    bad) fail "admin: $step: $rest" ;;
    esac
done < "$TMP/admin.out"
grep -q '^ok delete-topics$' "$TMP/admin.out" && [ $rc -eq 0 ] ||
    { fail "admin: did not run to the end (exit $rc)"; show "$TMP/admin.err"; }

# ------------------------------------------------------------ group consumer
# values_of FILE...: the record values the members printed, sorted.
values_of() {
    cat "$@" | sed -n 's/^rec [0-9]* [0-9]* //p' | sort
}
# once_or_uncommitted WANT FILE...: as in kbroker_common.sh, every value of
# WANT read once, but for records whose commit a rebalance overtook.
once_or_uncommitted() {
    want=$1
    shift
    cat "$@" | sed -n 's/^uncommitted [0-9]* [0-9]* \([^ ]*\) .*/\1/p' | sort -u > "$TMP/unc"
    values_of "$@" > "$TMP/got"
    sort -u "$TMP/got" > "$TMP/got.u"
    cmp -s "$TMP/got.u" "$want" || return 1
    uniq -d "$TMP/got" > "$TMP/dups"
    [ -z "$(comm -23 "$TMP/dups" "$TMP/unc")" ]
}
seq_values() {
    i=$1
    while [ "$i" -lt "$2" ]; do echo "v$i"; i=$((i + 1)); done | sort
}
# committed_sum FILE: the sum of the committed offsets printed.
committed_sum() {
    awk '$1 == "committed" && $3 >= 0 { s += $3 } END { print s + 0 }' "$1"
}

kb_client produce "$KB" jgrp 60 none > "$TMP/p1.out" 2> "$TMP/p1.err" ||
    { fail "group: produce 60"; show "$TMP/p1.err"; }
kb_client group "$KB" jgrp g1 25 range > "$TMP/m1.out" 2> "$TMP/m1.err"
n1=$(grep -c '^rec ' "$TMP/m1.out")
if [ "$n1" -eq 25 ] && grep -q '^assigned 0,1,2,3$' "$TMP/m1.out"; then
    pass "group: first member got all 4 partitions and read 25"
else
    fail "group: first member read $n1 of 25"
    show "$TMP/m1.out"
    show "$TMP/m1.err"
fi
kb_client committed "$KB" jgrp g1 4 > "$TMP/c1.out" 2> "$TMP/c1.err"
s=$(committed_sum "$TMP/c1.out")
[ "$s" -eq 25 ] && pass "group: committed offsets add up to the 25 read" ||
    { fail "group: committed offsets add up to $s, not 25"; show "$TMP/c1.out"; show "$TMP/c1.err"; }
kb_client group "$KB" jgrp g1 1000 range 4000 > "$TMP/m2.out" 2> "$TMP/m2.err"
values_of "$TMP/m1.out" "$TMP/m2.out" > "$TMP/got"
seq_values 0 60 > "$TMP/want"
if cmp -s "$TMP/got" "$TMP/want"; then
    pass "group: the restarted member resumed at the committed offsets (60 records exactly once)"
else
    fail "group: the two members together did not read each record once ($(wc -l < "$TMP/got") read)"
    diff "$TMP/want" "$TMP/got" | head -10 | show /dev/stdin
    show "$TMP/m2.err"
fi
kb_kill KILL
kb_start || { fail "$NAME: kbroker did not restart"; show "$TMP/kb.err"; finish; }
kb_client committed "$KB" jgrp g1 4 > "$TMP/c2.out" 2> "$TMP/c2.err"
s=$(committed_sum "$TMP/c2.out")
[ "$s" -eq 60 ] && pass "group: committed offsets survive kill -9 of kbroker" ||
    { fail "group: after kill -9 the committed offsets add up to $s, not 60"; show "$TMP/c2.out"; }
kb_client produce "$KB" jgrp 10 none 60 > /dev/null 2> "$TMP/p2.err" || fail "group: produce 10 more"
kb_client group "$KB" jgrp g1 1000 range 4000 > "$TMP/m3.out" 2> "$TMP/m3.err"
values_of "$TMP/m3.out" > "$TMP/got"
seq_values 60 70 > "$TMP/want"
cmp -s "$TMP/got" "$TMP/want" && pass "group: after kill -9 a member reads only the 10 new records" ||
    { fail "group: after kill -9 a member read $(wc -l < "$TMP/got") records, not the 10 new ones"; show "$TMP/m3.out"; }

# ------------------------------------------------------------ zstd
kb_client produce "$KB" jzstd 200 zstd > "$TMP/pz.out" 2> "$TMP/pz.err" ||
    { fail "zstd: produce"; show "$TMP/pz.err"; }
kb_client group "$KB" jzstd gz 1000 roundrobin 4000 > "$TMP/mz.out" 2> "$TMP/mz.err"
values_of "$TMP/mz.out" > "$TMP/got"
seq_values 0 200 > "$TMP/want"
cmp -s "$TMP/got" "$TMP/want" && pass "zstd: a group consumer read the 200 zstd records" ||
    { fail "zstd: the consumer read $(wc -l < "$TMP/got") of 200"; show "$TMP/mz.err"; }
logs=
for d in "$BDIR"/jzstd-*; do
    l=$(files_of "$d" .log)
    [ -n "$l" ] && logs=${logs:+$logs,}$l
done
kafka_tool kafka.tools.DumpLogSegments --files "$logs" > "$TMP/dz.out" 2> "$TMP/dz.err"
nz=$(grep -c 'compresscodec: zstd' "$TMP/dz.out")
nb=$(grep -c '^baseOffset: ' "$TMP/dz.out")
if [ "$nb" -gt 0 ] && [ "$nz" -eq "$nb" ] && ! grep -q 'isvalid: false' "$TMP/dz.out"; then
    pass "zstd: Kafka's DumpLogSegments reads $nb valid zstd batches in kbroker's segments"
else
    fail "zstd: DumpLogSegments: $nz zstd of $nb batches"
    show "$TMP/dz.out"
    show "$TMP/dz.err"
fi

# ------------------------------------------------------------ cooperative
# wait_line FILE PATTERN: until a line of FILE matches (bounded, 90 s).
wait_line() {
    i=0
    while ! grep -q "$2" "$1" 2> /dev/null; do
        i=$((i + 1))
        [ $i -lt 900 ] || return 1
        sleep 0.1
    done
}
kb_client produce "$KB" jcoop 40 none > /dev/null 2> "$TMP/pc.err" || fail "cooperative: produce"
kb_client group "$KB" jcoop gc 100000 cooperative-sticky 12000 > "$TMP/ca.out" 2> "$TMP/ca.err" &
CA=$!
# The first member reads the first 40 before the second joins (a commit a
# generation change overtakes fails, and the client then gives up its
# whole assignment as lost, which would look eager here).
wait_recs() {
    i=0
    while [ "$(grep -c '^rec ' "$1" 2> /dev/null)" -lt "$2" ]; do
        i=$((i + 1))
        [ $i -lt 900 ] || return 1
        sleep 0.1
    done
}
if wait_line "$TMP/ca.out" '^assigned 0,1,2,3$' && wait_recs "$TMP/ca.out" 40; then
    kb_client group "$KB" jcoop gc 100000 cooperative-sticky 6000 > "$TMP/cb.out" 2> "$TMP/cb.err" &
    CB=$!
    wait_line "$TMP/cb.out" '^assigned [0-9]' || fail "cooperative: the second member got no partition"
    kb_client produce "$KB" jcoop 40 none 40 > /dev/null 2>> "$TMP/pc.err" || fail "cooperative: produce more"
    wait $CB
else
    fail "cooperative: the first member was not assigned all 4 partitions, or read not 40"
    show "$TMP/ca.out"
    show "$TMP/ca.err"
fi
wait $CA
rev=$(sed -n 's/^revoked \([0-9].*\)/\1/p' "$TMP/ca.out" | head -1)
gotb=$(sed -n 's/^assigned \([0-9].*\)/\1/p' "$TMP/cb.out" | head -1)
if [ -n "$rev" ] && [ "$rev" != "0,1,2,3" ] && [ "$rev" = "$gotb" ]; then
    pass "cooperative: the first member gave up only $rev, which the second got"
else
    fail "cooperative: first member revoked '$rev', second got '$gotb'"
    grep -v '^rec' "$TMP/ca.out" | show /dev/stdin
fi
seq_values 0 80 > "$TMP/want"
once_or_uncommitted "$TMP/want" "$TMP/ca.out" "$TMP/cb.out" &&
    pass "cooperative: 80 records read once each across the rebalance ($(wc -l < "$TMP/unc") commits overtaken)" ||
    { fail "cooperative: $(wc -l < "$TMP/got") records read, not the 80 once each"; diff "$TMP/want" "$TMP/got" | head -5 | show /dev/stdin; }

# ------------------------------------------------------------ transactions
kb_client txn "$KB" jtxn jt1 400 50 jtg > "$TMP/tx.out" 2> "$TMP/tx.err"
if grep -q '^committed 4 aborted 4$' "$TMP/tx.out"; then
    pass "transactions: 4 committed, 4 aborted"
else
    fail "transactions: producer"
    show "$TMP/tx.out"
    show "$TMP/tx.err"
fi
i=0
: > "$TMP/want"
while [ $i -lt 400 ]; do
    [ $((i / 50 % 2)) -eq 0 ] && echo "v$i" >> "$TMP/want"
    i=$((i + 1))
done
sort -o "$TMP/want" "$TMP/want"
kb_client readc "$KB" jtxn 4 > "$TMP/rc.out" 2> "$TMP/rc.err"
values_of "$TMP/rc.out" > "$TMP/got"
cmp -s "$TMP/got" "$TMP/want" &&
    pass "transactions: a read_committed consumer reads exactly the 200 committed records" ||
    { fail "transactions: read_committed read $(wc -l < "$TMP/got") records, not the 200 committed"; diff "$TMP/want" "$TMP/got" | head -5 | show /dev/stdin; show "$TMP/rc.err"; }
kb_kill KILL
kb_start || { fail "$NAME: kbroker did not restart"; show "$TMP/kb.err"; finish; }
kb_client committed "$KB" src jtg 1 > "$TMP/tc.out" 2> "$TMP/tc.err"
grep -q '^committed 0 7$' "$TMP/tc.out" &&
    pass "transactions: the offsets of the last committed transaction, also after kill -9" ||
    { fail "transactions: committed offset"; show "$TMP/tc.out"; show "$TMP/tc.err"; }
kb_client fence "$KB" jtxn jt2 > "$TMP/tf.out" 2> "$TMP/tf.err"
grep -q '^fenced$' "$TMP/tf.out" &&
    pass "transactions: a second producer with the same transactional.id fences the first" ||
    { fail "transactions: fencing"; show "$TMP/tf.out"; show "$TMP/tf.err"; }
kb_client readc "$KB" jtxn 4 > "$TMP/rc2.out" 2> "$TMP/rc2.err"
values_of "$TMP/rc2.out" > "$TMP/got"
cmp -s "$TMP/got" "$TMP/want" &&
    pass "transactions: the fenced producer's records are not visible to read_committed" ||
    { fail "transactions: after fencing read_committed read $(wc -l < "$TMP/got") records"; show "$TMP/rc2.err"; }
# Kafka's own decoders read the coordinator's records in kbroker's segments.
kb_kill TERM
kafka_tool kafka.tools.DumpLogSegments --transaction-log-decoder \
    --files "$(files_of "$BDIR/__transaction_state-0" .log)" > "$TMP/dt.out" 2> "$TMP/dt.err"
if grep -q '"transactionalId":"jt1"' "$TMP/dt.out" && grep -q '"transactionStatus":4' "$TMP/dt.out" &&
    grep -q '"transactionStatus":5' "$TMP/dt.out" && ! grep -q 'isvalid: false' "$TMP/dt.out"; then
    pass "transactions: Kafka's DumpLogSegments decodes kbroker's __transaction_state"
else
    fail "transactions: DumpLogSegments --transaction-log-decoder"
    show "$TMP/dt.out"
    show "$TMP/dt.err"
fi
kafka_tool kafka.tools.DumpLogSegments --offsets-decoder \
    --files "$(files_of "$BDIR/__consumer_offsets-0" .log)" > "$TMP/do.out" 2> "$TMP/do.err"
if grep -q 'isTransactional: true' "$TMP/do.out" && grep -q 'endTxnMarker: COMMIT' "$TMP/do.out" &&
    grep -q '"group":"jtg"' "$TMP/do.out" && ! grep -q 'isvalid: false' "$TMP/do.out"; then
    pass "transactions: DumpLogSegments reads the transactional offset commits and their markers"
else
    fail "transactions: DumpLogSegments --offsets-decoder"
    show "$TMP/do.out"
    show "$TMP/do.err"
fi
# ------------------------------------------------------------ KIP-848 groups
# group.protocol=consumer: the broker computes the assignment
# (KbrokerCgroup.java), with a session timeout shortened to 6 s.
kb_cg_classes() {
    src=$ROOT/test/interop/kafka/KbrokerCgroup.java
    cdir=$KLOG_BUILD/interop/kbcgclasses.$(cksum < "$src" | cut -d' ' -f1)
    if [ ! -f "$cdir/KbrokerCgroup.class" ]; then
        mkdir -p "$cdir" && javac -encoding UTF-8 -nowarn -cp "$CP" -d "$cdir" "$src" || return 1
    fi
    echo "$cdir"
}
# kb_cg ARGS...: bounded in time. With KB_CG_EXEC set, the shell becomes
# the JVM itself (for a member the test kills with -9: killing timeout(1)
# would leave the JVM running).
kb_cg() {
    cdir=$(kb_cg_classes) || return 1
    set -- -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$ROOT/test/interop/kafka/log4j2-tools.properties" \
        -cp "$cdir:$CP" KbrokerCgroup "$@"
    if [ -n "${KB_CG_EXEC:-}" ]; then
        exec java "$@"
    fi
    timeout 240 java "$@"
}
# Java's System.nanoTime on Linux: CLOCK_MONOTONIC, as python's.
mono_ns() {
    python3 -c 'import time; print(time.monotonic_ns())'
}
# exclusive FILE...: no partition owned by two members at once, from the
# members' assigned/revoked/lost lines; FILE.killed (if any) holds the
# time its member was killed, which ends what it still owned.
exclusive() {
    python3 - "$@" << 'PYEOF'
import os, sys
iv = {}
for f in sys.argv[1:]:
    own = {}
    for line in open(f):
        w = line.split()
        if len(w) == 3 and w[0] in ("assigned", "revoked", "lost") and w[2] != "-":
            t = int(w[1])
            for p in map(int, w[2].split(",")):
                if w[0] == "assigned":
                    own[p] = t
                elif p in own:
                    iv.setdefault(p, []).append((own.pop(p), t, f))
    end = int(open(f + ".killed").read()) if os.path.exists(f + ".killed") else None
    for p, t in own.items():
        iv.setdefault(p, []).append((t, end if end is not None else 1 << 62, f))
bad = 0
for p, xs in sorted(iv.items()):
    xs.sort()
    for (a0, a1, af), (b0, b1, bf) in zip(xs, xs[1:]):
        if b0 < a1 and af != bf:
            print("partition %d: %s owned it until %d, %s from %d" % (p, af, a1, bf, b0))
            bad = 1
print("intervals %d" % sum(len(x) for x in iv.values()))
sys.exit(bad)
PYEOF
}
kb_kill TERM
CGOPTS="--group-consumer-session-timeout 6000 --group-consumer-heartbeat-interval 500"
# shellcheck disable=SC2086
kb_start $CGOPTS || { fail "$NAME: kbroker did not restart"; show "$TMP/kb.err"; finish; }
kb_cg create "$KB" jcg 12 > "$TMP/cgc.out" 2> "$TMP/cgc.err" || { fail "kip848: create"; show "$TMP/cgc.err"; }
kb_client produce "$KB" jcg 600 none > /dev/null 2> "$TMP/cgp.err" || fail "kip848: produce 600"
kb_cg member "$KB" jcg cgu uniform 100000 10000 > "$TMP/u1.out" 2> "$TMP/u1.err" &
U1=$!
kb_cg member "$KB" jcg cgu uniform 150 100000 > "$TMP/u2.out" 2> "$TMP/u2.err" &
U2=$!
kb_cg_classes > /dev/null || fail "kip848: compile KbrokerCgroup.java"
(KB_CG_EXEC=1 kb_cg member "$KB" jcg cgu uniform 100000 100000 > "$TMP/u3.out" 2> "$TMP/u3.err") &
U3=$!
i=0
n3=0
while [ $i -lt 900 ] && [ "${n3:-0}" -lt 40 ]; do
    sleep 0.1
    n3=$(grep -c '^rec ' "$TMP/u3.out" 2> /dev/null)
    i=$((i + 1))
done
if [ "${n3:-0}" -ge 40 ]; then
    kill -KILL $U3 2> /dev/null
    mono_ns > "$TMP/u3.out.killed"
else
    fail "kip848: the third member read no 40 records"
    kill -KILL $U3 2> /dev/null
fi
wait $U3 2> /dev/null
kb_client produce "$KB" jcg 300 none 600 > /dev/null 2>> "$TMP/cgp.err" || fail "kip848: produce 300 more"
wait $U2
wait $U1
values_of "$TMP/u1.out" "$TMP/u2.out" "$TMP/u3.out" | sort -u > "$TMP/got"
seq_values 0 900 > "$TMP/want"
n2=$(grep -c '^rec ' "$TMP/u2.out")
if cmp -s "$TMP/got" "$TMP/want" && [ "$n2" -eq 150 ]; then
    pass "kip848 uniform: 3 members (one closed after 150, one killed -9): all 900 records read at least once"
else
    fail "kip848 uniform: $(wc -l < "$TMP/got") of 900 distinct records read, the closing member read $n2"
    show "$TMP/u1.out"
    show "$TMP/u1.err"
fi
if exclusive "$TMP/u1.out" "$TMP/u2.out" "$TMP/u3.out" > "$TMP/excl.out" &&
    grep -q '^assigned .*[0-9]' "$TMP/u2.out"; then
    pass "kip848 uniform: no partition owned by two members at once ($(tail -1 "$TMP/excl.out"))"
else
    fail "kip848 uniform: a partition had two owners"
    show "$TMP/excl.out"
fi
kb_cg member "$KB" jcg cgu uniform 100000 4000 > "$TMP/u4.out" 2> "$TMP/u4.err"
n4=$(grep -c '^rec ' "$TMP/u4.out")
[ "$n4" -eq 0 ] && grep -q '^assigned [0-9]* 0,1,2,3,4,5,6,7,8,9,10,11$' "$TMP/u4.out" &&
    pass "kip848: the restarted group resumes at the committed offsets (nothing left to read)" ||
    { fail "kip848: the restarted group read $n4 records"; show "$TMP/u4.out"; }
kb_client produce "$KB" jcg 50 none 900 > /dev/null 2>> "$TMP/cgp.err" || fail "kip848: produce 50 more"
kb_kill KILL
# shellcheck disable=SC2086
kb_start $CGOPTS || { fail "$NAME: kbroker did not restart"; show "$TMP/kb.err"; finish; }
kb_cg member "$KB" jcg cgu uniform 100000 4000 > "$TMP/u5.out" 2> "$TMP/u5.err"
values_of "$TMP/u5.out" > "$TMP/got"
seq_values 900 950 > "$TMP/want"
cmp -s "$TMP/got" "$TMP/want" &&
    pass "kip848: after kill -9 of kbroker the group resumes at the committed offsets (the 50 new records)" ||
    { fail "kip848: after kill -9 the group read $(wc -l < "$TMP/got") records, not the 50 new"; show "$TMP/u5.out"; show "$TMP/u5.err"; }
# range, and Admin.describeConsumerGroups through ConsumerGroupDescribe
kb_cg member "$KB" jcg cgr range 100000 8000 > "$TMP/r1.out" 2> "$TMP/r1.err" &
R1=$!
wait_line "$TMP/r1.out" '^assigned [0-9]* [0-9]' || fail "kip848 range: first member not assigned"
kb_cg member "$KB" jcg cgr range 100000 8000 > "$TMP/r2.out" 2> "$TMP/r2.err" &
R2=$!
wait_line "$TMP/r2.out" '^assigned [0-9]* [0-9]' || fail "kip848 range: second member not assigned"
i=0
while :; do
    kb_cg describe "$KB" cgr 2 range 12 > "$TMP/d.out" 2> "$TMP/d.err" && break
    i=$((i + 1))
    [ $i -lt 5 ] || break
    sleep 1
done
grep -q '^ok describe' "$TMP/d.out" &&
    pass "kip848: Admin.describeConsumerGroups: 2 members, range, 12 partitions each owned once ($(grep '^ok' "$TMP/d.out"))" ||
    { fail "kip848: describeConsumerGroups"; show "$TMP/d.out"; show "$TMP/d.err"; }
ranges=$(sed -n 's/^member [^ ]* //p' "$TMP/d.out" | sort | tr '\n' ' ')
[ "$ranges" = "0,1,2,3,4,5 6,7,8,9,10,11 " ] &&
    pass "kip848 range: the two members own 0-5 and 6-11" ||
    { fail "kip848 range: the members own $ranges"; show "$TMP/d.out"; }
wait $R1
wait $R2
exclusive "$TMP/r1.out" "$TMP/r2.out" > "$TMP/excl2.out" &&
    pass "kip848 range: no partition owned by two members at once" ||
    { fail "kip848 range: a partition had two owners"; show "$TMP/excl2.out"; }
kb_kill TERM
finish
