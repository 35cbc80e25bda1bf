#!/bin/sh
# t_power_loss.sh — power loss and bit rot over a real log directory
# (issue 9). $KLOG_BUILD/test/powerloss writes a log (three partitions,
# rolls, sealed segments, retention, DeleteRecords, an unsealed tail left
# by _exit), then runs seeded rounds that each damage one to three of its
# files (truncate, garble, zero, append garbage: .log, .index, .timeindex,
# .seal, checkpoints, klog.topics, klog.state) and reopen it; see
# test/helpers/powerloss.c for what every round checks. Copies whose
# damage hit the inside of a sealed .log are kept and `klogcat verify`
# must fail on each (non-zero exit, the damaged file named).
#
# POWERLOSS_ROUNDS (default 200) and POWERLOSS_SEED (default 1) scale and
# move the run. Exit 0 pass, 77 skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
PL=$B/test/powerloss
K=$B/klogcat
ROUNDS=${POWERLOSS_ROUNDS:-200}
SEED=${POWERLOSS_SEED:-1}
KEEP=8
if [ ! -x "$PL" ] || [ ! -x "$K" ]; then
    echo "SKIP: $PL or $K is not built"
    exit 77
fi
# tmpfs when there is one: rounds copy and fsync a lot.
base=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
T=$(mktemp -d "$base/t_power_loss.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

"$PL" build "$T/src" || { echo "FAIL: powerloss build"; exit 1; }
"$PL" rounds "$T/src" "$T/work" "$SEED" "$ROUNDS" "$KEEP" > "$T/out"
rc=$?
grep -v '^KEEP ' "$T/out"
[ $rc -eq 0 ] || { echo "FAIL: powerloss rounds (exit $rc)"; exit 1; }

# Sealed damage is never cut away by recovery: klogcat verify finds it.
nkeep=0
nfail=0
while read -r tag dir what; do
    [ "$tag" = KEEP ] || continue
    nkeep=$((nkeep + 1))
    "$K" verify "$dir" > "$T/verify.out" 2>&1
    vrc=$?
    # The damaged .log is one of those named in the description; when
    # klog.topics was damaged too, the open stops there and verify must name
    # klog.topics instead.
    named=0
    files=$(echo "$what" | tr ';' '\n' | sed -n 's/.* \([^ ]*\.log\)@.*/\1/p')
    case "$what" in
    *" klog.topics@"*) files="$files klog.topics" ;;
    esac
    for f in $files; do
        grep -q "$f" "$T/verify.out" && named=1
    done
    if [ $vrc -eq 0 ] || [ $named -eq 0 ]; then
        echo "FAIL: klogcat verify on [$what]: exit $vrc, damaged file named: $named"
        tail -5 "$T/verify.out"
        nfail=$((nfail + 1))
    fi
    rm -rf "$dir"
done < "$T/out"
echo "klogcat verify: $nkeep damaged copies checked, $nfail missed"
[ $nfail -eq 0 ] || exit 1
[ $nkeep -gt 0 ] || { echo "FAIL: no round damaged a sealed .log"; exit 1; }
exit 0
