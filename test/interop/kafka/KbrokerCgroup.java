/*
 * KbrokerCgroup.java — the Java client 4.x with group.protocol=consumer
 * (KIP-848: the broker computes the assignment) against kbroker, driven by
 * test/interop/kafka_kbroker_java.sh.
 *
 *   create BOOT TOPIC PARTITIONS
 *       Admin.createTopics.
 *   member BOOT TOPIC GROUP ASSIGNOR MAX IDLE_MS
 *       A consumer (group.remote.assignor ASSIGNOR) that reads at most MAX
 *       records, committing each synchronously, and closes (leaves the
 *       group) once it has read MAX or saw nothing for IDLE_MS. It prints
 *         assigned|revoked|lost NANOTIME P,P,...  (the rebalance callbacks;
 *                                       System.nanoTime is CLOCK_MONOTONIC
 *                                       on Linux, comparable across JVMs)
 *         rec PARTITION OFFSET VALUE
 *         uncommitted PARTITION OFFSET VALUE (WHY)
 *         closing                      (then close() revokes what it owns)
 *         consumed N
 *   describe BOOT GROUP MEMBERS ASSIGNOR PARTITIONS
 *       Admin.describeConsumerGroups (ConsumerGroupDescribe): prints
 *       "member ID P,P,..." per member and "ok describe", or "bad describe:
 *       WHY" unless the group has MEMBERS members, ASSIGNOR as its assignor
 *       and PARTITIONS partitions assigned once in all.
 */
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class KbrokerCgroup {
    private static String parts(Collection<TopicPartition> c) {
        TreeSet<Integer> s = new TreeSet<>();
        for (TopicPartition tp : c)
            s.add(tp.partition());
        StringBuilder sb = new StringBuilder();
        for (int x : s)
            sb.append(sb.length() > 0 ? "," : "").append(x);
        return sb.length() > 0 ? sb.toString() : "-";
    }

    private static synchronized void say(String what, Collection<TopicPartition> ps) {
        System.out.println(what + " " + System.nanoTime() + " " + parts(ps));
        System.out.flush();
    }

    private static int create(String boot, String topic, int n) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        try (Admin a = Admin.create(p)) {
            a.createTopics(List.of(new NewTopic(topic, n, (short) 1))).all().get();
        }
        System.out.println("created " + topic);
        return 0;
    }

    private static int member(String boot, String topic, String group, String assignor, int max,
                              long idleMs) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("group.id", group);
        p.put("group.protocol", "consumer");
        p.put("group.remote.assignor", assignor);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("max.poll.records", "7");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        int got = 0;
        final int[] owned = {0};
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    owned[0] -= ps.size();
                    say("revoked", ps);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    owned[0] += ps.size();
                    say("assigned", ps);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> ps) {
                    owned[0] -= ps.size();
                    say("lost", ps);
                }
            });
            long last = System.currentTimeMillis();
            long deadline = last + 120000;
            while (got < max && System.currentTimeMillis() < deadline) {
                int n = 0;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    if (got == max)
                        break;
                    System.out.println("rec " + r.partition() + " " + r.offset() + " " + r.value());
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    try {
                        c.commitSync(Map.of(tp, new OffsetAndMetadata(r.offset() + 1)));
                    } catch (KafkaException e) {
                        System.out.println("uncommitted " + r.partition() + " " + r.offset() + " " +
                                           r.value() + " (" + e.getClass().getSimpleName() + ")");
                    }
                    got++;
                    n++;
                }
                System.out.flush();
                if (n > 0 || owned[0] <= 0)
                    last = System.currentTimeMillis();
                else if (System.currentTimeMillis() - last > idleMs)
                    break;
            }
            System.out.println("closing");
            System.out.flush();
        }
        System.out.println("consumed " + got);
        return 0;
    }

    private static int describe(String boot, String group, int members, String assignor,
                                int partitions) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        try (Admin a = Admin.create(p)) {
            ConsumerGroupDescription d =
                a.describeConsumerGroups(List.of(group)).all().get().get(group);
            TreeSet<String> seen = new TreeSet<>();
            int n = 0;
            for (MemberDescription m : d.members()) {
                Collection<TopicPartition> ps = m.assignment().topicPartitions();
                System.out.println("member " + m.consumerId() + " " + parts(ps));
                for (TopicPartition tp : ps)
                    if (!seen.add(tp.toString()))
                        n = -1000000;
                n += ps.size();
            }
            String why = null;
            if (d.members().size() != members)
                why = d.members().size() + " members";
            else if (!assignor.equals(d.partitionAssignor()))
                why = "assignor " + d.partitionAssignor();
            else if (n != partitions)
                why = n + " partitions assigned";
            else if (!"consumer".equals(d.type().toString().toLowerCase()))
                why = "type " + d.type();
            System.out.println(why == null ? "ok describe " + d.groupState()
                                           : "bad describe: " + why);
            return why == null ? 0 : 1;
        }
    }

    public static void main(String[] args) throws Exception {
        int rc;
        switch (args.length > 0 ? args[0] : "") {
        case "create":
            rc = create(args[1], args[2], Integer.parseInt(args[3]));
            break;
        case "member":
            rc = member(args[1], args[2], args[3], args[4], Integer.parseInt(args[5]),
                        Long.parseLong(args[6]));
            break;
        case "describe":
            rc = describe(args[1], args[2], Integer.parseInt(args[3]), args[4],
                          Integer.parseInt(args[5]));
            break;
        default:
            System.err.println("usage: KbrokerCgroup create|member|describe ...");
            rc = 2;
        }
        System.out.flush();
        System.exit(rc);
    }
}
