"""Regenerate the seed corpus of fuzz_batch (test/fuzz/corpus/fuzz_batch/).

Run from the repository root after `make build/test/batchtool`:
    /usr/bin/python3 test/fuzz/make_corpus_fuzz_batch.py
Seeds: the golden batches of kafka-format.md 1.7, batches of every codec built
by libklog, LZ4 frame variants made by python-lz4, one input per malformed-
record rule (with a correct CRC), truncations and header corruptions.
"""
import os
import struct
import subprocess
import sys

OUT = "test/fuzz/corpus/fuzz_batch"
TOOL = os.environ.get("KLOG_BUILD", "build") + "/test/batchtool"

# Reflected CRC-32C, bitwise (slow but independent of libklog).
def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def xxh32(data, seed=0):
    P1, P2, P3, P4, P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    M = 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & M
    n, i = len(data), 0
    if n >= 16:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed & M, (seed - P1) & M]
        while i + 16 <= n:
            for k in range(4):
                w = struct.unpack_from("<I", data, i + 4 * k)[0]
                v[k] = (rotl((v[k] + w * P2) & M, 13) * P1) & M
            i += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while i + 4 <= n:
        h = (rotl((h + struct.unpack_from("<I", data, i)[0] * P3) & M, 17) * P4) & M
        i += 4
    while i < n:
        h = (rotl((h + data[i] * P5) & M, 11) * P1) & M
        i += 1
    h ^= h >> 15
    h = (h * P2) & M
    h ^= h >> 13
    h = (h * P3) & M
    return h ^ (h >> 16)


def reflag(frame, flg=None, bd=None):
    """Rewrite FLG/BD of an LZ4 frame and fix its header checksum."""
    fr = bytearray(frame)
    if flg is not None:
        fr[4] = flg
    if bd is not None:
        fr[5] = bd
    hlen = 2 + (8 if fr[4] & 0x08 else 0)
    fr[4 + hlen] = (xxh32(bytes(fr[4:4 + hlen])) >> 8) & 0xFF
    return bytes(fr)


def batch(records, count, last_delta, attrs=0, base_ts=1000, max_ts=2000):
    body = struct.pack(">hiqqqhii", attrs, last_delta, base_ts, max_ts, -1, -1, -1, count) + records
    crc = crc32c(body)
    head = struct.pack(">qiib", 0, len(body) + 9, -1, 2) + struct.pack(">I", crc)
    return head + body


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


GOLDEN = bytes.fromhex(
    "0000000000000000" "00000055" "ffffffff" "02" "e58cf1ff" "0000" "00000001"
    "00000000000454c3" "00000000000454c3" "ffffffffffffffff" "ffff" "ffffffff" "00000002"
    "20" "00" "00" "00" "08" "6b657931" "0c" "76616c756531" "00"
    "24" "00" "e1bf22" "02" "08" "6b657932" "0c" "76616c756532" "00")


def main():
    os.makedirs(OUT, exist_ok=True)
    g = GOLDEN
    assert len(g) == 97 and crc32c(g[21:]) == 0xE58CF1FF, len(g)
    assert (xxh32(bytes([0x60, 0x40])) >> 8) & 0xFF == 0x82
    write("golden_none", g)
    recs = g[61:]
    lz = bytes.fromhex("04224d18604082") + bytes.fromhex("24000080") + recs + bytes(4)
    gl = batch(lz, 2, 1, attrs=3, base_ts=283843, max_ts=283843)
    assert struct.unpack(">I", gl[17:21])[0] == 0xA3AC2AA2
    write("golden_lz4", gl)
    write("empty_batch", batch(b"", 0, 0, base_ts=-1, max_ts=-1))
    write("log_append_time", batch(recs, 2, 1, attrs=8, base_ts=283843, max_ts=99))
    for n in (16, 17, 60, 61, 96):
        write("trunc_%d" % n, g[:n])
    bad = bytearray(g); bad[16] = 1; write("magic_1", bytes(bad))
    bad = bytearray(g); bad[20] ^= 1; write("crc_flip", bytes(bad))
    bad = bytearray(g); bad[8:12] = struct.pack(">i", 48); write("batchlen_small", bytes(bad))
    write("two_batches", g + g)

    rmin = bytes([0x0c, 0, 0, 0, 1, 1, 0])
    malformed = {
        "varint_overlong": (bytes([0x80] * 5 + [0, 0]), 1, 0),
        "recl_leftover": (bytes([0x0e, 0, 0, 0, 1, 1, 0, 0]), 1, 0),
        "recl_short": (bytes([0x0a, 0, 0, 0, 1, 1, 0]), 1, 0),
        "recl_negative": (bytes([0x03, 0, 0, 0, 1, 1, 0]), 1, 0),
        "overrun_key": (bytes([0x0e, 0, 0, 0, 0x28, 0x61, 1, 0]), 1, 0),
        "overrun_hdr_value": (bytes([0x14, 0, 0, 0, 1, 1, 2, 2, 0x61, 0x0a, 0x62]), 1, 0),
        "hdrcount_negative": (bytes([0x0c, 0, 0, 0, 1, 1, 1]), 1, 0),
        "hdrcount_big": (bytes([0x10, 0, 0, 0, 1, 1, 0x14, 0, 1]), 1, 0),
        "hdrkey_null": (bytes([0x10, 0, 0, 0, 1, 1, 2, 1, 1]), 1, 0),
        "neglen_key": (bytes([0x0c, 0, 0, 0, 3, 1, 0]), 1, 0),
        "reccount_more": (rmin + bytes([0x0c, 0, 0, 2, 1, 1, 0]), 3, 2),
        "reccount_less": (rmin + bytes([0x0c, 0, 0, 2, 1, 1, 0]), 1, 1),
        "offdelta_dup": (rmin + rmin, 2, 1),
        "offdelta_gap_ok": (rmin + bytes([0x0c, 0, 0, 0x0a, 1, 1, 0]), 2, 7),
        "one_header": (bytes([0x14, 0, 0, 0, 1, 1, 2, 2, 0x61, 2, 0x62]), 1, 0),
    }
    for name, (r, count, last) in malformed.items():
        write("rec_" + name, batch(r, count, last))
    for c in (5, 7):
        write("codec_%d" % c, batch(rmin, 1, 0, attrs=c))

    # Batches of every codec, built by libklog from a record description.
    desc = "".join(
        "rec ts=%d key=%s value=x%s%s\n" % (
            1000 + (i * 37) % 200 - 100,
            "null" if i % 5 == 0 else "x6b%02x" % i,
            ("76616c7565" * (1 + i % 7)),
            " h=x6869:x%02x" % i if i % 3 == 0 else "")
        for i in range(12))
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        path = os.path.join(OUT, "built_" + codec)
        r = subprocess.run([TOOL, "build", codec, path], input=desc.encode())
        if r.returncode != 0:
            print("note: %s not built" % codec)

    # LZ4 frame variants (python-lz4): checksums, content size, bigger
    # blocks, linked blocks (must be rejected).
    try:
        import lz4.frame as f
        plain = open(os.path.join(OUT, "built_none"), "rb").read()
        recs12 = plain[61:]
        frame = f.compress(recs12, block_linked=False, content_checksum=True,
                           block_checksum=True, store_size=True)
        write("lz4_all_flags", batch(frame, 12, 11, attrs=3))
        frame = f.compress(recs12, block_linked=False, store_size=False)
        write("lz4_256k", batch(reflag(frame, bd=0x50), 12, 11, attrs=3))
        write("lz4_4m", batch(reflag(frame, bd=0x70), 12, 11, attrs=3))
        write("lz4_linked", batch(reflag(frame, flg=frame[4] & ~0x20), 12, 11, attrs=3))
        write("lz4_kafka3160_hc", batch(frame[:6] + bytes([0x1a]) + frame[7:], 12, 11, attrs=3))
    except ImportError:
        print("note: python3-lz4 missing, LZ4 variants skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
