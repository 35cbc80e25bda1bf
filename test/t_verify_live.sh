#!/bin/sh
# t_verify_live.sh — `klogcat verify` (klog_verify on a read-only open)
# beside a writer in another process: run in a loop while `klogcat -P`
# appends and rolls, it reports 0 problems every time; after the writer is
# kill -9'd and its last write torn, verify exits 3 (only recoverable
# problems) and names the bytes the next read-write open cuts; after that
# open it is clean again; real damage still gives exit 1. `klogcat backup`
# taken meanwhile verifies clean and holds the records it reports. Exit 0 pass, 77
# skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
K=$B/klogcat
if [ ! -x "$K" ]; then
    echo "SKIP: $K is not built"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/t_verify_live.XXXXXX") || exit 1
WPID=""
cleanup() {
    [ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null
    exec 3>&-
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
D=$T/log
NFAIL=0
NCHECK=0
fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}
ok() { NCHECK=$((NCHECK + 1)); }

"$K" -d "$D" -t live --create -N 2 -X segment.bytes=8192 >/dev/null 2>&1 || {
    echo "FAIL: create"
    exit 1
}

# The writer reads its records from a FIFO this script keeps open, so it
# lives (and appends whenever its input pauses) across every verify below.
mkfifo "$T/fifo"
"$K" -d "$D" -t live -P <"$T/fifo" >"$T/writer.out" 2>&1 &
WPID=$!
exec 3>"$T/fifo"

i=0
while [ $i -lt 30 ]; do
    seq -f "record-$i-%g-padding-padding-padding" 1 400 >&3
    "$K" verify "$D" >"$T/out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q ": 0 problem(s), 0 warning(s), 0 recoverable" "$T/out"; then
        ok
    else
        fail "verify beside the writer, pass $i: exit $rc"
        head -20 "$T/out" | sed 's/^/    /'
    fi
    if [ $i -eq 15 ]; then
        # klogcat backup of the log while the writer appends: the copy
        # verifies clean and holds every record below the offsets reported.
        if "$K" backup "$D" "$T/copy" >"$T/backup.out" 2>&1; then ok; else
            fail "backup beside the writer: $(cat "$T/backup.out")"
        fi
    fi
    i=$((i + 1))
done
"$K" verify "$T/copy" >"$T/out" 2>&1 && grep -q ": 0 problem(s), 0 warning(s), 0 recoverable" "$T/out" &&
    ok || { fail "verify of the backup"; head "$T/out"; }
want=$(sed -n 's/^backup: live-[0-9]*: offsets \([0-9]*\)\.\.\([0-9]*\)$/\1 \2/p' "$T/backup.out" |
    awk '{ n += $2 - $1 } END { print n + 0 }')
got=$("$K" -d "$T/copy" -t live -C -e 2>/dev/null | wc -l)
[ "$want" -gt 0 ] && [ "$got" -eq "$want" ] && ok ||
    fail "the backup holds $got records, its offsets say $want"
kill -0 "$WPID" 2>/dev/null && ok || fail "the writer exited early: $(cat "$T/writer.out")"

# kill -9 the writer (a crash: no clean shutdown, no seal of the active
# segment) and tear its last write: half a batch header after the end.
seq 1 200 >&3
sleep 0.2 # let it append some (nothing asserts on it)
kill -9 "$WPID"
wait "$WPID" 2>/dev/null
WPID=""
exec 3>&-
last=$(ls "$D/live-0"/*.log | sort | tail -1)
first=$(ls "$D/live-0"/*.log | sort | head -1)
size=$(wc -c <"$last")
head -c 30 "$first" >>"$last"
"$K" verify "$D" >"$T/out" 2>&1
rc=$?
if [ $rc -eq 3 ] && grep -q "^$last:$size: recoverable: .*the next read-write open truncates 30 bytes" "$T/out" &&
    grep -q ": 0 problem(s), .* 1 recoverable (30 bytes to truncate)" "$T/out"; then
    ok
else
    fail "torn tail after kill -9: exit $rc, expected 3 with the recoverable line"
    head -20 "$T/out" | sed 's/^/    /'
fi

# The next read-write open (a producer with no input) cuts it; verify is clean then.
"$K" -d "$D" -t live -P </dev/null >/dev/null 2>&1 || fail "read-write open after the crash"
[ "$(wc -c <"$last")" -eq "$size" ] && ok || fail "the open did not cut the 30 bytes"
"$K" verify "$D" >"$T/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok || { fail "verify after recovery: exit $rc"; head "$T/out"; }

# Real damage is still damage: a flipped byte inside the first batch.
printf '\377' | dd of="$first" bs=1 seek=70 conv=notrunc 2>/dev/null
"$K" verify "$D" >"$T/out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "^$first:0: batch CRC mismatch" "$T/out"; then
    ok
else
    fail "flipped byte: exit $rc, expected 1 naming $first:0"
    head -20 "$T/out" | sed 's/^/    /'
fi

echo "t_verify_live: $NCHECK checks passed, $NFAIL failed"
[ $NFAIL -eq 0 ]
