#!/bin/sh
# kbroker_rdkafka.sh — produce and consume throughput of a librdkafka client
# against kbroker on loopback: COUNT messages of 200 bytes (1,000,000;
# 200,000 with --quick) to one partition with acks=all, then consumed back
# from offset 0 with assign(). Prints msgs/s and MB/s for each direction.
#
# Usage: bench/kbroker_rdkafka.sh [--quick]   (KLOG_BUILD=build by default)
set -u
cd "$(dirname "$0")/.." || exit 1
KLOG_BUILD=${KLOG_BUILD:-build}
COUNT=1000000
[ "${1:-}" = "--quick" ] && COUNT=200000
SIZE=200
pkg-config --exists rdkafka 2> /dev/null || { echo "librdkafka development files not installed"; exit 77; }
[ -x "$KLOG_BUILD/kbroker" ] || { echo "$KLOG_BUILD/kbroker not built"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kbroker-bench.XXXXXX") || exit 1
BPID=
trap '[ -n "$BPID" ] && kill $BPID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
cc -std=gnu11 -O2 -o "$TMP/rdk" test/interop/kbroker_rdk_client.c $(pkg-config --cflags --libs rdkafka) || exit 1

"$KLOG_BUILD/kbroker" -d "$TMP/log" -l 127.0.0.1:0 > "$TMP/out" 2> "$TMP/err" &
BPID=$!
i=0
PORT=
while [ -z "$PORT" ] && [ $i -lt 200 ]; do
    sleep 0.05
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/out")
    i=$((i + 1))
done
[ -n "$PORT" ] || { echo "broker did not start"; cat "$TMP/err"; exit 1; }
B=127.0.0.1:$PORT

echo "# kbroker + librdkafka $(pkg-config --modversion rdkafka): $COUNT messages of $SIZE bytes, 1 partition"
p=$(timeout 600 "$TMP/rdk" produce "$B" bench 0 $COUNT $SIZE) || { echo "produce failed: $p"; exit 1; }
prate=${p##*msgs/s=}
timeout 600 "$TMP/rdk" consume "$B" bench 0 0 $COUNT quiet 2> "$TMP/c" || { cat "$TMP/c"; exit 1; }
c=$(tail -1 "$TMP/c")
case "$c" in "consumed=$COUNT "*) ;; *) echo "consume incomplete: $c"; exit 1 ;; esac
crate=${c##*msgs/s=}
awk -v p="$prate" -v c="$crate" -v s=$SIZE 'BEGIN {
    printf "kbroker.produce.rdkafka   %10.0f msgs/s  %7.1f MB/s (acks=all)\n", p, p * s / 1e6;
    printf "kbroker.consume.rdkafka   %10.0f msgs/s  %7.1f MB/s\n", c, c * s / 1e6;
    printf "RESULT,kbroker.produce.rdkafka,%.0f,msgs/s,%.0f,%.0f,0\n", p, p, p;
    printf "RESULT,kbroker.consume.rdkafka,%.0f,msgs/s,%.0f,%.0f,0\n", c, c, c }'
kill -TERM $BPID
wait $BPID
BPID=
