#!/bin/sh
# t_detect_rebuild.sh — the build notices packages installed or removed
# after a first build, and rebuilds exactly what uses them.
#
# The Makefile writes what it detected into generated headers under
# BUILD/gen (klog_codecs.h, klog_zookeeper.h, bench_peers.h), rewriting each
# only when its text changes. KLOG_DETECT_OFF="zstd ..." makes detection
# report a package as absent, which is what a machine without it looks like
# to the build. In a scratch build tree (the real one is never touched):
#   1. a library built with zstd "absent" says
#      klog_compression_supported(ZSTD) == 0;
#   2. a dry run with zstd present again lists compression.c (both objects)
#      and the shared library, and neither crc32c.c nor registry_zk.c; one
#      with a benchmark peer gone (LMDB, SQLite or RocksDB, whichever is
#      installed) lists bench_peers and no library object;
#   3. `make lib` with zstd present recompiles exactly compression.c, and
#      the same program now says 1, without `make clean`;
#   4. a second `make lib` compiles nothing.
# Exit 0 pass, 77 skip (reason on the last line).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-cc}
skip() { echo "$*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# 0. Feature macros are always 0 or 1 and tested with #if, so a file that
#    forgets its generated header fails to build (-Werror=undef) instead of
#    quietly building without the feature; #ifdef would hide that.
bad=$(cd "$root" && grep -nE '^[[:space:]]*#[[:space:]]*(ifdef|ifndef)[[:space:]]+(KLOG|BENCH)_HAVE_|defined[[:space:]]*\(?[[:space:]]*(KLOG|BENCH)_HAVE_' \
      lib/*/*.[ch] test/*.c test/*/*.[ch] bench/*.[ch] examples/*.c examples/*/*.[ch] 2>/dev/null)
[ -z "$bad" ] || fail "feature macros tested with #ifdef/#ifndef/defined() (use #if and include the generated header): $bad"
ok "every feature macro is tested with #if"

command -v make >/dev/null 2>&1 || skip "make not found"
pkg-config --exists libzstd 2>/dev/null || skip "libzstd-dev not installed: cannot show zstd appearing"
# Inside `make check` (SANITIZE=1 too): do not hand our make the parent's
# jobserver or command-line variables, which reach us through the environment.
unset MAKEFLAGS MFLAGS MAKELEVEL SANITIZE TSAN BUILD KLOG_DETECT_OFF

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klog-detect.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
b=$tmp/build
mk() { make -C "$root" --no-print-directory BUILD="$b" CFLAGS=-O0 "$@"; }

cat > "$tmp/zstd.c" <<'EOF'
#include <stdio.h>
#include "klog.h"
int main(void) { printf("%d\n", klog_compression_supported(KLOG_COMPRESSION_ZSTD)); return 0; }
EOF

# 1. zstd absent
mk -j2 lib "$b/bench/bench_peers" KLOG_DETECT_OFF=zstd > "$tmp/first.log" 2>&1 || { tail -20 "$tmp/first.log"; fail "first build"; }
grep -q '^#define KLOG_HAVE_ZSTD 0$' "$b/gen/klog_codecs.h" || fail "klog_codecs.h does not record zstd as absent"
"$cc" -I"$root/include" -o "$tmp/zstd" "$tmp/zstd.c" -L"$b" -lklog -Wl,-rpath,"$b" || fail "cannot link the probe"
[ "$("$tmp/zstd")" = 0 ] || fail "library built without zstd claims zstd support"
ok "built with zstd absent: klog_compression_supported(ZSTD) = 0"

# 2. dry runs list exactly the dependents and write nothing
before=$(cat "$b/gen/klog_codecs.h")
mk -n lib > "$tmp/dry.log" 2>&1 || fail "dry run"
[ "$(cat "$b/gen/klog_codecs.h")" = "$before" ] || fail "a dry run rewrote klog_codecs.h"
grep -q -- "-o $b/obj/lib/codec/compression.o" "$tmp/dry.log" || fail "dry run does not rebuild compression.o"
grep -q -- "-o $b/pic/lib/codec/compression.o" "$tmp/dry.log" || fail "dry run does not rebuild the PIC compression.o"
grep -q -- "-o $b/libklog.so" "$tmp/dry.log" || fail "dry run does not relink the shared library"
others=$(grep -oE -- "-o [^ ]*\.o( |$)" "$tmp/dry.log" | sed "s/ *$//" | grep -v '/compression\.o$')
[ -z "$others" ] || fail "dry run rebuilds objects that do not use zstd: $others"
ok "dry run with zstd back lists compression.c (obj, pic) and libklog.so only"
# A benchmark peer this machine has (they come with `make bench`).
peer=
for q in lmdb sqlite rocksdb; do
    grep -q "$q=1" "$b/gen/detected.txt" && { peer=$q; break; }
done
if [ -n "$peer" ]; then
    mk -n "$b/bench/bench_peers" KLOG_DETECT_OFF="zstd $peer" > "$tmp/dry2.log" 2>&1 || fail "dry run (peers)"
    grep -q -- "-o $b/bench/bench_peers" "$tmp/dry2.log" || fail "dropping $peer does not rebuild bench_peers"
    objs=$(grep -oE -- "-o [^ ]*\.o( |$)" "$tmp/dry2.log")
    [ -z "$objs" ] || fail "dropping $peer rebuilds library objects: $objs"
    ok "dry run with $peer gone lists bench_peers and no library object"
else
    echo "note: no benchmark peer installed (sh .ci/deps bench): the bench_peers rebuild is not shown"
fi

# 3. zstd "installed": exactly compression.c recompiles, the library now has it
mk lib > "$tmp/second.log" 2>&1 || { tail -20 "$tmp/second.log"; fail "second build"; }
compiled=$(grep -c '^  CC ' "$tmp/second.log")
grep -q '^  CC      lib/codec/compression.c$' "$tmp/second.log" || fail "compression.c was not recompiled: $(cat "$tmp/second.log")"
[ "$compiled" -eq 2 ] || fail "expected 2 compilations (compression.c, obj and pic), got $compiled: $(grep '^  CC ' "$tmp/second.log")"
grep -q '^#define KLOG_HAVE_ZSTD 1$' "$b/gen/klog_codecs.h" || fail "klog_codecs.h does not record zstd"
[ "$("$tmp/zstd")" = 1 ] || fail "after make (no clean) the library still lacks zstd"
ok "make after zstd appeared: compression.c recompiled (obj, pic), klog_compression_supported(ZSTD) = 1"

# 4. nothing more to do
mk lib > "$tmp/third.log" 2>&1 || fail "third build"
grep -q '^  CC \|^  LD \|^  AR ' "$tmp/third.log" && fail "an unchanged machine rebuilt: $(cat "$tmp/third.log")"
ok "an unchanged machine rebuilds nothing"
echo "detect-rebuild: all checks passed"
