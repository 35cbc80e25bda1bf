/*
 * UnifiedLogBench.java — Apache Kafka's log layer alone (no broker, no
 * network) on the 2011 paper's workload, the counterpart of bench_paper's
 * klog_append and record-iterator figures. Run by bench/kafka_log_peer.sh,
 * compiled there with javac against the Kafka jars Maven resolves for
 * test/interop/kafka/pom.xml.
 *
 * For each batch size B in 1, 50, 1000: a fresh
 * org.apache.kafka.storage.internals.log.UnifiedLog of one partition
 * (UnifiedLog.create, default LogConfig but no time retention: flush.messages
 * is Long.MAX_VALUE, so no fsync per append), N records of 200 bytes
 * appended with appendAsLeader in batches of B (one MemoryRecords per batch
 * shape, built once before the timed loop, reused for every append: the
 * validator stamps its offsets in place and, since Kafka 4, wants a leader
 * append's base offset to be 0, so each append first puts it back with
 * MutableRecordBatch.setLastOffset, a store of 8 bytes outside the CRC), then flush (untimed, as
 * bench_paper leaves the close's fsync out), then every record read back
 * through UnifiedLog.read from offset 0 in reads of up to 1 MiB, each record
 * checked (offset in sequence, 200-byte value) and its last byte touched.
 * Timed: create + appends; the read from the first read call to the last
 * record.
 *
 * A warm-up round (N / 10 records, at least 10000, every case) runs first
 * and is not counted (the JIT). Prints one
 * RESULT,<name>,<median>,<unit>,<min>,<max>,0 line per figure over RUNS
 * runs: kafka.append.bB (rec/s, MB/s of payload) and kafka.read.bB.
 *
 * Usage: java -cp CLASSES:KAFKA_CP UnifiedLogBench N RUNS DIR
 */
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.MutableRecordBatch;
import org.apache.kafka.common.record.Record;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.SimpleRecord;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.server.storage.log.FetchIsolation;
import org.apache.kafka.server.util.KafkaScheduler;
import org.apache.kafka.storage.internals.log.FetchDataInfo;
import org.apache.kafka.storage.internals.log.LogConfig;
import org.apache.kafka.storage.internals.log.LogDirFailureChannel;
import org.apache.kafka.storage.internals.log.ProducerStateManagerConfig;
import org.apache.kafka.storage.internals.log.UnifiedLog;
import org.apache.kafka.storage.log.metrics.BrokerTopicStats;

public final class UnifiedLogBench {
    static final int MSG = 200;
    static final int[] BATCHES = {1, 50, 1000};
    static final int READ_MAX = 1 << 20;

    static KafkaScheduler scheduler;
    static BrokerTopicStats stats;
    static LogConfig config;
    static long sink;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: UnifiedLogBench N RUNS DIR");
            System.exit(2);
        }
        long n = Long.parseLong(args[0]);
        int runs = Integer.parseInt(args[1]);
        File base = new File(args[2]);
        Map<String, Object> props = new HashMap<>();
        props.put("retention.ms", "-1");
        config = new LogConfig(props);
        scheduler = new KafkaScheduler(1, true, "ulog-bench-");
        scheduler.startup();
        stats = new BrokerTopicStats(false);

        long warm = Math.max(10000, n / 10);
        for (int b : BATCHES)
            runCase(base, warm, b);
        double[][] app = new double[BATCHES.length][runs];
        double[][] rd = new double[BATCHES.length][runs];
        for (int r = 0; r < runs; r++)
            for (int i = 0; i < BATCHES.length; i++) {
                double[] v = runCase(base, n, BATCHES[i]);
                app[i][r] = v[0];
                rd[i][r] = v[1];
            }
        for (int i = 0; i < BATCHES.length; i++) {
            report("kafka.append.b" + BATCHES[i], app[i]);
            report("kafka.read.b" + BATCHES[i], rd[i]);
        }
        scheduler.shutdown();
        stats.close();
        if (sink == 42)
            System.out.println("#");
    }

    static MemoryRecords batch(int k) {
        SimpleRecord[] recs = new SimpleRecord[k];
        long now = System.currentTimeMillis();
        for (int j = 0; j < k; j++) {
            byte[] v = new byte[MSG];
            ByteBuffer.wrap(v).putLong(j);
            for (int x = 8; x < MSG; x++)
                v[x] = (byte) ('a' + (j * 31 + x) % 26);
            recs[j] = new SimpleRecord(now, null, v);
        }
        return MemoryRecords.withRecords(Compression.NONE, recs);
    }

    /* One case: {append rec/s, read rec/s}. */
    static double[] runCase(File base, long n, int b) throws IOException {
        File dir = new File(base, "bench-0");
        rmrf(dir);
        MemoryRecords full = batch(b);
        long tail = n % b;
        MemoryRecords last = tail > 0 ? batch((int) tail) : null;

        long t0 = System.nanoTime();
        UnifiedLog log = UnifiedLog.create(dir, config, 0L, 0L, scheduler, stats, Time.SYSTEM,
                60000, new ProducerStateManagerConfig(86400000, false), 600000,
                new LogDirFailureChannel(1), true, Optional.empty());
        MutableRecordBatch fb = full.batches().iterator().next();
        for (long i = 0; i + b <= n; i += b) {
            fb.setLastOffset(b - 1);
            log.appendAsLeader(full, 0);
        }
        if (last != null)
            log.appendAsLeader(last, 0);
        long t1 = System.nanoTime();
        log.flush(false);
        if (log.logEndOffset() != n)
            throw new IllegalStateException("log end offset " + log.logEndOffset() + ", expected " + n);

        long t2 = System.nanoTime();
        long next = 0;
        while (next < n) {
            FetchDataInfo fd = log.read(next, READ_MAX, FetchIsolation.LOG_END, true);
            boolean any = false;
            for (RecordBatch rb : fd.records.batches())
                for (Record rec : rb) {
                    if (rec.offset() != next || rec.valueSize() != MSG)
                        throw new IllegalStateException("record at " + rec.offset() + " (size "
                                + rec.valueSize() + "), expected offset " + next);
                    sink += rec.value().get(MSG - 1);
                    next++;
                    any = true;
                }
            if (!any)
                throw new IllegalStateException("read at " + next + " returned nothing");
        }
        long t3 = System.nanoTime();
        log.close();
        rmrf(dir);
        return new double[] {n / ((t1 - t0) / 1e9), n / ((t3 - t2) / 1e9)};
    }

    static void report(String name, double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int k = s.length;
        double med = k % 2 == 1 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
        System.out.printf("RESULT,%s,%.6g,rec/s,%.6g,%.6g,0%n", name, med, s[0], s[k - 1]);
        System.out.printf("RESULT,%s.MBps,%.6g,MB/s,%.6g,%.6g,0%n", name, med * MSG / 1e6,
                s[0] * MSG / 1e6, s[k - 1] * MSG / 1e6);
    }

    static void rmrf(File f) {
        File[] kids = f.listFiles();
        if (kids != null)
            for (File c : kids)
                rmrf(c);
        f.delete();
    }
}
