#!/bin/sh
# t_klogcat.sh — end-to-end test of the klogcat tool ($KLOG_BUILD/klogcat):
# topic admin, produce (keys, headers, lz4, whole binary files), consume
# (formats, JSON, every -o form, -c, -e), following a writer that lives in
# another process, dump of every file type, verify on a clean and on a
# corrupted log, usage errors (group mode -G: t_klogcat_group.sh). Exit 0
# pass, 77 skip, anything else fail.
set -u

B=${KLOG_BUILD:-build}
K=$B/klogcat
if [ ! -x "$K" ]; then
    echo "SKIP: $K is not built"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/t_klogcat.XXXXXX") || exit 1
BGPIDS=""
cleanup() {
    for p in $BGPIDS; do kill "$p" 2>/dev/null; done
    exec 3>&-
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
D=$T/log
NFAIL=0
NCHECK=0

fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}
ok() { NCHECK=$((NCHECK + 1)); }

# expect_rc WANT DESCRIPTION CMD...: run CMD (stdout to $T/out, stderr to
# $T/err) and compare its exit status.
expect_rc() {
    want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$what: exit $rc, expected $want"
        sed 's/^/    out: /' "$T/out" | head -20
        sed 's/^/    err: /' "$T/err" | head -20
        return 1
    fi
    ok
    return 0
}

# same_file DESCRIPTION EXPECTED ACTUAL
same_file() {
    if cmp -s "$2" "$3"; then
        ok
    else
        fail "$1: output differs"
        diff "$2" "$3" | head -20 | sed 's/^/    /'
    fi
}

# contains DESCRIPTION FILE PATTERN (grep basic regex)
contains() {
    if grep -q -e "$3" "$2"; then
        ok
    else
        fail "$1: '$3' not found"
        head -30 "$2" | sed 's/^/    /'
    fi
}

# wait_for FILE PATTERN SECONDS: poll until FILE has PATTERN.
wait_for() {
    n=0
    while [ $n -lt $(($3 * 10)) ]; do
        grep -q -e "$2" "$1" 2>/dev/null && return 0
        sleep 0.1 2>/dev/null || sleep 1
        n=$((n + 1))
    done
    return 1
}

# flip_byte FILE POSITION: change one byte in place.
flip_byte() {
    old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    new=$(((old + 1) % 256))
    printf "\\$(printf %o "$new")" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# --------------------------------------------------------------- usage errors
expect_rc 2 "no arguments" "$K"
expect_rc 2 "unknown option" "$K" -d "$D" -L -Q
expect_rc 2 "two modes" "$K" -d "$D" -L -C -t x
expect_rc 2 "option of another mode" "$K" -d "$D" -L -c 5
expect_rc 2 "bad -o" "$K" -d "$D" -t x -C -o sideways
expect_rc 2 "bad -p" "$K" -d "$D" -t x -C -p -3
expect_rc 2 "missing -t" "$K" -d "$D" -C
expect_rc 2 "bad topic name" "$K" -d "$D" -t 'a/b' -C
expect_rc 2 "bad -z" "$K" -d "$D" -t x -P -z nonsense
expect_rc 2 "bad -f code" "$K" -d "$D" -t x -C -f '%q'
expect_rc 2 "-H without =" "$K" -d "$D" -t x -P -H novalue
expect_rc 2 "dump without file" "$K" dump
expect_rc 2 "verify without dir" "$K" verify
expect_rc 2 "-G without -R" "$K" -d "$D" -G grp -t x -C && contains "-G message" "$T/err" "needs -R"
expect_rc 0 "--help" "$K" --help && contains "--help text" "$T/out" "Usage: klogcat"
expect_rc 0 "-C --help" "$K" -C --help && contains "-C --help text" "$T/out" "s@TIMESTAMP"
expect_rc 0 "dump --help" "$K" dump --help && contains "dump --help text" "$T/out" "--records"
expect_rc 1 "consume from a missing directory" "$K" -d "$T/nothing" -t x -C -e

# ------------------------------------------------------------ topics, produce
expect_rc 0 "create t1" "$K" -d "$D" -t t1 --create -N 1
expect_rc 1 "create t1 twice" "$K" -d "$D" -t t1 --create -N 1
expect_rc 1 "produce to a missing topic" sh -c "echo x | '$K' -d '$D' -t nope -P"
expect_rc 0 "list" "$K" -d "$D" -L && contains "list shows t1" "$T/out" "^t1  *0 "
expect_rc 0 "list -J" "$K" -d "$D" -L -J && contains "list -J" "$T/out" '"topic":"t1","partitions":\[{"partition":0,"log_start":0,'

printf 'k1:v1\nk2:v2\nnokey\n:emptykey\n' >"$T/in1"
expect_rc 0 "produce keyed lines" sh -c "'$K' -d '$D' -t t1 -P -K : -H a=1 -H b=2 <'$T/in1'"
if [ -s "$T/out" ] || [ -s "$T/err" ]; then fail "produce printed something"; fi
printf 'q\t"x"\\y\nplain\n' | "$K" -d "$D" -t t1 -P -z lz4 -H c=3 || fail "produce lz4"

cat >"$T/exp" <<'EOF'
t1 0 0 [k1] [v1] [a=1,b=2] 2 2
t1 0 1 [k2] [v2] [a=1,b=2] 2 2
t1 0 2 [] [nokey] [a=1,b=2] 5 -1
t1 0 3 [] [emptykey] [a=1,b=2] 8 0
t1 0 4 [] [q	"x"\y] [c=3] 7 -1
t1 0 5 [] [plain] [c=3] 5 -1
EOF
expect_rc 0 "consume -f" "$K" -d "$D" -t t1 -C -e -f '%t %p %o [%k] [%s] [%h] %S %K\n'
same_file "consume -f" "$T/exp" "$T/out"

printf 'v1\nv2\nnokey\nemptykey\nq\t"x"\\y\nplain\n' >"$T/exp"
expect_rc 0 "consume default format" "$K" -d "$D" -t t1 -C -e
same_file "default format" "$T/exp" "$T/out"

printf 'k1=v1\nk2=v2\n' >"$T/exp"
expect_rc 0 "consume -K" "$K" -d "$D" -t t1 -C -e -c 2 -K =
same_file "consume -K" "$T/exp" "$T/out"

cat >"$T/exp" <<'EOF'
{"topic":"t1","partition":0,"offset":0,"tstype":"create","ts":TS,"headers":["a","1","b","2"],"key":"k1","payload":"v1"}
{"topic":"t1","partition":0,"offset":2,"tstype":"create","ts":TS,"headers":["a","1","b","2"],"key":null,"payload":"nokey"}
{"topic":"t1","partition":0,"offset":4,"tstype":"create","ts":TS,"headers":["c","3"],"key":null,"payload":"q\t\"x\"\\y"}
EOF
"$K" -d "$D" -t t1 -C -e -J >"$T/json" 2>"$T/err" || fail "consume -J"
sed -n '1p;3p;5p' "$T/json" | sed 's/"ts":[0-9]*/"ts":TS/' >"$T/out"
same_file "consume -J" "$T/exp" "$T/out"

# The timestamps are the produce time (ms).
now=$(date +%s)
ts=$("$K" -d "$D" -t t1 -C -e -c 1 -f '%T')
case $ts in
*[!0-9]* | "") fail "timestamp '%T' not a number: $ts" ;;
*) if [ $((ts / 1000)) -lt $((now - 600)) ] || [ $((ts / 1000)) -gt $((now + 5)) ]; then
    fail "timestamp $ts far from now ($now)"; else ok; fi ;;
esac

# ------------------------------------------------------- binary-safe records
expect_rc 0 "create blobs" "$K" -d "$D" -t blobs --create -N 1
head -c 3000 /dev/urandom >"$T/bin1"
printf '\000\n\n\000end\n' >>"$T/bin1"
head -c 1000 /dev/urandom >>"$T/bin1"
printf '\n\000' >"$T/bin2"
: >"$T/bin3"
expect_rc 0 "produce -l" "$K" -d "$D" -t blobs -P "$T/bin1" "$T/bin2" "$T/bin3"
for i in 1 2 3; do
    "$K" -d "$D" -t blobs -C -o $((i - 1)) -c 1 -f '%s' >"$T/got$i" 2>"$T/err" || fail "consume blob $i"
    if cmp -s "$T/bin$i" "$T/got$i"; then ok; else fail "blob $i differs after the round trip"; fi
done
expect_rc 0 "blob sizes" "$K" -d "$D" -t blobs -C -e -f '%S %K\n'
printf '%s -1\n2 -1\n0 -1\n' "$(wc -c <"$T/bin1" | tr -d ' ')" >"$T/exp"
same_file "blob sizes" "$T/exp" "$T/out"

# ----------------------------------------------------------------- -o and -c
expect_rc 0 "create o" "$K" -d "$D" -t o --create
i=0
: >"$T/m"
while [ $i -lt 10 ]; do echo "m$i" >>"$T/m"; i=$((i + 1)); done
expect_rc 0 "produce m0..m9" "$K" -d "$D" -t o -P -l "$T/m"
expect_rc 0 "-o beginning" "$K" -d "$D" -t o -C -e -o beginning
same_file "-o beginning" "$T/m" "$T/out"
expect_rc 0 "-o end" "$K" -d "$D" -t o -C -e -o end
if [ -s "$T/out" ]; then fail "-o end printed records"; else ok; fi
printf 'm7\nm8\nm9\n' >"$T/exp"
expect_rc 0 "-o 7" "$K" -d "$D" -t o -C -e -o 7
same_file "-o 7" "$T/exp" "$T/out"
expect_rc 0 "-o -3" "$K" -d "$D" -t o -C -e -o -3
same_file "-o -3" "$T/exp" "$T/out"
printf 'm0\nm1\n' >"$T/exp"
expect_rc 0 "-c 2" "$K" -d "$D" -t o -C -c 2
same_file "-c 2" "$T/exp" "$T/out"
expect_rc 1 "-o past the end" "$K" -d "$D" -t o -C -e -o 100
contains "-o past the end message" "$T/err" "out of range"
last_ts=$("$K" -d "$D" -t o -C -e -o -1 -f '%T')
sleep 1
printf 'n0\nn1\nn2\n' | "$K" -d "$D" -t o -P || fail "produce n0..n2"
printf 'n0\nn1\nn2\n' >"$T/exp"
expect_rc 0 "-o s@TS" "$K" -d "$D" -t o -C -e -o "s@$((last_ts + 1))"
same_file "-o s@TS" "$T/exp" "$T/out"
expect_rc 0 "-o s@0" "$K" -d "$D" -t o -C -e -o s@0 -c 1
printf 'm0\n' >"$T/exp"
same_file "-o s@0" "$T/exp" "$T/out"

# ----------------------------------------------------- several partitions
expect_rc 0 "create mp" "$K" -d "$D" -t mp --create -N 3
i=0
: >"$T/mp"
while [ $i -lt 60 ]; do echo "key$i:val$i" >>"$T/mp"; i=$((i + 1)); done
expect_rc 0 "produce keyed to 3 partitions" "$K" -d "$D" -t mp -P -l -K : "$T/mp"
expect_rc 0 "produce again" "$K" -d "$D" -t mp -P -l -K : "$T/mp"
expect_rc 0 "consume all partitions" "$K" -d "$D" -t mp -C -e -f '%k:%s %p\n'
cut -d' ' -f1 "$T/out" | sort >"$T/got"
{ cat "$T/mp"; cat "$T/mp"; } | sort >"$T/exp"
same_file "all partitions hold every record" "$T/exp" "$T/got"
sort -u "$T/out" | cut -d' ' -f1 | sort | uniq -d >"$T/dup"
if [ -s "$T/dup" ]; then fail "a key went to two partitions: $(head -3 "$T/dup")"; else ok; fi
nparts=$(cut -d' ' -f2 "$T/out" | sort -u | wc -l)
if [ "$nparts" -eq 3 ]; then ok; else fail "60 keys used $nparts of 3 partitions"; fi
expect_rc 0 "consume -p 1" "$K" -d "$D" -t mp -C -e -p 1 -f '%p\n'
if grep -qv '^1$' "$T/out"; then fail "-p 1 printed other partitions"; else ok; fi
expect_rc 0 "-o -2 per partition" "$K" -d "$D" -t mp -C -e -o -2 -f '%p\n'
if [ "$(wc -l <"$T/out")" -eq 6 ]; then ok; else fail "-o -2 on 3 partitions printed $(wc -l <"$T/out") records"; fi
expect_rc 1 "-p out of range" "$K" -d "$D" -t mp -C -e -p 3
expect_rc 0 "produce -p 2 keyless" sh -c "printf 'a\nb\n' | '$K' -d '$D' -t mp -P -p 2"
expect_rc 0 "consume -p 2 -o -2" "$K" -d "$D" -t mp -C -e -p 2 -o -2
printf 'a\nb\n' >"$T/exp"
same_file "-p 2 produce" "$T/exp" "$T/out"

# ---------------------------------- follow a writer living in another process
expect_rc 0 "create f" "$K" -d "$D" -t f --create -N 2
mkfifo "$T/fifo" || fail "mkfifo"
"$K" -d "$D" -t f -P -p 0 <"$T/fifo" 2>"$T/writer.err" &
WPID=$!
BGPIDS="$BGPIDS $WPID"
exec 3>"$T/fifo"
# Writes to the fifo must not kill this script if the writer died.
to_writer() { (trap '' PIPE; echo "$1" >&3) 2>/dev/null || fail "the fifo writer is gone"; }
to_writer first
"$K" -d "$D" -t f -C -f '%p:%o:%s\n' >"$T/follow.out" 2>"$T/follow.err" 3>&- &
FPID=$!
BGPIDS="$BGPIDS $FPID"
wait_for "$T/follow.out" "^0:0:first$" 10 && ok || fail "follower did not print the first record"
# The writer still holds the log: another read-write open must fail, a
# read-only list must work.
expect_rc 1 "second writer is refused" sh -c "echo no | '$K' -d '$D' -t f -P"
contains "locked message" "$T/err" "locked"
expect_rc 0 "list beside a writer" "$K" -d "$D" -L
to_writer second
wait_for "$T/follow.out" "^0:1:second$" 10 && ok || fail "follower did not print a record appended by the live writer"
exec 3>&-
wait "$WPID" || fail "fifo writer exited non-zero: $(cat "$T/writer.err")"
printf 'other\n' | "$K" -d "$D" -t f -P -p 1 || fail "produce to f-1"
wait_for "$T/follow.out" "^1:0:other$" 10 && ok || fail "follower did not print partition 1"
kill -TERM "$FPID" 2>/dev/null
wait "$FPID"
frc=$?
[ "$frc" -eq 0 ] && ok || fail "follower exit $frc after SIGTERM: $(cat "$T/follow.err")"
BGPIDS=""
printf '0:0:first\n0:1:second\n1:0:other\n' >"$T/exp"
same_file "follow output" "$T/exp" "$T/follow.out"

# ------------------------------------------- segments, indexes, seals, dump
# Small segments so rolls happen: seals and index entries appear. A small
# max.message.bytes also makes one produce run write many batches.
expect_rc 0 "create seg" "$K" -d "$D" -t seg --create -N 1 -X segment.bytes=4096 \
    -X index.interval.bytes=100 -X max.message.bytes=1200
line=$(printf '%0100d' 0)
i=0
: >"$T/chunk"
while [ $i -lt 96 ]; do echo "r$i-$line" >>"$T/chunk"; i=$((i + 1)); done
expect_rc 0 "produce 96 records in small batches" "$K" -d "$D" -t seg -P -l "$T/chunk"
P=$D/seg-0
nseg=$(ls "$P" | grep -c '\.log$')
[ "$nseg" -ge 2 ] && ok || fail "expected several segments in $P, found $nseg"
first=$(ls "$P" | grep '\.log$' | sort | head -1)
stem=$P/${first%.log}
expect_rc 0 "dump .log" "$K" dump "$stem.log"
contains "dump .log header" "$T/out" "^baseOffset: 0 lastOffset: [0-9]* count: [0-9]* .*position: 0 .*compresscodec: none crc: [0-9]* isvalid: true"
nb=$(grep -c '^baseOffset' "$T/out")
[ "$nb" -ge 2 ] && ok || fail "max.message.bytes=1200 should split the input into batches ($nb in the first segment)"
contains "dump .log summary" "$T/out" "batches, .* records"
expect_rc 0 "dump .log --records" "$K" dump "$stem.log" --records
contains "dump --records" "$T/out" "^| offset: 1 CreateTime: [0-9]* keySize: -1 valueSize: 103 .*payload: r1-0000"
expect_rc 0 "dump .index" "$K" dump "$stem.index"
contains "dump .index" "$T/out" "^offset: [0-9]* position: [0-9]*"
expect_rc 0 "dump .timeindex" "$K" dump "$stem.timeindex"
contains "dump .timeindex" "$T/out" "^timestamp: [0-9]* offset: [0-9]*"
if [ -f "$stem.seal" ]; then
    expect_rc 0 "dump .seal" "$K" dump "$stem.seal"
    contains "dump .seal" "$T/out" "^log_size: $(wc -c <"$stem.log" | tr -d ' ')$"
    contains "dump .seal digest" "$T/out" "^log_digest: [0-9a-f]\{16\}$"
else
    fail "rolled segment $stem has no .seal"
fi
expect_rc 0 "dump recovery-point checkpoint" "$K" dump "$D/recovery-point-offset-checkpoint"
contains "dump checkpoint" "$T/out" "^topic: seg partition: 0 offset: 96$"
expect_rc 0 "dump klog.topics" "$K" dump "$D/klog.topics"
contains "dump klog.topics" "$T/out" "^topic: seg partitions: 1 .*segment.bytes=4096"
expect_rc 1 "dump of an unknown file type" "$K" dump "$T/in1"
expect_rc 1 "dump of a missing file" "$K" dump "$T/missing.log"

# ------------------------------------------------------------------ verify
expect_rc 0 "verify clean log" "$K" verify "$D" && contains "verify summary" "$T/out" "0 problem(s)"
expect_rc 0 "verify -t" "$K" verify "$D" -t seg

# Corrupt one byte inside the second batch of the first seg segment.
pos=$("$K" dump "$stem.log" | sed -n 's/.* position: \([0-9]*\) .*/\1/p' | sed -n 2p)
[ -n "$pos" ] && [ "$pos" -gt 0 ] && ok || fail "no second batch position in the dump"
cp "$stem.log" "$T/saved.log"
flip_byte "$stem.log" $((pos + 70))
expect_rc 1 "verify finds the flipped byte" "$K" verify "$D"
contains "verify names file and position" "$T/out" "^$stem.log:$pos: batch CRC mismatch"
contains "verify summary counts problems" "$T/out" "[1-9][0-9]* problem(s)"
if [ -f "$stem.seal" ]; then
    contains "verify checks the seal digest" "$T/out" "^$stem.seal:56: XXH3-64 digest"
fi
expect_rc 1 "dump shows the bad batch" "$K" dump "$stem.log"
contains "dump isvalid false" "$T/out" "position: $pos .*isvalid: false"
contains "dump problem line" "$T/out" "^problem at position $pos: CRC mismatch"
cp "$T/saved.log" "$stem.log"

# A torn tail and a broken index.
cp "$stem.log" "$T/torn.log"
head -c $((pos + 30)) "$T/saved.log" >"$T/torn.log"
expect_rc 1 "dump torn .log" "$K" dump "$T/torn.log"
contains "torn tail reported" "$T/out" "^problem at position $pos: batch of [0-9]* bytes runs past the end"
printf '\000\000\000\001\000\000\000\007\000\000\000\001\000\000\000\011xyz' >"$T/bad.index"
expect_rc 1 "dump bad .index" "$K" dump "$T/bad.index"
contains "bad index order" "$T/out" "^problem at position 8: offset 1 not above"
contains "bad index tail" "$T/out" "^problem at position 16: 3 trailing bytes"
printf 'KLOGSEAL' >"$T/bad.seal"
expect_rc 1 "dump bad .seal" "$K" dump "$T/bad.seal"
contains "bad seal" "$T/out" "^problem at position"
printf '0\n2\nt 0 5\n' >"$T/x-checkpoint"
expect_rc 1 "dump short checkpoint" "$K" dump "$T/x-checkpoint"
contains "bad checkpoint" "$T/out" "^problem at position 10: 1 entries but 2 declared"
expect_rc 0 "verify after restoring" "$K" verify "$D" -t seg

# ---------------------------------------------------------------- delete
expect_rc 0 "delete blobs" "$K" -d "$D" -t blobs --delete
expect_rc 0 "list after delete" "$K" -d "$D" -L
if grep -q '^blobs ' "$T/out"; then fail "deleted topic still listed"; else ok; fi
expect_rc 1 "consume deleted topic" "$K" -d "$D" -t blobs -C -e
expect_rc 1 "delete again" "$K" -d "$D" -t blobs --delete

echo "$NCHECK checks passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]
