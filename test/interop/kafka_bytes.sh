#!/bin/sh
# kafka_bytes.sh — byte-identical files: the same Produce requests (fixed
# batches built once by oracle_gen, one batch per request, one codec per
# topic) go to a real Kafka broker and to kbroker, both with Kafka's default
# topic configuration, plus topic b_roll (uncompressed, segment.bytes 1 MiB,
# so segments roll where Kafka rolls them). Each broker is stopped cleanly, then every segment's
# .log must be identical, byte for byte, and so must the .index and
# .timeindex files (README "Apache Kafka as the oracle" lists the
# differences that are expected and why; none is, today).
NAME=kafka_bytes
. "$(dirname "$0")/kafka_common.sh"
[ -x "$KBROKER" ] || skip_all "$KBROKER not built"

CODECS="none gzip snappy lz4 zstd roll"
for z in $CODECS; do
    case $z in
    roll) "$GEN" batches "$TMP/b_$z.bin" 0 9000 0 -b 9 ;;
    *) "$GEN" batches "$TMP/b_$z.bin" 0 3000 0 -z $z -b 9 ;;
    esac || { fail "oracle_gen batches $z"; finish; }
done
ROLL_CONFIG=segment.bytes=1048576
# Kafka takes zstd only from Produce v7 (its first version allowing it),
# kbroker serves v3 at most; versions 3..8 share one layout, so the requests
# differ only in that field.
version_for() { [ "$1" = zstd ] && [ "$2" = kafka ] && echo 7 || echo 3; }

send_all() { # BROKER TAG
    for z in $CODECS; do
        if "$PY" "$ROOT/test/interop/kafka_produce.py" "$1" "$(version_for $z $2)" "b_$z" 0 1 \
            "$TMP/b_$z.bin" > "$TMP/send_$2_$z" 2>&1; then
            :
        else
            fail "$2: produce b_$z"
            show "$TMP/send_$2_$z"
        fi
    done
}

# --- Apache Kafka
K=$TMP/kafka
if ! kafka_setup "$K" || ! kafka_start; then
    fail "start Kafka $KAFKA_VERSION"
    show "$K/logs/server.log"
    finish
fi
for z in $CODECS; do
    kafka_topics --create --topic "b_$z" --partitions 1 --replication-factor 1 \
        $([ $z = roll ] && echo --config $ROLL_CONFIG) > "$TMP/create_$z" 2>&1 || { fail "create b_$z on Kafka"; show "$TMP/create_$z"; }
done
kafka_wait_partitions b_none 1 && kafka_wait_partitions b_zstd 1 || fail "Kafka created no partitions"
send_all "$KB" kafka
kafka_stop
[ -f "$K/data/.kafka_cleanshutdown" ] || fail "Kafka did not shut down cleanly"

# --- kbroker (topics created in its log directory first, same defaults)
D=$TMP/kbroker
for z in $CODECS; do
    "$KLOGCAT" -d "$D" -t "b_$z" --create -N 1 $([ $z = roll ] && echo -X $ROLL_CONFIG) || fail "create b_$z for kbroker"
done
"$KBROKER" -d "$D" -l 127.0.0.1:0 > "$TMP/kb.out" 2> "$TMP/kb.err" &
KBPID=$!
at_exit 'kill -KILL $KBPID 2> /dev/null'
i=0
while [ $i -lt 200 ] && ! grep -q '^listening on' "$TMP/kb.out"; do
    sleep 0.05
    i=$((i + 1))
done
KBADDR=$(sed -n 's/^listening on //p' "$TMP/kb.out")
if [ -z "$KBADDR" ]; then
    fail "start kbroker"
    show "$TMP/kb.err"
    finish
fi
send_all "$KBADDR" kbroker
kill -TERM $KBPID
i=0
while kill -0 $KBPID 2> /dev/null && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
wait $KBPID || fail "kbroker exit status on SIGTERM"

# --- compare
for z in $CODECS; do
    kd=$K/data/b_$z-0 ld=$D/b_$z-0
    nlog=0 nidx=0 bad=
    for f in $(cd "$kd" && ls *.log *.index *.timeindex 2> /dev/null); do
        if [ ! -f "$ld/$f" ]; then
            bad="$bad $f(missing in libklog)"
        elif cmp -s "$kd/$f" "$ld/$f"; then
            case $f in *.log) nlog=$((nlog + 1)) ;; *) nidx=$((nidx + 1)) ;; esac
        else
            bad="$bad $f($(stat -c %s "$kd/$f")/$(stat -c %s "$ld/$f") bytes: $(cmp "$kd/$f" "$ld/$f" 2>&1 | sed 's/.*differ: //'))"
        fi
    done
    for f in $(cd "$ld" && ls *.log *.index *.timeindex 2> /dev/null); do
        [ -f "$kd/$f" ] || bad="$bad $f(not in Kafka's)"
    done
    size=$(cat "$kd"/*.log 2> /dev/null | wc -c)
    if [ -z "$bad" ] && [ "$nlog" -gt 0 ] && [ "$nidx" -gt 0 ]; then
        pass "$z: Kafka's and kbroker's files identical ($nlog .log, $size bytes in all, $nidx index files)"
    else
        fail "$z: files differ between Kafka and kbroker:$bad"
    fi
done
finish
