#!/bin/sh
# bench/report.sh — turn the figures of one `make bench` run into a report.
#
#   sh bench/report.sh DIR [bench|bench-quick] [SECONDS]
#
# Reads DIR/results.csv (name,median,unit,min,max,ratio,program; one row per
# RESULT line of each bench program, DIR/<program>.out beside it) and writes
#   DIR/results.md            the machine, the targets, then one table per
#                             experiment: figure, median, min..max, ratio to
#                             its raw baseline and to the best peer of the
#                             same run, target met or not
#   DIR/throughput_batch.png  libklog append vs raw write(2) by batch size
#   DIR/peers.png             libklog vs raw vs SQLite, LMDB, RocksDB
#   DIR/durable_latency.png   durable append latency percentiles, 1-4 threads
#   DIR/open_time.png         open time vs segment count, clean and unclean
# Exits non-zero when an expected figure is missing (every experiment of
# issue 10, each peer whose header is installed, at least one figure from
# every bench program, and kafka_peer.sh's kbroker figures when librdkafka
# is found, its Kafka ones too when java and mvn are) or gnuplot fails; it never judges speed.
set -u
dir=${1:-build/bench}
mode=${2:-bench}
secs=${3:-}
csv=$dir/results.csv
md=$dir/results.md
here=$(cd "$(dirname "$0")" && pwd)
[ -s "$csv" ] || { echo "report: $csv missing or empty" >&2; exit 1; }

# ------------------------------------------------------------ expected
exp=$dir/expected.txt
{
    for b in 1 10 50 100 1000; do echo "paper.append.b$b"; echo "paper.raw.write.b$b"; done
    echo paper.append.b50.lz4; echo paper.append.b50.fsync; echo paper.raw.write+fdatasync.b50
    for t in 1 2 4; do echo "paper.append.b50.${t}t"; done
    echo produce.b1
    echo paper.read.iter; echo paper.read.lease-copy; echo paper.raw.read
    echo fetch.lease; echo fetch.copy; echo fetch.sendfile
    echo paper.overhead.none; echo paper.overhead.lz4
    echo compact.clean; echo compact.raw.readwrite; echo compact.rss.open
    for k in 256 1024 16384; do echo "compact.rss.map${k}k"; done
    for q in p50 p99 p999; do
        echo "paper.raw.fdatasync.lat.$q"
        for t in 2 3 4; do echo "paper.raw.fdatasync.lat.$q.${t}t"; done
        for t in 1 2 3 4; do echo "paper.durable.lat.$q.${t}t"; done
    done
    for v in small large; do for s in 10 100 1000; do
        echo "paper.open.clean.${s}seg.$v"; echo "paper.open.unclean.${s}seg.$v"
    done; done
    stores="raw klog"
    [ -f /usr/include/sqlite3.h ] && stores="$stores sqlite-off sqlite-normal"
    [ -f /usr/include/lmdb.h ] && stores="$stores lmdb"
    [ -f /usr/include/rocksdb/c.h ] && stores="$stores rocksdb"
    for s in $stores; do
        op=append; [ "$s" = raw ] && op=write
        echo "peers.$s.$op.b50"; echo "peers.$s.$op.b1"; echo "peers.$s.read"; echo "peers.$s.disk"
    done
    # kbroker vs Apache Kafka (kafka_peer.sh): when rdk_peer could be built
    # (librdkafka found); Kafka's side only when java and mvn are installed.
    if grep -q 'rdkafka=1' "$dir/../gen/detected.txt" 2> /dev/null; then
        echo "program:kafka_peer"
        brokers=kbroker
        command -v java > /dev/null 2>&1 && command -v mvn > /dev/null 2>&1 && brokers="kbroker kafka"
        for b in $brokers; do
            for p in 1p 4p; do for s in 200B 1KiB; do
                echo "peer.$b.produce.acks1.$p.$s"; echo "peer.$b.produce.acksall.$p.$s"
                echo "peer.$b.consume.$p.$s"
            done; done
            for f in latency.p50 latency.p99 cpu.produce cpu.consume rss.peak; do echo "peer.$b.$f"; done
        done
    fi
    # Every bench program must have produced something.
    for c in "$here"/*.c; do
        p=$(basename "$c" .c)
        # bench_instr prints no figures (only a note) without valgrind.
        [ "$p" = bench_instr ] && ! command -v valgrind > /dev/null 2>&1 && continue
        [ "$p" = bench_util ] || echo "program:$p"
    done
} > "$exp"

missing=$(awk -F, 'NR == FNR { if (FNR > 1) { have[$1] = 1; prog["program:" $7] = 1 }; next }
    /^program:/ { if (!($0 in prog)) print; next }
    !($0 in have) { print }' "$csv" "$exp")
rm -f "$exp"

# ------------------------------------------------------------- machine
first_out=$(ls "$dir"/*.out 2>/dev/null | head -1)
stamp=$( [ -n "$first_out" ] && sed -n '2s/^# //p' "$first_out")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
ncpu=$(nproc 2>/dev/null || echo "?")
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
os=$( (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}") )
kern=$(uname -sr)
tmpfs=$(df -T "${TMPDIR:-/tmp}" 2>/dev/null | awk 'NR == 2 { print $2 }')
ccv=$(${CC:-cc} --version 2>/dev/null | head -1)

# -------------------------------------------------------------- tables
awk -F, -v mode="$mode" -v secs="$secs" -v stamp="$stamp" -v cpu="$cpu" -v ncpu="$ncpu" \
    -v mem="$mem" -v os="$os" -v kern="$kern" -v tmpfs="$tmpfs" -v ccv="$ccv" -v missing="$missing" '
function fmt(v,   a) {
    a = v < 0 ? -v : v
    if (a >= 1e6) return sprintf("%.2fM", v / 1e6)
    if (a >= 1e3) return sprintf("%.1fk", v / 1e3)
    return sprintf("%.3g", v)
}
function has(n) { return (n in med) && med[n] != 0 }
# The raw-syscall figure of the same run a libklog figure is compared with.
function raw_of(n,   m) {
    m = n
    if (n ~ /^paper\.append\.b[0-9]+$/) { sub(/append/, "raw.write", m); return m }
    if (n == "paper.append.b50.lz4" || n ~ /^paper\.append\.b50\.[0-9]t$/) return "paper.raw.write.b50"
    if (n == "paper.append.b50.fsync") return "paper.raw.write+fdatasync.b50"
    if (n ~ /^paper\.read\./) return "paper.raw.read"
    if (n ~ /^paper\.durable\.lat\./) { sub(/durable/, "raw.fdatasync", m); sub(/\.[0-9]t$/, "", m); return m }
    if (n ~ /^peers\.raw\./) return ""
    if (n ~ /^peers\.[a-z-]+\.append\./) { sub(/^peers\.[a-z-]+\.append/, "peers.raw.write", m); return m }
    if (n ~ /^peers\.[a-z-]+\./) { sub(/^peers\.[a-z-]+\./, "peers.raw.", m); return m }
    if (n == "produce.b1") return "paper.raw.write.b1"
    if (n == "fetch.lease" || n == "fetch.copy") return "fetch.sendfile"
    return ""
}
# Which peer figure family a libklog figure is compared with.
function peer_kind(n) {
    if (n == "paper.append.b1" || n == "peers.klog.append.b1" || n == "produce.b1") return "append.b1"
    if (n == "paper.append.b50" || n == "peers.klog.append.b50" || n == "paper.append.b50.lz4") return "append.b50"
    if (n == "paper.read.iter" || n == "paper.read.lease-copy" || n == "peers.klog.read") return "read"
    if (n == "peers.klog.disk") return "disk"
    return ""
}
# The best peer (highest rate; lowest bytes for disk) of a kind.
function best_peer(kind,   i, s, n, b) {
    best_name = ""
    for (i = 1; i <= npeers; i++) {
        s = peers[i]; n = "peers." s "." kind
        if (!has(n)) continue
        if (best_name == "" || (kind == "disk" ? med[n] < b : med[n] > b)) { best_name = s; b = med[n] }
    }
    return best_name == "" ? 0 : b
}
function target_text(n,   r, b, sq, s) {
    if (n == "peers.klog.append.b50" || n == "paper.append.b50") {
        r = has(raw_of(n)) ? med[n] / med[raw_of(n)] : 0
        s = sprintf(">= 0.80x raw: %s", r >= 0.80 ? "met" : "**not met**")
        if (n == "peers.klog.append.b50" && (b = best_peer("append.b50")) > 0)
            s = s sprintf("; >= 2x best peer: %s", med[n] / b >= 2 ? "met" : "**not met**")
        return s
    }
    if (n == "produce.b1") {
        sq = sqlite_b1()
        if (sq == 0) return "(no SQLite figure)"
        return sprintf(">= 5x SQLite b1: %s", med[n] / sq >= 5 ? "met" : "**not met**")
    }
    if (n == "paper.overhead.none") return sprintf("<= 11 B: %s", med[n] <= 11 ? "met" : "**not met**")
    return ""
}
# A target row comparing two figures of the run: ratio num/den against
# target t, at least (ge = 1) or at most (ge = 0); t = 0: a figure shown
# beside the targets, judged by none. Nothing without both figures.
function ratio_row(label, num, den, t, ge,   r, ok) {
    if (!has(num) || !has(den)) return
    r = med[num] / med[den]
    ok = ge ? r >= t : r <= t
    printf "| %s | %.2fx (%s vs %s %s)%s | %s |\n", label, r, fmt(med[num]), fmt(med[den]), unit_of[den], prog_of[num] != prog_of[den] ? "*" : "", t == 0 ? "(no target)" : ok ? "met" : "**not met**"
}
function sqlite_b1(   a, b) {
    a = has("peers.sqlite-off.append.b1") ? med["peers.sqlite-off.append.b1"] : 0
    b = has("peers.sqlite-normal.append.b1") ? med["peers.sqlite-normal.append.b1"] : 0
    sqlite_name = a >= b ? "sqlite-off" : "sqlite-normal"
    return a >= b ? a : b
}
function section(n, p) {
    if (n ~ /^paper\.(append|raw\.write|close)/ || n ~ /^produce\./) return 1
    if (n ~ /^paper\.(read|raw\.read)/) return 2
    if (n ~ /^fetch\./) return 3
    if (n ~ /^paper\.overhead/ || (p == "bench_producer" && n ~ /^overhead/)) return 4
    if (n ~ /^paper\.(durable|raw\.fdatasync)/) return 5
    if (n ~ /^paper\.open/) return 6
    if (n ~ /^peers\./) return 7
    if (n ~ /^peer\.(kbroker|kafka)\./) return 9
    return 8
}
function row(i,   n, r, rn, cross, b, k, out) {
    n = nm[i]
    out = sprintf("| %s | %s %s | %s .. %s |", n, fmt(vmed[i]), vunit[i], fmt(vlo[i]), fmt(vhi[i]))
    rn = raw_of(n)
    if (rn != "" && has(rn)) {
        cross = (prog_of[rn] != vprog[i]) ? "*" : ""
        out = out sprintf(" %.2f (%s)%s |", vmed[i] / med[rn], rn, cross)
    } else if (vratio[i] != 0) {
        out = out sprintf(" %.2f (%s baseline) |", vratio[i], vprog[i])
    } else out = out " |"
    k = peer_kind(n)
    if (k != "" && (b = best_peer(k)) > 0)
        out = out sprintf(" %.2f (%s)%s |", vmed[i] / b, best_name, vprog[i] == "bench_peers" ? "" : "*")
    else out = out " |"
    return out " " target_text(n) " |"
}
NR == 1 { next }
{
    nrow++
    nm[nrow] = $1; vmed[nrow] = $2 + 0; vunit[nrow] = $3; vlo[nrow] = $4 + 0; vhi[nrow] = $5 + 0
    vratio[nrow] = $6 + 0; vprog[nrow] = $7
    if (!($1 in med)) { med[$1] = $2 + 0; prog_of[$1] = $7; unit_of[$1] = $3; lo_of[$1] = $4 + 0; hi_of[$1] = $5 + 0 }
}
END {
    npeers = split("sqlite-off sqlite-normal lmdb rocksdb", peers, " ")
    title[1] = "1. Producer throughput (klog_append by batch size; LZ4; fsync per batch; threads on separate partitions; one call per record through the producer)"
    title[2] = "2. Consumer throughput (record iterator; leases copied out and decoded)"
    title[3] = "3. Zero-copy: lease + sendfile to a loopback socket vs pread+write vs raw sendfile"
    title[4] = "4. Storage overhead per record (allocated bytes minus payload; the paper: about 9)"
    title[5] = "5. Durable append latency with group commit (one record per append, fsynced before return)"
    title[6] = "6. Open time vs segment count, after a clean and an unclean shutdown"
    title[7] = "7. The same workload on raw files, libklog, SQLite, LMDB and RocksDB (bench_peers, one process)"
    title[8] = "Other figures"
    title[9] = "kbroker and the Apache Kafka broker, one librdkafka client, runs alternating (kafka_peer.sh)"

    printf "# libklog benchmark results\n\n"
    printf "`make %s`, %s%s.\n\n", mode, stamp, secs != "" ? sprintf("; the whole run took %d s (%.1f min)", secs, secs / 60) : ""
    printf "Machine: %s, %s CPUs, %s RAM; %s; %s; scratch files on %s; %s.\n\n", cpu, ncpu, mem, os, kern, tmpfs, ccv
    if (missing != "") {
        gsub(/\n/, ", ", missing)
        printf "**Missing figures:** %s\n\n", missing
    }

    printf "## Targets\n\n| target | measured | met? |\n|---|---|---|\n"
    n = "peers.klog.append.b50"
    if (has(n) && has("peers.raw.write.b50"))
        printf "| batch-50 append >= 80%% of raw write(2) (bench_peers) | %.2fx (%s vs %s rec/s) | %s |\n", med[n] / med["peers.raw.write.b50"], fmt(med[n]), fmt(med["peers.raw.write.b50"]), (med[n] / med["peers.raw.write.b50"] >= 0.8 ? "met" : "**not met**")
    n = "paper.append.b50"
    if (has(n) && has("paper.raw.write.b50"))
        printf "| batch-50 append >= 80%% of raw write(2) (bench_paper) | %.2fx (%s vs %s rec/s) | %s |\n", med[n] / med["paper.raw.write.b50"], fmt(med[n]), fmt(med["paper.raw.write.b50"]), (med[n] / med["paper.raw.write.b50"] >= 0.8 ? "met" : "**not met**")
    n = "peers.klog.append.b50"
    if (has(n) && (b = best_peer("append.b50")) > 0)
        printf "| batch-50 append >= 2x the fastest peer | %.2fx (%s vs %s %s rec/s) | %s |\n", med[n] / b, fmt(med[n]), best_name, fmt(b), (med[n] / b >= 2 ? "met" : "**not met**")
    n = "produce.b1"
    if (has(n) && (b = sqlite_b1()) > 0)
        printf "| one-call-per-record producer >= 5x SQLite batch 1 | %.2fx (%s vs %s %s rec/s)* | %s |\n", med[n] / b, fmt(med[n]), sqlite_name, fmt(b), (med[n] / b >= 5 ? "met" : "**not met**")
    n = "paper.overhead.none"
    if (n in med)
        printf "| storage overhead <= 11 bytes per record, uncompressed | %.2f B/rec (LZ4: %.2f) | %s |\n", med[n], med["paper.overhead.lz4"], (med[n] <= 11 ? "met" : "**not met**")
    # Issue 19 targets, same-run ratios (README "Instruction counts" says which
    # the machine allows and why).
    ratio_row("issue 19: append batch 50 >= 0.90x raw write(2)", "paper.append.b50", "paper.raw.write.b50", 0.90, 1)
    ratio_row("issue 19: append batch 1000 >= 0.90x raw", "paper.append.b1000", "paper.raw.write.b1000", 0.90, 1)
    ratio_row("issue 19: append batch 1 >= 0.80x raw", "paper.append.b1", "paper.raw.write.b1", 0.80, 1)
    ratio_row("(beside it) raw write(2) of the Kafka framing of one record / raw", "paper.raw.write.framed.b1", "paper.raw.write.b1", 0, 1)
    ratio_row("issue 19: record iterator >= 0.65x raw read(2)", "paper.read.iter", "paper.raw.read", 0.65, 1)
    ratio_row("issue 19: LZ4 iterator >= 0.8x of read(2) + LZ4 decompress", "lz4.read.iter", "lz4.base.read-decompress", 0.8, 1)
    ratio_row("issue 19: LZ4 append >= 0.8x of LZ4 compress + write(2)", "lz4.append.b50", "lz4.base.compress-write.b50", 0.8, 1)
    ratio_row("issue 19: producer, 4 threads, null keys >= 1.0x one thread", "null.4t", "null.1t", 1.0, 1)
    ratio_row("issue 19: producer, 4 threads, keyed >= 1.5x one thread", "keyed.4t", "keyed.1t", 1.5, 1)
    for (t = 2; t <= 4; t++)
        ratio_row(sprintf("issue 19: durable p99, %d threads <= 1.5x raw fdatasync p99", t), sprintf("paper.durable.lat.p99.%dt", t), "paper.raw.fdatasync.lat.p99", 1.5, 0)
    printf "\n## Summary\n\n| what | libklog | baseline (raw syscalls, same run) | x baseline | best peer | x best peer | 2011 paper |\n|---|---:|---:|---:|---:|---:|---:|\n"
    nsum = split("paper.append.b1|paper.append.b50|paper.append.b1000|paper.append.b50.lz4|paper.append.b50.fsync|paper.append.b50.4t|produce.b1|paper.read.iter|paper.read.lease-copy|fetch.lease|fetch.copy|paper.overhead.none|paper.overhead.lz4|paper.durable.lat.p50.1t|paper.durable.lat.p99.1t|paper.durable.lat.p50.4t|paper.durable.lat.p99.4t|paper.open.clean.1000seg.large|paper.open.unclean.1000seg.large", sn, "|")
    split("append, batch 1|append, batch 50|append, batch 1000|append, batch 50, LZ4 topic|append, batch 50, fsync per batch|append, batch 50, 4 threads on 4 partitions|klog_produce, one call per record|read, record iterator|read, leases copied out and decoded|zero-copy fetch, lease + sendfile over loopback|fetch, pread + write over loopback|storage overhead per record, uncompressed|storage overhead per record, LZ4|durable append latency p50, 1 thread|durable append latency p99, 1 thread|durable append latency p50, 4 threads|durable append latency p99, 4 threads|open after clean close, 1000 segments, large volume|open after crash, 1000 segments, large volume", sl, "|")
    paper2011["paper.append.b1"] = "50k msg/s"; paper2011["paper.append.b50"] = "400k msg/s"
    paper2011["produce.b1"] = "50k msg/s"; paper2011["paper.read.iter"] = "22k msg/s"
    paper2011["paper.overhead.none"] = "9 B"
    for (j = 1; j <= nsum; j++) {
        n = sn[j]
        if (!(n in med)) continue
        line = sprintf("| %s | %s %s (%s .. %s) |", sl[j], fmt(med[n]), unit_of[n], fmt(lo_of[n]), fmt(hi_of[n]))
        rn = raw_of(n)
        if (rn != "" && has(rn)) line = line sprintf(" %s %s | %.2f%s |", fmt(med[rn]), unit_of[rn], med[n] / med[rn], prog_of[rn] != prog_of[n] ? "*" : "")
        else line = line " | |"
        k = peer_kind(n)
        if (k != "" && (b = best_peer(k)) > 0) line = line sprintf(" %s %s | %.2f%s |", best_name, fmt(b), med[n] / b, prog_of[n] != "bench_peers" ? "*" : "")
        else line = line " | |"
        print line " " ((n in paper2011) ? paper2011[n] : "") " |"
    }
    printf "\nEach figure is the median of its runs, with the lowest and highest run. Ratios are of medians. "
    printf "A ratio marked * compares figures from two programs of the same `make bench` run; unmarked ones come from one process, runs alternating. "
    printf "Baseline: the raw-syscall figure doing the same I/O (or, where none is named, the one the program compares with). Best peer: the fastest of SQLite (sync off, normal), LMDB and RocksDB for that operation (for disk bytes, the smallest).\n"

    for (s = 1; s <= 9; s++) {
        any = 0
        for (i = 1; i <= nrow; i++) if (section(nm[i], vprog[i]) == s) { any = 1; break }
        if (!any) continue
        printf "\n## %s\n\n", title[s]
        if (s == 9) {
            printf "| figure | kbroker | min .. max | Apache Kafka | min .. max | kbroker / Kafka |\n|---|---:|---|---:|---|---:|\n"
            for (i = 1; i <= nrow; i++) {
                if (nm[i] !~ /^peer\.kbroker\./) continue
                f = substr(nm[i], 14); k = "peer.kafka." f
                line = sprintf("| %s | %s %s | %s .. %s |", f, fmt(vmed[i]), vunit[i], fmt(vlo[i]), fmt(vhi[i]))
                if (k in med) line = line sprintf(" %s %s | %s .. %s | %.3g |", fmt(med[k]), unit_of[k], fmt(lo_of[k]), fmt(hi_of[k]), med[k] > 0 ? vmed[i] / med[k] : 0)
                else line = line " (no Kafka: java or mvn missing) | | |"
                print line
            }
            continue
        }
        if (s == 8) {
            last = ""
            for (i = 1; i <= nrow; i++) {
                if (section(nm[i], vprog[i]) != 8) continue
                if (vprog[i] != last) {
                    printf "%s### %s\n\n| figure | median | min .. max | x baseline | x best peer | target |\n|---|---:|---|---|---|---|\n", last == "" ? "" : "\n", vprog[i]
                    last = vprog[i]
                }
                print row(i)
            }
            continue
        }
        printf "| figure | median | min .. max | x baseline | x best peer | target |\n|---|---:|---|---|---|---|\n"
        for (i = 1; i <= nrow; i++) if (section(nm[i], vprog[i]) == s) print row(i)
    }
}' "$csv" > "$md"

# -------------------------------------------------------------- charts
charts_ok=1
if command -v gnuplot > /dev/null 2>&1; then
    # Chart data: one file per chart, written by awk from the same CSV.
    awk -F, -v dir="$dir" '
    NR > 1 && !($1 in med) { med[$1] = $2; lo[$1] = $4; hi[$1] = $5 }
    function trip(n) { return (n in med) ? sprintf("%g %g %g", med[n] / 1e6, lo[n] / 1e6, hi[n] / 1e6) : "NaN NaN NaN" }
    function tripu(n) { return (n in med) ? sprintf("%g %g %g", med[n], lo[n], hi[n]) : "NaN NaN NaN" }
    END {
        f = dir "/batch.dat"
        for (b = 1; b <= 1000; b *= 10) {
            print b, trip("paper.append.b" b), trip("paper.raw.write.b" b) > f
            if (b == 10) print 50, trip("paper.append.b50"), trip("paper.raw.write.b50") > f
        }
        close(f)
        f = dir "/batch_extra.dat"
        print 50, trip("paper.append.b50.lz4"), "lz4" > f
        print 1, trip("produce.b1"), "producer" > f
        close(f)
        f = dir "/peers.dat"
        split("raw klog sqlite-off sqlite-normal lmdb rocksdb", st, " ")
        split("append.b1 append.b50 read", ops, " ")
        for (o = 1; o <= 3; o++) {
            printf "\"%s\"", ops[o] == "read" ? "read all" : (ops[o] == "append.b1" ? "append, batch 1" : "append, batch 50") > f
            for (i = 1; i <= 6; i++) {
                n = "peers." st[i] "." (st[i] == "raw" && ops[o] != "read" ? "write." substr(ops[o], 8) : ops[o])
                printf " %s", trip(n) > f
            }
            printf "\n" > f
        }
        close(f)
        f = dir "/durable.dat"
        for (t = 1; t <= 4; t++)
            print t, tripu("paper.durable.lat.p50." t "t"), tripu("paper.durable.lat.p99." t "t"), tripu("paper.durable.lat.p999." t "t"), \
                tripu("paper.raw.fdatasync.lat.p50" (t > 1 ? "." t "t" : "")), tripu("paper.raw.fdatasync.lat.p99" (t > 1 ? "." t "t" : "")) > f
        close(f)
        f = dir "/durable_raw.dat"
        print tripu("paper.raw.fdatasync.lat.p50"), tripu("paper.raw.fdatasync.lat.p99"), tripu("paper.raw.fdatasync.lat.p999") > f
        close(f)
        f = dir "/open.dat"
        for (s = 10; s <= 1000; s *= 10)
            print s, tripu("paper.open.clean." s "seg.small"), tripu("paper.open.unclean." s "seg.small"), tripu("paper.open.clean." s "seg.large"), tripu("paper.open.unclean." s "seg.large") > f
        close(f)
        f = dir "/open_vol.dat"
        print ("paper.open.volume.small" in med) ? med["paper.open.volume.small"] : 0, ("paper.open.volume.large" in med) ? med["paper.open.volume.large"] : 0 > f
        close(f)
    }' "$csv"
    read rp50 rp50lo rp50hi rp99 rp99lo rp99hi rp999 rp999lo rp999hi < "$dir/durable_raw.dat"
    read vsmall vlarge < "$dir/open_vol.dat"
    title_run="$(echo "$stamp" | cut -d, -f1), $ncpu CPUs ($mode)"
    gnuplot > "$dir/gnuplot.log" 2>&1 <<EOF || charts_ok=0
set terminal pngcairo size 900,600 font "Sans,11" noenhanced
set grid ytics lc rgb "#dddddd"
set key below box
set bmargin 9
set datafile missing "NaN"

set output "$dir/throughput_batch.png"
set title "Append throughput by batch size (200-byte records, median of runs, bars: min..max)\n$title_run"
set logscale x 10
set xrange [0.7:1500]
set xtics ("1" 1, "10" 10, "50" 50, "100" 100, "1000" 1000)
set xlabel "records per append (batch size)"
set ylabel "million records per second"
set yrange [0:*]
plot "$dir/batch.dat" using 1:5:6:7 with yerrorlines lw 2 pt 7 lc rgb "#888888" title "raw write(2) of the same bytes", \
     "$dir/batch.dat" using 1:2:3:4 with yerrorlines lw 2 pt 5 lc rgb "#1f77b4" title "libklog klog_append", \
     "$dir/batch_extra.dat" using 1:(strcol(5) eq "lz4" ? \$2 : NaN):3:4 with yerrorbars pt 9 ps 1.6 lc rgb "#2ca02c" title "libklog, LZ4 topic", \
     "$dir/batch_extra.dat" using 1:(strcol(5) eq "producer" ? \$2 : NaN):3:4 with yerrorbars pt 13 ps 1.6 lc rgb "#d62728" title "klog_produce, one call per record"

unset logscale x
unset xrange
unset xtics
set xtics
set output "$dir/peers.png"
set title "The paper's workload: libklog against raw files and embedded stores (bench_peers)\n$title_run"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set logscale y 10
set yrange [0.01:*]
set xlabel ""
set ylabel "million records per second (log scale)"
plot "$dir/peers.dat" using 2:3:4:xtic(1) title "raw write/read" lc rgb "#888888", \
     "" using 5:6:7 title "libklog" lc rgb "#1f77b4", \
     "" using 8:9:10 title "SQLite WAL sync=off" lc rgb "#ff7f0e", \
     "" using 11:12:13 title "SQLite WAL sync=normal" lc rgb "#ffbb78", \
     "" using 14:15:16 title "LMDB nosync" lc rgb "#2ca02c", \
     "" using 17:18:19 title "RocksDB WAL" lc rgb "#9467bd"

set style data linespoints
unset style histogram
set output "$dir/durable_latency.png"
set title "Durable append latency: one record per append, fsynced before return (group commit)\n$title_run"
set xrange [0.7:4.3]
set xtics 1
set xlabel "threads appending to one partition"
set ylabel "microseconds per append (log scale)"
set yrange [*:*]
plot "$dir/durable.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb "#1f77b4" title "p50", \
     "" using 1:5:6:7 with yerrorlines lw 2 pt 5 lc rgb "#ff7f0e" title "p99", \
     "" using 1:8:9:10 with yerrorlines lw 2 pt 9 lc rgb "#d62728" title "p99.9", \
     "" using 1:11 with linespoints dt 3 lw 1.5 pt 6 lc rgb "#1f77b4" title "raw write+fdatasync p50, N threads on one file", \
     "" using 1:14 with linespoints dt 3 lw 1.5 pt 4 lc rgb "#ff7f0e" title "raw write+fdatasync p99, N threads on one file", \
     $rp50 with lines dt 2 lw 1.5 lc rgb "#1f77b4" title "raw write+fdatasync p50 (1 thread)", \
     $rp99 with lines dt 2 lw 1.5 lc rgb "#ff7f0e" title "raw write+fdatasync p99 (1 thread)"

set output "$dir/open_time.png"
set title "klog_open time vs segment count (one partition)\n$title_run"
set logscale x 10
set xrange [7:1500]
set xtics ("10" 10, "100" 100, "1000" 1000)
set xlabel "segments"
set ylabel "milliseconds (log scale)"
plot "$dir/open.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb "#1f77b4" title sprintf("clean, %.0f MB", $vsmall), \
     "" using 1:5:6:7 with yerrorlines lw 2 pt 7 dt 2 lc rgb "#d62728" title sprintf("unclean, %.0f MB", $vsmall), \
     "" using 1:8:9:10 with yerrorlines lw 2 pt 5 lc rgb "#2ca02c" title sprintf("clean, %.0f MB", $vlarge), \
     "" using 1:11:12:13 with yerrorlines lw 2 pt 5 dt 2 lc rgb "#9467bd" title sprintf("unclean, %.0f MB", $vlarge)
EOF
    [ $charts_ok -eq 1 ] || { echo "report: gnuplot failed:"; cat "$dir/gnuplot.log"; }
    rm -f "$dir"/batch.dat "$dir"/batch_extra.dat "$dir"/peers.dat "$dir"/durable.dat \
        "$dir"/durable_raw.dat "$dir"/open.dat "$dir"/open_vol.dat
else
    echo "report: gnuplot not installed: no charts (apt-get install gnuplot-nox)"
fi

echo "report: $md$( [ $charts_ok -eq 1 ] && command -v gnuplot > /dev/null && echo " and charts in $dir/*.png")"
if [ -n "$missing" ]; then
    echo "report: MISSING figures (an experiment did not report):" $missing
    exit 1
fi
[ $charts_ok -eq 1 ] || exit 1
exit 0
