/*
 * fuzz_registry.c — the directory registry's persistent files from
 * arbitrary bytes: a committed-offset file and a topic file are replaced by
 * the input, then read back through the registry's operations. Parsing must
 * give a value or a clear error (KLOG_ECORRUPT / KLOG_EVERSION), never a
 * crash, an over-read or a leak.
 *
 * Input: one byte selecting which file(s) get the data, then the file
 * contents.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"

static char root[64];

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_registry: could not remove %s\n", root);
}

static void put_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (len && fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/klog-fuzz-registry-%d", (int)getpid());
        mkdir(root, 0755);
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    unsigned which = data[0];
    data++;
    size--;
    klog_registry_t *r;
    if (klog_registry_dir_new(root, &r) != 0)
        abort();
    const klog_registry_ops_t *ops = klog_registry_ops(r);
    /* Create both files through the API so the directories exist. */
    if (ops->topic_publish(ops->ctx, "t", 3) != 0 || ops->commit(ops->ctx, "g", "t", 0, 7) != 0)
        abort();
    char path[256];
    if (which & 1) {
        snprintf(path, sizeof path, "%s/groups/g/offsets/t/0", root);
        put_file(path, data, size);
    }
    if (which & 2) {
        snprintf(path, sizeof path, "%s/topics/t", root);
        put_file(path, data, size);
    }
    int64_t off = -1;
    int rc = ops->fetch(ops->ctx, "g", "t", 0, &off);
    if (rc != 0 && rc != KLOG_ECORRUPT && rc != KLOG_EVERSION)
        abort();
    int32_t parts = -1;
    rc = ops->topic_partitions(ops->ctx, "t", &parts);
    if (rc != 0 && rc != KLOG_ECORRUPT && rc != KLOG_EVERSION)
        abort();
    if (rc == 0 && parts < 0)
        abort();
    klog_registry_free(r);
    return 0;
}
