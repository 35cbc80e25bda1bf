"""kbroker_autocreate.py — Metadata requests that name many unknown topics
(issue 21 item 13).

Usage: kbroker_autocreate.py HOST PORT LOGDIR PER_REQUEST MAX_TOPICS

The broker runs with --auto-create-per-request PER_REQUEST and
--auto-create-max-topics MAX_TOPICS. Checks, counting only (no timings):
  * one Metadata request naming 2000 new topics creates at most PER_REQUEST
    of them (error 0, one partition each); the others come back
    LEADER_NOT_AVAILABLE (5, retriable: Kafka's answer while a topic is
    being created) and no directory is made for them;
  * repeating it creates the next ones: a client that retries gets its
    topics, PER_REQUEST at a time;
  * fairness: connection A pipelines 40 Metadata requests that each create
    PER_REQUEST topics; connection B then sends ApiVersions. B's answer must
    come while A still waits for some of its responses (A's creations are
    seconds of fsyncs; one creating request per connection per loop turn);
  * the total cap: once the log holds MAX_TOPICS topics nothing more is
    created and unknown topics get UNKNOWN_TOPIC_OR_PARTITION (3); known
    topics are still answered.
Every socket operation has a timeout. Prints "ok: ..." lines; exits 1 on
the first failure.
"""
import os
import socket
import struct
import sys

HOST, PORT, LOGDIR = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PER_REQ, MAX_TOPICS = int(sys.argv[4]), int(sys.argv[5])
TIMEOUT = 60


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)
    sys.stdout.flush()


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


def request(api, ver, corr, body, client=b"autocreate"):
    hdr = struct.pack(">hhih", api, ver, corr, len(client)) + client
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def read_response(s):
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    data = recv_exact(s, size)
    return struct.unpack(">i", data[:4])[0], data[4:]


def metadata_request(corr, names):
    body = struct.pack(">i", len(names))
    for n in names:
        e = n.encode()
        body += struct.pack(">h", len(e)) + e
    return request(3, 1, corr, body)


def parse_metadata_v1(body):
    """{topic: (error, partitions)} from a Metadata v1 response."""
    pos = 0

    def i16():
        nonlocal pos
        v = struct.unpack_from(">h", body, pos)[0]
        pos += 2
        return v

    def i32():
        nonlocal pos
        v = struct.unpack_from(">i", body, pos)[0]
        pos += 4
        return v

    def string():
        nonlocal pos
        n = i16()
        if n < 0:
            return None
        v = body[pos:pos + n].decode()
        pos += n
        return v

    for _ in range(i32()):  # brokers
        i32()
        string()
        i32()
        string()  # rack
    i32()  # controller
    out = {}
    for _ in range(i32()):
        err = i16()
        name = string()
        pos += 1  # is_internal
        nparts = i32()
        for _ in range(nparts):
            i16()
            i32()
            i32()
            for _ in range(i32()):
                i32()
            for _ in range(i32()):
                i32()
        out[name] = (err, nparts)
    return out


def metadata(s, corr, names):
    s.sendall(metadata_request(corr, names))
    c, body = read_response(s)
    if c != corr:
        fail("Metadata correlation %d, expected %d" % (c, corr))
    return parse_metadata_v1(body)


def topic_dirs(prefix):
    return len([d for d in os.listdir(LOGDIR) if d.startswith(prefix + "-")])


def count(res, err):
    return sum(1 for e, _ in res.values() if e == err)


# 1. One request naming 2000 new topics.
a = connect()
names = ["many-%d" % i for i in range(2000)]
res = metadata(a, 1, names)
if len(res) != 2000:
    fail("answered %d of 2000 topics" % len(res))
made = count(res, 0)
if made != PER_REQ or count(res, 5) != 2000 - PER_REQ:
    fail("2000 new topics: %d created, %d LEADER_NOT_AVAILABLE (cap %d)"
         % (made, count(res, 5), PER_REQ))
if any(p != 1 for e, p in res.values() if e == 0):
    fail("a created topic does not have 1 partition")
if topic_dirs("many") != PER_REQ:
    fail("%d topic directories after one request (cap %d)" % (topic_dirs("many"), PER_REQ))
ok("one Metadata request naming 2000 new topics created %d (the cap), "
   "%d directories" % (made, topic_dirs("many")))

# 2. A retry gets the next ones; the first ones are known now.
res = metadata(a, 2, names)
if count(res, 0) != 2 * PER_REQ:
    fail("retry: %d topics answered (expected %d)" % (count(res, 0), 2 * PER_REQ))
ok("a retry created the next %d" % PER_REQ)

# 3. Fairness between connections.
b = connect()
N = 40
reqs = b""
for k in range(N):
    reqs += metadata_request(100 + k, ["fair-%d-%d" % (k, j) for j in range(PER_REQ)])
a.sendall(reqs)
b.sendall(request(18, 0, 7, b""))
c, body = read_response(b)
if c != 7 or struct.unpack(">h", body[:2])[0] != 0:
    fail("ApiVersions answer wrong")
# What has A been answered so far? Read without waiting.
a.setblocking(False)
got = b""
try:
    while True:
        chunk = a.recv(1 << 20)
        if not chunk:
            fail("connection A closed")
        got += chunk
except BlockingIOError:
    pass
a.settimeout(TIMEOUT)
done, pos = 0, 0
while pos + 4 <= len(got):
    size = struct.unpack_from(">i", got, pos)[0]
    if pos + 4 + size > len(got):
        break
    pos += 4 + size
    done += 1
if done >= N:
    fail("ApiVersions on B was answered only after all %d creating requests on A" % N)
ok("ApiVersions on B answered while A had %d of %d creating requests answered" % (done, N))
rest = got[pos:]
for k in range(done, N):  # drain A
    while len(rest) < 4:
        rest += a.recv(1 << 20)
    size = struct.unpack_from(">i", rest, 0)[0]
    while len(rest) < 4 + size:
        rest += a.recv(1 << 20)
    corr = struct.unpack_from(">i", rest, 4)[0]
    if corr != 100 + k:
        fail("A: response %d has correlation %d" % (100 + k, corr))
    res = parse_metadata_v1(rest[8:4 + size])
    if count(res, 0) != PER_REQ:
        fail("A: request %d created %d of %d" % (k, count(res, 0), PER_REQ))
    rest = rest[4 + size:]
ok("A's %d responses came in order, each creating its %d topics" % (N, PER_REQ))

# 4. The total cap.
have = 2 * PER_REQ + N * PER_REQ
k = 0
while have < MAX_TOPICS and k < 1000:
    res = metadata(a, 1000 + k, ["cap-%d-%d" % (k, j) for j in range(PER_REQ)])
    have += count(res, 0)
    k += 1
if have != MAX_TOPICS:
    fail("creation stopped at %d topics (cap %d)" % (have, MAX_TOPICS))
res = metadata(a, 5000, ["over-%d" % j for j in range(PER_REQ)] + ["many-0"])
if count(res, 3) != PER_REQ or res["many-0"][0] != 0:
    fail("past the total cap: %d UNKNOWN_TOPIC_OR_PARTITION, known topic error %d"
         % (count(res, 3), res["many-0"][0]))
if topic_dirs("over") != 0:
    fail("directories made past the total cap")
ok("total cap: %d topics, then UNKNOWN_TOPIC_OR_PARTITION; known topics still answered"
   % MAX_TOPICS)
a.close()
b.close()
