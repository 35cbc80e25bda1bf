/*
 * dir_entries.h — the directory registry's files (dir_entries.c): framed
 * persistent files and flock-held ephemeral entries. Used by
 * registry_dir.c only. All functions return 0 / a descriptor, or a
 * negative code.
 */
#ifndef KLOG_DIR_ENTRIES_H
#define KLOG_DIR_ENTRIES_H

#include <stddef.h>

#include "platform/platform.h"

/* mkdir -p. */
KLOG__HIDDEN int klog__dreg_mkdirs(const char *path);

/* Write dir/name (created with its parents) durably: magic (8 bytes),
 * version, payload (plen <= 44), XXH3-64; temporary, fsync, rename, fsync
 * dir. tag (any pointer, e.g. the session) makes the temporary's name
 * unique between sessions of one process. */
KLOG__HIDDEN int klog__dreg_write_framed(const void *tag, const char *dir, const char *name,
                                         const char *magic, const void *payload, size_t plen);
/* Read a framed file of exactly plen payload bytes. KLOG_ENOTFOUND,
 * KLOG_ECORRUPT, KLOG_EVERSION, -errno. */
KLOG__HIDDEN int klog__dreg_read_framed(const char *path, const char *magic, void *payload,
                                        size_t plen);

/* Probe results: no entry, a live one (content in buf, NUL-terminated), a
 * dead one (now removed). Negative: -errno. */
enum { KLOG__PROBE_GONE = 0, KLOG__PROBE_LIVE = 1, KLOG__PROBE_DEAD = 2 };
KLOG__HIDDEN int klog__dreg_probe(const char *path, char *buf, size_t cap);
/* Create the ephemeral entry dir/name holding content, locked. Returns its
 * fd (the lock lives as long as it is open), KLOG_ECLAIMED with the live
 * holder's content in holder, or -errno. */
KLOG__HIDDEN int klog__dreg_eph_create(const void *tag, const char *dir, const char *name,
                                       const char *content, char *holder, size_t hcap);

/* Sorted valid names in dir (none when it does not exist). With reap
 * (directories of ephemeral entries, whose temporaries are locked while in
 * use), temporaries left by dead processes are removed. *names: malloc'd
 * array of malloc'd strings, freed with klog__dreg_free_names. */
KLOG__HIDDEN int klog__dreg_list_dir(const char *dir, int reap, char ***names, size_t *n);
KLOG__HIDDEN void klog__dreg_free_names(char **names, size_t n);

#endif
