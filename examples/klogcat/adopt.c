/*
 * adopt.c — `klogcat adopt DIR`: take over a log directory written by
 * Apache Kafka (klog_adopt), so klogcat and any libklog program can read it.
 *
 *   klogcat adopt DIR [-c server.properties] [-X NAME=VALUE]... [--internal] [-v]
 *
 * Kafka keeps topic configuration in its cluster metadata, not in the log
 * directory; -c reads the broker's properties file for the log.* defaults
 * every topic had (log.segment.bytes, log.index.interval.bytes,
 * log.index.size.max.bytes, log.retention.ms/.minutes/.hours,
 * log.retention.bytes, log.roll.ms/.hours, message.max.bytes,
 * log.flush.interval.messages, log.flush.interval.ms, compression.type),
 * and -X (topic-level names, as for --create) overrides them. Prints one
 * line per adopted topic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klogcat.h"

static const char usage_adopt[] =
    "Usage: klogcat adopt DIR [-c SERVER.PROPERTIES] [-X NAME=VALUE]... [--internal] [-v]\n"
    "Take over a log directory written by Apache Kafka (a stopped broker's\n"
    "log.dirs entry, or a copy): write libklog's topic metadata for every\n"
    "<topic>-<N> partition directory and open it, recovering as needed.\n"
    "Kafka's files are used in place, none renamed (pending deletes complete).\n"
    "  -c FILE            the broker's server.properties: log.* defaults\n"
    "                     become every adopted topic's configuration\n"
    "  -X NAME=VALUE      topic configuration (as for --create), after -c\n"
    "  --internal         also adopt Kafka's internal \"__\" topics\n"
    "  -v                 show what the library did (recovery, topics)\n";

/* Kafka broker property -> libklog topic key, with a unit multiplier. */
static const struct {
    const char *name;
    int key;
    int64_t scale;
} broker_props[] = {
    {"log.segment.bytes", KLOG_CONF_SEGMENT_BYTES, 1},
    {"log.roll.hours", KLOG_CONF_SEGMENT_MS, 3600000},
    {"log.roll.ms", KLOG_CONF_SEGMENT_MS, 1},
    {"log.index.interval.bytes", KLOG_CONF_INDEX_INTERVAL_BYTES, 1},
    {"log.index.size.max.bytes", KLOG_CONF_INDEX_MAX_BYTES, 1},
    {"log.retention.hours", KLOG_CONF_RETENTION_MS, 3600000},
    {"log.retention.minutes", KLOG_CONF_RETENTION_MS, 60000},
    {"log.retention.ms", KLOG_CONF_RETENTION_MS, 1},
    {"log.retention.bytes", KLOG_CONF_RETENTION_BYTES, 1},
    {"message.max.bytes", KLOG_CONF_MAX_BATCH_BYTES, 1},
    {"log.flush.interval.messages", KLOG_CONF_FLUSH_MESSAGES, 1},
    {"log.flush.interval.ms", KLOG_CONF_FLUSH_MS, 1},
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* Apply the log.* properties of a Kafka properties file to cfg. Returns 0
 * or -1 (reported). */
static int read_broker_props(const char *path, klog_config_t *cfg)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        kc_err("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int rc = 0, lineno = 0;
    /* Kafka's precedence: *.ms over *.minutes over *.hours, whatever the
     * order in the file; remember the finest unit applied per key. */
    int64_t finest[128] = {0};
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == '!')
            continue;
        char *eq = strpbrk(s, "=:");
        if (!eq)
            continue;
        *eq = '\0';
        char *name = trim(s), *val = trim(eq + 1);
        int key = 0;
        int64_t v;
        if (strcmp(name, "compression.type") == 0) {
            if (strcmp(val, "producer") == 0 || strcmp(val, "uncompressed") == 0)
                continue; /* batches are stored as they come either way */
            int codec = klog_compression_parse(val);
            if (codec < 0) {
                kc_err("%s:%d: compression.type %s not supported", path, lineno, val);
                rc = -1;
            } else {
                rc = klog_config_set(cfg, KLOG_CONF_COMPRESSION, codec) ? -1 : 0;
            }
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof broker_props / sizeof broker_props[0]; i++)
            if (strcmp(name, broker_props[i].name) == 0)
                break;
        if (i == sizeof broker_props / sizeof broker_props[0])
            continue; /* not a log property libklog has */
        key = broker_props[i].key;
        if (kc_parse_i64(val, &v) < 0) {
            kc_err("%s:%d: %s: not a number: %s", path, lineno, name, val);
            rc = -1;
            continue;
        }
        if (finest[key] && finest[key] < broker_props[i].scale)
            continue;
        finest[key] = broker_props[i].scale;
        if (v >= 0)
            v *= broker_props[i].scale;
        if (klog_config_set(cfg, key, v)) {
            kc_err("%s:%d: %s=%s out of libklog's range", path, lineno, name, val);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int kc_adopt_main(int argc, char **argv)
{
    const char *dir = NULL, *props = NULL;
    unsigned flags = 0;
    int verbose = 0;
    klog_config_t *tcfg = NULL, *lcfg = NULL;
    int rc = 1;
    if (klog_config_new(&tcfg) || klog_config_new(&lcfg)) {
        kc_err("out of memory");
        goto out;
    }
    /* First pass: -c (so -X given anywhere overrides the file). */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            props = argv[++i];
    if (props && read_broker_props(props, tcfg) < 0)
        goto out;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_adopt, stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "-c") == 0 && i + 1 < argc) {
            i++;
        } else if (strcmp(a, "-X") == 0 && i + 1 < argc) {
            int key;
            int64_t v = 0;
            int pr = kc_conf_parse(argv[++i], &key, &v);
            if (pr < 0) {
                rc = 2;
                goto out;
            }
            if (pr == 1) /* NAME=default: leave the key unset */
                continue;
            if (klog_config_set(tcfg, key, v)) {
                kc_usage("-X %s: value out of range", argv[i]);
                rc = 2;
                goto out;
            }
        } else if (strcmp(a, "--internal") == 0) {
            flags |= KLOG_ADOPT_INTERNAL;
        } else if (strcmp(a, "-v") == 0) {
            verbose = 1;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            fputs(usage_adopt, stderr);
            rc = 2;
            goto out;
        }
    }
    if (!dir) {
        fputs(usage_adopt, stderr);
        rc = 2;
        goto out;
    }
    klog_config_set_logger(lcfg, kc_stderr_log, &verbose);
    klog_t *log;
    int err = klog_adopt(dir, lcfg, tcfg, flags, &log);
    if (err) {
        kc_err("adopt %s: %s", dir, klog_strerror(err));
        goto out;
    }
    char **names;
    int n = klog_topic_list(log, &names);
    for (int i = 0; i < n; i++) {
        klog_topic_t *t;
        if (klog_topic_get(log, names[i], &t) == 0)
            printf("adopted topic %s: %d partitions\n", names[i], (int)klog_topic_partition_count(t));
    }
    if (n >= 0)
        free(names);
    err = klog_close(log);
    if (err) {
        kc_err("adopt %s: close: %s", dir, klog_strerror(err));
        goto out;
    }
    rc = 0;
out:
    klog_config_free(tcfg);
    klog_config_free(lcfg);
    return rc;
}
