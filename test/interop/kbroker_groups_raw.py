"""kbroker_groups_raw.py — the group coordinator's rules, spoken raw.

Usage: kbroker_groups_raw.py HOST PORT
  * JoinGroup v4+ without a member id: MEMBER_ID_REQUIRED with an id, which
    then joins; a second member makes the first rejoin (REBALANCE_IN_PROGRESS
    on its heartbeat), both get generation 2, the leader gets both members'
    metadata, SyncGroup hands each its assignment;
  * a stale generation gets ILLEGAL_GENERATION, an unknown member
    UNKNOWN_MEMBER_ID (Heartbeat and OffsetCommit);
  * static membership: a member with group.instance.id that joins again
    with an empty member id gets a new id and its old assignment with no
    new generation; the old id is fenced (FENCED_INSTANCE_ID);
  * a member that stops heartbeating is removed after its session timeout
    and the group rebalances without it;
  * OffsetCommit / OffsetFetch v7 (flexible OffsetFetch), OffsetDelete
    refused while subscribed, DeleteGroups refused while not empty.
Every socket operation has a timeout; prints "ok: ..." lines, exits 1 on
the first failure.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kraw import Rd, fail, kstr, ok  # noqa: E402

HOST, PORT = sys.argv[1], int(sys.argv[2])


def kbytes(b):
    return struct.pack(">i", len(b)) + b


def nstr(s):
    return struct.pack(">h", -1) if s is None else kstr(s)


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=15)
        self.s.settimeout(15)
        self.corr = 0

    def send(self, api, ver, body, flex=False):
        self.corr += 1
        hdr = struct.pack(">hhih", api, ver, self.corr, 3) + b"raw" + (b"\x00" if flex else b"")
        self.s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        return self.corr

    def recv(self, corr, flex=False):
        def exact(n):
            buf = b""
            while len(buf) < n:
                c = self.s.recv(n - len(buf))
                if not c:
                    fail("connection closed")
                buf += c
            return buf
        data = exact(struct.unpack(">i", exact(4))[0])
        if struct.unpack(">i", data[:4])[0] != corr:
            fail("correlation id")
        return Rd(data[5:] if flex else data[4:])

    def call(self, api, ver, body, flex=False):
        return self.recv(self.send(api, ver, body, flex), flex)


GROUP = b"rawg"
META = struct.pack(">h", 0) + struct.pack(">i", 1) + kstr(b"rawt") + struct.pack(">i", -1)


def join_body(member, instance=None, session=6000, meta=META):
    return (kstr(GROUP) + struct.pack(">ii", session, 30000) + kstr(member) + nstr(instance)
            + kstr(b"consumer") + struct.pack(">i", 1) + kstr(b"range") + kbytes(meta))


def join_result(r):
    r.i32()
    err, gen = r.i16(), r.i32()
    proto, leader, mid = r.str(), r.str(), r.str()
    members = [(r.str(), r.str(), r.bytes()) for _ in range(r.i32())]
    return err, gen, leader, mid, members


def sync(c, gen, mid, instance=None, assignments=()):
    body = (kstr(GROUP) + struct.pack(">i", gen) + kstr(mid) + nstr(instance)
            + struct.pack(">i", len(assignments))
            + b"".join(kstr(m) + kbytes(a) for m, a in assignments))
    return c.send(14, 3, body)


def sync_result(r):
    r.i32()
    return r.i16(), r.bytes()


def heartbeat(c, gen, mid, instance=None):
    r = c.call(12, 3, kstr(GROUP) + struct.pack(">i", gen) + kstr(mid) + nstr(instance))
    r.i32()
    return r.i16()


def commit(c, gen, mid, offset, instance=None):
    body = (kstr(GROUP) + struct.pack(">i", gen) + kstr(mid) + nstr(instance)
            + struct.pack(">i", 1) + kstr(b"rawt") + struct.pack(">i", 1)
            + struct.pack(">iqi", 0, offset, -1) + nstr(b"meta"))
    r = c.call(8, 7, body)
    r.i32()
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16()


def main():
    a, b = Conn(), Conn()
    # MEMBER_ID_REQUIRED, then the join with that id
    err, gen, leader, ida, members = join_result(a.call(11, 5, join_body(b"")))
    if err != 79 or not ida:
        fail("JoinGroup v5 without id: error %d" % err)
    err, gen1, leader, mid, members = join_result(a.call(11, 5, join_body(ida)))
    if err or mid != ida or leader != ida or len(members) != 1 or members[0][2] != META:
        fail("first join: %r" % ((err, gen1, leader, mid),))
    r = a.call(14, 3, kstr(GROUP) + struct.pack(">i", gen1) + kstr(ida) + nstr(None)
               + struct.pack(">i", 1) + kstr(ida) + kbytes(b"A1"))
    if sync_result(r) != (0, b"A1"):
        fail("first sync")
    ok("MEMBER_ID_REQUIRED, join, sync: generation %d, leader %s" % (gen1, ida.decode()))

    # a static member joins: A must rejoin
    cb = b.send(11, 5, join_body(b"", instance=b"static-b"))
    # B's JoinGroup travels on another connection: A's heartbeat may reach
    # the broker first (then it is still answered 0); poll, bounded.
    for _ in range(200):
        hb = heartbeat(a, gen1, ida)
        if hb != 0:
            break
        time.sleep(0.05)
    if hb != 27:
        fail("heartbeat during the rebalance: want REBALANCE_IN_PROGRESS, got %d" % hb)
    err, gen2, leader, mid_a, members = join_result(a.call(11, 5, join_body(ida)))
    err_b, gen2b, leader_b, idb, members_b = join_result(b.recv(cb))
    if err or err_b or gen2 != gen1 + 1 or gen2b != gen2 or leader != ida or len(members) != 2:
        fail("rebalance with B: %r %r" % ((err, gen2, leader, len(members)), (err_b, gen2b)))
    if members_b:
        fail("a follower got the member list")
    sa = a.send(14, 3, kstr(GROUP) + struct.pack(">i", gen2) + kstr(ida) + nstr(None)
                + struct.pack(">i", 2) + kstr(ida) + kbytes(b"A2") + kstr(idb) + kbytes(b"B2"))
    sb = sync(b, gen2, idb, b"static-b")
    if sync_result(a.recv(sa)) != (0, b"A2") or sync_result(b.recv(sb)) != (0, b"B2"):
        fail("second sync")
    ok("second member: rebalance to generation %d, assignments handed out" % gen2)

    if heartbeat(a, gen1, ida) != 22:
        fail("stale generation: want ILLEGAL_GENERATION")
    if heartbeat(a, gen2, b"nobody") != 25:
        fail("unknown member: want UNKNOWN_MEMBER_ID")
    if commit(a, gen1, ida, 5) != 22 or commit(a, gen2, b"nobody", 5) != 25:
        fail("OffsetCommit fencing")
    if commit(a, gen2, ida, 42) != 0:
        fail("OffsetCommit")
    r = a.call(9, 7, b"\x05rawg" + b"\x02" + b"\x05rawt" + b"\x02" + struct.pack(">i", 0)
               + b"\x00" + b"\x00" + b"\x00", flex=True)
    r.i32()
    r.take(1)
    r.take(5)
    r.take(1)
    part, off, epoch = r.i32(), r.i64(), r.i32()
    if (part, off) != (0, 42):
        fail("OffsetFetch v7: %r" % ((part, off, epoch),))
    ok("ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID; OffsetCommit v7 and flexible OffsetFetch v7")

    # static member B comes back with an empty member id: new id, old
    # assignment, same generation; the old id is fenced
    b2 = Conn()
    err, gen, leader, idb2, members = join_result(b2.call(11, 5, join_body(b"", instance=b"static-b")))
    if err or gen != gen2 or idb2 == idb or members:
        fail("static rejoin: %r" % ((err, gen, idb2),))
    if sync_result(b2.recv(sync(b2, gen2, idb2, b"static-b"))) != (0, b"B2"):
        fail("static rejoin: assignment")
    if heartbeat(b, gen2, idb, b"static-b") != 82:
        fail("old static member id: want FENCED_INSTANCE_ID")
    if heartbeat(a, gen2, ida) != 0:
        fail("static rejoin caused a rebalance")
    ok("static member rejoins with its assignment and no rebalance; old id fenced")

    # OffsetDelete refused while subscribed; DeleteGroups refused while not empty
    r = a.call(47, 0, kstr(GROUP) + struct.pack(">i", 1) + kstr(b"rawt") + struct.pack(">ii", 1, 0))
    r.i16()
    r.i32()
    r.i32()
    r.str()
    r.i32()
    if (r.i32(), r.i16()) != (0, 86):
        fail("OffsetDelete of a subscribed topic: want GROUP_SUBSCRIBED_TO_TOPIC")
    r = a.call(42, 1, struct.pack(">i", 1) + kstr(GROUP))
    r.i32()
    r.i32()
    r.str()
    if r.i16() != 68:
        fail("DeleteGroups of a live group: want NON_EMPTY_GROUP")
    ok("OffsetDelete and DeleteGroups refused while the group is in use")

    # B2 stops heartbeating: after its 6 s session A is asked to rejoin
    deadline = time.time() + 30
    while time.time() < deadline:
        e = heartbeat(a, gen2, ida)
        if e == 27:
            break
        if e:
            fail("heartbeat: %d" % e)
        time.sleep(0.5)
    else:
        fail("silent member never timed out")
    err, gen3, leader, mid, members = join_result(a.call(11, 5, join_body(ida)))
    if err or gen3 != gen2 + 1 or len(members) != 1:
        fail("rebalance after the timeout: %r" % ((err, gen3, len(members)),))
    ok("a member silent past its session timeout is removed (generation %d)" % gen3)

    r = a.call(13, 3, kstr(GROUP) + struct.pack(">i", 1) + kstr(ida) + nstr(None))
    r.i32()
    if r.i16() != 0 or r.i32() != 1 or r.str() != ida or r.str() is not None or r.i16() != 0:
        fail("LeaveGroup v3")
    r = a.call(42, 1, struct.pack(">i", 1) + kstr(GROUP))
    r.i32()
    r.i32()
    r.str()
    if r.i16() != 0:
        fail("DeleteGroups of the empty group")
    r = a.call(9, 1, kstr(GROUP) + struct.pack(">i", 1) + kstr(b"rawt") + struct.pack(">ii", 1, 0))
    r.i32()
    r.str()
    r.i32()
    r.i32()
    if r.i64() != -1:
        fail("offsets still there after DeleteGroups")
    ok("LeaveGroup v3, DeleteGroups, its offsets gone")


main()
