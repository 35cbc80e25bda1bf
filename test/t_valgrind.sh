#!/bin/sh
# t_valgrind.sh — the example programs under valgrind (memcheck): demo on a
# fresh directory, then klogcat creating a topic, producing (plain and
# lz4, with headers), consuming, dumping and verifying. Any memcheck error
# or definite/indirect leak fails (--error-exitcode=99). Skipped (77) when
# valgrind is missing or $KLOG_BUILD is a sanitizer build (ASan and
# valgrind do not mix). Exit 0 pass, 77 skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
case "$B" in
*asan* | *tsan*)
    echo "SKIP: $B is a sanitizer build"
    exit 77
    ;;
esac
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind not installed"
    exit 77
fi
if [ ! -x "$B/examples/demo" ] || [ ! -x "$B/klogcat" ]; then
    echo "SKIP: $B/examples/demo or $B/klogcat is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_valgrind.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

NFAIL=0
N=0
# vg NAME CMD...: run CMD under memcheck; stdin from $T/in when it exists.
vg() {
    name=$1
    shift
    N=$((N + 1))
    if [ -f "$T/in" ]; then
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --log-file="$T/vg.$N" "$@" <"$T/in" >"$T/out.$N" 2>&1
    else
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --log-file="$T/vg.$N" "$@" </dev/null >"$T/out.$N" 2>&1
    fi
    rc=$?
    if [ $rc -eq 99 ] || [ -s "$T/vg.$N" ]; then
        echo "FAIL: $name: valgrind reported:"
        head -40 "$T/vg.$N"
        NFAIL=$((NFAIL + 1))
    elif [ $rc -ne 0 ]; then
        echo "FAIL: $name exited $rc"
        tail -5 "$T/out.$N"
        NFAIL=$((NFAIL + 1))
    else
        echo "ok: $name"
    fi
    rm -f "$T/in"
}

K=$B/klogcat
D=$T/log
vg "demo" "$B/examples/demo" "$T/demo"
vg "klogcat --create" "$K" -d "$D" -t vg --create -N 2
i=0
while [ $i -lt 300 ]; do
    echo "key$i:value-$i-$(printf '%0*d' $((i % 40)) 0)"
    i=$((i + 1))
done >"$T/in"
vg "klogcat -P" "$K" -d "$D" -t vg -P -K : -H h=1
printf 'a\nb\nc\n' >"$T/in"
vg "klogcat -P -z lz4" "$K" -d "$D" -t vg -p 1 -P -z lz4
vg "klogcat -C" "$K" -d "$D" -t vg -C -e
n=$(wc -l <"$T/out.$N")
[ "$n" -eq 303 ] || { echo "FAIL: consumed $n lines, expected 303"; NFAIL=$((NFAIL + 1)); }
vg "klogcat -L" "$K" -d "$D" -L
vg "klogcat dump" "$K" dump "$D/vg-0/00000000000000000000.log"
vg "klogcat verify" "$K" verify "$D"
echo "valgrind: $N runs, $NFAIL failed"
[ $NFAIL -eq 0 ]
