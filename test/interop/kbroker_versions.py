"""kbroker_versions.py — the flexible (KIP-482) versions kbroker serves,
spoken with raw sockets, and what clients see of a request kbroker does not
implement.

Usage: kbroker_versions.py flex HOST PORT
         ApiVersions v3 lists Produce 9, Fetch 12, Metadata 12 and
         ListOffsets 8; a Metadata v12 request auto-creates a topic; a
         Produce v9 of one batch is acknowledged at offset 0 then 3; Fetch
         v12 returns both batches byte for byte with compact fields and
         session id 0; ListOffsets v8 answers -2, -1 and -3 (max timestamp).
       kbroker_versions.py admin-unsupported HOST PORT
         kafka-python's admin client reports DescribeAcls (not implemented,
         so not advertised) as unsupported by the broker.
Every socket operation has a timeout. Prints "ok: ..." lines; exits 1 on the
first failure.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kraw  # noqa: E402
from kraw import crc32c, cstr, fail, ok, uvar as uvarint, zz  # noqa: E402

TIMEOUT = 10


def record_batch(values, ts):
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + zz(ts[i] - ts[0]) + zz(i) + zz(-1) + zz(len(v)) + v + zz(0)
        recs += zz(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, ts[0], max(ts), -1, -1, -1,
                            len(values)) + recs
    head = struct.pack(">iBI", 0, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(head)) + head


class Conn(kraw.Conn):
    def __init__(self, host, port):
        super().__init__(host, port, TIMEOUT, b"py")

    def call(self, api, ver, body, flex=True, resp_tags=True):
        return super().call(api, ver, body, flex, resp_tags)


def flex(host, port):
    c = Conn(host, port)
    r = c.call(18, 3, cstr(b"kbroker-py") + cstr(b"1.0") + b"\x00", resp_tags=False)
    if r.i16() != 0:
        fail("ApiVersions v3 error")
    apis = {}
    for _ in range(r.carr()):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags()
        apis[k] = (lo, hi)
    r.i32()
    r.tags()
    r.done()
    for k, want in ((0, 9), (1, 12), (2, 8), (3, 12)):
        if apis.get(k, (0, -1))[1] != want:
            fail("ApiVersions: key %d max %r, want %d" % (k, apis.get(k), want))
    ok("ApiVersions v3 lists Produce 9, Fetch 12, ListOffsets 8, Metadata 12")

    # Metadata v12: topics [ {topic_id, name} ], allow_auto_create, include_topic_ops
    topic = b"flex12"
    body = uvarint(2) + b"\x00" * 16 + cstr(topic) + b"\x00" + b"\x01" + b"\x00" + b"\x00"
    parts = None
    for _ in range(50):
        r = c.call(3, 12, body)
        r.i32()
        for _ in range(r.carr()):
            r.i32(); r.cstr(); r.i32(); r.cstr(); r.tags()
        r.cstr()
        r.i32()
        nt = r.carr()
        err = r.i16()
        name = r.cstr()
        r.take(16)
        r.i8()
        n = r.carr()
        for _ in range(n):
            r.i16(); r.i32(); r.i32(); r.i32()
            for _ in range(3):
                for _ in range(r.carr()):
                    r.i32()
            r.tags()
        r.i32()
        r.tags()
        r.tags()
        r.done()
        if nt != 1 or name != topic:
            fail("Metadata v12 topic")
        if err == 0:
            parts = n
            break
    if parts != 1:
        fail("Metadata v12 did not create %s (partitions %r)" % (topic, parts))
    ok("Metadata v12 (flexible, topic ids) auto-creates and describes a topic")

    # Produce v9: two batches, one request each
    batches = [record_batch([b"a", b"b", b"c"], [1000, 1001, 1002]),
               record_batch([b"d", b"e"], [5000, 3000])]
    want_base = [0, 3]
    for i, batch in enumerate(batches):
        body = (b"\x00" + struct.pack(">hi", -1, 5000) + uvarint(2) + cstr(topic) + uvarint(2)
                + struct.pack(">i", 0) + uvarint(len(batch) + 1) + batch + b"\x00" + b"\x00"
                + b"\x00")
        r = c.call(0, 9, body)
        if r.carr() != 1 or r.cstr() != topic or r.carr() != 1:
            fail("Produce v9 response shape")
        idx, err, base, lat, lso = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
        if r.carr() != 0 or r.cstr() is not None:
            fail("Produce v9 record_errors / error_message")
        r.tags(); r.tags()
        r.i32()
        r.tags()
        r.done()
        if (idx, err, base, lso) != (0, 0, want_base[i], 0):
            fail("Produce v9: %r" % ((idx, err, base, lat, lso),))
    ok("Produce v9 (flexible) appends at offsets 0 and 3")

    # Fetch v12 from 0: both batches whole
    body = (struct.pack(">iiiibii", -1, 100, 1, 1 << 20, 0, 0, -1) + uvarint(2) + cstr(topic)
            + uvarint(2) + struct.pack(">iiqiqi", 0, -1, 0, -1, -1, 1 << 20) + b"\x00" + b"\x00"
            + uvarint(1) + cstr(b"") + b"\x00")
    r = c.call(1, 12, body)
    throttle, err, session = r.i32(), r.i16(), r.i32()
    if err or session != 0 or r.carr() != 1 or r.cstr() != topic or r.carr() != 1:
        fail("Fetch v12 response shape")
    idx, err, hw, lso, lstart = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
    aborted = r.carr()
    pref = r.i32()
    n = r.uvar() - 1
    records = r.take(n)
    r.tags(); r.tags(); r.tags()
    r.done()
    if (idx, err, hw, lso, lstart, aborted, pref) != (0, 0, 5, 5, 0, -1, -1):
        fail("Fetch v12 partition: %r" % ((idx, err, hw, lso, lstart, aborted, pref),))
    got = b""
    pos = 0
    for i, batch in enumerate(batches):
        blen = struct.unpack(">i", records[pos + 8:pos + 12])[0]
        one = records[pos:pos + 12 + blen]
        if struct.unpack(">q", one[:8])[0] != want_base[i] or one[12:] != batch[12:]:
            fail("Fetch v12 batch %d differs" % i)
        pos += 12 + blen
    if pos != len(records):
        fail("Fetch v12: trailing bytes")
    ok("Fetch v12 (flexible, no session) returns both batches byte for byte")

    # ListOffsets v8: earliest, latest, max timestamp
    want = {-2: (0, -1), -1: (5, -1), -3: (3, 5000)}
    for q, (woff, wts) in want.items():
        body = (struct.pack(">ib", -1, 0) + uvarint(2) + cstr(topic) + uvarint(2)
                + struct.pack(">iiq", 0, -1, q) + b"\x00" + b"\x00" + b"\x00")
        r = c.call(2, 8, body)
        r.i32()
        if r.carr() != 1 or r.cstr() != topic or r.carr() != 1:
            fail("ListOffsets v8 shape")
        idx, err, ts, off, epoch = r.i32(), r.i16(), r.i64(), r.i64(), r.i32()
        r.tags(); r.tags(); r.tags()
        r.done()
        if (err, off, ts) != (0, woff, wts):
            fail("ListOffsets v8 %d: %r" % (q, (err, off, ts)))
    ok("ListOffsets v8 (flexible): earliest, latest, max timestamp")


def admin_unsupported(host, port):
    from kafka import KafkaAdminClient
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ResourcePattern
    from kafka.admin import ResourceType, ACLResourcePatternType
    from kafka.errors import IncompatibleBrokerVersion
    a = KafkaAdminClient(bootstrap_servers="%s:%d" % (host, port), request_timeout_ms=10000)
    try:
        a.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                  permission_type=ACLPermissionType.ANY,
                                  resource_pattern=ResourcePattern(ResourceType.TOPIC, "t",
                                                                   ACLResourcePatternType.LITERAL)))
    except IncompatibleBrokerVersion as e:
        ok("kafka-python reports DescribeAcls as unsupported: %s" % e)
    else:
        fail("describe_acls did not fail")
    finally:
        a.close()


if __name__ == "__main__":
    {"flex": flex, "admin-unsupported": admin_unsupported}[sys.argv[1]](sys.argv[2],
                                                                        int(sys.argv[3]))
