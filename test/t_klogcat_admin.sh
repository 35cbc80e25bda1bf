#!/bin/sh
# t_klogcat_admin.sh — klogcat's admin modes (issue 20): --alter (topic
# configuration after creation, NAME=default, more partitions, never fewer),
# --delete-records (N, end, s@TIMESTAMP, -p), --retention now, --stats,
# --groups, --describe (committed offset, lag, owner, members),
# --reset-offsets (earliest, latest, N, s@TIMESTAMP, --shift-by, refused
# while members live), --delete-group; -J for each; and the changing modes
# on a directory a writer holds: refused, naming the writer's pid. Every
# wait is bounded. Exit 0 pass, 77 skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
K=$B/klogcat
if [ ! -x "$K" ]; then
    echo "SKIP: $K is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_klogcat_admin.XXXXXX") || exit 1
BGPIDS=""
cleanup() {
    for p in $BGPIDS; do kill "$p" 2>/dev/null; done
    exec 3>&-
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
D=$T/log
REG=dir:$T/reg
NFAIL=0
NCHECK=0

fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}
ok() { NCHECK=$((NCHECK + 1)); }
expect_rc() {
    want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$what: exit $rc, expected $want"
        sed 's/^/    out: /' "$T/out" | head -10
        sed 's/^/    err: /' "$T/err" | head -10
        return 1
    fi
    ok
}
contains() {
    if grep -q -e "$3" "$2"; then ok; else
        fail "$1: '$3' not found"
        head -20 "$2" | sed 's/^/    /'
    fi
}
lacks() {
    if grep -q -e "$3" "$2"; then
        fail "$1: '$3' found"
        head -10 "$2" | sed 's/^/    /'
    else ok; fi
}
wait_for() {
    n=0
    while [ $n -lt $(($3 * 10)) ]; do
        grep -q -e "$2" "$1" 2>/dev/null && return 0
        sleep 0.1 2>/dev/null || sleep 1
        n=$((n + 1))
    done
    return 1
}

expect_rc 0 "create a" "$K" -d "$D" -t a --create -N 2
seq 1 20 | "$K" -d "$D" -t a -P -p 0 || fail "produce a-0"
seq 1 10 | "$K" -d "$D" -t a -P -p 1 || fail "produce a-1"

# ------------------------------------------------------------------ --alter
expect_rc 0 "--alter -X" "$K" -d "$D" -t a --alter -X retention.ms=86400000 -X compression.type=lz4 -X segment.bytes=4096
contains "--alter prints the configuration" "$T/out" "^  compression.type=lz4$"
expect_rc 0 "dump klog.topics after --alter" "$K" dump "$D/klog.topics"
contains "--alter is persisted" "$T/out" "^topic: a partitions: 2 .*retention.ms=86400000"
seq 1 300 | "$K" -d "$D" -t a -P -p 1 || fail "produce after --alter"
"$K" dump "$D/a-1/00000000000000000000.log" >"$T/dump" 2>&1
contains "altered compression.type is used" "$T/dump" "compresscodec: lz4"
seq 1 2000 | "$K" -d "$D" -t a -P -p 1 -z none || fail "produce more after --alter"
if [ "$(ls "$D/a-1" | grep -c '\.log$')" -ge 2 ]; then ok; else fail "altered segment.bytes did not roll"; fi
expect_rc 0 "--alter NAME=default" "$K" -d "$D" -t a --alter -X compression.type=default -J
contains "=default restores the default" "$T/out" '"compression.type":"none"'
expect_rc 0 "dump klog.topics after =default" "$K" dump "$D/klog.topics"
lacks "=default removes the override" "$T/out" "compression.type"
expect_rc 2 "=default with --create" "$K" -d "$D" -t b --create -X compression.type=default
expect_rc 2 "--alter without -X or -N" "$K" -d "$D" -t a --alter
expect_rc 1 "--alter a missing topic" "$K" -d "$D" -t nope --alter -N 3
expect_rc 0 "--alter -N 4 adds partitions" "$K" -d "$D" -t a --alter -N 4
contains "--alter -N" "$T/out" "^topic: a partitions: 4$"
expect_rc 0 "produce to a new partition" sh -c "echo new | '$K' -d '$D' -t a -P -p 3"
expect_rc 0 "consume the new partition" "$K" -d "$D" -t a -C -e -p 3
contains "new partition holds its record" "$T/out" "^new$"
expect_rc 1 "--alter -N fewer" "$K" -d "$D" -t a --alter -N 2
contains "fewer partitions refused" "$T/err" "can only be added"
expect_rc 0 "verify after --alter" "$K" verify "$D"

# --------------------------------------------------------- --delete-records
expect_rc 0 "--delete-records -o 5 -p 0" "$K" -d "$D" -t a --delete-records -o 5 -p 0
contains "delete-records prints the move" "$T/out" "^a-0: log start 0 -> 5$"
expect_rc 0 "consume after delete-records" "$K" -d "$D" -t a -C -e -p 0 -c 1
contains "first record is now offset 5" "$T/out" "^6$"
expect_rc 1 "--delete-records past the high watermark" "$K" -d "$D" -t a --delete-records -o 100 -p 0
contains "past the watermark refused" "$T/err" "above the high watermark"
expect_rc 0 "--delete-records -o end -J" "$K" -d "$D" -t a --delete-records -o end -p 2 -J
contains "delete-records -J" "$T/out" '"partition":2,"old_log_start":0,"log_start":0'
expect_rc 0 "--delete-records -o s@0" "$K" -d "$D" -t a --delete-records -o s@0
expect_rc 2 "--delete-records -o beginning" "$K" -d "$D" -t a --delete-records -o beginning

# ------------------------------------------------------ --retention, --stats
expect_rc 0 "create r" "$K" -d "$D" -t r --create -X segment.bytes=1024 -X retention.bytes=1024
head -c 20000 /dev/zero | tr '\000' 'x' | fold -w 100 | "$K" -d "$D" -t r -P || fail "produce r"
before=$(ls "$D/r-0" | grep -c '\.log$')
expect_rc 0 "--retention" "$K" -d "$D" --retention
after=$(ls "$D/r-0" | grep -c '\.log$')
n=$(sed -n 's/^retention: \([0-9]*\) segment(s) deleted$/\1/p' "$T/out")
if [ -n "$n" ] && [ "$n" -gt 0 ] && [ "$after" -eq $((before - n)) ]; then ok; else
    fail "--retention: $before segments before, $after after, reported '$(cat "$T/out")'"; fi
expect_rc 0 "--retention -J" "$K" -d "$D" --retention -J
contains "--retention -J" "$T/out" '^{"segments_deleted":0}$'
expect_rc 0 "--stats" "$K" -d "$D" --stats -t a
contains "--stats row" "$T/out" "^a  *0  *5  *20  *20  *15 "
expect_rc 0 "--stats -J" "$K" -d "$D" --stats -J
contains "--stats -J" "$T/out" '"topic":"a","partitions":\[{"partition":0,"log_start":5,"high_watermark":20,"log_end":20,"records":15,'
contains "--stats without a writer: no descriptors" "$T/out" '"open_fds":-1}'
now=$(date +%s)
la=$(sed 's/.*"topic":"a".*"partition":3,[^}]*"last_append_ms":\([0-9-]*\).*/\1/' "$T/out")
if [ "$((la / 1000))" -ge $((now - 600)) ] && [ "$((la / 1000))" -le $((now + 5)) ]; then ok; else fail "--stats last append '$la' not near now ($now)"; fi

# ------------------------------------------------------------------ groups
expect_rc 0 "consume as group g" "$K" -d "$D" -C -G g -R "$REG" -e -t a
expect_rc 0 "--groups" "$K" -R "$REG" --groups
contains "--groups lists g" "$T/out" "^g  *0$"
expect_rc 0 "--groups -J" "$K" -R "$REG" --groups -J
contains "--groups -J" "$T/out" '^{"groups":\[{"group":"g","members":0}\]}$'
seq 1 5 | "$K" -d "$D" -t a -P -p 1 || fail "produce for lag"
expect_rc 0 "--describe" "$K" -d "$D" -R "$REG" -G g --describe
contains "--describe lag" "$T/out" "^a  *1  *2310  *0  *2315  *5 -$"
contains "--describe members" "$T/out" "^no live members$"
expect_rc 0 "--describe -J" "$K" -d "$D" -R "$REG" -G g --describe -J
contains "--describe -J" "$T/out" '"topic":"a","partition":1,"committed":2310,"lag":5,"log_start":0,"high_watermark":2315,"owner":null'
expect_rc 0 "--reset-offsets earliest" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a -o earliest -p 0
contains "reset earliest" "$T/out" "^a-0: 20 -> 5$"
expect_rc 0 "--reset-offsets 12" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a -o 12 -p 0
contains "reset to 12" "$T/out" "^a-0: 5 -> 12$"
expect_rc 0 "--reset-offsets --shift-by -2" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a --shift-by -2 -p 0
contains "shift by -2" "$T/out" "^a-0: 12 -> 10$"
expect_rc 0 "--reset-offsets --shift-by 1000 (clamped)" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a --shift-by 1000 -p 0
contains "shift clamped" "$T/out" "^a-0: 10 -> 20$"
expect_rc 0 "--reset-offsets latest -J" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a -o latest -J
contains "reset latest -J" "$T/out" '"partition":1,"old":2310,"new":2315'
expect_rc 0 "--reset-offsets s@0" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a -o s@0 -p 1
contains "reset to time 0" "$T/out" "^a-1: 2315 -> 0$"
expect_rc 0 "group resumes at the reset offset" "$K" -d "$D" -C -G g -R "$REG" -e -t a -c 1 -f '%p:%o\n'
contains "group read from the reset offset" "$T/out" "^1:0$\|^[023]:"
expect_rc 2 "--reset-offsets -o -3" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a -o -3
expect_rc 2 "--reset-offsets without -o" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a

# A live member: offsets may not change, deleting the group is refused.
"$K" -d "$D" -C -G g -R "$REG" -t a >/dev/null 2>"$T/member.err" &
MPID=$!
BGPIDS="$BGPIDS $MPID"
n=0
until "$K" -d "$D" -R "$REG" -G g --describe 2>/dev/null | grep -q '^member '; do
    n=$((n + 1))
    [ $n -lt 100 ] || break
    sleep 0.1
done
expect_rc 0 "--describe shows the live member" "$K" -d "$D" -R "$REG" -G g --describe
contains "live member listed" "$T/out" "^member .* topics a$"
expect_rc 1 "--reset-offsets with a live member" "$K" -d "$D" -R "$REG" -G g --reset-offsets -t a -o earliest
contains "live member refusal" "$T/err" "live member(s): stop them first"
expect_rc 1 "--delete-group with a live member" "$K" -R "$REG" -G g --delete-group
kill -TERM "$MPID"
wait "$MPID"
BGPIDS=""
expect_rc 0 "--delete-group" "$K" -R "$REG" -G g --delete-group
expect_rc 0 "--groups after delete" "$K" -R "$REG" --groups -J
contains "group gone" "$T/out" '^{"groups":\[\]}$'
expect_rc 1 "--delete-group again" "$K" -R "$REG" -G g --delete-group
expect_rc 2 "--groups on ZooKeeper" "$K" -R zk:127.0.0.1:1 --groups

# ----------------------------------------- a writer holds the directory
mkfifo "$T/fifo" || fail "mkfifo"
"$K" -d "$D" -t a -P -p 0 <"$T/fifo" 2>"$T/writer.err" &
WPID=$!
BGPIDS="$WPID"
exec 3>"$T/fifo"
echo held >&3
n=0
until "$K" -d "$D" -t a -C -e -p 0 -o -1 2>/dev/null | grep -q '^held$'; do
    n=$((n + 1))
    [ $n -lt 100 ] || break
    sleep 0.1
done
for mode in "-t a --alter -X retention.ms=1000" "-t a --delete-records -o 6" "--retention"; do
    # shellcheck disable=SC2086
    expect_rc 1 "$mode beside a writer" "$K" -d "$D" $mode
    contains "$mode names the writer" "$T/err" "process $WPID (klogcat) is writing to it"
done
expect_rc 0 "--stats beside a writer" "$K" -d "$D" --stats -t a -J
fds=$(sed 's/.*"partition":0,[^}]*"open_fds":\([0-9-]*\).*/\1/' "$T/out")
if [ "$fds" -ge 1 ] 2>/dev/null; then ok; else fail "--stats: the writer's open descriptors on a-0: '$fds'"; fi
exec 3>&-
wait "$WPID" || fail "writer failed: $(cat "$T/writer.err")"
BGPIDS=""
expect_rc 0 "--retention once the writer is gone" "$K" -d "$D" --retention

# The writer is a kbroker: say that it does not serve the admin APIs.
if [ -x "$B/kbroker" ]; then
    "$B/kbroker" -d "$D" -l 127.0.0.1:0 >"$T/broker.out" 2>"$T/broker.err" &
    KBPID=$!
    BGPIDS="$KBPID"
    if wait_for "$T/broker.out" "^listening on" 20; then
        expect_rc 1 "--retention beside a kbroker" "$K" -d "$D" --retention
        contains "kbroker named" "$T/err" "process $KBPID (kbroker: change topics through its Kafka admin API, e.g. kafka-topics.sh) is writing"
    else
        fail "kbroker did not start: $(cat "$T/broker.err")"
    fi
    kill "$KBPID" 2>/dev/null
    wait "$KBPID" 2>/dev/null
    BGPIDS=""
fi

echo "$NCHECK checks passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]
