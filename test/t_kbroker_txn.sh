#!/bin/sh
# t_kbroker_txn.sh — transactions on kbroker (issue 17, Producers):
#   * librdkafka transactional producer: 20 transactions of 1000 records
#     over 3 partitions, even ones committed (with send_offsets_to_transaction),
#     odd ones aborted; a read_committed consumer reads exactly the committed
#     records, each once, in order; the group's committed offset is the last
#     committed transaction's;
#   * fencing: a second producer with the same transactional.id aborts the
#     first one's open transaction and fences it;
#   * timeout: a transaction open past transaction.timeout.ms is aborted by
#     the broker (its producer fenced), never visible;
#   * kill -9 of the broker with a transaction open, restart: the open
#     transaction is still open (read_committed does not see it yet), its
#     producer commits it after the restart and read_committed then reads
#     it; the committed offsets and earlier transactions survive; with raw
#     requests (kbroker_eos_raw.py restart-before/after): its pending
#     TxnOffsetCommit stays pending until the commit, a later plain commit
#     is kept, and a kept transaction aborts when its timeout from its
#     start expires;
#   * the coordinator's rules with raw requests (kbroker_eos_raw.py txn),
#     and TxnOffsetCommit v3's group checks (kbroker_eos_raw.py txngroup);
#   * --transactional-id-expiration: idle ids are forgotten, with a
#     tombstone that survives a restart (kbroker_eos_raw.py expire).
. "$(dirname "$0")/interop/kbroker_common.sh"

pkg-config --exists rdkafka 2> /dev/null || skip "librdkafka development files not installed"
cc -std=gnu11 -O1 -Wall -o "$TMP/eos" test/interop/kbroker_rdk_eos.c \
    $(pkg-config --cflags --libs rdkafka) 2> "$TMP/cc.err" || fail "compile: $(cat "$TMP/cc.err")"
eos() {
    timeout 120 "$TMP/eos" "$@" 2> "$TMP/eos.err"
}

start_broker -N 3 -a
eos txn "$B" tx 3 20000 1000 tx1 txg > "$TMP/txn.out" || fail "txn: $(cat "$TMP/eos.err")"
grep -q "^committed 10 aborted 10$" "$TMP/txn.out" || fail "txn: $(cat "$TMP/txn.out")"
eos check "$B" tx 3 20000 1000 > /dev/null || fail "read_committed: $(cat "$TMP/eos.err")"
[ "$(eos committed "$B" txg)" = "committed 19" ] || fail "group offset: $(eos committed "$B" txg) $(cat "$TMP/eos.err")"
ok "librdkafka: 10 transactions committed, 10 aborted; read_committed reads exactly the committed 10000 records; the transaction's offsets committed"

eos txn "$B" fe 3 1000 1000 tf fg > /dev/null || fail "fence setup: $(cat "$TMP/eos.err")"
eos fence "$B" fe 3 1000 1000 tf > "$TMP/fence.out" || fail "fence: $(cat "$TMP/eos.err")"
eos check "$B" fe 3 3000 1000 > /dev/null || fail "read_committed after fencing: $(cat "$TMP/eos.err")"
ok "a second producer with the same transactional.id fences the first and aborts its open transaction"

eos txn "$B" to 3 500 500 tt0 g > /dev/null || fail "timeout setup: $(cat "$TMP/eos.err")"
(sleep 4; echo) | eos open "$B" to 3 500 500 tt 2000 > "$TMP/open.out" || fail "open: $(cat "$TMP/eos.err")"
grep -q "^commit: NO_ERROR" "$TMP/open.out" && fail "a transaction past its timeout committed"
eos check "$B" to 3 1000 500 > /dev/null || fail "read_committed after the timeout: $(cat "$TMP/eos.err")"
ok "a transaction open past transaction.timeout.ms is aborted by the broker ($(sed -n 's/^commit: //p' "$TMP/open.out") on commit)"

# kill -9 with a transaction open
eos txn "$B" kt 3 1000 1000 tk0 kg > /dev/null || fail "kill setup: $(cat "$TMP/eos.err")"
mkfifo "$TMP/hold"
timeout 120 "$TMP/eos" open "$B" kt 3 1000 1000 tk 60000 < "$TMP/hold" > "$TMP/open2.out" 2> "$TMP/open2.err" &
OPID=$!
exec 3> "$TMP/hold"
i=0
while ! grep -q "^open" "$TMP/open2.out" && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
grep -q "^open" "$TMP/open2.out" || fail "open transaction: $(cat "$TMP/open2.err")"
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
start_broker -N 3 -a -l "127.0.0.1:$PORT" 3>&- # the broker must not hold the fifo open
eos check "$B" kt 3 2000 1000 > /dev/null || fail "read_committed after kill -9, before the commit: $(cat "$TMP/eos.err")"
exec 3>&-
wait $OPID
grep -q "^commit: NO_ERROR" "$TMP/open2.out" ||
    fail "the transaction open across kill -9 did not commit after the restart: $(cat "$TMP/open2.out" "$TMP/open2.err")"
eos check "$B" kt 3 2000 0 > /dev/null || fail "read_committed after the commit: $(cat "$TMP/eos.err")"
eos check "$B" tx 3 20000 1000 > /dev/null || fail "read_committed of tx after kill -9: $(cat "$TMP/eos.err")"
[ "$(eos committed "$B" txg)" = "committed 19" ] || fail "group offset after kill -9: $(eos committed "$B" txg)"
ok "kill -9 with a transaction open: still open after the restart (not visible), then its producer commits it and read_committed reads it; earlier transactions and offsets kept"

timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" restart-before rawrs > "$TMP/rs.out" 2>&1 ||
    fail "restart-before: $(cat "$TMP/rs.out")"
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
start_broker -N 3 -a -l "127.0.0.1:$PORT"
timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" restart-after rawrs \
    "$(sed -n 's/^rs //p' "$TMP/rs.out")" "$(sed -n 's/^rsto //p' "$TMP/rs.out")" > "$TMP/raw.out" 2>&1 ||
    fail "restart-after: $(cat "$TMP/raw.out")"
cat "$TMP/raw.out"

timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" txn rawtx > "$TMP/raw.out" 2>&1 ||
    fail "raw rules: $(cat "$TMP/raw.out")"
cat "$TMP/raw.out"
timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" txngroup rawtx > "$TMP/raw.out" 2>&1 ||
    fail "TxnOffsetCommit v3 group checks: $(cat "$TMP/raw.out")"
cat "$TMP/raw.out"
stop_broker

start_broker -N 3 -a --transactional-id-expiration 1000
timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" expire rawex > "$TMP/raw.out" 2>&1 ||
    fail "transactional id expiration: $(cat "$TMP/raw.out")"
grep "^ok" "$TMP/raw.out"
old=$(sed -n 's/^ex2 //p' "$TMP/raw.out")
stop_broker
start_broker -N 3 -a
timeout 60 "$PY" test/interop/kbroker_eos_raw.py 127.0.0.1 "$PORT" expire-after rawex "$old" \
    > "$TMP/raw.out" 2>&1 || fail "expired id after a restart: $(cat "$TMP/raw.out")"
cat "$TMP/raw.out"
stop_broker
echo "t_kbroker_txn: all passed"
