#!/bin/sh
# t_install.sh — `make install` into a DESTDIR gives a usable library:
#   - a program built with only `pkg-config --cflags --libs klog` links the
#     shared library and runs; with `pkg-config --static --libs klog` it links
#     libklog.a and runs without libklog.so;
#   - the shared library's soname is libklog.so.MAJOR and it exports only
#     klog_* symbols (no klog__ internals, no bundled dependencies);
#   - klog.pc names the prefix the install used and the header's version;
#   - the README's example program builds as the README says and runs the
#     ways it says (LD_LIBRARY_PATH, rpath), against libklog.a, and fully
#     static (`cc -static ... $(pkg-config --static --libs klog)`, which
#     needs snappy's C++ runtime in klog.pc);
#   - klog.3, klogcat.1 and kbroker.1 are installed, and kbroker;
#   - `make uninstall` removes every file the install created and the
#     directories it created (emptied again), and nothing else;
#   - an install with no DESTDIR runs ldconfig when root (LDCONFIG is
#     replaced by a recorder here), a staged one never does.
# Runs from the repository root (as `make check-scripts` does) with
# KLOG_BUILD set to the build tree; installs that tree's artefacts, never
# rebuilding into another. Exit 0 pass, 77 skip (reason on the last line).
set -u

build=${KLOG_BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-cc}

skip() { echo "$*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# Sanitizer builds need the sanitizer runtime in the test program as well;
# the plain build is the one users install.
[ "$build" = build ] || skip "install test runs for the plain build only (KLOG_BUILD=$build)"
for tool in "$cc" pkg-config readelf nm make; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done

# This script may run inside `make check`: do not hand our make the parent's
# jobserver or command-line variables.
unset MAKEFLAGS MFLAGS MAKELEVEL

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klog-install.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/root
prefix=/usr
libdir=$dest$prefix/lib

major=$(sed -n 's/^#define KLOG_VERSION_MAJOR *\([0-9]*\).*/\1/p' "$root/include/klog.h")
minor=$(sed -n 's/^#define KLOG_VERSION_MINOR *\([0-9]*\).*/\1/p' "$root/include/klog.h")
patch=$(sed -n 's/^#define KLOG_VERSION_PATCH *\([0-9]*\).*/\1/p' "$root/include/klog.h")
version=$major.$minor.$patch
echo "libklog $version, build tree $build, DESTDIR $dest, PREFIX $prefix"

# LDCONFIG: a recorder, so that no test ever touches the real linker cache.
printf '#!/bin/sh\necho "$@" >> "%s/ldconfig.calls"\n' "$tmp" > "$tmp/ldconfig"
chmod +x "$tmp/ldconfig"
kmake() { make -C "$root" --no-print-directory O="$build" PREFIX="$prefix" DESTDIR="$dest" \
    LDCONFIG="$tmp/ldconfig" "$@"; }

echo "== make install"
mkdir -p "$dest"
kmake install > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install"; }
[ -e "$tmp/ldconfig.calls" ] && fail "a staged install (DESTDIR) ran ldconfig"
for f in "$dest$prefix/share/man/man3/klog.3" "$dest$prefix/share/man/man1/klogcat.1" \
         "$dest$prefix/share/man/man1/kbroker.1" "$dest$prefix/bin/kbroker"; do
    [ -e "$f" ] || fail "not installed: ${f#$dest}"
done
find "$dest" ! -type d | sort
for f in "$dest$prefix/include/klog.h" "$libdir/libklog.a" "$libdir/libklog.so.$version" \
         "$libdir/libklog.so.$major" "$libdir/libklog.so" "$libdir/pkgconfig/klog.pc"; do
    [ -e "$f" ] || fail "not installed: ${f#$dest}"
done

echo "== klog.pc"
cat "$libdir/pkgconfig/klog.pc"
grep -qx "prefix=$prefix" "$libdir/pkgconfig/klog.pc" ||
    fail "installed klog.pc does not say prefix=$prefix: it was generated for another PREFIX" \
         "(the \$(O)/klog.pc rule must be rerun when PREFIX/LIBDIR/INCLUDEDIR change)"

# pkg-config sees only the DESTDIR tree (plus the system's .pc files, which
# the static link needs for Requires.private).
PKG_CONFIG_PATH=$libdir/pkgconfig
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pcver=$(pkg-config --modversion klog) || fail "pkg-config cannot read klog.pc"
[ "$pcver" = "$version" ] || fail "klog.pc version $pcver, header says $version"
cflags=$(pkg-config --cflags klog) || fail "pkg-config --cflags"
libs=$(pkg-config --libs klog) || fail "pkg-config --libs"
slibs=$(pkg-config --static --libs klog) || fail "pkg-config --static --libs (Requires.private missing?)"
echo "cflags: $cflags"
echo "libs: $libs"
echo "static libs: $slibs"

echo "== shared library"
so=$libdir/libklog.so.$version
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libklog.so.$major" ] || fail "soname is '$soname', want libklog.so.$major"
[ "$(readlink "$libdir/libklog.so.$major")" = "libklog.so.$version" ] || fail "libklog.so.$major link"
[ "$(readlink "$libdir/libklog.so")" = "libklog.so.$major" ] || fail "libklog.so link"
nm -D --defined-only "$so" | awk 'NF >= 3 { print $3 }' | sort > "$tmp/exports"
[ -s "$tmp/exports" ] || fail "no exported symbols"
echo "$(wc -l < "$tmp/exports") exported symbols"
if grep -v '^klog_[a-z0-9]' "$tmp/exports" > "$tmp/bad"; then
    cat "$tmp/bad"
    fail "the shared library exports symbols outside klog_* (above)"
fi
for s in klog_version_number klog_strerror klog_crc32c; do
    grep -qx "$s" "$tmp/exports" || fail "$s not exported"
done

# A user's program: only the public header and what pkg-config says.
cat > "$tmp/user.c" <<'EOF'
#include <klog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } while (0)

int main(void)
{
    if (klog_version_number() != KLOG_VERSION_NUMBER)
        FAIL("linked version %d, header %d", klog_version_number(), KLOG_VERSION_NUMBER);
    printf("version %s\n", klog_version_string());

    const char *msg = klog_strerror(KLOG_ECRC);
    if (msg == NULL || strstr(msg, "CRC") == NULL)
        FAIL("klog_strerror(KLOG_ECRC) = %s", msg ? msg : "NULL");
    if (strcmp(klog_err_name(KLOG_ECRC), "KLOG_ECRC") != 0)
        FAIL("klog_err_name(KLOG_ECRC) = %s", klog_err_name(KLOG_ECRC));

    /* CRC-32C check value (RFC 3720 / the Castagnoli catalogue). */
    uint32_t crc = klog_crc32c(0, "123456789", 9);
    if (crc != 0xE3069283u)
        FAIL("klog_crc32c(\"123456789\") = %08x, want e3069283", (unsigned)crc);

    /* Encode one record and validate it, compressed when this build can. */
    int codec = klog_compression_supported(KLOG_COMPRESSION_LZ4) ? KLOG_COMPRESSION_LZ4
                                                                  : KLOG_COMPRESSION_NONE;
    klog_record_t rec = {.timestamp = 1700000000000, .key = "k", .key_len = 1,
                         .value = "installed", .value_len = 9};
    void *batch;
    size_t len;
    int rc = klog_batch_encode(&rec, 1, codec, &batch, &len);
    if (rc < 0)
        FAIL("klog_batch_encode: %s", klog_strerror(rc));
    klog_batch_info_t info;
    rc = klog_batch_validate(batch, len, KLOG_VALIDATE_HEADER | KLOG_VALIDATE_RECORDS, &info);
    free(batch);
    if (rc < 0)
        FAIL("klog_batch_validate: %s", klog_strerror(rc));
    if (info.record_count != 1 || info.compression != codec)
        FAIL("decoded %d records with codec %d", (int)info.record_count, info.compression);
    printf("crc32c ok, %zu-byte %s batch ok\n", len, klog_compression_name(codec));
    return 0;
}
EOF

echo "== program linked against libklog.so"
# shellcheck disable=SC2086 # pkg-config output is a list of words
$cc -std=c11 -Wall -Wextra -Werror -pedantic $cflags -o "$tmp/user-shared" "$tmp/user.c" $libs ||
    fail "compile/link with pkg-config --cflags --libs klog"
readelf -d "$tmp/user-shared" | grep -q "NEEDED.*\[libklog.so.$major\]" ||
    fail "program does not depend on libklog.so.$major"
LD_LIBRARY_PATH=$libdir "$tmp/user-shared" || fail "program linked against libklog.so failed"
LD_LIBRARY_PATH=$libdir ldd "$tmp/user-shared" 2>/dev/null | grep -q "$libdir/libklog.so.$major" ||
    fail "program did not load libklog.so.$major from DESTDIR"

echo "== program linked against libklog.a"
# Keep pkg-config's flags, but take libklog itself from the archive.
sstatic=$(echo " $slibs " | sed 's/ -lklog / -Wl,-Bstatic -lklog -Wl,-Bdynamic /')
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror -pedantic $cflags -o "$tmp/user-static" "$tmp/user.c" $sstatic ||
    fail "compile/link with pkg-config --static --libs klog"
if readelf -d "$tmp/user-static" | grep -q 'NEEDED.*libklog'; then
    fail "statically linked program still needs libklog.so"
fi
env -u LD_LIBRARY_PATH "$tmp/user-static" || fail "program linked against libklog.a failed"

if command -v c++ >/dev/null 2>&1; then
    echo "== header compiles as C++"
    printf '#include <klog.h>\nint main() { return klog_version_number() > 0 ? 0 : 1; }\n' > "$tmp/user.cc"
    # shellcheck disable=SC2086
    c++ -Wall -Wextra -Werror $cflags -o "$tmp/user-cxx" "$tmp/user.cc" $libs ||
        fail "C++ program with <klog.h>"
    LD_LIBRARY_PATH=$libdir "$tmp/user-cxx" || fail "C++ program failed"
fi

echo "== the README's example"
sed -n '/^```c$/,/^```$/p' "$root/README.md" | sed '1d;$d' > "$tmp/example.c"
grep -q 'klog_open' "$tmp/example.c" || fail "no C example found in README.md"
grep -q 'LD_LIBRARY_PATH' "$root/README.md" && grep -q 'rpath' "$root/README.md" &&
    grep -q 'ldconfig' "$root/README.md" || fail "README.md does not say how to run against a non-system prefix"
mkdir "$tmp/run"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror -o "$tmp/ex-shared" "$tmp/example.c" $cflags $libs ||
    fail "README example: cc example.c \$(pkg-config --cflags --libs klog)"
(cd "$tmp/run" && LD_LIBRARY_PATH=$libdir "$tmp/ex-shared") > "$tmp/ex.out" ||
    fail "README example with LD_LIBRARY_PATH failed"
grep -q '^0: user-1 = clicked$' "$tmp/ex.out" || fail "README example printed: $(cat "$tmp/ex.out")"
rm -rf "$tmp/run/demo-log"
# shellcheck disable=SC2086
$cc -std=c11 -o "$tmp/ex-rpath" "$tmp/example.c" $cflags $libs -Wl,-rpath,"$libdir" ||
    fail "README example with -Wl,-rpath"
(cd "$tmp/run" && env -u LD_LIBRARY_PATH "$tmp/ex-rpath") > /dev/null || fail "README example with rpath failed"
rm -rf "$tmp/run/demo-log"
# shellcheck disable=SC2086
$cc -std=c11 -o "$tmp/ex-static" "$tmp/example.c" $cflags $sstatic || fail "README example against libklog.a"
(cd "$tmp/run" && env -u LD_LIBRARY_PATH "$tmp/ex-static") > /dev/null || fail "README example (libklog.a) failed"
rm -rf "$tmp/run/demo-log"
if [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/libc.a ] || $cc -print-file-name=libc.a | grep -q /; then
    # shellcheck disable=SC2086
    $cc -std=c11 -static -o "$tmp/ex-full" "$tmp/example.c" $cflags $slibs 2> "$tmp/static.err" ||
        { cat "$tmp/static.err"; fail "fully static link: cc -static example.c \$(pkg-config --static --libs klog)"; }
    readelf -d "$tmp/ex-full" 2>/dev/null | grep -q NEEDED && fail "-static program has dynamic dependencies"
    (cd "$tmp/run" && "$tmp/ex-full") > "$tmp/ex.out" || fail "fully static README example failed"
    grep -q '^0: user-1 = clicked$' "$tmp/ex.out" || fail "static example printed: $(cat "$tmp/ex.out")"
else
    echo "no libc.a: the fully static link is not checked"
fi

echo "== make uninstall"
kmake uninstall > "$tmp/uninstall.log" 2>&1 || { cat "$tmp/uninstall.log"; fail "make uninstall"; }
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "make uninstall left files behind: $left"
left=$(find "$dest" -mindepth 1 -type d)
[ -z "$left" ] || fail "make uninstall left the directories install created: $left"

# A directory that existed before the install (and what is in it) stays.
mkdir -p "$dest$prefix/lib"
echo mine > "$dest$prefix/lib/other"
kmake install > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "second make install"; }
kmake install > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install over an install"; }
kmake uninstall > "$tmp/uninstall.log" 2>&1 || fail "second make uninstall"
[ -f "$dest$prefix/lib/other" ] || fail "make uninstall removed a file it did not install"
left=$(find "$dest" -mindepth 1 | sort | tr '\n' ' ')
[ "$left" = "$dest/usr $dest/usr/lib $dest/usr/lib/other " ] ||
    fail "after install twice and uninstall: $left"

echo "== make install without DESTDIR (LDCONFIG recorded)"
pfx=$tmp/prefix
make -C "$root" --no-print-directory O="$build" PREFIX="$pfx" LDCONFIG="$tmp/ldconfig" install \
    > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install PREFIX=$pfx"; }
if [ "$(id -u)" = 0 ]; then
    [ -s "$tmp/ldconfig.calls" ] || fail "make install as root without DESTDIR did not run ldconfig"
else
    [ -e "$tmp/ldconfig.calls" ] && fail "make install as a user ran ldconfig"
fi
make -C "$root" --no-print-directory O="$build" PREFIX="$pfx" uninstall > "$tmp/uninstall.log" 2>&1 ||
    fail "make uninstall PREFIX=$pfx"
[ -e "$pfx" ] && fail "make uninstall left $(find "$pfx" | head -5 | tr '\n' ' ')"
echo "install test passed"
