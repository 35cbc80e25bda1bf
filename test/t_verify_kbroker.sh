#!/bin/sh
# t_verify_kbroker.sh — `klogcat verify` (klog_verify on a read-only open)
# in a loop while the example broker writes: kcat producers append to two
# topics with small segments (so the broker rolls and seals segments under
# the verifier) while a consumer group commits offsets into
# __consumer_offsets. Every verify pass must report 0 problems, 0 warnings
# and 0 recoverable; after the producers finish, the broker's data verifies
# clean and every acknowledged message is consumed back once. Then the
# broker is kill -9'd mid-produce: verify may only find recoverable tails
# (exit 0 or 3, never 1), and after the broker restarts it is clean again.
. "$(dirname "$0")/interop/kbroker_common.sh"

command -v kcat > /dev/null 2>&1 || skip "kcat not installed"
K=$KLOG_BUILD/klogcat
[ -x "$K" ] || skip "$K not built"

NFAIL=0
NPASS=0
verify_clean() { # $1: label
    "$K" verify "$LOGDIR" > "$TMP/v.out" 2>&1
    vrc=$?
    if [ $vrc -eq 0 ] && grep -q ": 0 problem(s), 0 warning(s), 0 recoverable" "$TMP/v.out"; then
        NPASS=$((NPASS + 1))
    else
        echo "FAIL: verify $1: exit $vrc"
        head -20 "$TMP/v.out" | sed 's/^/    /'
        NFAIL=$((NFAIL + 1))
    fi
}

start_broker -N 2 --topic-default segment.bytes=16384 --topic-default index.interval.bytes=512

# Producers in the background: 20 rounds of 2,000 messages each, two topics.
seq -f "message-%g-padding-padding-padding-padding" 1 2000 > "$TMP/in.txt"
(
    r=0
    while [ $r -lt 20 ]; do
        for t in va vb; do
            timeout 60 kcat -b "$B" -P -t $t -K : -z lz4 -X acks=all -X linger.ms=2 -X batch.size=8000 < "$TMP/in.txt" ||
                { echo "produce $t round $r failed" >> "$TMP/prod.err"; }
        done
        r=$((r + 1))
    done
    echo done > "$TMP/prod.done"
) &
PRODPID=$!

# A consumer group commits offsets meanwhile (writes __consumer_offsets).
timeout 120 kcat -b "$B" -G vgroup va -o beginning -e -q -X auto.commit.interval.ms=100 > /dev/null 2>&1 &
CONSPID=$!

n=0
while [ ! -f "$TMP/prod.done" ] && [ $n -lt 400 ]; do
    verify_clean "beside the broker, pass $n"
    n=$((n + 1))
done
wait $PRODPID
wait $CONSPID 2>/dev/null
[ -s "$TMP/prod.err" ] && fail "$(cat "$TMP/prod.err")"
[ $n -ge 5 ] || fail "only $n verify passes ran beside the producers"
nseg=$(ls "$LOGDIR"/va-0/*.log | wc -l)
[ "$nseg" -ge 5 ] || fail "the broker rolled only $nseg segments of va-0 under the verifier"
verify_clean "after the producers"
for t in va vb; do
    got=$(timeout 60 kcat -b "$B" -C -t $t -o beginning -e -q -f '%o\n' | wc -l)
    [ "$got" -eq 40000 ] || fail "$t: consumed $got messages, produced 40000"
done
ok "$n verify passes beside the broker ($nseg segments in va-0), every message consumed back"

# kill -9 mid-produce: only recoverable problems, then clean after restart.
(
    i=0
    while [ $i -lt 50 ]; do cat "$TMP/in.txt"; i=$((i + 1)); done |
        timeout 60 kcat -b "$B" -P -t va -X acks=1 -X batch.size=8000 -X linger.ms=1 > /dev/null 2>&1
) &
KPID=$!
sleep 0.5
kill -KILL "$BPID"
wait "$BPID" 2>/dev/null
BPID=
wait $KPID 2>/dev/null
"$K" verify "$LOGDIR" > "$TMP/v.out" 2>&1
vrc=$?
if [ $vrc -eq 0 ] || [ $vrc -eq 3 ]; then
    NPASS=$((NPASS + 1))
else
    echo "FAIL: verify after kill -9 of the broker: exit $vrc"
    head -20 "$TMP/v.out" | sed 's/^/    /'
    NFAIL=$((NFAIL + 1))
fi
start_broker -N 2
verify_clean "after the broker restarted"
stop_broker
verify_clean "after the broker stopped"

echo "t_verify_kbroker: $NPASS verify passes clean, $NFAIL failed"
[ $NFAIL -eq 0 ] || exit 1
ok "verify beside kbroker"
