/*
 * group_consumer.c — consuming a log as a consumer group.
 *
 *   group_consumer LOG_DIR
 *       self-contained tour: writes a small 4-partition topic "events" (if
 *       absent), then two members of group "tour" share it through an
 *       in-process registry; the second leaves and the first takes over
 *       its partitions at the committed offsets.
 *   group_consumer LOG_DIR REGISTRY GROUP TOPIC [IDLE_MS]
 *       one member of GROUP reading TOPIC from LOG_DIR (opened read-only,
 *       so a writer process may keep appending), printing every record,
 *       until no record arrived for IDLE_MS (default 2000). REGISTRY is
 *       "dir:PATH" (processes of one host) or "zk:HOST:PORT[/CHROOT]".
 *       Start several at once and watch them split the partitions.
 */
#include <klog.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int report(const char *what, int rc)
{
    fprintf(stderr, "group_consumer: %s: %s (%s)\n", what, klog_strerror(rc), klog_err_name(rc));
    return 1;
}

/* Claims and releases, as the member makes them. */
static void on_event(void *ctx, const char *topic, int32_t partition, int owned, int64_t offset,
                     int64_t time_ms)
{
    (void)time_ms;
    printf("  [%s] %s %s-%d at offset %lld\n", (const char *)ctx, owned ? "claims" : "releases",
           topic, (int)partition, (long long)offset);
}

static void print_record(const char *who, const klog_member_record_t *mr)
{
    printf("  [%s] %s-%d @%lld: %.*s\n", who, mr->topic, (int)mr->partition,
           (long long)mr->rec.offset, mr->rec.value_len > 0 ? (int)mr->rec.value_len : 0,
           mr->rec.value_len > 0 ? (const char *)mr->rec.value : "");
}

static int write_sample(klog_t *log)
{
    int rc = klog_topic_create(log, "events", 4, NULL);
    if (rc == KLOG_ETOPICEXISTS)
        return 0;
    if (rc)
        return report("klog_topic_create", rc);
    for (int i = 0; i < 20; i++) {
        klog_partition_t *p;
        if ((rc = klog_partition(log, "events", i % 4, &p)) != 0)
            return report("klog_partition", rc);
        char v[32];
        int n = snprintf(v, sizeof v, "event %d", i);
        klog_record_t rec = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                             .value = v, .value_len = n};
        if ((rc = klog_append(p, &rec, 1, NULL)) != 0)
            return report("klog_append", rc);
    }
    return 0;
}

static int tour(const char *dir)
{
    klog_t *log;
    int rc = klog_open(dir, NULL, 0, &log);
    if (rc)
        return report("klog_open", rc);
    if (write_sample(log))
        return 1;

    /* One in-process registry store; each member gets its own session, as
     * separate processes would. */
    klog_registry_t *ra, *rb;
    if ((rc = klog_registry_memory_new(NULL, &ra)) != 0 ||
        (rc = klog_registry_memory_new(ra, &rb)) != 0)
        return report("klog_registry_memory_new", rc);

    const char *topics[] = {"events", NULL};
    klog_member_opts_t oa = {.size = sizeof oa, .member_id = "alice",
                             .on_event = on_event, .event_ctx = "alice"};
    klog_member_opts_t ob = oa;
    ob.member_id = "bob";
    ob.event_ctx = "bob";
    klog_member_t *a, *b;
    if ((rc = klog_member_new(log, ra, "tour", topics, &oa, &a)) != 0 ||
        (rc = klog_member_new(log, rb, "tour", topics, &ob, &b)) != 0)
        return report("klog_member_new", rc);

    printf("alice and bob share the topic (range assignment, 2 partitions each):\n");
    klog_member_record_t mr;
    for (int i = 0; i < 6; i++) {
        if ((rc = klog_member_poll(a, &mr, 1000)) == 1)
            print_record("alice", &mr);
        if ((rc = klog_member_poll(b, &mr, 1000)) == 1)
            print_record("bob", &mr);
    }
    printf("bob leaves (committing what he read):\n");
    if ((rc = klog_member_close(b)) != 0)
        return report("klog_member_close", rc);
    printf("alice rebalances and reads the rest, bob's partitions from his offsets:\n");
    while ((rc = klog_member_poll(a, &mr, 300)) == 1)
        print_record("alice", &mr);
    if (rc < 0)
        return report("klog_member_poll", rc);
    if ((rc = klog_member_close(a)) != 0)
        return report("klog_member_close", rc);
    klog_registry_free(rb);
    klog_registry_free(ra);
    if ((rc = klog_close(log)) != 0)
        return report("klog_close", rc);
    printf("done: run again and the group starts past what it committed (nothing new to read)\n");
    return 0;
}

static int member(const char *dir, const char *spec, const char *group, const char *topic,
                  int idle_ms)
{
    klog_t *log;
    int rc = klog_open(dir, NULL, KLOG_OPEN_RDONLY, &log);
    if (rc)
        return report("klog_open", rc);
    klog_registry_t *reg;
    if (strncmp(spec, "dir:", 4) == 0)
        rc = klog_registry_dir_new(spec + 4, &reg);
    else if (strncmp(spec, "zk:", 3) == 0)
        rc = klog_registry_zk_new(spec + 3, 0, &reg);
    else
        rc = -22;
    if (rc)
        return report("registry", rc);
    const char *topics[] = {topic, NULL};
    klog_member_opts_t o = {.size = sizeof o, .auto_commit_ms = 1000, .on_event = on_event,
                            .event_ctx = "me"};
    klog_member_t *m;
    if ((rc = klog_member_new(log, reg, group, topics, &o, &m)) != 0)
        return report("klog_member_new", rc);
    printf("member %s joined group %s\n", klog_member_id(m), group);
    klog_member_record_t mr;
    long n = 0;
    while ((rc = klog_member_poll(m, &mr, idle_ms)) == 1) {
        print_record("me", &mr);
        n++;
    }
    if (rc < 0)
        report("klog_member_poll", rc);
    printf("%ld records; idle for %d ms, leaving\n", n, idle_ms);
    int crc = klog_member_close(m); /* commits, releases, unregisters */
    klog_registry_free(reg);
    klog_close(log);
    return rc < 0 || crc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2)
        return tour(argv[1]);
    if (argc == 5 || argc == 6)
        return member(argv[1], argv[2], argv[3], argv[4], argc == 6 ? atoi(argv[5]) : 2000);
    fprintf(stderr,
            "usage: %s LOG_DIR\n       %s LOG_DIR dir:PATH|zk:HOSTS GROUP TOPIC [IDLE_MS]\n",
            argv[0], argv[0]);
    return 2;
}
