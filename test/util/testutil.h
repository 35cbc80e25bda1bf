/*
 * testutil.h — small fixtures shared by the Check suites and test helpers:
 * temporary directories and whole-file I/O. Failures abort the test (they
 * are fixture failures, not behaviour under test).
 */
#ifndef KLOG_TESTUTIL_H
#define KLOG_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh, empty directory under $TMPDIR (or /tmp) named klog-<tag>-XXXXXX.
 * Returns a malloc'd path (free() it after tu_rmtree). Aborts on failure. */
char *tu_tmpdir(const char *tag);
/* Remove a directory tree, not following symlinks. Missing path is fine. */
void tu_rmtree(const char *path);
/* Write len bytes to dir/name (created or truncated). 0 or -errno. */
int tu_write_file(const char *dir, const char *name, const void *data, size_t len);
/* Read dir/name whole; malloc'd, NUL-terminated (not counted in *len).
 * NULL with errno set on failure. */
uint8_t *tu_read_file(const char *dir, const char *name, size_t *len);

/* Base offsets of the "<20 digits>.log" files in a partition directory,
 * ascending, at most max. Returns the count. */
int tu_seg_bases(const char *pdir, int64_t *v, int max);
/* Copy the tree from -> to (regular files and directories). 0 or -errno. */
int tu_copy_tree(const char *from, const char *to);

#endif
