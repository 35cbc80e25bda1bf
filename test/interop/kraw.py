"""kraw.py — the Kafka wire protocol spoken raw, for the raw-request tests
of kbroker (test/interop/kbroker_*.py import it): varints, strings, a
RecordBatch v2 encoder with CRC-32C, a connection that sends one request
and reads its response, and a response reader. Every socket operation has
a timeout; any protocol surprise ends the test through fail().
"""
import socket
import struct
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)
    sys.stdout.flush()


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def uvar(v):
    """Unsigned varint (compact lengths, tagged fields)."""
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def zz(v):
    """Zig-zag varint (record fields)."""
    return uvar(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)


def kstr(s):
    """STRING (int16 length)."""
    return struct.pack(">h", len(s)) + s


def cstr(s):
    """COMPACT_STRING (uvarint length + 1)."""
    return uvar(len(s) + 1) + s


def batch(values, pid=-1, epoch=-1, seq=-1, txn=False):
    """One RecordBatch v2 of null-key records with these values, timestamps
    1000, as a producer sends it (base offset 0)."""
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + zz(0) + zz(i) + zz(-1) + zz(len(v)) + v + zz(0)
        recs += zz(len(body)) + body
    attrs = 0x10 if txn else 0
    after_crc = struct.pack(">hiqqqhii", attrs, len(values) - 1, 1000, 1000, pid, epoch, seq,
                            len(values)) + recs
    head = struct.pack(">iBI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(head)) + head


class Rd:
    """Reads a response body; a read past its end fails the test."""

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

    def bytes(self):
        n = self.i32()
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

    def carr(self):
        """COMPACT_ARRAY length (-1 for null)."""
        return self.uvar() - 1

    def tags(self):
        for _ in range(self.uvar()):
            self.uvar()
            self.take(self.uvar())

    def done(self):
        """The whole response was read: nothing more than its schema."""
        if self.p != len(self.b):
            fail("%d bytes left after the response" % (len(self.b) - self.p))


class Conn:
    """One connection; call() sends a request (header v1, or v2 when flex)
    and returns a reader over its response body."""

    def __init__(self, host, port, timeout=20, client_id=b"raw"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.settimeout(timeout)
        self.corr = 0
        self.client_id = client_id

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                fail("connection closed")
            buf += chunk
        return buf

    def call(self, api, ver, body, flex=False, resp_tags=True):
        """resp_tags=False: a flexible request whose response header has
        no tagged fields (ApiVersions)."""
        self.corr += 1
        hdr = (struct.pack(">hhi", api, ver, self.corr) + kstr(self.client_id)
               + (b"\x00" if flex else b""))
        msg = hdr + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", self.recv_exact(4))[0]
        r = Rd(self.recv_exact(size))
        if r.i32() != self.corr:
            fail("api %d: correlation id" % api)
        if flex and resp_tags:
            r.tags()
        return r

    def close(self):
        self.s.close()
