/*
 * OracleClient — Apache Kafka's Java client for libklog's interop tests,
 * compiled at test time against the pinned kafka-clients jar.
 *
 *   consume BOOTSTRAP TOPIC PARTITION [read_committed]
 *       Read the partition from its beginning to its end offset (assign,
 *       no group) and print each record in oracle_gen's canon form:
 *         offset timestamp key value [hkey:hvalue,...]
 *       with bytes in hex, '-' for null and '=' for empty. Exit 1 if the
 *       end is not reached within 60 s.
 *   produce BOOTSTRAP TOPIC PARTITION COUNT MODE CODEC
 *       Send COUNT records (record i: key "jk<i>" or null every 5th, value
 *       of 0..299 bytes, a header every other record, timestamp
 *       1700000000000 + i) with compression CODEC. MODE: plain (acks=1),
 *       idempotent, or transactional (transactions of 10 records, every
 *       third aborted). Prints "sent N".
 */
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class OracleClient {
    private static void hex(StringBuilder sb, byte[] b) {
        if (b == null) {
            sb.append('-');
            return;
        }
        if (b.length == 0)
            sb.append('=');
        for (byte x : b)
            sb.append(Character.forDigit((x >> 4) & 15, 16)).append(Character.forDigit(x & 15, 16));
    }

    private static int consume(String boot, String topic, int part, boolean committed) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("enable.auto.commit", "false");
        p.put("check.crcs", "true");
        p.put("isolation.level", committed ? "read_committed" : "read_uncommitted");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        TopicPartition tp = new TopicPartition(topic, part);
        StringBuilder sb = new StringBuilder();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            Map<TopicPartition, Long> ends = c.endOffsets(List.of(tp), Duration.ofSeconds(30));
            long end = ends.get(tp);
            long deadline = System.currentTimeMillis() + 60000;
            while (c.position(tp, Duration.ofSeconds(30)) < end) {
                if (System.currentTimeMillis() > deadline) {
                    System.out.print(sb);
                    System.err.println("timed out at " + c.position(tp) + " of " + end);
                    return 1;
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    sb.append(r.offset()).append(' ').append(r.timestamp()).append(' ');
                    hex(sb, r.key());
                    sb.append(' ');
                    hex(sb, r.value());
                    sb.append(" [");
                    boolean first = true;
                    for (Header h : r.headers()) {
                        if (!first)
                            sb.append(',');
                        first = false;
                        hex(sb, h.key().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                        sb.append(':');
                        hex(sb, h.value());
                    }
                    sb.append("]\n");
                }
            }
        }
        System.out.print(sb);
        return 0;
    }

    private static ProducerRecord<byte[], byte[]> record(String topic, int part, int i) {
        byte[] key = i % 5 == 0 ? null : ("jk" + i).getBytes();
        byte[] value = new byte[(i * 37) % 300];
        for (int j = 0; j < value.length; j++)
            value[j] = (byte) ('a' + (i + j / 3) % 26);
        RecordHeaders hs = new RecordHeaders();
        if (i % 2 == 1)
            hs.add("jh", ("v" + i).getBytes());
        return new ProducerRecord<>(topic, part, 1700000000000L + i, key, value, hs);
    }

    private static int produce(String boot, String topic, int part, int count, String mode,
                               String codec) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("compression.type", codec);
        p.put("linger.ms", "5");
        p.put("batch.size", "16384");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("enable.idempotence", mode.equals("plain") ? "false" : "true");
        p.put("acks", mode.equals("plain") ? "1" : "all");
        if (mode.equals("transactional"))
            p.put("transactional.id", "oracle-" + topic);
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p)) {
            if (mode.equals("transactional")) {
                pr.initTransactions();
                for (int i = 0, t = 0; i < count; t++) {
                    pr.beginTransaction();
                    for (int j = 0; j < 10 && i < count; j++, i++)
                        pr.send(record(topic, part, i));
                    if (t % 3 == 2) {
                        pr.flush(); /* so the aborted records reach the log */
                        pr.abortTransaction();
                    }
                    else
                        pr.commitTransaction();
                }
            } else {
                for (int i = 0; i < count; i++)
                    pr.send(record(topic, part, i));
                pr.flush();
            }
        }
        System.out.println("sent " + count);
        return 0;
    }

    public static void main(String[] a) throws Exception {
        int rc;
        if (a.length >= 3 && a[0].equals("consume"))
            rc = consume(a[1], a[2], Integer.parseInt(a[3]), a.length > 4 && a[4].equals("read_committed"));
        else if (a.length == 7 && a[0].equals("produce"))
            rc = produce(a[1], a[2], Integer.parseInt(a[3]), Integer.parseInt(a[4]), a[5], a[6]);
        else {
            System.err.println("usage: OracleClient consume BOOTSTRAP TOPIC PARTITION [read_committed]\n"
                               + "       OracleClient produce BOOTSTRAP TOPIC PARTITION COUNT MODE CODEC");
            rc = 2;
        }
        System.exit(rc);
    }
}
