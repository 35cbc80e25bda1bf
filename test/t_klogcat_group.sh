#!/bin/sh
# t_klogcat_group.sh — klogcat's group mode (-C -G GROUP -R REGISTRY):
# 1,000 keyed records in a 6-partition topic consumed by two concurrent
# `-e` members (every record printed exactly once, each partition read by
# one member or handed over once at a committed offset); two followers
# that split the partitions 3/3 while a writer process appends, stopped
# with SIGTERM (each partition printed by exactly one of them, offsets
# committed); re-runs of the group print nothing new, a new group prints
# everything, -o end prints nothing, -c commits what it printed, output
# that fails to be written is not committed, several topics (-t repeated
# and kcat's `-G GROUP TOPIC...`); then the same
# two-member run over ZooKeeper when $KLOG_BUILD/test/group_zkserver can
# start one (else that part is skipped). Every wait is bounded.
# Exit 0 pass, 77 skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
K=$B/klogcat
if [ ! -x "$K" ]; then
    echo "SKIP: $K is not built"
    exit 77
fi
if ! command -v timeout >/dev/null 2>&1; then
    echo "SKIP: timeout(1) is missing"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/t_klogcat_group.XXXXXX") || exit 1
BGPIDS=""
ZKPID=""
cleanup() {
    for p in $BGPIDS; do kill -9 "$p" 2>/dev/null; done
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
D=$T/log
REG=dir:$T/reg
TO=120 # seconds: the bound on any one klogcat run
NFAIL=0
NCHECK=0

fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}
ok() { NCHECK=$((NCHECK + 1)); }

# expect_rc WANT DESCRIPTION CMD...: run CMD (stdout to $T/out, stderr to
# $T/err, at most $TO seconds) and compare its exit status.
expect_rc() {
    want=$1 what=$2
    shift 2
    timeout $TO "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$what: exit $rc, expected $want"
        sed 's/^/    out: /' "$T/out" | head -20
        sed 's/^/    err: /' "$T/err" | head -20
        return 1
    fi
    ok
    return 0
}

# same_file DESCRIPTION EXPECTED ACTUAL
same_file() {
    if cmp -s "$2" "$3"; then
        ok
    else
        fail "$1: output differs"
        diff "$2" "$3" | head -20 | sed 's/^/    /'
    fi
}

contains() {
    if grep -q -e "$3" "$2"; then ok; else
        fail "$1: '$3' not found"
        head -30 "$2" | sed 's/^/    /'
    fi
}

empty() {
    if [ -s "$2" ]; then
        fail "$1: printed $(wc -l <"$2") line(s)"
        head -5 "$2" | sed 's/^/    /'
    else ok; fi
}

lines() { wc -l <"$1" | tr -d ' '; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# owned FILE: how many partitions the member whose -v stderr is FILE owns.
owned() {
    a=$(grep -c ': assigned ' "$1" 2>/dev/null)
    r=$(grep -c ': released ' "$1" 2>/dev/null)
    echo $((${a:-0} - ${r:-0}))
}

# exactly_once WHAT EXPECTED FILE...: the files together hold every line of
# EXPECTED once (lines are "PARTITION OFFSET KEY VALUE").
exactly_once() {
    what=$1 exp=$2
    shift 2
    cat "$@" | sort >"$T/union"
    same_file "$what: every record exactly once" "$exp" "$T/union"
}

# handovers WHAT A B: in offset order, the printer of each partition's
# records changes at most once (a hand-over at a committed offset) and
# nobody prints a partition's record twice. Prints the partitions that
# changed hands.
handovers() {
    { sed 's/^/A /' "$2"; sed 's/^/B /' "$3"; } | sort -k2,2n -k3,3n |
        awk -v what="$1" '
        BEGIN { p = -1; o = -1 }
        { if ($2 == p && $3 == o) { print "FAIL: " what ": " $2 "/" $3 " printed twice"; bad = 1 }
          if ($2 != p) { who = $1; ch = 0 }
          else if ($1 != who) { who = $1; ch++; moved[$2] = 1
              if (ch > 1) { print "FAIL: " what ": partition " $2 " changed hands twice"; bad = 1 } }
          p = $2; o = $3 }
        END { n = 0; for (k in moved) n++
              print what ": " n " partition(s) handed over while reading"; exit bad }'
}

# split_whole WHAT A B: each partition printed by exactly one of A and B,
# and each printed 3 of the 6.
split_whole() {
    cut -d' ' -f1 "$2" | sort -u >"$T/pa"
    cut -d' ' -f1 "$3" | sort -u >"$T/pb"
    both=$(comm -12 "$T/pa" "$T/pb" | tr '\n' ' ')
    if [ -n "$both" ]; then fail "$1: partitions printed by both: $both"; else ok; fi
    if [ "$(lines "$T/pa")" -eq 3 ] && [ "$(lines "$T/pb")" -eq 3 ]; then ok; else
        fail "$1: partitions per member $(tr '\n' ' ' <"$T/pa")/ $(tr '\n' ' ' <"$T/pb")"
    fi
}

F='%p %o %k %s\n'

# --------------------------------------------------------------- usage
expect_rc 2 "-G without -R" "$K" -d "$D" -C -G g -t x
contains "-G without -R message" "$T/err" "needs -R"
expect_rc 2 "-R without -G" "$K" -d "$D" -C -R "$REG" -t x
expect_rc 2 "bad -R" "$K" -d "$D" -C -G g -R nowhere -t x
expect_rc 2 "-p with -G" "$K" -d "$D" -C -G g -R "$REG" -t x -p 0
expect_rc 2 "-o N with -G" "$K" -d "$D" -C -G g -R "$REG" -t x -o 5
expect_rc 2 "bad group name" "$K" -d "$D" -C -G 'a/b' -R "$REG" -t x
expect_rc 2 "-G without topics" "$K" -d "$D" -C -G g -R "$REG"
expect_rc 2 "-G outside -C" "$K" -d "$D" -L -G g
expect_rc 2 "two -t without -G" "$K" -d "$D" -C -t x -t y
expect_rc 0 "-C --help" "$K" -C --help && contains "-C --help shows -G" "$T/out" "-G GROUP"
expect_rc 1 "group on a missing topic" "$K" -d "$D" -C -G g -R "$REG" nosuch -e

# ---------------------------------------------------------------- data
expect_rc 0 "create gt" "$K" -d "$D" -t gt --create -N 6
i=0
while [ $i -lt 1000 ]; do echo "key$i:val$i"; i=$((i + 1)); done >"$T/in"
expect_rc 0 "produce 1000 keyed records" "$K" -d "$D" -t gt -P -l -K : "$T/in"
expect_rc 0 "plain consume" "$K" -d "$D" -t gt -C -e -f "$F"
sort "$T/out" >"$T/all"
[ "$(lines "$T/all")" -eq 1000 ] && ok || fail "plain consume printed $(lines "$T/all") records"
[ "$(cut -d' ' -f1 "$T/all" | sort -u | wc -l)" -eq 6 ] && ok || fail "keys did not use all 6 partitions"
if [ ! -f /usr/include/zookeeper/zookeeper.h ]; then
    # This libklog is built without ZooKeeper: a clear error, status 1.
    expect_rc 1 "zk registry unsupported" "$K" -d "$D" -C -G g -R zk:127.0.0.1:1/x -t gt -e
    contains "zk unsupported message" "$T/err" "built without ZooKeeper support"
fi

# ------------------------------- two concurrent -e members of group g
timeout $TO "$K" -d "$D" -C -G g -R "$REG" -t gt -e -v -f "$F" >"$T/a" 2>"$T/a.err" &
PA=$!
timeout $TO "$K" -d "$D" -C -G g -R "$REG" -t gt -e -v -f "$F" >"$T/b" 2>"$T/b.err" &
PB=$!
BGPIDS="$PA $PB"
wait $PA && ok || { fail "member a exit $?"; sed 's/^/    a: /' "$T/a.err" | tail -5; }
wait $PB && ok || { fail "member b exit $?"; sed 's/^/    b: /' "$T/b.err" | tail -5; }
BGPIDS=""
echo "two -e members: a printed $(lines "$T/a"), b printed $(lines "$T/b")"
exactly_once "two -e members" "$T/all" "$T/a" "$T/b"
handovers "two -e members" "$T/a" "$T/b" && ok || fail "two -e members: ownership"
contains "-v joined" "$T/a.err" "klogcat: group g: joined as "
contains "-v assigned" "$T/a.err" "klogcat: group g: assigned gt-[0-5] at offset [0-9]*$"
contains "-v left" "$T/a.err" "klogcat: group g: left (exit), offsets committed"

# ------------------------------- committed offsets, new groups, -o end
expect_rc 0 "group g again" "$K" -d "$D" -C -G g -R "$REG" -t gt -e -f "$F"
empty "group g again (offsets committed)" "$T/out"
expect_rc 0 "new group g2" "$K" -d "$D" -C -G g2 -R "$REG" -t gt -e -f "$F"
sort "$T/out" >"$T/got"
same_file "new group g2 prints everything" "$T/all" "$T/got"
expect_rc 0 "new group g3 -o end" "$K" -d "$D" -C -G g3 -R "$REG" -t gt -e -o end -f "$F"
empty "new group with -o end" "$T/out"
expect_rc 0 "group g3 again" "$K" -d "$D" -C -G g3 -R "$REG" -t gt -e -f "$F"
empty "group g3 after -o end" "$T/out"
# -c: exit after COUNT records, committing exactly those.
expect_rc 0 "group g4 -c 10" "$K" -d "$D" -C -G g4 -R "$REG" -t gt -c 10 -f "$F"
cp "$T/out" "$T/c10"
[ "$(lines "$T/c10")" -eq 10 ] && ok || fail "-c 10 printed $(lines "$T/c10")"
expect_rc 0 "group g4 the rest" "$K" -d "$D" -C -G g4 -R "$REG" -t gt -e -f "$F"
[ "$(lines "$T/out")" -eq 990 ] && ok || fail "after -c 10 the group printed $(lines "$T/out"), not 990"
exactly_once "-c then the rest" "$T/all" "$T/c10" "$T/out"
# Output that cannot be written is not committed: exit 1, and the group
# reads everything again.
if [ -w /dev/full ]; then
    timeout $TO "$K" -d "$D" -C -G full -R "$REG" -t gt -e >/dev/full 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && ok || fail "writing to /dev/full: exit $rc, expected 1"
    contains "/dev/full message" "$T/err" "writing output"
    expect_rc 0 "group full after the failed run" "$K" -d "$D" -C -G full -R "$REG" -t gt -e -f "$F"
    sort "$T/out" >"$T/got"
    same_file "failed output was not committed" "$T/all" "$T/got"
fi
# -J names each record's topic.
expect_rc 0 "group g5 -J" "$K" -d "$D" -C -G g5 -R "$REG" -t gt -e -c 1 -J
contains "group -J" "$T/out" '^{"topic":"gt","partition":[0-5],"offset":[0-9]*,"tstype":"create"'

# ---------------------------------------------------------- several topics
expect_rc 0 "create gu" "$K" -d "$D" -t gu --create -N 2
printf 'u1\nu2\nu3\n' >"$T/u"
expect_rc 0 "produce gu" "$K" -d "$D" -t gu -P -l "$T/u"
expect_rc 0 "-G GROUP TOPIC TOPIC" "$K" -d "$D" -C -G m1 -R "$REG" -e -f '%t\n' gt gu
[ "$(grep -c '^gt$' "$T/out")" -eq 1000 ] && [ "$(grep -c '^gu$' "$T/out")" -eq 3 ] && ok ||
    fail "two topics as arguments: $(sort "$T/out" | uniq -c | tr '\n' ' ')"
expect_rc 0 "-t gt -t gu" "$K" -d "$D" -C -G m2 -R "$REG" -t gt -t gu -e -f '%t %s\n'
[ "$(grep -c '^gt ' "$T/out")" -eq 1000 ] && [ "$(grep -c '^gu ' "$T/out")" -eq 3 ] && ok ||
    fail "two -t: $(cut -d' ' -f1 "$T/out" | sort | uniq -c | tr '\n' ' ')"
expect_rc 0 "m1 again, both topics" "$K" -d "$D" -C -G m1 -R "$REG" -t gt gu -e
empty "m1 again" "$T/out"

# --------------- followers beside a writer: a 3/3 split, SIGTERM commits
expect_rc 0 "create live" "$K" -d "$D" -t live --create -N 6
timeout $TO "$K" -d "$D" -C -G f -R "$REG" -t live -v -f "$F" >"$T/fa" 2>"$T/fa.err" &
PA=$!
timeout $TO "$K" -d "$D" -C -G f -R "$REG" -t live -v -f "$F" >"$T/fb" 2>"$T/fb.err" &
PB=$!
BGPIDS="$PA $PB"
end=$(($(now_ms) + 30000))
while [ "$(owned "$T/fa.err")" -ne 3 ] || [ "$(owned "$T/fb.err")" -ne 3 ]; do
    [ "$(now_ms)" -lt $end ] || break
    sleep 0.05
done
if [ "$(owned "$T/fa.err")" -eq 3 ] && [ "$(owned "$T/fb.err")" -eq 3 ]; then ok; else
    fail "followers did not settle on 3 partitions each ($(owned "$T/fa.err")/$(owned "$T/fb.err"))"
    tail -5 "$T/fa.err" "$T/fb.err"
fi
# The writer is another process holding the log read-write.
expect_rc 0 "produce to live while members follow" "$K" -d "$D" -t live -P -l -K : "$T/in"
expect_rc 0 "plain consume live" "$K" -d "$D" -t live -C -e -f "$F"
sort "$T/out" >"$T/live"
end=$(($(now_ms) + 30000))
while [ $(($(lines "$T/fa") + $(lines "$T/fb"))) -lt 1000 ] && [ "$(now_ms)" -lt $end ]; do
    sleep 0.05
done
kill -TERM $PA $PB
wait $PA && ok || fail "follower a exit $? after SIGTERM: $(tail -3 "$T/fa.err")"
wait $PB && ok || fail "follower b exit $? after SIGTERM: $(tail -3 "$T/fb.err")"
BGPIDS=""
contains "SIGTERM leaves cleanly" "$T/fa.err" "left (signal), offsets committed"
echo "followers: a printed $(lines "$T/fa"), b printed $(lines "$T/fb")"
exactly_once "followers" "$T/live" "$T/fa" "$T/fb"
split_whole "followers" "$T/fa" "$T/fb"
expect_rc 0 "group f after SIGTERM" "$K" -d "$D" -C -G f -R "$REG" -t live -e
empty "group f after SIGTERM (offsets committed)" "$T/out"

# -------------------------------------------------------------- ZooKeeper
Z=$B/test/group_zkserver
if [ ! -f /usr/include/zookeeper/zookeeper.h ]; then
    echo "ZooKeeper part skipped: libklog built without ZooKeeper"
elif [ ! -x "$Z" ]; then
    echo "ZooKeeper part skipped: $Z is not built"
elif [ ! -f /usr/share/java/zookeeper.jar ] || [ ! -x /usr/bin/java ]; then
    echo "ZooKeeper part skipped: ZooKeeper server missing (Debian package zookeeper)"
else
    mkdir -p "$T/zk"
    mkfifo "$T/zkin"
    "$Z" "$T/zk" <"$T/zkin" >"$T/zk.out" 2>&1 &
    ZKPID=$!
    exec 9>"$T/zkin"
    end=$(($(now_ms) + 40000))
    port=""
    while [ -z "$port" ] && [ "$(now_ms)" -lt $end ]; do
        grep -q '^SKIP' "$T/zk.out" && break
        port=$(sed -n 's/^PORT \([0-9]*\)/\1/p' "$T/zk.out")
        kill -0 "$ZKPID" 2>/dev/null || break
        [ -z "$port" ] && sleep 0.1
    done
    if grep -q '^SKIP' "$T/zk.out"; then
        echo "ZooKeeper part skipped: $(grep '^SKIP' "$T/zk.out" | head -1)"
    elif [ -z "$port" ]; then
        fail "ZooKeeper did not start"
        tail -5 "$T/zk.out" | sed 's/^/    /'
    else
        ZR=zk:127.0.0.1:$port/klogcat
        echo "ZooKeeper on 127.0.0.1:$port"
        timeout $TO "$K" -d "$D" -C -G z -R "$ZR" -t gt -e -f "$F" >"$T/za" 2>"$T/za.err" &
        PA=$!
        timeout $TO "$K" -d "$D" -C -G z -R "$ZR" -t gt -e -f "$F" >"$T/zb" 2>"$T/zb.err" &
        PB=$!
        BGPIDS="$PA $PB"
        wait $PA && ok || { fail "zk member a exit $?"; tail -5 "$T/za.err"; }
        wait $PB && ok || { fail "zk member b exit $?"; tail -5 "$T/zb.err"; }
        BGPIDS=""
        echo "two zk members: a printed $(lines "$T/za"), b printed $(lines "$T/zb")"
        exactly_once "two zk members" "$T/all" "$T/za" "$T/zb"
        handovers "two zk members" "$T/za" "$T/zb" && ok || fail "two zk members: ownership"
        expect_rc 0 "zk group again" "$K" -d "$D" -C -G z -R "$ZR" -t gt -e
        empty "zk group again (offsets committed)" "$T/out"
        expect_rc 0 "zk new group -o end" "$K" -d "$D" -C -G z2 -R "$ZR" -t gt -e -o end
        empty "zk new group -o end" "$T/out"
    fi
fi

echo "$NCHECK checks passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]
