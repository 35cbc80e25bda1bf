"""kbroker_commit_flush.py — OffsetCommit's and TxnOffsetCommit's fsync of
__consumer_offsets run on kbroker's flush thread, not on its event loop.
kbroker runs under the kbroker_slow_fsync.c shim: every fsync sleeps SLOW_MS
while SLOWFILE exists, and fails with EIO while FAILFILE exists.

Usage: kbroker_commit_flush.py HOST PORT SLOWFILE FAILFILE SLOW_MS

Checks:
  * with a slow disk, an OffsetCommit is answered only after SLOW_MS (its
    fsync), while meanwhile another connection's Produce (acks=1), Fetch
    and ApiVersions are answered at once (the loop is not blocked), and a
    third connection's OffsetFetch still returns the previous offset (the
    new one is not durable yet);
  * an OffsetFetch pipelined behind the OffsetCommit on the same connection
    is answered after it, and sees the new offset;
  * a connection closed while its OffsetCommit waits: the commit, durable,
    is applied all the same, the broker stays up;
  * a TxnOffsetCommit is answered after its fsync, the loop meanwhile free;
  * a failed fsync answers OffsetCommit NOT_COORDINATOR (16) and the
    offset is not reported committed.
Prints "ok: ..." lines; exits 1 on the first failure.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kraw import Conn as _Conn, Rd, batch, fail, kstr, ok  # noqa: E402

HOST, PORT, SLOWF, FAILF = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
SLOW = int(sys.argv[5]) / 1000.0
TOPIC, GROUP = b"cflush", b"cfg"


class Conn(_Conn):
    """kraw's connection plus pipelining: send() now, recv() later."""

    def __init__(self):
        _Conn.__init__(self, HOST, PORT, 30)

    def send(self, api, ver, body):
        self.corr += 1
        msg = struct.pack(">hhi", api, ver, self.corr) + kstr(self.client_id) + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        return self.corr

    def recv(self, corr):
        r = Rd(self.recv_exact(struct.unpack(">i", self.recv_exact(4))[0]))
        if r.i32() != corr:
            fail("correlation id: responses out of order")
        return r


def on(path):
    open(path, "w").close()


def off(path):
    if os.path.exists(path):
        os.unlink(path)


def commit_body(offset, group=GROUP):
    # OffsetCommit v2: generation -1, no member: a consumer that only stores offsets
    return (kstr(group) + struct.pack(">i", -1) + kstr(b"") + struct.pack(">q", -1)
            + struct.pack(">i", 1) + kstr(TOPIC) + struct.pack(">i", 1)
            + struct.pack(">iq", 0, offset) + kstr(b"m"))


def commit_result(r):
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16()


def fetch_offset_body(group=GROUP):
    return kstr(group) + struct.pack(">i", 1) + kstr(TOPIC) + struct.pack(">ii", 1, 0)


def fetch_offset_result(r):
    r.i32()
    r.str()
    r.i32()
    r.i32()
    off = r.i64()
    r.str()
    err = r.i16()
    if err:
        fail("OffsetFetch error %d" % err)
    return off


def committed(c, group=GROUP):
    return fetch_offset_result(c.recv(c.send(9, 1, fetch_offset_body(group))))


def produce(c):
    body = (struct.pack(">hhi", -1, 1, 5000) + struct.pack(">i", 1) + kstr(TOPIC)
            + struct.pack(">ii", 1, 0))
    recs = batch([b"x", b"y"])
    r = c.recv(c.send(0, 3, body + struct.pack(">i", len(recs)) + recs))
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16()


def fetch(c):
    body = (struct.pack(">iiiib", -1, 0, 0, 1 << 20, 0) + struct.pack(">i", 1) + kstr(TOPIC)
            + struct.pack(">iiqi", 1, 0, 0, 1 << 20))
    r = c.recv(c.send(1, 4, body))
    r.i32()
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16()


def timed(fn):
    t = time.monotonic()
    v = fn()
    return v, time.monotonic() - t


def others_fast(b, what):
    """Produce, Fetch, ApiVersions on b while a commit waits: each quick.
    Returns the slowest of the three."""
    limit, worst = SLOW / 3, 0.0
    for name, fn in (("Produce", lambda: produce(b)), ("Fetch", lambda: fetch(b)),
                     ("ApiVersions", lambda: b.recv(b.send(18, 0, b"")).i16())):
        err, d = timed(fn)
        if err:
            fail("%s during %s: error %d" % (name, what, err))
        if d > limit:
            fail("%s waited %.3f s for %s's fsync (%.3f s): the loop was blocked"
                 % (name, d, what, SLOW))
        worst = max(worst, d)
    return worst


def main():
    off(SLOWF)
    off(FAILF)
    a, b, c = Conn(), Conn(), Conn()
    a.call(3, 4, struct.pack(">i", 1) + kstr(TOPIC) + b"\x01")  # creates the topic
    time.sleep(0.2)
    if produce(a) or commit_result(a.recv(a.send(8, 2, commit_body(1)))):
        fail("fast disk: produce or commit failed")
    if committed(a) != 1:
        fail("fast disk: committed offset not 1")
    ok("fast disk: OffsetCommit answered, OffsetFetch sees it")

    on(SLOWF)
    t0 = time.monotonic()
    ca = a.send(8, 2, commit_body(2))
    fa = a.send(9, 1, fetch_offset_body())  # pipelined behind the commit
    time.sleep(0.05)
    worst = others_fast(b, "OffsetCommit")
    seen = committed(c)
    d_c = time.monotonic() - t0
    if seen != 1:
        fail("OffsetFetch during the commit's fsync saw %d, not the durable 1" % seen)
    if d_c > SLOW:
        fail("another connection's OffsetFetch waited %.3f s for the fsync" % d_c)
    err = commit_result(a.recv(ca))
    d = time.monotonic() - t0
    if err or d < SLOW * 0.9:
        fail("slow OffsetCommit: error %d after %.3f s (fsync %.3f s)" % (err, d, SLOW))
    got = fetch_offset_result(a.recv(fa))
    if got != 2:
        fail("OffsetFetch pipelined behind the OffsetCommit saw %d, not 2" % got)
    ok("slow disk: OffsetCommit answered after its fsync (%.3f s); meanwhile Produce, Fetch, "
       "ApiVersions on another connection in at most %.3f s, a third one's OffsetFetch the old "
       "offset" % (d, worst))
    ok("an OffsetFetch pipelined behind the OffsetCommit is answered after it, with its offset")

    d_ = Conn()
    d_.send(8, 2, commit_body(3))
    time.sleep(0.05)
    d_.close()  # while its answer waits for the fsync
    time.sleep(SLOW * 2)
    if committed(b) != 3:
        fail("a commit whose connection closed while it waited was lost")
    ok("a connection closed while its OffsetCommit waited: the commit applied, broker fine")

    # TxnOffsetCommit (v2) with a slow disk
    off(SLOWF)
    r = a.call(22, 1, kstr(b"cft") + struct.pack(">i", 60000))
    r.i32()
    err, pid, epoch = r.i16(), r.i64(), r.i16()
    r = a.call(25, 1, kstr(b"cft") + struct.pack(">qh", pid, epoch) + kstr(b"cftg"))
    r.i32()
    if err or r.i16():
        fail("InitProducerId / AddOffsetsToTxn")
    on(SLOWF)
    t0 = time.monotonic()
    body = (kstr(b"cft") + kstr(b"cftg") + struct.pack(">qhi", pid, epoch, 1) + kstr(TOPIC)
            + struct.pack(">iiqi", 1, 0, 7, -1) + kstr(b""))
    ct = a.send(28, 2, body)
    time.sleep(0.05)
    worst = others_fast(b, "TxnOffsetCommit")
    r = a.recv(ct)
    r.i32()
    err = commit_result(r)
    d = time.monotonic() - t0
    if err or d < SLOW * 0.9:
        fail("slow TxnOffsetCommit: error %d after %.3f s (fsync %.3f s)" % (err, d, SLOW))
    off(SLOWF)
    r = a.call(26, 1, kstr(b"cft") + struct.pack(">qhb", pid, epoch, 1))
    r.i32()
    if r.i16() or committed(a, b"cftg") != 7:
        fail("EndTxn commit of the slow TxnOffsetCommit")
    ok("slow disk: TxnOffsetCommit answered after its fsync (%.3f s); meanwhile Produce, Fetch, "
       "ApiVersions in at most %.3f s" % (d, worst))

    on(FAILF)
    err = commit_result(a.recv(a.send(8, 2, commit_body(9))))
    off(FAILF)
    if err != 16:
        fail("OffsetCommit whose fsync failed: error %d, want NOT_COORDINATOR (16)" % err)
    if committed(b) != 3:
        fail("an offset whose fsync failed is reported committed")
    ok("a failed fsync: OffsetCommit NOT_COORDINATOR, the offset not reported committed")
    for s in (a, b, c):
        s.close()


main()
