#!/bin/sh
# t_kbroker_flush.sh — acks=all fsyncs on kbroker's flush thread: with a
# disk made slow on demand (test/interop/kbroker_slow_fsync.c preloaded),
# acks=all answers only after its fsync while the event loop keeps serving
# other connections, order per connection is kept, concurrent acks=all
# produces share fsyncs, a connection closing while it waits is harmless
# (test/interop/kbroker_flush.py); then kcat's acks=all producer and a
# consumer see every record, and the broker shuts down cleanly.
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
echo "t_kbroker_flush: all passed"
