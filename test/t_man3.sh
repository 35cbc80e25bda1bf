#!/bin/sh
# t_man3.sh — the klog(3) manual page documents the API klog.h declares:
# man/klog.3 is what man/mkman.awk makes of include/klog.h (so no edit of
# the header is missing from it: run `make man`), every KLOG_API function
# of the header is listed in its SYNOPSIS and declared in its body, every
# function it lists is a KLOG_API function of the header, and groff reads
# it without a warning. Exit 0 pass, 77 skip, anything else fail.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
hdr=$root/include/klog.h
page=$root/man/klog.3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_man3.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
nfail=0
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }

[ -f "$page" ] || { echo "FAIL: $page missing"; exit 1; }
version=$(sed -n 's/^#define KLOG_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' "$hdr" | paste -sd.)
awk -v version="$version" -f "$root/man/mkman.awk" "$hdr" "$hdr" >"$tmp/klog.3" || fail "mkman.awk failed"
cmp -s "$tmp/klog.3" "$page" || fail "man/klog.3 is out of date with include/klog.h: run 'make man'" \
    "($(diff "$page" "$tmp/klog.3" | head -5 | tr '\n' ' '))"

# Functions of the header: KLOG_API declarations (a prototype may span lines).
awk '/^KLOG_API / { p = $0; c = 1 } c && !/^KLOG_API / { p = p " " $0 }
     c && p ~ /;/ { c = 0; sub(/\(.*/, "", p); n = split(p, w, /[ *]+/); print w[n] }' "$hdr" |
    sort >"$tmp/hdr"
sed -n 's/^\.BR \(klog_[a-z0-9_]*\) ()$/\1/p' "$page" | sort >"$tmp/synopsis"
n=$(wc -l <"$tmp/hdr")
[ "$n" -gt 50 ] || fail "only $n KLOG_API functions found in klog.h"
if ! cmp -s "$tmp/hdr" "$tmp/synopsis"; then
    fail "SYNOPSIS of klog.3 and klog.h's functions differ:"
    diff "$tmp/hdr" "$tmp/synopsis" | sed 's/^/    /'
fi
while read -r f; do
    grep -q "[ *]$f(" "$page" || fail "$f is listed but never declared in klog.3"
done <"$tmp/hdr"

if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -ww -z "$page" >"$tmp/groff" 2>&1
    [ -s "$tmp/groff" ] && fail "groff warns about klog.3: $(head -3 "$tmp/groff")"
    groff -man -Tutf8 -ww -z "$root/examples/klogcat/klogcat.1" >"$tmp/groff" 2>&1
    [ -s "$tmp/groff" ] && fail "groff warns about klogcat.1: $(head -3 "$tmp/groff")"
    groff -man -Tutf8 -ww -z "$root/examples/kbroker/kbroker.1" >"$tmp/groff" 2>&1
    [ -s "$tmp/groff" ] && fail "groff warns about kbroker.1: $(head -3 "$tmp/groff")"
else
    echo "groff missing: rendering not checked"
fi
echo "$n functions documented in klog.h and klog.3; $nfail failure(s)"
[ "$nfail" -eq 0 ]
