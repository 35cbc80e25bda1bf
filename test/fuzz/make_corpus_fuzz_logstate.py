"""Regenerate the seed corpora of fuzz_snapshot, fuzz_txnindex and fuzz_epoch
(test/fuzz/corpus/<target>/). Run from the repository root:
    /usr/bin/python3 test/fuzz/make_corpus_fuzz_logstate.py
Seeds are written from the formats in kafka-format.md 3.5, 3.6 and 4 by this
script alone (its own bitwise CRC-32C), not by libklog: valid files of each
shape, plus the usual damage (bad CRC, cut, wrong version, malformed lines).
"""
import os
import struct


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def write(target, name, data):
    d = os.path.join("test/fuzz/corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def snapshot(entries, version=1):
    body = struct.pack(">i", len(entries))
    for e in entries:
        body += struct.pack(">qhiqiqiq", *e)
    return struct.pack(">hI", version, crc32c(body)) + body


# (producerId, epoch, lastSeq, lastOffset, offsetDelta, timestamp, coordEpoch, txnFirst)
ONE = (1000, 3, 9, 109, 4, 1700000000000, 7, 105)
MARKER_ONLY = (7, 2, -1, -1, 0, 1005, 1, -1)
NO_EPOCH = (8, -1, -1, -1, 0, -1, -1, -1)
WRAP = (9, 15, 9, 2020, 20, 5, -1, -1)
MAXSEQ = (10, 0, 2147483647, 735, 0, 5, -1, 735)
write("fuzz_snapshot", "empty", snapshot([]))
write("fuzz_snapshot", "one", snapshot([ONE]))
write("fuzz_snapshot", "several", snapshot([ONE, MARKER_ONLY, NO_EPOCH, WRAP, MAXSEQ]))
write("fuzz_snapshot", "unsorted", snapshot([WRAP, ONE, MARKER_ONLY]))
write("fuzz_snapshot", "duplicate-id", snapshot([ONE, ONE]))
write("fuzz_snapshot", "version2", snapshot([ONE], version=2))
bad = bytearray(snapshot([ONE, WRAP]))
bad[20] ^= 1
write("fuzz_snapshot", "bad-crc", bytes(bad))
write("fuzz_snapshot", "cut", snapshot([ONE, WRAP])[:60])
write("fuzz_snapshot", "tiny", b"\x00\x01\x00")


def txn(entries, version=0):
    return b"".join(struct.pack(">hqqqq", version, *e) for e in entries)


T = [(1, 0, 10, 11), (2, 5, 15, 11), (3, 12, 20, 21), (1, 18, 30, 25), (4, 40, 45, 46)]
write("fuzz_txnindex", "empty", b"")
write("fuzz_txnindex", "one", txn(T[:1]))
write("fuzz_txnindex", "several", txn(T))
write("fuzz_txnindex", "partial", txn(T)[:80])
write("fuzz_txnindex", "version1", txn(T[:2], version=1))
write("fuzz_txnindex", "not-increasing", txn([T[1], T[0]]))
write("fuzz_txnindex", "big", txn([(7, 1 << 40, (1 << 40) + 5, 1 << 41)]))

write("fuzz_epoch", "empty", b"")
write("fuzz_epoch", "no-entries", b"0\n0\n")
write("fuzz_epoch", "known", b"0\n3\n0 0\n3 1200\n5 2000\n")
write("fuzz_epoch", "crlf", b"0\r\n2\r\n1 5\r\n2\t\t6")
write("fuzz_epoch", "non-monotonic", b"0\n4\n1 5\n2 6\n1 7\n3 7\n")
write("fuzz_epoch", "max", b"0\n1\n2147483647 9223372036854775807\n")
write("fuzz_epoch", "version1", b"1\n0\n")
write("fuzz_epoch", "count-mismatch", b"0\n2\n1 5\n")
write("fuzz_epoch", "three-fields", b"0\n1\n1 5 6\n")
write("fuzz_epoch", "negative", b"0\n1\n-1 5\n")
