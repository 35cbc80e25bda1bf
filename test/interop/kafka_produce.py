"""kafka_produce.py — send fixed, pre-built batches as Produce requests, one
batch per request, so two brokers receive exactly the same bytes (the
byte-identical test in kafka_bytes.sh). Python standard library only.

  kafka_produce.py HOST:PORT VERSION TOPIC PARTITION ACKS BATCHFILE

BATCHFILE holds concatenated RecordBatch v2 batches (oracle_gen batches).
Each is sent in its own Produce request (non-flexible versions 3..8, which
share one layout); the answer must carry error 0 and base offsets must
follow each other. Prints "sent N batches, offsets 0..M".
"""
import socket
import struct
import sys


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("broker closed the connection")
        b += chunk
    return b


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def produce(s, corr, version, topic, part, acks, batch):
    body = struct.pack(">h", -1)  # transactional_id: null
    body += struct.pack(">hi", acks, 30000)
    body += struct.pack(">i", 1) + kstr(topic)
    body += struct.pack(">i", 1) + struct.pack(">i", part)
    body += struct.pack(">i", len(batch)) + batch
    hdr = struct.pack(">hhi", 0, version, corr) + kstr("klog-oracle")
    req = hdr + body
    s.sendall(struct.pack(">i", len(req)) + req)
    n = struct.unpack(">i", recv_exact(s, 4))[0]
    r = recv_exact(s, n)
    got_corr, = struct.unpack_from(">i", r, 0)
    if got_corr != corr:
        raise ValueError("correlation id %d, expected %d" % (got_corr, corr))
    pos = 4
    ntopics, = struct.unpack_from(">i", r, pos)
    pos += 4
    tl, = struct.unpack_from(">h", r, pos)
    pos += 2 + tl
    nparts, = struct.unpack_from(">i", r, pos)
    pos += 4
    idx, err, base = struct.unpack_from(">ihq", r, pos)
    if ntopics != 1 or nparts != 1 or idx != part:
        raise ValueError("unexpected response shape")
    return err, base


def main(argv):
    if len(argv) != 7:
        sys.stderr.write(__doc__)
        return 2
    host, port = argv[1].rsplit(":", 1)
    version, topic, part, acks = int(argv[2]), argv[3], int(argv[4]), int(argv[5])
    data = open(argv[6], "rb").read()
    s = socket.create_connection((host, int(port)), timeout=30)
    pos, corr, expect = 0, 1, None
    while pos < len(data):
        blen, = struct.unpack_from(">i", data, pos + 8)
        batch = data[pos:pos + 12 + blen]
        count, = struct.unpack_from(">i", batch, 57)
        err, base = produce(s, corr, version, topic, part, acks, batch)
        if err != 0:
            print("batch %d: error code %d" % (corr, err))
            return 1
        if expect is not None and base != expect:
            print("batch %d: base offset %d, expected %d" % (corr, base, expect))
            return 1
        expect = base + count
        pos += 12 + blen
        corr += 1
    s.close()
    print("sent %d batches, offsets 0..%d" % (corr - 1, expect - 1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
