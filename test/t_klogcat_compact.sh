#!/bin/sh
# t_klogcat_compact.sh — `klogcat compact` (issue 16) and the compaction
# settings of -X: a compacted topic keeps each key's latest value at its
# offset, tombstones stay (delete.retention.ms), the log verifies clean,
# the cleaner-offset-checkpoint names the cleaned range, a second run finds
# nothing, the ratio picks (or skips) topics, and bad settings are refused.
# Exit 0 pass, 77 skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
K=$B/klogcat
if [ ! -x "$K" ]; then
    echo "SKIP: $K is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_klogcat_compact.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
D=$T/log
NFAIL=0
NCHECK=0
fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}
ok() { NCHECK=$((NCHECK + 1)); }

"$K" -d "$D" --create -t c -X cleanup.policy=compact -X segment.bytes=1024 \
    -X min.cleanable.dirty.ratio=0.2 -X delete.retention.ms=86400000 >/dev/null || fail "create c"
"$K" -d "$D" --create -t plain -X segment.bytes=1024 >/dev/null || fail "create plain"
i=0
while [ $i -lt 300 ]; do
    echo "k$((i % 7)):value-$i"
    i=$((i + 1))
done >"$T/in"
echo "k6:" >>"$T/in" # an empty value (not a tombstone)
"$K" -d "$D" -P -t c -K : <"$T/in" || fail "produce c"
"$K" -d "$D" -P -t plain -K : <"$T/in" || fail "produce plain"
"$K" -d "$D" -P -t c -K : <<EOF2 || fail "produce tail"
k0:last-0
k1:last-1
EOF2
"$K" -d "$D" -C -t c -e -f '%o %k %s\n' >"$T/before" || fail "consume before"

"$K" compact "$D" >"$T/out" 2>&1 || fail "compact: $(cat "$T/out")"
grep -q '^compact: c-0: offsets 0\.\.' "$T/out" && ok || fail "no pass over c-0: $(cat "$T/out")"
grep -q 'plain' "$T/out" && fail "plain (cleanup.policy=delete) was compacted" || ok
"$K" -d "$D" -C -t c -e -f '%o %k %s\n' >"$T/after" || fail "consume after"
[ "$(wc -l <"$T/after")" -lt "$(wc -l <"$T/before")" ] && ok || fail "nothing removed"
# Every record left is one that was there, at the same offset.
while IFS= read -r line; do
    grep -qxF "$line" "$T/before" || fail "record changed or invented: $line"
done <"$T/after"
# Each key's latest record survives.
for k in k0 k1 k2 k3 k4 k5 k6; do
    want=$(grep " $k " "$T/before" | tail -1)
    grep -qxF "$want" "$T/after" && ok || fail "latest record of $k missing: $want"
done
"$K" verify "$D" >"$T/verify" 2>&1 && ok || fail "verify after compact: $(tail -3 "$T/verify")"
grep -q '^c 0 ' "$D/cleaner-offset-checkpoint" && ok || fail "no cleaner-offset-checkpoint entry"
head -2 "$D/cleaner-offset-checkpoint" | tr '\n' ' ' | grep -q '^0 1 ' && ok ||
    fail "checkpoint header: $(head -2 "$D/cleaner-offset-checkpoint")"
"$K" compact "$D" >"$T/out2" 2>&1 || fail "second compact"
grep -q '^compact: 0 pass(es)' "$T/out2" && ok || fail "second run cleaned again: $(cat "$T/out2")"
# -t compacts whatever the ratio; a delete topic is refused.
"$K" compact "$D" -t plain >"$T/out3" 2>&1 && fail "compact -t plain succeeded" || ok
grep -q 'compact' "$T/out3" && ok || fail "no message for plain: $(cat "$T/out3")"
# Settings: shown back by -L -J? At least accepted and refused as they should be.
"$K" -d "$D" --alter -t c -X cleanup.policy=compact,delete -X min.compaction.lag.ms=5 \
    -X max.compaction.lag.ms=60000 >/dev/null 2>&1 && ok || fail "alter compaction settings"
"$K" -d "$D" --alter -t c -X cleanup.policy=sometimes >/dev/null 2>&1 && fail "bad policy accepted" || ok
"$K" -d "$D" --alter -t c -X min.cleanable.dirty.ratio=1.5 >/dev/null 2>&1 &&
    fail "ratio 1.5 accepted" || ok
"$K" compact "$D" -t c -p 0 >/dev/null 2>&1 && ok || fail "compact -t c -p 0"
"$K" compact "$D" -p 0 >/dev/null 2>&1 && fail "-p without -t accepted" || ok

echo "t_klogcat_compact: $NCHECK checks, $NFAIL failures"
[ "$NFAIL" -eq 0 ]
