"""kbroker_hostile.py — raw-socket checks of kbroker's framing and robustness.

Usage: kbroker_hostile.py HOST PORT BROKER_PID [IDLE_CONNS]

Checks, each on its own connection while a "witness" connection stays open
and must keep working:
  * oversized, negative and too-small size prefixes, garbage, truncated
    fields, absurd array counts: the connection is closed;
  * an unknown API key or an unserved version is answered with
    UNSUPPORTED_VERSION (35) after its correlation id and the connection
    stays usable;
  * a slow client that declares a huge request and trickles bytes does not
    make the broker allocate the declared size;
  * pipelined requests are answered in order; a long-polling Fetch delays
    later responses on its own connection only;
  * Produce errors map to Kafka codes (bad CRC -> 2, too large -> 10,
    unknown topic -> 3, bad acks -> 21) and acks=0 gets no response;
  * IDLE_CONNS idle connections are accepted while a normal client works
    (the caller runs kcat against the broker while they are open: this
    script opens them, prints "idle-open", and waits for a line on stdin).
Every socket operation has a timeout. Prints "ok: ..." lines; exits 1 on
the first failure.
"""
import os
import resource
import socket
import struct
import sys
import time

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
IDLE = int(sys.argv[4]) if len(sys.argv) > 4 else 0
TIMEOUT = 10


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)
    sys.stdout.flush()


def crc32c(data):
    table = crc32c.table
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c.table = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    crc32c.table.append(c)


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


def request(api, ver, corr, body, client=b"hostile"):
    hdr = struct.pack(">hhih", api, ver, corr, len(client)) + client
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def read_response(s):
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    data = recv_exact(s, size)
    return struct.unpack(">i", data[:4])[0], data[4:]


def api_versions(s, corr):
    s.sendall(request(18, 0, corr, b""))
    c, body = read_response(s)
    if c != corr or struct.unpack(">h", body[:2])[0] != 0:
        fail("ApiVersions answer wrong (corr %d)" % c)


def expect_closed(s, what):
    deadline = time.time() + TIMEOUT
    try:
        while time.time() < deadline:
            if not s.recv(65536):
                s.close()
                ok("closed: " + what)
                return
    except (ConnectionResetError, BrokenPipeError):
        s.close()
        ok("closed: " + what)
        return
    except socket.timeout:
        pass
    fail("connection not closed after " + what)


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def record_batch(values, crc_ok=True):
    recs = b""
    for i, v in enumerate(values):
        body = (b"\x00" + zz(0) + zz(i) + zz(-1) + zz(len(v)) + v + zz(0))
        recs += zz(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, 1000, 1000, -1, -1, -1,
                            len(values)) + recs
    crc = crc32c(after_crc) ^ (0 if crc_ok else 1)
    head = struct.pack(">iBI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(head)) + head


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


def kstr(s):
    return struct.pack(">h", len(s)) + s


def produce_body(topic, part, records, acks=-1):
    return (struct.pack(">hhi", -1, acks, 5000) + struct.pack(">i", 1) + kstr(topic)
            + struct.pack(">ii", 1, part) + struct.pack(">i", len(records)) + records)


def produce_error(s, corr, topic, records, acks=-1):
    s.sendall(request(0, 3, corr, produce_body(topic, 0, records, acks)))
    c, body = read_response(s)
    if c != corr:
        fail("produce: correlation %d, wanted %d" % (c, corr))
    # [n=1][topic][n=1][partition i32][error i16][base i64][time i64] throttle
    off = 4 + 2 + len(topic) + 4 + 4
    err, base = struct.unpack(">hq", body[off:off + 10])
    return err, base


def metadata_create(s, corr, topic):
    body = struct.pack(">i", 1) + kstr(topic) + b"\x01"
    s.sendall(request(3, 4, corr, body))
    c, _ = read_response(s)
    if c != corr:
        fail("metadata: correlation")


def fetch_body(topic, part, offset, max_wait):
    return (struct.pack(">iiiib", -1, max_wait, 1, 1 << 20, 0) + struct.pack(">i", 1)
            + kstr(topic) + struct.pack(">iiqi", 1, part, offset, 1 << 20))


def main():
    witness = connect()
    api_versions(witness, 1)

    # --- framing attacks: each closes only its own connection
    attacks = [
        ("size prefix 2 GiB - 1", struct.pack(">I", 0x7FFFFFFF)),
        ("size prefix 200 MiB", struct.pack(">I", 200 << 20) + b"x" * 100),
        ("negative size prefix", struct.pack(">i", -5)),
        ("size prefix below a header", struct.pack(">i", 3) + b"abc"),
        ("garbage bytes", struct.pack(">i", 24) + bytes(range(200, 224))),
        ("client id longer than the frame", struct.pack(">ihhih", 10, 3, 1, 7, 500)),
        ("truncated Metadata body", request(3, 1, 7, struct.pack(">i", 2) + kstr(b"abc"))),
        ("absurd array count", request(3, 1, 7, struct.pack(">i", 100000000))),
        ("Produce records length past the end",
         request(0, 3, 7, struct.pack(">hhi", -1, 1, 1000) + struct.pack(">i", 1) + kstr(b"t")
                 + struct.pack(">iii", 1, 0, 1 << 30))),
    ]
    for what, data in attacks:
        s = connect()
        s.sendall(data)
        expect_closed(s, what)
        api_versions(witness, 2)

    # unknown key and unserved version: error 35, the connection lives on
    s = connect()
    for corr, (api, ver) in enumerate([(0x4141, 0), (1, 13), (29, 0), (3, 99)], 50):
        s.sendall(request(api, ver, corr, b"\x00" * 40))
        c, body = read_response(s)
        if c != corr or body != struct.pack(">h", 35):
            fail("key %d v%d: want UNSUPPORTED_VERSION, got corr %d %r" % (api, ver, c, body[:8]))
    api_versions(s, 60)
    s.close()
    ok("unknown key and unserved versions answered with UNSUPPORTED_VERSION")

    # a request cut short by the client: the broker just sees EOF
    s = connect()
    s.sendall(request(18, 0, 9, b"")[:7])
    s.shutdown(socket.SHUT_WR)
    expect_closed(s, "truncated request then EOF")
    api_versions(witness, 3)
    ok("witness connection still served")

    # --- slow clients declaring huge requests do not cost the declared size
    before = rss_kib()
    slow = []
    for _ in range(50):
        s = connect()
        s.sendall(struct.pack(">i", 90 << 20) + b"\x00\x03\x00\x01" + b"z" * 2000)
        slow.append(s)
    api_versions(witness, 4)
    grown = rss_kib() - before
    if grown > 64 * 1024:
        fail("50 slow 90 MiB requests grew the broker by %d KiB" % grown)
    for s in slow:
        s.close()
    ok("50 slow huge requests cost %d KiB" % grown)

    # --- ApiVersions v3 (flexible) probe and an unknown version
    s = connect()
    body = b"\x0bkbroker-py\x041.0\x00"
    hdr = struct.pack(">hhih", 18, 3, 11, 2) + b"py" + b"\x00"
    s.sendall(struct.pack(">i", len(hdr + body)) + hdr + body)
    c, b3 = read_response(s)
    if c != 11 or b3[:2] != b"\x00\x00":
        fail("ApiVersions v3 answer")
    s.sendall(request(18, 9, 12, b""))
    c, b9 = read_response(s)
    if c != 12 or struct.unpack(">h", b9[:2])[0] != 35:
        fail("ApiVersions v9 should answer UNSUPPORTED_VERSION")
    s.close()
    ok("ApiVersions v3 and unsupported-version answers")

    # --- pipelining: answers in request order
    s = connect()
    s.sendall(b"".join(request(18, i % 3, 100 + i, b"") for i in range(50)))
    for i in range(50):
        c, _ = read_response(s)
        if c != 100 + i:
            fail("pipelined answer %d has correlation %d" % (i, c))
    ok("50 pipelined requests answered in order")

    # --- Produce error codes and acks=0
    metadata_create(s, 200, b"hostile")
    err, base = produce_error(s, 201, b"hostile", record_batch([b"one", b"two"]))
    if err != 0 or base != 0:
        fail("good produce: error %d base %d" % (err, base))
    err, _ = produce_error(s, 202, b"hostile", record_batch([b"bad"], crc_ok=False))
    if err != 2:
        fail("bad CRC: error %d, wanted 2 CORRUPT_MESSAGE" % err)
    err, _ = produce_error(s, 203, b"hostile", record_batch([b"x" * (2 << 20)]))
    if err != 10:
        fail("2 MiB batch: error %d, wanted 10 MESSAGE_TOO_LARGE" % err)
    err, _ = produce_error(s, 204, b"no-such-topic", record_batch([b"x"]))
    if err != 3:
        fail("unknown topic: error %d, wanted 3" % err)
    err, _ = produce_error(s, 205, b"hostile", record_batch([b"x"]), acks=5)
    if err != 21:
        fail("acks=5: error %d, wanted 21" % err)
    err, _ = produce_error(s, 206, b"hostile", b"\x00" * 16 + b"\x02" + b"\x00" * 13)
    if err != 2:
        fail("short records: error %d, wanted 2" % err)
    err, _ = produce_error(s, 206, b"hostile", b"\x00" * 16 + b"\x01" + b"\x00" * 30)
    if err != 43:
        fail("magic 1 message set: error %d, wanted 43" % err)
    s.sendall(request(0, 3, 207, produce_body(b"hostile", 0, record_batch([b"three"]), acks=0)))
    s.sendall(request(18, 0, 208, b""))
    c, _ = read_response(s)
    if c != 208:
        fail("acks=0 produce was answered (correlation %d)" % c)
    err, base = produce_error(s, 209, b"hostile", record_batch([b"four"]))
    if err != 0 or base != 3:
        fail("produce after acks=0: error %d base %d (want 0, 3)" % (err, base))
    ok("produce error codes 2/10/3/21/43, acks=0 silent")

    # --- long poll: a Fetch at the end waits; later answers queue behind it
    t0 = time.time()
    s.sendall(request(1, 4, 300, fetch_body(b"hostile", 0, 4, 700)))
    s.sendall(request(18, 0, 301, b""))
    other = connect()
    api_versions(other, 302)
    t_other = time.time() - t0
    c1, _ = read_response(s)
    t_fetch = time.time() - t0
    c2, _ = read_response(s)
    if (c1, c2) != (300, 301):
        fail("long-poll order: %d then %d" % (c1, c2))
    if t_fetch < 0.6 or t_other > 0.5:
        fail("long poll timing: fetch %.2fs, other connection %.2fs" % (t_fetch, t_other))
    # woken by a produce on another connection
    t0 = time.time()
    s.sendall(request(1, 4, 310, fetch_body(b"hostile", 0, 4, 5000)))
    time.sleep(0.2)
    err, _ = produce_error(other, 311, b"hostile", record_batch([b"five"]))
    c, body = read_response(s)
    dt = time.time() - t0
    if c != 310 or err != 0 or dt > 2.0 or b"five" not in body:
        fail("fetch not woken by produce (%.2fs)" % dt)
    ok("long poll: waits %.2fs, in order, woken by produce in %.2fs" % (t_fetch, dt))

    # --- Fetch budget: a partition_max_bytes below the first batch still
    # returns that batch whole (KIP-74), exactly, with HWM and LSO set
    first = record_batch([b"one", b"two"])
    body = (struct.pack(">iiiib", -1, 0, 1, 10, 0) + struct.pack(">i", 1) + kstr(b"hostile")
            + struct.pack(">iiqi", 1, 0, 1, 10))
    s.sendall(request(1, 4, 320, body))
    c, resp = read_response(s)
    off = 4 + 4 + 2 + len(b"hostile") + 4
    pidx, err, hwm, lso, aborted, rlen = struct.unpack(">ihqqii", resp[off:off + 30])
    records = resp[off + 30:]
    if c != 320 or err != 0 or hwm != 5 or lso != 5 or aborted != -1:
        fail("fetch header: corr %d err %d hw %d lso %d aborted %d" % (c, err, hwm, lso, aborted))
    # stored as sent but for the base offset and the leader epoch (0, as a
    # Kafka leader stamps it)
    if (rlen != len(first) or len(records) != rlen or records[8:12] != first[8:12]
            or records[12:16] != b"\0\0\0\0" or records[16:] != first[16:]):
        fail("fetch with a 10-byte budget: %d record bytes, want the %d-byte first batch"
             % (rlen, len(first)))
    # offset out of range and unknown partition are per-partition errors
    body = (struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0) + struct.pack(">i", 1) + kstr(b"hostile")
            + struct.pack(">iiqi", 2, 0, 99, 1 << 20) + struct.pack(">qi", 0, 1 << 20))
    body = body[:-12] + struct.pack(">i", 7) + struct.pack(">qi", 0, 1 << 20)
    s.sendall(request(1, 4, 321, body))
    c, resp = read_response(s)
    off = 4 + 4 + 2 + len(b"hostile") + 4
    p0, e0, h0 = struct.unpack(">ihq", resp[off:off + 14])
    p1, e1, h1 = struct.unpack(">ihq", resp[off + 30:off + 44])
    if (c, p0, e0, h0, p1, e1, h1) != (321, 0, 1, 5, 7, 3, -1):
        fail("fetch errors: %r" % ((c, p0, e0, h0, p1, e1, h1),))
    ok("fetch: first batch whole under a tiny budget; OFFSET_OUT_OF_RANGE and UNKNOWN partition")
    other.close()
    s.close()

    # --- many idle connections while a normal client works
    if IDLE:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, IDLE + 256)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        idle = []
        for _ in range(IDLE):
            idle.append(socket.create_connection((HOST, PORT), timeout=TIMEOUT))
        # every one of them is served
        for i in (0, IDLE // 2, IDLE - 1):
            api_versions(idle[i], 400 + i)
        print("idle-open")
        sys.stdout.flush()
        sys.stdin.readline()
        api_versions(idle[IDLE - 1], 399)
        for s in idle:
            s.close()
        ok("%d idle connections held" % IDLE)

    api_versions(witness, 5)
    witness.close()
    ok("hostile checks done")


main()
