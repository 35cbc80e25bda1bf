#!/bin/sh
# t_segment_ship.sh — examples/segment_ship.c end to end: a log written by
# klogcat, shipped read-only (only sealed segments go), then with --roll
# (everything goes); every shipped file must equal its source byte for byte,
# and a second run must copy nothing (resumable). Exit 0 pass, 77 skip.
set -u

B=${KLOG_BUILD:-build}
S=$B/examples/segment_ship
K=$B/klogcat
if [ ! -x "$S" ] || [ ! -x "$K" ]; then
    echo "SKIP: $S or $K is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_segship.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
D=$T/log
NFAIL=0
fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}

"$K" --create -d "$D" -t ev -N 2 -X segment.bytes=2048 > "$T/create" 2>&1 || {
    echo "FAIL: cannot create the topic: $(cat "$T/create")"
    exit 1
}
# 30 appends of 15 records (one batch each, well below segment.bytes).
r=0
while [ $r -lt 30 ]; do
    i=0
    while [ $i -lt 15 ]; do
        echo "run $r record $i with some padding to fill segments quickly"
        i=$((i + 1))
    done > "$T/in"
    "$K" -P -d "$D" -t ev < "$T/in" > "$T/perr" 2>&1 || fail "klogcat -P: $(cat "$T/perr")"
    r=$((r + 1))
done

# Read-only: only sealed segments; the active ones stay behind.
"$S" "$D" ev "$T/dst" > "$T/out1" 2>&1 || fail "segment_ship (read-only): $(cat "$T/out1")"
n1=$(grep -c '^shipped' "$T/out1")
[ "$n1" -gt 0 ] || fail "nothing shipped from sealed segments: $(cat "$T/out1")"
for p in 0 1; do
    last=$(ls "$D/ev-$p"/*.log | sort | tail -1)
    [ ! -e "$T/dst/ev-$p/$(basename "$last")" ] || fail "the active segment ev-$p/$(basename "$last") was shipped"
done

# --roll: everything appended becomes sealed and ships.
"$S" --roll "$D" ev "$T/dst" > "$T/out2" 2>&1 || fail "segment_ship --roll: $(cat "$T/out2")"
for p in 0 1; do
    for f in "$D/ev-$p"/*.log "$D/ev-$p"/*.index "$D/ev-$p"/*.timeindex; do
        b=$(basename "$f")
        [ -s "$f" ] || continue   # the new, empty active segment
        cmp -s "$f" "$T/dst/ev-$p/$b" || fail "ev-$p/$b differs from its shipped copy"
    done
done
ls "$T/dst"/ev-*/*.tmp >/dev/null 2>&1 && fail "a .tmp copy was left behind"

# Resumable: a second run copies nothing.
"$S" "$D" ev "$T/dst" > "$T/out3" 2>&1 || fail "segment_ship (again): $(cat "$T/out3")"
grep -q '^shipped' "$T/out3" && fail "second run copied again: $(cat "$T/out3")"

if [ $NFAIL -ne 0 ]; then
    echo "t_segment_ship: $NFAIL failures"
    exit 1
fi
echo "t_segment_ship: ok ($n1 files from sealed segments, then the rest with --roll)"
exit 0
