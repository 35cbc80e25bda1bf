#!/bin/sh
# Codec interoperability with python-kafka (Debian python3-kafka):
#   python-kafka builds batches  -> libklog decodes the same records;
#   libklog builds batches       -> python-kafka validates the CRC and parses
#                                   the same records.
# For every codec both sides support (none and lz4 at least; gzip too).
# Exit 0 pass, 77 skip (python3-kafka missing), anything else fail.
set -u
B=${KLOG_BUILD:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/interop/python.sh"
HELPER="$HERE/interop/kafka_batches.py"
TOOL="$B/test/batchtool"

[ -x "$TOOL" ] || { echo "FAIL: $TOOL not built (make $TOOL)"; exit 1; }
if ! pick_python kafka.record.default_records lz4.frame; then
    echo "skip: $PY_WHY"
    exit 77
fi
codecs=$("$PY" "$HELPER" codecs) || { echo "FAIL: helper"; exit 1; }
case " $codecs " in
*" lz4 "*) ;;
*) echo "skip: python-kafka has no lz4 support (install python3-lz4)"; exit 77 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klog-interop.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
checks=0

for codec in $codecs; do
    for case in "1 1" "2 2" "3 50" "4 500" "5 3000"; do
        # shellcheck disable=SC2086 # split "seed n" on purpose
        set -- $case
        seed=$1 n=$2
        # python-kafka -> libklog
        used=$("$PY" "$HELPER" gen "$codec" "$seed" "$n" "$tmp/py.bin" "$tmp/py.txt") || {
            echo "FAIL: python-kafka could not build $codec batch (seed $seed)"; fail=1; continue; }
        if [ "$n" -ge 50 ] && [ "$used" != "$codec" ]; then
            echo "FAIL: python-kafka wrote $used for $codec (seed $seed n $n)"; fail=1
        fi
        if ! "$TOOL" dump "$tmp/py.bin" > "$tmp/klog.out"; then
            echo "FAIL: libklog rejected python-kafka $codec batch (seed $seed n $n):"
            tail -1 "$tmp/klog.out"; fail=1; continue
        fi
        grep '^rec ' "$tmp/klog.out" > "$tmp/klog.txt"
        if ! cmp -s "$tmp/py.txt" "$tmp/klog.txt"; then
            echo "FAIL: records differ, python-kafka $codec -> libklog (seed $seed n $n)"
            diff "$tmp/py.txt" "$tmp/klog.txt" | head -5; fail=1
        fi
        checks=$((checks + 1))

        # libklog -> python-kafka
        "$PY" "$HELPER" desc "$seed" "$n" "$tmp/in.txt" || { fail=1; continue; }
        if ! "$TOOL" build "$codec" "$tmp/k.bin" < "$tmp/in.txt"; then
            echo "FAIL: libklog could not build a $codec batch"; fail=1; continue
        fi
        got_codec=$("$TOOL" dump "$tmp/k.bin" | sed -n '1s/.* codec=\([a-z0-9]*\) .*/\1/p')
        [ "$got_codec" = "$codec" ] || { echo "FAIL: built codec $got_codec, wanted $codec"; fail=1; }
        if ! "$PY" "$HELPER" parse "$tmp/k.bin" > "$tmp/py2.txt" 2> "$tmp/py2.err"; then
            echo "FAIL: python-kafka rejected libklog $codec batch (seed $seed n $n):"
            tail -3 "$tmp/py2.err"; fail=1; continue
        fi
        if ! cmp -s "$tmp/in.txt" "$tmp/py2.txt"; then
            echo "FAIL: records differ, libklog $codec -> python-kafka (seed $seed n $n)"
            diff "$tmp/in.txt" "$tmp/py2.txt" | head -5; fail=1
        fi
        checks=$((checks + 1))
    done
done

# The golden batch of kafka-format.md 1.7, built by libklog, read by python-kafka.
if ! printf 'rec ts=283843 key=x6b657931 value=x76616c756531\nrec ts=1234 key=x6b657932 value=x76616c756532\n' |
    "$TOOL" build lz4 "$tmp/golden.bin" ||
    ! "$PY" "$HELPER" parse "$tmp/golden.bin" > "$tmp/golden.txt" ||
    ! grep -q 'offset=1 ts=1234 key=x6b657932 value=x76616c756532' "$tmp/golden.txt"; then
    echo "FAIL: golden LZ4 batch"; fail=1
fi
checks=$((checks + 1))

echo "codecs: $codecs; $checks checks"
[ $fail -eq 0 ] && echo "PASS" && exit 0
exit 1
