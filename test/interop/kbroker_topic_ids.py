"""kbroker_topic_ids.py HOST PORT LOGDIR STEP [ID] — topic ids on kbroker
(run by test/t_kbroker_topic_ids.sh), with raw Metadata v12 requests:

  new      Metadata of topic "ti" auto-creates it; it has a non-zero id,
           every partition directory holds Kafka's partition.metadata with
           that id ("version: 0\\ntopic_id: <base64url>", no newline);
           Metadata by that id answers "ti"; an unknown id answers
           UNKNOWN_TOPIC_ID (100); Metadata v10 (all topics) carries the id.
           Prints the id.
  same ID  "ti" still has id ID (after a restart / an adopted file).
  delete   DeleteTopics "ti".
"""
import base64
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kraw import Conn, cstr, fail, uvar as uvarint  # noqa: E402

HOST, PORT, LOGDIR, STEP = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def call(api, ver, body, flex):
    c = Conn(HOST, PORT, 15, b"tid")
    r = c.call(api, ver, body, flex)
    c.close()
    return r


def metadata(topics, ver=12, create=True):
    """topics: list of (id bytes, name or None); None = all topics.
    Returns [(error, name, id, partitions)]."""
    if topics is None:
        body = uvarint(0)
    else:
        body = uvarint(len(topics) + 1)
        for tid, name in topics:
            body += tid + (uvarint(0) if name is None else cstr(name)) + b"\x00"
    body += struct.pack(">b", create)
    if ver == 10:
        body += b"\x00"  # include_cluster_authorized_operations
    body += b"\x00" + b"\x00"  # include_topic_authorized_operations, tags
    r = call(3, ver, body, True)
    r.i32()
    for _ in range(r.uvar() - 1):
        r.i32()
        r.cstr()
        r.i32()
        r.cstr()
        r.tags()
    r.cstr()
    r.i32()
    out = []
    for _ in range(r.uvar() - 1):
        err = r.i16()
        name = r.cstr()
        tid = r.take(16)
        r.i8()
        nparts = r.uvar() - 1
        for _ in range(nparts):
            r.i16()
            r.i32()
            r.i32()
            r.i32()
            for _ in range(3):
                for _ in range(r.uvar() - 1):
                    r.i32()
            r.tags()
        r.i32()
        r.tags()
        out.append((err, name, tid, nparts))
    return out


def b64(tid):
    return base64.urlsafe_b64encode(tid).rstrip(b"=").decode()


def files_hold(tid, nparts):
    for p in range(nparts):
        path = os.path.join(LOGDIR, "ti-%d" % p, "partition.metadata")
        with open(path, "rb") as f:
            got = f.read()
        want = ("version: 0\ntopic_id: " + b64(tid)).encode()
        if got != want:
            fail("%s holds %r, want %r" % (path, got, want))


def one_id():
    for _ in range(50):  # LEADER_NOT_AVAILABLE while being created
        res = metadata([(bytes(16), b"ti")])
        if res[0][0] == 0:
            break
    err, name, tid, nparts = res[0]
    if err != 0 or name != b"ti" or nparts != 3:
        fail("Metadata ti: %r" % (res,))
    if tid == bytes(16):
        fail("topic ti has the zero id")
    return tid, nparts


if STEP == "new":
    tid, nparts = one_id()
    files_hold(tid, nparts)
    res = metadata([(tid, None)], create=False)
    if res[0][0] != 0 or res[0][1] != b"ti" or res[0][2] != tid or res[0][3] != 3:
        fail("Metadata by id: %r" % (res,))
    other = bytes([tid[0] ^ 0xFF]) + tid[1:]
    res = metadata([(other, None)], create=False)
    if res[0][0] != 100:
        fail("Metadata by an unknown id: %r, want UNKNOWN_TOPIC_ID" % (res,))
    res = [t for t in metadata(None, ver=10) if t[1] == b"ti"]
    if len(res) != 1 or res[0][2] != tid:
        fail("Metadata v10 all topics: %r" % (res,))
    print(b64(tid))
elif STEP == "same":
    tid, nparts = one_id()
    if b64(tid) != sys.argv[5]:
        fail("id of ti is %s, want %s" % (b64(tid), sys.argv[5]))
    files_hold(tid, nparts)
elif STEP == "delete":
    body = struct.pack(">i", 1) + struct.pack(">h", 2) + b"ti" + struct.pack(">i", 10000)
    r = call(20, 1, body, False)
    r.i32()
    if r.i32() != 1:
        fail("DeleteTopics response")
    n = r.i16()
    r.take(n)
    if r.i16() != 0:
        fail("DeleteTopics ti failed")
else:
    fail("unknown step " + STEP)
