#!/bin/sh
# t_kbroker_metrics.sh — kbroker's Prometheus endpoint (--metrics-port),
# scraped with curl (python's urllib without it):
#   * the text is well-formed exposition format: every sample belongs to a
#     family with HELP and TYPE, values are numbers, labels are quoted;
#   * after kcat produces 1000 records with acks=all over 2 partitions, the
#     append, record, byte and fsync counters and the per-partition log end
#     offsets add up to what was sent; consuming shows leases and Fetches;
#   * /other is 404, POST is 405; a scraper that connects and says nothing
#     blocks neither the next scrape nor Kafka clients;
#   * after kill -9 the restarted broker reports recovery work, after a
#     clean stop none; without --metrics-port there is no endpoint.
. "$(dirname "$0")/interop/kbroker_common.sh"

command -v kcat > /dev/null 2>&1 || skip "kcat not installed"

# scrape PATH [METHOD]: the body on stdout, "HTTP <code>" on fd 3's file.
scrape() {
    if command -v curl > /dev/null 2>&1; then
        timeout 20 curl -s -X "${2:-GET}" -o "$TMP/body" -w '%{http_code}' \
            "http://127.0.0.1:$MPORT$1" > "$TMP/code" 2> /dev/null
    else
        timeout 20 "$PY" -c '
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"" if sys.argv[2] == "POST" else None)
try:
    r = urllib.request.urlopen(req, timeout=10); code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
open(sys.argv[3], "wb").write(body); print(code, end="")' \
            "http://127.0.0.1:$MPORT$1" "${2:-GET}" "$TMP/body" > "$TMP/code"
    fi
    cat "$TMP/body"
}
# value NAME [LABELS]: the sample's value in $TMP/m (empty if absent).
value() {
    k=$1
    [ -n "${2:-}" ] && k="$1{$2}"
    awk -v k="$k" '$1 == k { print $2 }' "$TMP/m"
}
# sum NAME: the sum of the family's samples.
sum() {
    awk -v n="$1" 'index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }' "$TMP/m"
}
metrics_port() {
    MPORT=$(sed -n 's/^metrics on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/broker.out")
    [ -n "$MPORT" ] || fail "no 'metrics on' line"
}
well_formed() {
    "$PY" - "$TMP/m" << 'EOF' || fail "metrics text not well-formed"
import re, sys
typed, helped, n = set(), set(), 0
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (-?[0-9]+(\.[0-9]+)?)$')
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        name, kind = line.split()[2:4]
        assert kind in ("counter", "gauge"), line
        assert name not in typed, "TYPE twice: " + line
        typed.add(name)
    elif line.startswith("# HELP "):
        helped.add(line.split()[2])
    else:
        m = sample.match(line)
        assert m, "bad sample line: %r" % line
        assert m.group(1) in typed and m.group(1) in helped, "no TYPE/HELP for " + line
        n += 1
assert n > 30, "only %d samples" % n
print("ok: %d samples in %d families, well-formed" % (n, len(typed)))
EOF
}

start_broker -N 2 --metrics-port 0
metrics_port
scrape /metrics > "$TMP/m"
[ "$(cat "$TMP/code")" = 200 ] || fail "GET /metrics: HTTP $(cat "$TMP/code")"
well_formed
[ "$(value klog_appends_total)" = 0 ] || fail "klog_appends_total on an empty log: $(value klog_appends_total)"

awk 'BEGIN { for (i = 0; i < 1000; i++) printf "k%d:v%d\n", i, i }' |
    kc_produce -t m -K: -X acks=all || fail "kcat produce"
scrape /metrics > "$TMP/m"
well_formed
[ "$(value klog_append_records_total)" = 1000 ] || fail "klog_append_records_total $(value klog_append_records_total), not 1000"
[ "$(sum klog_partition_log_end_offset)" = 1000 ] || fail "partition log end offsets add up to $(sum klog_partition_log_end_offset)"
[ "$(sum klog_partition_append_records_total)" = 1000 ] || fail "per-partition records $(sum klog_partition_append_records_total)"
[ "$(value klog_append_bytes_total)" = "$(value klog_bytes)" ] || fail "appended $(value klog_append_bytes_total) bytes but the log holds $(value klog_bytes)"
[ "$(value klog_appends_total)" -ge 2 ] || fail "klog_appends_total $(value klog_appends_total)"
[ "$(value klog_fsyncs_total)" -ge 1 ] || fail "acks=all made no fsync: $(value klog_fsyncs_total)"
awk '$1 == "klog_fsync_seconds_total" && $2 > 0 { ok = 1 } END { exit !ok }' "$TMP/m" || fail "no fsync time"
[ "$(value klog_partitions)" = 2 ] && [ "$(value klog_topics)" = 1 ] || fail "topics/partitions $(value klog_topics)/$(value klog_partitions)"
[ "$(value kbroker_requests_total 'api="Produce"')" -ge 2 ] || fail "Produce requests $(value kbroker_requests_total 'api="Produce"')"
ok "1000 records produced: appends, records, bytes, fsyncs and log end offsets counted"

n=$(kc_consume -t m -p 0 | wc -l)
m=$(kc_consume -t m -p 1 | wc -l)
[ $((n + m)) -eq 1000 ] || fail "kcat read $((n + m)) records"
scrape /metrics > "$TMP/m"
[ "$(value klog_leases_total)" -ge 2 ] || fail "consuming took no leases: $(value klog_leases_total)"
[ "$(value klog_leases)" = 0 ] || fail "leases still held after the consumers left: $(value klog_leases)"
[ "$(value kbroker_requests_total 'api="Fetch"')" -ge 2 ] || fail "Fetch requests $(value kbroker_requests_total 'api="Fetch"')"
ok "consuming: leases acquired and released, Fetches counted"

scrape /nope > /dev/null
[ "$(cat "$TMP/code")" = 404 ] || fail "GET /nope: HTTP $(cat "$TMP/code")"
scrape /metrics POST > /dev/null
[ "$(cat "$TMP/code")" = 405 ] || fail "POST /metrics: HTTP $(cat "$TMP/code")"
# A scraper that connects and sends nothing holds one slot only.
"$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("open", flush=True)
time.sleep(15)' "$MPORT" > "$TMP/idle.out" &
IDLE=$!
i=0
while ! grep -q open "$TMP/idle.out" 2> /dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
scrape /metrics > "$TMP/m"
[ "$(cat "$TMP/code")" = 200 ] || fail "scrape beside an idle metrics connection: HTTP $(cat "$TMP/code")"
[ "$(kc_consume -t m -p 0 | wc -l)" -eq "$n" ] || fail "Kafka clients blocked by an idle metrics connection"
kill "$IDLE" 2> /dev/null
wait "$IDLE" 2> /dev/null
ok "404, 405, and an idle metrics connection blocks nothing"

# kill -9, restart: recovery shows; a clean restart shows none.
kill -KILL "$BPID"
wait "$BPID" 2> /dev/null
BPID=
start_broker -N 2 --metrics-port 0
metrics_port
scrape /metrics > "$TMP/m"
[ "$(value klog_recovered_segments_total)" -ge 1 ] || fail "no recovery reported after kill -9: $(value klog_recovered_segments_total)"
[ "$(sum klog_partition_log_end_offset)" = 1000 ] || fail "after kill -9 the log ends add up to $(sum klog_partition_log_end_offset)"
stop_broker
start_broker -N 2 --metrics-port 0
metrics_port
scrape /metrics > "$TMP/m"
[ "$(value klog_recovered_segments_total)" = 0 ] || fail "recovery reported after a clean stop: $(value klog_recovered_segments_total)"
ok "recovery work reported after kill -9, none after a clean stop"
stop_broker

start_broker
grep -q '^metrics on' "$TMP/broker.out" && fail "a metrics endpoint without --metrics-port"
stop_broker
echo "t_kbroker_metrics: all passed"
