#!/bin/sh
# t_kbroker_hostile.sh — kbroker against hostile and unusual clients: bad
# size prefixes, garbage, truncated requests (that connection closes, the
# others keep being served), slow huge requests (memory stays bounded),
# pipelining and long-poll ordering, Produce error codes, acks=0, and 2000
# idle connections while kcat produces and consumes normally.
. "$(dirname "$0")/interop/kbroker_common.sh"

[ -x "$PY" ] || skip "$PY not found"
command -v kcat > /dev/null 2>&1 || skip "kcat not installed"

start_broker -N 1
mkfifo "$TMP/go" || fail "mkfifo"
timeout 300 "$PY" test/interop/kbroker_hostile.py 127.0.0.1 "$PORT" "$BPID" 2000 \
    < "$TMP/go" > "$TMP/hostile.out" 2>&1 &
HPID=$!
exec 3> "$TMP/go"
i=0
while ! grep -q "^idle-open" "$TMP/hostile.out" && [ $i -lt 1200 ]; do
    kill -0 $HPID 2> /dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if ! grep -q "^idle-open" "$TMP/hostile.out"; then
    exec 3>&-
    cat "$TMP/hostile.out"
    fail "hostile checks did not reach the idle-connection stage"
fi
n=$(ls /proc/"$BPID"/fd | wc -l)
[ "$n" -gt 2000 ] || fail "broker holds only $n descriptors with 2000 idle clients"
seq 1 5000 | sed 's/.*/idle-&:value-&/' > "$TMP/idle_in.txt"
kc_produce -t idle -p 0 -K: < "$TMP/idle_in.txt" || fail "produce with 2000 idle connections"
kc_consume -t idle -p 0 -o beginning -f '%k:%s\n' > "$TMP/idle_out.txt" || fail "consume with idle connections"
cmp -s "$TMP/idle_in.txt" "$TMP/idle_out.txt" || fail "data differs with idle connections"
echo go >&3
exec 3>&-
wait $HPID
rc=$?
cat "$TMP/hostile.out"
[ $rc -eq 0 ] || fail "hostile checks failed (status $rc)"
ok "produce/consume with 2000 idle connections open"
stop_broker
echo "t_kbroker_hostile: all passed"
