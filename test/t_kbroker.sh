#!/bin/sh
# t_kbroker.sh — kbroker end to end with kcat (librdkafka): 100,000 keyed
# messages per codec (none, gzip, snappy, lz4, zstd) and with headers,
# consumed back byte for byte with CRC checks; ListOffsets answers
# (-o -N, -Q by timestamp); flush policies and the pid file; restart serves
# everything acknowledged; a flipped byte in a stored record is reported by
# the client as a CRC error.
. "$(dirname "$0")/interop/kbroker_common.sh"

command -v kcat > /dev/null 2>&1 || skip "kcat not installed"

N=100000
awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) printf "key-%d\tvalue %d %s\n", i, i * 7919 % 100003, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' > "$TMP/in.txt"

start_broker -N 1

# --- every codec: produce, consume back with CRC checks, compare
for z in none gzip snappy lz4 zstd; do
    kc_produce -t "c_$z" -p 0 -K '	' -z $z -X acks=all < "$TMP/in.txt" ||
        fail "produce -z $z"
    kc_consume -t "c_$z" -p 0 -o beginning -f '%k\t%s\n' -X check.crcs=true > "$TMP/out_$z.txt" ||
        fail "consume c_$z"
    cmp -s "$TMP/in.txt" "$TMP/out_$z.txt" || fail "codec $z: consumed data differs"
    ok "codec $z: $N messages round-trip"
done

# --- headers
head -1000 "$TMP/in.txt" > "$TMP/in_h.txt"
kc_produce -t hdr -p 0 -K '	' -H h1=v1 -H trace=abc-123 < "$TMP/in_h.txt" || fail "produce with headers"
kc_consume -t hdr -p 0 -o beginning -f '%k\t%s\t%h\n' -X check.crcs=true > "$TMP/out_h.txt" ||
    fail "consume hdr"
awk '{ print $0 "\th1=v1,trace=abc-123" }' "$TMP/in_h.txt" > "$TMP/exp_h.txt"
cmp -s "$TMP/exp_h.txt" "$TMP/out_h.txt" || fail "headers differ"
ok "headers round-trip"

# --- offsets: -o -N (ListOffsets latest), absolute offset, offsets in order
kc_consume -t c_none -p 0 -o -3 -f '%o %k\n' > "$TMP/tail.txt" || fail "consume -o -3"
printf '99997 key-99997\n99998 key-99998\n99999 key-99999\n' | cmp -s - "$TMP/tail.txt" ||
    fail "-o -3 gave: $(cat "$TMP/tail.txt")"
kc_consume -t c_gzip -p 0 -o 54321 -c 2 -f '%o %k\n' > "$TMP/abs.txt" || fail "consume -o 54321"
printf '54321 key-54321\n54322 key-54322\n' | cmp -s - "$TMP/abs.txt" ||
    fail "-o 54321 (inside a compressed batch) gave: $(cat "$TMP/abs.txt")"
ok "offsets -o -3 and -o 54321"

# --- offset for timestamp (-Q): two groups of messages, a time between them
printf 'a\n' | kc_produce -t ts -p 0 || fail "produce ts 1"
printf 'b\nc\n' | kc_produce -t ts -p 0 || fail "produce ts 2"
sleep 0.3
T=$($PY -c 'import time; print(int(time.time() * 1000))')
sleep 0.3
printf 'd\ne\n' | kc_produce -t ts -p 0 || fail "produce ts 3"
q=$(timeout 30 kcat -b "$B" -Q -t "ts:0:$T") || fail "kcat -Q"
[ "$q" = "ts [0] offset 3" ] || fail "-Q at $T: '$q' (want offset 3)"
q=$(timeout 30 kcat -b "$B" -Q -t "ts:0:0")
[ "$q" = "ts [0] offset 0" ] || fail "-Q at 0: '$q'"
q=$(timeout 30 kcat -b "$B" -Q -t "ts:0:$((T + 3600000))")
[ "$q" = "ts [0] offset -1" ] || fail "-Q in the future: '$q'"
kc_consume -t ts -p 0 -o "s@$T" -f '%s\n' > "$TMP/ts.txt" || fail "consume -o s@T"
printf 'd\ne\n' | cmp -s - "$TMP/ts.txt" || fail "-o s@T gave: $(cat "$TMP/ts.txt")"
ok "offset for timestamp"

# --- unknown topic with auto-creation off is an error, not a hang
stop_broker
start_broker --no-auto-create
if kc_consume -t nosuch -p 0 > /dev/null 2> "$TMP/nosuch.err"; then
    fail "consume of an unknown topic succeeded"
fi
grep -q "Unknown topic or partition" "$TMP/nosuch.err" || fail "unknown topic: $(cat "$TMP/nosuch.err")"
ok "unknown topic reported"

# --- restart: everything acknowledged is served again
for z in none lz4; do
    kc_consume -t "c_$z" -p 0 -o beginning -f '%k\t%s\n' -X check.crcs=true > "$TMP/re_$z.txt" ||
        fail "consume c_$z after restart"
    cmp -s "$TMP/in.txt" "$TMP/re_$z.txt" || fail "c_$z differs after restart"
done
ok "restart serves everything"

# --- flush policies: visible only once fsynced; -T flushes in the
# background, acks=all flushes before answering; pid file
stop_broker
start_broker --visible-flushed -T 100 -p "$TMP/pid"
[ "$(cat "$TMP/pid")" = "$BPID" ] || fail "pid file holds '$(cat "$TMP/pid")', not $BPID"
seq 1 1000 | sed 's/^/f/' > "$TMP/fl.txt"
kc_produce -t flushed -p 0 -X acks=1 < "$TMP/fl.txt" || fail "produce acks=1 (visible-flushed)"
sleep 0.5
kc_consume -t flushed -p 0 -o beginning -f '%s\n' > "$TMP/fl_out.txt" || fail "consume flushed"
cmp -s "$TMP/fl.txt" "$TMP/fl_out.txt" || fail "-T 100: data not visible after the flush interval"
stop_broker
[ ! -e "$TMP/pid" ] || fail "pid file left behind"
start_broker --visible-flushed
kc_produce -t flushed2 -p 0 -X acks=all < "$TMP/fl.txt" || fail "produce acks=all (visible-flushed)"
kc_consume -t flushed2 -p 0 -o beginning -f '%s\n' > "$TMP/fl_out.txt" || fail "consume flushed2"
cmp -s "$TMP/fl.txt" "$TMP/fl_out.txt" || fail "acks=all did not make data visible"
stop_broker
start_broker -F 1
kc_produce -t flushed3 -p 0 -X acks=1 -X batch.num.messages=10 < "$TMP/fl.txt" || fail "produce -F 1"
kc_consume -t flushed3 -p 0 -o beginning -f '%s\n' > "$TMP/fl_out.txt" || fail "consume flushed3"
cmp -s "$TMP/fl.txt" "$TMP/fl_out.txt" || fail "-F 1 data differs"
ok "flush policies (-T, acks=all, -F) and pid file"

# --- corruption: flip one byte of a stored record value
stop_broker
start_broker -N 1
i=0
while [ $i -lt 10 ]; do echo "k$i:value-crc-$i"; i=$((i + 1)); done |
    kc_produce -t damaged -p 0 -K: -X batch.num.messages=1 -X linger.ms=0 || fail "produce damaged"
kc_consume -t damaged -p 0 -o beginning -f '%s\n' -X check.crcs=true > "$TMP/crc_before.txt" ||
    fail "consume crc before corruption"
[ "$(wc -l < "$TMP/crc_before.txt")" -eq 10 ] || fail "damaged topic: expected 10 records"
stop_broker
seg="$LOGDIR/damaged-0/00000000000000000000.log"
[ -f "$seg" ] || fail "no segment $seg"
pos=$($PY -c 'import sys; print(open(sys.argv[1], "rb").read().find(b"value-crc-5"))' "$seg")
[ "$pos" -gt 0 ] || fail "value not found in $seg"
printf 'X' | dd of="$seg" bs=1 seek=$((pos + 2)) conv=notrunc 2> /dev/null || fail "dd"
start_broker -N 1
if kc_consume -t damaged -p 0 -o beginning -f '%s\n' -X check.crcs=true > "$TMP/crc_after.txt" 2> "$TMP/crc.err"; then
    fail "corrupted record served silently: $(cat "$TMP/crc_after.txt")"
fi
grep -q "CRC" "$TMP/crc.err" || fail "no CRC error reported: $(cat "$TMP/crc.err")"
grep -q "value-cXc-5" "$TMP/crc_after.txt" && fail "corrupted value delivered"
ok "corrupted record reported as a CRC error"

stop_broker
echo "t_kbroker: all passed"
