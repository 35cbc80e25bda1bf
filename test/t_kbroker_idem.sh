#!/bin/sh
# t_kbroker_idem.sh — idempotent producers on kbroker (issue 15 item 6):
#   * librdkafka with enable.idempotence=true produces 1,000,000 records
#     over 4 partitions while the broker is killed with SIGKILL and
#     restarted on the same port in the middle; the client keeps retrying
#     across the restart. Afterwards every record is present exactly once,
#     in order on its partition (kbroker_rdk_eos.c check);
#   * kcat with enable.idempotence=true;
#   * producer ids are never handed out twice across kill -9 (the reserved
#     block is durable) and the protocol rules with raw requests
#     (kbroker_eos_raw.py): a duplicate resend is acknowledged with the
#     original offsets, out-of-order / fenced epoch / transactional write
#     outside a transaction are refused with Kafka's codes.
# KB_IDEM_COUNT overrides the record count (default 1000000).
. "$(dirname "$0")/interop/kbroker_common.sh"

pkg-config --exists rdkafka 2> /dev/null || skip "librdkafka development files not installed"
cc -std=gnu11 -O1 -Wall -o "$TMP/eos" test/interop/kbroker_rdk_eos.c \
    $(pkg-config --cflags --libs rdkafka) 2> "$TMP/cc.err" || fail "compile: $(cat "$TMP/cc.err")"

COUNT=${KB_IDEM_COUNT:-1000000}
start_broker -N 4 -a
timeout 300 "$TMP/eos" idem "$B" idem 4 "$COUNT" > "$TMP/idem.out" 2> "$TMP/idem.err" &
PPID_=$!
# kill -9 the broker once a fifth of the records are acknowledged
i=0
while [ "$(grep -c progress "$TMP/idem.out")" -lt $((COUNT / 50000)) ] && [ $i -lt 1200 ]; do
    kill -0 $PPID_ 2> /dev/null || break
    sleep 0.05
    i=$((i + 1))
done
kill -0 $PPID_ 2> /dev/null || fail "producer ended before the kill: $(cat "$TMP/idem.err")"
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
before=$(grep -c progress "$TMP/idem.out")
sleep 0.5
start_broker -N 4 -a -l "127.0.0.1:$PORT"
wait $PPID_ || fail "idempotent producer: $(tail -5 "$TMP/idem.err")"
grep -q "^delivered $COUNT\$" "$TMP/idem.out" || fail "producer: $(tail -1 "$TMP/idem.out")"
timeout 200 "$TMP/eos" check "$B" idem 4 "$COUNT" 0 > "$TMP/check.out" 2> "$TMP/check.err" ||
    fail "check: $(cat "$TMP/check.err")"
ok "librdkafka idempotent producer, broker killed (-9) after $((before * 10000)) acks and restarted: $COUNT records each once, in order per partition"

if command -v kcat > /dev/null 2>&1; then
    seq 1 5000 | kc_produce -t kcidem -X enable.idempotence=true 2> "$TMP/kc.err" ||
        fail "kcat enable.idempotence=true: $(cat "$TMP/kc.err")"
    kc_consume -t kcidem -f '%s\n' > "$TMP/kc.out" 2> "$TMP/kc.err" || fail "kcat consume: $(cat "$TMP/kc.err")"
    sort -n "$TMP/kc.out" > "$TMP/kc.out.s"
    seq 1 5000 | cmp -s - "$TMP/kc.out.s" || fail "kcat idempotent: $(wc -l < "$TMP/kc.out") records back, not 1..5000"
    ok "kcat -X enable.idempotence=true: 5000 records, each once"
fi

timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" idem idem > "$TMP/raw1.out" 2>&1 ||
    fail "raw rules: $(cat "$TMP/raw1.out")"
sed -n 's/^ok: /ok: /p' "$TMP/raw1.out"
pid1=$(sed -n 's/^pid //p' "$TMP/raw1.out")
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
start_broker -N 4 -a
timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" pid > "$TMP/raw2.out" 2>&1 ||
    fail "raw pid: $(cat "$TMP/raw2.out")"
pid2=$(sed -n 's/^pid //p' "$TMP/raw2.out")
[ -n "$pid1" ] && [ -n "$pid2" ] && [ "$pid2" -gt "$pid1" ] ||
    fail "producer id after kill -9 ($pid2) not above the one before ($pid1)"
ok "producer ids after kill -9 start above every id handed out before ($pid1 -> $pid2)"
stop_broker
echo "t_kbroker_idem: all passed"
