/*
 * kcfiles.h — klogcat's own readers of libklog's small files, which are not
 * part of the library's API: segment seals ("<base>.seal"), Kafka's offset
 * checkpoints and libklog's "klog.topics". The layouts are documented in
 * lib/storage/seal.c, checkpoint.c (kafka-format.md section 4) and meta.c;
 * these readers accept exactly what the library's accept, so dump and
 * verify report what an open would see. Errors: KLOG_ECORRUPT,
 * KLOG_EVERSION (a version this klogcat does not know), -errno.
 */
#ifndef KLOGCAT_KCFILES_H
#define KLOGCAT_KCFILES_H

#include <stddef.h>
#include <stdint.h>

#include "klog.h"

#define KC_SEAL_SIZE 80
#define KC_TOPIC_NAME_MAX 249
#define KC_TOPIC_CONF_MAX 32

typedef struct kc_seal {
    int64_t base_offset, next_offset;
    int64_t max_timestamp, max_ts_offset;
    int64_t log_size;
    uint64_t log_digest; /* XXH3-64 of the .log's log_size bytes */
    uint32_t index_entries, timeindex_entries;
} kc_seal_t;

/* Read and check a seal file (magic, version, size, checksum, facts). */
int kc_seal_read(const char *path, kc_seal_t *out);

typedef struct kc_ckpt_entry {
    char *topic;
    int32_t partition;
    int64_t offset;
} kc_ckpt_entry_t;

typedef struct kc_ckpt {
    kc_ckpt_entry_t *entries;
    size_t count;
} kc_ckpt_t;

/* Read dir/name; a missing file gives no entries and -ENOENT. */
int kc_ckpt_read(const char *dir, const char *name, kc_ckpt_t *out);
void kc_ckpt_free(kc_ckpt_t *c);

typedef struct kc_topic_meta {
    char name[KC_TOPIC_NAME_MAX + 1];
    int32_t partitions;
    uint32_t nconf;
    struct {
        int32_t key;
        int64_t value;
    } conf[KC_TOPIC_CONF_MAX];
} kc_topic_meta_t;

/* Read dir/klog.topics (missing: 0 topics, returns 0); *out: free(). */
int kc_meta_read(const char *dir, kc_topic_meta_t **out, size_t *n);

/* XXH3-64 of bytes [0, size) of fd; KLOG_ECORRUPT if the file is shorter. */
int kc_file_digest(int fd, int64_t size, uint64_t *digest);

#endif
