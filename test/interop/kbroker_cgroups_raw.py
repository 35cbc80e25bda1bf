"""kbroker_cgroups_raw.py — consumer groups of the new protocol (KIP-848),
spoken raw: the coordinator's state machine rule by rule.

Usage: kbroker_cgroups_raw.py HOST PORT SESSION_MS
(the broker runs with --group-consumer-session-timeout SESSION_MS and
auto-creates topics with 4 partitions.)
  * ApiVersions lists ConsumerGroupHeartbeat 0-1, ConsumerGroupDescribe 0,
    OffsetCommit and OffsetFetch up to 9;
  * a member joins (epoch 0) and gets every partition at group epoch 1;
  * revocation before reassignment: a second member joins (epoch 2) and
    gets nothing while the first still lists the partitions it must give
    up; only after the first's heartbeat drops them does the second get
    them; at no step do two members hold one partition;
  * epochs: a greater epoch and an unknown older one get
    FENCED_MEMBER_EPOCH, the previous epoch with a subset of the assignment
    is accepted, an unknown member UNKNOWN_MEMBER_ID;
  * rebalance timeout: a member that keeps its revoked partitions past its
    rebalance timeout is fenced and its partitions go to the other member;
  * session timeout: a silent member is removed, the other gets all;
  * leave (-1) frees the partitions; a static member's leave (-2) keeps
    them for its instance id, which rejoins under a new member id with the
    same assignment and no new group epoch; a second live instance of the
    id gets UNRELEASED_INSTANCE_ID;
  * UNSUPPORTED_ASSIGNOR; "range" assigns contiguous ranges;
  * classic/consumer clash: JoinGroup on a consumer group with members
    gets INCONSISTENT_GROUP_PROTOCOL, a heartbeat on a classic group with
    members GROUP_ID_NOT_FOUND;
  * ConsumerGroupDescribe reports the members, epochs and assignments;
    ListGroups v5 filters by type (consumer / classic);
  * OffsetCommit v9 / OffsetFetch v9 check the member epoch
    (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID).
Every socket operation has a timeout; prints "ok: ..." lines, exits 1 on
the first failure.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kraw import Conn, cstr, fail, kstr, ok, uvar  # noqa: E402

HOST, PORT, SESSION_MS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
TOPIC = b"cgt"


def cnstr(s):
    return b"\x00" if s is None else cstr(s)


def carr(items):
    return b"\x00" if items is None else uvar(len(items) + 1) + b"".join(items)


class HB:
    def __init__(self, err, mid, epoch, interval, assignment):
        self.err, self.mid, self.epoch = err, mid, epoch
        self.interval, self.assignment = interval, assignment

    def parts(self):
        """Every assigned (topic id, partition), sorted."""
        return sorted((t, p) for t, ps in (self.assignment or {}).items() for p in ps)


def hb(c, group, mid, epoch, subs=None, owned=None, rebalance=-1, instance=None,
       assignor=None, regex=None, ver=1):
    """owned: list of (topic id, partition) or None (not sent)."""
    own = None
    if owned is not None:
        by = {}
        for t, p in owned:
            by.setdefault(t, []).append(p)
        own = [t + carr([struct.pack(">i", p) for p in sorted(ps)]) + b"\x00"
               for t, ps in sorted(by.items())]
    body = (cstr(group) + cstr(mid) + struct.pack(">i", epoch) + cnstr(instance) + cnstr(None)
            + struct.pack(">i", rebalance) + carr(None if subs is None else [cstr(s) for s in subs])
            + (cnstr(regex) if ver >= 1 else b"") + cnstr(assignor) + carr(own) + b"\x00")
    r = c.call(68, ver, body, flex=True)
    r.i32()
    err = r.i16()
    r.cstr()
    rmid = r.cstr()
    repoch, interval = r.i32(), r.i32()
    assignment = None
    if r.i8() == 1:
        assignment = {}
        for _ in range(r.carr()):
            tid = r.take(16)
            assignment[tid] = [r.i32() for _ in range(r.carr())]
            r.tags()
        r.tags()
    r.tags()
    r.done()
    return HB(err, rmid, repoch, interval, assignment)


def expect(h, err, what):
    if h.err != err:
        fail("%s: error %d, expected %d" % (what, h.err, err))
    return h


def disjoint(*sets):
    seen = set()
    for s in sets:
        for x in s:
            if x in seen:
                fail("partition %r held by two members" % (x,))
            seen.add(x)


def create_topic(c, name):
    """Metadata v1 auto-creates the topic (broker -N 4)."""
    for _ in range(50):
        r = c.call(3, 1, struct.pack(">i", 1) + kstr(name))
        for _ in range(r.i32()):  # brokers
            r.i32()
            r.str()
            r.i32()
            r.str()
        r.i32()  # controller
        if r.i32() == 1 and r.i16() == 0:
            return
        time.sleep(0.1)
    fail("topic %r not created" % name)


def join_classic(c, group):
    meta = struct.pack(">h", 0) + struct.pack(">i", 1) + kstr(TOPIC) + struct.pack(">i", -1)
    body = (kstr(group) + struct.pack(">ii", 10000, 10000) + kstr(b"") + struct.pack(">h", -1)
            + kstr(b"consumer") + struct.pack(">i", 1) + kstr(b"range")
            + struct.pack(">i", len(meta)) + meta)
    r = c.call(11, 5, body)
    r.i32()
    err = r.i16()
    r.i32()
    r.str()
    r.str()
    mid = r.str()
    return err, mid


def join_classic_member(c, group):
    err, mid = join_classic(c, group)
    if err != 79:
        return err
    meta = struct.pack(">h", 0) + struct.pack(">i", 1) + kstr(TOPIC) + struct.pack(">i", -1)
    body = (kstr(group) + struct.pack(">ii", 10000, 10000) + kstr(mid) + struct.pack(">h", -1)
            + kstr(b"consumer") + struct.pack(">i", 1) + kstr(b"range")
            + struct.pack(">i", len(meta)) + meta)
    r = c.call(11, 5, body)
    r.i32()
    return r.i16()


def describe(c, group):
    r = c.call(69, 0, uvar(2) + cstr(group) + b"\x00" + b"\x00", flex=True)
    r.i32()
    if r.carr() != 1:
        fail("describe: group count")
    err = r.i16()
    r.cstr()
    gid = r.cstr()
    state = r.cstr()
    gepoch, aepoch = r.i32(), r.i32()
    assignor = r.cstr()
    members = {}
    for _ in range(r.carr()):
        mid = r.cstr()
        r.cstr()
        r.cstr()
        mepoch = r.i32()
        r.cstr()
        r.cstr()
        subs = [r.cstr() for _ in range(r.carr())]
        r.cstr()
        asg = []
        for which in range(2):
            parts = []
            for _ in range(r.carr()):
                r.take(16)
                name = r.cstr()
                parts += [(name, r.i32()) for _ in range(r.carr())]
                r.tags()
            r.tags()
            asg.append(sorted(parts))
        r.tags()
        members[mid] = (mepoch, subs, asg[0], asg[1])
    r.i32()
    r.tags()
    r.tags()
    r.done()
    return err, gid, state, gepoch, aepoch, assignor, members


def commit_v9(c, group, mid, epoch, partition, offset):
    body = (cstr(group) + struct.pack(">i", epoch) + cstr(mid) + cnstr(None)
            + carr([cstr(TOPIC) + carr([struct.pack(">iqi", partition, offset, -1) + cnstr(b"")
                                        + b"\x00"]) + b"\x00"]) + b"\x00")
    r = c.call(8, 9, body, flex=True)
    r.i32()
    r.carr()
    r.cstr()
    r.carr()
    r.i32()
    return r.i16()


def fetch_v9(c, group, mid, epoch, partition):
    body = (carr([cstr(group) + cnstr(mid) + struct.pack(">i", epoch)
                  + carr([cstr(TOPIC) + carr([struct.pack(">i", partition)]) + b"\x00"]) + b"\x00"])
            + b"\x00" + b"\x00")
    r = c.call(9, 9, body, flex=True)
    r.i32()
    if r.carr() != 1:
        fail("OffsetFetch v9: group count")
    r.cstr()
    offset = None
    for _ in range(r.carr()):
        r.cstr()
        for _ in range(r.carr()):
            r.i32()
            offset = r.i64()
            r.i32()
            r.cstr()
            r.i16()
            r.tags()
        r.tags()
    err = r.i16()
    r.tags()
    r.tags()
    r.done()
    return err, offset


def list_groups(c, types):
    """ListGroups v5 with a types filter: {group: (state, type)}."""
    r = c.call(16, 5, carr([]) + carr([cstr(t) for t in types]) + b"\x00", flex=True)
    r.i32()
    if r.i16() != 0:
        fail("ListGroups v5")
    out = {}
    for _ in range(r.carr()):
        gid, ptype, state, gtype = r.cstr(), r.cstr(), r.cstr(), r.cstr()
        r.tags()
        if ptype != b"consumer":
            fail("ListGroups: protocol type %r" % ptype)
        out[gid] = (state, gtype)
    r.tags()
    r.done()
    return out


def api_versions(c):
    r = c.call(18, 3, cstr(b"raw") + cstr(b"1") + b"\x00", flex=True, resp_tags=False)
    if r.i16() != 0:
        fail("ApiVersions")
    apis = {}
    for _ in range(r.carr()):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags()
        apis[k] = (lo, hi)
    return apis


def revocation(c):
    g = b"cg-revoke"
    a = expect(hb(c, g, b"member-a", 0, subs=[TOPIC], owned=[], rebalance=60000), 0, "A joins")
    if a.epoch != 1 or len(a.parts()) != 4 or a.interval <= 0:
        fail("A joins: epoch %d, %d partitions" % (a.epoch, len(a.parts())))
    all4 = a.parts()
    a = expect(hb(c, g, b"member-a", 1, owned=all4), 0, "A stable")
    ok("a member joins at group epoch 1 with all 4 partitions, heartbeat interval %d" % a.interval)

    b = expect(hb(c, g, b"member-b", 0, subs=[TOPIC], owned=[], rebalance=60000), 0, "B joins")
    if b.epoch != 2 or b.parts():
        fail("B joins: epoch %d, partitions %r before A revoked" % (b.epoch, b.parts()))
    b = expect(hb(c, g, b"member-b", 2, owned=[]), 0, "B again")
    if b.parts():
        fail("B got %r before A revoked" % b.parts())
    a = expect(hb(c, g, b"member-a", 1, owned=all4), 0, "A told to revoke")
    if a.epoch != 1 or len(a.parts()) != 2:
        fail("A revoking: epoch %d, keeps %r" % (a.epoch, a.parts()))
    keep = a.parts()
    b = expect(hb(c, g, b"member-b", 2, owned=[]), 0, "B while A revokes")
    if b.parts():
        fail("B got %r while A still owns them" % b.parts())
    ok("B gets nothing while A still lists its revoked partitions")
    a = expect(hb(c, g, b"member-a", 1, owned=keep), 0, "A revoked")
    if a.epoch != 2 or a.parts() != keep:
        fail("A after revoking: epoch %d, %r" % (a.epoch, a.parts()))
    # a lost response: A's previous epoch with a subset of its assignment
    a = expect(hb(c, g, b"member-a", 1, owned=keep), 0, "A at its previous epoch")
    if a.epoch != 2:
        fail("A at its previous epoch: told epoch %d" % a.epoch)
    b = expect(hb(c, g, b"member-b", 2, owned=[]), 0, "B after A revoked")
    if len(b.parts()) != 2:
        fail("B after A revoked: %r" % b.parts())
    disjoint(a.parts(), b.parts())
    ok("after A's heartbeat dropped them, B gets the 2 revoked partitions (epoch 2)")

    expect(hb(c, g, b"member-a", 7, owned=keep), 110, "greater epoch")
    expect(hb(c, g, b"member-b", 1, owned=[(all4[0][0], 99)]), 110, "old epoch, not a subset")
    expect(hb(c, g, b"member-zz", 2, owned=[]), 25, "unknown member")
    ok("FENCED_MEMBER_EPOCH for a greater or unknown older epoch, the previous one accepted, UNKNOWN_MEMBER_ID")

    err, gid, state, gepoch, aepoch, assignor, members = describe(c, g)
    if err or state != b"Stable" or gepoch != 2 or aepoch != 2 or assignor != b"uniform":
        fail("describe: %r" % ((err, state, gepoch, aepoch, assignor),))
    if sorted(members) != [b"member-a", b"member-b"]:
        fail("describe members: %r" % sorted(members))
    for m, (ep, subs, cur, tgt) in members.items():
        if ep != 2 or subs != [TOPIC] or len(cur) != 2 or cur != tgt or cur[0][0] != TOPIC:
            fail("describe member %r: %r" % (m, members[m]))
    ok("ConsumerGroupDescribe: Stable, epochs 2/2, uniform, both members with 2 partitions each")

    # offsets by member epoch
    if commit_v9(c, g, b"member-a", 2, 0, 42) != 0:
        fail("OffsetCommit v9 at the member epoch")
    if commit_v9(c, g, b"member-a", 1, 0, 43) != 113:
        fail("OffsetCommit v9 with a stale epoch: not STALE_MEMBER_EPOCH")
    if commit_v9(c, g, b"member-zz", 2, 0, 43) != 25:
        fail("OffsetCommit v9 by an unknown member")
    if fetch_v9(c, g, b"member-a", 2, 0) != (0, 42):
        fail("OffsetFetch v9: %r" % (fetch_v9(c, g, b"member-a", 2, 0),))
    if fetch_v9(c, g, b"member-a", 1, 0)[0] != 113 or fetch_v9(c, g, b"nobody", 2, 0)[0] != 25:
        fail("OffsetFetch v9: stale epoch / unknown member")
    ok("OffsetCommit/OffsetFetch v9: STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, committed 42")

    # leave: A's partitions go to B
    lv = expect(hb(c, g, b"member-a", -1), 0, "A leaves")
    if lv.epoch != -1:
        fail("leave: epoch %d" % lv.epoch)
    b = expect(hb(c, g, b"member-b", 2, owned=b.parts()), 0, "B after A left")
    if b.parts() != all4 or b.epoch != 3:
        fail("B after A left: epoch %d, %r" % (b.epoch, b.parts()))
    expect(hb(c, g, b"member-a", 2, owned=[]), 25, "A after leaving")
    ok("leave (-1): B gets all 4 partitions at epoch 3; A is unknown")

    # classic/consumer clash
    err = join_classic_member(c, g)
    if err != 23:
        fail("JoinGroup on a consumer group: error %d" % err)
    if join_classic_member(c, b"cg-classic") != 0:
        fail("classic join")
    expect(hb(c, b"cg-classic", b"member-x", 0, subs=[TOPIC], owned=[], rebalance=60000), 69,
           "heartbeat on a classic group")
    ok("JoinGroup on a consumer group: INCONSISTENT_GROUP_PROTOCOL; heartbeat on a classic one: GROUP_ID_NOT_FOUND")
    cons, clas, both = (list_groups(c, [b"consumer"]), list_groups(c, [b"Classic"]),
                        list_groups(c, []))
    if cons.get(g) != (b"Stable", b"consumer") or b"cg-classic" in cons:
        fail("ListGroups types=consumer: %r" % cons)
    if clas.get(b"cg-classic", (0, 0))[1] != b"classic" or g in clas or len(both) < 2:
        fail("ListGroups types=classic: %r / all: %r" % (clas, both))
    ok("ListGroups v5: the types filter tells consumer from classic groups")
    return all4


def timeouts(c, all4):
    # rebalance timeout: A does not revoke within 1 s
    g = b"cg-rt"
    a = expect(hb(c, g, b"rt-a", 0, subs=[TOPIC], owned=[], rebalance=1000), 0, "rt A")
    expect(hb(c, g, b"rt-a", a.epoch, owned=a.parts()), 0, "rt A stable")
    b = expect(hb(c, g, b"rt-b", 0, subs=[TOPIC], owned=[], rebalance=60000), 0, "rt B")
    a = expect(hb(c, g, b"rt-a", 1, owned=all4), 0, "rt A told to revoke")
    if len(a.parts()) != 2:
        fail("rt: A keeps %r" % a.parts())
    t0 = time.time()
    while True:
        h = hb(c, g, b"rt-a", 1, owned=all4)  # keeps heartbeating, never revokes
        if h.err == 25:
            break
        expect(h, 0, "rt A while revoking")
        b = expect(hb(c, g, b"rt-b", 2, owned=b.parts()), 0, "rt B while A revokes")
        if b.parts():
            fail("rt: B got %r before A was fenced" % b.parts())
        if time.time() - t0 > 5:
            fail("rt: A not fenced after its rebalance timeout")
        time.sleep(0.2)
    if time.time() - t0 < 0.8:
        fail("rt: A fenced before its rebalance timeout")
    b = expect(hb(c, g, b"rt-b", 2, owned=[]), 0, "rt B after A fenced")
    if b.parts() != all4:
        fail("rt: B after A was fenced: %r" % b.parts())
    ok("rebalance timeout: A fenced after %.1f s of not revoking; B gets all 4" % (time.time() - t0))

    # session timeout: B goes silent
    g = b"cg-se"
    a = expect(hb(c, g, b"se-a", 0, subs=[TOPIC], owned=[], rebalance=60000), 0, "se A")
    a = expect(hb(c, g, b"se-a", a.epoch, owned=a.parts()), 0, "se A stable")
    b = expect(hb(c, g, b"se-b", 0, subs=[TOPIC], owned=[], rebalance=60000), 0, "se B")
    a = expect(hb(c, g, b"se-a", 1, owned=all4), 0, "se A revoking")
    a = expect(hb(c, g, b"se-a", 1, owned=a.parts()), 0, "se A revoked")
    b = expect(hb(c, g, b"se-b", 2, owned=[]), 0, "se B gets its share")
    if len(b.parts()) != 2:
        fail("se: B %r" % b.parts())
    deadline = time.time() + SESSION_MS / 1000.0 * 3 + 2
    while True:
        time.sleep(0.3)
        a = expect(hb(c, g, b"se-a", a.epoch, owned=a.parts()), 0, "se A alone")
        if a.parts() == all4:
            break
        if time.time() > deadline:
            fail("se: B's session did not expire")
    expect(hb(c, g, b"se-b", 2, owned=b.parts()), 25, "se B after expiry")
    ok("session timeout: the silent member is removed, the other gets all 4")


def static_and_assignors(c, all4):
    g = b"cg-static"
    s = expect(hb(c, g, b"st-1", 0, subs=[TOPIC], owned=[], rebalance=60000, instance=b"inst-1"),
               0, "static joins")
    s = expect(hb(c, g, b"st-1", s.epoch, owned=s.parts(), instance=b"inst-1"), 0, "static")
    expect(hb(c, g, b"st-2", 0, subs=[TOPIC], owned=[], rebalance=60000, instance=b"inst-1"),
           111, "second live instance")
    lv = expect(hb(c, g, b"st-1", -2, instance=b"inst-1"), 0, "static leave")
    if lv.epoch != -2:
        fail("static leave: epoch %d" % lv.epoch)
    n = expect(hb(c, g, b"st-2", 0, subs=[TOPIC], owned=[], rebalance=60000, instance=b"inst-1"),
               0, "static rejoin")
    if n.parts() != all4 or n.epoch != 1:
        fail("static rejoin: epoch %d, %r" % (n.epoch, n.parts()))
    ok("static member: UNRELEASED_INSTANCE_ID while live; after -2 its instance rejoins with the same assignment, epoch 1")

    expect(hb(c, b"cg-bad", b"m", 0, subs=[TOPIC], owned=[], rebalance=60000, assignor=b"bogus"),
           112, "unknown assignor")
    ok("UNSUPPORTED_ASSIGNOR")

    g = b"cg-range"
    x = expect(hb(c, g, b"r-a", 0, subs=[TOPIC], owned=[], rebalance=60000, assignor=b"range"),
               0, "range a")
    x = expect(hb(c, g, b"r-a", x.epoch, owned=x.parts()), 0, "range a stable")
    y = expect(hb(c, g, b"r-b", 0, subs=[TOPIC], owned=[], rebalance=60000, assignor=b"range"),
               0, "range b")
    x = expect(hb(c, g, b"r-a", 1, owned=x.parts()), 0, "range a revoking")
    x = expect(hb(c, g, b"r-a", 1, owned=x.parts()), 0, "range a revoked")
    y = expect(hb(c, g, b"r-b", 2, owned=[]), 0, "range b gets")
    if [p for _, p in x.parts()] != [0, 1] or [p for _, p in y.parts()] != [2, 3]:
        fail("range: %r %r" % (x.parts(), y.parts()))
    if describe(c, g)[5] != b"range":
        fail("describe: assignor not range")
    ok("range assignor: [0, 1] and [2, 3]")

    expect(hb(c, b"cg-regex", b"m", 0, regex=b"(unclosed", owned=[], rebalance=60000), 128,
           "bad regex")
    x = expect(hb(c, b"cg-regex", b"m", 0, regex=b"c.t", owned=[], rebalance=60000), 0, "regex")
    if x.parts() != all4:
        fail("regex subscription: %r" % x.parts())
    ok("regex subscription c.t gets cgt's 4 partitions; a bad one INVALID_REGULAR_EXPRESSION")


def main():
    c = Conn(HOST, PORT)
    apis = api_versions(c)
    if apis.get(68) != (0, 1) or apis.get(69) != (0, 0) or apis[8][1] != 9 or apis[9][1] != 9:
        fail("ApiVersions: %r" % {k: apis.get(k) for k in (8, 9, 68, 69)})
    ok("ApiVersions: ConsumerGroupHeartbeat 0-1, ConsumerGroupDescribe 0, OffsetCommit/Fetch 9")
    create_topic(c, TOPIC)
    all4 = revocation(c)
    static_and_assignors(c, all4)
    timeouts(c, all4)
    c.close()
    print("kbroker_cgroups_raw: all passed")


main()
