# mkman.awk — generate the klog(3) manual page from include/klog.h, which
# is the API's specification: the header's opening essay becomes the
# DESCRIPTION, every section banner a subsection, every comment a
# paragraph and every declaration (types, constants, prototypes) a
# literal block, in the header's order. SYNOPSIS lists every public
# function. Run as `awk -v version=X.Y.Z -f man/mkman.awk include/klog.h`
# (make man); test/t_man3.sh checks that man/klog.3 is what this produces
# and that every KLOG_API function is in both.

function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/\342\200\224/, "\\(em", s)  # UTF-8 em dash
    if (s ~ /^[.']/) s = "\\&" s
    return s
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# Print a comment block: indented or list-like blocks stay as typed,
# others are filled into paragraphs (blank lines separate them).
function flush_comment(   i, literal, line) {
    if (nc == 0) return
    literal = 0
    for (i = 1; i <= nc; i++)
        if (cmt[i] ~ /^  / || cmt[i] ~ /^- / || cmt[i] ~ /^[A-Z][A-Z ]+$/) literal = 1
    if (literal) {
        print ".PP\n.nf"
        for (i = 1; i <= nc; i++) print esc(cmt[i])
        print ".fi"
    } else {
        print ".PP"
        for (i = 1; i <= nc; i++) {
            line = trim(cmt[i])
            if (line == "") print ".PP"
            else print esc(line)
        }
    }
    nc = 0
}
function flush_code(   i) {
    if (ncode == 0) return
    print ".PP\n.nf\n.ft CR"
    for (i = 1; i <= ncode; i++) print esc(code[i])
    print ".ft\n.fi"
    ncode = 0
}
# Strip one comment line of its " * " frame.
function body(s) {
    sub(/^[ \t]*\/\*+ ?/, "", s)
    sub(/[ \t]*\*+\/[ \t]*$/, "", s)
    sub(/^[ \t]*\* ?/, "", s)
    return s
}

BEGIN { nc = 0; ncode = 0; nf = 0; essay = 1; incomment = 0; skip = 0 }

# Collect the public functions first (a second pass prints them).
FNR == NR {
    if ($0 ~ /^KLOG_API /) { proto = $0; collecting = 1 }
    else if (collecting) proto = proto " " trim($0)
    if (collecting && proto ~ /;/) {
        collecting = 0
        name = proto
        sub(/\(.*/, "", name)
        n = split(name, w, /[ *]+/)
        fn[++nf] = w[n]
    }
    next
}

FNR == 1 {
    print ".\\\" klog.3 - generated from include/klog.h by man/mkman.awk (make man); do not edit"
    print ".TH KLOG 3 \"" version "\" \"libklog " version "\" \"Library Functions Manual\""
    print ".SH NAME"
    print "klog \\- embeddable durable, partitioned logs in Kafka's on\\-disk format"
    print ".SH SYNOPSIS"
    print ".nf"
    print ".B #include <klog.h>"
    print ".PP"
    print "cc prog.c $(pkg\\-config \\-\\-cflags \\-\\-libs klog)"
    print "cc \\-static prog.c $(pkg\\-config \\-\\-static \\-\\-cflags \\-\\-libs klog)"
    print ".PP"
    print "Functions (declared and specified below, in the order of the header):"
    for (i = 1; i <= nf; i++) print ".BR " fn[i] " ()"
    print ".fi"
    print ".SH DESCRIPTION"
}

# The include guard, C++ linkage and the export macro are not API.
/^#(ifndef|endif|ifdef|if|else|undef)/ || /^#define KLOG_H/ || /^extern "C"/ || /^}$/ || /^#include/ { next }
/^#define KLOG_API/ { next }
/^#if defined\(KLOG_BUILDING_SHARED\)/ { next }

# Section banners: /* ------ name */ and /* --- name --- */
/^\/\* -+ .* \*\/$/ || /^\/\* --- .* --- \*\/$/ {
    flush_comment(); flush_code()
    title = $0
    sub(/^\/\* -+ /, "", title); sub(/ (--- )?\*\/$/, "", title); sub(/ ---$/, "", title)
    if (essay) { print ".SH API"; essay = 0 }
    if (title == "export") next  # the export macro is not API
    print ".SS \"" toupper(substr(title, 1, 1)) substr(title, 2) "\""
    next
}

incomment {
    if ($0 ~ /\*\//) { incomment = 0; line = body($0); if (trim(line) != "") cmt[++nc] = line; next }
    cmt[++nc] = body($0)
    next
}
/^[ \t]*\/\*/ {
    flush_code()
    if ($0 ~ /\*\/[ \t]*$/) { cmt[++nc] = body($0); if (!essay) flush_comment(); next }
    line = body($0)
    if (trim(line) != "") cmt[++nc] = line
    incomment = 1
    next
}
/^[ \t]*$/ {
    if (essay && nc) { flush_comment() }
    else { flush_comment(); flush_code() }
    next
}
{
    flush_comment()
    line = $0
    sub(/^KLOG_API /, "", line)
    code[++ncode] = line
}
END {
    flush_comment(); flush_code()
    print ".SH SEE ALSO"
    print ".BR klogcat (1),"
    print "README.md in the libklog sources."
}
