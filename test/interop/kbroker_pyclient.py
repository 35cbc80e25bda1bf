"""kbroker_pyclient.py — kafka-python (Debian python3-kafka 2.0.2) client for
kbroker's tests. Run with /usr/bin/python3 (the system interpreter).

  consume BROKER TOPIC PARTITION OFFSET COUNT
      assign + seek (no group), print "offset<TAB>key<TAB>value" per record
      until COUNT records; exit 1 if fewer arrive within the time limit.
  produce BROKER TOPIC PARTITION COUNT
      acks=all; check each record's offset is base + i; print "first=F last=L".
  offsets BROKER TOPIC PARTITION
      print "begin end" (beginning_offsets / end_offsets).
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def consume(b, topic, part, off, count):
    c = KafkaConsumer(bootstrap_servers=b, enable_auto_commit=False,
                      consumer_timeout_ms=5000, check_crcs=True)
    tp = TopicPartition(topic, part)
    c.assign([tp])
    c.seek(tp, off)
    n = 0
    out = sys.stdout
    deadline = time.time() + 120
    while n < count and time.time() < deadline:
        batch = c.poll(timeout_ms=500)
        for recs in batch.values():
            for m in recs:
                if n >= count:
                    break
                out.write("%d\t%s\t%s\n" % (m.offset, m.key.decode(), m.value.decode()))
                n += 1
    c.close()
    return 0 if n >= count else 1


def produce(b, topic, part, count):
    p = KafkaProducer(bootstrap_servers=b, acks='all')
    futs = [p.send(topic, key=b'pk%d' % i, value=b'pv%d' % i, partition=part)
            for i in range(count)]
    p.flush(30)
    offs = [f.get(30).offset for f in futs]
    p.close()
    if offs != list(range(offs[0], offs[0] + count)):
        print("offsets not consecutive: %r" % offs[:20])
        return 1
    print("first=%d last=%d" % (offs[0], offs[-1]))
    return 0


def offsets(b, topic, part):
    c = KafkaConsumer(bootstrap_servers=b, enable_auto_commit=False)
    tp = TopicPartition(topic, part)
    print("%d %d" % (c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]))
    c.close()
    return 0


def main(a):
    if len(a) == 6 and a[0] == "consume":
        return consume(a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
    if len(a) == 5 and a[0] == "produce":
        return produce(a[1], a[2], int(a[3]), int(a[4]))
    if len(a) == 4 and a[0] == "offsets":
        return offsets(a[1], a[2], int(a[3]))
    print(__doc__)
    return 2


sys.exit(main(sys.argv[1:]))
