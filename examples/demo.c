/*
 * demo.c — libklog in one page: open a log directory, create a topic, append
 * records, read them back, show each partition's offsets.
 *
 *   demo LOG_DIR
 *
 * Run it twice on the same directory: the topic is reused and the second
 * run's records land after the first run's.
 */
#include <klog.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TOPIC "events"
#define PARTITIONS 3
#define BATCHES 6      /* spread over the partitions: batch b goes to b % 3 */
#define PER_BATCH 3    /* records in each batch */

static int report(const char *what, int rc)
{
    fprintf(stderr, "demo: %s: %s (%s)\n", what, klog_strerror(rc), klog_err_name(rc));
    return rc;
}

/* Append BATCHES batches of PER_BATCH records, each with a key and a header.
 * klog_append() turns its records into one Kafka RecordBatch and returns the
 * offset given to the first record. */
static int produce(klog_t *log)
{
    for (int b = 0; b < BATCHES; b++) {
        int32_t p = b % PARTITIONS;
        klog_partition_t *part;
        int rc = klog_partition(log, TOPIC, p, &part);
        if (rc < 0)
            return report("klog_partition", rc);

        char keys[PER_BATCH][16], values[PER_BATCH][48];
        klog_header_t source = {.key = "source", .key_len = 6, .value = "demo", .value_len = 4};
        klog_record_t recs[PER_BATCH];
        for (int i = 0; i < PER_BATCH; i++) {
            snprintf(keys[i], sizeof keys[i], "user-%d", (b * PER_BATCH + i) % 5);
            snprintf(values[i], sizeof values[i], "clicked button %d (batch %d)", i, b);
            recs[i] = (klog_record_t){
                .timestamp = KLOG_TIMESTAMP_NOW,
                .key = keys[i],
                .key_len = (int32_t)strlen(keys[i]),
                .value = values[i],
                .value_len = (int32_t)strlen(values[i]),
                .headers = &source,
                .header_count = 1,
            };
        }
        int64_t base;
        rc = klog_append(part, recs, PER_BATCH, &base);
        if (rc < 0)
            return report("klog_append", rc);
        printf("appended batch %d to %s-%" PRId32 " at offsets %" PRId64 "..%" PRId64 "\n",
               b, TOPIC, p, base, base + PER_BATCH - 1);
    }
    return 0;
}

/* Read one partition from its first offset up to the high watermark.
 * Record views point into library memory and are valid until the next call. */
static int consume(klog_partition_t *part)
{
    klog_reader_t *r;
    int rc = klog_reader_open(part, KLOG_OFFSET_BEGINNING, &r);
    if (rc < 0)
        return report("klog_reader_open", rc);

    klog_record_t rec;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        printf("  %s-%" PRId32 " offset %-3" PRId64 " key=%.*s value=\"%.*s\"",
               klog_partition_topic(part), klog_partition_id(part), rec.offset,
               rec.key ? (int)rec.key_len : 4, rec.key ? (const char *)rec.key : "null",
               rec.value ? (int)rec.value_len : 4, rec.value ? (const char *)rec.value : "null");
        for (uint32_t h = 0; h < rec.header_count; h++) {
            const klog_header_t *hd = &rec.headers[h];
            printf(" %.*s=%.*s", (int)hd->key_len, hd->key,
                   hd->value ? (int)hd->value_len : 4, hd->value ? (const char *)hd->value : "null");
        }
        printf("\n");
    }
    klog_reader_close(r);
    return rc < 0 ? report("klog_reader_next", rc) : 0;
}

static int show_offsets(klog_partition_t *part)
{
    klog_offsets_t o;
    int rc = klog_partition_offsets(part, &o);
    if (rc < 0)
        return report("klog_partition_offsets", rc);
    printf("  %s-%" PRId32 ": log start %" PRId64 ", high watermark %" PRId64
           ", log end %" PRId64 ", %" PRId64 " segment(s), %" PRId64 " bytes\n",
           klog_partition_topic(part), klog_partition_id(part), o.log_start,
           o.high_watermark, o.log_end, o.segments, o.bytes);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LOG_DIR\n", argv[0]);
        return 2;
    }
    printf("libklog %s, log directory %s\n", klog_version_string(), argv[1]);

    klog_t *log;
    int rc = klog_open(argv[1], NULL, 0, &log);
    if (rc < 0) {
        report("klog_open", rc);
        return 1;
    }

    rc = klog_topic_create(log, TOPIC, PARTITIONS, NULL);
    if (rc == KLOG_ETOPICEXISTS)
        printf("topic %s exists: appending after what is there\n", TOPIC);
    else if (rc < 0)
        goto fail_create;

    if ((rc = produce(log)) < 0)
        goto fail_work;

    printf("reading back:\n");
    for (int32_t p = 0; p < PARTITIONS; p++) {
        klog_partition_t *part;
        if ((rc = klog_partition(log, TOPIC, p, &part)) < 0) {
            report("klog_partition", rc);
            goto fail_work;
        }
        if ((rc = consume(part)) < 0)
            goto fail_work;
    }

    printf("offsets:\n");
    for (int32_t p = 0; p < PARTITIONS; p++) {
        klog_partition_t *part;
        if ((rc = klog_partition(log, TOPIC, p, &part)) < 0) {
            report("klog_partition", rc);
            goto fail_work;
        }
        if ((rc = show_offsets(part)) < 0)
            goto fail_work;
    }

    /* Close flushes, writes checkpoints and releases the directory lock. */
    if ((rc = klog_close(log)) < 0) {
        report("klog_close", rc);
        return 1;
    }
    printf("closed cleanly\n");
    return 0;

fail_create:
    report("klog_topic_create", rc);
fail_work:
    klog_close(log);
    return 1;
}
