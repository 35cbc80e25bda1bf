#!/bin/sh
# t_kbroker_versions.sh — the versions kbroker serves: zstd end to end
# (kcat and kafka-python negotiate Produce v7+/Fetch v10+ and really send
# zstd batches, which are stored as they came), the flexible versions
# (Produce 9, Fetch 12, Metadata 12, ListOffsets 8) spoken raw, and a request
# kbroker does not implement, as a client reports it.
. "$(dirname "$0")/interop/kbroker_common.sh"

# codecs of the batches stored in a partition's segments, e.g. "4"
codecs() {
    $PY - "$LOGDIR/$1" << 'PYEOF'
import glob, struct, sys
seen = set()
for f in sorted(glob.glob(sys.argv[1] + "/*.log")):
    d = open(f, "rb").read()
    pos = 0
    while pos + 61 <= len(d):
        blen = struct.unpack(">i", d[pos + 8:pos + 12])[0]
        seen.add(struct.unpack(">h", d[pos + 21:pos + 23])[0] & 7)
        pos += 12 + blen
print(" ".join(str(c) for c in sorted(seen)))
PYEOF
}

start_broker -N 1

timeout 60 "$PY" test/interop/kbroker_versions.py flex 127.0.0.1 "$PORT" || fail "flexible versions"

if command -v kcat > /dev/null 2>&1; then
    seq 1 2000 | sed 's/^/key:value /' > "$TMP/z.txt"
    kc_produce -t zk -p 0 -K: -z zstd < "$TMP/z.txt" || fail "kcat produce -z zstd"
    # librdkafka sends a batch uncompressed when zstd would not shrink it
    case " $(codecs zk-0) " in *" 4 "*) ;; *) fail "kcat -z zstd stored codecs '$(codecs zk-0)', no zstd (4)" ;; esac
    kc_consume -t zk -p 0 -o beginning -f '%k:%s\n' -X check.crcs=true > "$TMP/zk.out" ||
        fail "kcat consume zstd"
    cmp -s "$TMP/z.txt" "$TMP/zk.out" || fail "kcat zstd data differs"
    ok "kcat: zstd batches produced, stored as zstd, consumed back"
else
    echo "note: kcat not installed; its zstd part skipped"
fi

if pick_python kafka zstandard; then
    timeout 120 "$PY" - "$B" << 'PYEOF' || fail "kafka-python zstd"
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
b = sys.argv[1]
p = KafkaProducer(bootstrap_servers=b, acks="all", compression_type="zstd", linger_ms=20)
for i in range(3000):
    p.send("zp", key=b"k%d" % i, value=b"zstd value %d" % i, partition=0)
p.flush(60)
p.close()
c = KafkaConsumer(bootstrap_servers=b, enable_auto_commit=False, consumer_timeout_ms=5000)
tp = TopicPartition("zp", 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = [(m.offset, m.key, m.value) for m in c]
want = [(i, b"k%d" % i, b"zstd value %d" % i) for i in range(3000)]
if got != want:
    print("FAIL: consumed %d records, first difference at %r" % (len(got),
          next((g for g, w in zip(got, want) if g != w), None)))
    sys.exit(1)
PYEOF
    case " $(codecs zp-0) " in *" 4 "*) ;; *) fail "kafka-python zstd stored codecs '$(codecs zp-0)', no zstd (4)" ;; esac
    ok "kafka-python: zstd produced, stored as zstd, consumed back"
else
    echo "note: kafka-python zstd part skipped: $PY_WHY (apt-get install python3-zstandard)"
fi

if pick_python kafka; then
    timeout 60 "$PY" test/interop/kbroker_versions.py admin-unsupported 127.0.0.1 "$PORT" ||
        fail "unsupported request as kafka-python reports it"
else
    echo "note: kafka-python part skipped: $PY_WHY"
fi

stop_broker
echo "t_kbroker_versions: all passed"
