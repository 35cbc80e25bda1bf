#!/bin/sh
# t_full_disk.sh — a log left by a crash meets a full file system (issue 21
# items 1 and 2): every path must return an error, never die of SIGBUS.
# $KLOG_BUILD/test/fulldisk writes a log and _exits (sparse, partly
# unreserved active indexes, no clean-shutdown marker); the script fills
# the file system; then read-only opens (klogcat -L, klogcat -C), a
# read-write open with recovery and thousands of appends must all return.
# Once space is freed the log must reopen with every record intact and
# take appends.
#
# Runs on a small tmpfs and on an ext4 loop image when this process may
# mount (root), each skipped with a message otherwise, and always under
# RLIMIT_FSIZE (files cannot grow past a limit: -EFBIG). Exit 0 pass,
# 77 skip (nothing could run), anything else fail.
set -u

B=${KLOG_BUILD:-build}
FD=$B/test/fulldisk
K=$B/klogcat
if [ ! -x "$FD" ] || [ ! -x "$K" ]; then
    echo "SKIP: $FD or $K is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_full_disk.XXXXXX") || exit 1
MNT=$T/mnt
mounted=0
cleanup() {
    if [ $mounted -eq 1 ]; then
        umount "$MNT" 2> /dev/null || umount -l "$MNT" 2> /dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir "$MNT" || exit 1
failures=0
ran=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run LABEL CMD...: the command may succeed or fail, never die of a signal.
run() {
    label=$1
    shift
    timeout 60 "$@" > "$T/out" 2>&1
    rc=$?
    sed 's/^/    /' "$T/out" | head -8
    if [ $rc -eq 124 ]; then
        fail "$label: timed out"
    elif [ $rc -gt 128 ]; then
        fail "$label: killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2> /dev/null))"
    else
        echo "  $label: returned $rc"
    fi
    return $rc
}

# Fill the file system at $1 to the last byte.
fill() {
    for bs in 1M 64k 4k 1k 512; do
        dd if=/dev/zero of="$1/fill.$bs" bs=$bs > /dev/null 2>&1
    done
    sync
}

# scenario NAME DIR [flushed]: crash, fill, reopen every way, free, check.
scenario() {
    name=$1
    dir=$2
    echo "== $name"
    ran=$((ran + 1))
    rm -rf "$dir/log" "$dir/log.count"
    "$FD" crash "$dir/log" ${3:-} || { fail "$name: fulldisk crash"; return; }
    fill "$dir"
    echo "  $(df -k "$dir" | tail -1 | awk '{print $4}') KiB free"
    run "$name: klogcat -L (read-only)" "$K" -d "$dir/log" -L
    run "$name: klogcat -C (read-only)" "$K" -d "$dir/log" -t t -C -e -f '%o\n'
    run "$name: open + appends" "$FD" open "$dir/log"
    [ $rc -le 1 ] || fail "$name: fulldisk open exit $rc"
    grep -q '^open: ok' "$T/out" || grep -q '^open: ENOSPC\|^open: EFBIG' "$T/out" ||
        fail "$name: open failed with something other than ENOSPC/EFBIG"
    run "$name: klogcat -C after recovery" "$K" -d "$dir/log" -t t -C -e -f '%o\n'
    rm -f "$dir"/fill.*
    # Again from the crash, with the disk filling up only once the log is
    # open: now the appends' index stores meet it.
    "$FD" crash "$dir/log.2" ${3:-} || { fail "$name: fulldisk crash"; return; }
    run "$name: open, fill, appends" "$FD" open "$dir/log.2" 3000 "$dir"
    [ $rc -le 1 ] || fail "$name: fulldisk open exit $rc"
    grep -q '^filled' "$T/out" || fail "$name: the open failed with space free"
    grep -q 'appends: .* then ENOSPC' "$T/out" || fail "$name: appends never met ENOSPC"
    rm -f "$dir"/fill.*
    run "$name: reopen with space (2)" "$FD" check "$dir/log.2"
    [ $rc -eq 0 ] || fail "$name: the log did not reopen intact once space was freed"
    rm -rf "$dir/log.2" "$dir/log.2.count"
    run "$name: reopen with space" "$FD" check "$dir/log"
    [ $rc -eq 0 ] || fail "$name: the log did not reopen intact once space was freed"
}

# tmpfs: a read fault on a hole allocates a page, so even reads SIGBUS.
if mount -t tmpfs -o size=3m tmpfs "$MNT" 2> /dev/null; then
    mounted=1
    scenario tmpfs "$MNT"
    scenario "tmpfs, all flushed" "$MNT" flushed
    umount "$MNT" && mounted=0
else
    echo "tmpfs: skipped (mounting is not permitted here)"
fi

# ext4: a store into an unallocated block of a mapping SIGBUSes.
if command -v mkfs.ext4 > /dev/null 2>&1 && [ $mounted -eq 0 ] &&
    truncate -s 24M "$T/ext4.img" && mkfs.ext4 -q -F -m 0 -b 4096 "$T/ext4.img" > /dev/null 2>&1 &&
    mount -o loop "$T/ext4.img" "$MNT" 2> /dev/null; then
    mounted=1
    scenario ext4 "$MNT"
    scenario "ext4, all flushed" "$MNT" flushed
    umount "$MNT" && mounted=0
else
    echo "ext4: skipped (no mkfs.ext4 or loop mounting is not permitted here)"
fi
rm -f "$T/ext4.img"

# RLIMIT_FSIZE: no mount needed; files cannot grow past 64 KiB.
mkdir "$T/rl" || exit 1
echo "== RLIMIT_FSIZE"
ran=$((ran + 1))
"$FD" crash "$T/rl/log" || fail "rlimit: fulldisk crash"
FULLDISK_FSIZE=65536 run "rlimit: open + appends" "$FD" open "$T/rl/log"
[ $rc -le 1 ] || fail "rlimit: fulldisk open exit $rc"
grep -q 'appends: .* then EFBIG' "$T/out" || fail "rlimit: appends never met -EFBIG"
run "rlimit: reopen without limit" "$FD" check "$T/rl/log"
[ $rc -eq 0 ] || fail "rlimit: the log did not reopen intact"

echo "full disk: $ran scenarios, $failures failures"
[ $failures -eq 0 ]
