#!/bin/sh
# t_kbroker_flush.sh — acks=all fsyncs on kbroker's flush thread: with a
# disk made slow on demand (test/interop/kbroker_slow_fsync.c preloaded),
# acks=all answers only after its fsync while the event loop keeps serving
# other connections, order per connection is kept, concurrent acks=all
# produces share fsyncs, a connection closing while it waits is harmless
# (test/interop/kbroker_flush.py); then kcat's acks=all producer and a
# consumer see every record, and the broker shuts down cleanly. Then the
# same for __consumer_offsets (test/interop/kbroker_commit_flush.py):
# OffsetCommit and TxnOffsetCommit answered after their fsync, the loop
# serving Produce/Fetch meanwhile, an OffsetFetch behind a commit seeing
# it, a failed fsync answered NOT_COORDINATOR with nothing committed.
. "$(dirname "$0")/interop/kbroker_common.sh"

SHIM=$TMP/slow_fsync.so
cc -shared -fPIC -O1 -Wall -o "$SHIM" test/interop/kbroker_slow_fsync.c -ldl 2> "$TMP/cc.err" ||
    skip "cannot build the fsync shim: $(head -1 "$TMP/cc.err")"
# An ASan build wants its runtime first in the library list; the shim only
# wraps two libc calls, so let it come first.
export KB_SLOW_FSYNC_FLAG=$TMP/slow KB_SLOW_FSYNC_MS=600
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
LD_PRELOAD=$SHIM start_broker
timeout 120 "$PY" test/interop/kbroker_flush.py 127.0.0.1 "$PORT" "$KB_SLOW_FSYNC_FLAG" 600 ||
    fail "flush checks"
rm -f "$KB_SLOW_FSYNC_FLAG"

if command -v kcat > /dev/null 2>&1; then
    seq 1 5000 | kc_produce -t fk -X acks=all -X linger.ms=1 || fail "kcat acks=all produce"
    n=$(kc_consume -t fk -o beginning | wc -l)
    [ "$n" -eq 5000 ] || fail "kcat read $n of 5000 records produced with acks=all"
    ok "kcat acks=all: 5000 records produced and read back"
fi
stop_broker

# __consumer_offsets, on a log of its own (its fsync is made to fail last)
export KB_FAIL_FSYNC_FLAG=$TMP/fail
LOGDIR=$TMP/log-commit
LD_PRELOAD=$SHIM start_broker
timeout 120 "$PY" test/interop/kbroker_commit_flush.py 127.0.0.1 "$PORT" "$KB_SLOW_FSYNC_FLAG" \
    "$KB_FAIL_FSYNC_FLAG" 600 || fail "commit flush checks"
rm -f "$KB_SLOW_FSYNC_FLAG" "$KB_FAIL_FSYNC_FLAG"
# The failed fsync is sticky (libklog refuses the partition until reopened),
# so the broker's close reports it and exits 1; anything else is a failure.
kill -TERM "$BPID"
wait "$BPID"
rc=$?
BPID=
[ $rc -eq 1 ] && grep -q "close: partition failed a write or fsync" "$TMP/broker.err" ||
    fail "broker with a failed fsync: exit status $rc"
if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$TMP/broker.err"; then
    fail "sanitizer report from the broker"
fi
echo "t_kbroker_flush: all passed"
