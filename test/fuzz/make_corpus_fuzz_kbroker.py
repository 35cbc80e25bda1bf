"""Regenerate the seed corpus of fuzz_kbroker (test/fuzz/corpus/fuzz_kbroker/).

Run from the repository root after `make build/kbroker` (kcat optional):
    /usr/bin/python3 test/fuzz/make_corpus_fuzz_kbroker.py

Seeds, in fuzz_kbroker's input format (first byte 0: a connection's byte
stream of size-prefixed requests; otherwise the bytes after the first are
one request frame):
  - kcat_*: what kcat (librdkafka) sent to a real kbroker, captured by a
    relay between them: each connection's whole stream, and each distinct
    request frame on its own. The relay rewrites the broker's address in
    Metadata/FindCoordinator answers to its own, so that every connection
    the client opens goes through it.
  - hand_*: requests built here for versions and shapes kcat does not send
    (ApiVersions v0-v3, Metadata v0-v4 with and without names, Produce v0-v3
    with a valid batch, Fetch v4, ListOffsets v1/v2 with -1/-2/timestamps,
    FindCoordinator v0), each as a frame and all together as one stream.
The files named by a SHA-1 are inputs libFuzzer found that add coverage
(`fuzz_kbroker -merge=1 -use_counters=0 <corpus> <new inputs>`); this
script leaves them alone.
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

OUT = "test/fuzz/corpus/fuzz_kbroker"
BUILD = os.environ.get("KLOG_BUILD", "build")


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(n):
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def batch(values, ts=1700000000000):
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(i) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    n = len(values)
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, ts, ts + n - 1, -1, -1, -1, n) + recs
    crc = crc32c(after_crc)
    rest = struct.pack(">ibI", 0, 2, crc) + after_crc  # leader epoch, magic, crc
    return struct.pack(">qi", 0, len(rest)) + rest


def s16(s):
    if s is None:
        return struct.pack(">h", -1)
    return struct.pack(">h", len(s)) + s


def frame(key, ver, corr, body, client=b"fuzz", flexible=False):
    hdr = struct.pack(">hhi", key, ver, corr) + s16(client)
    if flexible:
        hdr += b"\x00"
    return hdr + body


def framed(f):
    return struct.pack(">i", len(f)) + f


def hand_requests():
    reqs = {}
    for v in range(4):
        body = b"\x04fuzz\x061.0.0\x00" if v == 3 else b""
        reqs["apiversions_v%d" % v] = frame(18, v, 1, body, flexible=v == 3)
    reqs["apiversions_v9"] = frame(18, 9, 1, b"", flexible=True)
    for v in range(5):
        names = struct.pack(">i", 2) + s16(b"t") + s16(b"newtopic")
        tail = b"\x01" if v >= 4 else b""
        reqs["metadata_v%d_names" % v] = frame(3, v, 2, names + tail)
        none = struct.pack(">i", 0 if v == 0 else -1)
        reqs["metadata_v%d_all" % v] = frame(3, v, 2, none + tail)
    bt = batch([b"hello", b"world", b""])
    for v in range(4):
        body = (s16(None) if v >= 3 else b"") + struct.pack(">hi", -1, 1000)
        body += struct.pack(">i", 1) + s16(b"t") + struct.pack(">i", 2)
        body += struct.pack(">ii", 0, len(bt)) + bt + struct.pack(">ii", 1, len(bt) * 2) + bt + bt
        reqs["produce_v%d" % v] = frame(0, v, 3, body)
    reqs["produce_acks0"] = frame(0, 3, 3, s16(None) + struct.pack(">hi", 0, 1000) +
                                  struct.pack(">i", 1) + s16(b"u") + struct.pack(">i", 1) +
                                  struct.pack(">ii", 0, len(bt)) + bt)
    fetch = struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0) + struct.pack(">i", 2)
    fetch += s16(b"t") + struct.pack(">i", 2) + struct.pack(">iqi", 0, 0, 4096) + \
        struct.pack(">iqi", 1, 5, 100)
    fetch += s16(b"u") + struct.pack(">i", 1) + struct.pack(">iqi", 0, 3, 1 << 20)
    reqs["fetch_v4"] = frame(1, 4, 4, fetch)
    park = struct.pack(">iiiib", -1, 500, 1, 1 << 20, 0) + struct.pack(">i", 1) + s16(b"t") + \
        struct.pack(">i", 1) + struct.pack(">iqi", 0, 24, 4096)
    reqs["fetch_v4_park"] = frame(1, 4, 5, park)
    for v in (1, 2):
        body = struct.pack(">i", -1) + (b"\x00" if v == 2 else b"") + struct.pack(">i", 2)
        body += s16(b"t") + struct.pack(">i", 3) + struct.pack(">iq", 0, -1) + \
            struct.pack(">iq", 1, -2) + struct.pack(">iq", 0, 1700000005000)
        body += s16(b"nosuch") + struct.pack(">i", 1) + struct.pack(">iq", 0, -1)
        reqs["listoffsets_v%d" % v] = frame(2, v, 6, body)
    reqs["findcoordinator_v0"] = frame(10, 0, 7, s16(b"group"))
    # KIP-848: ConsumerGroupHeartbeat v1 join, a heartbeat at epoch 1 owning
    # nothing, ConsumerGroupDescribe, OffsetFetch v9 with the member,
    # ListGroups v5 with a types filter.
    def cs(x):
        return varint_u(len(x) + 1) + x
    join = (cs(b"cg") + cs(b"m1") + struct.pack(">i", 0) + b"\x00\x00" + struct.pack(">i", 30000)
            + b"\x03" + cs(b"t") + cs(b"u") + b"\x00" + cs(b"uniform") + b"\x01\x00")
    reqs["cg_heartbeat_join"] = frame(68, 1, 8, join, flexible=True)
    hb = (cs(b"cg") + cs(b"m1") + struct.pack(">i", 1) + b"\x00\x00" + struct.pack(">i", -1)
          + b"\x00\x00\x00" + b"\x01\x00")
    reqs["cg_heartbeat_epoch1"] = frame(68, 1, 9, hb, flexible=True)
    reqs["cg_describe"] = frame(69, 0, 10, b"\x02" + cs(b"cg") + b"\x00\x00", flexible=True)
    of = (b"\x02" + cs(b"cg") + cs(b"m1") + struct.pack(">i", 1) + b"\x02" + cs(b"t")
          + b"\x02" + struct.pack(">i", 0) + b"\x00\x00" + b"\x00\x00")
    reqs["offsetfetch_v9"] = frame(9, 9, 11, of, flexible=True)
    reqs["listgroups_v5"] = frame(16, 5, 12, b"\x01\x02" + cs(b"consumer") + b"\x00", flexible=True)
    return reqs


def varint_u(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


class Relay:
    """Client <-> broker relay that records what clients send."""

    def __init__(self, broker_port):
        self.bport = broker_port
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.streams = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.bport))
            rec = bytearray()
            with self.lock:
                self.streams.append(rec)
            threading.Thread(target=self.up, args=(c, s, rec), daemon=True).start()
            threading.Thread(target=self.down, args=(s, c), daemon=True).start()

    def up(self, c, s, rec):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                with self.lock:
                    rec.extend(d)
                s.sendall(d)
        except OSError:
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def down(self, s, c):
        old = b"\x00\x09127.0.0.1" + struct.pack(">i", self.bport)
        new = b"\x00\x09127.0.0.1" + struct.pack(">i", self.port)
        buf = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                while len(buf) >= 4:
                    n = struct.unpack(">i", buf[:4])[0]
                    if len(buf) < 4 + n:
                        break
                    c.sendall(buf[:4 + n].replace(old, new))
                    buf = buf[4 + n:]
        except OSError:
            pass
        try:
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def split_frames(stream):
    out, pos = [], 0
    while len(stream) - pos >= 4:
        n = struct.unpack(">i", stream[pos:pos + 4])[0]
        if n < 0 or len(stream) - pos - 4 < n:
            break
        out.append(bytes(stream[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return out


def capture_kcat():
    kcat = shutil.which("kcat")
    kb = os.path.join(BUILD, "kbroker")
    if not kcat or not os.access(kb, os.X_OK):
        print("kcat or %s missing: no captured seeds" % kb)
        return {}
    tmp = tempfile.mkdtemp(prefix="kbroker-corpus.")
    out = open(os.path.join(tmp, "out"), "w+")
    bp = subprocess.Popen([kb, "-d", os.path.join(tmp, "log"), "-l", "127.0.0.1:0", "-N", "2"],
                          stdout=out, stderr=subprocess.DEVNULL)
    port = None
    for _ in range(200):
        out.seek(0)
        line = out.read()
        if "listening on" in line:
            port = int(line.strip().rsplit(":", 1)[1])
            break
        time.sleep(0.05)
    relay = Relay(port)
    b = "127.0.0.1:%d" % relay.port
    base = [kcat, "-b", b, "-X", "socket.timeout.ms=5000", "-X", "api.version.request=true"]
    runs = [
        ("metadata", ["-L"], None),
        ("produce", ["-P", "-t", "ct", "-p", "0", "-K", ":"], b"k1:v1\nk2:v2\nk3:\n"),
        ("produce_lz4", ["-P", "-t", "ct", "-p", "1", "-z", "lz4", "-X", "acks=all"],
         b"aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbb\n"),
        ("produce_gzip", ["-P", "-t", "cg", "-p", "0", "-z", "gzip", "-H", "h=v"], b"x\ny\n"),
        ("consume", ["-C", "-t", "ct", "-p", "0", "-o", "beginning", "-e"], None),
        ("consume_tail", ["-C", "-t", "ct", "-p", "1", "-o", "-1", "-e"], None),
        ("query", ["-Q", "-t", "ct:0:1700000000000"], None),
    ]
    got = {}
    for name, args, stdin in runs:
        with relay.lock:
            first = len(relay.streams)
        try:
            subprocess.run(base + args, input=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.2)
        with relay.lock:
            streams = [bytes(s) for s in relay.streams[first:]]
        for i, s in enumerate(streams):
            if s:
                got["kcat_%s_conn%d" % (name, i)] = s
    bp.terminate()
    bp.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)
    return got


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for name, s in capture_kcat().items():
        if s[0] != 0:
            continue
        seeds[name] = s
        seen = set()
        for f in split_frames(s):
            key = f[:4]  # api key + version
            if key in seen or len(f) > 4096:
                continue
            seen.add(key)
            seeds["%s_k%dv%d" % (name, struct.unpack(">h", f[:2])[0],
                                 struct.unpack(">h", f[2:4])[0])] = b"\x01" + f
    hand = hand_requests()
    for name, f in hand.items():
        seeds["hand_" + name] = b"\x01" + f
    seeds["hand_all_stream"] = b"".join(framed(f) for f in hand.values())
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    sys.exit(main())
