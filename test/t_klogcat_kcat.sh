#!/bin/sh
# t_klogcat_kcat.sh — klogcat as a kcat user expects it (issue 20), each
# case the one the issue quotes: FILE arguments are one record each and -l
# splits them; -D -k -T -Z -q -u -E, -c when producing, -p -1, -o stored,
# -o e@TIMESTAMP, -L -t TOPIC, %R and \xNN in -f; -P splits batches to fit
# segment.bytes and honours the topic's compression.type; -C -o 15 over
# partitions of which one is shorter; wrong directories ("not a libklog log
# directory", no initialising a foreign non-empty directory without
# --force); EFBIG under `ulimit -f` instead of SIGXFSZ; dump of klog.state,
# registry offset and topic files and klog.topics with named values; a
# progress line only on a terminal. Exit 0 pass, 77 skip, else fail.
set -u

B=${KLOG_BUILD:-build}
K=$B/klogcat
if [ ! -x "$K" ]; then
    echo "SKIP: $K is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_klogcat_kcat.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
D=$T/log
NFAIL=0
NCHECK=0

fail() {
    echo "FAIL: $*"
    NFAIL=$((NFAIL + 1))
}
ok() { NCHECK=$((NCHECK + 1)); }

# expect_rc WANT DESCRIPTION CMD...: stdout to $T/out, stderr to $T/err.
expect_rc() {
    want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$what: exit $rc, expected $want"
        sed 's/^/    out: /' "$T/out" | head -10
        sed 's/^/    err: /' "$T/err" | head -10
        return 1
    fi
    ok
}
same_file() {
    if cmp -s "$2" "$3"; then ok; else
        fail "$1: output differs"
        diff "$2" "$3" | head -10 | sed 's/^/    /'
    fi
}
contains() {
    if grep -q -e "$3" "$2"; then ok; else
        fail "$1: '$3' not found"
        head -10 "$2" | sed 's/^/    /'
    fi
}
lacks() {
    if grep -q -e "$3" "$2"; then
        fail "$1: '$3' found"
        head -10 "$2" | sed 's/^/    /'
    else ok; fi
}

# ------------------------------------------------ FILE arguments and -l
"$K" -d "$D" -t f --create >/dev/null 2>&1 || fail "create f"
printf 'one\ntwo\n' >"$T/f1"
printf 'three\n' >"$T/f2"
expect_rc 0 "-P FILE: each file is one record" "$K" -d "$D" -t f -P "$T/f1" "$T/f2"
expect_rc 0 "consume f" "$K" -d "$D" -t f -C -e -f '[%s]'
printf '[one\ntwo\n][three\n]' >"$T/exp"
same_file "-P FILE is one record per file (kcat)" "$T/exp" "$T/out"
expect_rc 0 "-P -l FILE: split into lines" "$K" -d "$D" -t f -P -l "$T/f1"
expect_rc 0 "consume -o 2" "$K" -d "$D" -t f -C -e -o 2 -f '[%s]'
printf '[one][two]' >"$T/exp"
same_file "-l splits a file by lines" "$T/exp" "$T/out"

# ----------------------------------------------- -D -k -T -Z -c -p -1 -u
expect_rc 0 "create k" "$K" -d "$D" -t k --create -N 2
expect_rc 0 "-D , -k KEY -T -p -1" sh -c "printf 'a,b,,c' | '$K' -d '$D' -t k -P -D , -k KEY -T -p -1"
printf 'a,b,,c,' >"$T/exp"
same_file "-T echoes what is produced" "$T/exp" "$T/out"
expect_rc 0 "consume k" "$K" -d "$D" -t k -C -e -p 0 -f '%k=%s;'
expect_rc 0 "consume k1" "$K" -d "$D" -t k -C -e -p 1 -f '%k=%s;'
cat "$T/out" >>"$T/k"
"$K" -d "$D" -t k -C -e -p 0 -f '%k=%s;' >>"$T/k" 2>/dev/null
printf 'KEY=a;KEY=b;KEY=;KEY=c;' >"$T/exp"
same_file "-k keys every record, -D splits (all under one key: one partition)" "$T/exp" "$T/k"
expect_rc 0 "create z" "$K" -d "$D" -t z --create
expect_rc 0 "-Z: empty values are null" sh -c "printf 'x\n\ny\n' | '$K' -d '$D' -t z -P -Z -c 2 -u"
expect_rc 0 "consume -Z" "$K" -d "$D" -t z -C -e -Z -f '%s/%S %k\n'
printf 'x/1 NULL\nNULL/-1 NULL\n' >"$T/exp"
same_file "-Z stores null and prints NULL; -c 2 stops after two records" "$T/exp" "$T/out"
expect_rc 0 "-K with -D on output" "$K" -d "$D" -t k -C -e -o 0 -c 2 -K : -D '\x7c' -u
printf 'KEY:a|KEY:b|' >"$T/exp"
same_file "-K : -D '\\x7c'" "$T/exp" "$T/out"
expect_rc 0 "%R and \\xNN in -f" "$K" -d "$D" -t k -C -e -o 0 -c 1 -f '%R\x41'
printf '\000\000\000\001A' >"$T/exp"
same_file "%R is the value size, 4 bytes big-endian" "$T/exp" "$T/out"

# ---------------------------------------------------------- -L -t, -o forms
expect_rc 0 "-L -t TOPIC" "$K" -d "$D" -L -t z
contains "-L -t lists that topic" "$T/out" "^z  "
lacks "-L -t lists no other topic" "$T/out" "^f  "
expect_rc 1 "-L -t missing topic" "$K" -d "$D" -L -t nope
expect_rc 0 "create ts" "$K" -d "$D" -t ts --create
printf 'early\n' | "$K" -d "$D" -t ts -P || fail "produce early"
t1=$("$K" -d "$D" -t ts -C -e -f '%T')
sleep 1
printf 'late\n' | "$K" -d "$D" -t ts -P || fail "produce late"
expect_rc 0 "-o e@TIMESTAMP" "$K" -d "$D" -t ts -C -o beginning -o "e@$((t1 + 1))"
printf 'early\n' >"$T/exp"
same_file "-o e@ stops before the first later record (and exits without -e)" "$T/exp" "$T/out"
expect_rc 2 "-o stored without -G" "$K" -d "$D" -t ts -C -e -o stored
contains "-o stored names -G" "$T/err" "give -G GROUP"
expect_rc 0 "-o stored with -G" "$K" -d "$D" -C -G g -R "dir:$T/reg" -o stored -e -t ts
printf 'early\nlate\n' >"$T/exp"
same_file "-o stored: committed offsets, none yet: from the beginning" "$T/exp" "$T/out"

# --------------------------------------- -P fits segment.bytes, compression
expect_rc 0 "create s (-X segment.bytes=4096)" "$K" -d "$D" -t s --create -X segment.bytes=4096
expect_rc 0 "seq 1 1000 | klogcat -P" sh -c "seq 1 1000 | '$K' -d '$D' -t s -P"
expect_rc 0 "consume s" "$K" -d "$D" -t s -C -e
seq 1 1000 >"$T/exp"
same_file "every record appended, batches split to fit a segment" "$T/exp" "$T/out"
if "$K" -d "$D" -L -t s | awk 'NR == 2 { exit !($6 >= 3) }'; then ok; else fail "segment.bytes=4096 gave fewer than 3 segments"; fi
if [ "$("$K" -J -d "$D" -L -t s 2>/dev/null | grep -c .)" -eq 1 ]; then ok; else fail "-L -J"; fi
expect_rc 1 "a record larger than a segment" sh -c "head -c 5000 /dev/zero | tr '\\000' x | '$K' -d '$D' -t s -P"
contains "too-large message" "$T/err" "cannot fit in one batch"
if "$B/klogcat" --version >/dev/null && "$K" -d "$D" -t c --create -X compression.type=lz4 >/dev/null 2>&1; then
    seq 1 20 | "$K" -d "$D" -t c -P || fail "produce c"
    expect_rc 0 "dump c" "$K" dump "$D/c-0/00000000000000000000.log"
    contains "the topic's compression.type is honoured without -z" "$T/out" "compresscodec: lz4"
    seq 1 20 | "$K" -d "$D" -t c -P -z none || fail "produce c -z none"
    expect_rc 0 "dump c again" "$K" dump "$D/c-0/00000000000000000000.log"
    contains "-z overrides compression.type" "$T/out" "compresscodec: none"
else
    fail "create c with compression.type=lz4"
fi

# ------------------------------------------------------------- -C -o 15
expect_rc 0 "create m" "$K" -d "$D" -t m --create -N 2
seq 1 20 | "$K" -d "$D" -t m -P -p 0 || fail "produce m-0"
seq 1 5 | "$K" -d "$D" -t m -P -p 1 || fail "produce m-1"
expect_rc 0 "-C -o 15 with a partition of 5 records" "$K" -d "$D" -t m -C -e -o 15 -f '%p:%s\n'
printf '0:16\n0:17\n0:18\n0:19\n0:20\n' >"$T/exp"
same_file "-o 15: the long partition is consumed" "$T/exp" "$T/out"
contains "-o 15: the short partition says why" "$T/err" "m-1: offset 15 is out of range .*starts at its end"
expect_rc 1 "-p 1 -o 15 is an error" "$K" -d "$D" -t m -C -e -p 1 -o 15

# -E: a partition that fails is dropped, the others are consumed.
E=$T/elog # damaged on purpose: a log of its own
expect_rc 0 "create e" "$K" -d "$E" -t e --create -N 2
seq 1 30 | "$K" -d "$E" -t e -P -p 0 || fail "produce e-0"
seq 1 30 | "$K" -d "$E" -t e -P -p 1 || fail "produce e-1"
printf 'X' | dd of="$E/e-0/00000000000000000000.log" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_rc 1 "-E: exit 1 after the damaged partition" "$K" -d "$E" -t e -C -e -E -f '%p\n'
if [ "$(grep -c '^1$' "$T/out")" -eq 30 ]; then ok; else fail "-E: partition 1 not consumed"; fi
contains "-E message" "$T/err" "going on without this partition"

# ------------------------------------------------------ wrong directories
expect_rc 1 "klogcat -d /etc -L" "$K" -d /etc -L
contains "/etc is refused" "$T/err" "not a libklog log directory"
[ -s "$T/out" ] && fail "-L on /etc printed a table" || ok
expect_rc 1 "-L on a partition directory" "$K" -d "$D/m-0" -L
contains "partition directory is refused" "$T/err" "not a libklog log directory: it is one partition's directory"
mkdir "$T/foreign"
echo keep >"$T/foreign/notes.txt"
expect_rc 1 "--create in a foreign non-empty directory" "$K" -d "$T/foreign" -t x --create
contains "foreign directory refused" "$T/err" "refusing to initialise"
if [ "$(ls "$T/foreign")" = notes.txt ]; then ok; else fail "files written into the foreign directory: $(ls "$T/foreign")"; fi
expect_rc 0 "--create --force" "$K" -d "$T/foreign" -t x --create --force
expect_rc 0 "-L after --force" "$K" -d "$T/foreign" -L
mkdir "$T/empty"
expect_rc 0 "--create in an empty directory" "$K" -d "$T/empty" -t x --create
expect_rc 0 "--create in a new directory" "$K" -d "$T/new" -t x --create

# ------------------------------------------------------------ ulimit -f
expect_rc 0 "create big" "$K" -d "$D" -t big --create -X segment.index.bytes=1024
sh -c "ulimit -f 20; seq 1 100000 | '$K' -d '$D' -t big -P" >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 1 ]; then ok; else fail "ulimit -f: exit $rc, expected 1 (not killed by SIGXFSZ)"; fi
contains "EFBIG reported" "$T/err" "File too large"

# ---------------------------------------------------------------- dump
expect_rc 0 "dump klog.state" "$K" dump "$D/m-1/klog.state"
contains "klog.state fields" "$T/out" "^high_watermark: 5$"
contains "klog.state log end" "$T/out" "^log_end: 5$"
expect_rc 0 "dump a registry offset file" "$K" dump "$T/reg/groups/g/offsets/ts/0"
contains "registry offset" "$T/out" "^offset: 2$"
contains "registry offset names the group" "$T/out" "^group: g$"
expect_rc 0 "dump a registry topic file" "$K" dump "$T/reg/topics/ts"
contains "registry topic" "$T/out" "^partitions: 1$"
expect_rc 0 "dump klog.topics" "$K" dump "$D/klog.topics"
contains "klog.topics names codecs" "$T/out" "^topic: c partitions: 1 compression.type=lz4"

# ------------------------------------------------------------ progress
expect_rc 0 "no progress when stderr is not a terminal" sh -c "seq 1 10 | '$K' -d '$D' -t f -P"
[ -s "$T/err" ] && fail "progress written to a non-terminal: $(cat "$T/err")" || ok
if command -v script >/dev/null 2>&1; then
    script -qc "seq 1 10 | '$K' -d '$D' -t f -P" /dev/null >"$T/tty" 2>&1 </dev/null
    contains "-P progress on a terminal" "$T/tty" "records appended (.* MiB), done"
    script -qc "'$K' dump '$D/s-0/00000000000000000000.log' >/dev/null" /dev/null >"$T/tty" 2>&1 </dev/null
    contains "dump progress on a terminal" "$T/tty" "MiB, done"
    script -qc "seq 1 10 | '$K' -d '$D' -t f -P -q" /dev/null >"$T/tty" 2>&1 </dev/null
    lacks "-q: no progress" "$T/tty" "records appended"
else
    echo "script(1) missing: terminal progress not checked"
fi

# ------------------------------------------------------------- --help
expect_rc 0 "--help" "$K" --help
contains "--help says -d differs from kcat" "$T/out" "-d is the log directory"
contains "--help says -X differs from kcat" "$T/out" "-X NAME=VALUE is topic configuration"

# ------------------------- every flag in the man page, README and --help
root=$(cd "$(dirname "$0")/.." && pwd)
man=$root/examples/klogcat/klogcat.1
sed -n '/^## Command-line tool: klogcat/,/^## On-disk format/p' "$root/README.md" >"$T/readme"
{
    "$K" --help
    for m in -L -P -C --create --delete --alter --delete-records --retention --stats \
        --groups --describe --reset-offsets --delete-group; do "$K" $m --help; done
    "$K" dump --help
    "$K" verify --help
} >"$T/help" 2>&1
opts=$(sed -n 's/.*getopt_long(ac, av, "\([^"]*\)".*/\1/p' "$root/examples/klogcat/main.c" | tr -d ':')
[ -n "$opts" ] || fail "no getopt option string found in main.c"
longs=$(sed -n 's/^ *{"\([a-z-]*\)", \(no\|required\)_argument.*/\1/p' "$root/examples/klogcat/main.c")
[ -n "$longs" ] || fail "no long options found in main.c"
for c in $(echo "$opts" | fold -w1); do
    grep -q -e "\\\\-$c\\b" "$man" || grep -q -e "^\.B[IR]* \\\\-$c" "$man" || fail "klogcat.1 does not document -$c"
    [ "$c" = h ] && continue
    grep -q -e "-$c\\b" "$T/readme" || fail "README's klogcat section does not list -$c"
    grep -q -e "-$c\\b" "$T/help" || fail "--help does not mention -$c"
done
for l in $longs; do
    man_l=$(echo "$l" | sed 's/-/\\\\-/g')
    grep -q -e "\\\\-\\\\-$man_l" "$man" || fail "klogcat.1 does not document --$l"
    case $l in help | version) continue ;; esac
    grep -q -e "--$l" "$T/readme" || fail "README's klogcat section does not list --$l"
    grep -q -e "--$l" "$T/help" || fail "--help does not mention --$l"
done
ok

echo "$NCHECK checks passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]
