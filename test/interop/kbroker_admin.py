"""kbroker_admin.py — topic administration on kbroker.

Usage: kbroker_admin.py HOST PORT
  kafka-python's KafkaAdminClient: create topics (with a config), refuse a
  duplicate and a replication factor of 3, describe and alter configs, add
  partitions, delete topics; then raw requests for what kafka-python 2.0.2
  has no call for: IncrementalAlterConfigs (SET, DELETE), DeleteRecords
  (log start moves, records below it are gone) and DescribeCluster.
Prints "ok: ..." lines; exits 1 on the first failure.
"""
import socket
import struct
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import (InvalidConfigurationError, InvalidReplicationFactorError,
                          TopicAlreadyExistsError, UnknownTopicOrPartitionError)

HOST, PORT = sys.argv[1], int(sys.argv[2])
B = "%s:%d" % (HOST, PORT)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def topic_configs(a, name):
    res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    out = {}
    for r in res:
        for res_entry in r.resources:
            err, _msg, _type, _name, entries = res_entry[:5]
            if err:
                fail("describe_configs %s: error %d" % (name, err))
            for e in entries:
                out[e[0]] = e[1]
    return out


def partitions(a, name):
    for t in a.describe_topics([name]):
        if t["topic"] == name:
            return t["error_code"], len(t["partitions"])
    return None, 0


def kstr(s):
    return struct.pack(">h", len(s)) + s


class Raw:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=10)
        self.s.settimeout(10)
        self.corr = 0

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            c = self.s.recv(n - len(buf))
            if not c:
                fail("connection closed")
            buf += c
        return buf

    def call(self, api, ver, body, flex=False):
        self.corr += 1
        hdr = struct.pack(">hhih", api, ver, self.corr, 3) + b"raw" + (b"\x00" if flex else b"")
        self.s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        data = self.recv_exact(struct.unpack(">i", self.recv_exact(4))[0])
        if struct.unpack(">i", data[:4])[0] != self.corr:
            fail("correlation id")
        return data[5:] if flex else data[4:]


def main():
    a = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=10000)
    a.create_topics([NewTopic("adm1", 3, 1, topic_configs={"retention.ms": "3600000"}),
                     NewTopic("adm2", 1, 1)])
    if partitions(a, "adm1") != (0, 3) or partitions(a, "adm2") != (0, 1):
        fail("created topics: %r %r" % (partitions(a, "adm1"), partitions(a, "adm2")))
    try:
        a.create_topics([NewTopic("adm1", 1, 1)])
        fail("duplicate topic created")
    except TopicAlreadyExistsError:
        pass
    try:
        a.create_topics([NewTopic("adm3", 1, 3)])
        fail("replication factor 3 accepted")
    except InvalidReplicationFactorError:
        pass
    ok("create_topics: 3 and 1 partitions with a config; duplicate and RF 3 refused")

    c = topic_configs(a, "adm1")
    if c.get("retention.ms") != "3600000" or "segment.bytes" not in c:
        fail("describe_configs adm1: %r" % c)
    a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "adm1",
                                    configs={"segment.bytes": "1048576"})])
    c = topic_configs(a, "adm1")
    if c.get("segment.bytes") != "1048576" or c.get("retention.ms") != "7200000":
        fail("alter_configs (replaces the whole set): %r" % c)
    ok("describe_configs and alter_configs")

    # Kafka's compaction settings, by their names and value forms
    a.create_topics([NewTopic("admc", 1, 1, topic_configs={
        "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.25",
        "delete.retention.ms": "1000"})])
    c = topic_configs(a, "admc")
    if (c.get("cleanup.policy") != "compact" or c.get("min.cleanable.dirty.ratio") != "0.25"
            or c.get("delete.retention.ms") != "1000"):
        fail("compaction settings: %r" % c)
    try:
        a.create_topics([NewTopic("admd", 1, 1, topic_configs={"cleanup.policy": "squash"})])
        fail("cleanup.policy=squash accepted")
    except InvalidConfigurationError:
        pass
    ok("cleanup.policy, min.cleanable.dirty.ratio, delete.retention.ms by name; "
       "a bad policy refused")

    a.create_partitions({"adm1": NewPartitions(5)})
    if partitions(a, "adm1") != (0, 5):
        fail("create_partitions: %r" % (partitions(a, "adm1"),))
    p = KafkaProducer(bootstrap_servers=B, acks="all")
    p.send("adm1", b"in the new partition", partition=4).get(10)
    ok("create_partitions: 3 -> 5, the new partition takes records")

    # raw IncrementalAlterConfigs v0 on adm2: SET retention.bytes, then DELETE it
    r = Raw()
    def incr(op, value):
        body = (struct.pack(">i", 1) + struct.pack(">b", 2) + kstr(b"adm2") + struct.pack(">i", 1)
                + kstr(b"retention.bytes") + struct.pack(">b", op)
                + (kstr(value) if value is not None else struct.pack(">h", -1)) + b"\x00")
        resp = r.call(44, 0, body)
        err = struct.unpack(">h", resp[8:10])[0]
        if err:
            fail("IncrementalAlterConfigs op %d: error %d" % (op, err))
    incr(0, b"123456789")
    if topic_configs(a, "adm2").get("retention.bytes") != "123456789":
        fail("IncrementalAlterConfigs SET")
    incr(1, None)
    if topic_configs(a, "adm2").get("retention.bytes") != "-1":
        fail("IncrementalAlterConfigs DELETE: %r" % topic_configs(a, "adm2").get("retention.bytes"))
    ok("IncrementalAlterConfigs SET and DELETE")

    # DeleteRecords v1: 10 records, delete below 6
    for i in range(10):
        p.send("adm2", b"r%d" % i, partition=0)
    p.flush(10)
    body = (struct.pack(">i", 1) + kstr(b"adm2") + struct.pack(">i", 1)
            + struct.pack(">iq", 0, 6) + struct.pack(">i", 5000))
    resp = r.call(21, 1, body)
    n = struct.unpack(">i", resp[4:8])[0]
    low, err = struct.unpack(">qh", resp[8 + 2 + 4 + 4 + 4:8 + 2 + 4 + 4 + 4 + 10])
    if n != 1 or err or low != 6:
        fail("DeleteRecords: topics %d low %d error %d" % (n, low, err))
    cons = KafkaConsumer(bootstrap_servers=B, consumer_timeout_ms=3000)
    tp = TopicPartition("adm2", 0)
    cons.assign([tp])
    cons.seek_to_beginning(tp)
    got = [m.value for m in cons]
    if got != [b"r6", b"r7", b"r8", b"r9"]:
        fail("after DeleteRecords: %r" % got)
    cons.close()
    ok("DeleteRecords moves the log start: records below it are gone")

    resp = r.call(60, 0, b"\x00\x00", flex=True)
    err = struct.unpack(">h", resp[4:6])[0]
    if err or b"kbroker" not in resp or HOST.encode() not in resp:
        fail("DescribeCluster: %r" % resp)
    ok("DescribeCluster")

    # --topic-default retention.ms=7200000: the auto-created topic has it,
    # adm1 (created with its own value, then altered) does not
    p.send("autotopic", b"x").get(10)
    if topic_configs(a, "autotopic").get("retention.ms") != "7200000":
        fail("auto-created topic: retention.ms %r" % topic_configs(a, "autotopic").get("retention.ms"))
    ok("--topic-default applies to an auto-created topic")
    p.close()

    a.delete_topics(["adm1", "adm2"])
    if partitions(a, "adm1")[0] != UnknownTopicOrPartitionError.errno:
        fail("adm1 still there after delete_topics: %r" % (partitions(a, "adm1"),))
    ok("delete_topics")
    a.close()


main()
