/*
 * topic.h — one topic: its metadata, explicit settings and partitions
 * (topic.c owns struct klog_topic). The log keeps the list of topics.
 */
#ifndef KLOG_STORAGE_TOPIC_H
#define KLOG_STORAGE_TOPIC_H

#include "storage/files.h"
#include "storage/partition.h"

typedef struct klog_topic klog__topic_t;

/* Metadata for a new topic: name, partitions and cfg's explicit settings
 * (KLOG_ECONFIG when one is not a topic setting). */
KLOG__HIDDEN int klog__topic_meta_build(const char *name, int32_t partitions,
                                        const klog_config_t *cfg, klog__topic_meta_t *m);
/* A topic from its metadata with its partitions opened (not loaded). */
KLOG__HIDDEN int klog__topic_new(const klog__partenv_t *env, const klog__topic_meta_t *m,
                                 klog__topic_t **out);
KLOG__HIDDEN void klog__topic_free(klog__topic_t *t);
/* Load every partition (recovery happens there). */
KLOG__HIDDEN int klog__topic_load(klog__topic_t *t);
/* Undo a topic whose creation failed: close it and remove its directories. */
KLOG__HIDDEN void klog__topic_discard(klog__topic_t *t);
/* Delete: mark deleted (appends fail, waiters return). */
KLOG__HIDDEN void klog__topic_mark_deleted(klog__topic_t *t);
/* After klog__topic_mark_deleted and with the sealer idle: close the
 * partitions, remove their directories and free the topic. */
KLOG__HIDDEN void klog__topic_remove(klog__topic_t *t);
/* At a read-write open, after klog.topics is loaded: remove partition
 * directories no listed topic owns (an interrupted delete or create;
 * strays.c). 0 or -errno from listing the directory. */
KLOG__HIDDEN int klog__topics_remove_strays(const char *dir, klog__topic_t *const *topics,
                                            size_t n, const klog__logger_t *lg);
/* Changing a live topic (see topic.c): stage the new record (growth also
 * opens and loads the new partitions into *staged), then, once klog.topics
 * holds it durably, commit; or undo. Callers hold the log's topics lock. */
KLOG__HIDDEN int klog__topic_stage_config(const klog__topic_t *t, const klog_config_t *changes,
                                          const int *remove, size_t nremove,
                                          klog__topic_meta_t *m);
KLOG__HIDDEN void klog__topic_commit_config(klog__topic_t *t, const klog__topic_meta_t *m);
KLOG__HIDDEN int klog__topic_stage_grow(klog__topic_t *t, int32_t partitions,
                                        klog__partition_t ***staged, klog__topic_meta_t *m);
KLOG__HIDDEN void klog__topic_commit_grow(klog__topic_t *t, klog__partition_t **staged,
                                          const klog__topic_meta_t *m);
KLOG__HIDDEN void klog__topic_undo_grow(klog__topic_t *t, klog__partition_t **staged,
                                        int32_t partitions);
KLOG__HIDDEN const klog__topic_meta_t *klog__topic_meta(const klog__topic_t *t);
KLOG__HIDDEN const char *klog__topic_get_name(const klog__topic_t *t);
KLOG__HIDDEN int32_t klog__topic_nparts(const klog__topic_t *t);
KLOG__HIDDEN klog__partition_t *klog__topic_part(const klog__topic_t *t, int32_t i);

#endif
