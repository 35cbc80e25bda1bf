#!/usr/bin/python3
"""Generate RecordBatch v2 fixtures with an independent Kafka client library.

Writes test/data/kafka_python_batches.txt for test/check_storage.c
(wire_append_kafka_python): one batch per line,

    <codec> <records> <first index> <hex of the batch>

built by Debian's python3-kafka (kafka.record.default_records.
DefaultRecordBatchBuilder), i.e. what a Kafka producer sends: base offset 0,
leader epoch 0, no producer id, CreateTime. Record i (counting across all
batches from 0) has:
    key       None when i % 7 == 3, else b"key-%d" % i
    value     (b"value-%d-" % i) * (1 + i % 5), or None when i % 11 == 5
    timestamp 1700000000000 + 1000 * i - 500 * (i % 3)   (not monotonic)
    headers   [("h%d" % i, b"hv")] when i % 4 == 1, [("n", None)] when
              i % 4 == 2, else none
The C test rebuilds the same records from these rules.

Run with /usr/bin/python3 (Debian's, which has the kafka module):
    /usr/bin/python3 test/interop/gen_storage_batches.py > test/data/kafka_python_batches.txt
"""
import sys

from kafka.record.default_records import DefaultRecordBatchBuilder


def record(i):
    key = None if i % 7 == 3 else b"key-%d" % i
    value = None if i % 11 == 5 else (b"value-%d-" % i) * (1 + i % 5)
    ts = 1700000000000 + 1000 * i - 500 * (i % 3)
    if i % 4 == 1:
        headers = [("h%d" % i, b"hv")]
    elif i % 4 == 2:
        headers = [("n", None)]
    else:
        headers = []
    return key, value, ts, headers


def main():
    # (codec, record count): none, gzip, lz4 (python3-kafka here has no
    # snappy or zstd); compressed batches are big and repetitive enough that
    # the builder keeps them compressed.
    plan = [(0, 1), (0, 3), (1, 20), (3, 20), (0, 7), (1, 9), (3, 40), (0, 12)]
    i = 0
    for codec, n in plan:
        b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=0,
                                      producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                      batch_size=1 << 20)
        first = i
        for k in range(n):
            key, value, ts, headers = record(i)
            if b.append(k, ts, key, value, headers) is None:
                raise SystemExit("builder refused a record")
            i += 1
        data = bytes(b.build())
        attrs = int.from_bytes(data[21:23], "big")
        if (attrs & 7) != codec:
            raise SystemExit("codec %d not kept (attributes %#x)" % (codec, attrs))
        sys.stdout.write("%d %d %d %s\n" % (codec, n, first, data.hex()))


if __name__ == "__main__":
    main()
