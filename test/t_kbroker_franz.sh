#!/bin/sh
# t_kbroker_franz.sh — kbroker with franz-go (test/interop/franz), fetched
# through the Go module proxy by this test (GOFLAGS=-mod=mod, the default
# GOPROXY) into the module cache, built once per source checksum:
#   - a zstd and an uncompressed producer (acks=all), every record acked;
#   - a group member (franz-go's default cooperative-sticky balancer) that
#     reads and commits part of the topic and leaves, then two members at
#     once that share the partitions and resume at the committed offsets:
#     every record read exactly once (but for commits a rebalance overtook:
#     the broker answers a stale generation ILLEGAL_GENERATION, as Kafka
#     does, and the record may be read again), each of the two owning
#     partitions.
# Skipped (77) without Go or when the modules cannot be downloaded.
. "$(dirname "$0")/interop/kbroker_common.sh"

command -v go > /dev/null 2>&1 || skip "go not installed"
SRC=test/interop/franz
sum=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | cksum | cut -d' ' -f1)
mkdir -p "$KLOG_BUILD/interop" || fail "mkdir $KLOG_BUILD/interop"
FRANZ=$(cd "$KLOG_BUILD/interop" && pwd)/franz.$sum
if [ ! -x "$FRANZ" ]; then
    export GOFLAGS=-mod=mod
    (cd "$SRC" && timeout 300 go mod download) > "$TMP/mod.log" 2>&1 ||
        skip "franz-go modules not downloadable: $(tail -1 "$TMP/mod.log")"
    (cd "$SRC" && timeout 300 go build -o "$FRANZ.tmp" .) > "$TMP/build.log" 2>&1 ||
        { cat "$TMP/build.log"; fail "go build of $SRC"; }
    mv "$FRANZ.tmp" "$FRANZ" || fail "mv $FRANZ"
fi

seq_values() {
    awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i < b; i++) print "v" i }' | sort
}

start_broker -N 4 --group-initial-delay 1500

out=$(timeout 120 "$FRANZ" produce "$B" fz 200 zstd 2>&1) || fail "franz produce zstd: $out"
[ "$out" = "sent 200" ] || fail "franz produce zstd: $out"
out=$(timeout 120 "$FRANZ" produce "$B" fz 100 none 200 2>&1) || fail "franz produce: $out"
[ "$out" = "sent 100" ] || fail "franz produce: $out"
# The broker stored what was acked: read it back with kcat when present.
if command -v kcat > /dev/null 2>&1; then
    for p in 0 1 2 3; do kc_consume -t fz -p $p -f '%s\n'; done | sort > "$TMP/kc.txt"
    seq_values 0 300 > "$TMP/want"
    cmp -s "$TMP/kc.txt" "$TMP/want" || fail "kcat reads $(wc -l < "$TMP/kc.txt") of the 300 records franz-go produced"
fi
ok "franz-go produced 300 records (200 zstd), all acknowledged"

timeout 150 "$FRANZ" group "$B" fz fg 120 > "$TMP/a.out" 2> "$TMP/a.err" || { cat "$TMP/a.err"; fail "member a"; }
grep -q '^consumed 120$' "$TMP/a.out" || { tail "$TMP/a.out"; fail "member a did not read 120"; }
grep -q '^assigned 0,1,2,3$' "$TMP/a.out" || { grep -v '^rec' "$TMP/a.out"; fail "member a was not assigned all partitions"; }
ok "a franz-go member read and committed 120 records and left"

timeout 150 "$FRANZ" group "$B" fz fg 1000 5000 > "$TMP/b.out" 2> "$TMP/b.err" &
P1=$!
timeout 150 "$FRANZ" group "$B" fz fg 1000 5000 > "$TMP/c.out" 2> "$TMP/c.err" &
P2=$!
# The ownership checked is the one once everything is read, before either
# leaves (the first to leave hands its partitions to the other).
i=0
until [ "$(cat "$TMP/a.out" "$TMP/b.out" "$TMP/c.out" | grep -c '^rec ')" -ge 300 ]; do
    i=$((i + 1))
    [ $i -lt 1200 ] || break
    sleep 0.1
done
nb=$(wc -l < "$TMP/b.out")
nc=$(wc -l < "$TMP/c.out")
wait $P1 || { cat "$TMP/b.err"; fail "member b"; }
wait $P2 || { cat "$TMP/c.err"; fail "member c"; }
seq_values 0 300 > "$TMP/want"
once_or_uncommitted "$TMP/want" "$TMP/a.out" "$TMP/b.out" "$TMP/c.out" ||
    fail "the three members did not read each record exactly once ($(wc -l < "$TMP/got") read)"
for m in b c; do
    grep -q '^assigned [0-9]' "$TMP/$m.out" || { cat "$TMP/$m.out" | grep -v '^rec'; fail "member $m was given no partition"; }
done
# The two members' assignments when they leave are disjoint and cover the
# topic.
last_parts() {
    # partitions owned after its first $2 lines (or when leaving): every
    # assigned minus every revoked
    awk -v lim="$2" 'NR > lim || $1 == "leaving" { exit } $1 == "assigned" || $1 == "revoked" { n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] != "-") own[a[i]] = ($1 == "assigned") }
         END { for (p in own) if (own[p]) print p }' "$1" | sort
}
last_parts "$TMP/b.out" "$nb" > "$TMP/b.parts"
last_parts "$TMP/c.out" "$nc" > "$TMP/c.parts"
[ -s "$TMP/b.parts" ] && [ -s "$TMP/c.parts" ] || fail "a member ended with no partition: b=$(tr '\n' ' ' < "$TMP/b.parts") c=$(tr '\n' ' ' < "$TMP/c.parts")"
[ "$(sort "$TMP/b.parts" "$TMP/c.parts" | tr '\n' ' ')" = "0 1 2 3 " ] ||
    fail "the members' partitions overlap or miss some: b=$(tr '\n' ' ' < "$TMP/b.parts") c=$(tr '\n' ' ' < "$TMP/c.parts")"
ok "two franz-go members shared the partitions and resumed at the committed offsets: 300 records once each ($(wc -l < "$TMP/unc") commits overtaken by a rebalance)"

stop_broker
echo "t_kbroker_franz: all passed"
