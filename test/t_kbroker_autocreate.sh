#!/bin/sh
# t_kbroker_autocreate.sh — Metadata requests naming many unknown topics
# (issue 21 item 13): auto-creation is capped per request and in total,
# and a connection creating topics does not stall the others. See
# test/interop/kbroker_autocreate.py for the checks.
. "$(dirname "$0")/interop/kbroker_common.sh"

[ -x "$PY" ] || skip "$PY not found"

PER=8
MAX=400
start_broker --auto-create-per-request $PER --auto-create-max-topics $MAX
timeout 300 "$PY" test/interop/kbroker_autocreate.py 127.0.0.1 "$PORT" "$LOGDIR" $PER $MAX \
    > "$TMP/autocreate.out" 2>&1
rc=$?
cat "$TMP/autocreate.out"
[ $rc -eq 0 ] || fail "auto-creation checks failed (status $rc)"
n=$(ls -d "$LOGDIR"/*-0 | wc -l)
[ "$n" -eq $MAX ] || fail "$n partition directories, expected $MAX"
stop_broker
ok "auto-creation capped"
