"""Interop helper: build and parse RecordBatch v2 with python-kafka.

  kafka_batches.py check                      exit 0 if python-kafka is usable
  kafka_batches.py codecs                     print the codecs python-kafka can write
  kafka_batches.py gen CODEC SEED N OUT.bin OUT.txt
        build one batch of N random records, write it and its canonical text;
        print the codec actually used (python-kafka writes small batches
        uncompressed when compression does not shrink them)
  kafka_batches.py desc SEED N OUT.txt
        write N random records in the canonical text form (input for batchtool build)
  kafka_batches.py parse IN.bin
        parse one batch (validate_crc() must pass), print the canonical text

The canonical text is batchtool's: one line per record,
  rec offset=N ts=N key=B value=B headers=N [h=K:B ...]
with B = null | x<hex> and K = x<hex of the UTF-8 key>.
"""
import random
import sys

try:
    from kafka.record.default_records import (DefaultRecordBatchBuilder,
                                              DefaultRecordBatch)
    from kafka.record.memory_records import MemoryRecords
    from kafka import codec as kcodec
except ImportError as e:  # pragma: no cover - reported by the shell script
    print("python3-kafka not importable: %s" % e)
    sys.exit(77)

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
WORDS = [w.encode() for w in (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "xray yankee zulu").split()]


def available():
    out = ["none"]
    if kcodec.has_gzip():
        out.append("gzip")
    if kcodec.has_snappy():
        out.append("snappy")
    if kcodec.has_lz4():
        out.append("lz4")
    if hasattr(kcodec, "has_zstd") and kcodec.has_zstd():
        out.append("zstd")
    return out


def b2t(b):
    return "null" if b is None else "x" + bytes(b).hex()


def line(off, ts, key, value, headers):
    s = "rec offset=%d ts=%d key=%s value=%s headers=%d" % (
        off, ts, b2t(key), b2t(value), len(headers))
    for k, v in headers:
        s += " h=%s:%s" % (b2t(k.encode("utf-8")), b2t(v))
    return s


def payload(rng, lo, hi):
    """Compressible text-ish bytes, sometimes null or empty."""
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.15:
        return b""
    n = rng.randint(lo, hi)
    out = b" ".join(rng.choice(WORDS) for _ in range(n // 5 + 1))
    return out[:n]


def random_records(seed, n):
    rng = random.Random(seed)
    base = 1700000000000 + rng.randint(0, 10 ** 6)
    recs = []
    for i in range(n):
        ts = base + rng.randint(-100000, 100000)  # negative deltas too
        key = payload(rng, 0, 20)
        value = payload(rng, 0, 300)
        headers = []
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            hk = "h" + "".join(rng.choice("abcdef0123") for _ in range(rng.randint(0, 8)))
            headers.append((hk, payload(rng, 0, 12)))
        recs.append((i, ts, key, value, headers))
    return recs


def cmd_gen(codec, seed, n, out_bin, out_txt):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[codec],
                                  is_transactional=0, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1,
                                  batch_size=64 << 20)
    recs = random_records(seed, n)
    with open(out_txt, "w") as f:
        for off, ts, key, value, headers in recs:
            if b.append(off, ts, key, value, headers) is None:
                raise SystemExit("append refused")
            f.write(line(off, ts, key, value, headers) + "\n")
    data = bytes(b.build())
    with open(out_bin, "wb") as f:
        f.write(data)
    # python-kafka falls back to no compression when it does not pay off;
    # report what was written so the caller can tell.
    attrs = int.from_bytes(data[21:23], "big")
    print([k for k, v in CODECS.items() if v == attrs & 7][0])


def cmd_desc(seed, n, out_txt):
    with open(out_txt, "w") as f:
        for rec in random_records(seed, n):
            f.write(line(*rec) + "\n")


def cmd_parse(path):
    with open(path, "rb") as f:
        data = f.read()
    mr = MemoryRecords(data)
    batch = mr.next_batch()
    if batch is None or not isinstance(batch, DefaultRecordBatch):
        raise SystemExit("no v2 batch")
    if not batch.validate_crc():
        raise SystemExit("CRC check failed")
    for r in batch:
        print(line(r.offset, r.timestamp, r.key, r.value, r.headers))
    if mr.has_next():
        raise SystemExit("trailing data")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "check":
        return 0
    if cmd == "codecs":
        print(" ".join(available()))
        return 0
    if cmd == "gen" and len(argv) == 7:
        cmd_gen(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6])
        return 0
    if cmd == "desc" and len(argv) == 5:
        cmd_desc(int(argv[2]), int(argv[3]), argv[4])
        return 0
    if cmd == "parse" and len(argv) == 3:
        cmd_parse(argv[2])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
