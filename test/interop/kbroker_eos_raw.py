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
        FindCoordinator key_type 1 names this broker; Fetch v4
        read_committed stops at the last stable offset and lists the
        aborted transaction; ListOffsets LATEST read_committed is the LSO.
  txngroup: TxnOffsetCommit v3 checks the classic group it names, as
        Kafka: with a static member of group "tgg" joined, a wrong
        generation is ILLEGAL_GENERATION (22), an unknown member
        UNKNOWN_MEMBER_ID (25), another member id for the instance id
        FENCED_INSTANCE_ID (82), an unknown instance id UNKNOWN_MEMBER_ID;
        generation -1 with no member is not checked; the member's own
        commit goes through, visible after EndTxn(commit).
  restart-before: opens transaction "rs" (a transactional batch on
        TOPIC[0], TxnOffsetCommit of group "rsg" offset 33) and "rsto"
        (timeout 4000 ms), then commits offset 5 of group "rsg2" plainly
        (after the open transaction's batches); prints "rs PID" and
        "rsto PID" for restart-after (the broker is then killed with -9).
  restart-after RS RSTO: the transactions are still open: rsg's offset is
        pending (-1), rsg2's 5 kept; rs goes on at epoch 0 (AddPartitionsToTxn,
        Produce at the next sequence, EndTxn commit) and rsg's 33 is then
        committed, read_committed sees both records; rsto, kept at first,
        is aborted with its epoch bumped once its timeout from its start
        has passed.
  expire: against a broker run with --transactional-id-expiration 1000:
        idle ids "ex1", "ex2" are forgotten (InitProducerId on ex1 then
        gives a new producer id at epoch 0, not the old id's next epoch),
        while "exk", with a transaction open meanwhile, keeps its id and
        commits; prints "ex2 PID" for expire-after.
  expire-after PID: after a restart (default expiration), ex2 is still
        unknown (its tombstone was stored): a new producer id, not PID.
Every socket operation has a timeout; prints "ok: ..." lines, exits 1 on
the first failure.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kraw import Conn as _Conn, batch, cstr, fail, kstr, ok, uvar  # noqa: E402

HOST, PORT, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TOPIC = sys.argv[4].encode() if len(sys.argv) > 4 else b"idem"
TIMEOUT = 20


def Conn():
    return _Conn(HOST, PORT, TIMEOUT)


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


def log_end(c, topic, part, isolation=0):
    body = struct.pack(">ib", -1, isolation) + struct.pack(">i", 1) + kstr(topic) + struct.pack(
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


def metadata_create(c, topic):
    c.call(3, 4, struct.pack(">i", 1) + kstr(topic) + b"\x01")


def add_parts(c, tid, pid, epoch, parts, ver=1):
    topics = {}
    for t, p in parts:
        topics.setdefault(t, []).append(p)
    body = kstr(tid) + struct.pack(">qhi", pid, epoch, len(topics))
    for t, ps in topics.items():
        body += kstr(t) + struct.pack(">i", len(ps)) + b"".join(struct.pack(">i", p) for p in ps)
    r = c.call(24, ver, body)
    r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return out


def add_offsets(c, tid, pid, epoch, group):
    r = c.call(25, 1, kstr(tid) + struct.pack(">qh", pid, epoch) + kstr(group))
    r.i32()
    return r.i16()


def end_txn(c, tid, pid, epoch, commit, ver=1):
    r = c.call(26, ver, kstr(tid) + struct.pack(">qhb", pid, epoch, 1 if commit else 0))
    r.i32()
    return r.i16()


def txn_commit_offset(c, tid, group, pid, epoch, topic, part, off):
    body = (kstr(tid) + kstr(group) + struct.pack(">qhi", pid, epoch, 1) + kstr(topic)
            + struct.pack(">iiqi", 1, part, off, -1) + kstr(b""))
    r = c.call(28, 2, body)
    r.i32()
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16()


def offset_fetch(c, group, topic, part):
    r = c.call(9, 1, kstr(group) + struct.pack(">i", 1) + kstr(topic) + struct.pack(">ii", 1, part))
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


def fetch(c, topic, part, offset, isolation):
    body = (struct.pack(">iiiib", -1, 0, 0, 1 << 20, isolation) + struct.pack(">i", 1) + kstr(topic)
            + struct.pack(">iiqi", 1, part, offset, 1 << 20))
    r = c.call(1, 4, body)
    r.i32()
    r.i32()
    r.str()
    r.i32()
    r.i32()
    err, hw, lso = r.i16(), r.i64(), r.i64()
    n = r.i32()
    aborted = None if n < 0 else [(r.i64(), r.i64()) for _ in range(n)]
    recs = r.i32()
    return err, hw, lso, aborted, recs


def mode_txn():
    c = Conn()
    metadata_create(c, TOPIC)
    time.sleep(0.2)
    r = c.call(10, 1, kstr(b"rt") + b"\x01")
    r.i32()
    err = r.i16()
    r.str()
    node = r.i32()
    expect("FindCoordinator key_type 1", (err, node), (0, 1))
    ok("FindCoordinator for a transactional id names this broker")
    expect("InitProducerId timeout 0", init_pid(c, 1, b"rt", 0)[0], 50)
    err, pid, epoch = init_pid(c, 1, b"rt")
    expect("InitProducerId rt", (err, epoch), (0, 0))
    end0 = log_end(c, TOPIC, 0)
    expect("transactional batch, partition not added",
           produce(c, TOPIC, 0, batch([b"t"], pid, 0, 0, True), b"rt")[0], 48)
    ok("transactional batch for a partition not in the transaction: INVALID_TXN_STATE")
    got = add_parts(c, b"rt", pid, 0, [(TOPIC, 0), (b"no-such-topic", 0)])
    expect("AddPartitionsToTxn with an unknown topic", (got[(TOPIC, 0)], got[(b"no-such-topic", 0)]),
           (55, 3))
    expect("AddPartitionsToTxn", add_parts(c, b"rt", pid, 0, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    ok("AddPartitionsToTxn: unknown partition refused, the rest not attempted; then added")
    expect("transactional batch", produce(c, TOPIC, 0, batch([b"a1", b"a2", b"a3"], pid, 0, 0, True),
                                          b"rt"), (0, end0))
    expect("plain batch inside the transaction",
           produce(c, TOPIC, 0, batch([b"p"], pid, 0, 3))[0], 48)
    ok("non-transactional batch of a producer with an open transaction: INVALID_TXN_STATE")
    err, hw, lso, ab, n = fetch(c, TOPIC, 0, end0, 1)
    expect("read_committed fetch of the open transaction", (err, hw, lso, ab, n),
           (0, end0 + 3, end0, [], 0))
    err, hw, lso, ab, n = fetch(c, TOPIC, 0, end0, 0)
    if (err, hw, lso, ab) != (0, end0 + 3, end0 + 3, None) or n <= 0:
        fail("read_uncommitted fetch: %r" % ((err, hw, lso, ab, n),))
    ok("Fetch read_committed stops at the last stable offset; read_uncommitted does not")
    expect("ListOffsets LATEST read_committed", log_end(c, TOPIC, 0, 1), end0)
    expect("ListOffsets LATEST read_uncommitted", log_end(c, TOPIC, 0, 0), end0 + 3)
    ok("ListOffsets LATEST: the last stable offset for read_committed")
    expect("EndTxn abort", end_txn(c, b"rt", pid, 0, False), 0)
    err, hw, lso, ab, n = fetch(c, TOPIC, 0, end0, 1)
    if (err, hw, lso, ab) != (0, end0 + 4, end0 + 4, [(pid, end0)]) or n <= 0:
        fail("read_committed fetch after the abort: %r" % ((err, hw, lso, ab, n),))
    ok("after EndTxn(abort) the LSO passes the marker and Fetch lists the aborted transaction")
    expect("EndTxn abort again", end_txn(c, b"rt", pid, 0, False), 0)
    expect("EndTxn commit after abort", end_txn(c, b"rt", pid, 0, True), 48)
    ok("EndTxn: a retried abort is fine, a commit of it INVALID_TXN_STATE")
    expect("TxnOffsetCommit outside a transaction",
           txn_commit_offset(c, b"rt", b"rg", pid, 0, b"src", 0, 5), 48)
    # offsets visible only once committed
    expect("AddPartitionsToTxn 2", add_parts(c, b"rt", pid, 0, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    expect("AddOffsetsToTxn", add_offsets(c, b"rt", pid, 0, b"rg"), 0)
    expect("TxnOffsetCommit", txn_commit_offset(c, b"rt", b"rg", pid, 0, b"src", 0, 42), 0)
    expect("OffsetFetch before the commit", offset_fetch(c, b"rg", b"src", 0), -1)
    expect("EndTxn commit", end_txn(c, b"rt", pid, 0, True), 0)
    expect("OffsetFetch after the commit", offset_fetch(c, b"rg", b"src", 0), 42)
    expect("AddOffsetsToTxn 3", add_offsets(c, b"rt", pid, 0, b"rg"), 0)
    expect("TxnOffsetCommit 3", txn_commit_offset(c, b"rt", b"rg", pid, 0, b"src", 0, 77), 0)
    expect("EndTxn abort 3", end_txn(c, b"rt", pid, 0, False), 0)
    expect("OffsetFetch after an aborted commit", offset_fetch(c, b"rg", b"src", 0), 42)
    ok("TxnOffsetCommit: offsets visible to OffsetFetch only after EndTxn(commit), never after abort")
    expect("EndTxn with another producer id", end_txn(c, b"rt", pid + 100, 0, True), 49)
    ok("another producer id: INVALID_PRODUCER_ID_MAPPING")
    # re-init fences the old epoch and aborts its open transaction
    expect("AddPartitionsToTxn 4", add_parts(c, b"rt", pid, 0, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    mid = log_end(c, TOPIC, 0)
    expect("open transaction", produce(c, TOPIC, 0, batch([b"o"], pid, 0, 3, True), b"rt"), (0, mid))
    err, pid2, epoch2 = init_pid(c, 1, b"rt")
    expect("InitProducerId again", (err, pid2, epoch2), (0, pid, 1))
    err, hw, lso, ab, n = fetch(c, TOPIC, 0, mid, 1)
    if (err, lso, ab) != (0, hw, [(pid, mid)]):
        fail("read_committed fetch after the re-init: %r" % ((err, hw, lso, ab, n),))
    ok("InitProducerId on an id with an open transaction: epoch bumped, the transaction aborted")
    expect("AddPartitionsToTxn v1, old epoch", add_parts(c, b"rt", pid, 0, [(TOPIC, 0)]),
           {(TOPIC, 0): 47})
    expect("AddPartitionsToTxn v2, old epoch", add_parts(c, b"rt", pid, 0, [(TOPIC, 0)], 2),
           {(TOPIC, 0): 90})
    expect("EndTxn v2, old epoch", end_txn(c, b"rt", pid, 0, True, 2), 90)
    expect("Produce, old epoch", produce(c, TOPIC, 0, batch([b"z"], pid, 0, 4, True), b"rt")[0], 47)
    ok("the old epoch is fenced: INVALID_PRODUCER_EPOCH (v1, Produce), PRODUCER_FENCED (v2)")
    expect("AddPartitionsToTxn, new epoch", add_parts(c, b"rt", pid, 1, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    expect("new epoch at sequence 0", produce(c, TOPIC, 0, batch([b"n"], pid, 1, 0, True), b"rt")[0], 0)
    expect("EndTxn commit, new epoch", end_txn(c, b"rt", pid, 1, True), 0)
    ok("the new epoch produces from sequence 0 and commits")


def txn_commit_v3(c, tid, group, pid, epoch, gen, member, instance, off):
    body = (cstr(tid) + cstr(group) + struct.pack(">qhi", pid, epoch, gen) + cstr(member)
            + (uvar(0) if instance is None else cstr(instance)) + uvar(2) + cstr(TOPIC) + uvar(2)
            + struct.pack(">iqi", 0, off, -1) + uvar(0) + b"\x00" + b"\x00" + b"\x00")
    r = c.call(28, 3, body, True)
    r.i32()
    if r.carr() != 1 or r.cstr() != TOPIC or r.carr() != 1 or r.i32() != 0:
        fail("TxnOffsetCommit v3 response")
    err = r.i16()
    r.tags()
    r.tags()
    r.tags()
    r.done()
    return err


def mode_txngroup():
    c = Conn()
    metadata_create(c, TOPIC)
    meta = struct.pack(">hi", 0, 1) + kstr(TOPIC) + struct.pack(">i", -1)
    join = (kstr(b"tgg") + struct.pack(">ii", 6000, 30000) + kstr(b"") + kstr(b"inst-a")
            + kstr(b"consumer") + struct.pack(">i", 1) + kstr(b"range")
            + struct.pack(">i", len(meta)) + meta)
    r = c.call(11, 5, join)
    r.i32()
    err, gen = r.i16(), r.i32()
    r.str()
    r.str()
    mid = r.str()
    expect("JoinGroup of a static member", err, 0)
    r = c.call(14, 3, kstr(b"tgg") + struct.pack(">i", gen) + kstr(mid) + kstr(b"inst-a")
               + struct.pack(">i", 1) + kstr(mid) + struct.pack(">i", 0))
    r.i32()
    expect("SyncGroup", r.i16(), 0)
    err, pid, epoch = init_pid(c, 1, b"tgt")
    expect("InitProducerId tgt", err, 0)
    expect("AddOffsetsToTxn", add_offsets(c, b"tgt", pid, epoch, b"tgg"), 0)
    cases = [("wrong generation", gen + 1, mid, b"inst-a", 22),
             ("unknown member", gen, b"nobody", None, 25),
             ("another member id for the instance", gen, b"nobody", b"inst-a", 82),
             ("unknown instance id", gen, mid, b"inst-x", 25),
             ("generation -1, no member", -1, b"", None, 0),
             ("the member itself", gen, mid, b"inst-a", 0)]
    for i, (what, g, m, inst, want) in enumerate(cases):
        expect("TxnOffsetCommit v3, " + what,
               txn_commit_v3(c, b"tgt", b"tgg", pid, epoch, g, m, inst, 10 + i), want)
    ok("TxnOffsetCommit v3 checks the group: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, "
       "FENCED_INSTANCE_ID; generation -1 without a member unchecked")
    expect("EndTxn commit", end_txn(c, b"tgt", pid, epoch, True), 0)
    expect("OffsetFetch after the commit", offset_fetch(c, b"tgg", TOPIC, 0), 15)
    ok("the member's TxnOffsetCommit v3 is committed with the transaction")


def commit_plain(c, group, topic, off):
    body = (kstr(group) + struct.pack(">i", -1) + kstr(b"") + struct.pack(">q", -1)
            + struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1)
            + struct.pack(">iq", 0, off) + kstr(b""))
    r = c.call(8, 2, body)
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16()


def mode_restart_before():
    c = Conn()
    metadata_create(c, TOPIC)
    time.sleep(0.2)
    err, pid, ep = init_pid(c, 1, b"rs")
    expect("InitProducerId rs", (err, ep), (0, 0))
    expect("AddPartitionsToTxn rs", add_parts(c, b"rs", pid, 0, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    expect("transactional batch", produce(c, TOPIC, 0, batch([b"r1"], pid, 0, 0, True), b"rs")[0], 0)
    expect("AddOffsetsToTxn rs", add_offsets(c, b"rs", pid, 0, b"rsg"), 0)
    expect("TxnOffsetCommit rs", txn_commit_offset(c, b"rs", b"rsg", pid, 0, b"src", 0, 33), 0)
    err, pto, ep = init_pid(c, 1, b"rsto", 4000)
    expect("InitProducerId rsto", (err, ep), (0, 0))
    expect("AddPartitionsToTxn rsto", add_parts(c, b"rsto", pto, 0, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    expect("plain OffsetCommit after the open transaction", commit_plain(c, b"rsg2", b"src", 5), 0)
    print("rs %d" % pid)
    print("rsto %d" % pto)
    sys.stdout.flush()


def mode_restart_after(pid, pto):
    c = Conn()
    t0 = time.monotonic()
    expect("OffsetFetch rsg after the restart (pending)", offset_fetch(c, b"rsg", b"src", 0), -1)
    expect("OffsetFetch rsg2 after the restart", offset_fetch(c, b"rsg2", b"src", 0), 5)
    ok("after kill -9: the open transaction's offset still pending, a later plain commit kept")
    expect("AddPartitionsToTxn rsto after the restart", add_parts(c, b"rsto", pto, 0, [(TOPIC, 0)]),
           {(TOPIC, 0): 0})
    expect("AddPartitionsToTxn rs after the restart", add_parts(c, b"rs", pid, 0, [(TOPIC, 0)]),
           {(TOPIC, 0): 0})
    end0 = log_end(c, TOPIC, 0, 1)
    expect("Produce rs after the restart",
           produce(c, TOPIC, 0, batch([b"r2"], pid, 0, 1, True), b"rs")[0], 0)
    expect("EndTxn commit rs after the restart", end_txn(c, b"rs", pid, 0, True), 0)
    expect("OffsetFetch rsg after the commit", offset_fetch(c, b"rsg", b"src", 0), 33)
    err, hw, lso, ab, n = fetch(c, TOPIC, 0, end0, 1)
    if err or n <= 0 or ab:
        fail("read_committed after the commit: %r" % ((err, hw, lso, ab, n),))
    ok("a transaction open across kill -9 goes on at its epoch and commits: records and "
       "offsets visible")
    time.sleep(max(0, 4.5 - (time.monotonic() - t0)))
    expect("EndTxn rsto past its timeout", end_txn(c, b"rsto", pto, 0, True), 47)
    err, p2, ep2 = init_pid(c, 1, b"rsto", 4000)
    expect("InitProducerId rsto again", (err, p2, ep2), (0, pto, 2))
    ok("a transaction kept across the restart is aborted when its timeout (from its start) "
       "expires, its producer fenced")


def mode_expire():
    c = Conn()
    metadata_create(c, TOPIC)
    time.sleep(0.2)
    err1, pid1, ep1 = init_pid(c, 1, b"ex1")
    err2, pid2, ep2 = init_pid(c, 1, b"ex2")
    errk, pidk, epk = init_pid(c, 1, b"exk")
    expect("InitProducerId ex1 ex2 exk", (err1, err2, errk), (0, 0, 0))
    expect("AddPartitionsToTxn exk", add_parts(c, b"exk", pidk, epk, [(TOPIC, 0)]), {(TOPIC, 0): 0})
    time.sleep(2.5)  # expiration 1000 ms, looked for every 1000 ms
    expect("EndTxn of the open transaction", end_txn(c, b"exk", pidk, epk, True), 0)
    ok("an id with a transaction open is kept past the expiration")
    err, pid, ep = init_pid(c, 1, b"ex1")
    if err or pid == pid1 or ep != 0:
        fail("ex1 after the expiration: %r (was pid %d)" % ((err, pid, ep), pid1))
    ok("an idle transactional id expires: InitProducerId starts over with a new producer id")
    print("ex2 %d" % pid2)


def mode_expire_after(old):
    c = Conn()
    err, pid, ep = init_pid(c, 1, b"ex2")
    if err or pid == old or ep != 0:
        fail("ex2 after the restart: %r (was pid %d)" % ((err, pid, ep), old))
    ok("after a restart the expired id stays forgotten: its tombstone was stored")


if MODE == "pid":
    mode_pid()
elif MODE == "idem":
    mode_idem()
elif MODE == "txn":
    mode_txn()
elif MODE == "txngroup":
    mode_txngroup()
elif MODE == "restart-before":
    mode_restart_before()
elif MODE == "restart-after":
    mode_restart_after(int(sys.argv[5]), int(sys.argv[6]))
elif MODE == "expire":
    mode_expire()
elif MODE == "expire-after":
    mode_expire_after(int(sys.argv[5]))
else:
    fail("unknown mode " + MODE)
