/*
 * KbrokerClient — Apache Kafka's Java client (the pinned kafka-clients 4.x)
 * against kbroker, for test/interop/kafka_kbroker_java.sh. Compiled at test
 * time; every mode prints what it saw, and the checks are the script's
 * (except where a mode says it exits 1).
 *
 *   produce BOOT TOPIC COUNT CODEC [START]
 *       Send COUNT records (key "k<i>", value "v<i>", i from START, default
 *       0) with acks=all and compression CODEC (none, gzip, lz4, snappy,
 *       zstd), idempotence on (the client's default). The keys spread the
 *       records over the partitions. Prints "sent N".
 *   group BOOT TOPIC GROUP MAX ASSIGNOR [IDLE_MS]
 *       A classic-protocol group member (subscribe) that consumes at most
 *       MAX records, committing exactly each record it printed (commitSync
 *       of offset+1 after each; one a rebalance overtook is printed as
 *       "uncommitted PARTITION OFFSET VALUE"), then closes (leaves the group). Stops
 *       early after IDLE_MS (default 8000) without records once it has an
 *       assignment. Prints "rec PARTITION OFFSET VALUE" per record and
 *       "assigned P,P,..." / "revoked P,P,..." on every rebalance callback.
 *       ASSIGNOR: range, roundrobin, sticky, cooperative-sticky.
 *   committed BOOT TOPIC GROUP PARTITIONS
 *       Print "committed P OFFSET" (-1 for none) for partitions 0..N-1.
 *   txn BOOT TOPIC TXNID COUNT STRIDE GROUP
 *       A transactional producer (transactional.id TXNID): records "v<i>"
 *       for i in 0..COUNT-1 in transactions of STRIDE records; the even
 *       transactions send offset (number + 1) of "src"[0] for GROUP with
 *       sendOffsetsToTransaction and commit, the odd ones abort. Prints
 *       "committed N aborted M".
 *   readc BOOT TOPIC PARTITIONS
 *       isolation.level=read_committed, assign() every partition from the
 *       beginning, read up to the end offsets (the last stable offsets).
 *       Prints "rec PARTITION OFFSET VALUE" per record.
 *   fence BOOT TOPIC TXNID
 *       Producer A opens a transaction with records "f0".."f9", producer B
 *       initialises the same TXNID; A's commit must fail with
 *       ProducerFencedException (prints "fenced", else exits 1).
 *   admin BOOT PREFIX
 *       The admin client: create topics, list, add partitions, describe and
 *       alter configs (incremental), delete records, describe the cluster,
 *       delete topics. Prints "ok STEP" or "bad STEP: why" lines and exits 1
 *       after the first bad one.
 */
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class KbrokerClient {
    private static int produce(String boot, String topic, int count, String codec, int start)
            throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("compression.type", codec);
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", "60000");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> pr = new KafkaProducer<>(p)) {
            List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
            for (int i = start; i < start + count; i++)
                fs.add(pr.send(new ProducerRecord<>(topic, "k" + i, "v" + i)));
            pr.flush();
            for (java.util.concurrent.Future<?> f : fs)
                f.get();
        }
        System.out.println("sent " + count);
        return 0;
    }

    private static String assignorClass(String name) {
        switch (name) {
        case "range": return "org.apache.kafka.clients.consumer.RangeAssignor";
        case "roundrobin": return "org.apache.kafka.clients.consumer.RoundRobinAssignor";
        case "sticky": return "org.apache.kafka.clients.consumer.StickyAssignor";
        case "cooperative-sticky": return "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
        default: throw new IllegalArgumentException("assignor " + name);
        }
    }

    private static Properties consumerProps(String boot, String group) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("group.id", group);
        p.put("group.protocol", "classic");
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("session.timeout.ms", "10000");
        p.put("heartbeat.interval.ms", "500");
        p.put("max.poll.records", "7");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return p;
    }

    private static String parts(Collection<TopicPartition> c) {
        TreeSet<Integer> s = new TreeSet<>();
        for (TopicPartition tp : c)
            s.add(tp.partition());
        StringBuilder sb = new StringBuilder();
        for (int x : s)
            sb.append(sb.length() > 0 ? "," : "").append(x);
        return sb.length() > 0 ? sb.toString() : "-";
    }

    private static int group(String boot, String topic, String group, int max, String assignor,
                             long idleMs) {
        Properties p = consumerProps(boot, group);
        p.put("partition.assignment.strategy", assignorClass(assignor));
        final Set<TopicPartition> owned = new HashSet<>();
        int got = 0;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    owned.removeAll(ps);
                    System.out.println("revoked " + parts(ps));
                    System.out.flush();
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    owned.addAll(ps);
                    System.out.println("assigned " + parts(ps));
                    System.out.flush();
                }
            });
            long last = System.currentTimeMillis();
            long deadline = last + 120000;
            while (got < max && System.currentTimeMillis() < deadline) {
                int n = 0;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    if (got == max)
                        break; /* the rest stays uncommitted: the next member reads it */
                    System.out.println("rec " + r.partition() + " " + r.offset() + " " + r.value());
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    try {
                        c.commitSync(Map.of(tp, new OffsetAndMetadata(r.offset() + 1)));
                    } catch (org.apache.kafka.clients.consumer.CommitFailedException |
                             org.apache.kafka.common.errors.RebalanceInProgressException e) {
                        /* a rebalance overtook the commit: the next owner may read it again */
                        System.out.println("uncommitted " + r.partition() + " " + r.offset() + " " +
                                           r.value() + " (" + e.getClass().getSimpleName() + ")");
                    }
                    got++;
                    n++;
                }
                System.out.flush();
                if (n > 0 || owned.isEmpty())
                    last = System.currentTimeMillis();
                else if (System.currentTimeMillis() - last > idleMs)
                    break;
            }
        }
        System.out.println("consumed " + got);
        return 0;
    }

    private static int committed(String boot, String topic, String group, int n) {
        Properties p = consumerProps(boot, group);
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            Set<TopicPartition> tps = new HashSet<>();
            for (int i = 0; i < n; i++)
                tps.add(new TopicPartition(topic, i));
            Map<TopicPartition, OffsetAndMetadata> m = c.committed(tps, Duration.ofSeconds(30));
            for (int i = 0; i < n; i++) {
                OffsetAndMetadata o = m.get(new TopicPartition(topic, i));
                System.out.println("committed " + i + " " + (o == null ? -1 : o.offset()));
            }
        }
        return 0;
    }

    private static Properties txnProps(String boot, String txnid) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("transactional.id", txnid);
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", "30000");
        p.put("request.timeout.ms", "20000");
        p.put("max.block.ms", "30000");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return p;
    }

    private static int txn(String boot, String topic, String txnid, int count, int stride,
                           String group) {
        int committed = 0, aborted = 0;
        try (KafkaProducer<String, String> pr = new KafkaProducer<>(txnProps(boot, txnid))) {
            pr.initTransactions();
            for (int t = 0; t * stride < count; t++) {
                pr.beginTransaction();
                for (int i = t * stride; i < (t + 1) * stride && i < count; i++)
                    pr.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
                if (t % 2 == 0) {
                    pr.sendOffsetsToTransaction(
                        Map.of(new TopicPartition("src", 0), new OffsetAndMetadata(t + 1)),
                        new org.apache.kafka.clients.consumer.ConsumerGroupMetadata(group));
                    pr.commitTransaction();
                    committed++;
                } else {
                    pr.abortTransaction();
                    aborted++;
                }
            }
        }
        System.out.println("committed " + committed + " aborted " + aborted);
        return 0;
    }

    private static int readCommitted(String boot, String topic, int n) {
        Properties p = consumerProps(boot, "jreadc");
        p.put("isolation.level", "read_committed");
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < n; i++)
                tps.add(new TopicPartition(topic, i));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.currentTimeMillis() + 60000;
            while (System.currentTimeMillis() < deadline) {
                boolean done = true;
                for (TopicPartition tp : tps)
                    done &= c.position(tp) >= end.get(tp);
                if (done)
                    break;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200)))
                    System.out.println("rec " + r.partition() + " " + r.offset() + " " + r.value());
            }
        }
        return 0;
    }

    private static int fence(String boot, String topic, String txnid) throws Exception {
        KafkaProducer<String, String> a = new KafkaProducer<>(txnProps(boot, txnid));
        a.initTransactions();
        a.beginTransaction();
        for (int i = 0; i < 10; i++)
            a.send(new ProducerRecord<>(topic, "k" + i, "f" + i)).get();
        try (KafkaProducer<String, String> b = new KafkaProducer<>(txnProps(boot, txnid))) {
            b.initTransactions();
            try {
                a.commitTransaction();
                System.out.println("bad fence: the fenced producer committed");
                return 1;
            } catch (org.apache.kafka.common.errors.ProducerFencedException |
                     org.apache.kafka.common.errors.InvalidProducerEpochException e) {
                System.out.println("fenced");
            } finally {
                a.close(Duration.ZERO);
            }
        }
        return 0;
    }

    private static void check(boolean ok, String step, String why) {
        if (ok) {
            System.out.println("ok " + step);
            return;
        }
        System.out.println("bad " + step + ": " + why);
        System.exit(1);
    }

    private static String configValue(Admin a, ConfigResource r, String name) throws Exception {
        Config c = a.describeConfigs(List.of(r)).all().get().get(r);
        ConfigEntry e = c.get(name);
        return e == null ? null : e.value();
    }

    private static int admin(String boot, String prefix) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("default.api.timeout.ms", "30000");
        p.put("request.timeout.ms", "20000");
        String t1 = prefix + "-a", t2 = prefix + "-b";
        try (Admin a = Admin.create(p)) {
            DescribeClusterResult dc = a.describeCluster();
            check(dc.nodes().get().size() == 1 && dc.controller().get() != null, "describe-cluster",
                  "nodes " + dc.nodes().get());
            NewTopic n1 = new NewTopic(t1, 2, (short) 1).configs(Map.of("retention.ms", "3600000"));
            NewTopic n2 = new NewTopic(t2, 1, (short) 1);
            a.createTopics(List.of(n1, n2)).all().get();
            Set<String> names = a.listTopics().names().get();
            check(names.contains(t1) && names.contains(t2), "create-topics", "listed " + names);
            try {
                a.createTopics(List.of(new NewTopic(t2, 1, (short) 1))).all().get();
                check(false, "create-existing", "no error");
            } catch (java.util.concurrent.ExecutionException e) {
                check(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException,
                      "create-existing", String.valueOf(e.getCause()));
            }
            a.createPartitions(Map.of(t1, NewPartitions.increaseTo(5))).all().get();
            TopicDescription d = a.describeTopics(List.of(t1)).allTopicNames().get().get(t1);
            check(d.partitions().size() == 5, "create-partitions", d.partitions().size() + " partitions");
            ConfigResource r1 = new ConfigResource(ConfigResource.Type.TOPIC, t1);
            check("3600000".equals(configValue(a, r1, "retention.ms")), "describe-configs",
                  "retention.ms " + configValue(a, r1, "retention.ms"));
            a.incrementalAlterConfigs(Map.of(r1, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("segment.bytes", "1048576"), AlterConfigOp.OpType.SET))))
                .all().get();
            check("7200000".equals(configValue(a, r1, "retention.ms")) &&
                      "1048576".equals(configValue(a, r1, "segment.bytes")),
                  "alter-configs", "retention.ms " + configValue(a, r1, "retention.ms") +
                      " segment.bytes " + configValue(a, r1, "segment.bytes"));
            produce(boot, t2, 20, "none", 0);
            TopicPartition tp = new TopicPartition(t2, 0);
            long low = a.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(12))).lowWatermarks()
                .get(tp).get().lowWatermark();
            check(low == 12, "delete-records", "low watermark " + low);
            Properties cp = consumerProps(boot, prefix + "-g");
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
                long begin = c.beginningOffsets(List.of(tp)).get(tp);
                long end = c.endOffsets(List.of(tp)).get(tp);
                check(begin == 12 && end == 20, "offsets-after-delete", begin + ".." + end);
            }
            a.deleteTopics(List.of(t1)).all().get();
            names = a.listTopics().names().get();
            check(!names.contains(t1) && names.contains(t2), "delete-topics", "listed " + names);
        }
        return 0;
    }

    public static void main(String[] args) throws Exception {
        int rc;
        switch (args.length > 0 ? args[0] : "") {
        case "produce":
            rc = produce(args[1], args[2], Integer.parseInt(args[3]), args[4],
                         args.length > 5 ? Integer.parseInt(args[5]) : 0);
            break;
        case "group":
            rc = group(args[1], args[2], args[3], Integer.parseInt(args[4]), args[5],
                       args.length > 6 ? Long.parseLong(args[6]) : 8000);
            break;
        case "committed":
            rc = committed(args[1], args[2], args[3], Integer.parseInt(args[4]));
            break;
        case "admin":
            rc = admin(args[1], args[2]);
            break;
        case "txn":
            rc = txn(args[1], args[2], args[3], Integer.parseInt(args[4]), Integer.parseInt(args[5]),
                     args[6]);
            break;
        case "readc":
            rc = readCommitted(args[1], args[2], Integer.parseInt(args[3]));
            break;
        case "fence":
            rc = fence(args[1], args[2], args[3]);
            break;
        default:
            System.err.println("usage: KbrokerClient produce|group|committed|admin|txn|readc|fence ...");
            rc = 2;
        }
        System.out.flush();
        System.exit(rc);
    }
}
