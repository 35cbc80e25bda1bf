#!/usr/bin/env python3
"""kbroker_commits.py — commit and read back group offsets with kafka-python,
for test/t_kbroker_offsets_compact.sh.

    kbroker_commits.py HOST PORT commit GROUP TOPIC PARTITIONS ROUNDS
        ROUNDS rounds of one OffsetCommit per partition of TOPIC; round r
        commits offset r*7 + partition. Prints the last offsets committed.
    kbroker_commits.py HOST PORT fetch GROUP TOPIC PARTITIONS
        Print the group's committed offset of each partition ("P O").
"""
import sys

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata


def main():
    host, port, mode, group, topic, nparts = sys.argv[1:7]
    c = KafkaConsumer(bootstrap_servers="%s:%s" % (host, port), group_id=group,
                      enable_auto_commit=False, request_timeout_ms=20000)
    parts = [TopicPartition(topic, p) for p in range(int(nparts))]
    c.assign(parts)
    if mode == "commit":
        rounds = int(sys.argv[7])
        for r in range(1, rounds + 1):
            for tp in parts:
                c.commit({tp: OffsetAndMetadata(r * 7 + tp.partition, "m%d" % r)})
    for tp in parts:
        print("%d %s" % (tp.partition, c.committed(tp)))
    c.close(autocommit=False)


main()
