#!/bin/sh
# kafka_dumplog.sh — Kafka reads libklog's files: Apache Kafka's own
# DumpLogSegments over every kind of segment libklog writes (each codec,
# rolled, truncated, recovered after kill -9 with a torn tail,
# follower-appended with leader epochs and producer ids, default config,
# compacted by libklog's cleaner).
# For each partition directory:
#   - --deep-iteration --print-data-log over every .log: every batch valid,
#     no trailing bytes, offsets consecutive, and the record lines (offset,
#     timestamp, key and value sizes, sequence, header keys, key, value)
#     exactly the ones oracle_gen wrote;
#   - --index-sanity-check over every .index and .timeindex (what decides
#     whether a broker rebuilds them);
#   - --verify-index-only over them: every offset-index entry points at the
#     batch ending at its offset, every time-index entry at the batch holding
#     its timestamp, timestamps increasing.
# And the producer-state files (txn_gen: idempotent and transactional
# appends, aborted transactions, leader epoch changes): Kafka dumps every
# .snapshot with each producer's last sequence, last offset and open
# transaction as its log says, every .txnindex with each aborted
# transaction (first offset, ABORT marker) in the segment of its marker,
# and the leader-epoch-checkpoint lists the first offset of each
# partitionLeaderEpoch Kafka reads in the batches.
NAME=kafka_dumplog
. "$(dirname "$0")/kafka_common.sh"

# dump_check NAME PARTDIR EXPECTED: the three passes above.
dump_check() {
    n=$1 d=$2 exp=$3 out=$TMP/$1
    logs=$(files_of "$d" .log)
    [ -n "$logs" ] || { fail "$n: no .log files in $d"; return; }
    kafka_tool kafka.tools.DumpLogSegments --deep-iteration --print-data-log \
        --files "$logs" > "$out.log.out" 2> "$out.log.err"
    rc=$?
    grep '^|' "$out.log.out" > "$out.records"
    [ -n "${SORTED:-}" ] && sort -o "$out.records" "$out.records"
    nb=$(grep -c '^baseOffset: ' "$out.log.out")
    if [ $rc -ne 0 ] || [ -s "$out.log.err" ]; then
        fail "$n: DumpLogSegments --deep-iteration exited $rc"
        show "$out.log.err"
    elif grep -q 'isvalid: false' "$out.log.out"; then
        fail "$n: Kafka found invalid batches"
        grep 'isvalid: false' "$out.log.out" | show /dev/stdin
    elif grep -q 'invalid bytes at the end' "$out.log.out"; then
        fail "$n: Kafka found trailing bytes"
        grep 'invalid bytes' "$out.log.out" | show /dev/stdin
    elif ! cmp -s "$exp" "$out.records"; then
        fail "$n: records Kafka read differ from those written ($(wc -l < "$out.records") vs $(wc -l < "$exp") lines)"
        diff "$exp" "$out.records" | head -10 | show /dev/stdin
    else
        pass "$n: Kafka reads $(wc -l < "$exp") records in $nb batches, $(echo "$logs" | tr ',' '\n' | wc -l) segments"
    fi

    idx=$(files_of "$d" .index),$(files_of "$d" .timeindex)
    kafka_tool kafka.tools.DumpLogSegments --index-sanity-check --files "$idx" \
        > "$out.sanity.out" 2> "$out.sanity.err"
    rc=$?
    nidx=$(echo "$idx" | tr ',' '\n' | grep -c .)
    nok=$(grep -c 'passed sanity check\|is empty' "$out.sanity.out")
    if [ $rc -ne 0 ] || [ -s "$out.sanity.err" ] || [ "$nok" -ne "$nidx" ]; then
        fail "$n: index sanity check ($nok of $nidx index files passed, exit $rc)"
        show "$out.sanity.err"
    else
        pass "$n: $nidx index files pass Kafka's sanity check"
    fi

    # A full dump (entries printed) rather than --verify-index-only, so the
    # entry count is known: a test over indexes with no entries checks nothing.
    kafka_tool kafka.tools.DumpLogSegments --files "$idx" \
        > "$out.idx.out" 2> "$out.idx.err"
    rc=$?
    kafka_tool kafka.tools.DumpLogSegments --verify-index-only --files "$idx" \
        > "$out.vfy.out" 2>> "$out.idx.err"
    rc2=$?
    ne=$(grep -c '^offset: [0-9]* position: ' "$out.idx.out")
    nt=$(grep -c '^timestamp: ' "$out.idx.out")
    if [ $rc -ne 0 ] || [ $rc2 -ne 0 ] || [ -s "$out.idx.err" ]; then
        fail "$n: Kafka reports index mismatches (exit $rc/$rc2)"
        show "$out.idx.err"
    elif [ "$ne" -eq 0 ] || [ "$nt" -eq 0 ]; then
        fail "$n: scenario left no index entries to check ($ne offset, $nt time)"
    else
        pass "$n: $ne offset-index and $nt time-index entries verified by Kafka, zero mismatches"
    fi
}

# dump_check with the record lines compared in sorted order.
dump_check_sorted() {
    SORTED=1
    dump_check "$@"
    SORTED=
}

# Every codec, rolled: 16 KiB segments, an index entry per KiB.
for z in none gzip snappy lz4 zstd; do
    D=$TMP/codec_$z
    if ! "$GEN" write "$D" t 0 0 1500 0 -z $z -s 16384 -i 1024 > "$TMP/exp_$z"; then
        fail "codec $z: oracle_gen write"
        continue
    fi
    dump_check "codec $z" "$D/t-0" "$TMP/exp_$z"
done

# Default topic configuration (1 GiB segments, 4 KiB index interval, 10 MiB
# preallocated indexes trimmed at close), several appends.
D=$TMP/defaults
{ "$GEN" write "$D" t 0 0 2000 0 -b 50 && "$GEN" write "$D" t 0 2000 1000 0 -b 3; } \
    > "$TMP/exp_def" && dump_check "default config" "$D/t-0" "$TMP/exp_def" ||
    fail "default config: oracle_gen write"

# Truncated: into the middle of a segment, removing whole later segments,
# then appended again (generation 1, so a record that survived truncation
# by mistake shows).
D=$TMP/trunc
if "$GEN" write "$D" t 0 0 1500 0 -z lz4 -s 16384 -i 1024 > "$TMP/exp_tr0" &&
    "$GEN" truncate "$D" t 0 777 && "$GEN" write "$D" t 0 777 300 1 > "$TMP/exp_tr1"; then
    { head -777 "$TMP/exp_tr0"; cat "$TMP/exp_tr1"; } > "$TMP/exp_tr"
    dump_check "truncated" "$D/t-0" "$TMP/exp_tr"
else
    fail "truncated: oracle_gen"
fi

# Crash: a writer killed with SIGKILL right after appending (nothing
# flushed or closed), its last batch then torn (the .log cut inside it, as a
# power cut mid-write leaves it), libklog's recovery on the next open, and
# appends after it.
D=$TMP/crash
"$GEN" write "$D" t 0 0 600 0 -z snappy -s 16384 -i 1024 > "$TMP/exp_cr0" ||
    fail "crash: oracle_gen write"
"$GEN" write "$D" t 0 600 400 0 -K > "$TMP/exp_cr1" 2> "$TMP/crash.err"
rc=$?
last=$(ls "$D"/t-0/*.log | tail -1)
if [ $rc -ne 137 ]; then
    fail "crash: writer was not killed (exit $rc)"
elif ! truncate -s -40 "$last"; then
    fail "crash: could not tear $last"
elif ! "$GEN" open "$D" 2> "$TMP/recover.err"; then
    fail "crash: libklog recovery failed"
    show "$TMP/recover.err"
else
    # 600..999 in batches of 7: the last batch, 999 alone, is torn away.
    { cat "$TMP/exp_cr0"; head -399 "$TMP/exp_cr1"; } > "$TMP/exp_cr"
    "$GEN" write "$D" t 0 999 200 2 >> "$TMP/exp_cr" || fail "crash: append after recovery"
    dump_check "recovered after kill -9" "$D/t-0" "$TMP/exp_cr"
fi

# Follower appends: batches carrying their own offsets, leader epochs 3 then
# 5 and an idempotent producer's id and sequences, stored verbatim.
D=$TMP/follower
if "$GEN" write "$D" t 0 0 700 0 -f -e 3 -P 4242 -z zstd -s 16384 -i 1024 > "$TMP/exp_fo" &&
    "$GEN" write "$D" t 0 700 700 0 -f -e 5 -P 4242 -b 11 >> "$TMP/exp_fo"; then
    dump_check "follower-appended" "$D/t-0" "$TMP/exp_fo"
    if grep -q 'partitionLeaderEpoch: 3 ' "$TMP/follower-appended.log.out" &&
        grep -q 'partitionLeaderEpoch: 5 .*producerId: \|producerId: 4242 .*partitionLeaderEpoch: 5 ' \
            "$TMP/follower-appended.log.out"; then
        pass "follower-appended: Kafka sees leader epochs 3 and 5 and producer id 4242"
    else
        fail "follower-appended: leader epochs or producer id not as appended"
    fi
else
    fail "follower-appended: oracle_gen"
fi

# Compacted by libklog's cleaner (klogcat compact): Kafka reads the
# cleaned segments as valid, with valid indexes; every record it prints
# was in the log before, identically (same offset, timestamp, key, value),
# and each key's latest record is still there.
D=$TMP/compacted
if "$KLOGCAT" -d "$D" -t c --create -X cleanup.policy=compact -X segment.bytes=16384 \
        -X index.interval.bytes=1024 -X max.message.bytes=2048 > /dev/null 2>&1 &&
    awk 'BEGIN { for (i = 0; i < 6000; i++) printf "key-%d:value-%d-%s\n", i % 1999, i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' |
        "$KLOGCAT" -d "$D" -t c -P -K : > /dev/null 2>&1; then
    logs=$(files_of "$D/c-0" .log)
    kafka_tool kafka.tools.DumpLogSegments --deep-iteration --print-data-log --files "$logs" \
        2> /dev/null | grep '^|' | sort > "$TMP/compact_before"
    if "$KLOGCAT" compact "$D" > "$TMP/compact.out" 2>&1; then
        # The expected record lines are Kafka's own of what it read before.
        logs=$(files_of "$D/c-0" .log)
        kafka_tool kafka.tools.DumpLogSegments --deep-iteration --print-data-log --files "$logs" \
            2> /dev/null | grep '^|' | sort > "$TMP/compact_after"
        nb=$(wc -l < "$TMP/compact_before") na=$(wc -l < "$TMP/compact_after")
        extra=$(comm -13 "$TMP/compact_before" "$TMP/compact_after" | wc -l)
        # Each key's latest line before: the highest offset per key.
        sed 's/^| offset: \([0-9]*\) .* key: \([^ ]*\) .*/\1 \2/' "$TMP/compact_before" |
            sort -k2,2 -k1,1n | awk '{ last[$2] = $1 } END { for (k in last) print last[k] }' |
            sort -n > "$TMP/compact_latest"
        sed 's/^| offset: \([0-9]*\) .*/\1/' "$TMP/compact_after" | sort -n > "$TMP/compact_offs"
        missing=$(comm -23 "$TMP/compact_latest" "$TMP/compact_offs" | wc -l)
        if [ "$na" -ge "$nb" ] || [ "$extra" -ne 0 ] || [ "$missing" -ne 0 ]; then
            fail "compacted: $nb records before, $na after, $extra not in the log before, $missing keys' latest missing"
        else
            pass "compacted: Kafka reads $na of $nb records, each one as it was, every key's latest there"
        fi
        "$KLOGCAT" -d "$D" -t c -C -e -f '%o %k %s\n' > "$TMP/compact_klog" 2> /dev/null
        sort -n "$TMP/compact_klog" | cut -d' ' -f1 | cmp -s - "$TMP/compact_offs" &&
            pass "compacted: Kafka and klogcat read the same offsets" ||
            fail "compacted: Kafka and klogcat read different offsets"
        # Batch validity and index checks over the cleaned segments.
        dump_check_sorted "compacted" "$D/c-0" "$TMP/compact_after"
    else
        fail "compacted: klogcat compact failed"
        show "$TMP/compact.out"
    fi
else
    fail "compacted: klogcat could not write the log"
fi

# Producer state: .snapshot, .txnindex and leader-epoch-checkpoint.
D=$TMP/txn
if ! "$KLOG_BUILD/test/txn_gen" "$D" > "$TMP/txn.exp" 2> "$TMP/txn.err"; then
    fail "producer state: txn_gen"
    show "$TMP/txn.err"
else
    d=$D/x-0
    kafka_tool kafka.tools.DumpLogSegments --deep-iteration --print-data-log \
        --files "$(files_of "$d" .log)" > "$TMP/txn.log.out" 2> "$TMP/txn.log.err"
    rc=$?
    nb=$(grep -c '^baseOffset: ' "$TMP/txn.log.out")
    if [ $rc -ne 0 ] || [ -s "$TMP/txn.log.err" ] || grep -q 'isvalid: false\|invalid bytes' "$TMP/txn.log.out" ||
        [ "$nb" -lt 240 ]; then
        fail "producer state: DumpLogSegments over the transactional log (exit $rc, $nb batches)"
        show "$TMP/txn.log.err"
    else
        pass "producer state: Kafka reads $nb valid batches (idempotent, transactional, markers)"
    fi
    # The markers Kafka decodes are the ones written.
    sed -n 's/^| offset: \([0-9]*\) .*endTxnMarker: \([A-Z]*\) .*/\2 \1/p' "$TMP/txn.log.out" |
        tr 'A-Z' 'a-z' > "$TMP/txn.markers"
    awk '$1 == "abort" { print "abort", $3 } $1 == "commit" { print "commit", $2 }' "$TMP/txn.exp" |
        cmp -s - "$TMP/txn.markers" &&
        pass "producer state: Kafka decodes the $(wc -l < "$TMP/txn.markers") COMMIT/ABORT markers written" ||
        fail "producer state: markers Kafka decodes differ from those written"
    # Batches as "base last pid lastseq txn control epoch", offset order.
    grep '^baseOffset: ' "$TMP/txn.log.out" | awk '{
        for (i = 1; i < NF; i++) f[$i] = $(i + 1)
        print f["baseOffset:"], f["lastOffset:"], f["producerId:"], f["lastSequence:"],
              f["isTransactional:"], f["isControl:"], f["partitionLeaderEpoch:"] }' > "$TMP/txn.batches"

    # .snapshot: each producer's last batch below the snapshot's offset.
    snaps=$(files_of "$d" .snapshot)
    nsnap=$(echo "$snaps" | tr ',' '\n' | grep -c .)
    kafka_tool kafka.tools.DumpLogSegments --files "$snaps" > "$TMP/snap.out" 2> "$TMP/snap.err"
    rc=$?
    bad=0
    nent=0
    for f in $(echo "$snaps" | tr ',' ' '); do
        so=$(basename "$f" .snapshot | sed 's/^0*//; s/^$/0/')
        awk -v s="$so" '$2 < s && $3 >= 0 && $6 == "false" { seq[$3] = $4; last[$3] = $2
                if ($5 == "true" && !(($3) in txn)) txn[$3] = $1 }
            $2 < s && $6 == "true" { delete txn[$3] }
            END { for (p in last) print p, seq[p], last[p], ((p in txn) ? "OptionalLong[" txn[p] "]" : "OptionalLong.empty") }' \
            "$TMP/txn.batches" | sort > "$TMP/snap.exp"
        awk -v f="Dumping $f" '$0 == f { on = 1; next } /^Dumping / { on = 0 }
            on && /^producerId: / { for (i = 1; i < NF; i++) g[$i] = $(i + 1)
                print g["producerId:"], g["lastSequence:"], g["lastOffset:"], g["currentTxnFirstOffset:"] }' \
            "$TMP/snap.out" | sort > "$TMP/snap.got"
        nent=$((nent + $(wc -l < "$TMP/snap.got")))
        cmp -s "$TMP/snap.exp" "$TMP/snap.got" || { bad=$((bad + 1)); diff "$TMP/snap.exp" "$TMP/snap.got" | head -4 >> "$TMP/snap.diff"; }
    done
    if [ $rc -ne 0 ] || [ -s "$TMP/snap.err" ] || [ "$nsnap" -lt 2 ] || [ $bad -ne 0 ]; then
        fail "producer state: $bad of $nsnap snapshots differ from the log's producer state (exit $rc)"
        show "$TMP/snap.err"
        show "$TMP/snap.diff"
    else
        pass "producer state: Kafka dumps $nsnap .snapshot files, $nent producer entries, each as the log says"
    fi

    # .txnindex: every aborted transaction, in the segment of its marker.
    kafka_tool kafka.tools.DumpLogSegments --files "$(files_of "$d" .txnindex)" > "$TMP/txi.out" 2> "$TMP/txi.err"
    rc=$?
    awk '/^Dumping / { n = split($2, a, "/"); b = a[n]; sub(/\.txnindex$/, "", b); b += 0; next }
        /^version: / { for (i = 1; i < NF; i++) g[$i] = $(i + 1)
            print g["firstOffset:"], g["lastOffset:"], b, g["producerId:"], g["version:"] }' "$TMP/txi.out" |
        sort -n > "$TMP/txi.got"
    bases=$(ls "$d"/*.log | sed 's:.*/::; s/\.log$//; s/^0*//; s/^$/0/')
    awk '$1 == "abort" { print $2, $3 }' "$TMP/txn.exp" | while read -r first last; do
        seg=0
        for b in $bases; do [ "$b" -le "$last" ] && seg=$b; done
        echo "$first $last $seg 2000 0"
    done | sort -n > "$TMP/txi.exp"
    if [ $rc -eq 0 ] && [ ! -s "$TMP/txi.err" ] && [ -s "$TMP/txi.exp" ] && cmp -s "$TMP/txi.exp" "$TMP/txi.got"; then
        pass "producer state: Kafka dumps $(wc -l < "$TMP/txi.got") aborted transactions from $(ls "$d"/*.txnindex | wc -l) .txnindex files, each where its marker is"
    else
        fail "producer state: .txnindex entries differ (exit $rc)"
        { diff "$TMP/txi.exp" "$TMP/txi.got" | head -6; cat "$TMP/txi.err"; } | show /dev/stdin
    fi

    # leader-epoch-checkpoint: version 0, count, then the first offset of
    # each epoch as Kafka reads the batches' partitionLeaderEpoch.
    awk '$7 >= 0 && $7 > e { print $7, $1; e = $7 } BEGIN { e = -1 }' "$TMP/txn.batches" > "$TMP/lec.exp"
    { echo 0; wc -l < "$TMP/lec.exp"; cat "$TMP/lec.exp"; } > "$TMP/lec.file"
    if cmp -s "$TMP/lec.file" "$d/leader-epoch-checkpoint" && [ "$(wc -l < "$TMP/lec.exp")" -eq 3 ] &&
        awk '$1 == "epoch" { print $2, $3 }' "$TMP/txn.exp" | cmp -s - "$TMP/lec.exp"; then
        pass "producer state: leader-epoch-checkpoint lists epochs $(cut -d' ' -f1 "$TMP/lec.exp" | paste -sd' ') at the offsets Kafka reads them from"
    else
        fail "producer state: leader-epoch-checkpoint differs from the epochs in Kafka's dump"
        { diff "$TMP/lec.file" "$d/leader-epoch-checkpoint"; } | show /dev/stdin
    fi
fi

finish
