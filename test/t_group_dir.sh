#!/bin/sh
# t_group_dir.sh — consumer group across processes, directory registry
# (t_group_zk.sh runs the same scenario over ZooKeeper by setting
# GROUP_BACKEND=zk and sourcing this file).
#
# A 12-partition topic of 100,000 records is written and closed; three
# member processes ($KLOG_BUILD/test/group_member) open it read-only and
# consume it as one group, committing every 100 ms; one is killed with
# SIGKILL midway and a fourth joins. Each member logs claims, releases,
# commits (with timestamps) and every record it processed. At the end the
# checker verifies: every record was processed at least once, duplicates
# come only from the killed member's uncommitted range, and no partition
# was ever owned by two members at once. Exit 0 pass, 77 skip.
set -u

B=${KLOG_BUILD:-build}
H=$B/test/group_member
BACKEND=${GROUP_BACKEND:-dir}
RECORDS=100000
PARTS=12
if [ ! -x "$H" ]; then
    echo "SKIP: $H is not built"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/t_group_$BACKEND.XXXXXX") || exit 1
PIDS=""
ZKPID=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    if [ -n "$ZKPID" ]; then
        exec 9>&-
        i=0
        while kill -0 "$ZKPID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$ZKPID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

if [ "$BACKEND" = zk ]; then
    Z=$B/test/group_zkserver
    if [ ! -x "$Z" ]; then
        echo "SKIP: $Z is not built"
        exit 77
    fi
    mkdir -p "$T/zk"
    mkfifo "$T/zkin"
    "$Z" "$T/zk" < "$T/zkin" > "$T/zk.out" 2>&1 &
    ZKPID=$!
    exec 9> "$T/zkin"
    end=$(($(now_ms) + 40000))
    port=""
    while [ -z "$port" ] && [ "$(now_ms)" -lt $end ]; do
        if grep -q '^SKIP' "$T/zk.out"; then
            cat "$T/zk.out"
            tail -1 "$T/zk.out"
            exit 77
        fi
        port=$(sed -n 's/^PORT \([0-9]*\)/\1/p' "$T/zk.out")
        kill -0 "$ZKPID" 2>/dev/null || break
        [ -z "$port" ] && sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "FAIL: ZooKeeper did not start"
        cat "$T/zk.out"
        exit 1
    fi
    echo "ZooKeeper on 127.0.0.1:$port"
    REG="zk:127.0.0.1:$port/klogtest"
else
    REG="dir:$T/reg"
fi

"$H" produce "$T/log" events $PARTS $RECORDS || { echo "FAIL: produce"; exit 1; }
mkdir -p "$T/out"

start_member() {
    "$H" run "$T/log" "$REG" grp events "$1" "$T/out/$1.log" 20 100 &
    eval "PID_$1=$!"
    PIDS="$PIDS $!"
}

recs() {
    n=$(grep -c '^rec' "$T/out/$1.log" 2>/dev/null)
    echo "${n:-0}"
}

start_member m1
start_member m2
start_member m3

# Kill m2 once it is well into its share.
end=$(($(now_ms) + 20000))
while [ "$(recs m2)" -lt 3000 ] && [ "$(now_ms)" -lt $end ]; do sleep 0.05; done
if [ "$(recs m2)" -lt 3000 ]; then
    echo "FAIL: m2 did not get going"
    tail -5 "$T"/out/*.log
    exit 1
fi
# m2 owns its partitions until it dies, which is after this instant: the
# checker ends its open intervals here, so a claim by anyone else before
# the SIGKILL was sent counts as an overlap.
KILL_NS=$(date +%s%N)
kill -9 "$PID_m2"
wait "$PID_m2" 2>/dev/null
echo "killed m2 after $(recs m2) records"
start_member m4

distinct() { cat "$T"/out/*.log | awk '$1 == "rec" { print $2, $3 }' | sort -u | wc -l; }
end=$(($(now_ms) + 25000))
while [ "$(distinct)" -lt $RECORDS ] && [ "$(now_ms)" -lt $end ]; do sleep 0.2; done
echo "distinct records processed: $(distinct)"

rc=0
for m in m1 m3 m4; do
    eval "p=\$PID_$m"
    kill -TERM "$p"
done
for m in m1 m3 m4; do
    eval "p=\$PID_$m"
    wait "$p" || { echo "FAIL: member $m exited with $?"; rc=1; }
done
PIDS=""
for m in m1 m2 m3 m4; do
    echo "$m: $(recs $m) records, $(grep -c '^claim' "$T/out/$m.log") claims," \
        "$(grep -c '^release' "$T/out/$m.log") releases"
done
"$H" check $RECORDS $PARTS m2 "$KILL_NS" "$T"/out/m1.log "$T"/out/m2.log "$T"/out/m3.log \
    "$T"/out/m4.log || rc=1
[ $rc -eq 0 ] && echo "PASS: $BACKEND group across processes"
exit $rc
