#!/bin/sh
# t_kbroker_clients.sh — kbroker with a librdkafka C program (produce with
# delivery reports whose offsets are checked, consume with assign() from
# chosen offsets) and with kafka-python (assign/seek consumption of the same
# data, a producer with acks=all, beginning/end offsets).
. "$(dirname "$0")/interop/kbroker_common.sh"

pkg-config --exists rdkafka 2> /dev/null || skip "librdkafka development files not installed"
RDK=$TMP/rdk_client
cc -std=gnu11 -O1 -Wall -o "$RDK" test/interop/kbroker_rdk_client.c \
    $(pkg-config --cflags --libs rdkafka) 2> "$TMP/cc.err" || skip "cannot build the librdkafka client: $(head -1 "$TMP/cc.err")"
HAVE_PY=1
pick_python kafka || { HAVE_PY=0; echo "note: kafka-python part skipped: $PY_WHY"; }

start_broker -N 2

# --- librdkafka producer: two runs, offsets continue
out=$(timeout 120 "$RDK" produce "$B" rdk 1 20000) || fail "rdk produce 1: $out"
case "$out" in "first=0 last=19999 "*) ;; *) fail "rdk produce 1: $out" ;; esac
out=$(timeout 120 "$RDK" produce "$B" rdk 1 5000 300) || fail "rdk produce 2: $out"
case "$out" in "first=20000 last=24999 "*) ;; *) fail "rdk produce 2: $out" ;; esac
ok "librdkafka delivery reports carry the right offsets"

awk 'BEGIN { for (i = 0; i < 20000; i++) printf "%d\tk%d\tv%d\n", i, i, i;
             pad = ""; for (j = 0; j < 300; j++) pad = pad ".";
             for (i = 0; i < 5000; i++) { v = "v" i; printf "%d\tk%d\t%s\n", 20000 + i, i, v substr(pad, 1, 300 - length(v)) } }' > "$TMP/exp.txt"

seq 0 24999 > "$TMP/seq1.txt"

# --- librdkafka consumer with assign() from chosen offsets
timeout 120 "$RDK" consume "$B" rdk 1 0 25000 > "$TMP/rdk_all.txt" 2> "$TMP/rdk.err" || fail "rdk consume: $(cat "$TMP/rdk.err")"
cmp -s "$TMP/exp.txt" "$TMP/rdk_all.txt" || fail "rdk consume from 0 differs"
timeout 60 "$RDK" consume "$B" rdk 1 12345 10 > "$TMP/rdk_mid.txt" 2> "$TMP/rdk.err" || fail "rdk consume 12345"
sed -n '12346,12355p' "$TMP/exp.txt" | cmp -s - "$TMP/rdk_mid.txt" || fail "rdk consume from 12345 differs"
timeout 60 "$RDK" consume "$B" rdk 1 24990 100 > "$TMP/rdk_end.txt" 2> "$TMP/rdk.err" || fail "rdk consume 24990"
tail -10 "$TMP/exp.txt" | cmp -s - "$TMP/rdk_end.txt" || fail "rdk consume from 24990 (to EOF) differs"
# partition 0 of the same topic is empty: EOF at once, no records
timeout 60 "$RDK" consume "$B" rdk 0 0 10 > "$TMP/rdk_p0.txt" 2> "$TMP/rdk.err" || fail "rdk consume p0"
[ ! -s "$TMP/rdk_p0.txt" ] || fail "partition 0 should be empty"
ok "librdkafka assign() consumption from 0, 12345, 24990 and an empty partition"

if [ $HAVE_PY = 1 ]; then
    timeout 120 "$PY" test/interop/kbroker_pyclient.py consume "$B" rdk 1 0 25000 > "$TMP/py_all.txt" ||
        fail "kafka-python consume"
    cmp -s "$TMP/exp.txt" "$TMP/py_all.txt" || fail "kafka-python consume differs"
    timeout 60 "$PY" test/interop/kbroker_pyclient.py consume "$B" rdk 1 20001 3 > "$TMP/py_mid.txt" ||
        fail "kafka-python consume from 20001"
    sed -n '20002,20004p' "$TMP/exp.txt" | cmp -s - "$TMP/py_mid.txt" || fail "kafka-python seek differs"
    out=$(timeout 60 "$PY" test/interop/kbroker_pyclient.py offsets "$B" rdk 1) || fail "kafka-python offsets"
    [ "$out" = "0 25000" ] || fail "kafka-python beginning/end offsets: $out"
    out=$(timeout 60 "$PY" test/interop/kbroker_pyclient.py produce "$B" rdk 0 500) || fail "kafka-python produce: $out"
    [ "$out" = "first=0 last=499" ] || fail "kafka-python produce: $out"
    timeout 60 "$RDK" consume "$B" rdk 0 498 10 > "$TMP/py_p0.txt" 2> "$TMP/rdk.err" || fail "rdk consume python data"
    printf '498\tpk498\tpv498\n499\tpk499\tpv499\n' | cmp -s - "$TMP/py_p0.txt" || fail "python-produced data differs"
    ok "kafka-python: consume (assign/seek), offsets, produce acks=all"
    # both partitions in one consumer: Fetch responses carrying two leases
    if command -v kcat > /dev/null 2>&1; then
        timeout 120 kcat -b "$B" -C -t rdk -o beginning -e -q -X fetch.wait.max.ms=50 \
            -f '%p %o %k\n' > "$TMP/both.txt" || fail "kcat consume of both partitions"
        [ "$(grep -c '^0 ' "$TMP/both.txt")" -eq 500 ] || fail "partition 0 count"
        [ "$(grep -c '^1 ' "$TMP/both.txt")" -eq 25000 ] || fail "partition 1 count"
        grep '^1 ' "$TMP/both.txt" | cut -d' ' -f2 | cmp -s - "$TMP/seq1.txt" ||
            fail "partition 1 offsets not 0..24999 in order"
        ok "kcat reads both partitions (multi-partition Fetch)"
    fi
else
    echo "note: kafka-python not importable by $PY; its part was skipped"
fi

stop_broker
echo "t_kbroker_clients: all passed"
