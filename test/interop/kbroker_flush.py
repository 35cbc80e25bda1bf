"""kbroker_flush.py — acks=all fsyncs run on kbroker's flush thread, not on
its event loop. Raw Kafka requests on several connections while the disk is
made slow on demand (kbroker runs under the kbroker_slow_fsync.c shim: every
fsync sleeps SLOW_MS while FLAGFILE exists).

Usage: kbroker_flush.py HOST PORT FLAGFILE SLOW_MS

Checks:
  * with a fast disk, acks=all and acks=1 produces answer (baseline);
  * with a slow disk, an acks=all Produce is answered only after SLOW_MS
    (its fsync), with error 0 and the right base offset, while meanwhile
    ApiVersions and Metadata on other connections, and an acks=1 Produce,
    are answered at once: the loop is not blocked;
  * a Metadata pipelined behind the acks=all Produce on the same connection
    is answered after it (responses stay in request order);
  * acks=all Produces on 6 connections at once all succeed, their fsyncs
    shared: far less than 6 x SLOW_MS in all;
  * a connection closed while its acks=all response waits costs nothing:
    the broker stays up and serves the next request.
Prints "ok: ..." lines; exits 1 on the first failure.
"""
import os
import socket
import struct
import sys
import time

HOST, PORT, FLAG, SLOW_MS = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
SLOW = SLOW_MS / 1000.0
TIMEOUT = 30


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)
    sys.stdout.flush()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


CRC_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)


def zz(v):
    v = (v << 1) ^ (v >> 63)
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def record_batch(values):
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + zz(0) + zz(i) + zz(-1) + zz(len(v)) + v + zz(0)
        recs += zz(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, 1000, 1000, -1, -1, -1,
                            len(values)) + recs
    head = struct.pack(">iBI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(head)) + head


def connect():
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def request(api, ver, corr, body, client=b"flushtest"):
    msg = struct.pack(">hhih", api, ver, corr, len(client)) + client + body
    return struct.pack(">i", len(msg)) + msg


def read_response(s):
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    data = recv_exact(s, size)
    return struct.unpack(">i", data[:4])[0], data[4:]


def kstr(s):
    return struct.pack(">h", len(s)) + s


TOPIC = b"flushed"


def produce_req(corr, acks, n=3):
    recs = record_batch([b"value-%d" % i for i in range(n)])
    body = (struct.pack(">hhi", -1, acks, 5000) + struct.pack(">i", 1) + kstr(TOPIC)
            + struct.pack(">ii", 1, 0) + struct.pack(">i", len(recs)) + recs)
    return request(0, 3, corr, body)


def produce_result(s, corr):
    c, body = read_response(s)
    if c != corr:
        fail("produce: correlation %d, wanted %d" % (c, corr))
    off = 4 + 2 + len(TOPIC) + 4 + 4
    return struct.unpack(">hq", body[off:off + 10])


def metadata_req(corr):
    return request(3, 4, corr, struct.pack(">i", 1) + kstr(TOPIC) + b"\x01")


def expect(s, corr, what):
    c, _ = read_response(s)
    if c != corr:
        fail("%s: correlation %d, wanted %d" % (what, c, corr))


def timed(fn):
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def main():
    slow_on = lambda: open(FLAG, "w").close()
    slow_off = lambda: os.path.exists(FLAG) and os.unlink(FLAG)
    slow_off()
    a = connect()
    a.sendall(metadata_req(1))  # creates the topic
    expect(a, 1, "metadata")
    a.sendall(produce_req(2, -1))
    err, base = produce_result(a, 2)
    if err != 0 or base != 0:
        fail("fast acks=all produce: error %d base %d" % (err, base))
    a.sendall(produce_req(3, 1))
    err, base = produce_result(a, 3)
    if err != 0 or base != 3:
        fail("fast acks=1 produce: error %d base %d" % (err, base))
    ok("fast disk: acks=all and acks=1 produce answered")

    b = connect()
    c = connect()
    slow_on()
    t0 = time.monotonic()
    a.sendall(produce_req(4, -1) + metadata_req(5))
    time.sleep(0.05)
    b.sendall(request(18, 0, 6, b""))
    (_, d_api) = timed(lambda: expect(b, 6, "api versions"))
    b.sendall(metadata_req(7))
    (_, d_meta) = timed(lambda: expect(b, 7, "metadata"))
    c.sendall(produce_req(8, 1))
    ((err1, base1), d_ack1) = timed(lambda: produce_result(c, 8))
    err, base = produce_result(a, 4)
    d_all = time.monotonic() - t0
    expect(a, 5, "pipelined metadata")
    d_pipe = time.monotonic() - t0
    if err != 0 or base != 6:
        fail("slow acks=all produce: error %d base %d (wanted 0, 6)" % (err, base))
    if err1 != 0 or base1 != 9:
        fail("acks=1 produce during the fsync: error %d base %d (wanted 0, 9)" % (err1, base1))
    if d_all < SLOW * 0.9:
        fail("acks=all answered after %.3f s, before its %.3f s fsync" % (d_all, SLOW))
    limit = SLOW / 3
    if d_api > limit or d_meta > limit or d_ack1 > limit:
        fail("the loop was blocked by the fsync: ApiVersions %.3f s, Metadata %.3f s, "
             "acks=1 %.3f s (fsync %.3f s)" % (d_api, d_meta, d_ack1, SLOW))
    if d_pipe < d_all:
        fail("pipelined metadata answered before the produce")
    ok("slow disk: acks=all answered after its fsync (%.3f s); meanwhile ApiVersions %.3f s, "
       "Metadata %.3f s, acks=1 produce %.3f s on other connections" % (d_all, d_api, d_meta,
                                                                       d_ack1))
    ok("a request pipelined behind acks=all is answered after it")

    conns = [connect() for _ in range(6)]
    t0 = time.monotonic()
    for i, s in enumerate(conns):
        s.sendall(produce_req(100 + i, -1))
    bases = []
    for i, s in enumerate(conns):
        err, base = produce_result(s, 100 + i)
        if err != 0:
            fail("concurrent acks=all produce %d: error %d" % (i, err))
        bases.append(base)
    d = time.monotonic() - t0
    if sorted(bases) != [12 + 3 * i for i in range(6)]:
        fail("concurrent acks=all base offsets %s" % sorted(bases))
    if d > SLOW * 4:
        fail("6 concurrent acks=all produces took %.3f s: fsyncs not shared (%.3f s each)"
             % (d, SLOW))
    ok("6 concurrent acks=all produces in %.3f s (fsync %.3f s): fsyncs shared" % (d, SLOW))

    d = connect()
    d.sendall(produce_req(200, -1))
    time.sleep(0.05)
    d.close()  # while its response waits for the fsync
    time.sleep(SLOW * 1.5)
    slow_off()
    a.sendall(produce_req(9, -1))
    err, base = produce_result(a, 9)
    if err != 0 or base != 33:
        fail("after a closed waiting connection: error %d base %d (wanted 0, 33)" % (err, base))
    ok("a connection closed while its acks=all response waited: broker fine")
    for s in [a, b, c] + conns:
        s.close()


main()
