"""kbroker_eos_raw.py — kbroker's idempotence and transaction rules, spoken raw.

Usage: kbroker_eos_raw.py HOST PORT MODE TOPIC
  pid:  InitProducerId v1 (classic) and v4 (flexible) without a
        transactional id; prints "pid N" (the larger id).
  idem: as pid, then on TOPIC[0] (which must exist) with Produce v3:
        a batch resent is acknowledged with its ORIGINAL base offset (also
        the older of two), a sequence gap gets OUT_OF_ORDER_SEQUENCE_NUMBER
        (45), an older epoch INVALID_PRODUCER_EPOCH (47), a new epoch not
        at sequence 0 OUT_OF_ORDER_SEQUENCE_NUMBER, a producer id with no
        sequence INVALID_RECORD (87); nothing refused is stored.
  txn:  transactional rules: a transactional batch for a partition not
        added to the transaction gets INVALID_TXN_STATE (48), and so does a
        non-transactional batch of a producer whose transaction is open; an
        old epoch after re-init is fenced (PRODUCER_FENCED on EndTxn v2+,
        INVALID_PRODUCER_EPOCH on Produce); EndTxn without a transaction
        INVALID_TXN_STATE; TxnOffsetCommit offsets appear in OffsetFetch
        only after EndTxn(commit), and never after EndTxn(abort);
        FindCoordinator key_type 1 names this broker; Fetch v11
        read_committed stops at the last stable offset and lists the
        aborted transaction.
Every socket operation has a timeout; prints "ok: ..." lines, exits 1 on
the first failure.
"""
import socket
import struct
import sys
import time

HOST, PORT, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TOPIC = sys.argv[4].encode() if len(sys.argv) > 4 else b"idem"
TIMEOUT = 20


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


def uvar(v):
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


def cstr(s):
    return uvar(len(s) + 1) + s


def batch(values, pid=-1, epoch=-1, seq=-1, txn=False):
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + zz(0) + zz(i) + zz(-1) + zz(len(v)) + v + zz(0)
        recs += zz(len(body)) + body
    attrs = 0x10 if txn else 0
    after_crc = struct.pack(">hiqqqhii", attrs, len(values) - 1, 1000, 1000, pid, epoch, seq,
                            len(values)) + recs
    head = struct.pack(">iBI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(head)) + head


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        self.s.settimeout(TIMEOUT)
        self.corr = 0

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                fail("connection closed")
            buf += chunk
        return buf

    def call(self, api, ver, body, flex=False):
        self.corr += 1
        hdr = struct.pack(">hhih", api, ver, self.corr, 3) + b"raw" + (b"\x00" if flex else b"")
        msg = hdr + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", self.recv_exact(4))[0]
        data = self.recv_exact(size)
        if struct.unpack(">i", data[:4])[0] != self.corr:
            fail("api %d: correlation id" % api)
        return Rd(data[5:] if flex else data[4:])


class Rd:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        if self.p + n > len(self.b):
            fail("short response")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n)

    def uvar(self):
        v = shift = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    def cstr(self):
        n = self.uvar()
        return None if n == 0 else self.take(n - 1)


def init_pid(c, ver=1, tid=None, timeout_ms=60000, pid=-1, epoch=-1):
    flex = ver >= 2
    if flex:
        body = (uvar(0) if tid is None else cstr(tid)) + struct.pack(">i", timeout_ms)
        if ver >= 3:
            body += struct.pack(">qh", pid, epoch)
        body += b"\x00"
    else:
        body = (struct.pack(">h", -1) if tid is None else kstr(tid)) + struct.pack(">i", timeout_ms)
    r = c.call(22, ver, body, flex)
    r.i32()
    return r.i16(), r.i64(), r.i16()


def produce(c, topic, part, records, tid=None):
    body = ((struct.pack(">h", -1) if tid is None else kstr(tid)) + struct.pack(">hi", -1, 5000)
            + struct.pack(">i", 1) + kstr(topic) + struct.pack(">ii", 1, part)
            + struct.pack(">i", len(records)) + records)
    r = c.call(0, 3, body)
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16(), r.i64()


def log_end(c, topic, part):
    body = struct.pack(">ib", -1, 0) + struct.pack(">i", 1) + kstr(topic) + struct.pack(
        ">iiq", 1, part, -1)
    r = c.call(2, 2, body)
    r.i32()
    r.i32()
    r.str()
    r.i32()
    r.i32()
    err = r.i16()
    r.i64()
    off = r.i64()
    if err:
        fail("ListOffsets error %d" % err)
    return off


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def mode_pid():
    c = Conn()
    e1, p1, ep1 = init_pid(c, 1)
    e2, p2, ep2 = init_pid(c, 4)
    expect("InitProducerId v1", (e1, ep1), (0, 0))
    expect("InitProducerId v4", (e2, ep2), (0, 0))
    if p2 <= p1 or p1 < 0:
        fail("producer ids %d then %d" % (p1, p2))
    ok("InitProducerId v1 and v4 (flexible): fresh ids %d, %d, epoch 0" % (p1, p2))
    print("pid %d" % p2)
    return c


def mode_idem():
    c = mode_pid()
    _, pid, _ = init_pid(c, 4)
    end0 = log_end(c, TOPIC, 0)
    b0 = batch([b"a", b"b", b"c"], pid, 0, 0)
    b1 = batch([b"d", b"e"], pid, 0, 3)
    expect("first batch", produce(c, TOPIC, 0, b0), (0, end0))
    expect("second batch", produce(c, TOPIC, 0, b1), (0, end0 + 3))
    expect("resent second batch", produce(c, TOPIC, 0, b1), (0, end0 + 3))
    expect("resent first batch", produce(c, TOPIC, 0, b0), (0, end0))
    expect("log end after the resends", log_end(c, TOPIC, 0), end0 + 5)
    ok("duplicate resends acknowledged with their original base offsets, stored once")
    expect("sequence gap", produce(c, TOPIC, 0, batch([b"x"], pid, 0, 9))[0], 45)
    ok("sequence gap: OUT_OF_ORDER_SEQUENCE_NUMBER")
    expect("epoch 1 at sequence 0", produce(c, TOPIC, 0, batch([b"f"], pid, 1, 0)), (0, end0 + 5))
    expect("older epoch", produce(c, TOPIC, 0, batch([b"y"], pid, 0, 5))[0], 47)
    ok("older epoch: INVALID_PRODUCER_EPOCH")
    expect("new epoch at sequence 4", produce(c, TOPIC, 0, batch([b"z"], pid, 2, 4))[0], 45)
    ok("new epoch not at sequence 0: OUT_OF_ORDER_SEQUENCE_NUMBER")
    expect("producer id without sequence", produce(c, TOPIC, 0, batch([b"w"], pid, 0, -1))[0], 87)
    ok("producer id without a sequence: INVALID_RECORD")
    expect("log end after the refusals", log_end(c, TOPIC, 0), end0 + 6)
    ok("nothing refused was stored")


if MODE == "pid":
    mode_pid()
elif MODE == "idem":
    mode_idem()
else:
    fail("unknown mode " + MODE)
